#!/usr/bin/perl

# (C) tokenroute authors

# Tests for the hard ceilings (README "The reservation rule"): with credit
# (or a key limit, a tenant's limit shared by its keys, a period budget)
# for K requests, at most K of 100 concurrent requests get through, with
# one nginx or two sharing the Redis; the rest get 402 in the client's
# shape, and the books balance to the nano-dollar afterwards.

###############################################################################

use warnings;
use strict;

use JSON::PP;
use List::Util qw(max min);
use Math::BigInt;
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Money qw(usd_nano nano_usd cost reserve);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

my ($IP, $OP) = ('1', '2');
my %P = (price => usd_nano($IP), out_price => usd_nano($OP));

my $models = <<"EOF";
tokenroute_model openai/conc provider=mockai upstream_model=gpt-conc-usage-10-20 input_price=$IP output_price=$OP;
EOF

$t->start_gateway(http => $models);

my $K = 5;
my $N = 20 * $K;

# every request is the same bytes: the same reservation R and cost C
my $BODY = '{"model":"openai/conc","messages":[{"role":"user","content":'
	. '"How many of us get through?"}],"max_tokens":100}';

my $R = reserve(bytes => length $BODY, max_tokens => 100, %P);
my $C = cost(in => 10, out => 20, %P);

cmp_ok(Math::BigInt->new($C), '<=', Math::BigInt->new($R), "C $C <= R $R");

my $KR = Math::BigInt->new($R)->bmul($K)->bstr();

###############################################################################

# Fires $N requests at once (split across @ports); the provider holds
# every answer 1.5 s, so all of them are admitted or refused before the
# first one settles and gives its reservation back.

