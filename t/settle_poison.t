#!/usr/bin/perl

# (C) tokenroute authors

# A settlement Redis rejects does not poison the others (README "Nothing
# lost when Redis blips"): a batch holding one is rejected by the
# settlement script before its first write, split and sent again until
# the good settlements land, each charged exactly once; the bad one is
# tried a few times, then moved to the dead letters (tr:dead, and an
# [alert] with its amounts), and never replayed again.

###############################################################################

use warnings;
use strict;

use Math::BigInt;
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Money qw(usd_nano cost utc_day);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

my ($IP, $OP) = ('1', '1');
my ($http, $server) = $t->default_conf();
$http =~ s/ timeout=1s / timeout=10s / or die "no timeout in the conf\n";
$http .= <<"EOF2";
tokenroute_model p/ok provider=mockai upstream_model=gpt-p-usage-10-20 input_price=$IP output_price=$OP;
EOF2

$t->start_redis();
$t->start_mock();
$t->write_nginx_conf($http, $server);
$t->start_nginx();

$t->allow_log(qr/\[alert\].*moved to tr:dead/);

my $FUND = usd_nano(1000);
my $C = cost(in => 10, out => 20, price => usd_nano($IP),
	out_price => usd_nano($OP));

my %key = map { $_ => $t->create_key(name => $_, account => $_) }
	qw(good1 good2 good3 good4 good5 good6 poison badkey);

# a field Redis cannot increment: every write of this account's spent
# fails (admission reads only credit and reserved); likewise badkey's own
# spent (admission reads it as 0).  An amount past 2^53 cannot come from
# a provider's report (the charge is clamped to the reservation:
# t/money_limits.t); t/scripts.t feeds the script such amounts directly.
$t->redis('HSET', 'tr:acct:poison', 'spent', 'not a number');
$t->redis('HSET', 'tr:key:' . $t->key_hash($key{badkey}{raw}), 'spent',
	'not a number');

sub replayed {
	my ($n, $log) = (0, $t->error_log());
	$n += $1 while $log =~ /replaying (\d+) journaled/g;
	return $n;
}

###############################################################################

# all eight admitted; the provider answers good1 first, the others 0.6 s
# later, while Redis holds writes: their settlements queue up behind
# good1's and go as one batch, poison and badkey among them

my @plan = map { [ $_, 'p/ok',
	$_ eq 'good1' ? 0.4 : 1 ] } sort keys %key;

my $pause = fork() // die "fork: $!\n";

if ($pause == 0) {
	$t->wait_until(5, sub { $t->redis('HLEN', 'tr:rsvd') == 8 });
	eval { $t->redis('CLIENT', 'PAUSE', 2000, 'WRITE') };
	POSIX::_exit(0);
}

my @res = $t->http_parallel(map { {
	method => 'POST', path => '/v1/chat/completions',
	headers => [ Authorization => "Bearer $key{ $_->[0] }{raw}",
		'Content-Type' => 'application/json',
		'x-mock-wait' => $_->[2] ],
	body => qq({"model":"$_->[1]","max_tokens":50,)
		. qq("messages":[{"role":"user","content":"Hi"}]}),
	timeout => 30,
} } @plan);

waitpid($pause, 0);

is(scalar(grep { $_->{status} == 200 } @res), 8, 'all 8 answered');

