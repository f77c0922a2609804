#!/usr/bin/perl

# (C) tokenroute authors

# A provider's url follows its vendor's base-URL convention (README
# "tokenroute_provider", issue 12):
#   1. type=anthropic: the base with or without /v1 (the Anthropic SDK's
#      base_url has none), a trailing slash too: the mock receives
#      /v1/messages and /v1/messages/count_tokens either way; a base
#      under a prefix gets /v1 after the prefix, as the SDK does
#   2. type=openai: the base includes the version (/v1), as the OpenAI
#      SDK's; a trailing slash is dropped
#   3. a url that names an endpoint (/chat/completions, /completions,
#      /messages, /responses, /models, /embeddings), has a query string
#      or a fragment, or misses a known vendor's version path, fails
#      "nginx -t" with a message that says what to write instead

###############################################################################

use warnings;
use strict;

use JSON::PP;
use POSIX qw(:sys_wait_h);
use Test::More;

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();
my $d = $t->testdir;

my $mock = 'http://127.0.0.1:%%MOCK_PORT%%';

$t->start_gateway(http => <<"EOF");
tokenroute_provider ant-bare type=anthropic url=$mock key_env=TOKENROUTE_TEST_ANTHROPIC_KEY;
tokenroute_provider ant-slash type=anthropic url=$mock/ key_env=TOKENROUTE_TEST_ANTHROPIC_KEY;
tokenroute_provider ant-v1 type=anthropic url=$mock/v1/ key_env=TOKENROUTE_TEST_ANTHROPIC_KEY;
tokenroute_provider ant-prefix type=anthropic url=$mock/proxy key_env=TOKENROUTE_TEST_ANTHROPIC_KEY;
tokenroute_provider oai-slash type=openai url=$mock/v1/ key_file=%%TESTDIR%%/openai.key;
tokenroute_model m/ant-bare provider=ant-bare upstream_model=claude-haiku-4-5 input_price=1 output_price=5;
tokenroute_model m/ant-slash provider=ant-slash upstream_model=claude-haiku-4-5 input_price=1 output_price=5;
tokenroute_model m/ant-v1 provider=ant-v1 upstream_model=claude-haiku-4-5 input_price=1 output_price=5;
tokenroute_model m/ant-prefix provider=ant-prefix upstream_model=claude-haiku-4-5 input_price=1 output_price=5;
tokenroute_model m/oai-slash provider=oai-slash upstream_model=gpt-4o-mini input_price=1 output_price=5;
EOF

my $key = $t->create_key(name => 'urls');

sub call {
	my ($path, $body) = @_;
	return $t->http(method => 'POST', path => $path,
		headers => { 'x-api-key' => $key->{raw},
			Authorization => "Bearer $key->{raw}",
			'anthropic-version' => '2023-06-01',
			'Content-Type' => 'application/json' },
		body => $body);
}

sub last_path {
	my @reqs = $t->mock_requests();
	return @reqs ? $reqs[-1]{path} : '(none)';
}

my $msgs = [ { role => 'user', content => 'Hi' } ];

for my $c ([ 'ant-bare', '/v1' ], [ 'ant-slash', '/v1' ],
	[ 'ant-v1', '/v1' ], [ 'ant-prefix', '/proxy/v1' ])
{
	my ($name, $base) = @$c;

	$t->clear_mock_requests();
	my $res = call('/v1/messages', { model => "m/$name",
		max_tokens => 20, messages => $msgs });

	# the mock serves /v1/... alone: a prefixed path is a 404 there
	is($res->{status}, $name eq 'ant-prefix' ? 404 : 200, "$name: messages")
		or diag($res->{body});
	is(last_path(), "$base/messages", "$name: the mock got $base/messages");

	$t->clear_mock_requests();
	$res = call('/v1/messages/count_tokens', { model => "m/$name",
		messages => $msgs });
	is($res->{status}, $name eq 'ant-prefix' ? 404 : 200,
		"$name: count_tokens") or diag($res->{body});
	is(last_path(), "$base/messages/count_tokens",
		"$name: the mock got $base/messages/count_tokens");
}

