#!/usr/bin/perl

# (C) tokenroute authors

# Tests for leases (README "Leases", tokenroute_lease): a key with a fresh
# record and a slice large enough is admitted and settled with no Redis
# command of its own; the slice counts as reserved in Redis; usage and
# spend are exact once the aggregates are flushed, charged once per flush
# id; rate-limited keys and small headroom take the exact path; the key
# rules (unknown, revoked, expired, forbidden) from the cached record;
# leases given back when nginx stops.

###############################################################################

use warnings;
use strict;

use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Money qw(usd_nano);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

$t->start_gateway(http => <<'EOF');
tokenroute_lease zone=lease:1m slice=50 max_age=2s flush=300ms ttl=20s;
tokenroute_model openai/used provider=mockai upstream_model=gpt-usage-100-20 input_price=1 output_price=5;
tokenroute_model openai/full provider=mockai upstream_model=gpt-usage-5000-500 input_price=1 output_price=5;
log_format lease '$tokenroute_key_id $tokenroute_cost $status';
access_log %%TESTDIR%%/lease.log lease;
EOF

sub stat_calls {
	my ($cmd) = @_;
	my $info = $t->redis('INFO', 'commandstats');
	return $info =~ /cmdstat_$cmd:calls=(\d+)/ ? $1 : 0;
}

sub costs {
	my ($id) = @_;
	my ($n, $sum) = (0, 0);
	open my $fh, '<', $t->testdir() . '/lease.log' or return (0, 0);
	while (<$fh>) {
		my ($k, $c, $s) = split;
		next unless $k eq $id && $s == 200;
		$n++;
		$sum += usd_nano($c);
	}
	return ($n, $sum);
}

# the lease records of a key hash in tr:rsvd: outstanding amounts
sub leases {
	my ($kh) = @_;
	my %r = @{ $t->redis('HGETALL', 'tr:rsvd') || [] };
	return map { (split / /, $r{$_})[1] }
		grep { $r{$_} =~ /^$kh \d+ \S+ \S+ - - - -$/ } keys %r;
}

