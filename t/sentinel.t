#!/usr/bin/perl

# (C) tokenroute authors

# Tests for "Redis Sentinel" (README): tokenroute_redis sentinel=...
# master=NAME finds the master through a real sentinel (redis-server
# --sentinel, quorum 1) and follows a failover: the master is killed
# (SIGKILL), the sentinel promotes the replica, and the gateway serves
# from it within a few seconds.  Requests in flight across the switch
# settle through the journal: at the end the key's spend and the usage
# records on the new master are exactly what the clients were served.
# The CLI finds the master through a redis-sentinel:// URL.

###############################################################################

use warnings;
use strict;

use IO::Select;
use JSON::PP;
use Math::BigInt;
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Sentinel qw(start_sentinel sentinel_conf);
use TokenRoute::Money qw(usd_nano cost utc_day);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

my ($M, $R, $S) = start_sentinel($t);

sub rcmd { $t->redis_at(@_) }

my ($IP, $OP) = ('0.333333', '1.777777');
my %P = (price => usd_nano($IP), out_price => usd_nano($OP));
my $C1 = cost(in => 40, out => 567, %P);
my $C2 = cost(in => 30, out => 300, %P);

my ($http, $server) = sentinel_conf($t, $S);
$http .= <<"EOF";
tokenroute_model openai/s provider=mockai upstream_model=gpt-s-usage-40-567 input_price=$IP output_price=$OP;
tokenroute_model openai/s-stream provider=mockai upstream_model=gpt-s-usage-30-300 input_price=$IP output_price=$OP;
EOF

$t->start_mock();
$t->write_nginx_conf($http, $server);
$t->start_nginx();

my $key = $t->create_key(account => 'sent');
my $KH = 'tr:key:' . $t->key_hash($key->{raw});

