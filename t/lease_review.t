#!/usr/bin/perl

# (C) tokenroute authors

# Leases (README "Leases"), their bounds under review: failed requests
# aggregated are counted as failed, every one; a key moved to another
# tenant does not reserve on one tenant and give back to the other; a
# request still in flight past its lease's ttl keeps its reservation; a
# revoked key's lease goes back; a request ending while nginx quits is
# charged.

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

$t->start_gateway(http => <<'EOF');
tokenroute_lease zone=lease:1m slice=50 max_age=500ms flush=1s ttl=2s;
tokenroute_model openai/used provider=mockai upstream_model=gpt-usage-100-20 input_price=1 output_price=5;
tokenroute_model openai/err provider=mockai upstream_model=gpt-error-500 input_price=1 output_price=5;
EOF

# the lease records of a key hash in tr:rsvd: outstanding amounts
sub leases {
	my ($kh) = @_;
	my %r = @{ $t->redis('HGETALL', 'tr:rsvd') || [] };
	return map { (split / /, $r{$_})[1] }
		grep { $r{$_} =~ /^$kh \d+ \S+ \S+ - - - -$/ } keys %r;
}

sub chat {
	my ($raw, $model, @h) = @_;
	return $t->http(method => 'POST', path => '/v1/chat/completions',
		headers => [ Authorization => "Bearer $raw", @h ],
		body => { model => $model // 'openai/used', max_tokens => 50,
			messages => [ { role => 'user', content => 'Hi' } ] },
		timeout => 15)->{status};
}

sub utc_hour {
	my @g = gmtime(time());
	return sprintf('%04d%02d%02d%02d', $g[5] + 1900, $g[4] + 1, $g[3],
		$g[2]);
}