sub storm {
	my ($key, @ports) = @_;

	# several keys (of one tenant): in turn
	my @keys = ref $key eq 'ARRAY' ? @$key : ($key);

	$t->clear_mock_requests();

	my @reqs = map { {
		method => 'POST', path => '/v1/chat/completions',
		port => $ports[$_ % @ports],
		headers => [ Authorization => "Bearer "
				. $keys[int($_ / @ports) % @keys]{raw},
			'Content-Type' => 'application/json',
			'x-mock-wait' => '1.5' ],
		body => $BODY, timeout => 30,
	} } 0 .. $N - 1;

	my @res = $t->http_parallel(@reqs);
	$res[$_]{req} = $reqs[$_] for 0 .. $#res;

	my $first = min(map { $_->{sent} // 0 } @res);
	my $last = max(map { $_->{sent} // 0 } @res);
	my @ok = grep { $_->{status} == 200 } @res;

	diag(sprintf "%d requests sent within %.3f s, %d got through",
		scalar @res, $last - $first, scalar @ok);

	# precondition of "at most K": nobody had finished (and released its
	# reservation) before the last request was sent
	ok(!grep({ ($_->{done} // 0) < $last } @ok),
		'every admitted request was still in flight when the last was sent');

	return @res;
}

# Waits until nothing is reserved any more, then returns the key's and the
# account's hashes.

sub books {
	my ($key) = @_;

	my $kh = 'tr:key:' . $t->key_hash($key->{raw});
	my $ah = "tr:acct:$key->{account}";

	$t->wait_until(5, sub {
		($t->redis('HGET', $kh, 'reserved') // 0) eq '0'
			&& ($t->redis('HGET', $ah, 'reserved') // 0) eq '0'
			&& $t->redis('ZCARD', 'tr:rsv') == 0
	});

	# and the settlements of the successes have all landed
	sleep 0.3;

	return ($t->redis_hash($kh), $t->redis_hash($ah));
}

sub outcome_ok {
	my ($name, $code, @res) = @_;

	my @ok = grep { $_->{status} == 200 } @res;
	my @no = grep { $_->{status} != 200 } @res;

	my $s = scalar @ok;

	cmp_ok($s, '<=', $K, "$name: at most K = $K got through");
	cmp_ok($s, '>=', 1, "$name: at least one got through");
	is($s, $K, "$name: exactly K got through (none refused wrongly)");

	my @shaped = grep {
		$_->{status} == 402
		&& ($_->{headers}{'content-type'} // '') =~ m{^application/json}
		&& ref $_->{json} eq 'HASH' && ref $_->{json}{error} eq 'HASH'
		&& ($_->{json}{error}{type} // '') eq 'insufficient_quota'
		&& ($_->{json}{error}{code} // '') eq $code
		&& length($_->{json}{error}{message} // '')
	} @no;

	is(scalar @shaped, scalar @no,
		"$name: every other request got 402 $code in OpenAI shape")
		or diag(join "\n", map { "$_->{status} " . substr($_->{raw}, 0, 300) }
			grep { $_->{status} != 402 } @no[0 .. min(4, $#no)]);

	ok(!grep({ $_->{status} == 200 && ($_->{json}{object} // '')
		ne 'chat.completion' } @ok), "$name: the successes are answers");

	my @up = $t->mock_requests();
	is(scalar @up, $s, "$name: only the admitted reached the provider");

	return $s;
}

###############################################################################

# credit for exactly K reservations, one nginx

sub credit_round {
	my ($name, @ports) = @_;

	subtest $name => sub {
		my $key = $t->create_key(account => "storm-$name" =~ s/\W+/-/gr,
			fund => 0);
		$t->redis('HSET', "tr:acct:$key->{account}", 'credit', $KR);

		my @res = storm($key, @ports);
		my $s = outcome_ok($name, 'insufficient_credit', @res);

		if (@ports > 1) {
			my %per;
			$per{ $_->{port} }++ for map { $_->{req} } @res;
			is(scalar(grep { ($per{$_} // 0) == $N / @ports } @ports),
				scalar @ports, 'the requests were split across the instances');
			my $log = TokenRoute::Test::_slurp($t->testdir
				. '/nginx2/access.log') // '';
			my $lines = () = $log =~ /\n/g;
			cmp_ok($lines, '>=', $N / 2, 'nginx2 answered its share');
		}

		my ($k, $a) = books($key);

		my $spent = Math::BigInt->new($C)->bmul($s)->bstr();
		my $left = Math::BigInt->new($KR)->bsub($spent)->bstr();

		is($a->{credit}, $left, "final credit = K*R - successes*C = $left");
		cmp_ok(Math::BigInt->new($a->{credit} // -1), '>=', 0,
			'credit never negative');
		is($a->{reserved}, '0', 'account reserved 0');
		is($a->{spent}, $spent, 'account spent = successes*C');
		is($k->{spent}, $spent, 'key spent = successes*C');
		is($k->{reserved}, '0', 'key reserved 0');
		is($t->redis('ZCARD', 'tr:rsv'), 0, 'no reservation left');
		is($t->redis('HLEN', 'tr:rsvd'), 0, 'no reservation record left');
	};
}

credit_round('credit, one nginx', $t->port('http'));

# the same with two nginx instances sharing the Redis

$t->start_nginx_instance('nginx2', http => $models);

credit_round('credit, two nginx', $t->port('http'), $t->port('nginx2'));

###############################################################################

# a key limit of exactly K reservations; the account has plenty

subtest 'key limit, two nginx' => sub {
	my $key = $t->create_key(account => 'storm-limit', fund => 1000,
		limit => nano_usd($KR));

	my @res = storm($key, $t->port('http'), $t->port('nginx2'));
	my $s = outcome_ok('key limit', 'key_limit_reached', @res);

	my ($k, $a) = books($key);

	my $spent = Math::BigInt->new($C)->bmul($s)->bstr();

	is($k->{limit}, $KR, 'the key limit is K*R');
	is($k->{spent}, $spent, 'key spent = successes*C');
	cmp_ok(Math::BigInt->new($k->{spent} // 0), '<=',
		Math::BigInt->new($KR), 'key spent <= its limit');
	is($k->{reserved}, '0', 'key reserved 0');
	is($a->{reserved}, '0', 'account reserved 0');
	is($a->{credit}, Math::BigInt->new(usd_nano(1000))->bsub($spent)->bstr(),
		'account charged exactly successes*C');
};

###############################################################################

# a tenant's limit of exactly K reservations, shared by its two keys (each
# key and the account have plenty), two nginx

sub tenant_books {
	my ($th, @keys) = @_;
	$t->wait_until(5, sub {
		($t->redis('HGET', $th, 'reserved') // 0) eq '0'
			&& $t->redis('ZCARD', 'tr:rsv') == 0
	});
	sleep 0.3;
	return $t->redis_hash($th);
}

subtest 'tenant limit, two nginx' => sub {
	my $th = 'tr:tenant:storm-tenant|crew';
	$t->redis('HSET', $th, name => 'crew', account => 'storm-tenant',
		limit => $KR);
	$t->redis('SADD', 'tr:tenants:storm-tenant', 'crew');

	my @keys = map { $t->create_key(account => 'storm-tenant',
		fund => 1000) } 1 .. 2;
	$t->redis('HSET', 'tr:key:' . $t->key_hash($_->{raw}), tenant => 'crew')
		for @keys;

	my @res = storm(\@keys, $t->port('http'), $t->port('nginx2'));
	my $s = outcome_ok('tenant limit', 'tenant_limit_reached', @res);

	my $tn = tenant_books($th);
	my ($k1, $a) = books($keys[0]);
	my ($k2) = books($keys[1]);

	my $spent = Math::BigInt->new($C)->bmul($s)->bstr();
	my %per;
	$per{ $_->{req}{headers}[1] }++ for grep { $_->{status} == 200 } @res;
	is(scalar keys %per, 2, 'both keys had requests through');

	is($tn->{spent}, $spent, 'tenant spent = successes*C');
	cmp_ok(Math::BigInt->new($tn->{spent} // 0), '<=',
		Math::BigInt->new($KR), 'tenant spent <= its limit');
	is($tn->{reserved}, '0', 'tenant reserved 0');
	is(Math::BigInt->new($k1->{spent} // 0)->badd($k2->{spent} // 0)->bstr(),
		$spent, 'the keys\' spent add up to the tenant\'s');
	is($a->{spent}, $spent, 'account spent = successes*C (the bill)');
	is($a->{credit}, Math::BigInt->new(usd_nano(1000))->bsub($spent)->bstr(),
		'account charged exactly successes*C');
	is($a->{reserved}, '0', 'account reserved 0');
};

###############################################################################

# a daily budget of exactly K reservations on a key whose record holds a
# past period's spend (the budget starts again), and a tenant's monthly
# budget of exactly K on another key; two nginx

subtest 'period budgets, two nginx' => sub {
	my $day = int(time() / 86400);

	my $key = $t->create_key(account => 'storm-period', fund => 1000,
		limit => nano_usd($KR));
	my $kh = 'tr:key:' . $t->key_hash($key->{raw});
	$t->redis('HSET', $kh, period => 'day', pid => 'd' . ($day - 1),
		pspent => $KR, spent => $KR);

	my @res = storm($key, $t->port('http'), $t->port('nginx2'));
	my $s = outcome_ok('key period', 'key_limit_reached', @res);
	my ($k, $a) = books($key);

	my $spent = Math::BigInt->new($C)->bmul($s)->bstr();
	is($k->{pid}, "d$day", 'the key moved to today');
	is($k->{pspent}, $spent, 'pspent = successes*C');
	cmp_ok(Math::BigInt->new($k->{pspent} // 0), '<=',
		Math::BigInt->new($KR), 'pspent <= the budget');
	is($k->{spent}, Math::BigInt->new($KR)->badd($spent)->bstr(),
		'spent: lifetime, the past period\'s too');
	is($k->{reserved}, '0', 'key reserved 0');
	is($a->{reserved}, '0', 'account reserved 0');
	is($a->{spent}, $spent, 'account spent = successes*C');

	my $th = 'tr:tenant:storm-period|month';
	$t->redis('HSET', $th, name => 'month', account => 'storm-period',
		limit => $KR, period => 'month', pid => 'm190001', pspent => $KR);
	$t->redis('SADD', 'tr:tenants:storm-period', 'month');
	my $tk = $t->create_key(account => 'storm-period', fund => 0);
	$t->redis('HSET', 'tr:key:' . $t->key_hash($tk->{raw}),
		tenant => 'month');

	@res = storm($tk, $t->port('http'), $t->port('nginx2'));
	$s = outcome_ok('tenant period', 'tenant_limit_reached', @res);
	my $tn = tenant_books($th);
	books($tk);

	my @g = gmtime();
	$spent = Math::BigInt->new($C)->bmul($s)->bstr();
	is($tn->{pid}, sprintf('m%04d%02d', $g[5] + 1900, $g[4] + 1),
		'the tenant moved to this month');
	is($tn->{pspent}, $spent, 'tenant pspent = successes*C');
	is($tn->{spent}, $spent, 'tenant spent = successes*C');
	is($tn->{reserved}, '0', 'tenant reserved 0');
};

###############################################################################

done_testing();

###############################################################################
