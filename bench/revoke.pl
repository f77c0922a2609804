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
# or 401 was seen.  Core Perl only; the client is bench/BenchClient.pm.
#
#   revoke.pl PORTS PATH BODY_FILE KEY WARM JITTER_MS REVOKE_COMMAND...

use strict;
use warnings;
use File::Basename qw(dirname);
use IO::Handle;
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC usleep);
use lib dirname(__FILE__);
use BenchClient;

my ($ports, $path, $body_file, $key, $warm, $jitter, @cmd) = @ARGV;
die "usage: $0 PORTS PATH BODY_FILE KEY WARM JITTER_MS COMMAND...\n"
    unless @cmd;
my @ports = split /,/, $ports;

sub now { clock_gettime(CLOCK_MONOTONIC) }

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
    my $c = BenchClient->new(port => $ports[$g], path => $path,
                             body_file => $body_file, key => $key,
                             timeout => 10);
    my ($ok, $polls, $t_first) = (0, 0, now());
    my $deadline = now() + 60;
    while (now() < $deadline) {
        my ($status) = $c->request;
        $status //= 0;
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
