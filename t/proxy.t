#!/usr/bin/perl

# (C) tokenroute authors

# Tests for proxying to the providers: the provider key replaces the
# client's key, the model is rewritten to the upstream id and every other
# byte of the body is passed on, the response comes back unchanged;
# keep-alive on both sides; GET /v1/models.

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Test::More;

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();
$t->start_gateway();

my $key = $t->create_key(name => 'proxy-all');
my $two = $t->create_key(name => 'proxy-two',
	models => [ 'openai/gpt-4o-mini', 'anthropic/claude-haiku-4-5' ]);

my $OPENAI_KEY = $TokenRoute::Test::OPENAI_KEY;
my $ANTHROPIC_KEY = $TokenRoute::Test::ANTHROPIC_KEY;

# Bodies as a client could write them: the model is neither first nor
# last, nested objects and a message text contain "model" too, numbers and
# strings are in forms a JSON re-encoder would change, raw UTF-8 and
# escapes are mixed.

my $e = "\xc3\xa9";    # U+00E9 as raw UTF-8

my $openai_body = '{"messages": [{"role": "system", "content": "Be brief."}, '
	. '{"role": "user", "content": "caf\u00e9 r' . $e . 'sum' . $e . ' '
	. '\ud83d\ude00 \"model\": \"openai/gpt-4o-mini\" back\\\\slash \/"}], '
	. '"metadata": {"model": "openai/gpt-4o-mini", "tags": [1, 2.50, '
	. '{"k": null}]},'
	. "\n  " . '"model": "openai/gpt-4o-mini",'
	. "\t" . '"temperature":0.70 , "top_p": 1.0e0, "max_tokens": 100, '
	. '"seed": -0, "user": "u-1", "stream": false, "n": 1}';

my $anthropic_body = '{"system": "Be brief, \"model\": nobody.", '
	. '"metadata": {"user_id": "u-' . $e . '-1", "model": '
	. '"anthropic/claude-haiku-4-5"}, "model": "anthropic/claude-haiku-4-5", '
	. '"max_tokens": 1024, "temperature": 0.50, "messages": [{"role": '
	. '"user", "content": [{"type": "text", "text": "hi \u00e9"}]}], '
	. '"stop_sequences": ["\n\nHuman:"]}';

###############################################################################

sub check_forwarded_body {
	my ($name, $sent, $rec, $upstream_model) = @_;

	my @sent = TokenRoute::Test::json_members($sent);
	my @got = eval { TokenRoute::Test::json_members($rec->{body}) };

	ok(@got, "$name: forwarded body is a JSON object")
		or diag("forwarded body: $rec->{body}\n$@");

	my %got = map { $_->[0] => $_->[1] } @got;

	is(scalar(@got), scalar(@sent), "$name: same number of members");
	is($rec->{json}{model}, $upstream_model,
		"$name: model rewritten to the upstream id");

	for my $m (@sent) {
		next if $m->[0] eq 'model';
		is($got{ $m->[0] }, $m->[1], "$name: member $m->[0] byte-identical");
	}

	is($rec->{headers}{'content-length'}, length($rec->{body}),
		"$name: content-length matches the forwarded body");
}

sub check_no_client_key {
	my ($name, $rec, $raw) = @_;

	my @hits = grep { index($_->[1], $raw) >= 0 } @{ $rec->{header_list} };
	ok(!@hits, "$name: client key not in any forwarded header")
		or diag(explain(\@hits));
	ok(index($rec->{body}, $raw) < 0, "$name: client key not in the body");
	ok(index($rec->{path}, $raw) < 0, "$name: client key not in the path");
}

###############################################################################

# OpenAI type provider, the client key in either header

