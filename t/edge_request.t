#!/usr/bin/perl

# (C) tokenroute authors

# Tests for what reaches the provider: only the headers the gateway sets
# (Host, Content-Type, Content-Length, the provider's own credential,
# anthropic-version and, to Anthropic-type providers, the client's
# anthropic-beta); never a client header carrying its key, cookies or
# anything else.  A request whose key is ambiguous (two x-api-key, or an
# Authorization and an x-api-key with different keys) or whose forwarded
# header carries a tokenroute key is a JSON 400 that reaches no provider.

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
$t->start_gateway(mock => { delay => 0.02 });

my $key = $t->create_key(name => 'edge-request');
my $other = $t->create_key(name => 'edge-request-other');
my $raw = $key->{raw};

my $OPENAI_KEY = $TokenRoute::Test::OPENAI_KEY;
my $ANTHROPIC_KEY = $TokenRoute::Test::ANTHROPIC_KEY;

# everything a client may send besides its key
my @noise = (
	'Proxy-Authorization' => "Bearer $raw",
	'X-API-Key' => $raw,
	'api-key' => $raw,
	'x-goog-api-key' => $raw,
	'X-Custom' => $raw,
	'Cookie' => "session=$raw; other=1",
	'OpenAI-Organization' => 'org-client',
	'OpenAI-Project' => 'proj_client',
	'OpenAI-Beta' => 'assistants=v2',
	'User-Agent' => 'OpenAI/Python 1.50.0',
	'X-Stainless-Lang' => 'python',
	'X-Forwarded-For' => '10.1.2.3',
	'Accept-Encoding' => 'gzip, br',
	'anthropic-beta' => 'prompt-caching-2024-07-31',
	'anthropic-version' => '2023-06-01',
);

my %allowed = map { $_ => 1 } qw(host content-type content-length);

sub check_forwarded {
	my ($name, $rec, %want) = @_;

	my %names = map { lc $_->[0] => 1 } @{ $rec->{header_list} };
	my @extra = grep { !$allowed{$_} && !$want{extra}{$_} } sort keys %names;

	ok(!@extra, "$name: only the gateway's headers reached the provider")
		or diag("extra: @extra");

	my @hits = grep { index($_->[1], $raw) >= 0
		|| $_->[1] =~ /sk-tr-/i } @{ $rec->{header_list} };
	ok(!@hits, "$name: no header value holds a tokenroute key")
		or diag(explain(\@hits));

	is($rec->{headers}{'content-length'}, length($rec->{body}),
		"$name: content-length of the forwarded body");

	for my $h (sort keys %{ $want{extra} }) {
		is($rec->{headers}{$h}, $want{extra}{$h}, "$name: $h");
	}
}

###############################################################################

# both provider types, streamed or not, the key in either header

