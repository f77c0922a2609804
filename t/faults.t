#!/usr/bin/perl

# (C) tokenroute authors

# Fault injection (issue 5): for each fault, what the client sees (status
# and body in its own API shape), what is charged (polled in Redis: the
# key's spent and reserved, the live reservation, the usage record and its
# est flag) and that the worker keeps serving (a normal request right
# after, the same worker process, no [alert]/[crit] in error.log).
#
#   1. provider 429 / 500 / 529, no fallback
#   2. provider hangs past proxy_read_timeout, with and without fallback
#   3. connection refused, with and without fallback
#   4. provider closes the connection mid-stream (all four cells)
#   5. provider answers 200 with malformed JSON / a malformed stream
#   6. Redis killed (SIGKILL) and restarted mid-traffic
#   7. client closes mid-request and mid-stream
#   8. slow client reading a stream, while others are served

###############################################################################

use warnings;
use strict;

use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Math::BigInt;
use Socket qw(SOL_SOCKET SO_RCVBUF);
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Money qw(usd_nano cost utc_day);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

my ($IP, $OP) = ('0.333333', '1.777777');
my %P = (price => usd_nano($IP), out_price => usd_nano($OP));
my $PR = "input_price=$IP output_price=$OP";

# a port nothing listens on: reserved by the harness until nginx starts,
# then released and left closed
my $closed = $t->port('closed');

# Timeouts belong to the server block (conf.d/tokenroute_proxy.conf leaves
# them out).  A second listener with a small send buffer, for the slow
# client of fault 8, so that the client's slowness reaches nginx.
$t->start_gateway(
	server => <<'EOF',
proxy_read_timeout 1s;
proxy_connect_timeout 1s;
listen 127.0.0.1:%%PORT_slow%% sndbuf=4k;
EOF
	http => <<"EOF");
tokenroute_provider deadai type=openai url=http://127.0.0.1:%%PORT_closed%%/v1;
tokenroute_provider deadant type=anthropic url=http://127.0.0.1:%%PORT_closed%%/v1;
tokenroute_model f/good-ai provider=mockai upstream_model=gpt-f-good-usage-30-300 $PR;
tokenroute_model f/good-ant provider=mockant upstream_model=claude-f-good-usage-30-300 $PR;
tokenroute_model f/ai-429 provider=mockai upstream_model=gpt-f-error-429 $PR;
tokenroute_model f/ai-500 provider=mockai upstream_model=gpt-f-error-500 $PR;
tokenroute_model f/ai-529 provider=mockai upstream_model=gpt-f-error-529 $PR;
tokenroute_model f/ant-429 provider=mockant upstream_model=claude-f-error-429 $PR;
tokenroute_model f/ant-500 provider=mockant upstream_model=claude-f-error-500 $PR;
tokenroute_model f/ant-529 provider=mockant upstream_model=claude-f-error-529 $PR;
tokenroute_model f/hang-ai provider=mockai upstream_model=gpt-f-hang $PR;
tokenroute_model f/hang-ant provider=mockant upstream_model=claude-f-hang $PR;
tokenroute_model f/hang-ai-fb provider=mockai upstream_model=gpt-f-hang $PR fallback=f/good-ant;
tokenroute_model f/hang-ant-fb provider=mockant upstream_model=claude-f-hang $PR fallback=f/good-ai;
tokenroute_model f/hang-stream-fb provider=mockai upstream_model=gpt-f-hang $PR fallback=f/good-ai;
tokenroute_model f/refused-ai provider=deadai upstream_model=gpt-f-refused $PR;
tokenroute_model f/refused-ant provider=deadant upstream_model=claude-f-refused $PR;
tokenroute_model f/refused-ai-fb provider=deadai upstream_model=gpt-f-refused $PR fallback=f/good-ant;
tokenroute_model f/refused-ant-fb provider=deadant upstream_model=claude-f-refused $PR fallback=f/good-ai;
tokenroute_model f/close-ai provider=mockai upstream_model=gpt-f-close-usage-30-300 $PR;
tokenroute_model f/close-ant provider=mockant upstream_model=claude-f-close-usage-30-300 $PR;
tokenroute_model f/close2-ai provider=mockai upstream_model=gpt-f-close-2-usage-30-300 $PR;
tokenroute_model f/close4-ant provider=mockant upstream_model=claude-f-close-4-usage-30-300 $PR;
tokenroute_model f/bad-ai provider=mockai upstream_model=gpt-f-malformed $PR;
tokenroute_model f/bad-ant provider=mockant upstream_model=claude-f-malformed $PR;
tokenroute_model f/odd-ai provider=mockai upstream_model=gpt-f-shapeless-usage-30-300 $PR;
tokenroute_model f/odd-ant provider=mockant upstream_model=claude-f-shapeless-usage-30-300 $PR;
tokenroute_model f/badstream-ai provider=mockai upstream_model=gpt-f-malformed-stream $PR;
tokenroute_model f/badstream-ant provider=mockant upstream_model=claude-f-malformed-stream $PR;
tokenroute_model f/j-ai provider=mockai upstream_model=gpt-f-j-usage-40-567 $PR;
tokenroute_model f/j-ant provider=mockant upstream_model=claude-f-j-usage-40-567 $PR;
tokenroute_model f/slow-ai provider=mockai upstream_model=gpt-f-slow-usage-30-300 $PR;
tokenroute_model f/slow-ant provider=mockant upstream_model=claude-f-slow-usage-30-300 $PR;
tokenroute_model f/long-ai provider=mockai upstream_model=gpt-f-long-20-usage-50-777 $PR;
log_format faults '\$tokenroute_request_id \$status \$tokenroute_attempts \$tokenroute_usage_estimated \$tokenroute_input_tokens \$tokenroute_output_tokens \$tokenroute_cost';
access_log %%TESTDIR%%/faults.log faults;
log_format unbilled '\$tokenroute_request_id \$tokenroute_cost \$tokenroute_unbilled_cost';
access_log %%TESTDIR%%/unbilled.log unbilled;
EOF

