#!/usr/bin/perl

# (C) tokenroute authors

# Tests for key revocation: "tokenroute keys revoke" takes effect on the
# very next request, without reloading nginx, and only for that key.

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
$t->start_gateway();

my $victim = $t->create_key(name => 'revoke-victim');
my $other = $t->create_key(name => 'revoke-other');

sub chat {
	my ($raw) = @_;
	return $t->http(method => 'POST', path => '/v1/chat/completions',
		headers => { Authorization => "Bearer $raw" },
		body => { model => 'openai/gpt-4o-mini',
			messages => [ { role => 'user', content => 'hi' } ] });
}

sub messages {
	my ($raw) = @_;
	return $t->http(method => 'POST', path => '/v1/messages',
		headers => { 'x-api-key' => $raw,
			'anthropic-version' => '2023-06-01' },
		body => { model => 'anthropic/claude-haiku-4-5', max_tokens => 8,
			messages => [ { role => 'user', content => 'hi' } ] });
}

###############################################################################

is(chat($victim->{raw})->{status}, 200, 'openai: key works');
is(messages($victim->{raw})->{status}, 200, 'anthropic: key works');

my $master = $t->nginx_pid();
my @workers = $t->workers();

my ($rc, $out, $err) = $t->cli('keys', 'revoke', $victim->{id});
is($rc, 0, 'keys revoke') or diag($err);

my $hash = 'tr:key:' . $t->key_hash($victim->{raw});
is($t->redis('HGET', $hash, 'revoked'), '1', 'revoked in Redis');

my @secrets = ($victim->{raw}, $other->{raw},
	$TokenRoute::Test::OPENAI_KEY, $TokenRoute::Test::ANTHROPIC_KEY);

$t->clear_mock_requests();

$t->error_ok(chat($victim->{raw}), 'openai', name => 'openai: revoked',
	status => 401, type => 'invalid_request_error', secrets => \@secrets);
$t->error_ok(messages($victim->{raw}), 'anthropic',
	name => 'anthropic: revoked', status => 401,
	type => 'authentication_error', secrets => \@secrets);

is(scalar($t->mock_requests()), 0, 'revoked key did not reach the provider');

is(chat($other->{raw})->{status}, 200, 'openai: other key still works');
is(messages($other->{raw})->{status}, 200, 'anthropic: other key still works');

is($t->nginx_pid(), $master, 'same nginx master');
is_deeply([ $t->workers() ], \@workers, 'same worker, no reload');

###############################################################################

done_testing();

###############################################################################