sub request {
	my ($model, %o) = @_;

	my $f = $o{start} ? 'http_start' : 'http';

	return $t->$f(method => 'POST', path => '/v1/chat/completions',
		headers => [ Authorization => "Bearer $key->{raw}",
			%{ $o{headers} || {} } ],
		body => { model => $model, max_tokens => 1000,
			messages => [ { role => 'user', content => 'fail over' } ],
			($o{stream} ? (stream => JSON::PP::true) : ()) },
		timeout => $o{timeout} // 15);
}

sub sum { my $s = Math::BigInt->new(0); $s->badd($_) for @_; $s->bstr() }

# what the key's usage records say it was served, on the master at PORT

sub usage_req {
	my ($port) = @_;
	my %u = @{ rcmd($port, 'HGETALL', 'tr:u:d:' . utc_day()) || [] };
	my $n = 0;
	for my $f (keys %u) {
		$n += $u{$f} if $f =~ /\|\Q$key->{id}\E\|[^|]*\|req$/;
	}
	return $n;
}

###############################################################################

# 1. through the sentinel, to the first master

my @served;

for my $i (1 .. 4) {
	my $r = request('openai/s');
	is($r->{status}, 200, "before the failover: request $i")
		or diag(substr($r->{raw}, 0, 400));
	push @served, $C1 if $r->{status} == 200;
}

ok($t->wait_until(3, sub { (rcmd($M, 'HGET', $KH, 'spent') // 0)
	eq sum(@served) }), 'spent on the first master');

like($t->error_log(), qr/Redis master "trm" is 127\.0\.0\.1:$M/,
	'the worker found the master through the sentinel');

###############################################################################

# 2. two streams and 16 answers in flight, then the master dies: the
# answers come back 0.2 to 3.2 s later, so that some settle while no
# master is known (journaled), some on the new master

my @h = map { request('openai/s-stream', stream => 1, start => 1,
	headers => { 'x-mock-delay' => '0.5' }) } 1 .. 2;

for my $h (@h) {
	my ($status) = $t->http_read_events($h, 1, timeout => 5);
	is($status, 200, 'a stream started before the failover');
}

my @w = map { request('openai/s', start => 1,
	headers => { 'x-mock-wait' => sprintf('%.1f', 0.2 * $_) }) } 1 .. 16;

# all 16 admitted (reserved) before the kill
ok($t->wait_until(5, sub { $t->redis('HLEN', 'tr:rsvd') == 18 }),
	'18 requests in flight');

# what async replication would lose in a crash is not the gateway's to
# fix: the replica has everything the master acknowledged
is(rcmd($M, 'WAIT', 1, 2000), 1, 'the replica caught up');

# a request settles once its client has read the answer and closed:
# the answers are read as they come, during the switch

my %done;

sub finish_ready {
	for my $i (0 .. $#w) {
		next if $done{$i};
		next unless IO::Select->new($w[$i]{s})->can_read(0);
		$done{$i} = $t->http_finish($w[$i], timeout => 5);
	}
}

my $t0 = time();
kill 'KILL', $t->{procs}{redis};

my ($first, $n503) = (undef, 0);

while (time() - $t0 < 15) {
	finish_ready();

	my $r = request('openai/s', timeout => 5);

	if ($r->{status} == 200) {
		$first = time();
		push @served, $C1;
		last;
	}

	$n503++ if $r->{status} == 503;
	sleep 0.1;
}

ok(defined $first, 'the gateway serves again after the failover');
my $switch = defined $first ? $first - $t0 : -1;
diag(sprintf('failover: first 200 after %.2f s (%d requests refused '
	. 'meanwhile)', $switch, $n503));
ok($switch > 0 && $switch < 8, 'within a few seconds');

my $addr = rcmd($S, 'SENTINEL', 'get-master-addr-by-name', 'trm');
is($addr->[1], $R, 'the sentinel promoted the replica');

for my $h (@h) {
	my $r = $t->http_finish($h, timeout => 15);
	like($r->{raw}, qr/\[DONE\]/, 'the stream finished for its client');
	push @served, $C2;
}

my $ok = 0;
for my $i (0 .. $#w) {
	my $r = $done{$i} // $t->http_finish($w[$i], timeout => 15);
	$ok++ if $r->{status} == 200;
	push @served, $C1 if $r->{status} == 200;
}
is($ok, 16, 'the answers in flight reached their clients');

my @j = $t->error_log() =~ /settlement \S+ journaled/g;
ok(@j > 0, 'settlements made during the switch were journaled');
diag(scalar(@j) . ' settlements journaled during the switch');

for my $i (1 .. 3) {
	my $r = request('openai/s');
	is($r->{status}, 200, "after the failover: request $i");
	push @served, $C1 if $r->{status} == 200;
}

###############################################################################

# 3. nothing lost, nothing doubled, on the new master

ok($t->wait_until(10, sub { (rcmd($R, 'HGET', $KH, 'spent') // 0)
	eq sum(@served) }), 'spent on the new master: what was served');
is(rcmd($R, 'HGET', $KH, 'spent') // 0, sum(@served), 'spent, exactly');
is(usage_req($R), scalar @served, 'usage records: one per served request');
is(rcmd($R, 'HLEN', 'tr:rsvd'), 0, 'no reservation left behind');

# the journal settled again what the dead master never answered
sleep 1.5;
is(rcmd($R, 'HGET', $KH, 'spent') // 0, sum(@served), 'no late double');

like($t->error_log(), qr/Redis master "trm" is 127\.0\.0\.1:$R/,
	'the worker followed the sentinel to the new master');

###############################################################################

# 4. the CLI through the sentinel

my ($code, $out, $err) = $t->cli_raw('--redis',
	"redis-sentinel://127.0.0.1:$S/trm", 'keys', 'show', $key->{id},
	'--json');
is($code, 0, 'CLI: keys show through redis-sentinel://') or diag($err);
my $shown = eval { JSON::PP->new->decode($out) } || {};
is($shown->{id}, $key->{id}, 'CLI: the key, read from the new master');

($code, $out, $err) = $t->cli_raw('--redis',
	"redis-sentinel://127.0.0.1:$S/nosuch", 'keys', 'list');
isnt($code, 0, 'CLI: an unknown master name fails');
like($err, qr/nosuch/, 'CLI: and says which');

done_testing();

###############################################################################
