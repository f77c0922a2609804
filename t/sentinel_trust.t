#!/usr/bin/perl

# (C) tokenroute authors

# Tests for "Redis Sentinel" (README), what a sentinel's answer is trusted
# with: two stand-in sentinels (t/lib/mock_sentinel.pl).  The first names
# a replica forever and the second the master: after ROLE says "slave",
# the worker asks the next sentinel, not the stale one again; so too after
# a READONLY answer from a master demoted under it.  An answer
# that is not an IP address and port (a host name, 0.0.0.0, port 0 or
# 70000) is refused, and so is one outside "masters=" (CIDR list) before
# anything connects to it: a listener the test holds sees no connection.
# The CLI does the same with TOKENROUTE_REDIS_MASTERS.  Sentinels without
# sentinel_password= or masters= are warned about at load.

###############################################################################

use warnings;
use strict;

use IO::Select;
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();
my $d = $t->testdir();

$t->start_redis();
my $M = $t->redis_port();

my $R = $t->start_redis_replica('replica');
ok($R, 'the replica follows the master');

# a "Redis" nobody may connect to: the test checks it saw nothing

my $L = $t->port('listener');
$t->_release_port('listener');
my $ls = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $L,
	Listen => 16, ReuseAddr => 1) or die "listen 127.0.0.1:$L: $!\n";

sub name_master {
	my ($n, $text) = @_;
	open my $fh, '>', "$d/m$n.tmp" or die "$d/m$n.tmp: $!\n";
	print $fh "$text\n";
	close $fh;
	rename "$d/m$n.tmp", "$d/m$n" or die "rename: $!\n";
}

my @S;
for my $n (1, 2) {
	my $p = $t->port("sentinel$n");
	$t->_release_port("sentinel$n");
	push @S, $p;
	name_master($n, '');
	$t->_spawn("sentinel$n", "$d/sentinel$n.log", {}, $^X,
		$t->repo() . '/t/lib/mock_sentinel.pl', '--port', $p,
		'--master', "$d/m$n");
}
my ($S1, $S2) = @S;

name_master(1, "127.0.0.1 $R");
name_master(2, "127.0.0.1 $M");

my ($http, $server) = $t->default_conf();

sub conf {
	my ($extra) = @_;
	my $h = $http;
	$h =~ s/^tokenroute_redis .*$/tokenroute_redis sentinel=127.0.0.1:$S1,127.0.0.1:$S2 master=trm$extra timeout=1s connect_timeout=1s;/m
		or die "no tokenroute_redis line in default_conf\n";
	$t->write_nginx_conf($h, $server);
}

conf('');
$t->start_mock();
$t->start_nginx();

my $key = $t->create_key();

sub request { return $t->chat($key->{raw}) }

# seconds until a request is served, undef if none within 10 s
sub served_in { return $t->served_in($key->{raw}) }

###############################################################################

# 1. sentinels trusted blindly: warned at load

ok($t->error_log() =~ qr/\[warn\].*sentinels without sentinel_password= or masters=/,
	'warned: anyone who can talk to a sentinel can redirect the gateway');

# 2. the first sentinel names a replica forever, the second the master

ok($t->wait_until(10, sub { $t->error_log()
	=~ /127\.0\.0\.1:$R, named by the sentinels as master "trm", is not a master/ }),
	'the replica the first sentinel named is not used');
ok(defined served_in(), 'the next sentinel is asked: the master is used');
ok($t->error_log() =~ qr/Redis master "trm" is 127\.0\.0\.1:$M/, 'logged');

# 3. answers that are no IP address and port are refused; the worker
# keeps the master it has (the second sentinel knows nothing now, so the
# check every second asks the first)

name_master(2, '');

for my $bad ("0.0.0.0 $M", "localhost $M", '127.0.0.1 0', '127.0.0.1 70000',
	"::1 $M")
{
	my ($ip, $port) = split ' ', $bad;
	name_master(1, $bad);

	my $ok = $ip eq '::1';
	my $what = $ok ? 'accepted' : 'refused';

	if ($ok) {
		ok($t->wait_until(10, sub { $t->error_log()
			=~ /the sentinels name \[?::1\]?:$M as master "trm" now/ }),
			"answer '$bad' accepted (the control)");
		next;
	}

	ok($t->wait_until(10, sub { $t->error_log()
		=~ /sentinel 127\.0\.0\.1:$S1 named "\Q$ip\E" port "$port" as master "trm": [^\n]*, refused/ }),
		"answer '$bad' refused");
}

ok($t->error_log() !~ qr/Redis master "trm" is 0\.0\.0\.0/,
	'0.0.0.0 never used');

###############################################################################

# 4. masters=: an answer outside is refused before any connection

name_master(1, '');
conf(' masters=10.0.0.0/8,::1/128 sentinel_password=x');
$t->reload_nginx();

# the workers before the reload are gone: what connected before is not
# counted (none should have, but the test is about the new ones)
$ls->blocking(0);
while ($ls->accept()) { }
$ls->blocking(1);

name_master(1, "127.0.0.1 $L");
name_master(2, "127.0.0.1 $L");