for my $auth ([ Authorization => "Bearer $key->{raw}" ],
	[ 'x-api-key' => $key->{raw} ])
{
	my $name = "openai ($auth->[0])";

	$t->clear_mock_requests();

	my $res = $t->http(
		method => 'POST',
		path => '/v1/chat/completions',
		headers => { $auth->[0] => $auth->[1],
			'Content-Type' => 'application/json' },
		body => $openai_body,
	);

	is($res->{status}, 200, "$name: status")
		or diag(substr($res->{raw}, 0, 2000));

	my @reqs = $t->mock_requests();
	is(scalar @reqs, 1, "$name: one request reached the provider");
	my $rec = $reqs[0] // { headers => {}, header_list => [], body => '',
		path => '', json => {} };

	is($rec->{method}, 'POST', "$name: method");
	is($rec->{path}, '/v1/chat/completions', "$name: path");
	is($rec->{headers}{authorization}, "Bearer $OPENAI_KEY",
		"$name: provider key in Authorization");
	ok(!exists $rec->{headers}{'x-api-key'}, "$name: no x-api-key");
	check_no_client_key($name, $rec, $key->{raw});
	check_forwarded_body($name, $openai_body, $rec, 'gpt-4o-mini-2024-07-18');

	is($res->{body}, $rec->{response}{body},
		"$name: response body passed through unchanged");
	like($res->{headers}{'content-type'} // '', qr{^application/json},
		"$name: content type");
	is($res->{headers}{'x-tokenroute-model'}, 'openai/gpt-4o-mini',
		"$name: x-tokenroute-model");
	is($res->{json}{choices}[0]{message}{content}, 'Hello from mock',
		"$name: completion text");
}

###############################################################################

# Anthropic type provider, the client key in either header; anthropic-version
# forwarded as sent, 2023-06-01 when absent

for my $case (
	[ 'x-api-key' => $key->{raw}, '2023-01-01' ],
	[ Authorization => "Bearer $key->{raw}", '2023-06-01' ],
	[ 'x-api-key' => $key->{raw}, undef ])
{
	my ($hname, $hvalue, $version) = @$case;
	my $name = "anthropic ($hname, version "
		. ($version // 'absent') . ")";

	$t->clear_mock_requests();

	my %headers = ($hname => $hvalue,
		'Content-Type' => 'application/json',
		'anthropic-beta' => 'prompt-caching-2024-07-31');
	$headers{'anthropic-version'} = $version if defined $version;

	my $res = $t->http(
		method => 'POST',
		path => '/v1/messages',
		headers => \%headers,
		body => $anthropic_body,
	);

	is($res->{status}, 200, "$name: status")
		or diag(substr($res->{raw}, 0, 2000));

	my @reqs = $t->mock_requests();
	is(scalar @reqs, 1, "$name: one request reached the provider");
	my $rec = $reqs[0] // { headers => {}, header_list => [], body => '',
		path => '', json => {} };

	is($rec->{path}, '/v1/messages', "$name: path");
	is($rec->{headers}{'x-api-key'}, $ANTHROPIC_KEY,
		"$name: provider key in x-api-key");
	ok(!exists $rec->{headers}{authorization}, "$name: no Authorization");
	is($rec->{headers}{'anthropic-version'}, $version // '2023-06-01',
		"$name: anthropic-version");
	is($rec->{headers}{'anthropic-beta'}, 'prompt-caching-2024-07-31',
		"$name: anthropic-beta forwarded");
	check_no_client_key($name, $rec, $key->{raw});
	check_forwarded_body($name, $anthropic_body, $rec,
		'claude-haiku-4-5-20251001');

	is($res->{body}, $rec->{response}{body},
		"$name: response body passed through unchanged");
	is($res->{headers}{'x-tokenroute-model'}, 'anthropic/claude-haiku-4-5',
		"$name: x-tokenroute-model");
	is($res->{json}{content}[0]{text}, 'Hello from mock',
		"$name: message text");
}

# the other Anthropic model maps to its own upstream id

$t->clear_mock_requests();

my $res = $t->http(method => 'POST', path => '/v1/messages',
	headers => { 'x-api-key' => $key->{raw} },
	body => { model => 'anthropic/claude-sonnet-4-5', max_tokens => 8,
		messages => [ { role => 'user', content => 'hi' } ] });

is($res->{status}, 200, 'sonnet: status');
is(($t->mock_requests())[0]{json}{model}, 'claude-sonnet-4-5',
	'sonnet: upstream model');
is($res->{headers}{'x-tokenroute-model'}, 'anthropic/claude-sonnet-4-5',
	'sonnet: x-tokenroute-model');

# the gateway's own overhead, and the Redis wait in it, in milliseconds
{
	my $ovh = $res->{headers}{'x-tokenroute-overhead-ms'} // '';
	like($ovh, qr/^\d+\.\d{3};redis=\d+\.\d{3}$/,
		"x-tokenroute-overhead-ms: $ovh");
	my ($all, $redis) = $ovh =~ /^([\d.]+);redis=([\d.]+)$/;
	ok(defined $redis && $redis > 0 && $redis <= $all && $all < 1000,
		'x-tokenroute-overhead-ms: a Redis wait within the overhead');
	like($res->{headers}{'x-tokenroute-attempts'} // '', qr/^1$/,
		'x-tokenroute-attempts: 1');
	like($res->{headers}{'x-tokenroute-request-id'} // '',
		qr/^[0-9a-f]{24}$/, 'x-tokenroute-request-id: 24 hex digits');
}

