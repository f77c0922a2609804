#!/usr/bin/perl

# (C) tokenroute authors

# A key rotated or deleted while a request made with it is in flight
# (README "The key lifecycle"): the request's reservation names the old
# hash.  Rotated: the request is charged once, to the key (its new
# record), its reservation given back there, nothing left at the old
# hash but the forwarding record, and the old raw key is refused at once.
# Deleted: the request is charged to the account and the usage records,
# and no record comes back.  Also the sweep, for a reservation whose
# request never settles.

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Test::More;

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

# slow: 0.5 s between stream events
$t->start_gateway(http => <<'EOF');
tokenroute_model openai/k-slow provider=mockai upstream_model=gpt-k-slow-usage-30-300 input_price=1 output_price=2;
EOF

sub chat {
	my ($raw, $model) = @_;
	return $t->http(method => 'POST', path => '/v1/chat/completions',
		headers => { Authorization => "Bearer $raw" },
		body => { model => $model // 'openai/gpt-4o-mini',
			messages => [ { role => 'user', content => 'hi' } ] });
}

sub start_slow {
	my ($raw) = @_;
	return $t->http_start(method => 'POST', path => '/v1/chat/completions',
		headers => [ Authorization => "Bearer $raw" ],
		body => { model => 'openai/k-slow', max_tokens => 1000,
			stream => JSON::PP::true,
			messages => [ { role => 'user', content => 'slowly' } ] },
		timeout => 10);
}

sub cli_json {
	my (@args) = @_;
	my ($rc, $out, $err) = $t->cli(@args);
	is($rc, 0, "@args: exit 0") or diag($err);
	return eval { JSON::PP->new->utf8->decode($out) } // {};
}

sub in_flight {
	return $t->wait_until(5, sub { $t->redis('HLEN', 'tr:rsvd') > 0 });
}

sub all_settled {
	return $t->wait_until(10, sub { $t->redis('HLEN', 'tr:rsvd') == 0 });
}

###############################################################################

# rotation

my $key = $t->create_key(name => 'rot', account => 'rot');
my $old = 'tr:key:' . $t->key_hash($key->{raw});

my $h = start_slow($key->{raw});
ok(in_flight(), 'rotate: a request in flight');
cmp_ok($t->redis('HGET', $old, 'reserved') // 0, '>', 0,
	'rotate: the key holds its reservation');

my $rot = cli_json('keys', 'rotate', $key->{id}, '--json');
like($rot->{raw} // '', qr/^sk-tr-/, 'rotate: a new raw key');
is($rot->{id}, $key->{id}, 'rotate: same id');
my $new = 'tr:key:' . $t->key_hash($rot->{raw} // '');

is(chat($key->{raw})->{status}, 401, 'rotate: the old raw key stops at once');
is(chat($rot->{raw})->{status}, 200, 'rotate: the new one works');

my $res = $t->http_finish($h, timeout => 10);
is($res->{status}, 200, 'rotate: the request in flight ends well');
ok(all_settled(), 'rotate: everything settled');

my %acct = %{ $t->redis_hash('tr:acct:rot') };
my %rec = %{ $t->redis_hash($new) };
cmp_ok($acct{spent} // 0, '>', 0, 'rotate: the account was charged');
is($rec{spent}, $acct{spent},
	'rotate: the key was charged the same, once (both requests)');
is($rec{reserved} // 0, 0, 'rotate: nothing stranded in the key reserved');
is($acct{reserved} // 0, 0, 'rotate: nor in the account');
is_deeply($t->redis_hash($old), { moved => $key->{id} },
	'rotate: the old hash holds only the forwarding record');
cmp_ok($t->redis('TTL', $old), '>', 0, 'rotate: which expires');
is($t->redis('GET', "tr:keyid:$key->{id}"), $t->key_hash($rot->{raw} // ''),
	'rotate: the id names the new hash');

###############################################################################

# deletion

my $del = $t->create_key(name => 'del', account => 'del');
my $dh = 'tr:key:' . $t->key_hash($del->{raw});

$h = start_slow($del->{raw});
ok(in_flight(), 'delete: a request in flight');

my $d = cli_json('keys', 'delete', $del->{id}, '--json');
is_deeply($d, { id => $del->{id}, deleted => JSON::PP::true },
	'delete --json');
is(chat($del->{raw})->{status}, 401, 'delete: the raw key stops at once');

$res = $t->http_finish($h, timeout => 10);
is($res->{status}, 200, 'delete: the request in flight ends well');
ok(all_settled(), 'delete: settled');

is($t->redis('EXISTS', $dh), 0, 'delete: no record comes back');
%acct = %{ $t->redis_hash('tr:acct:del') };
cmp_ok($acct{spent} // 0, '>', 0, 'delete: the account was charged');
is($acct{reserved} // 0, 0, 'delete: its reservation given back');

my $day = $t->redis('KEYS', 'tr:u:d:*');
my %u = map { %{ $t->redis_hash($_) } } @$day;
ok(grep({ /\Q$del->{id}\E/ } keys %u), 'delete: its usage records stay');

###############################################################################

# the sweep: a reservation whose request never settles, its key rotated
# or deleted before the sweep gives it back

my $sw = $t->create_key(name => 'sw', account => 'sw');
my $gone = $t->create_key(name => 'gone', account => 'sw');
my $admit = $t->redis('SCRIPT', 'LOAD', $t->script_text('admission'));
my $sweep = $t->redis('SCRIPT', 'LOAD', TokenRoute::Test::_slurp(
	$t->repo . '/src/lua/sweep.lua'));

# far in the future: the gateway's own sweep leaves them alone
my $now = time() + 86400;

$t->redis('EVALSHA', $admit, 0, $now, $now + 1,
	$t->key_hash($sw->{raw}), 'openai/gpt-4o-mini', 'sweep-1', 1000, 10,
	$t->key_hash($gone->{raw}), 'openai/gpt-4o-mini', 'sweep-2', 500, 10);
is($t->redis('HGET', 'tr:acct:sw', 'reserved'), 1500, 'sweep: reserved');

$rot = cli_json('keys', 'rotate', $sw->{id}, '--json');
cli_json('keys', 'delete', $gone->{id}, '--json');

is($t->redis('EVALSHA', $sweep, 0, $now + 2), 2, 'sweep: both released');
is($t->redis('HGET', 'tr:key:' . $t->key_hash($rot->{raw} // ''),
	'reserved'), 0, 'sweep: the rotated key\'s reservation given back');
is_deeply($t->redis_hash('tr:key:' . $t->key_hash($sw->{raw})),
	{ moved => $sw->{id} }, 'sweep: no stub at the old hash');
is($t->redis('EXISTS', 'tr:key:' . $t->key_hash($gone->{raw})), 0,
	'sweep: none for the deleted key');
is($t->redis('HGET', 'tr:acct:sw', 'reserved'), 0,
	'sweep: the account\'s given back');

###############################################################################

done_testing();

###############################################################################
