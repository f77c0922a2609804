#!/usr/bin/perl

# (C) tokenroute authors

# Tests for Claude on AWS Bedrock (README "Claude on AWS Bedrock"):
# type=bedrock providers, InvokeModel for both client shapes, every
# request's SigV4 signature checked by the mock (t/lib/mock_bedrock.pl,
# t/lib/TokenRoute/SigV4.pm, written from AWS's specification), session
# tokens, a shared credentials file re-read on reload, an expired or
# wrong signature, Bedrock's errors in the client's shape and fallback.

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::SigV4;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();
my $d = $t->testdir;

# the mock's own check first: a request botocore 1.43.11 signed
is(TokenRoute::SigV4::sign(method => 'POST',
	path => '/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke',
	query => '',
	headers => [[Host => 'bedrock-runtime.us-east-1.amazonaws.com']],
	body => '{"anthropic_version":"bedrock-2023-05-31","max_tokens":16,'
		. '"messages":[{"role":"user","content":"hi"}]}',
	access_key => 'AKIAIOSFODNN7EXAMPLE',
	secret_key => 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
	amz_date => '20261206T144609Z', region => 'us-east-1',
	service => 'bedrock'),
	'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261206/us-east-1/'
	. 'bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature='
	. '607e2807afc9d11a94448f0f9e6d5e02192aba97af062cb652aa8f4b7a2c3529',
	'SigV4.pm signs as botocore does');

sub write_file {
	my ($name, $text) = @_;
	open my $fh, '>', "$d/$name" or die "$d/$name: $!";
	print $fh $text;
	close $fh;
}

# the mock's key list: env keys, file keys (with a session token), an
# API key
write_file('bedrock.keys', <<'EOF');
AKIDENVEXAMPLE1 envSecret/Key+1
AKIDFILEEXAMPLE fileSecret/Key+2 FwoGZXIvYXdzEXAMPLE//token+/=
bearer ABSKQmVkcm9ja0FQSUtleS1example
EOF

write_file('aws_credentials', <<'EOF');
[default]
aws_access_key_id = AKIDNOTUSED
aws_secret_access_key = nope

[profile prod]
aws_access_key_id = AKIDFILEEXAMPLE
aws_secret_access_key = fileSecret/Key+2
aws_session_token = FwoGZXIvYXdzEXAMPLE//token+/=
EOF

write_file('bedrock_api.key', "ABSKQmVkcm9ja0FQSUtleS1example\n");

$ENV{AWS_ACCESS_KEY_ID} = 'AKIDENVEXAMPLE1';
$ENV{AWS_SECRET_ACCESS_KEY} = 'envSecret/Key+1';
delete $ENV{AWS_SESSION_TOKEN};

$t->start_mock(name => 'bedrock', script => 't/lib/mock_bedrock.pl',
	args => ['--keys', "$d/bedrock.keys", '--region', 'eu-west-3']);

my $prices = 'input_price=0.25 output_price=1.25';

my $conf = <<"EOF";
tokenroute_cooldown 3s failures=1;
tokenroute_provider brenv type=bedrock url=http://127.0.0.1:%%PORT_bedrock%% region=eu-west-3;
tokenroute_provider brfile type=bedrock url=http://127.0.0.1:%%PORT_bedrock%% region=eu-west-3 credentials_file=%%TESTDIR%%/aws_credentials profile=prod;
tokenroute_provider brkey type=bedrock url=http://127.0.0.1:%%PORT_bedrock%% region=eu-west-3 key_file=%%TESTDIR%%/bedrock_api.key;
tokenroute_provider brwest type=bedrock url=http://127.0.0.1:%%PORT_bedrock%% region=us-west-2;
tokenroute_model br/haiku provider=brenv upstream_model=anthropic.claude-3-haiku-20240307-v1:0 $prices;
tokenroute_model br/usage provider=brenv upstream_model=anthropic.claude-usage-20-10-v1:0 $prices;
tokenroute_model br/file provider=brfile upstream_model=eu.anthropic.claude-usage-7-3-v1:0 $prices;
tokenroute_model br/key provider=brkey upstream_model=anthropic.claude-usage-5-2-v1:0 $prices;
tokenroute_model br/westregion provider=brwest upstream_model=anthropic.claude-v1:0 $prices;
tokenroute_model br/skew provider=brenv upstream_model=anthropic.claude-skew-600-v1:0 $prices;
tokenroute_model br/throttled provider=brenv upstream_model=anthropic.claude-error-429-v1:0 $prices fallback=br/usage;
tokenroute_model br/unavailable provider=brenv upstream_model=anthropic.claude-error-503-v1:0 $prices fallback=br/usage;
tokenroute_model br/modelerror provider=brenv upstream_model=anthropic.claude-error-424-v1:0 $prices;
tokenroute_model br/invalid provider=brenv upstream_model=anthropic.claude-error-400-v1:0 $prices;
tokenroute_model br/nosuch provider=brenv upstream_model=anthropic.claude-error-403-v1:0 $prices;
EOF

