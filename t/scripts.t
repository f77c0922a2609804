#!/usr/bin/perl

# (C) tokenroute authors

# The admission and settlement Lua scripts, run directly on a real Redis
# with batches built by hand: what the gateway sends when many requests
# ask or end in the same turn of its event loop, made deterministic.  The
# scripts are read from src/lua/, the files nginx and the CLI embed byte
# for byte (src/lua/embed.sh), so this tests the very text they load.
# Also: every script is valid Lua 5.1 (Redis's), runs as it is with
# redis-cli --eval, and no C file holds Lua any more.

###############################################################################

use warnings;
use strict;

use Test::More;
use Digest::SHA qw(sha1_hex);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new(needs => [qw(redis cli)]);
$t->start_redis();

# the text of src/lua/$name.lua
sub lua_of {
	my ($name) = @_;

	return TokenRoute::Test::_slurp($t->repo . "/src/lua/$name.lua")
		// die "cannot read src/lua/$name.lua\n";
}

my $admit = $t->redis('SCRIPT', 'LOAD', $t->script_text('admission'));
my $settle = $t->redis('SCRIPT', 'LOAD', lua_of('settle'));
my $sweep = $t->redis('SCRIPT', 'LOAD', lua_of('sweep'));

my $NOW = 1_800_000_000;
my $DEADLINE = $NOW + 900;

sub key {
	my ($hash, %f) = @_;
	$t->redis('HSET', "tr:key:$hash", id => "key_$hash",
		account => 'acme', %f);
}

# admit([hash, model, rid, amount, tokens], ...): the replies, split in
# fields; tokens are 10 unless given ("-" with an amount "-")
sub admit_at {
	my ($now, @req) = @_;
	my $r = $t->redis('EVALSHA', $admit, 0, $now, $now + 900,
		map { (@$_[0 .. 3], $_->[4] // ($_->[3] eq '-' ? '-' : 10)) }
		@req);
	return map { [ split /\n/, $_, -1 ] } @$r;
}

sub admit { admit_at($NOW, @_) }

# the calendar minute of $NOW, which is a minute's first second
my $MIN = $NOW / 60;

###############################################################################

# credit for exactly 2 reservations of 100: a batch of 5 admits 2

$t->redis('HSET', 'tr:acct:acme', credit => 250);
key('k1');
key('k2', limit => 1000);

my @r = admit(map { [ 'k1', 'm/a', "r$_", 100 ] } 1 .. 5);

is_deeply([ map { $_->[0] } @r ], [ qw(ok ok credit credit credit) ],
	'credit for 2: the first 2 of a batch of 5 are admitted');
is_deeply($r[0], [ 'ok', 'key_k1', 'acme', '0', '1' ],
	'ok: its fields (the last: the key may use the model)');
is_deeply($r[2], [ 'credit', 'key_k1', 'acme', '50' ],
	'credit: what was left after the batch\'s own reservations');
is($t->redis('HGET', 'tr:acct:acme', 'reserved'), 200,
	'account reserved: the sum, written once');
is($t->redis('HGET', 'tr:key:k1', 'reserved'), 200, 'key reserved: the sum');
is($t->redis('ZCARD', 'tr:rsv'), 2, 'two reservations by deadline');
is($t->redis('HLEN', 'tr:rsvd'), 2, 'two reservation records');
is($t->redis('HGET', 'tr:rsvd', 'r2'), "k1 100 acme - - - 10 $MIN",
	'reservation record: key hash, amount, account, no tenant nor '
	. 'periods, tokens, minute');
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
	[ 'ok', 'key_fb', 'acme', '0', '1' ],
	[ 'ok', 'key_k1', 'acme', '0', '1' ] ],
	'each request its own answer, in order');
is($t->redis('HGET', 'tr:rsvd', 'b6'), "k1 0 acme - - - 10 $MIN",
	'a free request: amount 0');

# the key rules are the script's alone: the gateway asks about the
# fallbacks (or the catalog) too, and a request that reserves nothing
# (amount "-") has only its key checked

sub ckey {
	my ($hash, %f) = @_;
	$t->redis('HSET', "tr:key:$hash", id => "key_$hash", account => 'ck',
		%f);
}

$t->redis('HSET', 'tr:acct:ck', credit => 100);
ckey('cfb', models => 'm/a,m/b');
ckey('ck1');
ckey('xx', expires_at => 'soon');
ckey('ey', expires_at => '');
ckey('fut', expires_at => $NOW + 1);

@r = admit([ 'cfb', 'm/b m/c m/a', 'c1', 5 ], [ 'cfb', 'm/c m/a', 'c2', 5 ],
	[ 'ck1', 'm/a m/b m/c', 'c3', 5 ],
	[ 'cfb', 'm/a m/b m/c m/d', 'c4', '-' ], [ 'cfb', 'm/c', 'c5', '-' ],
	[ 'ck1', '', 'c6', '-' ], [ 'rv', 'm/a', 'c7', '-' ],
	[ 'ex', 'm/a', 'c8', '-' ], [ 'nope', 'm/a', 'c9', '-' ],
	[ 'xx', 'm/a', 'c10', '-' ], [ 'ey', 'm/a', 'c11', '-' ],
	[ 'fut', 'm/a', 'c12', '-' ], [ 'ck1', 'm/a', 'c13', '-5' ]);

is_deeply(\@r, [ [ 'ok', 'key_cfb', 'ck', '0', '101' ],
	[ 'forbidden', 'key_cfb', 'ck' ],
	[ 'ok', 'key_ck1', 'ck', '0', '111' ],
	[ 'key', 'key_cfb', 'ck', '0', '1100' ],
	[ 'key', 'key_cfb', 'ck', '0', '0' ],
	[ 'key', 'key_ck1', 'ck', '0', '' ],
	[ 'revoked', 'key_rv', 'acme' ], [ 'expired', 'key_ex', 'acme' ],
	[ 'unknown' ], [ 'expired', 'key_xx', 'ck' ],
	[ 'key', 'key_ey', 'ck', '0', '1' ],
	[ 'key', 'key_fut', 'ck', '0', '1' ], [ 'bad' ] ],
	'per model verdicts; key checks; an expiry that is no number expires');
is_deeply([ map { $t->redis('HEXISTS', 'tr:rsvd', "c$_") } 1 .. 13 ],
	[ 1, 0, 1, (0) x 10 ], 'only the two admitted reserved');
is($t->redis('HGET', 'tr:acct:ck', 'reserved'), 10, 'and only they count');
$t->redis('HDEL', 'tr:rsvd', 'c1', 'c3');
$t->redis('ZREM', 'tr:rsv', 'c1', 'c3');

###############################################################################

# settlement: the number of releases and their request ids, then groups
# of the same account, tenant, key, model and hour (8 fields), each
# followed by its settlements (9 fields each), as the gateway sends

