#!/usr/bin/perl

# (C) tokenroute authors

# Tests for the debug traces: with "error_log ... debug" (nginx is built
# --with-debug) one request's tokenroute lines explain it in order: the
# key taken, the route, the admission queued, sent to Redis and answered
# with its verdict, the upstream's answer, the settlement; a request
# whose first model fails shows the fallback (the failed attempt, the
# cooldown, the next model); and the Redis client shows its connection
# and its commands.  No trace holds a client key, its hash or a provider
# key.

###############################################################################

use warnings;
use strict;

use Test::More;

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();
$t->start_gateway(http => <<'EOF');
tokenroute_model trace/down provider=mockai upstream_model=gpt-error-503 input_price=1 output_price=1 fallback=openai/gpt-4o-mini;
EOF

my $key = $t->create_key(name => 'trace', account => 'trace-acct');

sub chat {
	my ($model) = @_;

	return $t->http(method => 'POST', path => '/v1/chat/completions',
		headers => { Authorization => "Bearer $key->{raw}" },
		body => { model => $model, max_tokens => 8,
			messages => [ { role => 'user', content => 'hi' } ] });
}

# the connection's lines ("*N") of the request with this id, in order

sub traces {
	my ($rid) = @_;

	my @all = split /\n/, $t->error_log();
	my ($conn) = map { / \*(\d+) tokenroute access: request \Q$rid\E/ }
		@all;

	return () unless defined $conn;
	return grep { / \*\Q$conn\E tokenroute [a-z]+: / } @all;
}

# each pattern found after the one before it

sub in_order {
	my ($name, $lines, @patterns) = @_;

	my $i = 0;

	for my $re (@patterns) {
		$i++ while $i < @$lines && $lines->[$i] !~ $re;

		if ($i == @$lines) {
			fail("$name: $re");
			diag(join "\n", @$lines);
			return;
		}

		pass("$name: $re");
		$i++;
	}
}

###############################################################################

my $res = chat('openai/gpt-4o-mini');
is($res->{status}, 200, 'request: 200');

my $rid = $res->{headers}{'x-tokenroute-request-id'} // '';
ok($t->wait_until(5, sub { $t->settled($rid) }), 'settled');
ok($t->wait_until(5, sub { $t->error_log() =~ /tokenroute settle: batch/ }),
	'settlement answered');

my @lines = traces($rid);

in_order('one request', \@lines,
	qr/tokenroute access: request \Q$rid\E, endpoint 1/,
	qr/tokenroute key: extracted/,
	qr/tokenroute body: read, \d+ bytes/,
	qr/tokenroute request: model "openai\/gpt-4o-mini", chain of 1/,
	qr/tokenroute route: model "openai\/gpt-4o-mini", provider "mockai",/
		. qr/ uri "\/v1\/chat\/completions", translate 0/,
	qr/tokenroute admission: queued, reserve \d+/,
	qr/tokenroute admission: sent in a batch of 1/,
	qr/tokenroute admission: "ok", key "\Q$key->{id}\E" account "trace-acct"/,
	qr/tokenroute access: Redis answered in \d+ us/,
	qr/tokenroute choose: model "openai\/gpt-4o-mini", 1 of 1/,
	qr/tokenroute access: admitted, attempt 1/,
	qr/tokenroute upstream: status 200 from "openai\/gpt-4o-mini", attempt 1/,
	qr/tokenroute settle: cost \d+, input \d+, output \d+/);

# the Redis client: connected, scripts loaded, commands timed

my $log = $t->error_log();

like($log, qr/tokenroute redis: connecting to 127\.0\.0\.1:\d+/,
	'redis: connecting');
like($log, qr/tokenroute redis: ready/, 'redis: ready');
like($log, qr/tokenroute redis: SCRIPT LOAD answered [0-9a-f]{40}/,
	'redis: script loaded');
like($log, qr/tokenroute redis: EVALSHA sent, \d+ arguments, op \S+/,
	'redis: command sent');
like($log, qr/tokenroute redis: op \S+ answered, type \d+, in \d+ ms/,
	'redis: command answered');
like($log, qr/tokenroute settle: batch of 1 sent/, 'settle: batch sent');
like($log, qr/tokenroute settle: batch of 1 answered/,
	'settle: batch answered');