sub reserved { $t->redis('HGET', $_[0], 'reserved') // 0 }

###############################################################################

# failed requests admitted from a lease: each counts as failed once its
# aggregate is flushed (an aggregate's fail field is a count, not a flag)

{
	my $k = $t->create_key(name => 'fails', account => 'facct');
	my $kh = $t->key_hash($k->{raw});

	is(chat($k->{raw}), 200, 'fails: first request served');
	ok($t->wait_until(3, sub { (leases($kh))[0] }), 'fails: a lease');

	my @st = map { chat($k->{raw}, 'openai/err') } 1 .. 4;
	is(scalar(grep { $_ >= 500 } @st), 4, 'fails: 4 requests failed');

	my $f = "facct||$k->{id}|openai/err|";
	ok($t->wait_until(4, sub {
		my %u = %{ $t->redis_hash('tr:u:h:' . utc_hour()) };
		($u{$f . 'fail'} // 0) + ($u{$f . 'req'} // 0) >= 4
	}), 'fails: flushed');
	my %u = %{ $t->redis_hash('tr:u:h:' . utc_hour()) };
	is($u{$f . 'fail'}, 4, 'fails: usage counts 4 failed');
	is($u{$f . 'req'} // 0, 0, 'fails: and no request charged');
}

###############################################################################

# a key moved to another tenant while its lease lives: the lease script
# grants nothing more on it ("moved"), so that what is given back goes to
# the tenant it was reserved on

{
	$t->redis('SADD', 'tr:accts', 'tacct');
	$t->redis('HSET', 'tr:acct:tacct', 'credit', 1000e9);
	for my $tn (qw(t1 t2)) {
		my ($rc, $out, $err) = $t->cli('tenants', 'create', 'tacct', $tn);
		is($rc, 0, "tenant $tn created") or diag($err);
	}
	my $k = $t->create_key(name => 'mover', account => 'tacct',
		tenant => 't1', fund => 0);
	my $kh = $t->key_hash($k->{raw});
	my $lid = 'M' x 24;
	my $now = int(time());
	my $lua = $t->script_text('lease');

	my $g = $t->redis('EVAL', $lua, 0, 'get', $now, $now + 60, $kh, $lid,
		1000000, 0);
	is($g->[8], 'live', 'moved: leased on t1');
	is(reserved('tr:tenant:tacct|t1'), 1000000, 'moved: t1 reserved');

	$t->redis('HSET', "tr:key:$kh", 'tenant', 't2');
	$g = $t->redis('EVAL', $lua, 0, 'get', $now, $now + 60, $kh, $lid,
		1000000, 1);
	is($g->[3], 't2', 'moved: the record names t2');
	is($g->[7], 0, 'moved: nothing granted on a lease of t1');
	is($g->[8], 'moved', 'moved: said so');

	$t->redis('EVAL', $lua, 0, 'back', $lid, 2000000, 1);
	is(reserved('tr:tenant:tacct|t1'), 0, 'moved: t1 reserved back to 0');
	is(reserved('tr:tenant:tacct|t2'), 0, 'moved: t2 reserved 0');
	is(reserved("tr:key:$kh"), 0, 'moved: key reserved back to 0');
	is(reserved('tr:acct:tacct'), 0, 'moved: account reserved back to 0');

	# the gateway: a lease on t1, the key moved to t2 (published): t1's
	# slice comes back while the key's requests go on

	$t->redis('HSET', "tr:key:$kh", 'tenant', 't1');
	is(chat($k->{raw}), 200, 'moved: served under t1');
	ok($t->wait_until(3, sub { reserved('tr:tenant:tacct|t1') > 0 }),
		'moved: a slice leased on t1');
	my ($rc, $out, $err) = $t->cli('keys', 'update', $k->{id},
		'--tenant', 't2');
	is($rc, 0, 'moved: keys update --tenant t2') or diag($err);
	my $t0 = time();
	my $back = 0;
	while (time() - $t0 < 3) {
		chat($k->{raw});
		if (reserved('tr:tenant:tacct|t1') == 0) {
			$back = 1;
			last;
		}
		sleep 0.1;
	}
	ok($back, 'moved: t1\'s slice given back while the key is busy')
		or diag(explain([ $t->redis('HGETALL', 'tr:rsvd') ]));
}

###############################################################################

# a request in flight longer than its lease's ttl (2 s) keeps its
# reservation in Redis: the sweep does not release it under the request;
# once it settled and the lease idled, nothing is left reserved

{
	my $k = $t->create_key(name => 'long', account => 'lgacct');
	my $kh = $t->key_hash($k->{raw});

	is(chat($k->{raw}), 200, 'long: first request served');
	ok($t->wait_until(3, sub { (leases($kh))[0] }), 'long: a lease');

	my $h = $t->http_start(method => 'POST',
		path => '/v1/chat/completions',
		headers => [ Authorization => "Bearer $k->{raw}",
			'x-mock-wait' => 5 ],
		body => { model => 'openai/used', max_tokens => 50,
			messages => [ { role => 'user', content => 'Hi' } ] },
		timeout => 15);

	sleep 4;
	cmp_ok(reserved("tr:key:$kh"), '>', 0,
		'long: still reserved 4 s in, past the lease\'s ttl')
		or diag(explain([ $t->redis('HGETALL', 'tr:rsvd') ]));
	cmp_ok(reserved('tr:acct:lgacct'), '>', 0, 'long: and on the account');

	is($t->http_finish($h, timeout => 10)->{status}, 200, 'long: served');

	ok($t->wait_until(10, sub {
		reserved("tr:key:$kh") == 0 && reserved('tr:acct:lgacct') == 0
	}), 'long: nothing reserved once settled and idle')
		or diag(explain([ $t->redis('HGETALL', 'tr:rsvd') ]));
	cmp_ok($t->redis('HGET', "tr:key:$kh", 'spent') // 0, '>', 0,
		'long: charged');
}

###############################################################################

# a key its gateway may admit nothing for any more (revoked) gives its
# lease back at once, though its client keeps trying (its lease was kept
# until the sweep: the account's headroom held)

{
	my $k = $t->create_key(name => 'revoked', account => 'rvacct');
	my $kh = $t->key_hash($k->{raw});

	is(chat($k->{raw}), 200, 'revoked: first request served');
	ok($t->wait_until(3, sub { (leases($kh))[0] }), 'revoked: a lease');
	my ($rc, $out, $err) = $t->cli('keys', 'revoke', $k->{id});
	is($rc, 0, 'revoked: keys revoke') or diag($err);

	my $t0 = time();
	my $back = 0;
	while (time() - $t0 < 3) {
		chat($k->{raw});
		if (reserved('tr:acct:rvacct') == 0) {
			$back = 1;
			last;
		}
		sleep 0.1;
	}
	ok($back, 'revoked: the account\'s reserved back to 0 while tried')
		or diag(explain([ $t->redis('HGETALL', 'tr:rsvd') ]));
}

###############################################################################

# a leased request that ends while nginx quits, after the lease timer's
# last tick: its usage is charged (not left in the journal, gone with
# nginx)

{
	my $k = $t->create_key(name => 'quit', account => 'qacct');
	my $kh = $t->key_hash($k->{raw});

	is(chat($k->{raw}), 200, 'quit: first request served');
	ok($t->wait_until(3, sub { (leases($kh))[0] }), 'quit: a lease');
	ok($t->wait_until(3, sub {
		($t->redis('HGET', "tr:key:$kh", 'spent') // 0) > 0 }),
		'quit: the first charged');
	my $spent = $t->redis('HGET', "tr:key:$kh", 'spent');

	my $h = $t->http_start(method => 'POST',
		path => '/v1/chat/completions',
		headers => [ Authorization => "Bearer $k->{raw}",
			'x-mock-wait' => 2 ],
		body => { model => 'openai/used', max_tokens => 50,
			messages => [ { role => 'user', content => 'Hi' } ] },
		timeout => 15);
	sleep 0.5;
	kill 'QUIT', $t->nginx_pid();

	is($t->http_finish($h, timeout => 10)->{status}, 200,
		'quit: served while nginx quits');
	$t->stop_nginx();
	ok($t->wait_until(3, sub {
		($t->redis('HGET', "tr:key:$kh", 'spent') // 0) > $spent }),
		'quit: its usage charged');
}

done_testing();
