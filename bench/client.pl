#!/usr/bin/perl
# A sequential HTTP/1.1 keep-alive client for bench/run's callgrind stage:
# sends exactly COUNT POSTs one after the other on one connection
# (reconnecting only when the server says "Connection: close"), reads each
# whole response (Content-Length or chunked), and prints
# "ok=N errors=M [first=STATUS]", and when responses carry tokenroute's
# x-tokenroute-overhead-ms, the median of it and of its Redis part
# ("overhead_ms=... redis_ms=...").  Exit status 0 when every response was
# 200.  Core Perl only; the client itself is bench/BenchClient.pm.
#
#   client.pl PORT PATH BODY_FILE KEY COUNT

use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use BenchClient;

my ($port, $path, $body_file, $key, $count) = @ARGV;
die "usage: $0 PORT PATH BODY_FILE KEY COUNT\n" unless defined $count;

my (@overhead, @redis);

sub median {
    my @v = sort { $a <=> $b } @_;
    return @v ? $v[int($#v / 2)] : undef;
}

my $c = BenchClient->new(port => $port, path => $path,
                         body_file => $body_file, key => $key);

my ($ok, $errors, $first) = (0, 0, undef);

for (1 .. $count) {
    my ($status, $head) = $c->request;

    if ($head =~ /^x-tokenroute-overhead-ms:\s*([0-9.]+)(?:;redis=([0-9.]+))?/mi) {
        push @overhead, $1;
        push @redis, $2 if defined $2;
    }

    if (defined $status && $status == 200) {
        $ok++;
    } else {
        $errors++;
        $first //= $status // 'none';
    }
}

$c->close_conn;
print "ok=$ok errors=$errors" . (defined $first ? " first=$first" : "")
    . (@overhead ? " overhead_ms=" . median(@overhead) : "")
    . (@redis ? " redis_ms=" . median(@redis) : "") . "\n";
exit($errors ? 1 : 0);