sub chat {
	my ($raw, $model) = @_;
	return $t->chat($raw, model => $model // 'openai/used')->{status};
}

###############################################################################

# the first request takes the exact path and asks for a lease

my $k = $t->create_key(name => 'leased', account => 'lacct');
my $kh = $t->key_hash($k->{raw});

is(chat($k->{raw}), 200, 'first request served');

ok($t->wait_until(3, sub { (leases($kh))[0] }), 'a lease is held in Redis');

my ($held) = leases($kh);
my %key = %{ $t->redis_hash("tr:key:$kh") };
my %acct = %{ $t->redis_hash('tr:acct:lacct') };

cmp_ok($key{reserved}, '>=', $held, 'the lease counts as key reserved');
cmp_ok($acct{reserved}, '>=', $held, 'and as account reserved');

# admitted from the lease: no admission script per request

sleep 0.4;
my $evals = stat_calls('evalsha');
my $N = 40;
my $ok = 0;
$ok += chat($k->{raw}) == 200 for 1 .. $N;
my $used = stat_calls('evalsha') - $evals;

is($ok, $N, "$N requests served");
# without leases: 2 a request (admission, settlement); with them, a few
# per tick of the lease timer (flush, the fleet's cooldowns) and renewals
cmp_ok($used, '<=', $N / 4, "$N leased requests: at most " . $N / 4
	. " scripts ($used)");

# exact after a flush: spend, credit and usage agree with the log

ok($t->wait_until(3, sub {
	my ($n, $sum) = costs($k->{id});
	($t->redis('HGET', "tr:key:$kh", 'spent') // 0) == $sum && $n == $N + 1
}), 'spent equals the costs served, after the flush');

my ($n, $sum) = costs($k->{id});
is($t->redis('HGET', 'tr:acct:lacct', 'spent'), $sum, 'account spent');
is($t->redis('HGET', 'tr:acct:lacct', 'credit'), 1000e9 - $sum,
	'account credit');

my %u = %{ $t->redis_hash('tr:u:h:' . utc_hour()) };
my ($req) = map { $u{$_} } grep { /^lacct\|\|\Q$k->{id}\E\|openai\/used\|req$/ }
	keys %u;
is($req, $N + 1, 'usage: every request counted once');

# the lease's outstanding and the key's reserved stay equal: settled
# costs came off both

ok($t->wait_until(2, sub {
	my ($o) = leases($kh);
	defined $o && ($t->redis('HGET', "tr:key:$kh", 'reserved') // 0) == $o
}), 'key reserved is the lease outstanding');

###############################################################################

# a flush replayed is charged once

{
	my $s = $t->script_text('settle');
	my @agg = ('lacct', '', $kh, $k->{id}, 'openai/used', utc_day(),
		utc_hour(), 1, 'F' x 24 . ':' . 'L' x 24 . ':3', 3000, 30, 6, 0,
		0, 0, 0, 1);
	my $before = $t->redis('HGET', "tr:key:$kh", 'spent');
	is($t->redis('EVAL', $s, 0, 0, @agg), 3, 'aggregate charged: 3');
	is($t->redis('EVAL', $s, 0, 0, @agg), 0, 'the same flush again: 0');
	is($t->redis('HGET', "tr:key:$kh", 'spent'), $before + 3000,
		'spent moved once');
	my %u = %{ $t->redis_hash('tr:u:h:' . utc_hour()) };
	is($u{"lacct||$k->{id}|openai/used|fail"}, 1, 'fail counted');
}

###############################################################################

# a lease whose gateway died: the sweep releases it at its deadline, and
# ends no request in flight (a lease is none)

{
	my $d = $t->create_key(name => 'dead-gw', account => 'dacct');
	my $dh = $t->key_hash($d->{raw});
	$t->redis('HSET', "tr:key:$dh", 'inflight', 3);
	my $now = int(time());
	my $g = $t->redis('EVAL', $t->script_text('lease'), 0, 'get', $now,
		$now + 5, $dh, 'D' x 24, 1000000, 0);
	is($g->[0], 'ok', 'lease script: ok');
	is($g->[7], 1000000, 'lease script: granted what was asked');
	is($g->[8], 'live', 'lease script: live');
	is($t->redis('HGET', "tr:key:$dh", 'reserved'), 1000000,
		'lease reserved on the key');
	my $again = $t->redis('EVAL', $t->script_text('lease'), 0, 'get', $now,
		$now + 5, $dh, 'E' x 24, 0, 1);
	is($again->[8], 'gone', 'a lease Redis does not hold: gone');
	$t->redis('EVAL', $t->script_text('sweep'), 0, $now + 10);
	is($t->redis('HGET', "tr:key:$dh", 'reserved'), 0, 'swept: key');
	is($t->redis('HGET', 'tr:acct:dacct', 'reserved'), 0, 'swept: account');
	is($t->redis('HGET', "tr:key:$dh", 'inflight'), 3,
		'swept: no request in flight ended');
	is($t->redis('EXISTS', 'tr:swept:' . 'D' x 24), 0, 'no swept marker');
}

###############################################################################

# rate-limited keys are exact: a script per request, and the 429

my $rl = $t->create_key(name => 'limited', account => 'lacct');
my $rh = $t->key_hash($rl->{raw});
$t->redis('HSET', "tr:key:$rh", 'rpm', 5);

is(chat($rl->{raw}), 200, 'rate-limited key served');
sleep 0.5;
$evals = stat_calls('evalsha');
my @st = map { chat($rl->{raw}) } 1 .. 6;
cmp_ok(stat_calls('evalsha') - $evals, '>=', 6, 'a script per request');
is($st[-1], 429, 'rpm still enforced');
is(scalar leases($rh), 0, 'no lease for a rate-limited key');

###############################################################################

# the key rules from the cached record: forbidden, unknown, revoked

my $m = $t->create_key(name => 'models', models => 'openai/used',
	account => 'lacct');
is(chat($m->{raw}), 200, 'allowed model');
sleep 0.5;
# (10 requests: an admission script each without the cache; with it,
# at most the lease timer's few ticks meanwhile)
$evals = stat_calls('evalsha');
is(chat($m->{raw}, 'openai/gpt-4o-mini'), 403, 'forbidden model') for 1 .. 10;
cmp_ok(stat_calls('evalsha') - $evals, '<=', 3, 'forbidden from the cache');

is(chat('sk-tr-unknownunknownunknownunknown'), 401, 'unknown key');
sleep 0.5;
$evals = stat_calls('evalsha');
is(chat('sk-tr-unknownunknownunknownunknown'), 401, 'unknown again')
	for 1 .. 10;
cmp_ok(stat_calls('evalsha') - $evals, '<=', 3, 'unknown from the cache');

my ($rc) = $t->cli('keys', 'revoke', $m->{id});
is($rc, 0, 'revoked');
ok($t->wait_until(3, sub { chat($m->{raw}) == 401 }),
	'revocation seen within max_age');

###############################################################################

# a headroom too small for a slice: the exact path, the limit holds

my $s = $t->create_key(name => 'small', account => 'lacct', limit => 0.002);
my $sh = $t->key_hash($s->{raw});
my @small = map { chat($s->{raw}) } 1 .. 6;
is((grep { $_ == 200 } @small) > 0 ? 1 : 0, 1, 'small: served');
is(scalar(grep { $_ != 200 && $_ != 402 } @small), 0, 'small: 200 or 402');
ok($t->wait_until(3, sub {
	($t->redis('HGET', "tr:key:$sh", 'spent') // 0) <= 2_000_000 }),
	'small: never spent over its limit');

###############################################################################

# the last headroom of a key is not refused for its own gateway's slice:
# R is what a request of openai/full reserves and costs (its usage is
# clamped to the bounds); a key limited to 2R serves two

{
	my $probe = $t->create_key(name => 'probe', account => 'lacct',
		limit => '0.000001');
	my $res = $t->chat($probe->{raw}, model => 'openai/full');
	my ($upto) = ($res->{json}{error}{message} // '')
		=~ /up to \$?([0-9]+(?:\.[0-9]+)?) USD/;
	my $R = usd_nano($upto // 0);
	ok($R > 0, "a request reserves $R");

	my $two = $t->create_key(name => 'two', account => 'lacct',
		limit => sprintf('%.9f', 2 * $R / 1e9));
	my $th = $t->key_hash($two->{raw});
	is(chat($two->{raw}, 'openai/full'), 200, 'limit 2R: the first');
	ok($t->wait_until(3, sub { (leases($th))[0] }),
		'a slice of what is left is leased');
	ok($t->wait_until(3, sub {
		($t->redis('HGET', "tr:key:$th", 'spent') // 0) == $R }),
		'the first charged R');
	is(chat($two->{raw}, 'openai/full'), 200,
		'limit 2R: the second, the slice given back first');
	is(chat($two->{raw}, 'openai/full'), 402, 'limit 2R: no third');
	ok($t->wait_until(3, sub {
		($t->redis('HGET', "tr:key:$th", 'spent') // 0) == 2 * $R }),
		'spent 2R');
}

###############################################################################

# nginx stops: the leases are given back, reserved returns to 0

$t->stop_nginx();

ok($t->wait_until(3, sub {
	($t->redis('HGET', "tr:key:$kh", 'reserved') // 0) == 0
	&& ($t->redis('HGET', 'tr:acct:lacct', 'reserved') // 0) == 0
}), 'reserved back to 0 at shutdown') or diag(explain(
	[ $t->redis('HGETALL', 'tr:rsvd'), $t->redis_hash('tr:acct:lacct') ]));

my ($n2, $sum2) = costs($k->{id});
is($t->redis('HGET', "tr:key:$kh", 'spent'), $sum2 + 3000,
	'spent exact after shutdown');

done_testing();

###############################################################################

sub utc_hour {
	my @g = gmtime(time());
	return sprintf('%04d%02d%02d%02d', $g[5] + 1900, $g[4] + 1, $g[3],
		$g[2]);
}

sub utc_day { substr(utc_hour(), 0, 8) }
