#!/usr/bin/perl

# (C) tokenroute authors

# Tests for leases when Redis blips (README "Leases"): requests admitted
# from a lease settle while Redis is down; their aggregates go to the
# journal and are replayed once it is back: none lost, none doubled.

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
tokenroute_lease zone=lease:1m slice=50 max_age=3s flush=100ms ttl=30s;
tokenroute_model openai/used provider=mockai upstream_model=gpt-usage-100-20 input_price=1 output_price=5;
log_format lease '$tokenroute_key_id $tokenroute_cost $status';
access_log %%TESTDIR%%/lease.log lease;
EOF

my $k = $t->create_key(name => 'blip', account => 'blip');
my $kh = $t->key_hash($k->{raw});

sub served {
	my ($n, $sum) = (0, 0);
	open my $fh, '<', $t->testdir . '/lease.log' or return (0, 0);
	while (<$fh>) {
		my ($id, $c, $s) = split;
		next unless $id eq $k->{id} && $s == 200;
		$n++;
		$sum += usd_nano($c);
	}
	return ($n, $sum);
}

sub spent { $t->redis('HGET', "tr:key:$kh", 'spent') // 0 }

sub start {
	return $t->http_start(method => 'POST', path => '/v1/chat/completions',
		headers => [ Authorization => "Bearer $k->{raw}",
			'x-mock-delay' => 0.5 ],
		body => { model => 'openai/used', max_tokens => 50,
			messages => [ { role => 'user', content => 'Hi' } ] });
}

###############################################################################

is($t->chat($k->{raw}, model => 'openai/used')->{status}, 200, 'served');
ok($t->wait_until(3, sub {
	$t->redis('HLEN', 'tr:rsvd') > 0 }), 'a lease is held');
sleep 0.3;

my $ok = 0;
$ok += $t->chat($k->{raw}, model => 'openai/used')->{status} == 200
	for 1 .. 10;
is($ok, 10, '10 more served from the lease');

ok($t->wait_until(3, sub { spent() == (served())[1] }), 'flushed');

# requests in flight while Redis goes away, with its data saved

my @h = map { start() } 1 .. 5;
sleep 0.1;
is($t->redis('SAVE'), 'OK', 'snapshot');
$t->stop_redis();

# served from the lease while Redis is down (the record still fresh)
my $down = 0;
$down += $t->chat($k->{raw}, model => 'openai/used')->{status} == 200
	for 1 .. 5;
is($down, 5, 'served from the lease while Redis is down');

my @res = map { $t->http_finish($_, timeout => 10) } @h;
is(scalar(grep { $_->{status} == 200 } @res), 5, 'in flight: served');

sleep 0.5;
like($t->error_log(), qr/journal/i, 'aggregates journaled');

$t->start_redis();

my ($n, $sum) = served();
is($n, 21, '21 served in all');

ok($t->wait_until(8, sub { spent() == $sum }),
	'the journal replay charged every request once')
	or diag('spent ' . spent() . ", served $sum");

sleep 1.5;
is(spent(), $sum, 'and not twice');
is($t->redis('HGET', 'tr:acct:blip', 'spent'), $sum, 'account spent');

$t->stop_nginx();
ok($t->wait_until(3, sub {
	($t->redis('HGET', "tr:key:$kh", 'reserved') // 0) == 0 }),
	'reserved back to 0');

done_testing();
