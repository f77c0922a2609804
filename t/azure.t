#!/usr/bin/perl

# (C) tokenroute authors

# Azure OpenAI providers (type=azure): the deployments API
# (/openai/deployments/{upstream_model}/...?api-version=V) and the v1 API
# (/openai/v1/..., the deployment as the body's model), the api-key header
# (and no other credential), both client shapes, streams and not, Azure's
# content filter annotations passed on or translated, usage charged
# exactly, its errors in the client's shape, fallback on its 429, a wrong
# key as provider_auth_failed, embeddings, and what nginx -t refuses.
# The mock t/lib/mock_azure.pl checks path, api-version and api-key as
# Azure does.

###############################################################################

use warnings;
use strict;

use Test::More;
use JSON::PP;

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Money qw(cost usd_nano nano_usd);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $AZKEY = 'azmock0123456789abcdef0123456789ab';

my $t = TokenRoute::Test->new();

open my $fh, '>', $t->testdir() . '/azure.key' or die;
print $fh "$AZKEY\n";
close $fh;
open $fh, '>', $t->testdir() . '/azure-wrong.key' or die;
print $fh "azwrong0000000000000000000000000\n";
close $fh;

my $http = <<'EOF';
tokenroute_provider azdep type=azure url=http://127.0.0.1:%%PORT_azure%%/openai api_version=2024-10-21 key_file=%%TESTDIR%%/azure.key;
tokenroute_provider azv1 url=http://127.0.0.1:%%PORT_azure%%/openai/v1/ key_file=%%TESTDIR%%/azure.key type=azure;
tokenroute_provider azv1p type=azure url=http://127.0.0.1:%%PORT_azure%%/openai/v1 api_version=preview key_file=%%TESTDIR%%/azure.key;
tokenroute_provider azbad type=azure url=http://127.0.0.1:%%PORT_azure%%/openai api_version=2024-10-21 key_file=%%TESTDIR%%/azure-wrong.key;
tokenroute_model azure/gpt-4o provider=azdep upstream_model=gpt-4o-prod-usage-40-567 input_price=2.5 output_price=10;
tokenroute_model azure/gpt-4o-v1 provider=azv1 upstream_model=gpt-4o-v1-usage-40-567 input_price=2.5 output_price=10;
tokenroute_model azure/gpt-4o-v1p provider=azv1p upstream_model=gpt-4o-v1p input_price=2.5 output_price=10;
tokenroute_model azure/busy provider=azdep upstream_model=gpt-4o-error-429 input_price=2.5 output_price=10 fallback=azure/gpt-4o;
tokenroute_model azure/busy-alone provider=azdep upstream_model=gpt-4o-alone-error-429 input_price=2.5 output_price=10;
tokenroute_model azure/badkey provider=azbad upstream_model=gpt-4o-prod input_price=2.5 output_price=10;
tokenroute_model azure/filtered provider=azdep upstream_model=gpt-4o-filter-prompt input_price=2.5 output_price=10;
tokenroute_model azure/filter-out provider=azdep upstream_model=gpt-4o-filter-output input_price=2.5 output_price=10;
tokenroute_model azure/missing provider=azdep upstream_model=missing-dep input_price=2.5 output_price=10;
tokenroute_model azure/embed provider=azdep upstream_model=text-embed-3 input_price=0.02 output_price=0;
tokenroute_model azure/embed-v1 provider=azv1 upstream_model=text-embed-3 input_price=0.02 output_price=0;
tokenroute_model azure/odd provider=azdep upstream_model=my.dep_1~x%2Fy input_price=2.5 output_price=10;
log_format azure '$tokenroute_request_id $tokenroute_provider $tokenroute_input_tokens $tokenroute_output_tokens $tokenroute_cost';
EOF

$t->start_mock(name => 'azure', script => $t->repo() . '/t/lib/mock_azure.pl');
$t->start_gateway(http => $http,
	server => "access_log %%TESTDIR%%/azure.log azure;\n");

