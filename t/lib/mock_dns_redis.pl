#!/usr/bin/perl

# (C) tokenroute authors

# A minimal DNS responder for t/redis_resolve.t (UDP, 127.0.0.1 only):
# every question is answered from FILE, read anew for each question, so
# that a test changes the answer by rewriting it.  FILE has lines
# "A 127.0.0.1" or "AAAA ::1" (any name gets them); a question for a type
# FILE has no line for gets an empty NOERROR answer.  TTL 1 s.  Each
# question is appended to LOG as "NAME TYPE" (TYPE 1 = A, 28 = AAAA).
#
# usage: mock_dns_redis.pl --port P --answers FILE --log LOG

use warnings;
use strict;

use Getopt::Long;
use IO::Socket::INET;
use Socket qw(inet_pton AF_INET AF_INET6);

my ($port, $answers, $log);
GetOptions('port=i' => \$port, 'answers=s' => \$answers, 'log=s' => \$log)
	and $port and $answers and $log
	or die "usage: $0 --port P --answers FILE --log LOG\n";

my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
	Proto => 'udp') or die "bind 127.0.0.1:$port: $!\n";

$| = 1;

for (;;) {
	my $peer = $s->recv(my $q, 512) // next;
	next if length $q < 12;

	my ($id, $flags, $qd) = unpack('n n n', $q);
	next if $qd != 1;

	# the question: labels, then type and class

	my ($off, @labels) = (12);
	while ($off < length $q) {
		my $n = ord substr($q, $off, 1);
		$off++;
		last if $n == 0;
		push @labels, substr($q, $off, $n);
		$off += $n;
	}
	next if $off + 4 > length $q;

	my ($type, $class) = unpack('n n', substr($q, $off, 4));
	my $question = substr($q, 12, $off + 4 - 12);
	my $name = join('.', @labels);

	if (open my $l, '>>', $log) {
		print $l "$name $type\n";
		close $l;
	}

	my @rr;
	if (open my $f, '<', $answers) {
		while (<$f>) {
			my ($t, $addr) = split;
			next unless defined $addr;
			if ($t eq 'A' && $type == 1) {
				push @rr, pack('n n n N n', 0xc00c, 1, 1, 1, 4)
					. inet_pton(AF_INET, $addr);
			} elsif ($t eq 'AAAA' && $type == 28) {
				push @rr, pack('n n n N n', 0xc00c, 28, 1, 1, 16)
					. inet_pton(AF_INET6, $addr);
			}
		}
		close $f;
	}

	# QR, opcode 0, RD copied, RA; NOERROR
	my $rflags = 0x8000 | ($flags & 0x0100) | 0x0080;

	$s->send(pack('n n n n n n', $id, $rflags, 1, scalar @rr, 0, 0)
		. $question . join('', @rr), 0, $peer);
}
