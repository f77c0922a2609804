#!/usr/bin/perl

# (C) tokenroute authors

# The admission and settlement Lua scripts, run directly on a real Redis
# with batches built by hand: what the gateway sends when many requests
# ask or end in the same turn of its event loop, made deterministic.  The
# scripts are read from the module's sources, so this tests the very text
# nginx loads.

###############################################################################

use warnings;
use strict;

use Test::More;

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new(needs => [ 'redis' ]);
$t->start_redis();

# the C string literal assigned to $name in src/$file, as Lua source
sub lua_of {
	my ($file, $name) = @_;

	my $c = TokenRoute::Test::_slurp($t->repo . "/src/$file")
		// die "cannot read src/$file\n";
	$c =~ /\Q$name\E = ngx_string\(\n(.*?)\);\n/s
		or die "no $name in src/$file\n";

	my ($body, $lua) = ($1, '');
	while ($body =~ /"((?:[^"\\]|\\.)*)"/g) {
		my $s = $1;
		$s =~ s/\\(["\\n])/$1 eq 'n' ? "\n" : $1/ge;
		$lua .= $s;
	}
	return $lua;
}

my $admit = $t->redis('SCRIPT', 'LOAD',
	lua_of('ngx_http_tokenroute_admit.c', 'ngx_http_tokenroute_admit_lua'));
my $settle = $t->redis('SCRIPT', 'LOAD',
	lua_of('ngx_http_tokenroute_settle.c', 'ngx_http_tokenroute_settle_lua'));
my $sweep = $t->redis('SCRIPT', 'LOAD',
	lua_of('ngx_http_tokenroute_settle.c', 'ngx_http_tokenroute_sweep_lua'));

my $NOW = 1_800_000_000;
my $DEADLINE = $NOW + 900;

sub key {
	my ($hash, %f) = @_;
	$t->redis('HSET', "tr:key:$hash", id => "key_$hash",
		account => 'acme', %f);
}

# admit([hash, model, rid, amount], ...): the replies, split in fields
sub admit {
	my $r = $t->redis('EVALSHA', $admit, 0, $NOW, $DEADLINE,
		map { @$_ } @_);
	return map { [ split /\n/, $_, -1 ] } @$r;
}

###############################################################################

# credit for exactly 2 reservations of 100: a batch of 5 admits 2

$t->redis('HSET', 'tr:acct:acme', credit => 250);
key('k1');
key('k2', limit => 1000);

my @r = admit(map { [ 'k1', 'm/a', "r$_", 100 ] } 1 .. 5);

is_deeply([ map { $_->[0] } @r ], [ qw(ok ok credit credit credit) ],
	'credit for 2: the first 2 of a batch of 5 are admitted');
is_deeply($r[0], [ 'ok', 'key_k1', 'acme', '0', '' ], 'ok: its fields');
is_deeply($r[2], [ 'credit', 'key_k1', 'acme', '50' ],
	'credit: what was left after the batch\'s own reservations');
is($t->redis('HGET', 'tr:acct:acme', 'reserved'), 200,
	'account reserved: the sum, written once');
is($t->redis('HGET', 'tr:key:k1', 'reserved'), 200, 'key reserved: the sum');
is($t->redis('ZCARD', 'tr:rsv'), 2, 'two reservations by deadline');
is($t->redis('HLEN', 'tr:rsvd'), 2, 'two reservation records');
is($t->redis('HGET', 'tr:rsvd', 'r2'), 'k1 100 acme',
	'reservation record: key hash, amount, account');
is($t->redis('ZSCORE', 'tr:rsv', 'r2'), $DEADLINE, 'its deadline');

# a key limit, counted across the batch; and keys of one account share it

$t->redis('HSET', 'tr:acct:acme', credit => 10_000, reserved => 0);
$t->redis('HSET', 'tr:key:k1', reserved => 0);
$t->redis('DEL', 'tr:rsv', 'tr:rsvd');

