#!/usr/bin/perl

# (C) tokenroute authors

# Tests for cooldowns shared by a fleet (README "Fallback", "Running a
# fleet"): two gateways (A, the main nginx, and B, another instance) on
# one Redis.  A model that answers 429 (or keeps failing) on A cools on B
# too: B's next request goes straight to the fallback without trying it;
# after the window both try it again.  A third gateway (C) that does not
# know the model ignores the entry; damaged entries are ignored; while
# Redis is down the cooldown works locally as it always did, and reaches
# the fleet once Redis is back.  The steady state costs one GET per
# admission batch, no hash read.

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

my $models = <<'EOF';
tokenroute_cooldown 3s failures=2;
tokenroute_model f/quota provider=mockai upstream_model=gpt-quota-error-429-ra3 input_price=1 output_price=1 fallback=f/ok;
tokenroute_model f/down provider=mockai upstream_model=gpt-down-error-503 input_price=1 output_price=1 fallback=f/ok;
tokenroute_model f/blip provider=mockai upstream_model=gpt-blip-error-429-ra8 input_price=1 output_price=1 fallback=f/ok;
tokenroute_model f/ok provider=mockai upstream_model=gpt-ok-usage-10-5 input_price=1 output_price=1;
EOF

# C knows none of A's cooling models; its g/quota is the same upstream
my $models_c = <<'EOF';
tokenroute_cooldown 3s failures=2;
tokenroute_model g/quota provider=mockai upstream_model=gpt-quota-error-429-ra3 input_price=1 output_price=1 fallback=f/ok;
tokenroute_model f/ok provider=mockai upstream_model=gpt-ok-usage-10-5 input_price=1 output_price=1;
EOF

$t->start_gateway(http => $models);
$t->start_nginx_instance('b', http => $models);
$t->start_nginx_instance('c', http => $models_c);

my %port = (A => $t->port('http'), B => $t->port('b'), C => $t->port('c'));

my $key = $t->create_key(name => 'fleet', account => 'fleet');

