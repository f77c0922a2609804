#!/usr/bin/perl

# (C) tokenroute authors

# Tests for key changes pushed to the gateways (README "Invalidation"):
# every change to a key, its account or its tenant made by the control
# scripts (the CLI and the admin API run the same ones) is published on
# the Redis channel tr:inval, the key's hash or "*"; a gateway with
# "tokenroute_invalidation on" holds a subscriber per worker, counts what
# it receives in /metrics, resubscribes (and drops everything it cached)
# when the connection is killed or Redis restarts, and ignores garbage.

###############################################################################

use warnings;
use strict;

use Test::More;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

# the directive, checked by nginx -t

like($t->nginx_check(http => "tokenroute_invalidation maybe;\n")->{out},
	qr/invalid value "maybe"/, 'tokenroute_invalidation: on or off');
like($t->nginx_check(http => "tokenroute_invalidation on;\n"
	. "tokenroute_invalidation off;\n")->{out},
	qr/is duplicate/, 'tokenroute_invalidation: once');
is($t->nginx_check(http => "tokenroute_invalidation off;\n")->{rc}, 0,
	'tokenroute_invalidation off: valid');

my $ops = $t->start_admin_gateway(http => "tokenroute_invalidation on;\n",
	server => "location = /metrics {\n    tokenroute_metrics;\n}\n");

###############################################################################

# A subscriber of our own: what the scripts publish.

my ($sub, $subbuf);

sub subscribe {
	$sub = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
		PeerPort => $t->redis_port(), Proto => 'tcp', Timeout => 2)
		or die "subscribe: $!\n";
	$subbuf = '';
	print $sub "*2\r\n\$9\r\nSUBSCRIBE\r\n\$8\r\ntr:inval\r\n";
	my $r = TokenRoute::Test::_resp_read($sub, \$subbuf, time() + 2);
	die "subscribe: no confirmation\n" unless ref $r eq 'ARRAY'
		&& $r->[0] eq 'subscribe';
}

# the messages until 300 ms pass without one
sub drain {
	my @got;
	for (;;) {
		my $r = eval {
			TokenRoute::Test::_resp_read($sub, \$subbuf, time() + 0.3)
		};
		last unless ref $r eq 'ARRAY';
		push @got, $r->[2] if $r->[0] eq 'message';
	}
	return @got;
}

# the payloads published while SUB runs, and up to 300 ms after it
sub published {
	my ($code) = @_;
	drain();
	$code->();
	return [ sort(drain()) ];
}

sub cli_ok {
	my @args = @_;
	my ($rc, $out, $err) = $t->cli(@args);
	is($rc, 0, "tokenroute @args[0 .. 1]") or diag($err);
	return eval { decode_json($out) } // {};
}

sub api {
	my ($method, $path, $body) = @_;
	my $res = $t->http(method => $method, path => "/admin/$path",
		headers => { Authorization => "Bearer $ops->{raw}" },
		body => $body);
	is($res->{status}, 200, "admin API $method $path") or diag($res->{raw});
	return eval { decode_json($res->{body}) } // {};
}

# metrics: NAME{LABELS} -> value, summed over workers where per worker
sub metrics {
	my $r = $t->http(method => 'GET', path => '/metrics');
	my %m;
	for (split /\n/, $r->{body} // '') {
		next if /^#/;
		my ($name, $labels, $v) = /^(\w+)(\{[^}]*\})? (\S+)$/ or next;
		$labels //= '';
		$labels = '' if $labels =~ /^\{worker=/;
		$m{"$name$labels"} += $v;
	}
	return \%m;
}

