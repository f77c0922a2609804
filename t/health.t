#!/usr/bin/perl

# (C) tokenroute authors

# Tests for tokenroute_health (README "Metrics and health"): 200 and a
# JSON body while this worker's Redis connection is up and the settlement
# journal has room; 503 with the same body when the test's redis-server
# is stopped (by its PID), 200 again once it is back; 503 when the
# journal is full (a small tokenroute_journal_size, Redis down, the
# settlements of the streams in flight).

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Prom qw(parse value);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

$t->start_gateway(http => <<'EOF', server => <<'EOF2');
tokenroute_journal_size 64k;
tokenroute_model h/stream provider=mockai upstream_model=gpt-usage-10-5 input_price=1 output_price=1;
EOF
location = /health {
    tokenroute_health;
}
location = /metrics {
    tokenroute_metrics;
}
EOF2

# the journal may overflow below: what it then loses is logged as alerts
$t->allow_log(qr/settlement journal full/);

my $key = $t->create_key(name => 'health');

sub health {
	my $r = $t->http(method => 'GET', path => '/health');
	$r->{json} = eval { JSON::PP->new->decode($r->{body}) };
	return $r;
}

sub metrics {
	my ($m, $e) = parse($t->http(method => 'GET', path => '/metrics')->{body});
	is_deeply($e, [], 'metrics: strict Prometheus text');
	return $m;
}

sub shape_ok {
	my ($r, $name) = @_;
	my $j = $r->{json};
	ok(ref $j eq 'HASH' && defined $j->{status} && defined $j->{redis}
		&& ref $j->{journal} eq 'HASH'
		&& $j->{journal}{entries} =~ /^\d+$/
		&& $j->{journal}{bytes} =~ /^\d+$/
		&& $j->{journal}{capacity} =~ /^\d+$/,
		"$name: the JSON shape") or diag($r->{body});
	like($r->{headers}{'content-type'} // '', qr{^application/json},
		"$name: application/json");
}

###############################################################################

my $r = health();
is($r->{status}, 200, 'Redis up: 200');
shape_ok($r, 'up');
is($r->{json}{status}, 'ok', 'up: status ok');
is($r->{json}{redis}, 'up', 'up: redis up');
is($r->{json}{journal}{entries}, 0, 'up: the journal is empty');
is($r->{json}{journal}{capacity}, 64 * 1024, 'up: its capacity');
is($r->{json}{journal}{full}, JSON::PP::false, 'up: not full');

# cheap: no Redis round trip per call

my $info = $t->redis('INFO', 'stats');
my ($before) = $info =~ /total_commands_processed:(\d+)/;
health() for 1 .. 20;
($info) = $t->redis('INFO', 'stats');
my ($after) = $info =~ /total_commands_processed:(\d+)/;
cmp_ok($after - $before, '<', 10, '20 health checks: no Redis command each')
	or diag("$before -> $after");

###############################################################################

# Redis stopped: 503 with the same shape; back: 200

is($t->redis('SAVE'), 'OK', 'a snapshot: Redis comes back with its data');
$t->stop_redis();

ok($t->wait_until(3, sub { health()->{status} == 503 }),
	'Redis stopped: 503');
$r = health();
shape_ok($r, 'down');
is($r->{json}{status}, 'fail', 'down: status fail');
is($r->{json}{redis}, 'down', 'down: redis down');

my $m = metrics();
is(value($m, 'tokenroute_redis_connected', worker => 0), 0,
	'down: the worker\'s Redis gauge is 0');
my $reconnects = value($m, 'tokenroute_redis_reconnects_total');

$t->start_redis();

ok($t->wait_until(6, sub { health()->{status} == 200 }),
	'Redis back: 200 again');
is(health()->{json}{redis}, 'up', 'back: redis up');

$m = metrics();
is(value($m, 'tokenroute_redis_connected', worker => 0), 1,
	'back: the worker\'s Redis gauge is 1');
is(value($m, 'tokenroute_redis_reconnects_total'), $reconnects + 1,
	'back: one reconnect counted');

###############################################################################

# A full journal: streams in flight when Redis goes, their settlements
# fill the 64k journal

my @h;
for my $i (1 .. 70) {
	push @h, $t->http_start(method => 'POST', path => '/v1/chat/completions',
		headers => [ Authorization => "Bearer $key->{raw}",
			'x-mock-delay' => '0.4' ],
		body => { model => 'h/stream', stream => JSON::PP::true,
			messages => [ { role => 'user', content => "s$i" } ] },
		timeout => 20);
}

my $started = 0;
for my $h (@h) {
	my ($status) = $t->http_read_events($h, 1, timeout => 10);
	$started++ if $status == 200;
}
is($started, 70, '70 streams admitted and started');

my $m0 = metrics();

$t->redis('SAVE');
$t->stop_redis();

$t->http_finish($_, timeout => 20) for @h;

ok($t->wait_until(5, sub { health()->{json}{journal}{full} }),
	'the journal fills up');
$r = health();
is($r->{status}, 503, 'journal full: 503');
shape_ok($r, 'full');
cmp_ok($r->{json}{journal}{entries}, '>=', 40, 'full: its entries')
	or diag($r->{body});
cmp_ok($r->{json}{journal}{bytes}, '<=', 64 * 1024, 'full: its bytes');

my $m1 = metrics();
my $written = value($m1, 'tokenroute_journal_writes_total')
	- value($m0, 'tokenroute_journal_writes_total');
my $lost = value($m1, 'tokenroute_journal_lost_total')
	- value($m0, 'tokenroute_journal_lost_total');
is(value($m1, 'tokenroute_journal_entries'), $r->{json}{journal}{entries},
	'metrics: the same entries as health');
is($written, $r->{json}{journal}{entries}, 'metrics: every entry written');
is($written + $lost, 70, 'metrics: the 70 settlements written or lost');
cmp_ok($lost, '>', 0, 'metrics: the overflow counted as lost');

$t->start_redis();

ok($t->wait_until(10, sub { health()->{status} == 200 }),
	'Redis back, the journal replayed: 200');
$r = health();
is($r->{json}{journal}{entries}, 0, 'replayed: the journal is empty');
is($r->{json}{journal}{full}, JSON::PP::false, 'replayed: not full');

my $m2 = metrics();
is(value($m2, 'tokenroute_journal_replays_total')
	- value($m0, 'tokenroute_journal_replays_total'), $written,
	'metrics: every entry replayed once');

###############################################################################

done_testing();

###############################################################################
