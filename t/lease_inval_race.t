#!/usr/bin/perl

# (C) tokenroute authors

# Leases and pushed invalidations (README "Leases", "Revocation"): a key
# revoked while its record is being read again is not admitted from the
# cache once the change is pushed, though the read's answer, older than
# the change, comes after its message.  Redis answers them in one turn
# of its loop (stopped meanwhile), the message first.

###############################################################################

use warnings;
use strict;

use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Lease qw(lease_gateway used_chat);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

lease_gateway($t);

sub resp {
	my (@cmd) = @_;
	my $req = '*' . scalar(@cmd) . "\r\n";
	$req .= '$' . length($_) . "\r\n$_\r\n" for @cmd;
	return $req;
}

###############################################################################

my $rpid = $t->{procs}{redis};
my $trials = 3;
my $late = 0;

for my $n (1 .. $trials) {
	my $k = $t->create_key(name => "race$n", account => 'racct');
	my $kh = $t->key_hash($k->{raw});

	is(used_chat($t, $k->{raw}), 200, "$n: first request");
	ok($t->wait_until(3, sub {
		my %r = @{ $t->redis('HGETALL', 'tr:rsvd') || [] };
		grep { /^$kh \d+ \S+ \S+ - - - -$/ } values %r;
	}), "$n: a lease");

	# half of max_age later (used meanwhile): the next admission, from
	# the cache, asks for the record again

	for (1 .. 5) {
		sleep 0.9;
		used_chat($t, $k->{raw});
	}
	sleep 0.7;

	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
		PeerPort => $t->port('redis'), Proto => 'tcp', Timeout => 2)
		or die "redis: $!\n";

	kill 'STOP', $rpid;
	is(used_chat($t, $k->{raw}), 200,
		"$n: admitted from the cache, Redis stopped");
	sleep 0.1;

	# the revocation, as the CLI makes it: the record, then the message
	print $s resp('MULTI') . resp('HSET', "tr:key:$kh", 'revoked', '1')
		. resp('PUBLISH', 'tr:inval', $kh) . resp('EXEC');
	sleep 0.1;
	kill 'CONT', $rpid;
	sleep 0.3;
	close $s;

	my $st = used_chat($t, $k->{raw});
	$late++ if $st == 200;
	diag("$n: $st after the revocation was pushed");
}

is($late, 0, 'a pushed revocation is not undone by an older read');

done_testing();