for my $case (
	[ 'openai', '/v1/chat/completions', 'openai/gpt-4o-mini',
		{ authorization => "Bearer $OPENAI_KEY" } ],
	[ 'anthropic', '/v1/messages', 'anthropic/claude-haiku-4-5',
		{ 'x-api-key' => $ANTHROPIC_KEY,
			'anthropic-version' => '2023-06-01',
			'anthropic-beta' => 'prompt-caching-2024-07-31' } ],
	[ 'openai client to anthropic', '/v1/chat/completions',
		'anthropic/claude-haiku-4-5',
		{ 'x-api-key' => $ANTHROPIC_KEY,
			'anthropic-version' => '2023-06-01',
			'anthropic-beta' => 'prompt-caching-2024-07-31' } ],
	[ 'anthropic client to openai', '/v1/messages', 'openai/gpt-4o-mini',
		{ authorization => "Bearer $OPENAI_KEY" } ],
)
{
	my ($what, $path, $model, $extra) = @$case;

	for my $stream (0, 1) {
		my $name = "$what" . ($stream ? ' stream' : '');

		$t->clear_mock_requests();

		my $m = $stream ? 'http_stream' : 'http';
		my $res = $t->$m(method => 'POST', path => $path,
			headers => [ Authorization => "Bearer $raw", @noise ],
			body => { model => $model, max_tokens => 16,
				stream => $stream ? \1 : \0,
				messages => [ { role => 'user', content => 'hi' } ] },
			timeout => 10);

		is($res->{status}, 200, "$name: status")
			or diag(substr($res->{raw} // '', 0, 1000));

		my @reqs = $t->mock_requests();
		is(scalar @reqs, 1, "$name: one request reached the provider");

		check_forwarded($name, $reqs[0] // { header_list => [],
			headers => {}, body => '' }, extra => $extra);
	}
}

# several anthropic-beta headers reach Anthropic as one list

{
	$t->clear_mock_requests();

	my $res = $t->http(method => 'POST', path => '/v1/messages',
		headers => [ 'x-api-key' => $raw, 'anthropic-beta' => 'beta-a',
			'Anthropic-Beta' => 'beta-b,beta-c' ],
		body => { model => 'anthropic/claude-haiku-4-5', max_tokens => 8,
			messages => [ { role => 'user', content => 'hi' } ] });

	is($res->{status}, 200, 'two anthropic-beta: 200');

	my ($rec) = $t->mock_requests();
	my @beta = grep { lc $_->[0] eq 'anthropic-beta' }
		@{ $rec->{header_list} || [] };
	is_deeply([ map { $_->[1] } @beta ], [ 'beta-a,beta-b,beta-c' ],
		'two anthropic-beta: one header, the values joined');
}

###############################################################################

# a key in a forwarded client header: 400 before any provider

sub rejected {
	my ($name, $path, $model, $headers, $ours) = @_;

	$t->clear_mock_requests();

	my $res = $t->http(method => 'POST', path => $path, headers => $headers,
		body => { model => $model, max_tokens => 16,
			messages => [ { role => 'user', content => 'hi' } ] });

	my $shape = $path =~ /messages/ ? 'anthropic' : 'openai';

	if ($ours) {
		$t->error_ok($res, $shape, status => 400,
			type => 'invalid_request_error',
			secrets => [ $raw, $other->{raw} ], name => "$name: JSON 400");

		if ($shape eq 'openai') {
			is($res->{json}{error}{code}, 'invalid_request', "$name: code");
		}

	} else {
		is($res->{status}, 400, "$name: status");
	}

	ok(index($res->{raw} // '', $raw) < 0
		&& index($res->{raw} // '', $other->{raw}) < 0,
		"$name: no key in the answer");

	is(scalar(my @r = $t->mock_requests()), 0,
		"$name: nothing reached the provider");

	return $res;
}

rejected('anthropic-beta with the key', '/v1/messages',
	'anthropic/claude-haiku-4-5',
	[ 'x-api-key' => $raw, 'anthropic-beta' => "tools-2024,$raw" ], 1);

rejected('anthropic-beta with another key, OpenAI shape',
	'/v1/chat/completions', 'anthropic/claude-haiku-4-5',
	[ Authorization => "Bearer $raw",
		'anthropic-beta' => 'SK-TR-' . ('x' x 40) ], 1);

rejected('anthropic-version with the key', '/v1/messages',
	'anthropic/claude-haiku-4-5',
	[ 'x-api-key' => $raw, 'anthropic-version' => $raw ], 1);

###############################################################################

# ambiguous keys

rejected('two x-api-key, same key', '/v1/messages',
	'anthropic/claude-haiku-4-5',
	[ 'x-api-key' => $raw, 'x-api-key' => $raw ], 1);

rejected('two x-api-key, different keys', '/v1/chat/completions',
	'openai/gpt-4o-mini',
	[ 'x-api-key' => $raw, 'X-Api-Key' => $other->{raw} ], 1);

rejected('Authorization and x-api-key differ', '/v1/chat/completions',
	'openai/gpt-4o-mini',
	[ Authorization => "Bearer $raw", 'x-api-key' => $other->{raw} ], 1);

rejected('Authorization and x-api-key differ, Anthropic shape',
	'/v1/messages', 'anthropic/claude-haiku-4-5',
	[ 'x-api-key' => $other->{raw}, Authorization => "Bearer $raw" ], 1);

# nginx itself refuses a second Authorization

rejected('two Authorization', '/v1/chat/completions', 'openai/gpt-4o-mini',
	[ Authorization => "Bearer $raw", Authorization => "Bearer $raw" ],
	0);

# the same key in both headers is one key

{
	$t->clear_mock_requests();

	my $res = $t->http(method => 'POST', path => '/v1/chat/completions',
		headers => [ Authorization => "Bearer $raw", 'x-api-key' => $raw ],
		body => { model => 'openai/gpt-4o-mini',
			messages => [ { role => 'user', content => 'hi' } ] });

	is($res->{status}, 200, 'same key in both headers: 200');
	is(scalar(my @r = $t->mock_requests()), 1,
		'same key in both headers: proxied');
}

done_testing();