my $key = $t->create_key(name => 'azure');
my $raw = $key->{raw};

my %PRICE = (price => usd_nano('2.5'), out_price => usd_nano('10'));

# the access log line of a request, by its id
sub logged {
	my ($rid) = @_;

	my $line;
	$t->wait_until(5, sub {
		open my $l, '<', $t->testdir() . '/azure.log' or return 0;
		($line) = grep { /^\Q$rid\E / } <$l>;
		return defined $line;
	});

	return [ split ' ', $line // '' ];
}

sub azure_requests { $t->mock_requests('azure') }

sub last_azure { (azure_requests())[-1] }

sub chat_req {
	my ($model, %o) = @_;

	my $path = $o{anthropic} ? '/v1/messages' : '/v1/chat/completions';
	my %body = (model => $model, max_tokens => 1000,
		messages => [ { role => 'user', content => 'Say hello.' } ],
		%{ $o{body} || {} });
	$body{stream} = JSON::PP::true if $o{stream};

	my $m = $o{stream} ? 'http_stream' : 'http';

	return $t->$m(method => 'POST', path => $path,
		headers => [ Authorization => "Bearer $raw" ], body => \%body,
		timeout => 10);
}

###############################################################################

# the deployments API, OpenAI shape, not streamed

my $r = chat_req('azure/gpt-4o');
is($r->{status}, 200, 'deployments API: 200') or diag($r->{raw});
is($r->{json}{choices}[0]{message}{content}, 'Hello from azure',
	'the answer passed on');
is(ref $r->{json}{prompt_filter_results}, 'ARRAY',
	'prompt_filter_results passed on');
is($r->{json}{choices}[0]{content_filter_results}{violence}{filtered},
	JSON::PP::false, 'content_filter_results passed on');
ok(!exists $r->{headers}{'apim-request-id'},
	"Azure's apim-request-id is not passed on");
ok(!exists $r->{headers}{'x-ms-region'}, "nor its x-ms-region");

my $q = last_azure();
is($q->{path}, '/openai/deployments/gpt-4o-prod-usage-40-567'
	. '/chat/completions?api-version=2024-10-21',
	'path: the deployment and api-version');
is($q->{headers}{'api-key'}, $AZKEY, 'api-key: the provider key');
ok(!exists $q->{headers}{authorization}, 'no Authorization sent');
ok(!exists $q->{headers}{'x-api-key'}, 'no x-api-key sent');
is($q->{json}{model}, 'gpt-4o-prod-usage-40-567', 'body model: deployment');

my $rid = $r->{headers}{'x-tokenroute-request-id'};
my $log = logged($rid);
is($log->[1], 'azdep', '$tokenroute_provider');
is("$log->[2] $log->[3]", '40 567', 'tokens charged');
is(usd_nano($log->[4]), cost(in => 40, out => 567, %PRICE),
	'cost to the nano-dollar');

# the OpenAI-type mock never gets an api-key header

$r = $t->chat($raw);
is($r->{status}, 200, 'openai-type provider still served');
my @m = $t->mock_requests('mock');
ok(!exists $m[-1]{headers}{'api-key'}, 'no api-key to an openai provider');

# stream, OpenAI shape, the client did not ask for usage: Azure's first
# chunk (choices [], prompt_filter_results) reaches the client, the usage
# chunk the gateway asked for does not

$r = chat_req('azure/gpt-4o', stream => 1);
is($r->{status}, 200, 'stream: 200');
my @data = map { $_->{data} } @{ $r->{sse} };
is($data[-1], '[DONE]', 'stream ends with [DONE]');
my @chunks = map { JSON::PP->new->decode($_) } grep { $_ ne '[DONE]' } @data;
ok(@chunks && ref $chunks[0]{prompt_filter_results} eq 'ARRAY'
	&& !@{ $chunks[0]{choices} }, 'first chunk: prompt_filter_results');
ok(!grep({ $_->{usage} } @chunks), 'the usage chunk was stripped');
is(join('', map { $_->{choices}[0]{delta}{content} // '' }
	grep { @{ $_->{choices} } } @chunks), 'Hello from azure', 'text');
$q = last_azure();
is($q->{json}{stream_options}{include_usage}, JSON::PP::true,
	'include_usage asked of Azure');
$log = logged($r->{headers}{'x-tokenroute-request-id'});
is("$log->[2] $log->[3]", '40 567', 'stream: tokens charged');
is(usd_nano($log->[4]), cost(in => 40, out => 567, %PRICE),
	'stream: cost to the nano-dollar');

# stream with the client's include_usage: the usage chunk is kept

$r = chat_req('azure/gpt-4o', stream => 1,
	body => { stream_options => { include_usage => JSON::PP::true } });
@chunks = map { JSON::PP->new->decode($_->{data}) }
	grep { $_->{data} ne '[DONE]' } @{ $r->{sse} };
is(scalar(grep { $_->{usage} } @chunks), 1, 'usage chunk kept when asked');

# Anthropic shape, translated, not streamed

$r = chat_req('azure/gpt-4o', anthropic => 1);
is($r->{status}, 200, 'anthropic shape: 200') or diag($r->{raw});
is($r->{json}{type}, 'message', 'a message');
is($r->{json}{content}[0]{text}, 'Hello from azure', 'its text');
is($r->{json}{usage}{input_tokens}, 40, 'its input tokens');
is($r->{json}{usage}{output_tokens}, 567, 'its output tokens');
$q = last_azure();
like($q->{path}, qr{^/openai/deployments/gpt-4o-prod-usage-40-567/chat/},
	'translated to the deployment path');
is(ref $q->{json}{messages}, 'ARRAY', 'in OpenAI shape');
$log = logged($r->{headers}{'x-tokenroute-request-id'});
is(usd_nano($log->[4]), cost(in => 40, out => 567, %PRICE),
	'anthropic shape: cost to the nano-dollar');

# Anthropic shape, streamed: Azure's first chunk (empty id, no choices)
# does not make the message: message_start carries the real id

$r = chat_req('azure/gpt-4o', anthropic => 1, stream => 1);
is($r->{status}, 200, 'anthropic stream: 200');
my @ev = @{ $r->{sse} };
is($ev[0]{event}, 'message_start', 'message_start first');
my $start = eval { JSON::PP->new->decode($ev[0]{data}) } // {};
like($start->{message}{id} // '', qr/^msg_chatcmpl-AZ\d+$/,
	"message id from Azure's chunk id, not its empty first one");
is(join('', map { (JSON::PP->new->decode($_->{data})->{delta} // {})->{text}
	// '' } grep { ($_->{event} // '') eq 'content_block_delta' } @ev),
	'Hello from azure', 'anthropic stream: text');
is($ev[-1]{event}, 'message_stop', 'message_stop last');
$log = logged($r->{headers}{'x-tokenroute-request-id'});
is(usd_nano($log->[4]), cost(in => 40, out => 567, %PRICE),
	'anthropic stream: cost to the nano-dollar');

# the v1 API: no api-version unless configured, the deployment in the body

$r = chat_req('azure/gpt-4o-v1');
is($r->{status}, 200, 'v1 API: 200') or diag($r->{raw});
$q = last_azure();
is($q->{path}, '/openai/v1/chat/completions', 'v1 path, no api-version');
is($q->{json}{model}, 'gpt-4o-v1-usage-40-567', 'v1: body model');
is($q->{headers}{'api-key'}, $AZKEY, 'v1: api-key');

$r = chat_req('azure/gpt-4o-v1p', stream => 1, anthropic => 1);
is($r->{status}, 200, 'v1 API with api_version=preview: 200');
is(last_azure()->{path}, '/openai/v1/chat/completions?api-version=preview',
	'v1 path with api-version=preview');

# a deployment name is percent-encoded in the path

$r = chat_req('azure/odd');
is($r->{status}, 200, 'odd deployment name: 200') or diag($r->{raw});
is(last_azure()->{path}, '/openai/deployments/my.dep_1~x%252Fy'
	. '/chat/completions?api-version=2024-10-21',
	'deployment percent-encoded');

# embeddings, both forms

$r = $t->http(method => 'POST', path => '/v1/embeddings',
	headers => [ Authorization => "Bearer $raw" ],
	body => { model => 'azure/embed', input => 'hello' });
is($r->{status}, 200, 'embeddings: 200') or diag($r->{raw});
is(last_azure()->{path},
	'/openai/deployments/text-embed-3/embeddings?api-version=2024-10-21',
	'embeddings path');
$r = $t->http(method => 'POST', path => '/v1/embeddings',
	headers => [ Authorization => "Bearer $raw" ],
	body => { model => 'azure/embed-v1', input => 'hello' });
is($r->{status}, 200, 'v1 embeddings: 200');
is(last_azure()->{path}, '/openai/v1/embeddings', 'v1 embeddings path');

# 429 with retry-after: the next model of the chain serves

$r = chat_req('azure/busy');
is($r->{status}, 200, '429: fallback served') or diag($r->{raw});
is($r->{headers}{'x-tokenroute-model'}, 'azure/gpt-4o', 'by the fallback');
is($r->{headers}{'x-tokenroute-attempts'}, 2, 'two attempts');

# 429 and nothing to fall back to: the client gets it, with Azure's
# retry-after and in its shape

$r = chat_req('azure/busy-alone');
$t->error_ok($r, 'openai', status => 429, name => '429 alone: 429');
is($r->{headers}{'retry-after'}, 1, "Azure's retry-after passed on");
ok(!exists $r->{headers}{'x-ratelimit-remaining-tokens'},
	'its x-ratelimit-* not');
$r = chat_req('azure/busy-alone', anthropic => 1);
$t->error_ok($r, 'anthropic', status => 429, type => 'rate_limit_error',
	name => '429 alone, anthropic shape');

# a wrong key: the provider refused the gateway's credential

$r = chat_req('azure/badkey');
$t->error_ok($r, 'openai', status => 502, secrets => [ 'azwrong', $AZKEY ],
	name => 'wrong key: 502');
is($r->{json}{error}{code}, 'provider_auth_failed', 'provider_auth_failed');
is(last_azure()->{response}{status}, 401, 'Azure answered 401');
$r = chat_req('azure/badkey', anthropic => 1);
$t->error_ok($r, 'anthropic', status => 502, type => 'api_error',
	name => 'wrong key, anthropic shape: 502');

# the prompt filtered: Azure's 400 content_filter in the client's shape

$r = chat_req('azure/filtered');
$t->error_ok($r, 'openai', status => 400, name => 'content filter 400');
is($r->{json}{error}{code}, 'content_filter', 'code content_filter');
like($r->{json}{error}{message}, qr/content management policy/,
	"Azure's message");
$r = chat_req('azure/filtered', anthropic => 1);
$t->error_ok($r, 'anthropic', status => 400, type => 'invalid_request_error',
	name => 'content filter 400, anthropic shape');

# the output filtered: finish_reason content_filter, translated

$r = chat_req('azure/filter-out');
is($r->{json}{choices}[0]{finish_reason}, 'content_filter',
	'finish_reason content_filter passed on');
$r = chat_req('azure/filter-out', anthropic => 1);
is($r->{status}, 200, 'filtered output, anthropic shape: 200');
is($r->{json}{stop_reason}, 'refusal', 'content_filter: stop_reason refusal');

$r = chat_req('azure/filter-out', stream => 1);
@chunks = map { JSON::PP->new->decode($_->{data}) }
	grep { $_->{data} ne '[DONE]' } @{ $r->{sse} };
is((grep { @{ $_->{choices} } } @chunks)[-1]{choices}[0]{finish_reason},
	'content_filter', 'stream: finish_reason content_filter passed on');
$r = chat_req('azure/filter-out', stream => 1, anthropic => 1);
my ($md) = map { JSON::PP->new->decode($_->{data}) }
	grep { ($_->{event} // '') eq 'message_delta' } @{ $r->{sse} };
is($md->{delta}{stop_reason}, 'refusal',
	'anthropic stream: content_filter as stop_reason refusal');
is($r->{sse}[-1]{event}, 'message_stop', 'and the stream ends whole');

# a deployment that does not exist: Azure's 404 in the client's shape

$r = chat_req('azure/missing');
$t->error_ok($r, 'openai', status => 404, name => 'DeploymentNotFound 404');
like($r->{json}{error}{message}, qr/deployment/i, 'says deployment');

###############################################################################

# what nginx -t refuses

# no DNS here: the provider's addresses come from an upstream block
my $base = "upstream x_up { server 127.0.0.1:1; }\n";
my $model = "tokenroute_model x/y provider=p input_price=1 output_price=1;\n";

sub check {
	my ($prov, $re, $name) = @_;

	$prov =~ s/;$/ upstream=x_up;/;
	my $c = $t->nginx_check(http => "$base$prov\n$model");
	isnt($c->{rc}, 0, "nginx -t fails: $name");
	like($c->{out}, $re, "$name: message");
	unlike($c->{out}, qr/\Q$AZKEY\E/, "$name: no key in the message");
}

check('tokenroute_provider p type=azure url=https://res.openai.azure.com/openai key_file=%%TESTDIR%%/azure.key;',
	qr/api_version=/, 'deployments API without api_version');
check('tokenroute_provider p type=openai url=https://res.openai.azure.com/openai/v1 key_file=%%TESTDIR%%/azure.key;',
	qr/type=azure/, 'an Azure host with type=openai');
check('tokenroute_provider p type=anthropic url=https://res.openai.azure.com/openai key_file=%%TESTDIR%%/azure.key;',
	qr/type=azure/, 'an Azure host with type=anthropic');
check('tokenroute_provider p type=azure url=https://res.openai.azure.com/v1 api_version=2024-10-21 key_file=%%TESTDIR%%/azure.key;',
	qr{url=https://res\.openai\.azure\.com/openai}, 'an Azure host without /openai');
check('tokenroute_provider p type=azure url=https://res.openai.azure.com/openai/deployments/gpt-4o api_version=2024-10-21;',
	qr{url=https://res\.openai\.azure\.com/openai\b}, 'a deployment in the url');
check('tokenroute_provider p type=azure url=https://res.openai.azure.com/openai api_version=2024-10-21&x=1;',
	qr/api_version/, 'api_version with a bad character');
check('tokenroute_provider p type=openai url=https://api.openai.com/v1 api_version=2024-10-21;',
	qr/invalid parameter/, 'api_version for type=openai');
check('tokenroute_provider p type=azure url=https://api.openai.com/v1 api_version=2024-10-21;',
	qr/type=openai/, 'type=azure for api.openai.com');

my $c = $t->nginx_check(http => "${base}tokenroute_provider p type=azure url=https://res.cognitiveservices.azure.com/openai/v1 key_file=%%TESTDIR%%/azure.key upstream=x_up;\n$model");
is($c->{rc}, 0, 'nginx -t passes: v1 API without api_version')
	or diag($c->{out});

# conf.d/provider-azure.conf loads (its resource name pointed at an
# address, no DNS here; the key from a file)

open my $ex, '<', $t->repo() . '/conf.d/provider-azure.conf' or die;
my $example = join '', <$ex>;
close $ex;
ok($example =~ s/server my-resource\.openai\.azure\.com:443;/server 127.0.0.1:1;/,
	'the example names its resource in its upstream');
$example =~ s/key_env=AZURE_OPENAI_API_KEY/key_file=%%TESTDIR%%\/azure.key/g;
$c = $t->nginx_check(http => $example);
is($c->{rc}, 0, 'nginx -t passes: conf.d/provider-azure.conf')
	or diag($c->{out});

done_testing();

###############################################################################
