#!/usr/bin/perl

# (C) tokenroute authors

# Tests for the provider's response headers: what a provider says about
# the gateway's own account (cookies, organisation and project ids, its
# request ids, rate limits, CDN ids) never reaches the client, whatever
# the response (passed through, translated, streamed, an error passed on
# or one the gateway made after a fallback); Retry-After and the headers
# a client's SDK needs are kept, and the request id the SDK reports is the
# gateway's own.

###############################################################################

use warnings;
use strict;

use Test::More;

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

$t->start_gateway(mock => { delay => 0.02 },
	server => "add_header x-operator kept always;\n", http => <<'EOF');
tokenroute_model test/leaky-oa provider=mockai upstream_model=gpt-leaky input_price=1 output_price=1;
tokenroute_model test/leaky-ant provider=mockant upstream_model=claude-leaky input_price=1 output_price=1;
tokenroute_model test/leaky-400-oa provider=mockai upstream_model=error-400-leaky input_price=1 output_price=1;
tokenroute_model test/leaky-400-ant provider=mockant upstream_model=error-400-leaky input_price=1 output_price=1;
tokenroute_model test/leaky-401 provider=mockai upstream_model=error-401-leaky input_price=1 output_price=1;
EOF

my $key = $t->create_key(name => 'edge-response');

# headers that must never reach the client, by name
my @GONE = qw(set-cookie openai-organization openai-project
	anthropic-organization-id x-ratelimit-limit-requests
	x-ratelimit-remaining-tokens anthropic-ratelimit-requests-remaining
	anthropic-ratelimit-tokens-reset cf-ray location last-modified etag
	expires link www-authenticate openai-processing-ms);

sub send_req {
	my (%a) = @_;

	my $openai = $a{shape} eq 'openai';
	my $body = {
		model => $a{model},
		max_tokens => 16,
		messages => [ { role => 'user', content => 'hi' } ],
	};
	$body->{stream} = \1 if $a{stream};

	my $m = $a{stream} ? 'http_stream' : 'http';

	return $t->$m(
		method => 'POST',
		path => $openai ? '/v1/chat/completions' : '/v1/messages',
		headers => $openai
			? { Authorization => "Bearer $key->{raw}" }
			: { 'x-api-key' => $key->{raw},
				'anthropic-version' => '2023-06-01' },
		body => $body,
		timeout => 10,
	);
}

sub head_block {
	my ($res) = @_;
	my ($head) = split /\r\n\r\n/, $res->{raw} // '', 2;
	return $head // '';
}

