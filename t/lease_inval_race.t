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

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

$t->start_gateway(http => <<'EOF');
tokenroute_lease zone=lease:1m slice=50 max_age=10s flush=200ms ttl=40s;
tokenroute_model openai/used provider=mockai upstream_model=gpt-usage-100-20 input_price=1 output_price=5;
EOF

sub chat {
	my ($raw) = @_;
	return $t->chat($raw, model => 'openai/used')->{status};
}

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

	is(chat($k->{raw}), 200, "$n: first request");
	ok($t->wait_until(3, sub {
		my %r = @{ $t->redis('HGETALL', 'tr:rsvd') || [] };
		grep { /^$kh \d+ \S+ \S+ - - - -$/ } values %r;
	}), "$n: a lease");

	# half of max_age later (used meanwhile): the next admission, from
	# the cache, asks for the record again

	for (1 .. 5) {
		sleep 0.9;
		chat($k->{raw});
	}
	sleep 0.7;

	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
		PeerPort => $t->port('redis'), Proto => 'tcp', Timeout => 2)
		or die "redis: $!\n";

	kill 'STOP', $rpid;
	is(chat($k->{raw}), 200, "$n: admitted from the cache, Redis stopped");
	sleep 0.1;

	# the revocation, as the CLI makes it: the record, then the message
	print $s resp('MULTI') . resp('HSET', "tr:key:$kh", 'revoked', '1')
		. resp('PUBLISH', 'tr:inval', $kh) . resp('EXEC');
	sleep 0.1;
	kill 'CONT', $rpid;
	sleep 0.3;
	close $s;

	my $st = chat($k->{raw});
	$late++ if $st == 200;
	diag("$n: $st after the revocation was pushed");
}

is($late, 0, 'a pushed revocation is not undone by an older read');

done_testing();
