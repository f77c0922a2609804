#!/usr/bin/perl

# (C) tokenroute authors

# Tests for "Nothing lost when Redis blips" (README): a settlement Redis
# cannot take is journaled in shared memory and replayed once Redis is
# back, charged exactly once; a settlement that reached Redis although
# its reply was lost is not charged again when replayed (idempotency per
# request id); while Redis is down new requests get 503 at once and the
# requests in flight still complete for their clients.

###############################################################################

use warnings;
use strict;

use Digest::SHA qw(sha1_hex);
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Math::BigInt;
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Money qw(usd_nano cost utc_day utc_hour);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

my ($IP, $OP) = ('0.333333', '1.777777');
my %P = (price => usd_nano($IP), out_price => usd_nano($OP));

$t->start_gateway(http => <<"EOF");
tokenroute_model openai/j provider=mockai upstream_model=gpt-j-usage-40-567 input_price=$IP output_price=$OP;
tokenroute_model anthropic/j provider=mockant upstream_model=claude-j-usage-40-567 input_price=$IP output_price=$OP;
tokenroute_model openai/j-stream provider=mockai upstream_model=gpt-j-usage-30-300 input_price=$IP output_price=$OP;
tokenroute_model anthropic/j-stream provider=mockant upstream_model=claude-j-usage-30-300 input_price=$IP output_price=$OP;
EOF

my $key = $t->create_key(account => 'journal');
my $KH = 'tr:key:' . $t->key_hash($key->{raw});
my $AH = 'tr:acct:journal';
my $FUND = usd_nano(1000);

my $C1 = cost(in => 40, out => 567, %P);    # openai/j, anthropic/j
my $C2 = cost(in => 30, out => 300, %P);    # the streams