my @workers = $t->workers();
my $T0 = time();

my $GOOD = cost(in => 30, out => 300, %P);    # f/good-*
my $J = cost(in => 40, out => 567, %P);       # f/j-*

my @secrets = ($TokenRoute::Test::OPENAI_KEY,
	$TokenRoute::Test::ANTHROPIC_KEY);

###############################################################################

# Helpers.

my $acct_no = 0;

sub new_key {
	my ($name) = @_;
	my $key = $t->create_key(account => 'f' . ++$acct_no . '-'
		. ($name =~ s/\W+/-/gr));
	push @secrets, $key->{raw};
	return $key;
}

sub path_of { $_[0] eq 'openai' ? '/v1/chat/completions' : '/v1/messages' }

sub headers_of {
	my ($shape, $key, %extra) = @_;

	return $shape eq 'openai'
		? [ Authorization => "Bearer $key->{raw}", %extra ]
		: [ 'x-api-key' => $key->{raw}, 'anthropic-version' => '2023-06-01',
			%extra ];
}

# one request; o: stream, start (http_start), headers, timeout, content

sub call {
	my ($shape, $key, $model, %o) = @_;

	my $f = $o{start} ? 'http_start' : $o{stream} ? 'http_stream' : 'http';

	return $t->$f(method => 'POST', path => path_of($shape),
		port => $o{port},
		headers => headers_of($shape, $key, %{ $o{headers} || {} }),
		body => { model => $model, max_tokens => 1000,
			messages => [ { role => 'user',
				content => $o{content} // 'fault injection' } ],
			($o{stream} ? (stream => JSON::PP::true) : ()) },
		timeout => $o{timeout} // 10);
}

sub rid_of {
	my ($res) = @_;
	return $res->{headers}{'x-tokenroute-request-id'} // '';
}

sub upstream_count {
	my ($upstream) = @_;
	return scalar grep { ($_->{json} ? $_->{json}{model} // '' : '')
		eq $upstream } $t->mock_requests();
}

# What was settled for a request: waits (5 s) for its settled marker, then
# the key, its live reservation and the usage record of the day.

sub settlement {
	my ($key, $rid, $model) = @_;

	my $settled = $t->wait_until(5, sub {
		$t->settled("$rid") });

	my $k = $t->redis_hash('tr:key:' . $t->key_hash($key->{raw}));
	my $u = $t->redis_hash('tr:u:d:' . utc_day());
	my $p = "$key->{account}||$key->{id}|$model|";

	return {
		settled => $settled,
		spent => $k->{spent} // '0',
		reserved => $k->{reserved} // '0',
		rsv => $t->redis('HEXISTS', 'tr:rsvd', $rid),
		rsv_z => $t->redis('ZSCORE', 'tr:rsv', $rid),
		map { $_ => $u->{"$p$_"} // '0' }
			qw(req fail in out cached cost est unbilled clamped),
	};
}

# nothing charged, the reservation released, the usage not estimated; the
# request counted as failed ("fail"), not charged ("req")

sub nothing_charged_ok {
	my ($name, $key, $res, $model) = @_;

	my $rid = rid_of($res);

	subtest "$name: nothing charged" => sub {
		like($rid, qr/^[0-9a-f]{24}$/, 'x-tokenroute-request-id');
		my $s = settlement($key, $rid, $model);
		ok($s->{settled}, 'settled');
		is($s->{spent}, '0', 'key spent 0');
		is($s->{reserved}, '0', 'key reserved back to 0');
		is($s->{rsv}, 0, 'its tr:rsvd record gone');
		ok(!defined $s->{rsv_z}, 'not in tr:rsv');
		is($s->{req}, 0, 'usage: not a charged request');
		is($s->{fail}, 1, 'usage: a failed one');
		is($s->{cost}, 0, 'usage: cost 0');
		is($s->{est}, 0, 'usage: est 0');
	};
}

# charged what the usage record says, exactly, with est as expected;
# e: est, in, out, cost (each optional)

sub charged_ok {
	my ($name, $key, $rid, $model, %e) = @_;

	my $s;

	subtest "$name: charged" => sub {
		like($rid, qr/^[0-9a-f]{24}$/, 'x-tokenroute-request-id');
		$s = settlement($key, $rid, $model);
		ok($s->{settled}, 'settled');
		is($s->{req}, 1, 'usage: the request counted');
		is($s->{est}, $e{est}, "usage: est $e{est}") if defined $e{est};
		is($s->{in}, $e{in}, "usage: in $e{in}") if defined $e{in};
		is($s->{out}, $e{out}, "usage: out $e{out}") if defined $e{out};
		cmp_ok($s->{cost} // 0, '>', 0, 'usage: a non-zero cost');
		is($s->{cost}, $e{cost}, 'usage: the expected cost')
			if defined $e{cost};
		is($s->{cost}, cost(in => $s->{in} // 0, out => $s->{out} // 0, %P),
			'usage: the cost of the tokens recorded');
		is($s->{spent}, $s->{cost}, 'key spent = that cost');
		is($s->{reserved}, '0', 'key reserved back to 0');
		is($s->{rsv}, 0, 'its tr:rsvd record gone');
		ok(!defined $s->{rsv_z}, 'not in tr:rsv');
	};

	return $s;
}

# Nothing charged to the client, which never got a whole answer, but the
# request counted as failed ("fail"), and what the provider probably
# billed (the estimate) in the usage record's "unbilled" and in
# $tokenroute_unbilled_cost.

sub unbilled_ok {
	my ($name, $key, $rid, $model, %e) = @_;

	subtest "$name: nothing charged, unbilled recorded" => sub {
		like($rid, qr/^[0-9a-f]{24}$/, 'x-tokenroute-request-id');
		my $s = settlement($key, $rid, $model);
		ok($s->{settled}, 'settled');
		is($s->{req}, 0, 'usage: not a charged request');
		is($s->{fail}, 1, 'usage: a failed one');
		is($s->{cost}, 0, 'usage: cost 0');
		is($s->{spent}, '0', 'key spent 0');
		is($s->{reserved}, '0', 'key reserved back to 0');
		is($s->{est}, $e{est} // 1, 'usage: est ' . ($e{est} // 1));
		is($s->{in}, $e{in}, "usage: in $e{in}") if defined $e{in};
		is($s->{out}, $e{out}, "usage: out $e{out}") if defined $e{out};
		cmp_ok($s->{unbilled}, '>', 0, 'usage: unbilled > 0');
		is($s->{unbilled}, cost(in => $s->{in}, out => $s->{out}, %P),
			'usage: unbilled is the cost of the tokens recorded');

		my $line = $t->wait_until(3, sub {
			my ($l) = grep { /^\Q$rid\E / } split /\n/,
				(TokenRoute::Test::_slurp($t->testdir . '/unbilled.log')
					// '');
			return $l;
		}) // '';
		my (undef, $cost, $unbilled) = split / /, $line;
		is($cost, '0.00', '$tokenroute_cost 0');
		is(defined $unbilled && $unbilled =~ /^\d+\.\d+$/
			? usd_nano($unbilled) : $unbilled, $s->{unbilled},
			'$tokenroute_unbilled_cost');
	};
}

# The worker keeps serving: a normal request right after, by the same
# worker, and no [alert] / [crit] in error.log so far.

sub serving_ok {
	my ($name) = @_;

	subtest "$name: the worker keeps serving" => sub {
		my $key = new_key("after $name");
		my $t0 = time();
		my $r = call('openai', $key, 'f/good-ai', timeout => 5);
		is($r->{status}, 200, 'a normal request: 200');
		is($r->{json} && $r->{json}{choices}[0]{message}{content},
			'Hello from mock', 'a normal request: its answer');
		cmp_ok(time() - $t0, '<', 1, 'a normal request: in time');
		is_deeply([ $t->workers() ], \@workers, 'the same worker process');
		my @bad = grep { /\[(?:alert|crit|emerg)\]/ } split /\n/,
			$t->error_log();
		ok(!@bad, 'error.log: no alert, crit or emerg')
			or diag(join "\n", @bad[0 .. ($#bad > 10 ? 10 : $#bad)]);
	};
}

# an SSE stream's events, each {event, data, json}

sub events {
	my ($res) = @_;
	return map {
		my $j = eval { decode_json($_->{data} // '') };
		+{ %$_, json => $j };
	} @{ $res->{sse} || [] };
}

# the client's view of an error event at the end of a stream

sub stream_error_ok {
	my ($shape, $ev, $name, $code) = @_;

	if ($shape eq 'openai') {
		my $e = $ev && ref $ev->{json} eq 'HASH' ? $ev->{json}{error} : undef;
		ok(ref $e eq 'HASH', "$name: ends with data: {\"error\":{...}}")
			or diag('last event: ' . ($ev ? $ev->{raw} : 'none'));
		$e = {} unless ref $e eq 'HASH';
		ok(!defined $ev->{event}, "$name: no event: line (OpenAI style)")
			if $ev;
		is($e->{code}, $code, "$name: error.code $code") if defined $code;
		ok(defined $e->{message} && length $e->{message},
			"$name: error.message");
		ok(defined $e->{type} && length $e->{type}, "$name: error.type");
		ok(exists $e->{param}, "$name: error.param");

	} else {
		is($ev && $ev->{event}, 'error', "$name: ends with event: error")
			or diag('last event: ' . ($ev ? $ev->{raw} : 'none'));
		my $j = $ev && ref $ev->{json} eq 'HASH' ? $ev->{json} : {};
		is($j->{type}, 'error', "$name: data type error");
		ok(ref $j->{error} eq 'HASH' && length($j->{error}{type} // '')
			&& length($j->{error}{message} // ''),
			"$name: error {type, message}");
	}
}

# the access log line of a request: status attempts est in out cost

sub log_line {
	my ($rid) = @_;

	my $line = $t->wait_until(2, sub {
		my ($l) = grep { /^\Q$rid\E / } split /\n/,
			TokenRoute::Test::_slurp($t->testdir . '/faults.log') // '';
		return $l;
	}) // '';

	my (undef, @f) = split / /, $line;
	return \@f;
}

###############################################################################

# 1. Provider 429, 500, 529, no fallback: the client gets that status in its
# shape (Retry-After on the 429), the provider's text is not passed,
# nothing is charged.

{
	my %type = (
		openai => { 429 => 'rate_limit_error', 500 => 'server_error',
			529 => 'server_error' },
		anthropic => { 429 => 'rate_limit_error', 500 => 'api_error',
			529 => 'overloaded_error' },
	);

	for my $ptype (qw(ai ant)) {
		for my $status (429, 500, 529) {
			for my $shape (qw(openai anthropic)) {
				my $model = "f/$ptype-$status";
				my $name = "1. $status from $ptype provider, $shape client";
				my $key = new_key($name);

				$t->clear_mock_requests();
				my $t0 = time();
				my $r = call($shape, $key, $model);

				# OpenAI never sends 529: its clients get a 503
				my $sent = $shape eq 'openai' && $status == 529
					? 503 : $status;
				$t->error_ok($r, $shape, status => $sent,
					type => $type{$shape}{$status}, secrets => \@secrets,
					name => "$name: $sent in the client's shape");
				is($r->{json}{error}{code}, 'provider_failed',
					"$name: error.code provider_failed")
					if $shape eq 'openai';
				like($r->{json}{error}{message} // '', qr/\Q$model\E/,
					"$name: the message names the model");
				unlike($r->{body}, qr/Rate limit reached|per-minute|
					Internal\ server\ error|server\ had\ an\ error|
					Overloaded"/x,
					"$name: the provider's own text is not passed");
				is($r->{headers}{'retry-after'},
					$status == 429 ? '1' : undef,
					"$name: Retry-After " . ($status == 429
						? 'forwarded' : 'absent'));
				is($r->{headers}{'x-tokenroute-attempts'}, 1,
					"$name: one attempt");
				is(scalar($t->mock_requests()), 1,
					"$name: the provider was asked once");
				cmp_ok(time() - $t0, '<', 1, "$name: at once");

				nothing_charged_ok($name, $key, $r, $model);
			}
		}
	}

	serving_ok('1. provider errors');
}

###############################################################################

# 2. The provider hangs past proxy_read_timeout (1 s).

{
	# with a fallback: the next model answers, across provider types
	for my $c ([ 'openai', 'f/hang-ai-fb', 'f/good-ant' ],
		[ 'anthropic', 'f/hang-ant-fb', 'f/good-ai' ])
	{
		my ($shape, $model, $fb) = @$c;
		my $name = "2. hang with fallback, $shape client";
		my $key = new_key($name);

		my $t0 = time();
		my $r = call($shape, $key, $model, timeout => 8);
		my $took = time() - $t0;

		is($r->{status}, 200, "$name: 200 from the fallback")
			or diag(substr($r->{raw} // '', 0, 500));
		is($r->{headers}{'x-tokenroute-attempts'}, 2, "$name: 2 attempts");
		is($r->{headers}{'x-tokenroute-model'}, $fb, "$name: $fb served");
		is($shape eq 'openai'
			? $r->{json} && $r->{json}{choices}[0]{message}{content}
			: $r->{json} && $r->{json}{content}[0]{text},
			'Hello from mock', "$name: the answer in the client's shape");
		cmp_ok($took, '>=', 0.9, "$name: after the 1 s timeout");
		cmp_ok($took, '<', 3, "$name: not much later")
			or diag(sprintf '%.2f s', $took);

		# the model that served is charged, under its own id
		charged_ok($name, $key, rid_of($r), $fb, est => 0, in => 30,
			out => 300, cost => $GOOD);
	}

	# a stream falls back the same way (no byte had reached the client)
	{
		my $name = '2. hang with fallback, stream';
		my $key = new_key($name);
		my $r = call('openai', $key, 'f/hang-stream-fb', stream => 1,
			timeout => 8);
		is($r->{status}, 200, "$name: 200");
		is($r->{headers}{'x-tokenroute-attempts'}, 2, "$name: 2 attempts");
		is(@{ $r->{sse} } ? $r->{sse}[-1]{data} : undef, '[DONE]',
			"$name: the whole stream");
		charged_ok($name, $key, rid_of($r), 'f/good-ai', est => 0,
			in => 30, out => 300, cost => $GOOD);
	}

	# without: 504 in the client's shape
	for my $c ([ 'openai', 'f/hang-ai' ], [ 'anthropic', 'f/hang-ant' ]) {
		my ($shape, $model) = @$c;
		my $name = "2. hang without fallback, $shape client";
		my $key = new_key($name);

		my $t0 = time();
		my $r = call($shape, $key, $model, timeout => 8);
		my $took = time() - $t0;

		$t->error_ok($r, $shape, status => 504,
			type => $shape eq 'openai' ? 'server_error' : 'api_error',
			secrets => \@secrets, name => "$name: 504 in the client's shape");
		# README "Errors" names 504 upstream_timeout, and provider_failed
		# for a chain that ran out; the gateway answers the latter
		like($r->{json}{error}{code} // '',
			qr/^(?:upstream_timeout|provider_failed)$/,
			"$name: error.code upstream_timeout or provider_failed")
			if $shape eq 'openai';
		is($r->{headers}{'x-tokenroute-attempts'}, 1, "$name: one attempt");
		cmp_ok($took, '>=', 0.9, "$name: after the 1 s timeout");
		cmp_ok($took, '<', 3, "$name: not much later")
			or diag(sprintf '%.2f s', $took);

		nothing_charged_ok($name, $key, $r, $model);
	}

	serving_ok('2. hang');
}

###############################################################################

# 3. Connection refused (a provider on a port nothing listens on).

{
	for my $c ([ 'openai', 'f/refused-ai-fb', 'f/good-ant' ],
		[ 'anthropic', 'f/refused-ant-fb', 'f/good-ai' ])
	{
		my ($shape, $model, $fb) = @$c;
		my $name = "3. refused with fallback, $shape client";
		my $key = new_key($name);

		my $t0 = time();
		my $r = call($shape, $key, $model);

		is($r->{status}, 200, "$name: 200 from the fallback")
			or diag(substr($r->{raw} // '', 0, 500));
		is($r->{headers}{'x-tokenroute-attempts'}, 2, "$name: 2 attempts");
		is($r->{headers}{'x-tokenroute-model'}, $fb, "$name: $fb served");
		cmp_ok(time() - $t0, '<', 1, "$name: at once");

		charged_ok($name, $key, rid_of($r), $fb, est => 0, in => 30,
			out => 300, cost => $GOOD);
	}

	for my $c ([ 'openai', 'f/refused-ai' ], [ 'anthropic', 'f/refused-ai' ],
		[ 'openai', 'f/refused-ant' ], [ 'anthropic', 'f/refused-ant' ])
	{
		my ($shape, $model) = @$c;
		my $name = "3. refused without fallback, $shape client to $model";
		my $key = new_key($name);

		my $t0 = time();
		my $r = call($shape, $key, $model);

		$t->error_ok($r, $shape, status => 502,
			type => $shape eq 'openai' ? 'server_error' : 'api_error',
			secrets => [ @secrets, "127.0.0.1:$closed" ],
			name => "$name: 502 in the client's shape");
		# README "Errors" names 502 upstream_unreachable, and
		# provider_failed for a chain that ran out; the gateway answers
		# the latter
		like($r->{json}{error}{code} // '',
			qr/^(?:upstream_unreachable|provider_failed)$/,
			"$name: error.code upstream_unreachable or provider_failed")
			if $shape eq 'openai';
		cmp_ok(time() - $t0, '<', 1, "$name: at once");

		nothing_charged_ok($name, $key, $r, $model);
	}

	serving_ok('3. refused');
}

###############################################################################

# 4. The provider closes the connection mid-stream: the client has the
# first event(s), then a well-formed error event in its shape; no retry;
# what was produced is charged, estimated.
#
#   close    after the first event: OpenAI the role chunk, Anthropic
#            message_start (which reports input 30, output 1)
#   close-N  after N events: OpenAI role chunk and "Hello"; Anthropic
#            message_start, content_block_start, ping and "Hello"
#
# est: an OpenAI-type provider reports usage last, so a cut stream is
# always estimated (input from the request's bytes, output from the text
# seen).  An Anthropic-type provider reports input 30 and output 1 in
# message_start: cut right after it, that report is what is charged and
# it is not marked estimated (README "What a request costs": "the usage
# seen so far, or, when the provider had not reported output yet, an
# estimate"; as t/disconnect.t "anthropic before text"); cut after some
# text, the estimate of that text (2 tokens) exceeds the report: est=1.
#
# The HTTP response itself is not ended (nginx closes the connection
# without the last chunk), so the client also knows it was cut.

{
	my @cells = (
		# client, model, upstream, est, input tokens, translated
		[ 'openai', 'f/close-ai', 'gpt-f-close-usage-30-300', 1, undef, 0 ],
		[ 'openai', 'f/close2-ai', 'gpt-f-close-2-usage-30-300', 1, undef,
			0 ],
		[ 'anthropic', 'f/close-ant', 'claude-f-close-usage-30-300', 0, 30,
			0 ],
		[ 'anthropic', 'f/close4-ant', 'claude-f-close-4-usage-30-300', 1,
			30, 0 ],
		[ 'openai', 'f/close-ant', 'claude-f-close-usage-30-300', 0, 30, 1 ],
		[ 'openai', 'f/close4-ant', 'claude-f-close-4-usage-30-300', 1, 30,
			1 ],
		[ 'anthropic', 'f/close-ai', 'gpt-f-close-usage-30-300', 1, undef,
			1 ],
		[ 'anthropic', 'f/close2-ai', 'gpt-f-close-2-usage-30-300', 1, undef,
			1 ],
	);

	for my $c (@cells) {
		my ($shape, $model, $upstream, $est, $in, $tr) = @$c;
		my $name = "4. provider closes mid-stream, $shape client, $model"
			. ($tr ? ' (translated)' : '');
		my $key = new_key($name);

		$t->clear_mock_requests();
		my $r = call($shape, $key, $model, stream => 1);
		my @ev = events($r);

		is($r->{status}, 200, "$name: 200, the stream started");
		like($r->{headers}{'content-type'} // '', qr{^text/event-stream},
			"$name: an event stream");
		cmp_ok(scalar @ev, '>=', 2, "$name: first event(s), then more");

		if ($shape eq 'openai') {
			is($ev[0]{json} && $ev[0]{json}{object},
				'chat.completion.chunk', "$name: the first chunk");

			# the translator ends an OpenAI stream it cut with the
			# error and then data: [DONE]; the pass-through ends with
			# the error (both fine for the SDKs, which raise at the
			# error event): a [DONE] is allowed only right after the
			# error, and only when translated
			if ($tr && @ev && ($ev[-1]{data} // '') eq '[DONE]') {
				pop @ev;
				note("$name: data: [DONE] after the error event");
			}
			ok(!grep({ ($_->{data} // '') eq '[DONE]' } @ev),
				"$name: no [DONE] before the error");

		} else {
			is($ev[0]{event}, 'message_start', "$name: message_start first");
			ok(!grep({ ($_->{event} // '') eq 'message_stop' } @ev),
				"$name: no message_stop");
		}

		my $text = join '', map {
			$shape eq 'openai'
				? ($_->{json} && ref $_->{json}{choices} eq 'ARRAY'
					? $_->{json}{choices}[0]{delta}{content} // '' : '')
				: ($_->{json} && ref $_->{json}{delta} eq 'HASH'
					? $_->{json}{delta}{text} // '' : '')
		} @ev;
		is($text, $model =~ /close\d/ ? 'Hello' : '',
			"$name: the text produced before the cut");

		stream_error_ok($shape, $ev[-1], $name, 'stream_interrupted');
		is(scalar(grep { $_->{json} && ($shape eq 'openai'
			? ref $_->{json}{error} eq 'HASH'
			: ($_->{event} // '') eq 'error') } @ev), 1,
			"$name: one error event");

		is(upstream_count($upstream), 1, "$name: no retry (one provider "
			. 'request)');

		my $s = charged_ok($name, $key, rid_of($r), $model, est => $est,
			defined $in ? (in => $in) : ());

		my $l = log_line(rid_of($r));
		is($l->[2], $est, "$name: \$tokenroute_usage_estimated $est");

		note(sprintf '%s: client got %d events, body ends %s; charged '
			. 'in %s out %s est %s cost %s', $name, scalar @ev,
			$r->{complete} ? 'complete' : 'incomplete ('
				. ($r->{error} // '') . ')',
			map { $s->{$_} // 'undef' } qw(in out est cost));
	}

	serving_ok('4. provider closes mid-stream');
}

###############################################################################

# 5. The provider answers 200 with malformed JSON.

{
	# same shape: the body as sent; the client never got a whole answer,
	# so it costs nothing, and what the provider probably billed (the
	# estimate) is unbilled
	for my $c ([ 'openai', 'f/bad-ai' ], [ 'anthropic', 'f/bad-ant' ]) {
		my ($shape, $model) = @$c;
		my $name = "5. malformed JSON, $shape client, same shape";
		my $key = new_key($name);

		my $r = call($shape, $key, $model);

		$t->error_ok($r, $shape, status => 502, name => "$name: 502",
			secrets => \@secrets);
		unlike($r->{body}, qr/"choices": \[/, "$name: not the broken body");
		like($r->{json} && $r->{json}{error}{message} // '',
			qr/provider/i, "$name: the message blames the provider");

		unbilled_ok($name, $key, rid_of($r), $model);
	}

	# translated: an error object in the client's shape
	for my $c ([ 'anthropic', 'f/bad-ai' ], [ 'openai', 'f/bad-ant' ]) {
		my ($shape, $model) = @$c;
		my $name = "5. malformed JSON, $shape client, translated";
		my $key = new_key($name);

		my $r = call($shape, $key, $model);

		note("$name: the client got: " . substr($r->{raw} // '', 0, 800));

		my $j = $r->{json};
		if ($shape eq 'openai') {
			ok(ref $j eq 'HASH' && ref $j->{error} eq 'HASH',
				"$name: an OpenAI error object")
				or diag($r->{body});

		} else {
			ok(ref $j eq 'HASH' && ($j->{type} // '') eq 'error'
				&& ref $j->{error} eq 'HASH', "$name: an Anthropic error")
				or diag($r->{body});
		}

		unlike($r->{body}, qr/"choices": \[$/, "$name: not the broken body");
		like($r->{headers}{'content-type'} // '', qr{^application/json},
			"$name: application/json");
		like($r->{json} && $r->{json}{error}{message} // '',
			qr/provider/i, "$name: the message blames the provider");

		# the header is held until the body is translated: an
		# untranslatable body is a 502 the client's SDK raises
		is($r->{status}, 502, "$name: status 502");

		# a 502 costs the client nothing; the estimate is unbilled
		unbilled_ok($name, $key, rid_of($r), $model);
	}

	# a whole, valid JSON answer that cannot be translated (no choices,
	# no content): a 502 the client is not charged for; the provider's
	# own report is what is unbilled
	for my $c ([ 'anthropic', 'f/odd-ai' ], [ 'openai', 'f/odd-ant' ]) {
		my ($shape, $model) = @$c;
		my $name = "5. untranslatable JSON, $shape client";
		my $key = new_key($name);

		my $r = call($shape, $key, $model);

		is($r->{status}, 502, "$name: status 502");
		unbilled_ok($name, $key, rid_of($r), $model, est => 0, in => 30,
			out => 300);
	}

	# streams, same shape: the stream ends with an error event in the
	# client's shape where the broken event was; neither it nor what the
	# provider sends after it (data: [DONE] / message_stop) reaches the
	# client
	for my $c ([ 'openai', 'f/badstream-ai' ],
		[ 'anthropic', 'f/badstream-ant' ])
	{
		my ($shape, $model) = @$c;
		my $name = "5. malformed stream, $shape client, same shape";
		my $key = new_key($name);

		my $r = call($shape, $key, $model, stream => 1);
		my @ev = events($r);

		note("$name: the client got: " . substr($r->{raw} // '', 0, 1500));

		is($r->{status}, 200, "$name: 200 (the stream had started)");
		ok($r->{complete}, "$name: the HTTP response ends normally")
			or diag($r->{error});
		is(scalar @ev, 1, "$name: one event");

		if ($shape eq 'openai') {
			my $e = $ev[0] && $ev[0]{json};
			ok(!defined $ev[0]{event} && ref $e eq 'HASH'
				&& ref $e->{error} eq 'HASH'
				&& ($e->{error}{code} // '') eq 'provider_stream_invalid'
				&& ($e->{error}{type} // '') eq 'server_error',
				"$name: an OpenAI error chunk, provider_stream_invalid");

		} else {
			my $e = $ev[0] && $ev[0]{json};
			ok(($ev[0]{event} // '') eq 'error' && ref $e eq 'HASH'
				&& ($e->{type} // '') eq 'error'
				&& ($e->{error}{type} // '') eq 'api_error',
				"$name: event: error, api_error");
		}

		unlike($r->{body} // '', qr/\[DONE\]|message_stop|"choices": \[/,
			"$name: neither the broken event nor the end after it");

		charged_ok($name, $key, rid_of($r), $model, est => 1);
	}

	# translated streams: what the client gets
	for my $c ([ 'anthropic', 'f/badstream-ai' ],
		[ 'openai', 'f/badstream-ant' ])
	{
		my ($shape, $model) = @$c;
		my $name = "5. malformed stream, $shape client, translated";
		my $key = new_key($name);

		my $r = call($shape, $key, $model, stream => 1);
		my @ev = events($r);

		note("$name: the client got: " . substr($r->{raw} // '', 0, 1500)
			. "\n(" . ($r->{error} // 'complete') . ')');

		is($r->{status}, 200, "$name: 200 (the stream had started)");
		ok($r->{complete}, "$name: the HTTP response ends normally");

		# a broken event cannot be translated: the stream ends with an
		# error event in the client's shape, not a truncated answer
		my @names = map { $shape eq 'openai'
			? ($_->{data} eq '[DONE]' ? '[DONE]'
				: ($_->{json} && $_->{json}{choices}
					? 'chunk:' . ($_->{json}{choices}[0]{finish_reason}
						// '') : 'other'))
			: $_->{event} // '' } @ev;
		note("$name: the client got " . join ' ', @names);

		ok(grep({ $shape eq 'openai'
			? $_->{json} && ref $_->{json}{error} eq 'HASH'
			: ($_->{event} // '') eq 'error' } @ev),
			"$name: an error event in the client's shape");

		charged_ok($name, $key, rid_of($r), $model, est => 1);
	}

	serving_ok('5. malformed');
}

###############################################################################

# 6. Redis killed (SIGKILL) and restarted mid-traffic: requests during the
# outage get a quick 503 in their shape; afterwards requests succeed; no
# settlement of a completed request is lost.

{
	my $name = '6. Redis killed';
	my $key = new_key($name);
	my $kh = 'tr:key:' . $t->key_hash($key->{raw});
	my (@charged, @rids);

	# traffic while Redis is up
	for my $i (1 .. 4) {
		my $shape = $i % 2 ? 'openai' : 'anthropic';
		my $r = call($shape, $key, $i % 2 ? 'f/j-ai' : 'f/j-ant');
		is($r->{status}, 200, "$name: request $i before: 200");
		push @charged, $J;
		push @rids, rid_of($r);
	}

	# two streams in flight when Redis dies
	my %h;
	for my $shape (qw(openai anthropic)) {
		$h{$shape} = call($shape, $key,
			$shape eq 'openai' ? 'f/j-ai' : 'f/j-ant', stream => 1,
			start => 1, timeout => 15,
			headers => { 'x-mock-delay' => '0.3' });
		my ($status) = $t->http_read_events($h{$shape}, 1, timeout => 5);
		is($status, 200, "$name: $shape stream started");
	}

	$t->wait_until(3, sub { $t->settled("$rids[-1]") });

	# what the restarted Redis comes back with (the test Redis has no
	# persistence of its own): everything so far, the two live
	# reservations included
	is($t->redis('SAVE'), 'OK', "$name: snapshot");
	kill 'KILL', $t->{procs}{redis};
	$t->stop_redis();    # reaps it
	my $down = time();

	for my $i (1 .. 4) {
		my $shape = $i % 2 ? 'openai' : 'anthropic';
		my $t0 = time();
		my $r = call($shape, $key, $i % 2 ? 'f/j-ai' : 'f/j-ant',
			timeout => 5);
		my $took = time() - $t0;

		$t->error_ok($r, $shape, status => 503,
			type => $shape eq 'openai' ? 'server_error' : 'api_error',
			secrets => \@secrets,
			name => "$name: $shape request $i during the outage: 503");
		is($r->{json}{error}{code}, 'key_store_unavailable',
			"$name: key_store_unavailable") if $shape eq 'openai';
		cmp_ok($took, '<', 1, "$name: the 503 comes quickly")
			or diag(sprintf '%.2f s', $took);
	}

	# the streams in flight complete for their clients
	for my $shape (sort keys %h) {
		my $r = $t->http_finish($h{$shape}, timeout => 10);
		ok($r->{complete} && !$r->{error},
			"$name: $shape stream completed during the outage")
			or diag($r->{error});
		is(@{ $r->{sse} } ? ($shape eq 'openai' ? $r->{sse}[-1]{data}
			: $r->{sse}[-1]{event}) : undef,
			$shape eq 'openai' ? '[DONE]' : 'message_stop',
			"$name: $shape stream ended normally");
		push @charged, $J;
		push @rids, rid_of($r);
	}

	cmp_ok(time() - $down, '>=', 0.5, "$name: Redis was down a while");

	$t->start_redis();
	is($t->redis('HGET', $kh, 'id'), $key->{id},
		"$name: Redis is back with its data");

	# afterwards requests succeed (the worker reconnects by itself)
	my $deadline = time() + 10;
	my $ok = 0;
	while (time() < $deadline) {
		my $r = call('openai', $key, 'f/j-ai', timeout => 5);
		if ($r->{status} == 200) {
			$ok = 1;
			push @charged, $J;
			push @rids, rid_of($r);
			last;
		}
		sleep 0.2;
	}
	ok($ok, "$name: requests succeed again after the restart");

	my $r = call('anthropic', $key, 'f/j-ant');
	is($r->{status}, 200, "$name: anthropic too");
	push @charged, $J;
	push @rids, rid_of($r);

	my $want = Math::BigInt->new(0);
	$want->badd($_) for @charged;
	$want = $want->bstr();

	$t->wait_until(6, sub {
		($t->redis('HGET', $kh, 'spent') // '') eq $want
			&& ($t->redis('HGET', $kh, 'reserved') // '') eq '0' });

	is($t->redis('HGET', $kh, 'spent'), $want,
		"$name: every completed request charged once ("
		. scalar(@charged) . ')');
	is($t->redis('HGET', $kh, 'reserved'), '0', "$name: nothing reserved");
	is($t->redis('ZCARD', 'tr:rsv'), 0, "$name: tr:rsv empty");
	is(scalar(grep { $t->settled("$_") } @rids),
		scalar @rids, "$name: every completed request settled");

	my $u = $t->redis_hash('tr:u:d:' . utc_day());
	my $p = "$key->{account}||$key->{id}|";
	is(($u->{"${p}f/j-ai|req"} // 0) + ($u->{"${p}f/j-ant|req"} // 0),
		scalar @charged, "$name: usage counts the completed requests only");
	is(($u->{"${p}f/j-ai|est"} // 0) + ($u->{"${p}f/j-ant|est"} // 0), 0,
		"$name: none estimated");

	sleep 1.2;
	is($t->redis('HGET', $kh, 'spent'), $want,
		"$name: still charged once a journal cycle later");

	serving_ok('6. Redis killed');
}

###############################################################################

# 7. The client goes away.

{
	# mid-request: the headers and half the body, then close
	for my $shape (qw(openai anthropic)) {
		my $name = "7. client closes mid-request, $shape";
		my $key = new_key($name);

		$t->clear_mock_requests();

		my $body = encode_json({ model => 'f/good-ai', max_tokens => 10,
			messages => [ { role => 'user', content => 'x' x 2000 } ] });
		my $req = $t->_build_request(method => 'POST',
			path => path_of($shape), headers => headers_of($shape, $key,
				'Content-Type' => 'application/json',
				'Content-Length' => length $body));
		$req .= substr($body, 0, length($body) / 2);

		my $closes = () = $t->error_log()
			=~ /client prematurely closed connection, client/g;

		my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
			PeerPort => $t->port('http'), Proto => 'tcp', Timeout => 2);
		ok($s, "$name: connected") or next;
		syswrite($s, $req);
		sleep 0.3;
		close $s;

		# nginx was reading the body when the client left
		ok($t->wait_until(2, sub {
			my $n = () = $t->error_log()
				=~ /client prematurely closed connection, client/g;
			$n > $closes }), "$name: nginx saw the client leave mid-body");

		is(scalar($t->mock_requests()), 0, "$name: nothing reached the "
			. 'provider');
		my $k = $t->redis_hash('tr:key:' . $t->key_hash($key->{raw}));
		is($k->{reserved} // '0', '0', "$name: nothing reserved");
		is($k->{spent} // '0', '0', "$name: nothing charged");
		is($t->redis('ZCARD', 'tr:rsv'), 0, "$name: tr:rsv empty");
	}

	serving_ok('7. client closes mid-request');

	# mid-stream: a slow stream, the client reads its first event(s) and
	# closes
	for my $c ([ 'openai', 'f/slow-ai', 'gpt-f-slow-usage-30-300', 1 ],
		[ 'anthropic', 'f/slow-ant', 'claude-f-slow-usage-30-300', 4 ])
	{
		my ($shape, $model, $upstream, $n) = @$c;
		my $name = "7. client closes mid-stream, $shape";
		my $key = new_key($name);

		my $h = call($shape, $key, $model, stream => 1, start => 1);
		my ($status, $raw) = $t->http_read_events($h, $n, timeout => 5);
		$t->http_abort($h);
		my ($rid) = $raw =~ /x-tokenroute-request-id: ([0-9a-f]{24})/i;

		is($status, 200, "$name: the stream started");

		charged_ok($name, $key, $rid // '', $model, est => 1,
			$shape eq 'anthropic' ? (in => 30) : ());

		my $ab = $t->wait_until(3, sub {
			my @a = grep { ($_->{model} // '') eq $upstream }
				$t->mock_aborts();
			return $a[0];
		});
		ok($ab, "$name: the provider connection was closed early");
		is($ab && $ab->{reason}, 'peer closed', "$name: closed by the "
			. 'gateway');
		cmp_ok($ab ? $ab->{sent} : 99, '<', $ab ? $ab->{total} : 0,
			"$name: before the stream's end");
	}

	serving_ok('7. client closes mid-stream');
}

###############################################################################

# 8. A slow client: 1 byte every 50 ms for 3 s of a stream of 20 events
# of 1 KB text each (about 25 KB), on a socket with small buffers at both
# ends, so that nginx cannot hand it all to the kernel; meanwhile other
# requests are served normally; then the rest is read, and the stream is
# whole and charged exactly.

{
	my $name = '8. slow client';
	my $key = new_key($name);

	my $s = IO::Socket::INET->new(Proto => 'tcp');
	setsockopt($s, SOL_SOCKET, SO_RCVBUF, 2048);
	my $addr = Socket::pack_sockaddr_in($t->port('slow'),
		Socket::inet_aton('127.0.0.1'));
	ok(connect($s, $addr), "$name: connected") or diag("connect: $!");

	my $req = $t->_build_request(method => 'POST',
		path => '/v1/chat/completions', port => $t->port('slow'),
		headers => headers_of('openai', $key, 'x-mock-delay' => '0.02'),
		body => { model => 'f/long-ai', max_tokens => 1000,
			stream => JSON::PP::true,
			messages => [ { role => 'user', content => 'a long answer' } ] });
	syswrite($s, $req);

	my $h = { s => $s, a => { method => 'POST' }, start => time(),
		buf => '' };

	my $others = 0;
	my @lat;
	my $t0 = time();

	while (time() - $t0 < 3) {
		sysread($s, $h->{buf}, 1, length $h->{buf})
			if IO::Select->new($s)->can_read(0);
		sleep 0.05;

		# at 1 s and 2 s: a few concurrent normal requests
		if ($others < 2 && time() - $t0 > 1 + $others) {
			$others++;
			my @k = map { new_key("$name other $others $_") } 1 .. 4;
			my @res = $t->http_parallel(map {
				my $shape = $_ % 2 ? 'openai' : 'anthropic';
				+{ method => 'POST', path => path_of($shape),
					headers => headers_of($shape, $k[$_]),
					body => { model => $_ < 2 ? 'f/good-ai' : 'f/good-ant',
						max_tokens => 100, messages => [ { role => 'user',
							content => 'meanwhile' } ] },
					timeout => 5 }
			} 0 .. 3);
			is(scalar(grep { $_->{status} == 200 } @res), 4,
				"$name: round $others: 4 concurrent requests served");
			push @lat, map { defined $_->{done} ? $_->{done} - $_->{sent}
				: 99 } @res;
		}
	}

	my $slow_bytes = length $h->{buf};
	cmp_ok($slow_bytes, '<', 100, "$name: read $slow_bytes bytes slowly");

	# the provider had written its 20 events within half a second; the
	# request is still in flight 3 s later, held by the client (about
	# 25 KB do not fit in the socket buffers and nginx's proxy buffer)
	my $k = $t->redis_hash('tr:key:' . $t->key_hash($key->{raw}));
	cmp_ok($k->{reserved} // 0, '>', 0,
		"$name: still in flight after 3 s (reserved)");
	is($k->{spent} // '0', '0', "$name: not settled yet");
	is(scalar @lat, 8, "$name: 8 other requests during the slow read");
	cmp_ok((sort { $b <=> $a } @lat)[0] // 99, '<', 1,
		"$name: each of them answered within 1 s")
		or diag('latencies: ' . join ' ', map { sprintf '%.3f', $_ } @lat);

	my $r = $t->http_finish($h, timeout => 10);

	is($r->{status}, 200, "$name: 200");
	ok($r->{complete} && !$r->{error}, "$name: the stream completed")
		or diag($r->{error});
	my @ev = events($r);
	my $text = join '', map { $_->{json} && ref $_->{json}{choices} eq 'ARRAY'
		&& @{ $_->{json}{choices} }
		? $_->{json}{choices}[0]{delta}{content} // '' : '' } @ev;
	is(length $text, 20_000, "$name: all 20 KB of text");
	is(join(',', $text =~ /\[(\d+)\]/g), join(',', 1 .. 20),
		"$name: the 20 pieces in order");
	is($ev[-1]{data}, '[DONE]', "$name: [DONE]");
	ok(!grep({ $_->{json} && $_->{json}{usage} } @ev),
		"$name: the usage chunk the client did not ask for was removed");

	charged_ok($name, $key, rid_of($r), 'f/long-ai', est => 0, in => 50,
		out => 777, cost => cost(in => 50, out => 777, %P));

	serving_ok('8. slow client');
}

###############################################################################

cmp_ok(time() - $T0, '<', 80, 'the whole file runs in under 80 s')
	or diag(sprintf '%.1f s', time() - $T0);

done_testing();

###############################################################################
