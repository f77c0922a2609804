#!/usr/bin/perl

# (C) tokenroute authors

# Tests for "Redis host names" (README): with a "resolver" in the http
# block, the host name of tokenroute_redis is looked up again, with
# nginx's resolver, every time a worker connects.  A local DNS responder
# (t/lib/mock_dns.pl) first answers "localhost" with 127.0.0.1,
# where the first Redis listens, then with ::1 only, where a second Redis
# listens on the same port with the same data; the first one stops and
# the gateway follows the name to the second.

###############################################################################

use warnings;
use strict;

use IO::Socket::IP;
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();
my $d = $t->testdir();

sub write_file {
	my ($name, $text) = @_;
	open my $fh, '>', "$d/$name.tmp" or die "$d/$name: $!\n";
	print $fh $text;
	close $fh;
	rename "$d/$name.tmp", "$d/$name" or die "rename $name: $!\n";
}

sub dns_questions {
	open my $fh, '<', "$d/dns.log" or return 0;
	my @l = grep { /^\S+ localhost / } <$fh>;
	return scalar @l;
}

$t->start_redis();
my $P = $t->redis_port();

# the second Redis: same port, on ::1, a replica until the switch
my $v6 = IO::Socket::IP->new(LocalHost => '::1', LocalPort => $P,
	Listen => 1, ReuseAddr => 1)
	or plan(skip_all => "cannot listen on [::1]:$P: $!");
close $v6;

mkdir "$d/v6";
$t->_spawn('redis6', "$d/redis6.log", {}, 'redis-server',
	'--port', $P, '--bind', '::1', '--save', '', '--appendonly', 'no',
	'--dir', "$d/v6", '--replicaof', '127.0.0.1', $P);

my $DNS = $t->port('dns');
$t->_release_port('dns');
write_file('answers', "localhost A 127.0.0.1\n");
$t->_spawn('dns', "$d/dns.stderr", {}, $^X, $t->repo() . '/t/lib/mock_dns.pl',
	'--port', $DNS, '--zone', "$d/answers", '--log', "$d/dns.log");

my ($http, $server) = $t->default_conf();
$http =~ s/^tokenroute_redis .*$/tokenroute_redis localhost:$P timeout=1s connect_timeout=1s;\nresolver 127.0.0.1:$DNS valid=1s ipv6=on;\nresolver_timeout 1s;/m
	or die "no tokenroute_redis line in default_conf\n";

$t->start_mock();
$t->write_nginx_conf($http, $server);
$t->start_nginx();

my $key = $t->create_key();
my $KH = 'tr:key:' . $t->key_hash($key->{raw});

sub request { return $t->chat($key->{raw}) }

###############################################################################

# 1. the name, as the DNS answers it: 127.0.0.1

my $r = request();
is($r->{status}, 200, 'served through localhost = 127.0.0.1')
	or diag(substr($r->{raw} // '', 0, 300));

ok($t->wait_until(3, sub { dns_questions() > 0 }),
	'the worker asked the resolver for the name');

like($t->error_log(), qr/connected to Redis at 127\.0\.0\.1:$P/,
	'connected to the address the DNS gave');

###############################################################################

# 2. the name moves to ::1; the first Redis goes away

my $info = sub {
	my $s = IO::Socket::IP->new(PeerHost => '::1', PeerPort => $P,
		Timeout => 2) or return '';
	print $s "INFO replication\r\n";
	my $buf = '';
	my $deadline = time() + 2;
	while (time() < $deadline && $buf !~ /\r\n\r\n\z/) {
		my $n = sysread($s, $buf, 65536, length $buf);
		last unless $n;
	}
	return $buf;
};

ok($t->wait_until(10, sub { $info->() =~ /master_link_status:up/ }),
	'the second Redis has the data');
sleep 0.3;

write_file('answers', "localhost AAAA ::1\n");

# the replica becomes a master, the first Redis goes
{
	my $s = IO::Socket::IP->new(PeerHost => '::1', PeerPort => $P,
		Timeout => 2) or die "[::1]:$P: $!\n";
	print $s "REPLICAOF NO ONE\r\n";
	my $line = <$s>;
	like($line, qr/^\+OK/, 'the second Redis is a master now');
}

my $asked = dns_questions();
my $t0 = time();
$t->stop_redis();

my $first;
while (time() - $t0 < 10) {
	$r = request();
	if ($r->{status} == 200) {
		$first = time();
		last;
	}
	sleep 0.1;
}

ok(defined $first, 'served again, through the new address');
diag(sprintf('re-resolved and reconnected in %.2f s', $first - $t0))
	if defined $first;

ok(dns_questions() > $asked, 'the name was looked up again on reconnect');
like($t->error_log(), qr/connected to Redis at ::1:$P/,
	'connected to ::1, the new answer');

done_testing();

###############################################################################
