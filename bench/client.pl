#!/usr/bin/perl
# A sequential HTTP/1.1 keep-alive client for bench/run's callgrind stage:
# sends exactly COUNT POSTs one after the other on one connection
# (reconnecting only when the server says "Connection: close"), reads each
# whole response (Content-Length or chunked), and prints
# "ok=N errors=M [first=STATUS]", and when responses carry tokenroute's
# x-tokenroute-overhead-ms, the median of it and of its Redis part
# ("overhead_ms=... redis_ms=...").  Exit status 0 when every response was
# 200.  Core Perl only.
#
#   client.pl PORT PATH BODY_FILE KEY COUNT

use strict;
use warnings;
use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY);

my ($port, $path, $body_file, $key, $count) = @ARGV;
die "usage: $0 PORT PATH BODY_FILE KEY COUNT\n" unless defined $count;

open(my $fh, '<', $body_file) or die "$body_file: $!\n";
binmode $fh;
my $body = do { local $/; <$fh> };
close $fh;

my $req = "POST $path HTTP/1.1\r\n"
        . "Host: 127.0.0.1:$port\r\n"
        . "Authorization: Bearer $key\r\n"
        . "Content-Type: application/json\r\n"
        . "Content-Length: " . length($body) . "\r\n"
        . "\r\n" . $body;

my ($sock, $buf, @overhead, @redis);

sub median {
    my @v = sort { $a <=> $b } @_;
    return @v ? $v[int($#v / 2)] : undef;
}

sub connect_ {
    $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 30)
        or die "connect 127.0.0.1:$port: $!\n";
    setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);
    $buf = '';
}

# reads until $buf holds at least $n bytes (or, with $n undef, a CRLF line)
sub fill {
    my ($want) = @_;
    while (1) {
        if (ref $want) {
            return if $buf =~ $want;
        } elsif (length($buf) >= $want) {
            return;
        }
        my $got = sysread($sock, $buf, 65536, length $buf);
        die "read: " . (defined $got ? "connection closed" : $!) . "\n"
            unless $got;
    }
}

sub response {
    fill(qr/\r\n\r\n/);
    $buf =~ s/^(.*?)\r\n\r\n//s;
    my $head = $1;
    my ($status) = $head =~ m{^HTTP/1\.\d (\d+)};
    my $close = $head =~ /^connection:\s*close/mi;

    if ($head =~ /^x-tokenroute-overhead-ms:\s*([0-9.]+)(?:;redis=([0-9.]+))?/mi) {
        push @overhead, $1;
        push @redis, $2 if defined $2;
    }

    if ($head =~ /^content-length:\s*(\d+)/mi) {
        fill($1);
        substr($buf, 0, $1, '');

    } elsif ($head =~ /^transfer-encoding:\s*chunked/mi) {
        while (1) {
            fill(qr/\r\n/);
            $buf =~ s/^([0-9a-fA-F]+)[^\r]*\r\n//
                or die "bad chunk: " . substr($buf, 0, 40) . "\n";
            my $n = hex $1;
            fill($n + 2);
            substr($buf, 0, $n + 2, '');
            if ($n == 0) {
                last;
            }
        }

    } else {
        die "response without length\n";
    }

    return ($status, $close);
}

connect_();

my ($ok, $errors, $first) = (0, 0, undef);

for (1 .. $count) {
    my $off = 0;
    while ($off < length $req) {
        my $w = syswrite($sock, $req, length($req) - $off, $off);
        die "write: $!\n" unless defined $w;
        $off += $w;
    }

    my ($status, $close) = response();

    if (defined $status && $status == 200) {
        $ok++;
    } else {
        $errors++;
        $first //= $status // 'none';
    }

    if ($close) {
        close $sock;
        connect_();
    }
}

close $sock;
print "ok=$ok errors=$errors" . (defined $first ? " first=$first" : "")
    . (@overhead ? " overhead_ms=" . median(@overhead) : "")
    . (@redis ? " redis_ms=" . median(@redis) : "") . "\n";
exit($errors ? 1 : 0);
