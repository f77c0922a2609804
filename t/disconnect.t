#!/usr/bin/perl

# (C) tokenroute authors

# Tests for a client that disconnects mid-stream (README "What a request
# costs"): it is charged for what was produced, the usage seen so far or
# an estimate of one token per 4 bytes of generated text, marked as
# estimated; the provider's connection is closed early; the worker goes on
# serving.

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Math::BigInt;
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

# slow: 0.5 s between events; stall-N: N events, then nothing more
$t->start_gateway(http => <<"EOF");
tokenroute_model openai/d-slow provider=mockai upstream_model=gpt-d-slow-usage-30-300 input_price=$IP output_price=$OP;
tokenroute_model anthropic/d-slow provider=mockant upstream_model=claude-d-slow-usage-30-300 input_price=$IP output_price=$OP;
tokenroute_model openai/d-stall provider=mockai upstream_model=gpt-d-stall-2-usage-30-300 input_price=$IP output_price=$OP;
tokenroute_model anthropic/d-stall provider=mockant upstream_model=claude-d-stall-4-usage-30-300 input_price=$IP output_price=$OP;
tokenroute_model openai/d-ok provider=mockai upstream_model=gpt-d-ok-usage-30-300 input_price=$IP output_price=$OP;
log_format est '\$tokenroute_request_id \$status \$tokenroute_usage_estimated \$tokenroute_input_tokens \$tokenroute_output_tokens \$tokenroute_cost';
access_log %%TESTDIR%%/est.log est;
EOF

my @workers = $t->workers();

###############################################################################

sub start_stream {
	my ($shape, $key, $model) = @_;

	return $t->http_start(method => 'POST',
		path => $shape eq 'openai' ? '/v1/chat/completions' : '/v1/messages',
		headers => $shape eq 'openai'
			? [ Authorization => "Bearer $key->{raw}" ]
			: [ 'x-api-key' => $key->{raw},
				'anthropic-version' => '2023-06-01' ],
		body => { model => $model, max_tokens => 1000, stream => JSON::PP::true,
			messages => [ { role => 'user', content => 'go away early' } ] },
		timeout => 10);
}

# Reads $n events of the stream, closes the connection, then waits for the
# settlement; returns its usage record and the request id.

