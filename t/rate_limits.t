#!/usr/bin/perl

# (C) tokenroute authors

# Rate limits per key (README "Rate limits"): rpm, tpm and max-concurrent
# (the key record's "concurrency"), set here with HSET on the key's record
# as the CLI writes them, enforced by the admission script over calendar
# minutes: 429 in the client's shape with Retry-After and a message that
# names the key's own limit; tpm corrected at settlement; exact across two
# gateways sharing the Redis (100 concurrent requests against rpm K, or a
# tpm that K of them fit, admit exactly K; max-concurrent K never has more
# than K in flight at the provider); limit_req keyed on $tokenroute_key_id
# limits nothing.

###############################################################################

use warnings;
use strict;

use List::Util qw(max min);
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

my $models = <<'EOF';
tokenroute_model openai/rl provider=mockai upstream_model=gpt-rl-usage-10-20 input_price=1 output_price=2;
tokenroute_model anthropic/rl provider=mockant upstream_model=claude-rl-usage-10-20 input_price=1 output_price=2;
tokenroute_model openai/rl-slow provider=mockai upstream_model=gpt-rl-slow-usage-10-20 input_price=1 output_price=2;
EOF

$t->start_gateway(http => $models);

# the key record's fields, as the CLI (keys create/update --rpm ...) sets
# them: schema11.md
sub limits {
	my ($key, %f) = @_;
	$t->redis('HSET', 'tr:key:' . $t->key_hash($key->{raw}), %f);
}

sub field {
	my ($key, $f) = @_;
	return $t->redis('HGET', 'tr:key:' . $t->key_hash($key->{raw}), $f);
}