my %rid = map { $plan[$_][0] => $res[$_]{headers}{'x-tokenroute-request-id'}
	// '' } 0 .. $#plan;

ok($t->wait_until(15, sub { $t->redis('LLEN', 'tr:dead') >= 2 }),
	'the two bad settlements reach the dead letters');

my @good = grep { /^good/ } sort keys %key;

like($t->error_log(), qr/Redis rejected a batch of [2-8] settlements/,
	'the bad ones came in a batch with good ones, which was split');

for my $a (@good) {
	my $h = $t->redis_hash("tr:acct:$a");
	is($h->{credit}, $FUND - $C, "$a: charged once");
	is($h->{reserved}, 0, "$a: nothing reserved");
	ok($t->settled($rid{$a}), "$a: settled");
}

my $dead = $t->redis('LRANGE', 'tr:dead', 0, -1);
is(scalar @$dead, 2, 'two dead letters');

my ($p) = grep { /^\Q$rid{poison}\E / } @$dead;
like($p // '', qr/^\Q$rid{poison}\E poison \Q$key{poison}{id}\E p\/ok \d+ $C 10 20 0 0 .*tr:acct:poison/,
	'poison: request id, account, key, model, time, amounts, the error');
my ($h) = grep { /^\Q$rid{badkey}\E / } @$dead;
like($h // '', qr/^\Q$rid{badkey}\E badkey \Q$key{badkey}{id}\E p\/ok \d+ $C 10 20 0 0 .*tr:key:/,
	'badkey: its amounts, and the error names the key');

for my $a (qw(poison badkey)) {
	is($t->redis('HGET', "tr:acct:$a", 'credit'), $FUND,
		"$a: never charged");
	like($t->error_log(), qr/\[alert\].*settlement \Q$rid{$a}\E .*moved to tr:dead.*cost/,
		"$a: an alert with its amounts");
	my @n = $t->error_log() =~ /\[alert\].*\Q$rid{$a}\E/g;
	is(scalar @n, 1, "$a: alerted once");
}

is($t->redis('HGET', 'tr:acct:poison', 'spent'), 'not a number',
	'poison: its account untouched');

# the journal is empty: nothing is replayed any more, nobody charged again

my $n = replayed();
my %credit = map { $_ => $t->redis('HGET', "tr:acct:$_", 'credit') } @good;
sleep 3.5;
is(replayed(), $n, 'no replays after the dead letters');
is($t->redis('HGET', "tr:acct:$_", 'credit'), $credit{$_},
	"$_: credit unchanged 3.5 s later") for @good;
is($t->redis('LLEN', 'tr:dead'), 2, 'still two dead letters');

my $u = $t->redis_hash('tr:u:d:' . utc_day());
is($u->{"$_||$key{$_}{id}|p/ok|req"}, 1, "$_: usage counted once") for @good;

###############################################################################

# a dead letter Redis will not take either (tr:dead is not a list): it
# waits in the journal, and lands once tr:dead is fixed; alerted once

$t->redis('RENAME', 'tr:dead', 'tr:dead:before');
$t->redis('SET', 'tr:dead', 'not a list');

my $r = $t->http(method => 'POST', path => '/v1/chat/completions',
	headers => [ Authorization => "Bearer $key{poison}{raw}",
		'Content-Type' => 'application/json' ],
	body => '{"model":"p/ok","max_tokens":50,'
		. '"messages":[{"role":"user","content":"Hi"}]}');
is($r->{status}, 200, 'one more poisoned request');
my $rid = $r->{headers}{'x-tokenroute-request-id'} // 'none';

ok($t->wait_until(8, sub {
	$t->error_log() =~ /dead letter of \Q$rid\E not written.*WRONGTYPE/ }),
	'its dead letter cannot be written');
sleep 1.5;
like($t->error_log(), qr/replaying 1 journaled/, 'it waits in the journal');

$t->redis('DEL', 'tr:dead');
ok($t->wait_until(3, sub { $t->redis('LLEN', 'tr:dead') == 1 }),
	'once tr:dead is a list again, it lands');
like($t->redis('LINDEX', 'tr:dead', 0) // '', qr/^\Q$rid\E poison /,
	'the dead letter');
my @n = $t->error_log() =~ /\[alert\].*\Q$rid\E/g;
is(scalar @n, 1, 'alerted once');
is($t->redis('HGET', 'tr:acct:poison', 'credit'), $FUND, 'never charged');

$n = replayed();
sleep 2.5;
is(replayed(), $n, 'and the journal is empty');

###############################################################################

# Redis unable to write at all (maxmemory reached): not the settlement's
# fault; it waits in the journal however long it takes, is not counted
# as rejected, and lands once Redis can write again

# the dead letters keep their reservations: wait for this one's own
my $held = $t->redis('HLEN', 'tr:rsvd');
my $h2 = $t->http_start(method => 'POST', path => '/v1/chat/completions',
	headers => [ Authorization => "Bearer $key{good2}{raw}",
		'Content-Type' => 'application/json', 'x-mock-wait' => 0.5 ],
	body => '{"model":"p/ok","max_tokens":50,'
		. '"messages":[{"role":"user","content":"Hi"}]}');
ok($t->wait_until(3, sub { $t->redis('HLEN', 'tr:rsvd') > $held }),
	'admitted');
$t->redis('CONFIG', 'SET', 'maxmemory', 1);
my $r2 = $t->http_finish($h2);
is($r2->{status}, 200, 'answered while Redis cannot write');
my $rid2 = $r2->{headers}{'x-tokenroute-request-id'} // 'none';

ok($t->wait_until(3, sub {
	$t->error_log() =~ /settlement of 1 requests failed: OOM/ }),
	'its settlement fails: OOM');
sleep 4;
is($t->redis('LLEN', 'tr:dead'), 1, 'not dead-lettered after 4 s');
unlike($t->error_log(), qr/rejected settlement \Q$rid2\E/,
	'nor counted as rejected');

$t->redis('CONFIG', 'SET', 'maxmemory', 0);
ok($t->wait_until(3, sub { $t->settled($rid2) }), 'settled once Redis writes');
is($t->redis('HGET', 'tr:acct:good2', 'credit'), $FUND - 2 * $C,
	'charged once');

###############################################################################

done_testing();

###############################################################################