sub request {
	my ($shape, $model, %o) = @_;

	my $f = $o{start} ? 'http_start' : 'http';

	return $t->$f(method => 'POST',
		path => $shape eq 'openai' ? '/v1/chat/completions' : '/v1/messages',
		headers => $shape eq 'openai'
			? [ Authorization => "Bearer $key->{raw}",
				%{ $o{headers} || {} } ]
			: [ 'x-api-key' => $key->{raw},
				'anthropic-version' => '2023-06-01',
				%{ $o{headers} || {} } ],
		body => { model => $model, max_tokens => 1000,
			messages => [ { role => 'user', content => 'journal me' } ],
			($o{stream} ? (stream => JSON::PP::true) : ()) },
		timeout => $o{timeout} // 15);
}

sub spent { $t->redis('HGET', $KH, 'spent') // '0' }

sub sum { my $s = Math::BigInt->new(0); $s->badd($_) for @_; $s->bstr() }

# "replaying N journaled settlements" lines of the error log: the total N

sub replayed {
	my $n = 0;
	my $log = $t->error_log();
	$n += $1 while $log =~ /replaying (\d+) journaled settlements/g;
	return $n;
}

sub journaled {
	my ($rid) = @_;
	my @l = $t->error_log() =~ /settlement \Q$rid\E journaled/g;
	return scalar @l;
}

sub evalsha_calls {
	my $info = $t->redis('INFO', 'commandstats');
	return $info =~ /cmdstat_evalsha:calls=(\d+)/ ? $1 : 0;
}

###############################################################################

# 1. N = 10 requests while Redis is up

my @expected;

for my $i (1 .. 10) {
	my $r = $i % 2 ? request('openai', 'openai/j')
		: request('anthropic', 'anthropic/j');
	is($r->{status}, 200, "request $i: 200")
		or diag(substr($r->{raw}, 0, 500));
	push @expected, $C1;
}

my $base = sum(@expected);
$t->wait_until(3, sub { spent() eq $base });
is(spent(), $base, '10 requests: spent = 10 x their cost');

###############################################################################

# 2. Redis goes away while two streams are in flight

my %h = (
	openai => request('openai', 'openai/j-stream', stream => 1, start => 1,
		headers => { 'x-mock-delay' => '0.6' }),
	anthropic => request('anthropic', 'anthropic/j-stream', stream => 1,
		start => 1, headers => { 'x-mock-delay' => '0.4' }),
);

# both admitted (reserved) and streaming
my %first;
for my $s (sort keys %h) {
	my ($status, $raw) = $t->http_read_events($h{$s}, 1, timeout => 5);
	is($status, 200, "$s stream: started");
	($first{$s}) = $raw =~ /x-tokenroute-request-id: ([0-9a-f]+)/i;
}

is($t->redis('ZCARD', 'tr:rsv'), 2, 'two reservations in flight');

# what the restarted Redis comes back with (it has no persistence of its
# own): the same data, including the two live reservations
is($t->redis('SAVE'), 'OK', 'snapshot of the Redis data');

$t->stop_redis();
my $down = time();

# admission fails closed, and at once
for my $shape (qw(openai anthropic)) {
	my $t0 = time();
	my $r = request($shape, $shape eq 'openai' ? 'openai/j' : 'anthropic/j',
		timeout => 5);
	my $took = time() - $t0;

	$t->error_ok($r, $shape, status => 503,
		type => $shape eq 'openai' ? 'server_error' : 'api_error',
		name => "$shape: 503 while Redis is down");
	is($r->{json}{error}{code}, 'key_store_unavailable',
		'503 key_store_unavailable') if $shape eq 'openai';
	cmp_ok($took, '<', 1.5, "$shape: the 503 comes quickly")
		or diag(sprintf "took %.3f s", $took);
}

# the streams in flight complete normally for their clients
my %res = map { $_ => $t->http_finish($h{$_}, timeout => 15) } keys %h;

ok($res{openai}{complete} && !$res{openai}{error},
	'openai stream: complete') or diag($res{openai}{error});
is($res{openai}{sse}[-1]{data}, '[DONE]', 'openai stream: [DONE]');
ok($res{anthropic}{complete} && !$res{anthropic}{error},
	'anthropic stream: complete') or diag($res{anthropic}{error});
is($res{anthropic}{sse}[-1]{event}, 'message_stop',
	'anthropic stream: message_stop');

my %rid = map { $_ => $res{$_}{headers}{'x-tokenroute-request-id'} // '' }
	keys %res;
is($rid{$_}, $first{$_}, "$_: the same request id") for sort keys %rid;

# their settlements went to the journal
for my $s (sort keys %rid) {
	ok($t->wait_until(3, sub { journaled($rid{$s}) }),
		"$s: settlement journaled (error.log)");
}

push @expected, $C2, $C2;

# Redis back, with the data of before
sleep 0.5;
$t->start_redis();

is($t->redis('HGET', $KH, 'id'), $key->{id}, 'Redis is back with its data');

my $total = sum(@expected);

my $t0 = time();
$t->wait_until(6, sub { spent() eq $total });
my $took = time() - $t0;

is(spent(), $total, 'the journal replay charged the two streams')
	or diag('spent ' . spent() . ", expected $total, before $base");
cmp_ok($took, '<', 5, 'within 5 s of Redis coming back')
	or diag(sprintf "%.1f s", $took);

$t->wait_until(3, sub {
	($t->redis('HGET', $KH, 'reserved') // '') eq '0' });

is($t->redis('HGET', $KH, 'reserved'), '0', 'key: reservations released');
is($t->redis('HGET', $AH, 'reserved'), '0', 'account: reservations released');
is($t->redis('ZCARD', 'tr:rsv'), 0, 'tr:rsv empty');
is($t->settled("$rid{$_}"), 1, "$_: settled marker")
	for sort keys %rid;
is($t->redis('HGET', $AH, 'credit'),
	Math::BigInt->new($FUND)->bsub($total)->bstr(),
	'account credit: charged exactly once for every request');

like($t->error_log(), qr/replaying \d+ journaled settlements/,
	'error.log: replaying');

my $n = replayed();
cmp_ok($n, '>=', 2, "replayed settlements: $n");
is($n, journaled($rid{openai}) + journaled($rid{anthropic}),
	'every journaling was replayed once');

# usage counted once each
{
	my $u = $t->redis_hash('tr:u:d:' . utc_day());
	my $p = "journal||$key->{id}|";
	is($u->{"${p}openai/j-stream|req"}, 1, 'usage: openai stream counted once');
	is($u->{"${p}anthropic/j-stream|req"}, 1,
		'usage: anthropic stream counted once');
	is($u->{"${p}openai/j-stream|cost"}, $C2, 'usage: its cost');
}

# idempotency: nothing changes any more
sleep 3;
is(spent(), $total, 'spent unchanged 3 s later');
is(replayed(), $n, 'no further replays');

###############################################################################

# 3. Replaying a settlement by hand: the settlement script (as the module
# loads it) answers 0 and changes nothing.

{
	my $lua = TokenRoute::Test::_slurp($t->repo . '/src/lua/settle.lua')
		// '';
	my $sha = sha1_hex($lua);

	is_deeply($t->redis('SCRIPT', 'EXISTS', $sha), [ 1 ],
		'the module loaded src/lua/settle.lua, byte for byte');

	my $rid = $rid{openai};
	my $before = $t->redis_hash($KH);

	# no release; one group (no tenant) of one settlement
	my $r = $t->redis('EVALSHA', $sha, 0, 0, 'journal', '',
		$t->key_hash($key->{raw}), $key->{id}, 'openai/j-stream',
		utc_day(), utc_hour(), 1, $rid, $C2, 30, 300, 0, 0, 0, 0, 0);

	is($r, 0, 'a replayed settlement answers 0');
	is(spent(), $total, 'and charges nothing');
	is($t->redis('HGET', $AH, 'credit'),
		Math::BigInt->new($FUND)->bsub($total)->bstr(), 'credit unchanged');
	is($t->redis_hash('tr:u:d:' . utc_day())
		->{"journal||$key->{id}|openai/j-stream|req"}, 1,
		'usage not counted again');
}

###############################################################################

# 4. The reply is lost: Redis is stuck (a busy script) when the
# settlement arrives, the module times out (timeout=1s), journals it and
# drops the connection; Redis then runs the settlement anyway, and the
# replay must not charge it again.

{
	my $before = spent();
	my $calls = evalsha_calls();

	my $h = request('openai', 'openai/j-stream', stream => 1, start => 1,
		headers => { 'x-mock-delay' => '0.4' });
	my ($status, $raw) = $t->http_read_events($h, 1, timeout => 5);
	is($status, 200, 'lost reply: stream started');
	my ($rid) = $raw =~ /x-tokenroute-request-id: ([0-9a-f]+)/i;

	# the stream ends 5 x 0.4 s after its first event: be busy from a
	# bit before until well after
	sleep 1.6;

	my $busy = <<'EOF';
local s = redis.call('TIME')
local t0 = s[1] * 1000000 + s[2]
while true do
  local n = redis.call('TIME')
  if n[1] * 1000000 + n[2] - t0 >= tonumber(ARGV[1]) then break end
end
return 1
EOF

	# sent on a connection of its own, its answer read later: the client
	# must meanwhile read its stream to the end and close, which is when
	# nginx settles (log phase)
	my $rs = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
		PeerPort => $t->redis_port(), Proto => 'tcp', Timeout => 2);
	ok($rs, 'a Redis connection for the busy script');
	my @cmd = ('EVAL', $busy, 0, 2_500_000);
	syswrite($rs, '*' . @cmd . "\r\n"
		. join('', map { '$' . length($_) . "\r\n$_\r\n" } @cmd)) if $rs;
	my $busy_from = time();

	my $res = $t->http_finish($h, timeout => 10);
	ok($res->{complete} && !$res->{error}, 'lost reply: stream complete');
	cmp_ok(time() - $busy_from, '<', 1,
		'lost reply: the stream ended while Redis was busy');

	my $answer = '';
	if ($rs) {
		my $sel = IO::Select->new($rs);
		while ($answer !~ /\r\n/ && $sel->can_read(5)) {
			sysread($rs, $answer, 1024, length $answer) or last;
		}
		close $rs;
	}
	is($answer, ":1\r\n", 'lost reply: the busy script ran');

	ok($t->wait_until(3, sub { journaled($rid) }),
		'lost reply: the settlement timed out and was journaled');

	my $want = sum($before, $C2);
	$t->wait_until(6, sub {
		spent() eq $want && $t->settled("$rid") });

	is(spent(), $want, 'lost reply: charged once');

	my $settles = evalsha_calls() - $calls - 1;    # minus the admission
	cmp_ok($settles, '>=', 2,
		'lost reply: the settlement reached Redis more than once')
		or diag("settlement EVALSHAs: $settles");

	sleep 3;
	is(spent(), $want, 'lost reply: still charged once 3 s later');
	is($t->redis('HGET', $KH, 'reserved'), '0', 'lost reply: nothing reserved');
	is($t->redis('ZCARD', 'tr:rsv'), 0, 'lost reply: tr:rsv empty');

	push @expected, $C2;
}

# every completed request charged exactly once

is(spent(), sum(@expected), 'total spent = the sum of the expected costs');
is($t->redis('HGET', $AH, 'spent'), sum(@expected), 'account spent too');

###############################################################################

done_testing();

###############################################################################