sub settlement {
	my ($rid, $key, %v) = @_;
	return { group => [ $v{account} // 'acme', $v{tenant} // '', $key,
			"key_$key", $v{model} // 'm/a', '20270115', '2027011509' ],
		fields => [ $rid, $v{cost} // 0, $v{in} // 0, $v{out} // 0,
			$v{cached} // 0, $v{est} // 0, $v{unbilled} // 0,
			$v{clamped} // 0, $v{fail} // 0 ] };
}

sub settle {
	my (@order, %groups);
	for my $s (@_) {
		my $g = join "\n", @{ $s->{group} };
		push @order, $g unless $groups{$g};
		push @{ $groups{$g} }, $s;
	}
	return $t->redis('EVALSHA', $settle, 0, 0, map {
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
	'acme||key_k2|m/a|req' => 2, 'acme||key_k2|m/a|in' => 30,
	'acme||key_k2|m/a|out' => 6, 'acme||key_k2|m/a|cost' => 80,
	'acme||key_k2|m/a|est' => 1, 'acme||key_k2|m/a|unbilled' => 11,
	'acme||key_k2|m/a|clamped' => 1,
	'acme||key_k1|m/b|req' => 1, 'acme||key_k1|m/b|in' => 3,
	'acme||key_k1|m/b|out' => 1, 'acme||key_k1|m/b|cost' => 7,
	'acme||key_k1|m/b|cached' => 2,
}, 'day bucket: summed per key and model, 5-part fields (no tenant: ""),'
	. ' no zero fields');
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

# a failed request (charged nothing): "fail", not "req"; its reservation
# released all the same, and its tokens and unbilled amount recorded

key('kf');
$t->redis('HSET', 'tr:acct:acme', credit => 1000, reserved => 0);
@r = admit([ 'kf', 'm/f', 'f1', 40 ], [ 'kf', 'm/f', 'f2', 40 ],
	[ 'kf', 'm/f', 'f3', 40 ]);
is_deeply([ map { $_->[0] } @r ], [ qw(ok ok ok) ], 'fail: 3 reservations');
is(settle(settlement('f1', 'kf', in => 3, unbilled => 9, fail => 1,
		model => 'm/f'),
	settlement('f2', 'kf', cost => 20, in => 5, out => 2, model => 'm/f'),
	settlement('f3', 'kf', fail => 1, model => 'm/f')), 3,
	'fail: all 3 settled');
is_deeply({ map { /^acme\|\|key_kf\|m\/f\|(\w+)$/ ? ($1 => 1) : () }
		@{ $t->redis('HKEYS', 'tr:u:d:20270115') } },
	{ req => 1, fail => 1, in => 1, out => 1, cost => 1, unbilled => 1 },
	'fail: its fields');
is_deeply([ map { $t->redis('HGET', 'tr:u:h:2027011509', "acme||key_kf|m/f|$_") }
		qw(req fail in cost unbilled) ], [ 1, 2, 8, 20, 9 ],
	'fail: req 1 (the charged one), fail 2');
is($t->redis('HGET', 'tr:key:kf', 'reserved'), 0, 'fail: all released');
is($t->redis('HGET', 'tr:key:kf', 'spent'), 20, 'fail: the charged one spent');

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

# Validation: a settlement Redis would reject, or that a double cannot
# hold exactly, fails the whole script before its first write, so that a
# batch is never half-applied (Redis keeps the writes a failing script
# made before its error) and its good settlements can be sent again.

# everything in Redis, as text: what "nothing written" is compared with
sub state {
	my @out;
	for my $k (sort @{ $t->redis('KEYS', '*') }) {
		my $type = $t->redis('TYPE', $k);
		my $v = $type eq 'hash' ? $t->redis('HGETALL', $k)
			: $type eq 'zset' ? $t->redis('ZRANGE', $k, 0, -1, 'WITHSCORES')
			: $type eq 'list' ? $t->redis('LRANGE', $k, 0, -1)
			: $type eq 'string' ? [ $t->redis('GET', $k) ] : [ '?' ];
		my %h = $type eq 'hash' ? @$v : ();
		push @out, "$k $type " . ($type eq 'hash'
			? join(',', map { "$_=$h{$_}" } sort keys %h)
			: join(',', @$v));
	}
	return join "\n", @out;
}

# settle(), but the error text of a rejected batch, or the charged count
sub try_settle {
	my $r = eval { settle(@_) };
	return defined $r ? $r : "error: $@";
}

$t->redis('HSET', 'tr:acct:acme', credit => 10_000, reserved => 0);
key('v1');
@r = admit([ 'v1', 'm/a', 'v-good', 100 ], [ 'v1', 'm/a', 'v-bad', 100 ]);
is_deeply([ map { $_->[0] } @r ], [ qw(ok ok) ], 'two reservations');

for my $bad ('1e300', '-5', '99999999999999999999', '9007199254740992',
	'', '12a', ' 7', '0x10', '1.5')
{
	my $before = state();
	my $r = try_settle(settlement('v-good', 'v1', cost => 30, in => 10),
		settlement('v-bad', 'v1', cost => $bad, in => 1));
	like($r, qr/bad settlement 2: /, "cost '$bad': the batch is rejected");
	is(state(), $before, "cost '$bad': nothing written");

	$r = try_settle(settlement('v-bad', 'v1', cost => 1, out => $bad),
		settlement('v-good', 'v1', cost => 30, in => 10));
	like($r, qr/bad settlement 1: /, "output '$bad' first: rejected");
	is(state(), $before, "output '$bad' first: nothing written");
}

for my $bad ('2', '10', '') {
	my $before = state();
	my $r = try_settle(settlement('v-good', 'v1', cost => 30, in => 10),
		settlement('v-bad', 'v1', fail => $bad));
	like($r, qr/bad settlement 2: fail/, "fail '$bad': the batch is rejected");
	is(state(), $before, "fail '$bad': nothing written");
}

{
	my $before = state();
	for my $case ([ 'request id', settlement('v bad', 'v1', cost => 1) ],
		[ 'key hash', settlement('v-bad', '', cost => 1) ],
		[ 'model', settlement('v-bad', 'v1', cost => 1, model => '') ])
	{
		my ($what, $s) = @$case;
		like(try_settle(settlement('v-good', 'v1', cost => 30), $s),
			qr/bad settlement 2: /, "$what: the batch is rejected");
	}

	# a group cut short, a count of 0, a count past the end
	for my $argv ([ 0, 'acme', '', 'v1', 'key_v1', 'm/a', '20270115' ],
		[ 0, 'acme', '', 'v1', 'key_v1', 'm/a', '20270115', '2027011509',
			0 ],
		[ 0, 'acme', '', 'v1', 'key_v1', 'm/a', '20270115', '2027011509',
			2, 'v-good', 30, 10, 0, 0, 0 ],
		[ 0, 'acme', 'a b', 'v1', 'key_v1', 'm/a', '20270115',
			'2027011509', 1, 'v-good', 30, 10, 0, 0, 0, 0, 0, 0 ],
		[ 0, 'acme', 'a|b', 'v1', 'key_v1', 'm/a', '20270115',
			'2027011509', 1, 'v-good', 30, 10, 0, 0, 0, 0, 0, 0 ],
		[ 1, 'v-good', 'acme' ], [ 'x' ], [ 2, 'v-good' ])
	{
		my $r = eval { $t->redis('EVALSHA', $settle, 0, @$argv) };
		like($@, qr/bad settlement/, "ARGV @$argv: rejected");
	}
	is(state(), $before, 'none of them wrote anything');
}

# what Redis itself would refuse half-way: a field that is not an
# integer, a key of the wrong type

$t->redis('HSET', 'tr:acct:poison', credit => 10_000, spent => 'abc');
$t->redis('HSET', 'tr:key:p1', id => 'key_p1', account => 'poison');
@r = admit([ 'p1', 'm/a', 'p-bad', 100 ]);
is($r[0][0], 'ok', 'a reservation on the account that will fail');

{
	my $before = state();
	my $r = try_settle(settlement('v-good', 'v1', cost => 30, in => 10),
		{ %{ settlement('p-bad', 'p1', cost => 5) },
			group => [ 'poison', '', 'p1', 'key_p1', 'm/a', '20270115',
				'2027011509' ] });
	like($r, qr/^error: .*bad settlement.*tr:acct:poison/,
		'a field that is not an integer: rejected, naming the key');
	is(state(), $before, 'nothing written');

	$t->redis('SET', 'tr:u:h:2027011510', 'a string');
	$r = try_settle({ %{ settlement('v-good', 'v1', cost => 30) },
		group => [ 'acme', '', 'v1', 'key_v1', 'm/a', '20270115',
			'2027011510' ] });
	like($r, qr/bad settlement.*tr:u:h:2027011510/,
		'a key of the wrong type: rejected');
	$t->redis('DEL', 'tr:u:h:2027011510');
	is(state(), $before, 'nothing written');
}

# the good one alone lands
$acct0 = $t->redis('HGET', 'tr:acct:acme', 'credit');
is(settle(settlement('v-good', 'v1', cost => 30, in => 10)), 1,
	'the good settlement alone is charged');
is($t->redis('HGET', 'tr:acct:acme', 'credit'), $acct0 - 30, 'charged 30');

###############################################################################

# Releases: a reservation the gateway knows is dead (its request got 503
# after a timeout, or went away) is given back, nothing charged.

sub release {
	return $t->redis('EVALSHA', $settle, 0, scalar @_, @_);
}

$t->redis('HSET', 'tr:acct:rel', credit => 1000);
$t->redis('HSET', 'tr:key:kr', id => 'key_kr', account => 'rel');
@r = admit([ 'kr', 'm/a', 'x1', 300 ], [ 'kr', 'm/a', 'x2', 200 ]);
is($t->redis('HGET', 'tr:acct:rel', 'reserved'), 500, 'reserved 500');

my $u0 = state() =~ s/\n.*tr:rsv.*//gr;
is(release('x1', 'nothing', 'x1'), 0,
	'release: nothing charged (an unknown id and a repeat do nothing)');
my %acct = @{ $t->redis('HGETALL', 'tr:acct:rel') };
is_deeply(\%acct, { credit => 1000, reserved => 200 },
	'release: account reserved given back, credit and spent untouched');
is_deeply({ @{ $t->redis('HGETALL', 'tr:key:kr') } },
	{ id => 'key_kr', account => 'rel', reserved => 200, rwin => $MIN,
		rn => 2, twin => $MIN, tn => 10, inflight => 1 },
	'release: key reserved, tokens and one in flight given back');
ok(!$t->redis('HEXISTS', 'tr:rsvd', 'x1')
	&& !defined $t->redis('ZSCORE', 'tr:rsv', 'x1'),
	'release: the reservation is gone');
is($t->redis('EXISTS', 'tr:swept:nothing'), 0, 'no marker left');

# a release and a settlement in one batch; a swept reservation's release
# does not charge, and leaves the marker to its late settlement
$t->redis('SET', 'tr:swept:x3', 1);
my $before = state();
is($t->redis('EVALSHA', $settle, 0, 2, 'x3', 'x2', 'rel', '', 'kr',
	'key_kr', 'm/a', '20270115', '2027011509', 1, 'x9', 7, 1, 1, 0, 0, 0,
	0, 0), 0,
	'release and an unknown settlement together: nothing charged');
is($t->redis('HGET', 'tr:acct:rel', 'reserved'), 0, 'x2 released');
is($t->redis('HGET', 'tr:acct:rel', 'credit'), 1000, 'nothing charged');
is($t->redis('EXISTS', 'tr:swept:x3'), 1, 'the swept marker stays');
is(release('x2'), 0, 'a replayed release does nothing');
is($t->redis('HGET', 'tr:acct:rel', 'reserved'), 0, 'still 0');

like(eval { release('bad id') } // $@, qr/bad settlement 1: /,
	'a release with a malformed request id is rejected');

###############################################################################

# Admission validates what it writes: an amount that is not a non-negative
# integer below 2^53 is refused on its own ("bad"), the others admitted

$t->redis('HSET', 'tr:acct:adm', credit => 1_000_000);
$t->redis('HSET', 'tr:key:ka', id => 'key_ka', account => 'adm');
$before = state();
@r = admit(map { [ 'ka', 'm/a', "y$_->[0]", $_->[1] ] } [ 1, '1e3' ],
	[ 2, '-5' ], [ 3, '99999999999999999999' ], [ 4, '' ], [ 5, '7' ],
	[ 6, '9007199254740992' ]);
is_deeply([ map { $_->[0] } @r ], [ qw(bad bad bad bad ok bad) ],
	'admission: each bad amount refused, the good one admitted');
is($t->redis('HGET', 'tr:acct:adm', 'reserved'), 7, 'only 7 reserved');
ok(!$t->redis('HEXISTS', 'tr:rsvd', 'y1'), 'no record for a bad one');
is(release('y5'), 0, 'released');

###############################################################################

# Stored values that are no numbers, as a hand-edited or damaged record
# can hold: an expiry is expired (only digits are a time), a limit,
# spent or reserved leaves nothing, an account's credit or reserved
# leaves no credit; and the other requests of the batch are answered as
# ever, the batch is not failed.

$t->redis('HSET', 'tr:acct:odd', credit => 1_000_000);
$t->redis('HSET', 'tr:acct:oddr', credit => 1_000_000, reserved => 'x');
my @odd = ('-1', '1e99', '0x10', 'inf', 'nan', ' 5', '99999999999999999999');
key("oe$_", account => 'odd', expires_at => $odd[$_]) for 0 .. $#odd;
key('ol', account => 'odd', limit => 'lots');
key('os', account => 'odd', limit => 1000, spent => '1e2');
key('or', account => 'oddr');
key('ok', account => 'odd');

@r = admit((map { [ "oe$_", 'm/a', "oe$_", 5 ] } 0 .. $#odd),
	[ 'ol', 'm/a', 'o1', 5 ], [ 'os', 'm/a', 'o2', 5 ],
	[ 'or', 'm/a', 'o3', 5 ], [ 'ok', 'm/a', 'o4', 5 ],
	[ 'oe0', 'm/a', 'o5', '-' ]);
is_deeply([ map { $_->[0] } @r ],
	[ ('expired') x 7, qw(limit limit credit ok expired) ],
	'no numbers: expired, limit, credit; the good request admitted');
is($r[7][3], 0, 'a limit that is no number: nothing left');
is($t->redis('HGET', 'tr:acct:odd', 'reserved'), 5, 'only the good one');
is(release('o4'), 0, 'released');

###############################################################################

# The sweep never half-applies either: an expired reservation whose key
# cannot be written is moved to tr:dead, the others are released.

$t->redis('HSET', 'tr:acct:sw', credit => 1000);
$t->redis('HSET', 'tr:key:ks', id => 'key_ks', account => 'sw');
$t->redis('HSET', 'tr:key:kz', id => 'key_kz', account => 'sw');
@r = admit([ 'ks', 'm/a', 's1', 10 ], [ 'kz', 'm/a', 's2', 20 ]);
$t->redis('HSET', 'tr:key:kz', reserved => 'oops');
$t->redis('ZADD', 'tr:rsv', $NOW - 5, 's1', $NOW - 5, 's2');
$t->redis('DEL', 'tr:dead');
is($t->redis('EVALSHA', $sweep, 0, $NOW), 2, 'sweep: two expired');
is($t->redis('HGET', 'tr:key:ks', 'reserved'), 0, 'the good one released');
is($t->redis('HGET', 'tr:acct:sw', 'reserved'), 20,
	'the bad one\'s account keeps its amount');
is($t->redis('HGET', 'tr:key:kz', 'reserved'), 'oops', 'bad key untouched');
my $dead = $t->redis('LRANGE', 'tr:dead', 0, -1);
is(scalar @$dead, 1, 'one dead letter');
like($dead->[0] // '', qr/^s2 .*kz 20 sw.*tr:key:kz/, 'naming it');
ok(!$t->redis('HEXISTS', 'tr:rsvd', 's2')
	&& !defined $t->redis('ZSCORE', 'tr:rsv', 's2'),
	'and out of the reservations');
is($t->redis('EVALSHA', $sweep, 0, $NOW), 0, 'the next sweep: nothing');

###############################################################################

# Rate limits (README "Rate limits"): rpm, tpm and concurrency on a key,
# over calendar minutes, checked with the reservation in the same script
# and counted across a batch; the settlement corrects tpm to the actual
# tokens, and every end of a request (settle, release, sweep) ends one in
# flight.

$t->redis('HSET', 'tr:acct:rl', credit => 1_000_000_000);

sub rkey {
	my ($hash, %f) = @_;
	$t->redis('HSET', "tr:key:$hash", id => "key_$hash", account => 'rl',
		%f);
}

# rpm 3: a batch of 5 admits 3, refused until the next minute

rkey('rpm', rpm => 3);
$before = state();
@r = admit_at($NOW + 17, map { [ 'rpm', 'm/a', "rp$_", 10 ] } 1 .. 5);
is_deeply([ map { $_->[0] } @r ], [ qw(ok ok ok rate rate) ],
	'rpm 3: a batch of 5 admits the first 3');
is_deeply($r[3], [ 'rate', 'key_rpm', 'rl', 43, 'rpm', 'key', 3 ],
	'rate: key id, account, retry after (to the next minute), which '
	. 'limit, the key\'s, its value');
is_deeply([ map { $t->redis('HGET', 'tr:key:rpm', $_) } qw(rwin rn inflight) ],
	[ $MIN, 3, 3 ], 'rwin, rn: the minute and the 3 admitted; 3 in flight');
is($t->redis('HGET', 'tr:key:rpm', 'reserved'), 30, 'the refused reserve '
	. 'nothing');
ok(!$t->redis('HEXISTS', 'tr:rsvd', 'rp4'), 'nor leave a record');
@r = admit_at($NOW + 59, [ 'rpm', 'm/a', 'rp6', 10 ]);
is_deeply([ @{ $r[0] }[0, 3] ], [ 'rate', 1 ],
	'still refused in the minute\'s last second, retry after 1');
@r = admit_at($NOW + 60, [ 'rpm', 'm/a', 'rp7', 10 ]);
is($r[0][0], 'ok', 'the next minute: a new window');
is_deeply([ map { $t->redis('HGET', 'tr:key:rpm', $_) } qw(rwin rn) ],
	[ $MIN + 1, 1 ], 'rwin moved on, rn 1');

# a window set back by hand: reset; one of a later minute (a gateway
# whose clock is ahead wrote it) is kept, not opened twice
rkey('rpm', rwin => $MIN - 7, rn => 3);
@r = admit([ 'rpm', 'm/a', 'rp8', 10 ]);
is($r[0][0], 'ok', 'a window of an older minute is reset');
rkey('rpm', rwin => $MIN + 1, rn => 3);
@r = admit([ 'rpm', 'm/a', 'rp9', 10 ]);
is_deeply([ @{ $r[0] }[0, 3, 4] ], [ 'rate', 120, 'rpm' ],
	'a window of a later minute is the current one: refused, retry '
	. 'after its end');
rkey('rpm', rwin => $MIN + 2, rn => 3);
@r = admit([ 'rpm', 'm/a', 'rp11', 10 ]);
is($r[0][0], 'ok', 'one further ahead is damaged: reset');

# key checks (amount "-") count nothing
$before = $t->redis('HGET', 'tr:key:rpm', 'rn');
admit([ 'rpm', 'm/a', 'rp10', '-' ]);
is($t->redis('HGET', 'tr:key:rpm', 'rn'), $before, 'a key check: not '
	. 'counted');

# tpm 100: tokens counted across the batch; a request over tpm alone
# is refused whatever the window holds

rkey('tpm', tpm => 100);
@r = admit(map { [ 'tpm', 'm/a', "tp$_->[0]", 1, $_->[1] ] }
	[ 1, 40 ], [ 2, 40 ], [ 3, 30 ], [ 4, 20 ], [ 5, 101 ]);
is_deeply([ map { $_->[0] } @r ], [ qw(ok ok rate ok rate) ],
	'tpm 100: 40 + 40 in, 30 more not, 20 more fit');
is_deeply($r[2], [ 'rate', 'key_tpm', 'rl', 60, 'tpm', 'key', 100 ],
	'tpm: the verdict');
is_deeply([ @{ $r[4] }[0, 4, 6] ], [ 'rate', 'tpm', 100 ],
	'a request of 101 tokens: tpm 100 (the module says it never passes)');
is($t->redis('HGET', 'tr:key:tpm', 'tn'), 100, 'tn 100');
is($t->redis('HGET', 'tr:rsvd', 'tp4'), "tpm 1 rl - - - 20 $MIN",
	'the record holds its tokens and minute');

# the settlement replaces the reserved tokens by the actual ones
is(settle(settlement('tp1', 'tpm', in => 5, out => 3)), 1, 'tp1 settled');
is($t->redis('HGET', 'tr:key:tpm', 'tn'), 68, 'tn: 40 replaced by 8');
is($t->redis('HGET', 'tr:key:tpm', 'inflight'), 2, 'inflight: one less');
@r = admit([ 'tpm', 'm/a', 'tp6', 1, 30 ]);
is($r[0][0], 'ok', 'so 30 more fit in the same minute');
is(release('tp6'), 0, 'a release');
is($t->redis('HGET', 'tr:key:tpm', 'tn'), 68, 'gives its tokens back');
is($t->redis('HGET', 'tr:key:tpm', 'inflight'), 2, 'and its place');

# a reservation of an older minute is not corrected (its window is gone)
rkey('tpm', twin => $MIN + 1, tn => 50);
is(settle(settlement('tp2', 'tpm', in => 1, out => 1)), 1, 'tp2 settled');
is($t->redis('HGET', 'tr:key:tpm', 'tn'), 50,
	'a later window: its count untouched');
rkey('tpm', twin => $MIN, tn => 5);
is(settle(settlement('tp4', 'tpm', in => 900, out => 0)), 1,
	'tp4: more tokens than reserved');
is($t->redis('HGET', 'tr:key:tpm', 'tn'), 885, 'tn: 20 replaced by 900');
is($t->redis('HGET', 'tr:key:tpm', 'inflight'), 0, 'none in flight');

# never below 0
rkey('tpm', tn => 3);
@r = admit([ 'tpm', 'm/a', 'tp7', 1, 10 ]);
is($r[0][0], 'ok', 'tp7 admitted');
rkey('tpm', tn => 2, inflight => 0);
is(settle(settlement('tp7', 'tpm')), 1, 'tp7 settled, no tokens');
is_deeply([ map { $t->redis('HGET', 'tr:key:tpm', $_) } qw(tn inflight) ],
	[ 0, 0 ], 'tn and inflight never below 0');

# concurrency 2: settle, release and sweep each end one in flight

rkey('conc', concurrency => 2);
@r = admit(map { [ 'conc', 'm/a', "cc$_", 10 ] } 1 .. 3);
is_deeply([ map { $_->[0] } @r ], [ qw(ok ok rate) ],
	'concurrency 2: 2 of 3 admitted');
is_deeply($r[2], [ 'rate', 'key_conc', 'rl', 1, 'concurrency', 'key', 2 ],
	'concurrency: retry after 1');
$before = state();
@r = admit([ 'conc', 'm/a', 'cc4', 10 ], [ 'conc', 'm/a', 'cc5', 10 ]);
is_deeply([ map { $_->[0] } @r ], [ qw(rate rate) ], 'both refused');
is(state(), $before, 'a batch of refusals writes nothing');
is(settle(settlement('cc1', 'conc')), 1, 'cc1 settled');
@r = admit([ 'conc', 'm/a', 'cc6', 10 ], [ 'conc', 'm/a', 'cc7', 10 ]);
is_deeply([ map { $_->[0] } @r ], [ qw(ok rate) ], 'one place again');
is(release('cc6'), 0, 'cc6 released');
is($t->redis('HGET', 'tr:key:conc', 'inflight'), 1, 'inflight 1');
$t->redis('ZADD', 'tr:rsv', $NOW - 5, 'cc2');
is($t->redis('EVALSHA', $sweep, 0, $NOW), 1, 'cc2 swept');
is($t->redis('HGET', 'tr:key:conc', 'inflight'), 0, 'inflight 0');
is($t->redis('EVALSHA', $sweep, 0, $NOW), 0, 'nothing more to sweep');

# a tenant's concurrency 1 over two keys: counted on the tenant's record,
# ended there by settle, release and sweep alike

$t->redis('HSET', 'tr:tenant:rl|tc', name => 'tc', account => 'rl',
	concurrency => 1);
$t->redis('SADD', 'tr:tenants:rl', 'tc');
rkey('tc1', tenant => 'tc');
rkey('tc2', tenant => 'tc');
@r = admit([ 'tc1', 'm/a', 'tcc1', 10 ], [ 'tc2', 'm/a', 'tcc2', 10 ]);
is_deeply([ map { $_->[0] } @r ], [ qw(ok rate) ],
	'tenant concurrency 1: one of its two keys admitted');
is_deeply([ @{ $r[1] }[0, 3, 4, 5, 6] ],
	[ 'rate', 1, 'concurrency', 'tenant', 1 ], 'the tenant\'s limit');
is($t->redis('HGET', 'tr:tenant:rl|tc', 'inflight'), 1, 'tenant inflight 1');
is(settle(settlement('tcc1', 'tc1')), 1, 'settled');
is($t->redis('HGET', 'tr:tenant:rl|tc', 'inflight'), 0, 'tenant inflight 0');
@r = admit([ 'tc2', 'm/a', 'tcc3', 10 ]);
is($r[0][0], 'ok', 'a place again');
is(release('tcc3'), 0, 'released');
is($t->redis('HGET', 'tr:tenant:rl|tc', 'inflight'), 0,
	'tenant inflight 0 after a release');
@r = admit([ 'tc2', 'm/a', 'tcc4', 10 ]);
$t->redis('ZADD', 'tr:rsv', $NOW - 5, 'tcc4');
is($t->redis('EVALSHA', $sweep, 0, $NOW), 1, 'swept');
is($t->redis('HGET', 'tr:tenant:rl|tc', 'inflight'), 0,
	'tenant inflight 0 after the sweep');

# the tokens field: digits below 2^53, or "-"
@r = admit(map { [ 'conc', 'm/a', "cb$_->[0]", 1, $_->[1] ] }
	[ 1, 'x' ], [ 2, '-1' ], [ 3, '' ], [ 4, '9007199254740992' ],
	[ 5, '-' ]);
is_deeply([ map { $_->[0] } @r ], [ qw(bad bad bad bad ok) ],
	'bad tokens refused on their own');
is(release('cb5'), 0, 'released');

# records of the old form (key hash, amount, account) still settle,
# release and sweep, and end their request in flight

rkey('old', inflight => 3, twin => $MIN, tn => 40, reserved => 30);
$t->redis('HINCRBY', 'tr:acct:rl', 'reserved', 30);
for my $i (1 .. 3) {
	$t->redis('HSET', 'tr:rsvd', "old$i", 'old 10 rl');
	$t->redis('ZADD', 'tr:rsv', $i == 3 ? $NOW - 5 : $NOW + 900, "old$i");
}
my $rl0 = $t->redis('HGET', 'tr:acct:rl', 'reserved');
is(settle(settlement('old1', 'old', account => 'rl', cost => 4, in => 1)),
	1, 'an old record settles');
is(release('old2'), 0, 'and releases');
is($t->redis('EVALSHA', $sweep, 0, $NOW), 1, 'and is swept');
is_deeply([ map { $t->redis('HGET', 'tr:key:old', $_) }
		qw(reserved spent inflight tn) ], [ 0, 4, 0, 40 ],
	'reserved given back, charged, 3 ended in flight, tokens untouched');
is($t->redis('HGET', 'tr:acct:rl', 'reserved'), $rl0 - 30,
	'account reserved given back');
# Tenants (README "Tenants"): a key with a tenant reserves against the
# key, the tenant and the account in one step; the tenant's limit counts
# every key of the tenant; a key naming a tenant with no record reserves
# nothing.  The reply carries the tenant (6th field).

$t->redis('HSET', 'tr:acct:tn', credit => 1_000_000);
$t->redis('HSET', 'tr:tenant:tn|bots', name => 'bots', account => 'tn',
	limit => 250);
$t->redis('SADD', 'tr:tenants:tn', 'bots');
key('t1', account => 'tn', tenant => 'bots');
key('t2', account => 'tn', tenant => 'bots', limit => 1000);
key('t3', account => 'tn', tenant => 'ghost');
key('t4', account => 'tn', tenant => "a b\nc");
key('t0', account => 'tn', tenant => '');

@r = admit([ 't1', 'm/a', 'ta1', 100 ], [ 't2', 'm/a', 'ta2', 100 ],
	[ 't1', 'm/a', 'ta3', 100 ], [ 't0', 'm/a', 'ta4', 100 ],
	[ 't3', 'm/a', 'ta5', 1 ], [ 't4', 'm/a', 'ta6', 0 ],
	[ 't1', 'm/a', 'ta7', '-' ], [ 't3', 'm/a', 'ta8', '-' ],
	[ 't2', 'm/a', 'ta9', 50 ]);
is_deeply(\@r, [ [ 'ok', 'key_t1', 'tn', '0', '1', 'bots' ],
	[ 'ok', 'key_t2', 'tn', '0', '1', 'bots' ],
	[ 'tenant', 'key_t1', 'tn', '50', '', 'bots' ],
	[ 'ok', 'key_t0', 'tn', '0', '1' ],
	[ 'tenant', 'key_t3', 'tn', '0', 'missing', 'ghost' ],
	[ 'tenant', 'key_t4', 'tn', '0', 'missing', '?' ],
	[ 'key', 'key_t1', 'tn', '0', '1', 'bots' ],
	[ 'key', 'key_t3', 'tn', '0', '1', 'ghost' ],
	[ 'ok', 'key_t2', 'tn', '0', '1', 'bots' ] ],
	'tenant ceiling of 250 across two keys; no record: nothing, even free');
is($t->redis('HGET', 'tr:tenant:tn|bots', 'reserved'), 250,
	'tenant reserved: the sum of its keys\'');
is($t->redis('HGET', 'tr:acct:tn', 'reserved'), 350,
	'account reserved: every key\'s, with or without a tenant');
is($t->redis('HGET', 'tr:key:t2', 'reserved'), 150, 'key t2 reserved 150');
is($t->redis('HGET', 'tr:rsvd', 'ta1'), "t1 100 tn bots - - 10 $MIN",
	'reservation record: the tenant, no periods');
is($t->redis('EXISTS', 'tr:tenant:tn|ghost'), 0,
	'no record made for a missing tenant');

# a tenant exists when its account's set holds it: one without a record
# has no ceiling (its reserved is still counted); a record whose name the
# set does not hold is no tenant
$t->redis('SADD', 'tr:tenants:tn', 'bare');
$t->redis('HSET', 'tr:tenant:tn|stray', name => 'stray', account => 'tn');
key('t5', account => 'tn', tenant => 'bare');
key('t6', account => 'tn', tenant => 'stray');
@r = admit([ 't5', 'm/a', 'te1', 7 ], [ 't6', 'm/a', 'te2', 7 ]);
is_deeply(\@r, [ [ 'ok', 'key_t5', 'tn', '0', '1', 'bare' ],
	[ 'tenant', 'key_t6', 'tn', '0', 'missing', 'stray' ] ],
	'in the set: a tenant; only a record: none');
is($t->redis('HGET', 'tr:tenant:tn|bare', 'reserved'), 7,
	'its reserved counted');
is(release('te1'), 0, 'released');

is(settle(settlement('ta1', 't1', account => 'tn', tenant => 'bots',
		cost => 60, in => 5),
	settlement('ta2', 't2', account => 'tn', tenant => 'bots', cost => 40),
	settlement('ta4', 't0', account => 'tn', cost => 10)), 3,
	'three settled');
my %tb = @{ $t->redis('HGETALL', 'tr:tenant:tn|bots') };
is($tb{reserved}, 50, 'tenant: the two released (ta9 still holds 50)');
is($tb{spent}, 100, 'tenant spent 60 + 40');
ok(!exists $tb{pspent}, 'no period: no pspent');
%acct = @{ $t->redis('HGETALL', 'tr:acct:tn') };
is($acct{spent}, 110, 'account spent all three (the bill)');
is($acct{credit}, 1_000_000 - 110, 'account credit charged 110');
is($acct{reserved}, 50, 'account reserved: ta9');
my %ud = @{ $t->redis('HGETALL', 'tr:u:d:20270115') };
is($ud{'tn|bots|key_t1|m/a|cost'}, 60, 'usage: tenant in the field');
is($ud{'tn|bots|key_t1|m/a|in'}, 5, 'usage: in');
is($ud{'tn|bots|key_t2|m/a|cost'}, 40, 'usage: the other key');
is($ud{'tn||key_t0|m/a|cost'}, 10, 'usage: no tenant, ""');

@r = admit([ 't1', 'm/a', 'tb1', 101 ], [ 't1', 'm/a', 'tb2', 100 ]);
is_deeply([ map { "$_->[0] " . ($_->[3] // '') } @r ],
	[ 'tenant 100', 'ok 0' ],
	'the tenant\'s left: limit - spent - reserved = 100');
is(release('tb2', 'ta9'), 0, 'released');
is($t->redis('HGET', 'tr:tenant:tn|bots', 'reserved'), 0,
	'release: the tenant\'s reserved given back');

# the pre-write checks cover the tenant hash too

@r = admit([ 't1', 'm/a', 'tc1', 10 ]);
$t->redis('HSET', 'tr:tenant:tn|bots', spent => 'abc');
{
	my $before = state();
	like(try_settle(settlement('tc1', 't1', account => 'tn',
			tenant => 'bots', cost => 5)),
		qr/bad settlement.*tr:tenant:tn\|bots/,
		'a tenant field that is not an integer: rejected, naming it');
	is(state(), $before, 'nothing written');
}
$t->redis('HSET', 'tr:tenant:tn|bots', spent => 100);

# the sweep gives the tenant its reservation back, and leaves the record
# in the marker; the late settlement charges the tenant once

$t->redis('ZADD', 'tr:rsv', $NOW - 5, 'tc1');
is($t->redis('EVALSHA', $sweep, 0, $NOW), 1, 'sweep: one');
is($t->redis('HGET', 'tr:tenant:tn|bots', 'reserved'), 0,
	'sweep: tenant released');
is($t->redis('GET', 'tr:swept:tc1'), "t1 10 tn bots - - 10 $MIN",
	'the marker holds the record');
is(settle(settlement('tc1', 't1', account => 'tn', tenant => 'bots',
		cost => 5)), 1, 'the late settlement charges');
is($t->redis('HGET', 'tr:tenant:tn|bots', 'spent'), 105,
	'tenant spent 100 + 5');

# a tenant whose reserved cannot be written: the sweep's dead letter

@r = admit([ 't1', 'm/a', 'td1', 10 ]);
$t->redis('HSET', 'tr:tenant:tn|bots', reserved => 'oops');
$t->redis('ZADD', 'tr:rsv', $NOW - 5, 'td1');
$t->redis('DEL', 'tr:dead');
is($t->redis('EVALSHA', $sweep, 0, $NOW), 1, 'sweep: one');
like($t->redis('LINDEX', 'tr:dead', 0) // '',
	qr/^td1 t1 10 tn bots .*tr:tenant:tn\|bots/, 'dead letter naming it');
is($t->redis('HGET', 'tr:key:t1', 'reserved'), 10,
	'nothing released half-way');
$t->redis('HSET', 'tr:tenant:tn|bots', reserved => 0);
$t->redis('HSET', 'tr:key:t1', reserved => 0);
$t->redis('HINCRBY', 'tr:acct:tn', 'reserved', -10);

###############################################################################

# Budget periods (README "Budgets that reset"): with a period the limit
# counts pspent, what was charged in period pid (UTC calendar: d<day>,
# w<week from Monday>, m<YYYYMM>); an older pid counts 0 and is moved on
# when the record reserves; a reservation settled in a later period is
# charged to its own ("spent" always).  Now is 2027-01-15 08:00 UTC.

$t->redis('HSET', 'tr:acct:per', credit => 1_000_000);
key('pd', account => 'per', limit => 300, period => 'day', pid => 'd20832',
	pspent => 290, spent => 5000);

@r = admit([ 'pd', 'm/a', 'pa1', 200 ], [ 'pd', 'm/a', 'pa2', 150 ]);
is_deeply(\@r, [ [ 'ok', 'key_pd', 'per', '0', '1' ],
	[ 'limit', 'key_pd', 'per', '100', 'day', '' ] ],
	'yesterday\'s pspent does not count; the reply names the period');
my %pd = @{ $t->redis('HGETALL', 'tr:key:pd') };
is_deeply([ @pd{qw(pid pspent spent reserved)} ], [ 'd20833', 0, 5000, 200 ],
	'moved to today: pid, pspent 0; spent is lifetime');
is($t->redis('HGET', 'tr:rsvd', 'pa1'), "pd 200 per - d20833 - 10 $MIN",
	'the record has the key\'s period id');

is(settle(settlement('pa1', 'pd', account => 'per', cost => 120)), 1,
	'settled');
%pd = @{ $t->redis('HGETALL', 'tr:key:pd') };
is_deeply([ @pd{qw(pid pspent spent reserved)} ], [ 'd20833', 120, 5120, 0 ],
	'charged to today\'s pspent and to spent');
@r = admit([ 'pd', 'm/a', 'pa3', 181 ], [ 'pd', 'm/a', 'pa4', 180 ]);
is_deeply([ map { $_->[0] } @r ], [ qw(limit ok) ],
	'left today: 300 - 120 = 180');

# made in one period, settled in the next: charged to the one it was
# made in (over), so not to the new period's pspent

$t->redis('HSET', 'tr:key:pd', pid => 'd20834', pspent => 7);
is(settle(settlement('pa4', 'pd', account => 'per', cost => 90)), 1,
	'a reservation of yesterday settles today');
%pd = @{ $t->redis('HGETALL', 'tr:key:pd') };
is_deeply([ @pd{qw(pid pspent spent reserved)} ], [ 'd20834', 7, 5210, 0 ],
	'not charged to the new period; spent and the account are');
is($t->redis('HGET', 'tr:acct:per', 'spent'), 210, 'account spent 210');

# a gateway whose clock lags never resets a newer period

@r = admit([ 'pd', 'm/a', 'pa5', 294 ], [ 'pd', 'm/a', 'pa6', 293 ]);
is_deeply([ map { "$_->[0] " . ($_->[3] // '') } @r ], [ 'limit 293', 'ok 0' ],
	'the record\'s newer pid counts');
is($t->redis('HGET', 'tr:key:pd', 'pid'), 'd20834', 'and is kept');
is($t->redis('HGET', 'tr:rsvd', 'pa6'), "pd 293 per - d20834 - 10 $MIN",
	'the reservation is in that period');
is(release('pa6'), 0, 'released');

# a tenant's period; a key's own period alongside

$t->redis('HSET', 'tr:tenant:per|m', name => 'm', account => 'per',
	limit => 100, period => 'month', pid => 'm202612', pspent => 100,
	spent => 100);
$t->redis('SADD', 'tr:tenants:per', 'm');
key('pm', account => 'per', tenant => 'm', limit => 1000, period => 'week');
@r = admit([ 'pm', 'm/a', 'pb1', 80 ], [ 'pm', 'm/a', 'pb2', 30 ]);
is_deeply(\@r, [ [ 'ok', 'key_pm', 'per', '0', '1', 'm' ],
	[ 'tenant', 'key_pm', 'per', '20', 'month', 'm' ] ],
	'the tenant\'s month: December\'s spend does not count');
is($t->redis('HGET', 'tr:rsvd', 'pb1'), "pm 80 per m w2976 m202701 10 $MIN",
	'the record: both period ids');
is_deeply([ $t->redis('HMGET', 'tr:tenant:per|m', 'pid', 'pspent') ]->[0],
	[ 'm202701', 0 ], 'tenant moved to January');
is(settle(settlement('pb1', 'pm', account => 'per', tenant => 'm',
		cost => 50)), 1, 'settled');
is_deeply($t->redis('HMGET', 'tr:tenant:per|m', 'pspent', 'spent',
		'reserved'), [ 50, 150, 0 ], 'tenant: pspent, spent, reserved');
is_deeply($t->redis('HMGET', 'tr:key:pm', 'pid', 'pspent', 'spent'),
	[ 'w2976', 50, 50 ], 'key: its week');

# a key rotated while its request runs (src/lua/ctl_keys.lua: the old
# hash forwards to the key id, the record moves to the new hash): the
# period charge follows it, as the spend does

key('rot', account => 'per', limit => 1000, period => 'day');
@r = admit([ 'rot', 'm/a', 'pr1', 100 ]);
my %rot = @{ $t->redis('HGETALL', 'tr:key:rot') };
$t->redis('HSET', 'tr:key:rot2', %rot);
$t->redis('DEL', 'tr:key:rot');
$t->redis('HSET', 'tr:key:rot', moved => 'key_rot');
$t->redis('SET', 'tr:keyid:key_rot', 'rot2');
is(settle(settlement('pr1', 'rot', account => 'per', cost => 40)), 1,
	'a rotated key\'s request settles');
is_deeply($t->redis('HMGET', 'tr:key:rot2', 'pid', 'pspent', 'spent',
		'reserved'), [ 'd20833', 40, 40, 0 ],
	'charged to the new record, in its period');
is_deeply($t->redis('HGETALL', 'tr:key:rot'), [ 'moved', 'key_rot' ],
	'the forwarding record untouched');

# a period that is no period, with a limit: nothing (fail-safe)
key('pz', account => 'per', limit => 1000, period => 'fortnight');
@r = admit([ 'pz', 'm/a', 'pc1', 1 ]);
is_deeply($r[0], [ 'limit', 'key_pz', 'per', '0' ],
	'an unknown period leaves nothing');

# the calendar: days, weeks from Monday 00:00 UTC, months (leap days,
# years)
for my $c ([ 1709251199, 'day', 'd19782' ], [ 1709251200, 'day', 'd19783' ],
	[ 1704067199, 'week', 'w2817' ], [ 1704067200, 'week', 'w2818' ],
	[ 1709251199, 'month', 'm202402' ], [ 1709251200, 'month', 'm202403' ],
	[ 946684799, 'month', 'm199912' ], [ 946684800, 'month', 'm200001' ],
	[ 4102444800, 'month', 'm210001' ])
{
	my ($now, $period, $pid) = @$c;
	key('pcal', account => 'per', period => $period, pid => '');
	my $rid = "cal$now$period";
	admit_at($now, [ 'pcal', 'm/a', $rid, 0 ]);
	is($t->redis('HGET', 'tr:key:pcal', 'pid'), $pid,
		"$period of " . gmtime($now) . ": $pid");
	release($rid);
}

###############################################################################

# Records written before tenants and periods (3 fields: key hash, amount,
# account) still settle, release and sweep

$t->redis('HSET', 'tr:acct:old', credit => 1000, reserved => 60);
key('ko', account => 'old', reserved => 60);
$t->redis('HSET', 'tr:rsvd', 'o1', 'ko 30 old', 'o2', 'ko 20 old',
	'o3', 'ko 10 old');
$t->redis('ZADD', 'tr:rsv', $DEADLINE, 'o1', $DEADLINE, 'o2', $NOW - 5,
	'o3');
is(settle(settlement('o1', 'ko', account => 'old', cost => 25)), 1,
	'an old record settles');
is(release('o2'), 0, 'an old record releases');
is($t->redis('EVALSHA', $sweep, 0, $NOW), 1, 'an old record is swept');
is_deeply($t->redis('HMGET', 'tr:key:ko', 'reserved', 'spent'), [ 0, 25 ],
	'key: all given back, 25 spent');
is_deeply($t->redis('HMGET', 'tr:acct:old', 'reserved', 'spent', 'credit'),
	[ 0, 25, 975 ], 'account: the same');
$t->redis('SET', 'tr:swept:o4', 1);
is(settle(settlement('o4', 'ko', account => 'old', cost => 5)), 1,
	'an old swept marker ("1") still charges, once');
is($t->redis('HGET', 'tr:key:ko', 'spent'), 30, 'key spent 30');

###############################################################################

# The scripts as files: valid Lua 5.1, runnable as they are, sent by the
# CLI byte for byte, and nowhere else.

my @lua = map { s{.*/}{}r =~ s/\.lua$//r }
	glob($t->repo . '/src/lua/*.lua');
my $build_files = TokenRoute::Test::_slurp($t->repo . '/config')
	. TokenRoute::Test::_slurp($t->repo . '/Makefile');
is_deeply([ grep { $build_files !~ m{src/lua/$_\.lua\b} } @lua ], [],
	'every script of src/lua/ is embedded (config, Makefile)');
ok(@lua >= 7, 'src/lua/ holds the scripts');

# the text a script runs as (src/lua/embed.sh joins its preludes)
sub lua_run_of { $t->script_text($_[0]) }

for my $name (@lua) {
	my $f = $t->testdir . "/$name.lua";
	$t->_write($f, lua_run_of($name));
	my $out = `luac5.1 -p - < '$f' 2>&1`;
	is($?, 0, "$name.lua: valid Lua 5.1 (luac5.1 -p; make deps installs it)")
		or diag($out);
}

# redis-cli --eval: keys, a comma, then arguments
sub eval_file {
	my ($name, $keys, $args) = @_;
	my $cmd = join ' ', 'redis-cli', '-p', $t->redis_port(), '--eval',
		$t->repo . "/src/lua/$name.lua", @$keys, ',', @$args;
	my $out = `$cmd 2>&1`;
	chomp $out;
	return $out;
}

$t->redis('DEL', 'tr:rsvd', 'tr:rsv');
$t->redis('HSET', 'tr:rsvd', 'ev-1', ('e' x 64) . ' 5 ev');
$t->redis('ZADD', 'tr:rsv', 10, 'ev-1');
is(eval_file('sweep', [], [ 20 ]), 1, 'redis-cli --eval sweep.lua: one swept');
is($t->redis('HEXISTS', 'tr:rsvd', 'ev-1'), 0,
	'redis-cli --eval sweep.lua: a reservation past its deadline released');

# the CLI's EVAL puts the script in Redis's cache, under its SHA-1
$t->redis('SCRIPT', 'FLUSH');
my ($rc) = $t->cli('accounts', 'create', 'ev3');
is($rc, 0, 'tokenroute accounts create');
($rc) = $t->cli('keys', 'create', '--name', 'ev', '--account', 'ev3');
is($rc, 0, 'tokenroute keys create');
my ($id) = @{ $t->redis('ZRANGE', 'tr:keys', 0, 0) };
($rc) = $t->cli('keys', 'revoke', $id // 'none');
is($rc, 0, 'tokenroute keys revoke');
($rc) = $t->cli('credit', 'add', '--account', 'ev3', '--amount', '1');
is($rc, 0, 'tokenroute credit add');
($rc) = $t->cli('accounts', 'create', 'ev2');
is($rc, 0, 'tokenroute accounts create');
($rc) = $t->cli('tenants', 'create', 'ev2', 'ev');
is($rc, 0, 'tokenroute tenants create');
is_deeply($t->redis('SCRIPT', 'EXISTS',
		map { sha1_hex(lua_run_of($_)) }
		qw(ctl_keys ctl_accounts ctl_tenants)),
	[ 1, 1, 1 ], 'the CLI ran the very bytes of the .lua files '
	. '(a control script behind ctl_lib.lua)');

# no Lua left in C: every redis.call of the project is in src/lua/
my @c = grep { TokenRoute::Test::_slurp($_) =~ /redis\.p?call/ }
	glob($t->repo . '/ngx_http_tokenroute_module.c '
		. $t->repo . '/src/*.c ' . $t->repo . '/src/*/*.c');
is_deeply([ map { s{^\Q${\$t->repo}/\E}{}r } @c ], [],
	'no C file holds Lua');

# Redis key names: defined once, in src/tokenroute_schema.h; the scripts
# spell them (so that they run as they are, and the admission sends no
# name per request), but only those; C code only through the macros

my %names = TokenRoute::Test::_slurp($t->repo . '/src/tokenroute_schema.h')
	=~ /^#define\s+(TOKENROUTE_REDIS_\w+)\s+"([^"]*)"/mg;
my %known = map { $_ => 1 } values %names;
ok(keys %known >= 11, 'src/tokenroute_schema.h names the keys');

for my $name (@lua) {
	my $lua = lua_of($name) =~ s/--[^\n]*//gr;
	my @unknown = grep { !$known{$_} } $lua =~ /\b(tr:[a-z]+(?::[a-z]+)*:?)/g;
	is_deeply(\@unknown, [], "$name.lua spells only the schema's names");
}

my @spelled;
for my $f (glob($t->repo . '/ngx_http_tokenroute_module.c '
	. join ' ', map { $t->repo . "/src/$_" } qw(*.c *.h */*.c */*.h)))
{
	next if $f =~ m{/tokenroute_schema\.h$};
	my $c = TokenRoute::Test::_slurp($f) =~ s{/\*.*?\*/}{}gsr;
	push @spelled, map { ($f =~ s{.*/}{}r) . ": $_" }
		$c =~ /("(?:[^"\\\n]|\\.)*tr:(?:[^"\\\n]|\\.)*")/g;
}
is_deeply(\@spelled, [], 'no C file spells a Redis key name');

# and the key prefix is src/tokenroute_key.h's TOKENROUTE_KEY_PREFIX
my @prefix;
for my $f (glob($t->repo . '/ngx_http_tokenroute_module.c '
	. join ' ', map { $t->repo . "/src/$_" } qw(*.c *.h */*.c */*.h)))
{
	next if $f =~ m{/tokenroute_key\.h$};
	my $c = TokenRoute::Test::_slurp($f) =~ s{/\*.*?\*/}{}gsr;
	push @prefix, ($f =~ s{.*/}{}r) if $c =~ /"[^"\n]*sk-tr-/;
}
is_deeply(\@prefix, [], '"sk-tr-" is defined once, in src/tokenroute_key.h');

###############################################################################

done_testing();

###############################################################################
