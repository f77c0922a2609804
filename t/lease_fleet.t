#!/usr/bin/perl

# (C) tokenroute authors

# Tests for leases across a fleet (README "Leases"): two gateways on one
# Redis, each holding a lease of the same key with a small limit, hundreds
# of concurrent requests: the key never spends more than its limit, and
# what it spent is exactly what was served.

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

my $conf = <<'EOF';
tokenroute_lease zone=lease:1m slice=8 max_age=1s flush=100ms ttl=20s;
tokenroute_model openai/used provider=mockai upstream_model=gpt-usage-100-20 input_price=1 output_price=5;
log_format lease '$tokenroute_key_id $tokenroute_cost $status';
access_log %%TESTDIR%%/lease.log lease;
EOF

$t->start_gateway(http => $conf);
$t->start_nginx_instance('gw2', http => $conf);

my @ports = ($t->port('http'), $t->port('gw2'));

# about 0.0002 USD a request, 0.0004 reserved: a limit of about 40
my $LIMIT = 0.008;
my $k = $t->create_key(name => 'fleet', account => 'fleet',
	limit => $LIMIT);
my $kh = $t->key_hash($k->{raw});

sub req {
	my ($port) = @_;
	return { method => 'POST', path => '/v1/chat/completions',
		port => $port,
		headers => [ Authorization => "Bearer $k->{raw}" ],
		body => { model => 'openai/used', max_tokens => 50,
			messages => [ { role => 'user', content => 'Hi' } ] } };
}

sub served {
	my ($n, $sum) = (0, 0);
	for my $f ($t->testdir . '/lease.log', $t->testdir . '/gw2/lease.log') {
		open my $fh, '<', $f or next;
		while (<$fh>) {
			my ($id, $c, $s) = split;
			next unless $id eq $k->{id} && $s == 200;
			$n++;
			$sum += usd_nano($c);
		}
	}
	return ($n, $sum);
}

###############################################################################

# both gateways take a lease first: one request each, then a pause

is($t->http(%{ req($_) })->{status}, 200, "gateway on $_ serves")
	for @ports;
sleep 0.3;

my %status;

for my $wave (1 .. 5) {
	my @res = $t->http_parallel(map { req($ports[$_ % 2]) } 1 .. 60);
	$status{ $_->{status} }++ for @res;
}

note(explain(\%status));
ok($status{200} && $status{402}, 'some served, then 402 at the limit');
is(scalar(grep { $_ != 200 && $_ != 402 } keys %status), 0,
	'only 200 and 402');

ok($t->wait_until(5, sub {
	my ($n, $sum) = served();
	($t->redis('HGET', "tr:key:$kh", 'spent') // 0) == $sum
}), 'spent equals what was served, after the flushes');

my ($n, $sum) = served();
my $spent = $t->redis('HGET', "tr:key:$kh", 'spent');
cmp_ok($spent, '<=', usd_nano($LIMIT), "never spent over the limit ($n "
	. "served, $spent)");
is($t->redis('HGET', 'tr:acct:fleet', 'spent'), $spent, 'account spent');

$t->stop_nginx_instance('gw2');
$t->stop_nginx();

ok($t->wait_until(3, sub {
	($t->redis('HGET', "tr:key:$kh", 'reserved') // 0) == 0 }),
	'reserved back to 0 once both stopped');

done_testing();