# a key checked alone (an admission that reserves nothing): GET /v1/models

$res = $t->http(method => 'GET', path => '/v1/models',
	headers => { Authorization => "Bearer $key->{raw}" });
is($res->{status}, 200, 'models: 200');

{
	my @all = split /\n/, $t->error_log();
	my $conn = (map { / \*(\d+) tokenroute access: request / } @all)[-1];
	@lines = grep { / \*\Q$conn\E tokenroute [a-z]+: / } @all;
}

in_order('key lookup', \@lines,
	qr/tokenroute access: request [0-9a-f]+, endpoint 3/,
	qr/tokenroute key: extracted/,
	qr/tokenroute admission: queued, the key check alone, reserve 0,/,
	qr/tokenroute admission: sent in a batch of 1/,
	qr/tokenroute admission: answered/,
	qr/tokenroute admission: "key", key "key_/,
	qr/tokenroute access: Redis answered in \d+ us/);

like($t->error_log(), qr/tokenroute redis: EVALSHA sent, \d+ arguments/,
	'redis: the key check sent');

# the fallback path (a failed attempt's answer is intercepted: no
# "upstream" line for it)

$res = chat('trace/down');
is($res->{status}, 200, 'fallback: 200');
is($res->{headers}{'x-tokenroute-model'}, 'openai/gpt-4o-mini',
	'fallback: the second model answered');

$rid = $res->{headers}{'x-tokenroute-request-id'} // '';
ok($t->wait_until(5, sub { $t->settled($rid) }), 'fallback: settled');

@lines = traces($rid);

in_order('fallback', \@lines,
	qr/tokenroute access: request \Q$rid\E/,
	qr/tokenroute choose: model "trace\/down", 1 of 2/,
	qr/tokenroute fallback: attempt 1 on "trace\/down" failed with 503,/
		. qr/ cooling 0/,
	qr/tokenroute choose: model "openai\/gpt-4o-mini", 2 of 2/,
	qr/tokenroute fallback: next model "openai\/gpt-4o-mini", attempt 2/,
	qr/tokenroute upstream: status 200 from "openai\/gpt-4o-mini",/
		. qr/ attempt 2/,
	qr/tokenroute settle: cost \d+/);

# every model of the chain fails

$t->stop_mock();

$res = chat('trace/down');
is($res->{status}, 502, 'chain exhausted: 502');

# the last request's connection

{
	my @all = split /\n/, $t->error_log();
	my $conn = (map { / \*(\d+) tokenroute access: request / } @all)[-1];
	@lines = grep { / \*\Q$conn\E tokenroute [a-z]+: / } @all;
}

in_order('chain exhausted', \@lines,
	qr/tokenroute fallback: attempt 1 on "trace\/down" failed with 502/,
	qr/tokenroute fallback: next model "openai\/gpt-4o-mini", attempt 2/,
	qr/tokenroute fallback: attempt 2 on "openai\/gpt-4o-mini" failed/
		. qr/ with 502/,
	qr/tokenroute fallback: chain exhausted after 2 attempts, status 502/);

# Redis goes away: the client says it reconnects

$t->stop_redis();

$res = chat('openai/gpt-4o-mini');
is($res->{status}, 503, 'Redis down: 503');

my $again = qr/tokenroute redis: reconnect in \d+ ms.*/s
	. qr/tokenroute redis: reconnecting.*/s
	. qr/tokenroute redis: connecting to 127\.0\.0\.1/;

ok($t->wait_until(5, sub { $t->error_log() =~ qr/$again/ }),
	'redis: reconnect scheduled, then tried');

# no secret in any trace

my @traces = grep { /tokenroute [a-z]+: / } split /\n/, $t->error_log();
cmp_ok(scalar @traces, '>', 30, 'traces written');

for my $s ($key->{raw}, substr($key->{raw}, 6), $t->key_hash($key->{raw}),
	$TokenRoute::Test::OPENAI_KEY, $TokenRoute::Test::ANTHROPIC_KEY)
{
	my @bad = grep { index($_, $s) >= 0 } @traces;
	is(scalar @bad, 0, 'no ' . substr($s, 0, 12) . '... in a trace')
		or diag(join "\n", @bad);
}

done_testing();