sub req {
	my ($gw, $model, %o) = @_;
	return {
		method => 'POST',
		path => '/v1/chat/completions',
		port => $port{$gw},
		headers => {
			Authorization => "Bearer $key->{raw}",
			'content-type' => 'application/json',
			%{ $o{headers} // {} },
		},
		body => { model => $model, max_tokens => 20,
			messages => [ { role => 'user', content => 'Hi' } ] },
		timeout => 20,
	};
}

sub chat { $t->http(%{ req(@_) }) }

# how many attempts the mock received for this upstream model
sub tried {
	my ($upstream) = @_;
	return scalar grep { $_->{json} && ($_->{json}{model} // '') eq $upstream }
		$t->mock_requests;
}

sub entry {
	my ($model) = @_;
	return $t->redis('HGET', 'tr:cooldown', $model);
}

my ($Q, $D, $BL, $OK) = ('gpt-quota-error-429-ra3', 'gpt-down-error-503',
	'gpt-blip-error-429-ra8', 'gpt-ok-usage-10-5');

###############################################################################

# 1. A 429 on A (retry-after: 3) cools f/quota for the fleet.

$t->clear_mock_requests;

my $t0 = time();
my $r = chat('A', 'f/quota');
is($r->{status}, 200, 'A: 200');
is($r->{headers}{'x-tokenroute-attempts'}, 2, 'A: after 2 attempts');
is(tried($Q), 1, 'A tried f/quota once');

# A sends nothing more: the cooldown goes out on its own, soon
ok($t->wait_until(2, sub { defined entry('f/quota') }),
	'the cooldown reached Redis without another request');
my ($until, $status) = split / /, entry('f/quota') // '';
cmp_ok(abs(($until // 0) - ($t0 + 3) * 1000), '<', 1500,
	'its deadline: wall-clock ms, 3 s after the 429');
is($status, 429, 'and the status that started it');

$t->clear_mock_requests;

$r = chat('B', 'f/quota');
is($r->{status}, 200, 'B: 200');
is($r->{headers}{'x-tokenroute-model'}, 'f/ok', 'B: served by the fallback');
is($r->{headers}{'x-tokenroute-attempts'}, 1, 'B: one attempt');
is(tried($Q), 0, 'B made no attempt at f/quota');

# again on B, and on A: neither tries it while it cools
$r = chat('B', 'f/quota');
is($r->{headers}{'x-tokenroute-attempts'}, 1, 'B again: one attempt');
$r = chat('A', 'f/quota');
is($r->{headers}{'x-tokenroute-attempts'}, 1, 'A: one attempt');
is(tried($Q), 0, 'nobody tried f/quota while it cooled');

###############################################################################

# 2. C does not know f/quota: it ignores the entry, and its own g/quota
# (the same upstream, another id) is tried.  C's cooldown of g/quota is
# published, and ignored by A and B.

$t->clear_mock_requests;

$r = chat('C', 'g/quota');
is($r->{status}, 200, 'C: 200');
is($r->{headers}{'x-tokenroute-attempts'}, 2, 'C: its g/quota tried');
is(tried($Q), 1, 'C tried the upstream A and B skip');
ok($t->wait_until(2, sub { defined entry('g/quota') }),
	"C's cooldown published too");

# hostile entries: an unknown id, a known id with a damaged value
$t->redis('HSET', 'tr:cooldown', 'zz/unknown', '99999999999999 429',
	'f/ok', 'soon 429', 'f/down', '-5 x');
$t->redis('INCR', 'tr:cooldown:v');

for my $gw (qw(A B)) {
	$r = chat($gw, 'f/ok');
	is($r->{status}, 200, "$gw: f/ok served despite a damaged entry");
	is($r->{headers}{'x-tokenroute-attempts'}, 1, "$gw: at once");
}

$t->redis('HDEL', 'tr:cooldown', 'zz/unknown', 'f/ok', 'f/down');

###############################################################################

# 3. After the window both try f/quota again (both at the provider at
# once, so that neither learns the other's new 429 first).

my $left = $t0 + 3.3 - time();
sleep $left if $left > 0;

$t->clear_mock_requests;

my @res = $t->http_parallel(map { req($_, 'f/quota',
	headers => { 'x-mock-wait' => '0.5' }) } qw(A B));
is_deeply([ map { $_->{status} } @res ], [ 200, 200 ], 'after: 200, 200');
is_deeply([ map { $_->{headers}{'x-tokenroute-attempts'} } @res ], [ 2, 2 ],
	'after the window: A and B both tried f/quota again');
is(tried($Q), 2, 'two attempts at f/quota');

###############################################################################

# 4. An outage (503, failures=2): two failures on A cool f/down for all.

$t->clear_mock_requests;

$r = chat('A', 'f/down');
is($r->{headers}{'x-tokenroute-attempts'}, 2, 'A: f/down failed once');
sleep 0.5;
$r = chat('B', 'f/down');
is($r->{headers}{'x-tokenroute-attempts'}, 2,
	'B: one failure elsewhere does not cool it');

$r = chat('A', 'f/down');
is($r->{headers}{'x-tokenroute-attempts'}, 2, 'A: f/down failed twice');
ok($t->wait_until(2, sub { defined entry('f/down') }), 'f/down published');
my (undef, $st) = split / /, entry('f/down') // '';
is($st, 503, 'with its status');

$t->clear_mock_requests;
$r = chat('B', 'f/down');
is($r->{status}, 200, 'B: 200');
is($r->{headers}{'x-tokenroute-attempts'}, 1, 'B: straight to f/ok');
is(tried($D), 0, 'B made no attempt at f/down');

###############################################################################

# 5. Redis in the steady state: one GET per admission batch, no hash read,
# no write, for the cooldowns.

sub stats {
	my %s;
	for (split /\r?\n/, $t->redis('INFO', 'commandstats')) {
		$s{$1} = $2 if /^cmdstat_(\w+):calls=(\d+)/;
	}
	return \%s;
}

sleep 3.5;		# every window over: nothing changes any more
chat($_, 'f/ok') for qw(A B);
sleep 0.3;

my $N = 10;
$t->redis('CONFIG', 'RESETSTAT');
for my $i (1 .. $N) {
	$r = chat($i % 2 ? 'A' : 'B', 'f/ok');
	is($r->{status}, 200, "steady $i: 200") unless $r->{status} == 200;
}
sleep 0.5;
my $s = stats();
note(join ' ', map { "$_=$s->{$_}" } sort keys %$s);
is($s->{get} // 0, $N, "the cooldowns cost one GET per admission ($N)");
is($s->{hgetall} // 0, 0, 'no hash read while nothing changed');
is($s->{incr} // 0, 0, 'no version written');

###############################################################################

# 6. Redis down: the cooldown works locally exactly as before, and
# reaches the fleet once Redis is back.

$t->clear_mock_requests;

my $h = $t->http_start(%{ req('A', 'f/blip',
	headers => { 'x-mock-wait' => '1.5' }) });
ok($t->wait_until(3, sub { tried($BL) == 1 }), 'A: f/blip at the provider');
$t->stop_redis();

$r = $t->http_finish($h, timeout => 20);
is($r->{status}, 200, 'A: 200 with Redis gone during the attempt');
is($r->{headers}{'x-tokenroute-attempts'}, 2, 'A: f/blip failed, f/ok served');

sleep 1.5;		# the cooldown's own send finds no Redis

$t->start_redis();
$key = $t->create_key(name => 'fleet2', account => 'fleet2');

$t->clear_mock_requests;

ok($t->wait_until(10, sub {
	$r = chat('A', 'f/blip');
	$r->{status} != 503 }), 'A answers again');
is($r->{status}, 200, 'A: 200');
is($r->{headers}{'x-tokenroute-attempts'}, 1, 'A: f/blip still cools locally');
is(tried($BL), 0, 'A made no attempt at f/blip');

ok($t->wait_until(3, sub { defined entry('f/blip') }),
	'published once Redis is back');

ok($t->wait_until(10, sub {
	$r = chat('B', 'f/blip');
	$r->{status} != 503 }), 'B answers again');
is($r->{status}, 200, 'B: 200');
is($r->{headers}{'x-tokenroute-attempts'}, 1, 'B: f/blip cools on B too');
is(tried($BL), 0, 'B made no attempt at f/blip');

###############################################################################

# 7. The script's rules, called directly: a later deadline wins, an
# earlier one changes nothing (not even the version), entries over are
# deleted when read, a damaged hash never fails an admission.

my $sha = $t->redis('SCRIPT', 'LOAD', $t->script_text('admission'));
my $ms = int(time() * 1000);

sub fleet {
	my ($arg) = @_;
	my $r = $t->redis('EVALSHA', $sha, 0, int(time()), int(time()) + 60,
		$arg);
	return $r->[-1];
}

$t->redis('DEL', 'tr:cooldown', 'tr:cooldown:v');

is_deeply(fleet("$ms 0"), [], 'nothing ever published: no news');
my $got = fleet("$ms 0 s/a " . ($ms + 60000) . ' 429');
my $v1 = $got->[0];
is_deeply($got, [ $v1, 's/a', $ms + 60000, 429 ], 'published, and answered');
cmp_ok($v1, '>=', $ms, 'the version: at least the clock in ms');
is_deeply(fleet("$ms $v1"), [], 'the same version: no news, one GET');

is_deeply(fleet("$ms $v1 s/a " . ($ms + 30000) . ' 503'), [],
	'an earlier deadline changes nothing');
is($t->redis('GET', 'tr:cooldown:v'), $v1, 'not even the version');

$got = fleet("$ms $v1 s/a " . ($ms + 90000) . ' 503');
is_deeply([ @$got[1 .. 3] ], [ 's/a', $ms + 90000, 503 ],
	'a later deadline wins');
cmp_ok($got->[0], '>', $v1, 'and moves the version on');

$t->redis('HSET', 'tr:cooldown', 's/old', ($ms - 1) . ' 429',
	's/bad', 'x y');
$got = fleet("$ms 0");
is_deeply([ @$got[1 .. $#$got] ], [ 's/a', $ms + 90000, 503 ],
	'entries over, or damaged, are not answered');
is_deeply([ sort @{ $t->redis('HKEYS', 'tr:cooldown') } ], [ 's/a' ],
	'and deleted');

is_deeply(fleet("$ms 0 s/gone " . ($ms - 5) . ' 429'), [ $got->[0],
	's/a', $ms + 90000, 503 ], 'a deadline already over is not published');

$t->redis('DEL', 'tr:cooldown');
$t->redis('SET', 'tr:cooldown', 'not a hash');
my $res = $t->redis('EVALSHA', $sha, 0, int(time()), int(time()) + 60,
	$t->key_hash($key->{raw}), 'f/ok', 'rid-dmg', 5, 5,
	"$ms 0 s/a " . ($ms + 1000) . ' 429');
like($res->[0], qr/^ok\n/, 'a damaged tr:cooldown: the admission admits');
is_deeply($res->[1], [ $got->[0] ], 'with no cooldowns');
$t->redis('DEL', 'tr:cooldown');

for my $gw (undef, 'b', 'c') {
	unlike($t->error_log($gw), qr/\[error\].*cooldown|\[crit\]/,
		'no error about cooldowns in ' . ($gw // 'A') . "'s error.log");
}

done_testing();

###############################################################################
