#!/usr/bin/perl

# (C) tokenroute authors

# Tests for "Redis Sentinel" (README), what a real sentinel does not do
# on demand: a stand-in sentinel (t/lib/mock_sentinel.pl) names, in turn,
# a replica (not used: ROLE says so), the master, then another master (the
# worker's check every second moves to it), then a master that is demoted
# to a replica while the worker is connected to it (the READONLY answer
# makes the worker ask again).

###############################################################################

use warnings;
use strict;

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

sub rcmd { $t->redis_at(@_) }

sub name_master {
	my ($port) = @_;
	open my $fh, '>', "$d/master.tmp" or die "$d/master.tmp: $!\n";
	print $fh "127.0.0.1 $port\n";
	close $fh;
	rename "$d/master.tmp", "$d/master" or die "rename: $!\n";
}

my $S = $t->port('sentinel');
$t->_release_port('sentinel');
name_master($R);
$t->_spawn('sentinel', "$d/sentinel.log", {}, $^X,
	$t->repo() . '/t/lib/mock_sentinel.pl', '--port', $S,
	'--master', "$d/master");

my ($http, $server) = $t->default_conf();
$http =~ s/^tokenroute_redis .*$/tokenroute_redis redis-sentinel:\/\/127.0.0.1:$S\/trm timeout=1s connect_timeout=1s;/m
	or die "no tokenroute_redis line in default_conf\n";

$t->start_mock();
$t->write_nginx_conf($http, $server);
$t->start_nginx();

my $key = $t->create_key();
my $KH = 'tr:key:' . $t->key_hash($key->{raw});

sub request { return $t->chat($key->{raw}) }

# seconds until a request is served, undef if none within 10 s
sub served_in { return $t->served_in($key->{raw}) }

###############################################################################

# 1. a replica named as the master is not used

ok($t->wait_until(5, sub { $t->error_log()
	=~ /127\.0\.0\.1:$R, named by the sentinels as master "trm", is not a master \(slave\)/ }),
	'the replica the sentinel named is not used');
is(request()->{status}, 503, 'no master: 503');

# 2. the sentinel names the master

name_master($M);
ok(defined served_in(), 'the master the sentinel names is used');
like($t->error_log(), qr/Redis master "trm" is 127\.0\.0\.1:$M/,
	'logged');

# 3. another master: the worker's check moves to it, unasked

ok($t->wait_until(5, sub { my $m = rcmd($M, 'HGET', $KH, 'spent');
	defined $m && $m eq (rcmd($R, 'HGET', $KH, 'spent') // '') }),
	'the replica has the spend so far');
is(rcmd($R, 'REPLICAOF', 'NO', 'ONE'), 'OK', 'the replica is a master too');
my $spent = rcmd($R, 'HGET', $KH, 'spent') // 0;
name_master($R);

ok($t->wait_until(5, sub { $t->error_log()
	=~ /the sentinels name 127\.0\.0\.1:$R as master "trm" now/ }),
	'the check every second saw the new master');
ok($t->wait_until(3, sub { $t->error_log()
	=~ /Redis master "trm" is 127\.0\.0\.1:$R/ }), 'and connected to it');

is(request()->{status}, 200, 'served by the new master');
ok($t->wait_until(3, sub { (rcmd($R, 'HGET', $KH, 'spent') // 0) > $spent }),
	'the spend went to the new master');

# 4. the master the worker uses is demoted: READONLY, asked again

name_master($M);
ok($t->wait_until(5, sub { my @l = $t->error_log()
	=~ /Redis master "trm" is 127\.0\.0\.1:$M/g; @l >= 2 }),
	'back on the first master');

is(rcmd($M, 'REPLICAOF', '127.0.0.1', $R), 'OK', 'the master is demoted');
ok($t->wait_until(10, sub {
	(eval { rcmd($M, 'INFO', 'replication') } // '')
		=~ /master_link_status:up/
}), 'and follows the other one');

my $r = request();
isnt($r->{status}, 200, 'a write refused by the demoted master is not served');
ok($t->wait_until(3, sub { $t->error_log()
	=~ /dropping the Redis connection to 127\.0\.0\.1:$M: the server is read-only now/ }),
	'READONLY: the connection dropped');

ok($t->wait_until(3, sub { $t->error_log()
	=~ /127\.0\.0\.1:$M, named by the sentinels as master "trm", is not a master \(slave\)/ }),
	'asked again, the demoted master is not used');
is(request()->{status}, 503, 'no master: 503');

name_master($R);
my $in = served_in();
ok(defined $in, 'served again once the sentinel names the master');

done_testing();

###############################################################################