ok($t->wait_until(10, sub { $t->error_log()
	=~ /sentinel 127\.0\.0\.1:$S2 named "127\.0\.0\.1" port "$L" as master "trm": outside masters=, refused/ }),
	'masters=: an answer outside refused, the next sentinel asked');
is(request()->{status}, 503, 'no master: 503');
ok(!IO::Select->new($ls)->can_read(0.5),
	'nothing connected to the address refused');

# inside masters=: used; the first sentinel's ::1 answer is outside

name_master(1, "::1 $L");
name_master(2, "127.0.0.1 $M");
conf(' masters=127.0.0.1/32 sentinel_password=x');
$t->reload_nginx();

ok(defined served_in(), 'masters=: the master inside it is used');
ok($t->error_log() =~ qr/sentinel 127\.0\.0\.1:$S1 named "::1" port "$L" as master "trm": outside masters=, refused/,
	'the ::1 answer outside masters= refused');

# 5. READONLY: the master is demoted under the worker; the sentinel that
# named it (asked first by the check every second) still does, the other
# names the promoted replica.  The worker asks the other one first, and
# does not connect to the demoted master again.

ok($t->wait_until(5, sub { my $m = $t->redis_at($M, 'DBSIZE');
	defined $m && $m == ($t->redis_at($R, 'DBSIZE') // -1) }),
	'the replica has caught up');
is($t->redis_at($R, 'REPLICAOF', 'NO', 'ONE'), 'OK', 'the replica promoted');
is($t->redis_at($M, 'REPLICAOF', '127.0.0.1', $R), 'OK',
	'the master demoted');
ok($t->wait_until(10, sub {
	(eval { $t->redis_at($M, 'INFO', 'replication') } // '')
		=~ /master_link_status:up/
}), 'and follows the new one');
name_master(1, "127.0.0.1 $R");

my $stale = () = $t->error_log()
	=~ /127\.0\.0\.1:$M, named by the sentinels as master "trm", is not a master/g;

ok(defined served_in(), 'served by the promoted replica');
ok($t->error_log()
	=~ /dropping the Redis connection to 127\.0\.0\.1:$M: the server is read-only now/,
	'READONLY: the connection dropped');
my $now = () = $t->error_log()
	=~ /127\.0\.0\.1:$M, named by the sentinels as master "trm", is not a master/g;
is($now, $stale, 'the stale sentinel was not asked first again');

# the CLI alone from here: no worker may follow the sentinels below
$t->stop_nginx();

# roles swapped: $R is the master now
($M, $R) = ($R, $M);

###############################################################################

# 6. the CLI: TOKENROUTE_REDIS_MASTERS, and IP literals only

my $URL = "redis-sentinel://127.0.0.1:$S1,127.0.0.1:$S2/trm";

{
	local $ENV{TOKENROUTE_REDIS_MASTERS} = '10.0.0.0/8';
	name_master(1, "127.0.0.1 $L");
	name_master(2, "127.0.0.1 $L");

	my ($code, $out, $err) = $t->cli_raw('--redis', $URL, 'keys', 'list');
	isnt($code, 0, 'CLI: an answer outside TOKENROUTE_REDIS_MASTERS fails');
	like($err, qr/sentinel 127\.0\.0\.1:$S1 named '127\.0\.0\.1' port '$L' as master 'trm': outside TOKENROUTE_REDIS_MASTERS, refused/,
		'CLI: refused, with the address');
	like($err, qr/sentinel 127\.0\.0\.1:$S2 named/, 'CLI: the next sentinel asked');
	ok(!IO::Select->new($ls)->can_read(0.5),
		'CLI: nothing connected to the address refused');

	name_master(2, "127.0.0.1 $M");
	$ENV{TOKENROUTE_REDIS_MASTERS} = '127.0.0.0/8';
	($code, $out, $err) = $t->cli_raw('--redis', $URL, 'keys', 'show',
		$key->{id});
	is($code, 0, 'CLI: the master inside TOKENROUTE_REDIS_MASTERS used')
		or diag($err);

	$ENV{TOKENROUTE_REDIS_MASTERS} = '127.0.0.300/8';
	($code, $out, $err) = $t->cli_raw('--redis', $URL, 'keys', 'list');
	is($code, 2, 'CLI: a bad TOKENROUTE_REDIS_MASTERS is a usage error');
}

name_master(2, '');

for my $bad ("localhost $M", "0.0.0.0 $M", '127.0.0.1 0', '127.0.0.1 70000')
{
	my ($ip, $port) = split ' ', $bad;
	name_master(1, $bad);

	my ($code, $out, $err) = $t->cli_raw('--redis', $URL, 'keys', 'list');
	isnt($code, 0, "CLI: answer '$bad' not used");
	like($err, qr/named '\Q$ip\E' port '$port' as master 'trm': [^\n]*, refused/,
		"CLI: answer '$bad' refused");
}

# the CLI too asks the next sentinel when ROLE says replica

name_master(1, "127.0.0.1 $R");
name_master(2, "127.0.0.1 $M");
my ($code, $out, $err) = $t->cli_raw('--redis', $URL, 'keys', 'show',
	$key->{id});
is($code, 0, 'CLI: past a sentinel that names a replica') or diag($err);

done_testing();

###############################################################################
