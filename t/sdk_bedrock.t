#!/usr/bin/perl

# (C) tokenroute authors

# The official SDKs as clients of Claude on AWS Bedrock through the
# gateway (t/sdk/providers/bedrock.test.mjs): the mock Bedrock
# (t/lib/mock_bedrock.pl) verifies every request's SigV4 signature.  Each
# node test becomes one test here; skipped without node or the SDKs
# unless TOKENROUTE_REQUIRE_SDK is set.

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

my @FILES = ("$TokenRoute::Sdk::SDK/providers/bedrock.test.mjs");

sdk_skip(@FILES);

my $t = TokenRoute::Test->new();
my $d = $t->testdir;

open my $fh, '>', "$d/bedrock.keys" or die "$d/bedrock.keys: $!";
print $fh "AKIDENVEXAMPLE1 envSecret/Key+1\n";
close $fh;

$ENV{AWS_ACCESS_KEY_ID} = 'AKIDENVEXAMPLE1';
$ENV{AWS_SECRET_ACCESS_KEY} = 'envSecret/Key+1';
delete $ENV{AWS_SESSION_TOKEN};

$t->start_mock(name => 'bedrock', script => 't/lib/mock_bedrock.pl',
	args => ['--keys', "$d/bedrock.keys", '--region', 'us-east-1']);

my $prices = 'input_price=0.25 output_price=1.25';

$t->start_gateway(http => <<"EOF");
tokenroute_provider bedrock type=bedrock url=http://127.0.0.1:%%PORT_bedrock%% region=us-east-1;
tokenroute_model br/usage provider=bedrock upstream_model=anthropic.claude-usage-20-10-v1:0 $prices;
tokenroute_model br/invalid provider=bedrock upstream_model=anthropic.claude-error-400-v1:0 $prices;
tokenroute_model br/modelerror provider=bedrock upstream_model=anthropic.claude-error-424-v1:0 $prices;
tokenroute_model br/throttled provider=bedrock upstream_model=anthropic.claude-error-429-v1:0 $prices fallback=br/usage;
tokenroute_model br/streamthrottled provider=bedrock upstream_model=anthropic.claude-usage-20-10-exception-throttlingException-v1:0 $prices;
EOF

my $key = $t->create_key(name => 'sdk-bedrock');

run_sdk({
	TOKENROUTE_URL => 'http://127.0.0.1:' . $t->port('http'),
	TOKENROUTE_KEY => $key->{raw},
	TOKENROUTE_BEDROCK_RECORD => "$d/bedrock.jsonl",
}, @FILES);

done_testing();
