#!/usr/bin/perl

# (C) tokenroute authors

# A minimal DNS server for the tokenroute tests: answers A and AAAA
# questions over UDP on 127.0.0.1 from a zone file it reads again for
# every question, so a test changes the answer by rewriting the file
# (write a temporary file, then rename it over the zone).  Core Perl
# only: the packets are built and parsed here.
#
# usage: mock_dns.pl --port P --zone FILE [--log FILE]
#
# Zone file, one record a line ("#" starts a comment):
#   NAME A 127.0.0.1 [TTL]     an IPv4 address (TTL seconds, default 1)
#   NAME AAAA ::1 [TTL]        an IPv6 address
#   NAME NXDOMAIN              the name does not exist
#   NAME SERVFAIL              the server fails (rcode 2)
#   NAME DROP                  no answer at all (the client times out)
# A name with records of the other type only is answered NOERROR with no
# answer (NODATA); a name the file does not have is NXDOMAIN.  Names are
# matched without case and without a trailing dot.
#
# The log gets one line per question: "TIME NAME TYPE ANSWER", ANSWER
# being the addresses sent (comma-separated), NODATA, NXDOMAIN, SERVFAIL,
# DROP or FORMERR.

###############################################################################

use warnings;
use strict;

use Getopt::Long;
use IO::Socket::INET;
use Socket qw(AF_INET AF_INET6 inet_pton);
use Time::HiRes qw(time);

###############################################################################

my ($port, $zone, $log);

GetOptions('port=i' => \$port, 'zone=s' => \$zone, 'log=s' => \$log)
	or usage();
usage() unless defined $port && defined $zone;

my %TYPES = (1 => 'A', 28 => 'AAAA');

my $sock = IO::Socket::INET->new(
	LocalAddr => '127.0.0.1',
	LocalPort => $port,
	Proto => 'udp',
	ReuseAddr => 1,
) or die "mock_dns: cannot listen on 127.0.0.1:$port (udp): $!\n";

$SIG{TERM} = $SIG{INT} = sub { exit 0 };

for (;;) {
	my $peer = $sock->recv(my $q, 4096);
	next unless defined $peer && length $q >= 12;

	my $a = answer($q);
	$sock->send($a, 0, $peer) if defined $a;
}

###############################################################################

sub usage {
	die "usage: $0 --port P --zone FILE [--log FILE]\n";
}

sub note {
	my ($name, $type, $what) = @_;
	return unless defined $log;
	open my $fh, '>>', $log or return;
	printf $fh "%.3f %s %s %s\n", time(), $name, $type, $what;
	close $fh;
}

# The zone: name -> { A => [[addr, ttl]...], AAAA => [...], rcode => ... }

sub read_zone {
	my %z;

	open my $fh, '<', $zone or return \%z;

	while (my $line = <$fh>) {
		$line =~ s/#.*//;
		my ($name, $type, $value, $ttl) = split ' ', $line;
		next unless defined $type;

		$name = lc $name;
		$name =~ s/\.$//;
		$type = uc $type;

		if ($type eq 'A' || $type eq 'AAAA') {
			push @{ $z{$name}{$type} }, [ $value, $ttl // 1 ];
		} else {
			$z{$name}{rcode} = $type;
		}
	}

	return \%z;
}

# The question: (name, qtype, offset after it), or () when malformed.

sub question {
	my ($q) = @_;

	my $i = 12;
	my @labels;

	for (;;) {
		return () if $i >= length $q;
		my $len = ord substr($q, $i, 1);
		$i++;
		last if $len == 0;
		return () if $len > 63 || $i + $len > length $q;
		push @labels, substr($q, $i, $len);
		$i += $len;
	}

	return () if $i + 4 > length $q;

	my ($qtype, $qclass) = unpack 'nn', substr($q, $i, 4);

	return (lc join('.', @labels), $qtype, $i + 4);
}

sub answer {
	my ($q) = @_;

	my ($id, $flags, $qd) = unpack 'nnn', $q;
	my ($name, $qtype, $end) = $qd == 1 ? question($q) : ();

	# QR, the opcode and RD copied, RA
	my $rflags = 0x8000 | ($flags & 0x7900) | 0x0080;

	unless (defined $name) {
		note('-', '-', 'FORMERR');
		return pack('nnnnnn', $id, $rflags | 1, 0, 0, 0, 0);
	}

	my $type = $TYPES{$qtype} // $qtype;
	my $qpart = substr($q, 12, $end - 12);
	my $rr = read_zone()->{$name};

	if (!$rr || ($rr->{rcode} // '') eq 'NXDOMAIN') {
		note($name, $type, 'NXDOMAIN');
		return pack('nnnnnn', $id, $rflags | 0x0400 | 3, 1, 0, 0, 0)
			. $qpart;
	}

	if (($rr->{rcode} // '') eq 'SERVFAIL') {
		note($name, $type, 'SERVFAIL');
		return pack('nnnnnn', $id, $rflags | 2, 1, 0, 0, 0) . $qpart;
	}

	if (($rr->{rcode} // '') eq 'DROP') {
		note($name, $type, 'DROP');
		return undef;
	}

	my @answers;
	my @sent;

	for my $rec (@{ $rr->{$type} || [] }) {
		my ($addr, $ttl) = @$rec;
		my $data = inet_pton($type eq 'A' ? AF_INET : AF_INET6, $addr);
		next unless defined $data;

		# the name as a pointer to the question's (offset 12)
		push @answers, pack('nnnNn', 0xc00c, $qtype, 1, $ttl,
			length $data) . $data;
		push @sent, $addr;
	}

	note($name, $type, @sent ? join(',', @sent) : 'NODATA');

	return pack('nnnnnn', $id, $rflags | 0x0400, 1, scalar @answers, 0, 0)
		. $qpart . join('', @answers);
}
