#!/usr/bin/perl
# One revocation-latency trial for bench/run: a child process per gateway
# (PORTS: comma-separated, gateways of one fleet on one Redis) polls it
# with the key (sequential POSTs on one keep-alive connection) while the
# parent, once the key has been answered 200 WARM times by every gateway,
# waits a random 0-JITTER ms (so the revocation falls at any phase of a
# gateway's caching), runs the revoke command and notes when it returns.
# Each child notes when its first 401 arrives.  Prints one line:
#
#   latency_ms=X cli_ms=Y poll_ms=Z polls=N each=A,B,...
#
# each: per gateway, its first 401's arrival minus the revoke command's
# return (negative when a 401 came before the command had exited: the
# change was in Redis and seen before the CLI process was reaped);
# latency_ms: the largest, when the key was refused by every gateway;
# cli_ms: how long the command ran; poll_ms: the mean time of one poll
# (the resolution), polls: all gateways' together.
# Both processes read CLOCK_MONOTONIC.  Exits 1 (with "failed=REASON")
# when no 401 came within 10 s of the revoke, or a status other than 200
# or 401 was seen.  Core Perl only.
#
#   revoke.pl PORTS PATH BODY_FILE KEY WARM JITTER_MS REVOKE_COMMAND...

use strict;
use warnings;
use IO::Socket::INET;
use IO::Handle;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC usleep);

my ($ports, $path, $body_file, $key, $warm, $jitter, @cmd) = @ARGV;
die "usage: $0 PORTS PATH BODY_FILE KEY WARM JITTER_MS COMMAND...\n"
    unless @cmd;
my @ports = split /,/, $ports;
my $port;

open(my $fh, '<', $body_file) or die "$body_file: $!\n";
binmode $fh;
my $body = do { local $/; <$fh> };
close $fh;

my $req = "POST $path HTTP/1.1\r\n"
        . "Host: 127.0.0.1\r\n"
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
my @pids;

for my $g (0 .. $#ports) {
    my $pid = fork() // die "fork: $!\n";
    if ($pid) {
        push @pids, $pid;
        next;
    }
    close $r;
    $w->autoflush(1);
    $port = $ports[$g];
    connect_();
    my ($ok, $polls, $t_first) = (0, 0, now());
    my $deadline = now() + 60;
    while (now() < $deadline) {
        my $status = request();
        my $t = now();
        $polls++;
        if ($status == 200) {
            $ok++;
            print $w "$g ready\n" if $ok == $warm;
            next;
        }
        if ($status == 401 && $ok >= $warm) {
            printf $w "$g 401 %.6f %d %.6f\n", $t, $polls,
                ($t - $t_first) / $polls;
        } else {
            print $w "$g status_${status}_after_${ok}_ok\n";
        }
        exit 0;
    }
    print $w "$g timeout\n";
    exit 0;
}

close $w;

sub finish {
    kill 'TERM', @pids;
    waitpid($_, 0) for @pids;
}

sub fail {
    my ($why) = @_;
    finish();
    $why =~ s/\s+/_/g;
    print "failed=$why\n";
    exit 1;
}

my $line;
for (1 .. @ports) {
    $line = <$r> // "- child_died";
    chomp $line;
    fail($line) unless $line =~ /^\d+ ready$/;
}

usleep(int(rand($jitter * 1000))) if $jitter > 0;
open(my $out, '>&', \*STDOUT) or die "dup: $!\n";
open(STDOUT, '>', '/dev/null') or die "/dev/null: $!\n";
my $t0 = now();
my $rc = system(@cmd);
my $t1 = now();
open(STDOUT, '>&', $out) or die "dup: $!\n";
fail("revoke_command") if $rc != 0;

my (@lat, $polls, $poll);
eval {
    local $SIG{ALRM} = sub { die "alarm\n" };
    alarm 10;
    for (1 .. @ports) {
        $line = <$r> // "- child_died";
        chomp $line;
        last unless $line =~ /^(\d+) 401 ([0-9.]+) (\d+) ([0-9.]+)$/;
        $lat[$1] = ($2 - $t1) * 1000;
        $polls += $3;
        $poll += $4 / @ports;
    }
    alarm 0;
};
fail($@ ? "no_401_within_10s" : $line) if grep { !defined } @lat[0 .. $#ports];
finish();

my ($max) = sort { $b <=> $a } @lat;
printf "latency_ms=%.3f cli_ms=%.3f poll_ms=%.3f polls=%d each=%s\n",
    $max, ($t1 - $t0) * 1000, $poll * 1000, $polls,
    join(',', map { sprintf '%.3f', $_ } @lat);
exit 0;