###############################################################################

# sequential requests, alternating providers (upstream keep-alive)

$t->clear_mock_requests();

my @ok;
for my $i (1 .. 6) {
	my $r = $i % 2
		? $t->http(method => 'POST', path => '/v1/chat/completions',
			headers => { Authorization => "Bearer $key->{raw}" },
			body => { model => 'openai/gpt-4o-mini',
				messages => [ { role => 'user', content => "n$i" } ] })
		: $t->http(method => 'POST', path => '/v1/messages',
			headers => { 'x-api-key' => $key->{raw} },
			body => { model => 'anthropic/claude-haiku-4-5',
				max_tokens => 8,
				messages => [ { role => 'user', content => "n$i" } ] });
	push @ok, $r->{status};
}

is_deeply(\@ok, [ (200) x 6 ], 'six sequential requests');
is(scalar($t->mock_requests()), 6, 'six requests reached the provider');

my %conns = map { $_->{conn} => 1 } $t->mock_requests();
note('upstream connections used for 6 requests: ' . scalar(keys %conns));

# several requests on one client connection, a rejected one in between
# whose body must not be taken for the next request

my $chat = sub {
	my ($raw, $content) = @_;
	return {
		method => 'POST',
		path => '/v1/chat/completions',
		headers => { Authorization => "Bearer $raw" },
		body => { model => 'openai/gpt-4o-mini',
			messages => [ { role => 'user', content => $content } ] },
	};
};

$t->clear_mock_requests();

my @ka = $t->http_keepalive(
	$chat->($key->{raw}, 'one'),
	$chat->('sk-tr-bogus', 'rejected'),
	$chat->($key->{raw}, 'two'),
	{ method => 'GET', path => '/v1/models',
		headers => { Authorization => "Bearer $key->{raw}" } },
	$chat->($key->{raw}, 'three'),
);

is_deeply([ map { $_->{status} } @ka ], [ 200, 401, 200, 200, 200 ],
	'client keep-alive: five requests on one connection')
	or diag(explain([ map { $_->{error} // $_->{status} } @ka ]));
is_deeply([ map { $_->{json}{messages}[0]{content} } $t->mock_requests() ],
	[ 'one', 'two', 'three' ], 'client keep-alive: provider saw the three');

###############################################################################

# GET /v1/models

sub check_models {
	my ($name, $raw, $expect) = @_;

	my $r = $t->http(method => 'GET', path => '/v1/models',
		headers => { Authorization => "Bearer $raw" });

	is($r->{status}, 200, "$name: status") or diag($r->{raw});
	like($r->{headers}{'content-type'} // '', qr{^application/json},
		"$name: content type");

	my $j = $r->{json} // {};
	is($j->{object}, 'list', "$name: object is list");
	is(ref $j->{data}, 'ARRAY', "$name: data is an array");

	my @data = ref $j->{data} eq 'ARRAY' ? @{ $j->{data} } : ();
	is_deeply([ sort map { $_->{id} } @data ], [ sort @$expect ],
		"$name: models listed");

	my @bad = grep {
		($_->{object} // '') ne 'model'
		|| !defined $_->{created} || $_->{created} !~ /^\d+$/
		|| !defined $_->{owned_by} || ref $_->{owned_by}
		|| !length $_->{owned_by}
		|| join(',', sort keys %$_) ne 'created,id,object,owned_by'
	} @data;

	ok(!@bad, "$name: entries are {id, object:model, created, owned_by}")
		or diag(explain(\@bad));
}

$t->clear_mock_requests();

check_models('models, restricted key', $two->{raw},
	[ 'openai/gpt-4o-mini', 'anthropic/claude-haiku-4-5' ]);
check_models('models, unrestricted key', $key->{raw},
	[ 'openai/gpt-4o-mini', 'anthropic/claude-haiku-4-5',
		'anthropic/claude-sonnet-4-5' ]);

$t->error_ok($t->http(method => 'GET', path => '/v1/models'), 'openai',
	name => 'models without a key', status => 401,
	type => 'invalid_request_error');

is(scalar($t->mock_requests()), 0, 'models: answered by the gateway');

###############################################################################

done_testing();

###############################################################################