sub check_scrubbed {
	my ($name, $res, %want) = @_;

	my $h = $res->{headers};
	my $head = head_block($res);

	is($res->{status}, $want{status}, "$name: status")
		or diag(substr($res->{raw} // '', 0, 2000));

	for my $n (@GONE) {
		ok(!exists $h->{$n}, "$name: no $n")
			or diag("$n: $h->{$n}");
	}

	unlike($head, qr/LEAKED/, "$name: no provider account header value")
		or diag($head);
	unlike($h->{server} // '', qr/cloudflare/i, "$name: not the CDN's Server");

	my $rid = $h->{'x-tokenroute-request-id'} // '';
	like($rid, qr/^[0-9a-f]{24}$/, "$name: x-tokenroute-request-id");
	is($h->{'x-tokenroute-model'}, $want{model},
		"$name: one x-tokenroute-model, the gateway's");

	if ($want{shape} eq 'openai') {
		is($h->{'x-request-id'}, $rid, "$name: x-request-id is the gateway's");
		ok(!exists $h->{'request-id'}, "$name: no request-id");

	} else {
		is($h->{'request-id'}, $rid, "$name: request-id is the gateway's");
		ok(!exists $h->{'x-request-id'}, "$name: no x-request-id");
	}

	if ($want{retry}) {
		is($h->{'retry-after'}, '7', "$name: retry-after kept");
		is($h->{'retry-after-ms'}, '7000', "$name: retry-after-ms kept");
		is($h->{'x-should-retry'}, 'false', "$name: x-should-retry kept");
	}

	like($h->{'content-type'} // '', $want{type}, "$name: content-type");
	is($h->{'x-operator'}, 'kept', "$name: the operator's add_header kept");
}

###############################################################################

# passed through, translated, streamed (both ways) and provider errors

for my $case (
	[ 'openai pass-through', 'openai', 'test/leaky-oa', 0, 200, 1 ],
	[ 'anthropic pass-through', 'anthropic', 'test/leaky-ant', 0, 200, 1 ],
	[ 'openai translated', 'openai', 'test/leaky-ant', 0, 200, 1 ],
	[ 'anthropic translated', 'anthropic', 'test/leaky-oa', 0, 200, 1 ],
	[ 'openai stream', 'openai', 'test/leaky-oa', 1, 200, 1 ],
	[ 'anthropic stream', 'anthropic', 'test/leaky-ant', 1, 200, 1 ],
	[ 'openai stream translated', 'openai', 'test/leaky-ant', 1, 200, 1 ],
	[ 'anthropic stream translated', 'anthropic', 'test/leaky-oa', 1,
		200, 1 ],
	[ 'openai 400', 'openai', 'test/leaky-400-oa', 0, 400, 1 ],
	[ 'anthropic 400', 'anthropic', 'test/leaky-400-ant', 0, 400, 1 ],
	[ 'openai 400 translated', 'openai', 'test/leaky-400-ant', 0, 400, 1 ],
	[ 'anthropic 400 translated', 'anthropic', 'test/leaky-400-oa', 0,
		400, 1 ],
	# intercepted 401 of the gateway's own provider key: a 502 made by
	# the gateway, nothing of the provider's answer
	[ 'openai 401 chain exhausted', 'openai', 'test/leaky-401', 0, 502, 0 ],
	[ 'anthropic 401 chain exhausted', 'anthropic', 'test/leaky-401', 0,
		502, 0 ],
)
{
	my ($name, $shape, $model, $stream, $status, $retry) = @$case;

	my $res = send_req(shape => $shape, model => $model, stream => $stream);

	check_scrubbed($name, $res, status => $status, shape => $shape,
		model => $model, retry => $retry,
		type => $stream ? qr{^text/event-stream} : qr{^application/json});

	if ($stream) {
		like($res->{body}, $shape eq 'openai'
			? qr/data: \[DONE\]/ : qr/event: message_stop/,
			"$name: the stream is complete");

	} elsif ($status == 200) {
		my $text = $shape eq 'openai'
			? $res->{json}{choices}[0]{message}{content}
			: $res->{json}{content}[0]{text};
		is($text, 'Hello from mock', "$name: body");
	}
}

###############################################################################

# the normal mock answers carry their own x-request-id / request-id: the
# client gets the gateway's

for my $case ([ 'openai', 'openai/gpt-4o-mini' ],
	[ 'anthropic', 'anthropic/claude-haiku-4-5' ])
{
	my ($shape, $model) = @$case;

	my $res = send_req(shape => $shape, model => $model);
	my $h = $res->{headers};
	my $rid = $h->{'x-tokenroute-request-id'} // 'none';

	is($res->{status}, 200, "$shape plain: status");
	is($h->{$shape eq 'openai' ? 'x-request-id' : 'request-id'}, $rid,
		"$shape plain: the SDK's request id header is the gateway's");
	unlike(head_block($res), qr/req_[A-Za-z0-9]{24}/,
		"$shape plain: no provider request id");
}

###############################################################################

# the gateway's own errors carry its request id too

for my $shape (qw(openai anthropic)) {
	my $res = $t->http(method => 'POST',
		path => $shape eq 'openai' ? '/v1/chat/completions' : '/v1/messages',
		headers => { 'x-api-key' => 'sk-tr-' . ('n' x 43) },
		body => { model => 'openai/gpt-4o-mini', max_tokens => 8,
			messages => [ { role => 'user', content => 'hi' } ] });

	is($res->{status}, 401, "$shape unknown key: 401");
	like($res->{headers}{$shape eq 'openai' ? 'x-request-id' : 'request-id'}
		// '', qr/^[0-9a-f]{24}$/, "$shape unknown key: the request id");
}

done_testing();