sub inval_key { metrics()->{'tokenroute_invalidations_total{scope="key"}'}
	// -1 }
sub inval_all { metrics()->{'tokenroute_invalidations_total{scope="all"}'}
	// -1 }
sub ignored { metrics()->{'tokenroute_invalidation_messages_ignored_total'}
	// -1 }
sub subscribed { metrics()->{'tokenroute_invalidation_subscribed'} // -1 }

###############################################################################

# the gateway's worker subscribes: the "all" of its first subscription

ok($t->wait_until(5, sub { subscribed() == 1 }), 'worker subscribed');
ok($t->wait_until(2, sub { inval_all() >= 1 }),
	'first subscription: everything invalidated');

subscribe();

# keys: every change publishes the key's hash

my ($key, $kh);
my $got = published(sub {
	$key = $t->create_key(name => 'inval-1', fund => 0);
	$kh = $t->key_hash($key->{raw});
});
is_deeply($got, [ $kh ], 'keys create: the new hash');

is_deeply(published(sub { cli_ok('keys', 'update', $key->{id},
	'--limit', '5') }), [ $kh ], 'keys update: the hash');

my $rot;
$got = published(sub { $rot = cli_ok('keys', 'rotate', $key->{id},
	'--json') });
my $nh = $t->key_hash($rot->{raw} // '');
is_deeply($got, [ sort $kh, $nh ], 'keys rotate: the old and new hashes');

is_deeply(published(sub { cli_ok('keys', 'show', $key->{id}, '--json') }),
	[], 'keys show: nothing');

is_deeply(published(sub { cli_ok('keys', 'revoke', $key->{id}) }),
	[ $nh ], 'keys revoke: the hash');

is_deeply(published(sub { cli_ok('keys', 'revoke', $key->{id}) }),
	[], 'keys revoke again: no change, nothing');

my $k2 = $t->create_key(name => 'inval-2', fund => 0);
my $h2 = $t->key_hash($k2->{raw});
is_deeply(published(sub { cli_ok('keys', 'delete', $k2->{id}) }),
	[ $h2 ], 'keys delete: the hash');

is_deeply(published(sub { cli_ok('keys', 'purge', '--older-than', '0',
	'--json') }), [ $nh ], 'keys purge: the purged hash');

# a failed change publishes nothing

is_deeply(published(sub { $t->cli('keys', 'revoke', 'key_ffff') }), [],
	'keys revoke of no key: nothing');

# accounts and tenants: many keys, "*"

is_deeply(published(sub { cli_ok('accounts', 'create', 'acme') }), [ '*' ],
	'accounts create: *');
is_deeply(published(sub { cli_ok('credit', 'add', '--account', 'acme',
	'--amount', '5') }), [ '*' ], 'credit add: *');
is_deeply(published(sub { cli_ok('credit', 'adjust', '--account', 'acme',
	'--amount', '-1', '--reason', 'test') }), [ '*' ], 'credit adjust: *');
is_deeply(published(sub { cli_ok('tenants', 'create', 'acme', 'team') }),
	[ '*' ], 'tenants create: *');
is_deeply(published(sub { cli_ok('tenants', 'update', 'acme', 'team',
	'--limit', '3') }), [ '*' ], 'tenants update: *');
is_deeply(published(sub { cli_ok('tenants', 'delete', 'acme', 'team') }),
	[ '*' ], 'tenants delete: *');

###############################################################################

# the gateway receives a revocation within 1 s, counted per key

my $live = $t->create_key(name => 'inval-live');
is($t->chat($live->{raw})->{status}, 200, 'key works');

my $before = inval_key();
my $t0 = time();
cli_ok('keys', 'revoke', $live->{id});
my $seen = $t->wait_until(1, sub { inval_key() > $before });
my $lat = time() - $t0;
ok($seen, 'CLI revoke: the gateway is told within 1 s');
diag(sprintf('revocation pushed to the gateway in %.0f ms', $lat * 1000));

# the admin API runs the same scripts: it publishes too

my $adm = $t->create_key(name => 'inval-admin');
my $ah = $t->key_hash($adm->{raw});
$before = inval_key();
is_deeply(published(sub { api('POST', "keys/$adm->{id}/revoke") }),
	[ $ah ], 'admin API revoke: the hash published');
ok($t->wait_until(1, sub { inval_key() > $before }),
	'admin API revoke: the gateway is told');

###############################################################################

# garbage on the channel: ignored, counted, the worker keeps serving

my $ok = $t->create_key(name => 'inval-ok');
my ($k0, $a0, $i0) = (inval_key(), inval_all(), ignored());

for my $m ('', 'x', 'A' x 64, 'g' x 64, 'ab' x 33, 'ab' x 31, "*\n",
	'**', "\0" x 64, 'a' x (1024 * 1024))
{
	$t->redis('PUBLISH', 'tr:inval', $m);
}

ok($t->wait_until(2, sub { ignored() >= $i0 + 10 }),
	'garbage: 10 messages ignored');
is(inval_key(), $k0, 'garbage: no key invalidated');
is(inval_all(), $a0, 'garbage: nothing invalidated');
is(subscribed(), 1, 'garbage: still subscribed');
is($t->chat($ok->{raw})->{status}, 200, 'garbage: the worker serves');

# a well-formed hash of no key is still an invalidation; "*" is all

$t->redis('PUBLISH', 'tr:inval', 'f' x 64);
ok($t->wait_until(1, sub { inval_key() == $k0 + 1 }), 'a hash: counted');
$t->redis('PUBLISH', 'tr:inval', '*');
ok($t->wait_until(1, sub { inval_all() == $a0 + 1 }), '"*": counted');

###############################################################################

# the subscriber killed: resubscribes, and invalidates everything

close $sub;
$a0 = inval_all();
my $killed = $t->redis('CLIENT', 'KILL', 'TYPE', 'pubsub');
ok($killed >= 1, "CLIENT KILL TYPE pubsub: $killed killed");
ok($t->wait_until(5, sub { inval_all() > $a0 && subscribed() == 1 }),
	'killed: resubscribed, everything invalidated');

my $late = $t->create_key(name => 'inval-late');
$before = inval_key();
cli_ok('keys', 'revoke', $late->{id});
ok($t->wait_until(1, sub { inval_key() > $before }),
	'killed: the next revocation arrives');

# Redis restarted: the same

$a0 = inval_all();
$t->stop_redis();
ok($t->wait_until(5, sub { subscribed() == 0 }),
	'Redis down: not subscribed');
$t->start_redis();
ok($t->wait_until(10, sub { inval_all() > $a0 && subscribed() == 1 }),
	'Redis back: resubscribed, everything invalidated');

$late = $t->create_key(name => 'inval-after');
$before = inval_key();
cli_ok('keys', 'revoke', $late->{id});
ok($t->wait_until(1, sub { inval_key() > $before }),
	'Redis back: the next revocation arrives');

###############################################################################

# Redis stopped (SIGSTOP: the link open, nothing answered): the
# heartbeat goes unanswered, the subscriber drops; back once it answers

$a0 = inval_all();
my $rpid = $t->{procs}{redis};
kill 'STOP', $rpid;
my $t1 = time();
my $lost = $t->wait_until(9, sub { subscribed() == 0 });
my $took = time() - $t1;
kill 'CONT', $rpid;
ok($lost, 'Redis frozen: the heartbeat unanswered, not subscribed');
diag(sprintf('frozen Redis found by the heartbeat in %.1f s', $took));
like($t->error_log(), qr/no answer to the heartbeat/, 'the drop is logged');
ok($t->wait_until(10, sub { inval_all() > $a0 && subscribed() == 1 }),
	'Redis answers again: resubscribed, everything invalidated');

# a reload: the new worker subscribes, the old one's subscriber goes

$a0 = inval_all();
$t->reload_nginx();
ok($t->wait_until(5, sub { inval_all() > $a0 && subscribed() == 1 }),
	'reload: the new worker subscribed');
ok($t->wait_until(5, sub {
	my $c = () = ($t->redis('CLIENT', 'LIST', 'TYPE', 'pubsub')
		=~ /^id=/mg);
	$c == 1 }), 'reload: the old worker\'s subscriber is gone');

# without the directive: no subscriber

my $n = () = ($t->redis('CLIENT', 'LIST', 'TYPE', 'pubsub') =~ /^id=/mg);
is($n, 1, 'one subscriber: the gateway with tokenroute_invalidation on');

$t->start_nginx_instance('plain');
ok($t->wait_until(5, sub {
	my $c = () = ($t->redis('CLIENT', 'LIST', 'TYPE', 'normal')
		=~ /^id=/mg);
	$c >= 3 }), 'the second gateway connected');
sleep 0.5;
$n = () = ($t->redis('CLIENT', 'LIST', 'TYPE', 'pubsub') =~ /^id=/mg);
is($n, 1, 'the gateway without the directive subscribes to nothing');
$t->stop_nginx_instance('plain');

###############################################################################

done_testing();

###############################################################################
