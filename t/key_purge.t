#!/usr/bin/perl

# (C) tokenroute authors

# The key purge (README "The key lifecycle", tokenroute_key_retention):
# the gateway deletes the keys revoked or expired more than the retention
# ago, on its own, in bounded batches; active keys and keys that have not
# ended long enough stay; usage records stay.  "off" disables it.  And
# "tokenroute keys purge --older-than".

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

$t->start_gateway(http => "tokenroute_key_retention 2s;\n");

sub chat {
	my ($raw) = @_;
	return $t->http(method => 'POST', path => '/v1/chat/completions',
		headers => { Authorization => "Bearer $raw" },
		body => { model => 'openai/gpt-4o-mini',
			messages => [ { role => 'user', content => 'hi' } ] });
}

sub cli_ok {
	my (@args) = @_;
	my ($rc, $out, $err) = $t->cli(@args);
	is($rc, 0, "@args: exit 0") or diag($err);
	return $out;
}

sub gone {
	my ($k) = @_;
	return !$t->redis('EXISTS', 'tr:key:' . $t->key_hash($k->{raw}),
			"tr:keyid:$k->{id}")
		&& !defined $t->redis('ZSCORE', 'tr:keys', $k->{id})
		&& !defined $t->redis('ZSCORE', 'tr:keys:ended', $k->{id})
		&& !defined $t->redis('HGET', 'tr:keypfx', $k->{prefix});
}

sub there {
	my ($k) = @_;
	return $t->redis('EXISTS', 'tr:key:' . $t->key_hash($k->{raw})) == 1
		&& defined $t->redis('ZSCORE', 'tr:keys', $k->{id});
}

###############################################################################

my $revoked = $t->create_key(name => 'revoked', account => 'p');
my $expired = $t->create_key(name => 'expired', account => 'p',
	expires => '1s');
my $active = $t->create_key(name => 'active', account => 'p');
my $later = $t->create_key(name => 'later', account => 'p', expires => '1h');

is(chat($revoked->{raw})->{status}, 200, 'a request: a usage record');
cli_ok('keys', 'revoke', $revoked->{id});

ok(defined $t->redis('ZSCORE', 'tr:keys:ended', $revoked->{id}),
	'the revoked key is in the index of ended keys');
is($t->redis('ZSCORE', 'tr:keys:ended', $later->{id}),
	$t->redis('HGET', 'tr:key:' . $t->key_hash($later->{raw}), 'expires_at'),
	'a key that will expire is there, by its expiry');
ok(!defined $t->redis('ZSCORE', 'tr:keys:ended', $active->{id}),
	'an active key without expiry is not');

ok($t->wait_until(10, sub { gone($revoked) && gone($expired) }),
	'the gateway purged the revoked and the expired key');
ok(there($active) && there($later), 'the others stay');

my $day = $t->redis('KEYS', 'tr:u:d:*');
my %u = map { %{ $t->redis_hash($_) } } @$day;
ok(grep({ /\Q$revoked->{id}\E/ } keys %u), 'its usage records stay');

like(join('', $t->error_log()), qr/purged \d+ keys revoked or expired/,
	'logged');

###############################################################################

# off: nothing is purged

$t->write_nginx_conf(($t->default_conf())[0]
	. "tokenroute_key_retention off;\n", ($t->default_conf())[1]);
$t->reload_nginx();

my $kept = $t->create_key(name => 'kept', account => 'p');
cli_ok('keys', 'revoke', $kept->{id});
sleep(4);
ok(there($kept), 'tokenroute_key_retention off: the revoked key stays');

###############################################################################

# the CLI: keys purge --older-than, in batches until none is left

my @many = map { $t->create_key(name => "many-$_", account => 'p') } 1 .. 3;
cli_ok('keys', 'revoke', $_->{id}) for @many;

my $j = eval { JSON::PP->new->decode(cli_ok(qw(keys purge --older-than 1h
	--json))) } // {};
is($j->{purged}, 0, 'keys purge --older-than 1h: none that old');

sleep(2.2);
$j = eval { JSON::PP->new->decode(cli_ok(qw(keys purge --older-than 1s
	--json))) } // {};
is($j->{purged}, 4, 'keys purge --older-than 1s: the 4 revoked');
is_deeply([ sort @{ $j->{ids} // [] } ],
	[ sort map { $_->{id} } $kept, @many ], 'their ids');
ok(!grep({ !gone($_) } $kept, @many), 'gone');
ok(there($active) && there($later), 'the others stay');
like(cli_ok(qw(keys purge)), qr/^purged 0 keys$/m, 'keys purge: table');

{
	my ($rc, $out, $err) = $t->cli(qw(keys purge --older-than forever));
	is($rc, 2, 'keys purge --older-than forever: exit 2');
	like($err, qr/--older-than/, 'names the option');
}

###############################################################################

done_testing();

###############################################################################
