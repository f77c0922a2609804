#!/usr/bin/perl

# (C) tokenroute authors

# Errors at the edge (issue 9): whatever a client or a provider sends, the
# client gets a JSON error in its own API shape, valid UTF-8, with the code
# of README's errors table, and nothing that leaks a secret.
#
#   1. provider errors on every routed endpoint (count_tokens, embeddings,
#      chat, messages) are cleaned: keys, URLs, binary bodies
#   2. nginx's own errors (duplicate Authorization, TRACE, 414, 431, 408,
#      500, other methods) through conf.d/tokenroute_server.conf
#   3. 529: an OpenAI-shaped client gets 503, an Anthropic one 529
#   4. a client's invalid UTF-8 never reaches an error body raw
#   5. README's errors table, row by row
#   6. an error after fallback names the model that failed

###############################################################################

use warnings;
use strict;

use Encode qw(decode FB_CROAK);
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

my $PR = 'input_price=1 output_price=2';

# tokenroute_proxy.conf without its error_page lines: a location where a
# provider's 529 reaches the client as the provider's error
my $proxy = do {
	open my $fh, '<', $t->repo . '/conf.d/tokenroute_proxy.conf' or die $!;
	join '', grep { !/^\s*error_page\b/ } <$fh>;
};
open my $fh, '>', $t->testdir . '/proxy_no529.conf' or die $!;
print $fh $proxy;
close $fh;

$t->start_gateway(
	server => <<'EOF',
client_body_timeout 1s;
large_client_header_buffers 4 2k;
location /v9/ {
    tokenroute on;
    include %%TESTDIR%%/proxy_no529.conf;
    error_page 502 504 @tokenroute_fallback;
}
location /v8/ {
    tokenroute on;
    include %%REPO%%/conf.d/tokenroute_proxy.conf;
    return 500;
}
location /plain500 {
    return 500;
}
EOF
	http => <<"EOF");
tokenroute_model e/ant-secret provider=mockant upstream_model=claude-secret-400 $PR;
tokenroute_model e/ant-binary provider=mockant upstream_model=claude-binary-400 $PR;
tokenroute_model e/ai-secret provider=mockai upstream_model=gpt-secret-400 $PR;
tokenroute_model e/ai-binary provider=mockai upstream_model=gpt-binary-422 $PR;
tokenroute_model e/ai-529 provider=mockai upstream_model=gpt-error-529 $PR;
tokenroute_model e/ant-529 provider=mockant upstream_model=claude-error-529 $PR;
tokenroute_model e/ant-ok provider=mockant upstream_model=claude-ok $PR;
tokenroute_model e/ai-ok provider=mockai upstream_model=gpt-ok $PR;
tokenroute_model e/fb-a provider=mockai upstream_model=gpt-error-500 $PR fallback=e/fb-b;
tokenroute_model e/fb-b provider=mockant upstream_model=claude-ok $PR;
EOF

my $key = $t->create_key(name => 'errors');
my $mock = '127.0.0.1:' . $t->port('mock');

my @secrets = ($key->{raw}, $TokenRoute::Test::OPENAI_KEY,
	$TokenRoute::Test::ANTHROPIC_KEY, 'PROVIDERKEY', $mock,
	'internal.example', "\x00");

my %TYPE = (
	openai => { 400 => 'invalid_request_error', 404 => 'invalid_request_error',
		405 => 'invalid_request_error', 408 => 'invalid_request_error',
		413 => 'invalid_request_error', 414 => 'invalid_request_error',
		422 => 'invalid_request_error', 431 => 'invalid_request_error',
		500 => 'server_error', 502 => 'server_error', 503 => 'server_error' },
	anthropic => { 400 => 'invalid_request_error', 404 => 'not_found_error',
		405 => 'invalid_request_error', 408 => 'invalid_request_error',
		413 => 'request_too_large', 414 => 'invalid_request_error',
		422 => 'invalid_request_error', 431 => 'invalid_request_error',
		500 => 'api_error', 502 => 'api_error', 529 => 'overloaded_error' },
);

