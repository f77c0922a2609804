#!/usr/bin/perl

# (C) tokenroute authors

# The invalidation subscriber follows the worker's Redis connection
# through a Sentinel failover (README "Key changes pushed to every
# gateway"): a manual failover (SENTINEL FAILOVER, both servers alive,
# the old master made a replica, where published messages still arrive)
# moves the subscriber to the new master, and a revocation there reaches
# the gateway; then the new master is killed (SIGKILL) and promoted back:
# the subscriber resubscribes at the old one, everything invalidated.

###############################################################################

use warnings;
use strict;

use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Sentinel qw(start_sentinel sentinel_conf);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

my ($M, $R, $S) = start_sentinel($t);

sub rcmd { $t->redis_at(@_) }

my ($http, $server) = sentinel_conf($t, $S);
$http .= "tokenroute_invalidation on;\n";
$server .= "location = /metrics {\n    tokenroute_metrics;\n}\n";

$t->start_mock();
$t->write_nginx_conf($http, $server);
$t->start_nginx();

sub metric {
	my ($re) = @_;
	my $body = $t->http(method => 'GET', path => '/metrics')->{body} // '';
	my $v = 0;
	$v += $1 while $body =~ /^$re (\d+)$/mg;
	return $v;
}

sub inval_key { metric('tokenroute_invalidations_total\{scope="key"\}') }
sub inval_all { metric('tokenroute_invalidations_total\{scope="all"\}') }
sub subscribed { metric('tokenroute_invalidation_subscribed\{[^}]*\}') }

# pub/sub clients on the server at PORT, but the sentinel's own (hello)
sub subscribers {
	my ($port) = @_;
	my $l = eval { rcmd($port, 'CLIENT', 'LIST', 'TYPE', 'pubsub') } // '';
	return scalar grep { !/ name=sentinel-/ } $l =~ /^(id=.*)$/mg;
}

# a revocation through the CLI on the master at PORT, seen by the gateway
sub revoke_seen {
	my ($port, $name) = @_;
	my ($rc, $out, $err) = $t->cli_raw('--redis', "127.0.0.1:$port",
		'keys', 'create', '--name', $name, '--json');
	is($rc, 0, "$name: created") or diag($err);
	my ($id) = $out =~ /"id":"(key_[0-9a-f]+)"/;
	my $before = inval_key();
	($rc, $out, $err) = $t->cli_raw('--redis', "127.0.0.1:$port",
		'keys', 'revoke', $id // 'none');
	is($rc, 0, "$name: revoked") or diag($err);
	return $t->wait_until(1, sub { inval_key() > $before });
}

###############################################################################

ok($t->wait_until(5, sub { subscribed() == 1 }), 'subscribed');
is(subscribers($M), 1, 'at the first master');
ok(revoke_seen($M, 'inval-s1'), 'a revocation on the first master arrives');

# a manual failover: both alive, the old master becomes a replica

my $a0 = inval_all();
rcmd($S, 'SENTINEL', 'FAILOVER', 'trm');

ok($t->wait_until(15, sub {
	my $a = eval { rcmd($S, 'SENTINEL', 'get-master-addr-by-name', 'trm') };
	ref $a eq 'ARRAY' && $a->[1] == $R
}), 'the sentinel names the replica as master');

ok($t->wait_until(10, sub { subscribers($R) == 1 && subscribers($M) == 0 }),
	'the subscriber moved to the new master');
ok($t->wait_until(5, sub { subscribed() == 1 && inval_all() > $a0 }),
	'resubscribed there: everything invalidated');
ok($t->wait_until(30, sub {
	(eval { rcmd($M, 'INFO', 'replication') } // '')
		=~ /master_link_status:up/ }), 'the old master is a replica');
ok(revoke_seen($R, 'inval-s2'), 'a revocation on the new master arrives');
like($t->error_log(), qr/invalidation subscriber follows the Redis connection to 127\.0\.0\.1:$R/,
	'the move is logged');

# the new master killed: back to the old one

$a0 = inval_all();
kill 'KILL', $t->{procs}{replica};

ok($t->wait_until(20, sub {
	my $a = eval { rcmd($S, 'SENTINEL', 'get-master-addr-by-name', 'trm') };
	ref $a eq 'ARRAY' && $a->[1] == $M
}), 'the sentinel promotes the old master again');
ok($t->wait_until(10, sub { subscribers($M) == 1 && subscribed() == 1
	&& inval_all() > $a0 }),
	'killed: resubscribed at the old master, everything invalidated');
ok(revoke_seen($M, 'inval-s3'), 'a revocation there arrives');

###############################################################################

done_testing();

###############################################################################
