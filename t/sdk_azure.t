#!/usr/bin/perl

# (C) tokenroute authors

# The official OpenAI and Anthropic SDKs against Azure OpenAI models
# (type=azure, the deployments API and the v1 API) through the gateway, to
# the Azure mock (t/lib/mock_azure.pl): t/sdk/providers/azure.test.mjs,
# each node test one test here.  Skipped without node or the SDKs unless
# TOKENROUTE_REQUIRE_SDK is set.

###############################################################################

use warnings;
use strict;

use Test::More;

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Sdk qw(sdk_skip run_sdk);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my @FILES = ("$TokenRoute::Sdk::SDK/providers/azure.test.mjs");

sdk_skip(@FILES);

my $AZKEY = 'azmock0123456789abcdef0123456789ab';

my $t = TokenRoute::Test->new();

for ([ 'azure.key', $AZKEY ], [ 'azure-wrong.key', 'azwrong' . 0 x 25 ]) {
	open my $fh, '>', $t->testdir() . "/$_->[0]" or die "$_->[0]: $!\n";
	print $fh "$_->[1]\n";
	close $fh;
}

my $http = <<'CONF';
tokenroute_provider azdep type=azure url=http://127.0.0.1:%%PORT_azure%%/openai api_version=2024-10-21 key_file=%%TESTDIR%%/azure.key;
tokenroute_provider azv1 type=azure url=http://127.0.0.1:%%PORT_azure%%/openai/v1 key_file=%%TESTDIR%%/azure.key;
tokenroute_provider azbad type=azure url=http://127.0.0.1:%%PORT_azure%%/openai api_version=2024-10-21 key_file=%%TESTDIR%%/azure-wrong.key;
tokenroute_model azure/gpt-4o provider=azdep upstream_model=gpt-4o-prod-usage-21-3 input_price=2.5 output_price=10;
tokenroute_model azure/gpt-4o-v1 provider=azv1 upstream_model=gpt-4o-v1-usage-21-3 input_price=2.5 output_price=10;
tokenroute_model azure/busy provider=azdep upstream_model=gpt-4o-error-429 input_price=2.5 output_price=10 fallback=azure/gpt-4o;
tokenroute_model azure/badkey provider=azbad upstream_model=gpt-4o-prod input_price=2.5 output_price=10;
tokenroute_model azure/filtered provider=azdep upstream_model=gpt-4o-filter-prompt input_price=2.5 output_price=10;
tokenroute_model azure/embed provider=azdep upstream_model=text-embed-3 input_price=0.02 output_price=0;
CONF

$t->start_mock(name => 'azure', script => $t->repo() . '/t/lib/mock_azure.pl');
$t->start_gateway(http => $http);

my $key = $t->create_key(name => 'sdk-azure');

run_sdk({
	TOKENROUTE_URL => 'http://127.0.0.1:' . $t->port('http'),
	TOKENROUTE_KEY => $key->{raw},
	TOKENROUTE_AZURE_RECORD => $t->testdir() . '/azure.jsonl',
	TOKENROUTE_AZURE_PROVIDER_KEY => $AZKEY,
}, @FILES);

done_testing();

###############################################################################