sub cut_short {
	my ($name, $shape, $model, $n, $est) = @_;

	$est //= 1;

	my $key = $t->create_key(account => "cut-$name" =~ s/\W+/-/gr);
	my $h = start_stream($shape, $key, $model);

	my ($status, $raw) = $t->http_read_events($h, $n, timeout => 8);
	$t->http_abort($h);

	my ($rid) = $raw =~ /x-tokenroute-request-id: ([0-9a-f]{24})/i;
	my $events = () = ($raw =~ /\r\n\r\n(.*)/s ? $1 : '') =~ /\n\n/g;

	is($status, 200, "$name: the stream started");
	cmp_ok($events, '>=', $n, "$name: $n events read, then closed");
	ok(defined $rid, "$name: request id");

	$rid //= 'none';

	my $kh = 'tr:key:' . $t->key_hash($key->{raw});
	my $t0 = time();

	$t->wait_until(5, sub { $t->settled("$rid") });

	ok($t->settled("$rid"),
		"$name: settled within 5 s of the disconnect")
		or diag(sprintf 'waited %.1f s', time() - $t0);

	my $u = $t->redis_hash('tr:u:d:' . utc_day());
	my $p = "$key->{account}||$key->{id}|$model|";
	my %u = map { $_ => $u->{"$p$_"} // '0' } qw(req in out cached cost est);

	my $k = $t->redis_hash($kh);

	is($u{req}, 1, "$name: usage counts the request");
	is($u{est}, $est, "$name: usage est=$est");
	cmp_ok($u{cost} // 0, '>', 0, "$name: a non-zero cost was charged");
	is($k->{spent}, $u{cost}, "$name: the key was charged that cost");
	is($k->{reserved}, '0', "$name: reservation released");
	is($t->redis('HEXISTS', 'tr:rsvd', $rid), 0,
		"$name: no live reservation");

	is($u{cost}, cost(in => $u{in} // 0, out => $u{out} // 0, %P),
		"$name: the cost is that of the usage recorded");

	# the access log (its $status stays the 200 already sent)
	my $line = $t->wait_until(2, sub {
		my ($l) = grep { /^\Q$rid\E / } split /\n/,
			TokenRoute::Test::_slurp($t->testdir . '/est.log') // '';
		return $l;
	}) // '';
	my (undef, $st, $lest, $in, $out, $usd) = split / /, $line;
	is($lest, $est, "$name: \$tokenroute_usage_estimated $est");
	is($in, $u{in}, "$name: \$tokenroute_input_tokens as charged");
	is($out, $u{out}, "$name: \$tokenroute_output_tokens as charged");
	is(defined $usd && $usd =~ /^\d+(?:\.\d{1,9})?$/ ? usd_nano($usd) : $usd,
		$u{cost}, "$name: \$tokenroute_cost as charged");

	return (\%u, $rid, $key);
}

# the mock saw its connection closed before the stream's end

sub mock_closed_early {
	my ($name, $upstream) = @_;

	my $ab = $t->wait_until(3, sub {
		my @a = grep { ($_->{model} // '') eq $upstream } $t->mock_aborts();
		return $a[0];
	});

	ok($ab, "$name: the provider connection was closed early") or return;
	cmp_ok($ab->{sent}, '<', $ab->{total},
		"$name: the provider had sent $ab->{sent} of $ab->{total} events");
	is($ab->{reason}, 'peer closed', "$name: closed by the gateway");
}

###############################################################################

# slow streams, the client leaves after some text (OpenAI: the role chunk,
# "Hello", " from"; Anthropic: message_start, content_block_start, ping,
# "Hello")

{
	my ($u) = cut_short('openai slow', 'openai', 'openai/d-slow', 3);
	mock_closed_early('openai slow', 'gpt-d-slow-usage-30-300');
	cmp_ok($u->{out} // 0, '>', 0, 'openai slow: output estimated, not 0');
}

{
	my ($u) = cut_short('anthropic slow', 'anthropic', 'anthropic/d-slow', 4);
	mock_closed_early('anthropic slow', 'claude-d-slow-usage-30-300');
	is($u->{in}, 30, 'anthropic slow: input tokens exactly from message_start');
}

# Anthropic cut before any text: the provider had reported its usage
# (message_start: input 30, output 1), so that is what is charged, not an
# estimate (README: "the usage seen so far, or, when the provider had not
# reported output yet, an estimate")

{
	my ($u) = cut_short('anthropic before text', 'anthropic',
		'anthropic/d-slow', 3, 0);
	is($u->{in}, 30, 'anthropic before text: input from message_start');
	is($u->{out}, 1, 'anthropic before text: output from message_start');
}

# streams that stall: what the gateway saw is known exactly

{
	# OpenAI: the role chunk and "Hello"; no usage reported (that would
	# come last): the output is the estimate, 5 bytes of text -> 2 tokens
	my ($u) = cut_short('openai stall', 'openai', 'openai/d-stall', 2);
	mock_closed_early('openai stall', 'gpt-d-stall-2-usage-30-300');
	is($u->{out}, 2, 'openai stall: output = ceil(5 bytes / 4) tokens');
	cmp_ok($u->{in} // 0, '>', 0, 'openai stall: input estimated, not 0');
}

{
	# Anthropic: message_start (input 30, output 1), content_block_start,
	# ping and "Hello"
	my ($u) = cut_short('anthropic stall', 'anthropic', 'anthropic/d-stall', 4);
	mock_closed_early('anthropic stall', 'claude-d-stall-4-usage-30-300');
	is($u->{in}, 30, 'anthropic stall: input tokens exactly from message_start');
	cmp_ok($u->{out} // 0, '>=', 1, 'anthropic stall: output at least 1');
	cmp_ok($u->{out} // 0, '<=', 2,
		'anthropic stall: output at most the estimate of "Hello"');
}

###############################################################################

# the worker goes on serving

{
	my $key = $t->create_key(account => 'after');
	my $r = $t->http_stream(method => 'POST', path => '/v1/chat/completions',
		headers => { Authorization => "Bearer $key->{raw}" },
		body => { model => 'openai/d-ok', stream => JSON::PP::true,
			max_tokens => 1000,
			messages => [ { role => 'user', content => 'still there?' } ] },
		timeout => 10);

	is($r->{status}, 200, 'the next request: 200');
	is(@{ $r->{sse} } ? $r->{sse}[-1]{data} : undef, '[DONE]',
		'the next request: streamed to its end');
	is_deeply([ $t->workers() ], \@workers, 'the same worker process');

	my $kh = 'tr:key:' . $t->key_hash($key->{raw});
	my $c = cost(in => 30, out => 300, %P);
	$t->wait_until(3, sub { ($t->redis('HGET', $kh, 'spent') // '') eq $c });
	is($t->redis('HGET', $kh, 'spent'), $c, 'the next request: charged exactly');
	is($t->redis_hash('tr:u:d:' . utc_day())
		->{"after||$key->{id}|openai/d-ok|est"} // 0, 0, 'and not estimated');
}

unlike($t->error_log(), qr/\[(?:alert|crit)\]/, 'no alert or crit in error.log');

###############################################################################

done_testing();

###############################################################################
