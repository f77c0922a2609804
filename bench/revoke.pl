#!/usr/bin/perl
# One revocation-latency trial for bench/run: a child process polls the
# gateway with the key (sequential POSTs on one keep-alive connection)
# while the parent, once the key has been answered 200 WARM times, waits a
# random 0-JITTER ms (so the revocation falls at any phase of a
# gateway's caching), runs the revoke command and notes when it returns.
# The child notes when the first 401 arrives.  Prints one line:
#
#   latency_ms=X cli_ms=Y poll_ms=Z polls=N
#
# latency_ms: the first 401's arrival minus the revoke command's return
# (negative when a 401 came before the command had exited: the change was
# in Redis and seen before the CLI process was reaped); cli_ms: how long
# the command ran; poll_ms: the mean time of one poll (the resolution).
# Both processes read CLOCK_MONOTONIC.  Exits 1 (with "failed=REASON")
# when no 401 came within 10 s of the revoke, or a status other than 200
# or 401 was seen.  Core Perl only.
#
#   revoke.pl PORT PATH BODY_FILE KEY WARM JITTER_MS REVOKE_COMMAND...

use strict;
use warnings;
use IO::Socket::INET;
use IO::Handle;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC usleep);

my ($port, $path, $body_file, $key, $warm, $jitter, @cmd) = @ARGV;
die "usage: $0 PORT PATH BODY_FILE KEY WARM JITTER_MS COMMAND...\n"
    unless @cmd;

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

sub now { clock_gettime(CLOCK_MONOTONIC) }

my ($sock, $buf);

sub connect_ {
    $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 10)
        or die "connect 127.0.0.1:$port: $!\n";
    setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);
    $buf = '';
}

sub fill {
    my ($want) = @_;
    while (ref $want ? $buf !~ $want : length($buf) < $want) {
        my $got = sysread($sock, $buf, 65536, length $buf);
        die "read: " . (defined $got ? "connection closed" : $!) . "\n"
            unless $got;
    }
}

sub request {       # one POST; returns the status
    my $off = 0;
    while ($off < length $req) {
        my $w = syswrite($sock, $req, length($req) - $off, $off);
        die "write: $!\n" unless defined $w;
        $off += $w;
    }
    fill(qr/\r\n\r\n/);
    $buf =~ s/^(.*?)\r\n\r\n//s;
    my $head = $1;
    my ($status) = $head =~ m{^HTTP/1\.\d (\d+)};
    if ($head =~ /^content-length:\s*(\d+)/mi) {
        fill($1);
        substr($buf, 0, $1, '');
    } elsif ($head =~ /^transfer-encoding:\s*chunked/mi) {
        while (1) {
            fill(qr/\r\n/);
            $buf =~ s/^([0-9a-fA-F]+)[^\r]*\r\n//
                or die "bad chunk\n";
            my $n = hex $1;
            fill($n + 2);
            substr($buf, 0, $n + 2, '');
            last if $n == 0;
        }
    }
    if ($head =~ /^connection:\s*close/mi) {
        close $sock;
        connect_();
    }
    return $status // 0;
}

pipe(my $r, my $w) or die "pipe: $!\n";
my $pid = fork() // die "fork: $!\n";

if ($pid == 0) {
    close $r;
    $w->autoflush(1);
    connect_();
    my ($ok, $polls, $t_first) = (0, 0, now());
    my $deadline = now() + 60;
    while (now() < $deadline) {
        my $status = request();
        my $t = now();
        $polls++;
        if ($status == 200) {
            $ok++;
            print $w "ready\n" if $ok == $warm;
            next;
        }
        if ($status == 401 && $ok >= $warm) {
            printf $w "401 %.6f %d %.6f\n", $t, $polls, ($t - $t_first) / $polls;
        } else {
            print $w "status $status after $ok ok\n";
        }
        exit 0;
    }
    print $w "timeout\n";
    exit 0;
}

close $w;
my $line = <$r> // "child died\n";
if ($line ne "ready\n") {
    chomp $line;
    waitpid($pid, 0);
    print "failed=$line\n";
    exit 1;
}

usleep(int(rand($jitter * 1000))) if $jitter > 0;
open(my $out, '>&', \*STDOUT) or die "dup: $!\n";
open(STDOUT, '>', '/dev/null') or die "/dev/null: $!\n";
my $t0 = now();
my $rc = system(@cmd);
my $t1 = now();
open(STDOUT, '>&', $out) or die "dup: $!\n";
if ($rc != 0) {
    kill 'TERM', $pid;
    waitpid($pid, 0);
    print "failed=revoke_command\n";
    exit 1;
}

my $res;
eval {
    local $SIG{ALRM} = sub { die "alarm\n" };
    alarm 10;
    $res = <$r>;
    alarm 0;
};
kill 'TERM', $pid;
waitpid($pid, 0);

if (!defined $res || $res !~ /^401 ([0-9.]+) (\d+) ([0-9.]+)/) {
    $res //= "no 401 within 10 s\n";
    chomp $res;
    $res =~ s/\s+/_/g;
    print "failed=$res\n";
    exit 1;
}

printf "latency_ms=%.3f cli_ms=%.3f poll_ms=%.3f polls=%d\n",
    ($1 - $t1) * 1000, ($t1 - $t0) * 1000, $3 * 1000, $2;
exit 0;