# an OpenAI client's request to an Anthropic base without /v1 (translated)

$t->clear_mock_requests();
my $res = call('/v1/chat/completions', { model => 'm/ant-bare',
	messages => $msgs });
is($res->{status}, 200, 'chat completions to ant-bare') or diag($res->{body});
is(last_path(), '/v1/messages', 'translated: the mock got /v1/messages');

$t->clear_mock_requests();
$res = call('/v1/chat/completions', { model => 'm/oai-slash',
	messages => $msgs });
is($res->{status}, 200, 'oai-slash') or diag($res->{body});
is(last_path(), '/v1/chat/completions', 'oai-slash: /v1/chat/completions');

###############################################################################

# "nginx -t" on the harness's configuration plus one provider, in its own
# directory (its [emerg] must not reach the logs the harness checks)

sub nginx_check {
	my ($provider) = @_;

	# no DNS here: the provider's addresses come from an upstream block
	return $t->nginx_check(http => "upstream x_up { server 127.0.0.1:1; }\n"
		. "$provider upstream=x_up;\n");
}

my $ok = nginx_check('tokenroute_provider x type=openai '
	. 'url=https://api.openai.com/v1');
is($ok->{rc}, 0, 'nginx -t passes with a good url') or diag($ok->{out});

my @bad = (
	[ 'openai', 'https://api.openai.com/v1/chat/completions',
		qr/names an endpoint.*url=https:\/\/api\.openai\.com\/v1\s/ ],
	[ 'openai', 'https://api.openai.com/v1/completions',
		qr/names an endpoint.*url=https:\/\/api\.openai\.com\/v1\s/ ],
	[ 'openai', 'https://api.openai.com/v1/responses',
		qr/names an endpoint.*url=https:\/\/api\.openai\.com\/v1\s/ ],
	[ 'openai', 'https://api.openai.com/v1/models/',
		qr/names an endpoint.*url=https:\/\/api\.openai\.com\/v1\s/ ],
	[ 'openai', 'https://api.openai.com/v1/embeddings',
		qr/names an endpoint.*url=https:\/\/api\.openai\.com\/v1\s/ ],
	[ 'anthropic', 'https://api.anthropic.com/v1/messages',
		qr/names an endpoint.*url=https:\/\/api\.anthropic\.com\/v1\s/ ],
	[ 'openai', 'http://127.0.0.1:8000/v1/chat/completions',
		qr/names an endpoint.*url=http:\/\/127\.0\.0\.1:8000\/v1\s/ ],
	[ 'openai', 'https://api.openai.com/v1?api-version=2',
		qr/query string.*url=https:\/\/api\.openai\.com\/v1\s/ ],
	[ 'anthropic', 'https://api.anthropic.com/#x',
		qr/fragment.*url=https:\/\/api\.anthropic\.com\s/ ],
	[ 'openai', 'https://api.openai.com',
		qr/url=https:\/\/api\.openai\.com\/v1\s/ ],
	[ 'openai', 'https://api.openai.com/',
		qr/url=https:\/\/api\.openai\.com\/v1\s/ ],
	[ 'openai', 'https://generativelanguage.googleapis.com/v1beta',
		qr/url=https:\/\/generativelanguage\.googleapis\.com\/v1beta\/openai\s/ ],
	[ 'openai', 'https://api.anthropic.com',
		qr/url=https:\/\/api\.anthropic\.com\/v1\s/ ],
	[ 'anthropic', 'https://api.openai.com/v1',
		qr/type=openai/ ],
);

for my $b (@bad) {
	my ($type, $url, $re) = @$b;
	my $r = nginx_check("tokenroute_provider x type=$type url=$url");
	isnt($r->{rc}, 0, "nginx -t fails: $type $url");
	like($r->{out}, qr/\[emerg\].*provider "x"/, "$url: an [emerg]");
	like($r->{out}, $re, "$url: says what to write") or diag($r->{out});
}

done_testing();
