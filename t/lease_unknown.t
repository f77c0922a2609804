#!/usr/bin/perl

# (C) tokenroute authors

# Leases (README "Leases"): a flood of unknown keys (each a 401) does not
# take the zone's entries of keys that hold a lease: the real key's lease
# stays held in Redis and its requests stay fast.  The zone is the
# smallest (a table of a few dozen entries), so that every unknown key
# lands among the real key's probed slots.

###############################################################################

use warnings;
use strict;

use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Lease qw(lease_gateway used_chat evalsha_calls);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

lease_gateway($t, zone => '32k');

# the lease ids of a key hash in tr:rsvd
sub lease_ids {
	my ($kh) = @_;
	my %r = @{ $t->redis('HGETALL', 'tr:rsvd') || [] };
	my @ids = sort grep { $r{$_} =~ /^$kh \d+ / } keys %r;
	return @ids;
}

###############################################################################

my $k = $t->create_key(name => 'real', account => 'uacct');
my $kh = $t->key_hash($k->{raw});

is(used_chat($t, $k->{raw}), 200, 'the real key served');
ok($t->wait_until(3, sub { lease_ids($kh) }), 'its lease held in Redis');
my @before = lease_ids($kh);

sleep 0.3;
is(used_chat($t, $k->{raw}), 200, 'served from its lease');

# 500 unknown keys, a 401 each, every one newer than the real key's entry

my $n401 = 0;
for my $i (1 .. 500) {
	$n401++
		if used_chat($t, sprintf('sk-tr-unknown%08d%024d', $i, $i)) == 401;
}
is($n401, 500, "500 unknown keys refused");

sleep 0.5;

is_deeply([ lease_ids($kh) ], \@before,
	'the real key still holds the same lease');

my $e = evalsha_calls($t);
my $ok = 0;
$ok += used_chat($t, $k->{raw}) == 200 for 1 .. 10;
is($ok, 10, 'the real key served on');
cmp_ok(evalsha_calls($t) - $e, '<=', 4, 'from its lease, with few scripts');

done_testing();