$t->start_gateway(http => $conf);

my $key = $t->create_key(name => 'bedrock');
my $hash = $t->key_hash($key->{raw});

sub messages {
	my ($model, %o) = @_;
	return $t->http(method => 'POST', path => $o{path} // '/v1/messages',
		headers => { 'x-api-key' => $key->{raw},
			'content-type' => 'application/json',
			%{ $o{headers} // {} } },
		body => { model => $model, max_tokens => 100,
			messages => [ { role => 'user', content => 'Hi' } ],
			%{ $o{extra} // {} } });
}

sub chat {
	my ($model, %o) = @_;
	return $t->http(method => 'POST',
		path => $o{path} // '/v1/chat/completions',
		headers => { Authorization => "Bearer $key->{raw}",
			'content-type' => 'application/json' },
		body => { model => $model, max_tokens => 100,
			messages => [ { role => 'system', content => 'Be brief.' },
				{ role => 'user', content => 'Hi' } ],
			%{ $o{extra} // {} } });
}

sub last_req { my @r = $t->mock_requests('bedrock'); return $r[-1]; }

sub spent { return $t->redis('HGET', "tr:key:$hash", 'spent') // 0; }

sub charged {
	my ($before, $want, $name) = @_;
	ok($t->wait_until(5, sub { spent() - $before == $want }), $name)
		or diag('charged ' . (spent() - $before) . ", want $want");
}

###############################################################################

# Anthropic's shape: InvokeModel, signed with the environment's keys

my $before = spent();
my $r = messages('br/usage', headers => {
	'anthropic-beta' => 'tools-2024-04-04, pdfs-2024-09-25' },
	extra => { stream => JSON::PP::false });
is($r->{status}, 200, 'messages: 200')
	or diag($r->{body} . "\n" . $t->error_log);
is($r->{json}{content}[0]{text}, 'Hello from bedrock', 'messages: the answer');
is($r->{headers}{'x-tokenroute-model'}, 'br/usage', 'messages: served by');

my $q = last_req();
is($q->{sigv4}, 'ok', 'messages: the mock verified the signature');
is($q->{path}, '/model/anthropic.claude-usage-20-10-v1%3A0/invoke',
	'messages: the model id in the path, ":" encoded');
like($q->{headers}{authorization},
	qr{^AWS4-HMAC-SHA256 Credential=AKIDENVEXAMPLE1/\d{8}/eu-west-3/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=[0-9a-f]{64}$},
	'messages: the credential scope');
like($q->{headers}{'x-amz-date'}, qr/^\d{8}T\d{6}Z$/, 'messages: x-amz-date');
ok(!exists $q->{headers}{'x-amz-security-token'}, 'messages: no token');
ok(!exists $q->{headers}{'x-api-key'}
	&& !exists $q->{headers}{'anthropic-version'}
	&& !exists $q->{headers}{'anthropic-beta'},
	'messages: no Anthropic headers');
is_deeply($q->{json}{anthropic_beta},
	['tools-2024-04-04', 'pdfs-2024-09-25'],
	'messages: anthropic-beta in the body');
is($q->{json}{anthropic_version}, 'bedrock-2023-05-31',
	'messages: anthropic_version');
ok(!exists $q->{json}{model} && !exists $q->{json}{stream},
	'messages: no model, no stream in the body');
charged($before, 20 * 250 + 10 * 1250, 'messages: usage charged exactly');

# OpenAI's shape, translated

$before = spent();
$r = chat('br/usage');
is($r->{status}, 200, 'chat: 200');
is($r->{json}{choices}[0]{message}{content}, 'Hello from bedrock',
	'chat: translated answer');
is($r->{json}{usage}{prompt_tokens}, 20, 'chat: usage');
$q = last_req();
is($q->{sigv4}, 'ok', 'chat: signature verified');
is($q->{json}{system}, 'Be brief.', 'chat: translated to Anthropic\'s shape');
ok(!exists $q->{json}{model}, 'chat: no model in the body');
is($q->{json}{anthropic_version}, 'bedrock-2023-05-31',
	'chat: anthropic_version');
charged($before, 20 * 250 + 10 * 1250, 'chat: usage charged exactly');

# the credentials file's profile, with its session token

$before = spent();
$r = messages('br/file');
is($r->{status}, 200, 'file: 200');
$q = last_req();
is($q->{sigv4}, 'ok', 'file: signature verified');
like($q->{headers}{authorization},
	qr{Credential=AKIDFILEEXAMPLE/\d{8}/eu-west-3/bedrock/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token,},
	'file: the profile\'s key, the token signed');
is($q->{headers}{'x-amz-security-token'}, 'FwoGZXIvYXdzEXAMPLE//token+/=',
	'file: the session token sent');
is($q->{path}, '/model/eu.anthropic.claude-usage-7-3-v1%3A0/invoke',
	'file: an inference profile id');
charged($before, 7 * 250 + 3 * 1250, 'file: charged');

# a Bedrock API key: a bearer token, nothing signed

$r = messages('br/key');
is($r->{status}, 200, 'api key: 200');
$q = last_req();
is($q->{headers}{authorization}, 'Bearer ABSKQmVkcm9ja0FQSUtleS1example',
	'api key: Bearer');
ok(!exists $q->{headers}{'x-amz-date'}, 'api key: no x-amz-date');

# Bedrock's errors: a throttle or an outage falls back, the others reach
# the client in its shape, Bedrock's words kept

$r = messages('br/throttled');
is($r->{status}, 200, '429 ThrottlingException: served by the fallback');
is($r->{headers}{'x-tokenroute-model'}, 'br/usage', '429: br/usage served');
is($r->{headers}{'x-tokenroute-attempts'}, 2, '429: two attempts');

$r = chat('br/unavailable');
is($r->{status}, 200, '503 ServiceUnavailable: served by the fallback');
is($r->{headers}{'x-tokenroute-model'}, 'br/usage', '503: br/usage served');

$r = messages('br/invalid');
$t->error_ok($r, 'anthropic', status => 400, type => 'invalid_request_error',
	name => '400 ValidationException, Anthropic shape');
like($r->{json}{error}{message}, qr/^Malformed input request/,
	'400: Bedrock\'s message');

$r = chat('br/invalid');
$t->error_ok($r, 'openai', status => 400, type => 'invalid_request_error',
	name => '400 ValidationException, OpenAI shape');

$r = messages('br/modelerror');
$t->error_ok($r, 'anthropic', status => 424, type => 'api_error',
	name => '424 ModelErrorException');
is($r->{json}{error}{message}, 'The model produced an error.',
	'424: Bedrock\'s message');

$r = messages('br/nosuch');
is($r->{status}, 502, '403 AccessDeniedException: 502');
is($r->{json}{error}{type}, 'api_error', '403: an api_error');

# a signature the service refuses: its region, its clock

$r = messages('br/westregion');
is($r->{status}, 502, 'wrong region: 502');
like(last_req()->{sigv4}, qr/scoped to a valid region/,
	'wrong region: the mock refused the scope');

$r = messages('br/skew');
is(last_req()->{response}{status}, 403, 'expired: the mock answered 403');
like(last_req()->{sigv4},
	qr/^Signature expired: \d{8}T\d{6}Z is now earlier/,
	'expired: the signature expired');
is($r->{status}, 502, 'expired: 502 to the client');

# a tampered request: a good one replayed with one byte of its body
# changed

my $good = (grep { $_->{sigv4} eq 'ok' && $_->{path} =~ /usage-20-10/ }
	$t->mock_requests('bedrock'))[0];
my @replay = map { @$_ }
	grep { $_->[0] !~ /^(content-length|connection|host)$/i }
	@{ $good->{header_list} };
push @replay, Host => (grep { lc $_->[0] eq 'host' }
	@{ $good->{header_list} })[0][1];
my $body = $good->{body};
$body =~ s/"Hi"/"Ho"/ or die 'no Hi';
my $res = $t->http(method => 'POST', path => $good->{path},
	port => $t->port('bedrock'), headers => \@replay, body => $body);
is($res->{status}, 403, 'tampered: 403');
like(last_req()->{sigv4},
	qr/^The request signature we calculated does not match/,
	'tampered: InvalidSignatureException');
$res = $t->http(method => 'POST', path => $good->{path},
	port => $t->port('bedrock'), headers => \@replay,
	body => $good->{body});
is($res->{status}, 200, 'tampered: the original replayed passes');

# what Bedrock does not offer here: a clear 400 in the client's shape

$r = messages('br/haiku', path => '/v1/messages/count_tokens');
$t->error_ok($r, 'anthropic', status => 400, type => 'invalid_request_error',
	name => 'count_tokens: 400');
like($r->{json}{error}{message}, qr/Bedrock/, 'count_tokens: says Bedrock');

$r = $t->http(method => 'POST', path => '/v1/embeddings',
	headers => { Authorization => "Bearer $key->{raw}" },
	body => { model => 'br/haiku', input => 'hi' });
$t->error_ok($r, 'openai', status => 400, type => 'invalid_request_error',
	name => 'embeddings: 400');

# the credentials file is read again on reload: a rotated key

write_file('aws_credentials', <<'EOF');
[profile prod]
aws_access_key_id=AKIDROTATEDKEY2
aws_secret_access_key=rotated/Secret+3
EOF
write_file('bedrock.keys', <<'EOF');
AKIDENVEXAMPLE1 envSecret/Key+1
AKIDROTATEDKEY2 rotated/Secret+3
EOF

$t->reload_nginx();

$r = messages('br/file');
is($r->{status}, 200, 'reload: 200');
$q = last_req();
is($q->{sigv4}, 'ok', 'reload: signature verified');
like($q->{headers}{authorization}, qr{Credential=AKIDROTATEDKEY2/},
	'reload: the rotated key signs');
ok(!exists $q->{headers}{'x-amz-security-token'},
	'reload: the old session token is gone');

# configuration errors (no DNS here: addresses from an upstream block)

sub check {
	my ($provider) = @_;
	return $t->nginx_check(http => "upstream x_up { server 127.0.0.1:1; }\n"
		. "$provider upstream=x_up;\n");
}

my $c = check("tokenroute_provider b2 type=bedrock "
	. "url=https://bedrock-runtime.ap-south-1.amazonaws.com "
	. "credentials_file=$d/aws_credentials profile=staging");
isnt($c->{rc}, 0, 'conf: an unknown profile fails');
like($c->{out}, qr/has no profile "staging"/, 'conf: names the profile');
unlike($c->{out}, qr/rotated/, 'conf: never echoes the file');

$c = check("tokenroute_provider b2 type=bedrock "
	. "url=http://127.0.0.1:9");
isnt($c->{rc}, 0, 'conf: no region for a host without one');
like($c->{out}, qr/needs region=/, 'conf: says region=');

$c = check("tokenroute_provider b2 type=bedrock "
	. "url=https://bedrock-runtime.ap-south-1.amazonaws.com");
is($c->{rc}, 0, 'conf: the region from the url')
	or diag($c->{out});

$c = check("tokenroute_provider b2 type=bedrock "
	. "url=https://bedrock-runtime.ap-south-1.amazonaws.com "
	. "profile=x");
isnt($c->{rc}, 0, 'conf: profile= without credentials_file=');

$c = check("tokenroute_provider b2 type=openai "
	. "url=https://example.com region=eu-west-1");
isnt($c->{rc}, 0, 'conf: region= is not for type=openai');

# conf.d/provider-bedrock.conf loads (its upstream made local: no DNS)

open my $cf, '<', $t->repo . '/conf.d/provider-bedrock.conf' or die;
my $example = do { local $/; <$cf> };
close $cf;
$example =~ s/\bserver\s+bedrock-runtime\.us-east-1\.amazonaws\.com:443;/server 127.0.0.1:1;/
	or die 'no upstream server in provider-bedrock.conf';
$c = $t->nginx_check(http => $example);
is($c->{rc}, 0, 'conf.d/provider-bedrock.conf loads') or diag($c->{out});

done_testing();
