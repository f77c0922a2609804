#!/usr/bin/perl

# (C) tokenroute authors

# Leases (README "Leases", "Nothing lost when Redis blips"): an aggregate
# of leased requests Redis keeps rejecting is moved to the dead letters
# with what an operator needs to charge it by hand: beside its flush id,
# account, key id, model, time and amounts, its request count, failed
# requests, lease id, key hash, tenant and usage hour; the [alert] too.

###############################################################################

use warnings;
use strict;

use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Lease qw(lease_gateway);
use TokenRoute::Money qw(utc_hour);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

lease_gateway($t, models => <<'EOF');
tokenroute_model p/ok provider=mockai upstream_model=gpt-p-usage-10-20 input_price=1 output_price=1;
EOF

$t->allow_log(qr/\[alert\].*moved to tr:dead/);

my $k = $t->create_key(name => 'dl', account => 'poison');
my $kh = $t->key_hash($k->{raw});

sub chat {
	return $t->chat($k->{raw}, model => 'p/ok')->{status};
}

sub lease_ids {
	my %r = @{ $t->redis('HGETALL', 'tr:rsvd') || [] };
	my @ids = grep { $r{$_} =~ /^$kh \d+ / } keys %r;
	return @ids;
}

###############################################################################

is(chat(), 200, 'first request: exact');
ok($t->wait_until(3, sub { lease_ids() }), 'a lease held');
my ($lease) = lease_ids();

# every write of the account's spent fails from now on

$t->redis('HSET', 'tr:acct:poison', 'spent', 'not a number');

sleep 0.3;
my $ok = 0;
$ok += chat() == 200 for 1 .. 3;
is($ok, 3, 'three leased requests');

ok($t->wait_until(20, sub {
	grep { / aggregate / } @{ $t->redis('LRANGE', 'tr:dead', 0, -1) } }),
	'the aggregate reaches the dead letters');

my ($line) = grep { / aggregate / } @{ $t->redis('LRANGE', 'tr:dead', 0, -1) };
my $hour = utc_hour();

like($line, qr/^\S+ poison \Q$k->{id}\E p\/ok \d+ \d+ \d+ \d+ 0 0 aggregate /,
	'flush id, account, key id, model, time, amounts');
like($line, qr/ aggregate \d+ 0 \Q$lease\E $kh - \d{10}: /,
	'request count, failed, lease id, key hash, tenant, hour');
my ($n, $h) = $line =~ / aggregate (\d+) 0 \S+ \S+ - (\d{10}):/;
ok(defined $n && $n >= 1 && $n <= 3, "the requests it holds ($n)");
ok(defined $h && ($h eq $hour || $h eq utc_hour(time() - 60)),
	'its usage hour');
like($line, qr/tr:acct:poison/, 'and the error');

like($t->error_log(),
	qr/\[alert\].*moved to tr:dead.*aggregate of \d+ requests \(0 failed\), lease \Q$lease\E, key hash $kh, tenant -, hour \d{10}/,
	'the alert says so too');

done_testing();