# a request's body; its tokens at admission are its bytes (the input
# bound, bytes_per_token 1) plus its max_tokens
sub body {
	my ($max, $model, $text) = @_;
	return '{"model":"' . ($model // 'openai/rl') . '","max_tokens":' . $max
		. ',"messages":[{"role":"user","content":"'
		. ($text // 'rate me') . '"}]}';
}

sub chat {
	my ($key, %a) = @_;
	my $anthropic = ($a{model} // '') =~ m{^anthropic/};
	return {
		method => 'POST',
		path => $anthropic ? '/v1/messages' : '/v1/chat/completions',
		port => $a{port},
		headers => [ ($anthropic ? ('x-api-key' => $key->{raw},
				'anthropic-version' => '2023-06-01')
				: (Authorization => "Bearer $key->{raw}")),
			'Content-Type' => 'application/json',
			@{ $a{headers} || [] } ],
		body => $a{body} // body($a{max} // 50, $a{model}),
		timeout => 30,
	};
}

# waits, when needed, so that at least $need seconds of the current
# calendar minute are left: a test of "one minute" runs inside one
sub fresh_minute {
	my ($need) = @_;
	my $left = 60 - time() % 60;
	sleep($left + 0.05) if $left < $need;
}

# waits until every reservation of the key is settled
sub settled_all {
	my ($key) = @_;
	return $t->wait_until(10, sub {
		(field($key, 'reserved') // 0) eq '0'
			&& (field($key, 'inflight') // 0) eq '0'
	});
}

sub retry_after_ok {
	my ($res, $name) = @_;
	my $ra = $res->{headers}{'retry-after'} // '';
	my $left = 60 - time() % 60;
	ok($ra =~ /^\d+$/ && $ra >= 1 && $ra <= 60
		&& abs($ra - $left) <= 2,
		"$name: Retry-After $ra: the seconds to the next minute ($left)");
}

###############################################################################

subtest 'rpm' => sub {
	my $key = $t->create_key(account => 'rl-rpm');
	limits($key, rpm => 3);
	fresh_minute(20);
	$t->clear_mock_requests();

	my @res = map { $t->http(%{ chat($key) }) } 1 .. 4;

	is_deeply([ map { $_->{status} } @res ], [ 200, 200, 200, 429 ],
		'rpm 3: the fourth request of the minute gets 429');
	is(scalar(my @m = $t->mock_requests()), 3,
		'the provider saw only the three');

	my $r = $res[3];
	$t->error_ok($r, 'openai', status => 429, type => 'rate_limit_error',
		name => 'OpenAI shape');
	is($r->{json}{error}{code}, 'rate_limit_exceeded',
		'code rate_limit_exceeded');
	like($r->{json}{error}{message},
		qr/this API key's own limit of 3 requests per minute \(rpm\), set in tokenroute \(not the provider's\)/,
		'the message: the key\'s own limit, its value, not the provider\'s');
	retry_after_ok($r, 'rpm');
	is($r->{headers}{'x-should-retry'}, undef, 'no x-should-retry');

	my $a = $t->http(%{ chat($key, model => 'anthropic/rl') });
	$t->error_ok($a, 'anthropic', status => 429, type => 'rate_limit_error',
		name => 'Anthropic shape');
	like($a->{json}{error}{message}, qr/own limit of 3 requests per minute/,
		'the same message');
	retry_after_ok($a, 'rpm, Anthropic');

	like($t->error_log(), qr/\[error\].*tokenroute: 429 rate limit exceeded, key "\Q$key->{id}\E" account "rl-rpm"/,
		'the refusal is logged, by key id and account');

	# the window: set back by hand to an older minute, it starts again
	limits($key, rwin => int(time() / 60) - 1);
	is($t->http(%{ chat($key) })->{status}, 200,
		'a window of an older minute is reset');
	is(field($key, 'rn'), 1, 'rn counts from 1 again');
	is(field($key, 'rwin'), int(time() / 60), 'rwin is this minute');

	# removing the limit: no 429
	limits($key, rpm => '');
	is($t->http(%{ chat($key) })->{status}, 200, 'rpm "": no limit');
	limits($key, rpm => 0);
	is($t->http(%{ chat($key) })->{status}, 200, 'rpm 0: no limit');

	ok(settled_all($key), 'nothing left in flight');
};

###############################################################################

subtest 'tpm, corrected at settlement' => sub {
	my $key = $t->create_key(account => 'rl-tpm');

	# each request counts R tokens at admission, 30 once settled
	# (usage 10 in, 20 out)
	my $R = length(body(1000)) + 1000;
	limits($key, tpm => int($R * 1.5));
	fresh_minute(25);

	my @st;
	for my $i (1 .. 4) {
		push @st, $t->http(%{ chat($key, max => 1000) })->{status};
		settled_all($key);
	}

	is_deeply(\@st, [ (200) x 4 ],
		"4 requests of $R tokens each against tpm " . int($R * 1.5)
		. ': each corrected to 30 at settlement, so all pass');
	is(field($key, 'tn'), 120, 'tn: 4 x 30, the actual tokens');

	# two at once: both count R until settled: the second is refused
	my @res = $t->http_parallel(map { chat($key, max => 1000,
		headers => [ 'x-mock-wait' => '0.5' ]) } 1 .. 2);
	is_deeply([ sort map { $_->{status} } @res ], [ 200, 429 ],
		'two at once: one refused');
	my ($no) = grep { $_->{status} == 429 } @res;
	like($no->{json}{error}{message},
		qr/own limit of \d+ tokens per minute \(tpm\).*retry after \d+ s \(this request counts up to $R tokens\)/,
		'the message names tpm and the request\'s tokens');
	retry_after_ok($no, 'tpm');
	settled_all($key);

	# a request whose tokens alone exceed tpm never passes
	my $big = length(body(5000)) + 5000;
	my $r = $t->http(%{ chat($key, max => 5000) });
	is($r->{status}, 429, "a request of $big tokens against tpm "
		. int($R * 1.5) . ': 429');
	like($r->{json}{error}{message},
		qr/counts up to $big tokens .* it can never pass; send a shorter request or a lower max_tokens/,
		'the message: it can never pass');
	is($r->{headers}{'retry-after'}, undef, 'no Retry-After');
	is($r->{headers}{'x-should-retry'}, 'false', 'x-should-retry: false');

	# the next minute, by hand: the window starts again
	limits($key, twin => int(time() / 60) - 1, tn => $R * 5);
	is($t->http(%{ chat($key, max => 1000) })->{status}, 200,
		'a tpm window of an older minute is reset');
	settled_all($key);
	is(field($key, 'tn'), 30, 'tn: this request\'s 30');
};

###############################################################################

subtest 'max-concurrent, slow streams' => sub {
	my $key = $t->create_key(account => 'rl-conc');
	limits($key, concurrency => 2);

	my $req = chat($key, model => 'openai/rl-slow',
		body => '{"model":"openai/rl-slow","stream":true,"max_tokens":50,'
			. '"messages":[{"role":"user","content":"slowly"}]}');

	my @h = map { $t->http_start(%$req) } 1 .. 2;

	ok($t->wait_until(5, sub { (field($key, 'inflight') // 0) == 2 }),
		'two streams in flight');

	my @no = map { $t->http(%$req) } 1 .. 3;
	is_deeply([ map { $_->{status} } @no ], [ (429) x 3 ],
		'a third, fourth, fifth: 429 while two stream');
	like($no[0]{json}{error}{message},
		qr/this API key's own limit of 2 requests at once \(max-concurrent\), set in tokenroute \(not the provider's\).*retry after 1 s/,
		'the message: max-concurrent 2');
	is($no[0]{headers}{'retry-after'}, 1, 'Retry-After: 1');

	my @done = map { $t->http_finish($_, timeout => 20) } @h;
	is_deeply([ map { $_->{status} } @done ], [ 200, 200 ],
		'the two streams complete');
	like($done[0]{body} // '', qr/\[DONE\]/, 'to their end');

	ok(settled_all($key), 'once settled, none in flight');
	is($t->http(%{ chat($key) })->{status}, 200, 'and a new one passes');
	ok(settled_all($key), 'settled');
};

###############################################################################

# Two gateways sharing the Redis

$t->start_nginx_instance('nginx2', http => $models);
my @ports = ($t->port('http'), $t->port('nginx2'));

my $K = 5;
my $N = 100;

# $procs clients, each sending requests one after the other for $secs
# seconds, to both gateways in turn; their statuses counted
sub hammer {
	my ($key, $secs, $procs, @hdr) = @_;

	my @kids;

	for my $i (0 .. $procs - 1) {
		pipe(my $r, my $w) or die "pipe: $!\n";
		my $pid = fork() // die "fork: $!\n";

		if ($pid == 0) {
			close $r;
			my (%n, $j);
			my $end = time() + $secs;
			while (time() < $end) {
				my $res = $t->http(%{ chat($key, headers => \@hdr,
					port => $ports[($i + $j++) % 2]) });
				$n{ $res->{status} }++;
				sleep 0.02 if $res->{status} != 200;
			}
			print $w join(' ', map { "$_=$n{$_}" } keys %n), "\n";
			close $w;
			POSIX::_exit(0);
		}

		close $w;
		push @kids, [ $pid, $r ];
	}

	my %n;

	for my $k (@kids) {
		my $fh = $k->[1];
		my $line = <$fh> // '';
		$n{$1} += $2 while $line =~ /(\d+)=(\d+)/g;
		waitpid($k->[0], 0);
	}

	return %n;
}

subtest "rpm $K, $N at once, two gateways" => sub {
	my $key = $t->create_key(account => 'rl-storm');
	limits($key, rpm => $K);
	fresh_minute(20);
	$t->clear_mock_requests();

	my @res = $t->http_parallel(map { chat($key, port => $ports[$_ % 2]) }
		0 .. $N - 1);
	my @ok = grep { $_->{status} == 200 } @res;
	my @no = grep { $_->{status} == 429 } @res;

	is(scalar @ok, $K, "exactly $K admitted");
	is(scalar @no, $N - $K, 'every other one got 429')
		or diag(join ', ', map { $_->{status} } @res);
	is(scalar(grep { ($_->{json}{error}{code} // '') eq 'rate_limit_exceeded'
		&& ($_->{headers}{'retry-after'} // '') =~ /^\d+$/ } @no),
		scalar @no, 'each rate_limit_exceeded, with Retry-After');
	is(scalar(my @m = $t->mock_requests()), $K,
		"the provider saw $K");
	is(field($key, 'rn'), $K, "rn $K");
	ok(settled_all($key), 'all settled');
};

subtest "tpm for $K, $N at once, two gateways" => sub {
	my $key = $t->create_key(account => 'rl-tstorm');
	my $R = length(body(50)) + 50;
	limits($key, tpm => $K * $R + $R - 1);
	fresh_minute(20);
	$t->clear_mock_requests();

	my @res = $t->http_parallel(map { chat($key, port => $ports[$_ % 2],
		headers => [ 'x-mock-wait' => '1' ]) } 0 .. $N - 1);

	is(scalar(grep { $_->{status} == 200 } @res), $K,
		"tpm " . ($K * $R + $R - 1) . ", $R tokens each: exactly $K admitted");
	is(scalar(grep { $_->{status} == 429
		&& ($_->{json}{error}{message} // '') =~ /\(tpm\)/ } @res), $N - $K,
		'every other one got 429 for tpm');
	ok(settled_all($key), 'all settled');
	is(field($key, 'tn'), 30 * $K, "tn: $K x 30 once settled");
};

subtest "max-concurrent $K, two gateways: at most $K at the provider" => sub {
	my $key = $t->create_key(account => 'rl-conc2');
	limits($key, concurrency => $K);
	$t->clear_mock_requests();

	my $peak = $t->testdir() . '/mock.jsonl.inflight-c2';
	my @hdr = ('x-mock-wait' => '0.3', 'x-mock-inflight' => 'c2');

	# all at once: K admitted
	my @res = $t->http_parallel(map { chat($key, port => $ports[$_ % 2],
		headers => \@hdr) } 0 .. $N - 1);
	is(scalar(grep { $_->{status} == 200 } @res), $K,
		"$N at once: exactly $K admitted");
	is(scalar(grep { $_->{status} == 429 } @res), $N - $K,
		'the others 429');
	ok(settled_all($key), 'all settled');

	# then 3 s of clients that send again as soon as they are answered
	# (a 429: after 20 ms): places free up as requests end, never more
	# than K at once at the provider
	my %n = hammer($key, 3, 2 * $K + 2, @hdr);
	my $all = 0;
	$all += $_ for values %n;

	cmp_ok($n{200} // 0, '>', 2 * $K, ($n{200} // 0) . " of $all admitted "
		. 'over 3 s (places are given back)');
	diag(($n{200} // 0) . " of $all admitted over 3 s, max-concurrent $K");
	is($all - ($n{200} // 0) - ($n{429} // 0), 0, 'the rest 429')
		or diag(explain(\%n));

	my $text = TokenRoute::Test::_slurp($peak);
	my ($now, $most) = split " ", $text // "";
	is($now, 0, 'none in flight at the provider now');
	is($most, $K, "at most $K at once at the provider, and $K reached");
	ok(settled_all($key), 'inflight back to 0');
};

# A tenant's limits, made with the CLI as an operator would: shared by
# the keys of the tenant, across both gateways

subtest "tenant rpm $K over two keys, $N at once, two gateways" => sub {
	my ($rc, $out, $err) = $t->cli('accounts', 'create', 'rl-ten');
	is($rc, 0, 'accounts create') or diag($err);
	($rc, $out, $err) = $t->cli('tenants', 'create', 'rl-ten', 'agents',
		'--rpm', $K);
	is($rc, 0, 'tenants create --rpm') or diag($err);
	my @keys = map { $t->create_key(account => 'rl-ten',
		tenant => 'agents') } 1 .. 2;
	fresh_minute(20);
	$t->clear_mock_requests();

	my @res = $t->http_parallel(map { chat($keys[$_ % 2],
		port => $ports[int($_ / 2) % 2]) } 0 .. $N - 1);
	my @no = grep { $_->{status} == 429 } @res;

	is(scalar(grep { $_->{status} == 200 } @res), $K,
		"exactly $K admitted for the tenant");
	is(scalar @no, $N - $K, 'every other one got 429')
		or diag(join ', ', map { $_->{status} } @res);
	is(scalar(grep { ($_->{json}{error}{message} // '')
		=~ /tenant's own limit of $K requests per minute/ } @no),
		scalar @no, 'each names the tenant\'s own limit')
		or diag($no[0]{body});
	is(scalar(my @m = $t->mock_requests()), $K, "the provider saw $K");
	is($t->redis('HGET', 'tr:tenant:rl-ten|agents', 'rn'), $K,
		"the tenant's rn $K");
	ok($t->wait_until(10, sub {
		($t->redis('HGET', 'tr:tenant:rl-ten|agents', 'inflight') // 0)
			eq '0' }), "the tenant's inflight back to 0");
};

subtest "tenant max-concurrent $K over two keys, two gateways" => sub {
	my ($rc, $out, $err) = $t->cli('tenants', 'create', 'rl-ten', 'burst',
		'--max-concurrent', $K);
	is($rc, 0, 'tenants create --max-concurrent') or diag($err);
	my @keys = map { $t->create_key(account => 'rl-ten',
		tenant => 'burst') } 1 .. 2;
	$t->clear_mock_requests();

	my @hdr = ('x-mock-wait' => '0.3', 'x-mock-inflight' => 'tc');
	my @res = $t->http_parallel(map { chat($keys[$_ % 2],
		port => $ports[int($_ / 2) % 2], headers => \@hdr) } 0 .. $N - 1);

	is(scalar(grep { $_->{status} == 200 } @res), $K,
		"$N at once: exactly $K admitted for the tenant");
	is(scalar(grep { $_->{status} == 429
		&& ($_->{json}{error}{message} // '') =~ /tenant's own limit/ } @res),
		$N - $K, 'the others 429, for the tenant');
	my ($now, $most) = split " ",
		TokenRoute::Test::_slurp($t->testdir() . '/mock.jsonl.inflight-tc')
		// '';
	is($most, $K, "at most $K at once at the provider");
	ok($t->wait_until(10, sub {
		($t->redis('HGET', 'tr:tenant:rl-ten|burst', 'inflight') // 0)
			eq '0' }), "the tenant's inflight back to 0");
};

###############################################################################

# limit_req keyed on $tokenroute_key_id does nothing: limit_req runs in
# the preaccess phase, before the access phase where the gateway learns
# the key; the variable is empty there, and limit_req skips an empty key.
# Keyed on $http_authorization (known from the request line on), it
# limits each client before the gateway spends a Redis call on it.

subtest 'limit_req on $tokenroute_key_id does nothing' => sub {
	my %zone = (bykey => '$tokenroute_key_id', byauth => '$http_authorization');

	for my $z (sort keys %zone) {
		$t->start_nginx_instance($z, http => $models
			. "limit_req_zone $zone{$z} zone=$z:1m rate=1r/m;\n"
			. "limit_req_status 429;\n",
			server => "limit_req zone=$z;\n");
	}

	my $key = $t->create_key(account => 'rl-limit-req');
	$t->clear_mock_requests();

	my @by_key = map { $t->http(%{ chat($key, port => $t->port('bykey')) })
		->{status} } 1 .. 3;
	is_deeply(\@by_key, [ 200, 200, 200 ],
		'limit_req zone keyed on $tokenroute_key_id, 1r/m: all 3 pass');

	my @by_auth = map { $t->http(%{ chat($key, port => $t->port('byauth')) })
		->{status} } 1 .. 3;
	is_deeply(\@by_auth, [ 200, 429, 429 ],
		'keyed on $http_authorization: 1 passes, then 429');

	is(scalar(my @m = $t->mock_requests()), 4,
		'the provider saw 4');
	ok(settled_all($key), 'settled');
	$t->stop_nginx_instance($_) for sort keys %zone;
};

###############################################################################

done_testing();

###############################################################################