sub post {
	my ($path, $body, %o) = @_;

	return $t->http(
		method => $o{method} // 'POST',
		path => $path,
		headers => {
			Authorization => "Bearer $key->{raw}",
			'anthropic-version' => '2023-06-01',
			($o{ctype} // 1) ? ('Content-Type' => 'application/json') : (),
			%{ $o{headers} || {} },
		},
		body => $body,
		timeout => $o{timeout} // 10,
	);
}

sub chat_body {
	my ($model, %extra) = @_;
	return { model => $model, max_tokens => 16,
		messages => [ { role => 'user', content => 'hi' } ], %extra };
}

sub shape_of { $_[0] =~ m{/messages} ? 'anthropic' : 'openai' }

# the error in the client's shape, as valid UTF-8 JSON, with its code
# (OpenAI) or type (Anthropic)

sub err_ok {
	my ($res, $shape, $status, $code, $name, %o) = @_;

	$t->error_ok($res, $shape, status => $status, name => $name,
		type => $o{type} // $TYPE{$shape}{$status},
		secrets => $o{secrets} // \@secrets);

	my $utf8 = eval { decode('UTF-8', $res->{body} // '', FB_CROAK); 1 };
	ok($utf8, "$name: the body is valid UTF-8");
	ok(defined $res->{json}, "$name: the body is JSON")
		or diag(substr($res->{raw} // '', 0, 600));

	if ($shape eq 'openai' && defined $code) {
		is($res->{json}{error}{code}, $code, "$name: code $code");
	}
}

###############################################################################

# 1. Provider errors on every routed endpoint are cleaned.

my %ep = (
	'/v1/messages/count_tokens' => [ 'e/ant-secret', 'e/ant-binary' ],
	'/v1/messages' => [ 'e/ant-secret', 'e/ant-binary' ],
	'/v1/embeddings' => [ 'e/ai-secret', 'e/ai-binary' ],
	'/v1/chat/completions' => [ 'e/ai-secret', 'e/ai-binary' ],
);

for my $path (sort keys %ep) {
	my ($secret, $binary) = @{ $ep{$path} };
	my $shape = shape_of($path);
	my $body = $path =~ /embeddings/
		? sub { { model => $_[0], input => 'hi' } }
		: sub { chat_body($_[0]) };

	my $r = post($path, $body->($secret));
	err_ok($r, $shape, 400, undef, "1. $path: a provider error naming "
		. "its key and URL");
	my $m = $r->{json}{error}{message} // '';
	like($m, qr/\[redacted\]/, "1. $path: the key is [redacted]");
	like($m, qr/\[url\]/, "1. $path: the URL is [url]");

	my $status = $shape eq 'openai' ? 422 : 400;
	$r = post($path, $body->($binary));
	err_ok($r, $shape, $status, undef, "1. $path: a binary provider error");
	unlike($r->{body}, qr/binary/, "1. $path: none of the binary body");
}

###############################################################################

# 2. nginx's own errors, in the client's shape.

my $port = $t->port('http');

sub raw {
	my ($req, $timeout) = @_;
	return $t->http(raw => $req, timeout => $timeout // 10);
}

for my $path ('/v1/chat/completions', '/v1/messages') {
	my $shape = shape_of($path);

	my $r = raw("POST $path HTTP/1.1\r\nHost: localhost\r\n"
		. "Connection: close\r\nAuthorization: Bearer $key->{raw}\r\n"
		. "Authorization: Bearer $key->{raw}\r\nContent-Length: 2\r\n\r\n{}");
	err_ok($r, $shape, 400, 'invalid_request',
		"2. $path: duplicate Authorization");

	$r = raw("TRACE $path HTTP/1.1\r\nHost: localhost\r\n"
		. "Connection: close\r\n\r\n");
	err_ok($r, $shape, 405, 'method_not_allowed', "2. $path: TRACE");

	for my $method (qw(PUT DELETE PATCH)) {
		$r = post($path, chat_body('e/ai-ok'), method => $method);
		err_ok($r, $shape, 405, 'method_not_allowed', "2. $path: $method");
	}

	$r = raw("GET $path?" . ('a' x 10240) . " HTTP/1.1\r\n"
		. "Host: localhost\r\nConnection: close\r\n\r\n");
	err_ok($r, $shape, 414, 'uri_too_long', "2. $path: a 10 KB URI");

	$r = raw("POST $path HTTP/1.1\r\nHost: localhost\r\n"
		. "Connection: close\r\n"
		. join('', map { "X-Pad-$_: " . ('p' x 1000) . "\r\n" } 1 .. 20)
		. "Content-Length: 2\r\n\r\n{}");
	err_ok($r, $shape, 431, 'request_header_too_large',
		"2. $path: 20 KB of headers");

	$r = raw("POST $path HTTP/1.1\r\nHost: localhost\r\n"
		. "Connection: close\r\nX-Long: " . ('l' x 3000) . "\r\n"
		. "Content-Length: 2\r\n\r\n{}");
	err_ok($r, $shape, 431, 'request_header_too_large',
		"2. $path: a 3 KB header line");

	my $t0 = time();
	$r = raw("POST $path HTTP/1.1\r\nHost: localhost\r\n"
		. "Connection: close\r\nAuthorization: Bearer $key->{raw}\r\n"
		. "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
		. '{"model":', 8);
	err_ok($r, $shape, 408, 'request_timeout',
		"2. $path: a body that stalls past client_body_timeout");
	cmp_ok(time() - $t0, '<', 5, "2. $path: 408 after the timeout");

	# a chunked body whose second chunk is malformed, after a pause: nginx
	# finds it while the access phase waits for the body
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
		PeerPort => $port, Proto => 'tcp', Timeout => 5) or die $!;
	$s->autoflush(1);
	print $s "POST $path HTTP/1.1\r\nHost: localhost\r\n"
		. "Connection: close\r\nAuthorization: Bearer $key->{raw}\r\n"
		. "Content-Type: application/json\r\n"
		. "Transfer-Encoding: chunked\r\n\r\n9\r\n{\"model\":\r\n";
	sleep 0.3;
	my $buf = '';
	$r = TokenRoute::Test::_exchange($s, "zz\r\n", time() + 5, \$buf);
	close $s;
	err_ok($r, $shape, 400, 'invalid_request',
		"2. $path: a malformed chunk after a pause");

	(my $fault = $path) =~ s{^/v1/}{/v8/};
	$r = post($fault, chat_body('e/ai-ok'));
	err_ok($r, $shape, 500, 'internal_error',
		"2. $path: nginx's own 500 in a gateway location");
}

my $r = raw("GET /plain500 HTTP/1.1\r\nHost: localhost\r\n"
	. "Connection: close\r\n\r\n");
err_ok($r, 'openai', 500, 'internal_error',
	'2. a 500 elsewhere in the server');

# the gateway still serves, and no request reached the provider twice
$r = post('/v1/chat/completions', chat_body('e/ai-ok'));
is($r->{status}, 200, '2. the gateway still serves');

###############################################################################

# 3. 529: OpenAI's clients never get it (OpenAI sends 503 when overloaded).

$r = post('/v9/chat/completions', chat_body('e/ai-529'));
err_ok($r, 'openai', 503, 'overloaded_error',
	'3. a provider 529 to an OpenAI client, passed');
is($r->{json}{error}{message}, 'Overloaded',
	"3. the provider's message is kept");

$r = post('/v9/chat/completions', chat_body('e/ant-529'));
err_ok($r, 'openai', 503, undef,
	'3. a provider 529 to an OpenAI client, translated');
is($r->{json}{error}{message}, 'Overloaded',
	"3. translated: the provider's message is kept");

$r = post('/v9/messages', chat_body('e/ant-529'));
err_ok($r, 'anthropic', 529, undef,
	'3. a provider 529 to an Anthropic client');

$r = post('/v1/chat/completions', chat_body('e/ai-529'));
err_ok($r, 'openai', 503, 'provider_failed',
	'3. a chain that ran out on 529, OpenAI client');
like($r->{json}{error}{message} // '', qr/status 529/,
	'3. the message says the provider sent 529');

$r = post('/v1/messages', chat_body('e/ai-529'));
err_ok($r, 'anthropic', 529, undef,
	'3. a chain that ran out on 529, Anthropic client');

###############################################################################

# 4. A client's invalid UTF-8 never reaches an error body raw.

for my $path ('/v1/chat/completions', '/v1/messages') {
	my $shape = shape_of($path);

	my $body = '{"model":"bad' . "\xff\xfe" . '-model","max_tokens":16,'
		. '"messages":[{"role":"user","content":"hi"}]}';
	$r = post($path, $body);
	err_ok($r, $shape, 404, 'model_not_found',
		"4. $path: a model name with \\xff\\xfe");
	my $m = $r->{json}{error}{message} // '';
	like($m, qr/bad\x{fffd}\x{fffd}-model/,
		"4. $path: invalid bytes become U+FFFD");

	$body = '{"model":"e/ai-ok","models":["e/ai-ok","' . "\xc3(\xe2\x82"
		. '"],'
		. '"max_tokens":16,"messages":[{"role":"user","content":"hi"}]}';
	$r = post($path, $body);
	err_ok($r, $shape, 404, 'model_not_found',
		"4. $path: a \"models\" entry with invalid UTF-8");

	$body = '{"model":"bad\\"quote\\\\ \\u00e9 \\u0001","max_tokens":16,'
		. '"messages":[]}';
	$r = post($path, $body);
	err_ok($r, $shape, 404, 'model_not_found',
		"4. $path: a model name with quotes and controls");

	# a translated request: not valid JSON text (RFC 8259 is UTF-8)
	my $other = $shape eq 'openai' ? 'e/ant-ok' : 'e/ai-ok';
	$body = '{"model":"' . $other . '","max_tokens":16,"' . "\xff\xfe"
		. 'bad":1,'
		. '"messages":[{"role":"user","content":"hi"}]}';
	$r = post($path, $body);
	err_ok($r, $shape, 400, 'invalid_json',
		"4. $path: a translated body with invalid UTF-8 in a field name");
}

###############################################################################

# 5. README's errors table.

my @rows = (
	[ 'invalid_json', 400, '{"model":' ],
	[ 'invalid_request', 400, '' ],
	[ 'invalid_request', 400, '[1,2]' ],
	[ 'invalid_request', 400, '{"messages":[]}' ],
	[ 'invalid_request', 400, '{"model":7,"messages":[]}' ],
	[ 'invalid_request', 400,
		'{"model":"e/ai-ok","model":"e/ai-ok","messages":[]}' ],
	[ 'invalid_request', 400, '{"model":"e/ai-ok","stream":"yes"}' ],
	[ 'invalid_request', 400, '{"model":"e/ai-ok","max_tokens":"9"}' ],
	[ 'model_not_found', 404, '{"model":"nope/none","messages":[]}' ],
);

for my $path ('/v1/chat/completions', '/v1/messages') {
	my $shape = shape_of($path);

	for my $row (@rows) {
		my ($code, $status, $body) = @$row;
		$r = post($path, $body);
		err_ok($r, $shape, $status, $code, "5. $path: $code for '$body'");
	}

	$r = post($path, $shape eq 'openai' ? chat_body('e/ant-ok', n => 2)
		: chat_body('e/ai-ok', mcp_servers => [ {} ]));
	err_ok($r, $shape, 400, 'unsupported_field',
		"5. $path: unsupported_field");
}

$r = post('/v1/messages/count_tokens', chat_body('e/ai-ok'));
err_ok($r, 'anthropic', 400, undef, '5. unsupported_route: count_tokens');

$r = post('/v1/embeddings', { model => 'e/ant-ok', input => 'hi' });
err_ok($r, 'openai', 400, 'unsupported_route', '5. unsupported_route: '
	. 'embeddings');

$r = post('/v1/unknown', chat_body('e/ai-ok'));
err_ok($r, 'openai', 404, 'unknown_endpoint', '5. unknown_endpoint');

$r = post('/v1/chat/completions', chat_body('e/ai-ok'),
	headers => { Authorization => 'Bearer nope' });
err_ok($r, 'openai', 401, 'invalid_api_key', '5. invalid_api_key',
	type => 'invalid_request_error');

$r = post('/v1/chat/completions', chat_body('e/ai-ok', pad => 'x' x (5 << 20)));
err_ok($r, 'openai', 413, 'request_too_large', '5. request_too_large');

###############################################################################

# 6. An error after fallback names the model whose attempt failed.

# e/fb-b cannot take these: embeddings for an Anthropic-type provider,
# and "n": 2 cannot be translated for it
$r = post('/v1/embeddings', { model => 'e/fb-a', input => 'hi' });
err_ok($r, 'openai', 500, 'provider_failed',
	'6. embeddings: e/fb-a failed, e/fb-b cannot take them');
like($r->{json}{error}{message} // '', qr{"e/fb-a"},
	'6. embeddings: the message names e/fb-a');
is($r->{headers}{'x-tokenroute-model'}, 'e/fb-a',
	'6. embeddings: x-tokenroute-model names e/fb-a');

$r = post('/v1/chat/completions', chat_body('e/fb-a', n => 2));
err_ok($r, 'openai', 500, 'provider_failed',
	'6. chat: e/fb-a failed, e/fb-b cannot take n=2');
like($r->{json}{error}{message} // '', qr{"e/fb-a"},
	'6. chat: the message names e/fb-a');
is($r->{headers}{'x-tokenroute-model'}, 'e/fb-a',
	'6. chat: x-tokenroute-model names e/fb-a');

# e/fb-b is not allowed for this key: skipped, the error names e/fb-a
my $only_a = $t->create_key(name => 'errors-only-a', models => [ 'e/fb-a' ]);
$r = post('/v1/chat/completions', chat_body('e/fb-a'),
	headers => { Authorization => "Bearer $only_a->{raw}" });
err_ok($r, 'openai', 500, 'provider_failed',
	'6. e/fb-a failed, e/fb-b not allowed', secrets => [ $only_a->{raw} ]);
like($r->{json}{error}{message} // '', qr{"e/fb-a"},
	'6. not allowed: the message names e/fb-a');

# count_tokens: a provider error is an attempt like any other
$r = post('/v1/messages/count_tokens', chat_body('e/ant-secret'));
is($r->{headers}{'x-tokenroute-model'}, 'e/ant-secret',
	'6. count_tokens: x-tokenroute-model');
is($r->{headers}{'x-tokenroute-attempts'}, 1,
	'6. count_tokens: one attempt');

done_testing();

###############################################################################