@r = admit([ 'k2', 'm/a', 'a1', 400 ], [ 'k1', 'm/a', 'a2', 8000 ],
	[ 'k2', 'm/a', 'a3', 400 ], [ 'k2', 'm/a', 'a4', 400 ],
	[ 'k1', 'm/a', 'a5', 1500 ]);

is_deeply([ map { $_->[0] } @r ], [ qw(ok ok ok limit credit) ],
	'a limit of 1000: 2 of 400 fit, the third not; the account runs out');
is($r[3][3], 200, 'limit: what the key had left');
is($r[4][3], 1200, 'credit: what the account had left');
is($t->redis('HGET', 'tr:key:k2', 'reserved'), 800, 'k2 reserved 800');
is($t->redis('HGET', 'tr:key:k1', 'reserved'), 8000, 'k1 reserved 8000');
is($t->redis('HGET', 'tr:acct:acme', 'reserved'), 8800,
	'account reserved 8800');

# unknown, revoked, expired, forbidden keys in the same batch

key('rv', revoked => 1);
key('ex', expires_at => $NOW - 1);
key('fb', models => 'm/a,m/b');

@r = admit([ 'nope', 'm/a', 'b1', 1 ], [ 'rv', 'm/a', 'b2', 1 ],
	[ 'ex', 'm/a', 'b3', 1 ], [ 'fb', 'm/c', 'b4', 1 ],
	[ 'fb', 'm/b', 'b5', 1 ], [ 'k1', 'm/a', 'b6', 0 ]);

is_deeply(\@r, [ [ 'unknown' ], [ 'revoked', 'key_rv', 'acme' ],
	[ 'expired', 'key_ex', 'acme' ], [ 'forbidden', 'key_fb', 'acme' ],
	[ 'ok', 'key_fb', 'acme', '0', 'm/a,m/b' ],
	[ 'ok', 'key_k1', 'acme', '0', '' ] ],
	'each request its own answer, in order');
is($t->redis('HGET', 'tr:rsvd', 'b6'), 'k1 0 acme',
	'a free request: amount 0');

###############################################################################

# settlement: groups of the same account, key, model and hour (7 fields),
# each followed by its settlements (8 fields each), as the gateway sends

