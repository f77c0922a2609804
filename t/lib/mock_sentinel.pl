#!/usr/bin/perl

# (C) tokenroute authors

# A stand-in for a Redis sentinel, for t/sentinel_role.t: it answers
# "SENTINEL get-master-addr-by-name NAME" with the "IP PORT" in FILE
# (read anew for each question, so that a test moves the master by
# rewriting it; an empty or missing FILE answers nil), AUTH and PING
# with +OK / +PONG, anything else with an error.  It lets a test name a
# replica as the master, which a real sentinel does not do on purpose.
#
# usage: mock_sentinel.pl --port P --master FILE

use warnings;
use strict;

use Getopt::Long;
use IO::Select;
use IO::Socket::INET;

my ($port, $file);
GetOptions('port=i' => \$port, 'master=s' => \$file)
	and $port and $file
	or die "usage: $0 --port P --master FILE\n";

my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
	Listen => 16, ReuseAddr => 1) or die "listen 127.0.0.1:$port: $!\n";

my $sel = IO::Select->new($l);
my %buf;

for (;;) {
	for my $s ($sel->can_read()) {
		if ($s == $l) {
			my $c = $l->accept() or next;
			$sel->add($c);
			$buf{$c} = '';
			next;
		}

		my $n = sysread($s, $buf{$s}, 65536, length $buf{$s});
		if (!$n) {
			$sel->remove($s);
			delete $buf{$s};
			close $s;
			next;
		}

		while (my $cmd = parse(\$buf{$s})) {
			syswrite($s, answer(@$cmd));
		}
	}
}

# one RESP array of bulk strings off the front of $$b, or undef

sub parse {
	my ($b) = @_;

	return undef unless $$b =~ /\A\*(\d+)\r\n/;
	my ($n, $off, @args) = ($1, length($1) + 3);

	for (1 .. $n) {
		my $rest = substr($$b, $off);
		return undef unless $rest =~ /\A\$(\d+)\r\n/;
		my ($len, $h) = ($1, length($1) + 3);
		return undef if length($rest) < $h + $len + 2;
		push @args, substr($rest, $h, $len);
		$off += $h + $len + 2;
	}

	substr($$b, 0, $off) = '';
	return \@args;
}

sub answer {
	my ($cmd, @args) = @_;

	$cmd = uc $cmd;
	return "+OK\r\n" if $cmd eq 'AUTH';
	return "+PONG\r\n" if $cmd eq 'PING';

	if ($cmd eq 'SENTINEL' && @args == 2
		&& lc $args[0] eq 'get-master-addr-by-name')
	{
		open my $fh, '<', $file or return "*-1\r\n";
		my ($ip, $p) = split ' ', (<$fh> // '');
		close $fh;
		return "*-1\r\n" unless defined $p;
		return "*2\r\n\$" . length($ip) . "\r\n$ip\r\n\$"
			. length($p) . "\r\n$p\r\n";
	}

	return "-ERR unknown command\r\n";
}
