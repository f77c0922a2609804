#!/usr/bin/perl

# (C) tokenroute authors

# Tests for key authentication and request validation: every rejection has
# its status and the error shape of the endpoint the client called, leaks no
# key, and never reaches the provider.

###############################################################################

use warnings;
use strict;

use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();
$t->start_gateway();

my $expired = $t->create_key(name => 'auth-expired', expires => '1s');
my $expired_at = time() + 1;

my $key = $t->create_key(name => 'auth-all');
my $restricted = $t->create_key(name => 'auth-restricted',
	models => [ 'anthropic/claude-sonnet-4-5' ]);
my $revoked = $t->create_key(name => 'auth-revoked');

my ($rc, $out, $err) = $t->cli('keys', 'revoke', $revoked->{id});
is($rc, 0, 'keys revoke') or diag($err);

my @secrets = (map { $_->{raw} } $key, $restricted, $revoked, $expired);
push @secrets, $TokenRoute::Test::OPENAI_KEY,
	$TokenRoute::Test::ANTHROPIC_KEY;

# a well-formed key that was never created
my @b64 = ('A' .. 'Z', 'a' .. 'z', 0 .. 9, '-', '_');
my $unknown = 'sk-tr-' . join '', map { $b64[rand @b64] } 1 .. 43;
push @secrets, $unknown;

my %api = (
	openai => {
		path => '/v1/chat/completions',
		model => 'openai/gpt-4o-mini',
		headers => {},
		body => sub {
			return { model => $_[0],
				messages => [ { role => 'user', content => 'hi' } ] };
		},
		type => {
			400 => 'invalid_request_error',
			401 => 'invalid_request_error',
			403 => 'invalid_request_error',
			404 => 'invalid_request_error',
			413 => 'invalid_request_error',
		},
	},
	anthropic => {
		path => '/v1/messages',
		model => 'anthropic/claude-haiku-4-5',
		headers => { 'anthropic-version' => '2023-06-01' },
		body => sub {
			return { model => $_[0], max_tokens => 16,
				messages => [ { role => 'user', content => 'hi' } ] };
		},
		type => {
			400 => 'invalid_request_error',
			401 => 'authentication_error',
			403 => 'permission_error',
			404 => 'not_found_error',
			413 => 'request_too_large',
		},
	},
);

###############################################################################

sleep($expired_at + 1.2 - time()) if time() < $expired_at + 1.2;

$t->clear_mock_requests();

for my $shape (qw(openai anthropic)) {
	my $a = $api{$shape};

	my $req = sub {
		my (%o) = @_;
		return $t->http(
			method => 'POST',
			path => $a->{path},
			headers => { %{ $a->{headers} }, %{ $o{headers} || {} } },
			body => exists $o{body} ? $o{body}
				: $a->{body}->($o{model} // $a->{model}),
			timeout => $o{timeout} // 10,
		);
	};

	my $bearer = sub { return { Authorization => "Bearer $_[0]" } };

	my $reject = sub {
		my ($name, $status, $res) = @_;
		$t->error_ok($res, $shape, name => "$shape: $name",
			status => $status, type => $a->{type}{$status},
			secrets => \@secrets);
	};

	$reject->('no key', 401, $req->());

	$reject->('Bearer without a token', 401,
		$req->(headers => { Authorization => 'Bearer' }));

	$reject->('Bearer abc', 401, $req->(headers => $bearer->('abc')));

	$reject->('Bearer sk-tr-short', 401,
		$req->(headers => $bearer->('sk-tr-short')));

	$reject->('x-api-key sk-tr-short', 401,
		$req->(headers => { 'x-api-key' => 'sk-tr-short' }));

	$reject->('key one character too long', 401,
		$req->(headers => $bearer->($key->{raw} . 'A')));

	$reject->('unknown well-formed key', 401,
		$req->(headers => $bearer->($unknown)));

	$reject->('unknown well-formed key in x-api-key', 401,
		$req->(headers => { 'x-api-key' => $unknown }));

	$reject->('revoked key', 401,
		$req->(headers => $bearer->($revoked->{raw})));

	$reject->('expired key', 401,
		$req->(headers => $bearer->($expired->{raw})));

	$reject->('model not allowed for the key', 403,
		$req->(headers => $bearer->($restricted->{raw})));

	$reject->('unknown model', 404,
		$req->(headers => $bearer->($key->{raw}),
			model => 'nosuch/model-1'));

	$reject->('malformed JSON', 400,
		$req->(headers => { %{ $bearer->($key->{raw}) },
			'Content-Type' => 'application/json' },
			body => '{"model": "' . $a->{model} . '", "messages": [}'));

	$reject->('JSON without model', 400,
		$req->(headers => $bearer->($key->{raw}),
			body => { messages => [ { role => 'user', content => 'x' } ],
				max_tokens => 16 }));

	$reject->('JSON that is not an object', 400,
		$req->(headers => { %{ $bearer->($key->{raw}) },
			'Content-Type' => 'application/json' },
			body => '["' . $a->{model} . '"]'));

	# 5 MB, over the 4m client_max_body_size of conf.d
	my $big = '{"model":"' . $a->{model} . '","max_tokens":16,'
		. '"messages":[{"role":"user","content":"'
		. ('x' x (5 * 1024 * 1024)) . '"}]}';

	$reject->('body over client_max_body_size', 413,
		$req->(headers => { %{ $bearer->($key->{raw}) },
			'Content-Type' => 'application/json' },
			body => $big, timeout => 20));
}

is(scalar($t->mock_requests()), 0, 'no rejected request reached the provider')
	or diag(explain([ map { "$_->{method} $_->{path}" }
		$t->mock_requests() ]));

###############################################################################

# accepted: either header on either endpoint

for my $shape (qw(openai anthropic)) {
	my $a = $api{$shape};

	for my $hdr ([ Authorization => "Bearer $key->{raw}" ],
		[ 'x-api-key' => $key->{raw} ])
	{
		$t->clear_mock_requests();

		my $res = $t->http(
			method => 'POST',
			path => $a->{path},
			headers => { %{ $a->{headers} }, $hdr->[0] => $hdr->[1] },
			body => $a->{body}->($a->{model}),
		);

		is($res->{status}, 200, "$shape: key in $hdr->[0] accepted")
			or diag(substr($res->{raw}, 0, 2000));
		is(scalar($t->mock_requests()), 1,
			"$shape: key in $hdr->[0]: request reached the provider");
		ok(index($res->{raw}, $key->{raw}) < 0,
			"$shape: key in $hdr->[0]: response does not echo the key");
	}
}

###############################################################################

# The worker keeps the hashes of recent keys, found by their last bytes: a
# key that differs from a good one (just used) only before those finds
# the good one's entry, and must not get its hash.

{
	my $chat = sub {
		return $t->http(method => 'POST', path => '/v1/chat/completions',
			headers => { Authorization => "Bearer $_[0]" },
			body => { model => 'openai/gpt-4o-mini',
				messages => [ { role => 'user', content => 'hi' } ] });
	};

	my $twin = $key->{raw};
	my $i = length($twin) - 5;
	substr($twin, $i, 1) = substr($twin, $i, 1) eq 'A' ? 'B' : 'A';

	for my $round (1 .. 2) {
		is($chat->($key->{raw})->{status}, 200, "good key ($round)");
		$t->error_ok($chat->($twin), 'openai', status => 401,
			type => 'invalid_request_error',
			name => "its twin, differing before the last bytes ($round)");
	}
}

###############################################################################

done_testing();

###############################################################################