sub settlement {
	my ($rid, $key, %v) = @_;
	return { group => [ 'acme', $key, "key_$key", $v{model} // 'm/a',
			'20270115', '2027011509' ],
		fields => [ $rid, $v{cost} // 0, $v{in} // 0, $v{out} // 0,
			$v{cached} // 0, $v{est} // 0, $v{unbilled} // 0,
			$v{clamped} // 0 ] };
}

sub settle {
	my (@order, %groups);
	for my $s (@_) {
		my $g = join "\n", @{ $s->{group} };
		push @order, $g unless $groups{$g};
		push @{ $groups{$g} }, $s;
	}
	return $t->redis('EVALSHA', $settle, 0, map {
		my @in = @{ $groups{$_} };
		(@{ $in[0]{group} }, scalar @in, map { @{ $_->{fields} } } @in)
	} @order);
}

my $acct0 = $t->redis('HGET', 'tr:acct:acme', 'credit');

is(settle(settlement('a1', 'k2', cost => 30, in => 10, out => 2),
	settlement('a3', 'k2', cost => 50, in => 20, out => 4, est => 1,
		unbilled => 11, clamped => 1),
	settlement('a1', 'k2', cost => 30, in => 10, out => 2),
	settlement('zz', 'k2', cost => 99, in => 1, out => 1, unbilled => 5,
		clamped => 1),
	settlement('a2', 'k1', cost => 7, in => 3, out => 1, cached => 2,
		model => 'm/b')), 3,
	'3 charged: a duplicate in the batch and an unknown request are not');

my %k2 = @{ $t->redis('HGETALL', 'tr:key:k2') };
is($k2{reserved}, 0, 'k2: both reservations released');
is($k2{spent}, 80, 'k2: spent 30 + 50');
is($t->redis('HGET', 'tr:key:k1', 'reserved'), 0,
	'k1: its reservation released');
is($t->redis('HGET', 'tr:acct:acme', 'credit'), $acct0 - 87,
	'account charged 87');
is($t->redis('HGET', 'tr:acct:acme', 'reserved'), 1,
	'account: what b5 and b6 reserved (1 and 0) is left');

my %d = @{ $t->redis('HGETALL', 'tr:u:d:20270115') };
is_deeply(\%d, {
	'acme|key_k2|m/a|req' => 2, 'acme|key_k2|m/a|in' => 30,
	'acme|key_k2|m/a|out' => 6, 'acme|key_k2|m/a|cost' => 80,
	'acme|key_k2|m/a|est' => 1, 'acme|key_k2|m/a|unbilled' => 11,
	'acme|key_k2|m/a|clamped' => 1,
	'acme|key_k1|m/b|req' => 1, 'acme|key_k1|m/b|in' => 3,
	'acme|key_k1|m/b|out' => 1, 'acme|key_k1|m/b|cost' => 7,
	'acme|key_k1|m/b|cached' => 2,
}, 'day bucket: summed per key and model, no zero fields');
is_deeply({ @{ $t->redis('HGETALL', 'tr:u:h:2027011509') } }, \%d,
	'hour bucket: the same');
cmp_ok($t->redis('TTL', 'tr:u:d:20270115'), '>', 399 * 86400,
	'day bucket kept 400 days');
cmp_ok($t->redis('TTL', 'tr:u:h:2027011509'), '>', 7 * 86400,
	'hour bucket kept 8 days');
ok(!$t->redis('HEXISTS', 'tr:rsvd', 'a1')
	&& !$t->redis('HEXISTS', 'tr:rsvd', 'a3'), 'reservation records deleted');
ok(!defined $t->redis('ZSCORE', 'tr:rsv', 'a3'), 'and out of tr:rsv');

is(settle(settlement('a1', 'k2', cost => 30, in => 10, out => 2)), 0,
	'a replay charges nothing');
is($t->redis('HGET', 'tr:key:k2', 'spent'), 80, 'k2 still spent 80');

# amounts past Lua's default number formatting (1e14 and more)

$t->redis('HSET', 'tr:acct:big', credit => '9000000000000000');
$t->redis('HSET', 'tr:key:kb', id => 'key_kb', account => 'big');
@r = admit([ 'kb', 'm/a', 'g1', '4000000000000001' ],
	[ 'kb', 'm/a', 'g2', '4000000000000001' ]);
is_deeply([ map { $_->[0] } @r ], [ qw(ok ok) ], 'large reservations');
is($t->redis('HGET', 'tr:acct:big', 'reserved'), '8000000000000002',
	'written as exact integers');

###############################################################################

# the sweep: an expired reservation is released and leaves a marker; the
# late settlement still charges, once

$t->redis('ZADD', 'tr:rsv', $NOW - 5, 'b5');
is($t->redis('EVALSHA', $sweep, 0, $NOW), 1, 'sweep: one expired');
is($t->redis('HEXISTS', 'tr:rsvd', 'b5'), 0, 'its record gone');
is($t->redis('EXISTS', 'tr:swept:b5'), 1, 'a swept marker');
is($t->redis('HGET', 'tr:key:fb', 'reserved'), 0, 'its key released');

my $c0 = $t->redis('HGET', 'tr:acct:acme', 'credit');
is(settle(settlement('b5', 'fb', cost => 5), settlement('b5', 'fb', cost => 5)), 1,
	'the late settlement charges once');
is($t->redis('HGET', 'tr:acct:acme', 'credit'), $c0 - 5, 'charged 5');
is($t->redis('HGET', 'tr:key:fb', 'reserved'), 0,
	'nothing released twice');
is($t->redis('EXISTS', 'tr:swept:b5'), 0, 'the marker is gone');

###############################################################################

done_testing();

###############################################################################
