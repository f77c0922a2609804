#!/usr/bin/perl

# (C) tokenroute authors

# Tests for idle leases given back: a lease no request used for 5 s goes
# back to Redis within about a second more, also when the lease was
# taken long after the worker started (its idle scan reads the entries
# it admitted from or renewed, not the whole zone, which it reads only
# at its start and every 16th second).

###############################################################################

use warnings;
use strict;

use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Lease qw(lease_gateway used_chat);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

lease_gateway($t, http => '', server => '');

# the worker past its first scans (those read the whole zone)
sleep 3;

sub held {
	my ($kh) = @_;
	my %r = @{ $t->redis('HGETALL', 'tr:rsvd') || [] };
	return scalar grep { $r{$_} =~ /^$kh \d+ \S+ \S+ - - - -$/ } keys %r;
}

for my $round (1, 2) {
	my $k = $t->create_key(account => "idle$round");
	my $kh = $t->key_hash($k->{raw});

	is(used_chat($t, $k->{raw}), 200, "round $round: served");
	ok($t->wait_until(3, sub { held($kh) }), "round $round: a lease");

	my $t0 = time();
	ok($t->wait_until(9, sub { !held($kh) }),
		"round $round: given back once idle");

	my $took = time() - $t0;
	cmp_ok($took, '>=', 4, "round $round: not before it was idle");
	cmp_ok($took, '<', 8.5, "round $round: within its idle time and a scan")
		or diag("took $took s");
	is($t->redis('HGET', "tr:key:$kh", 'reserved') // 0, 0,
		"round $round: nothing reserved on the key");
}

done_testing();

###############################################################################
