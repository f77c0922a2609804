#!/usr/bin/perl

# (C) tokenroute authors

# Tests for tokenroute_metrics (README "Metrics and health"): real traffic
# of both API shapes (a stream, a fallback, a cooling model, an answer
# that is not JSON, a 401, a 402, a rate limit's 429), then the endpoint's
# text read strictly as Prometheus 0.0.4 (t/lib/TokenRoute/Prom.pm) and
# every counter's delta checked exactly.  The counters survive a reload
# (HUP), and with two workers both count into one table.

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Prom qw(parse value family);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

# the parser itself: it must refuse what the format forbids

{
	my $ok = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 2\n"
		. "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
		. "h_sum 3\nh_count 2\n";
	my (undef, $e) = parse($ok);
	is_deeply($e, [], 'parser: a valid text passes');

	for my $bad (
		[ "a_total 1\n", 'no TYPE' ],
		[ "# TYPE a_total counter\na_total{x=1} 1\n", 'unquoted label' ],
		[ "# TYPE a_total counter\na_total 1\na_total 2\n", 'series twice' ],
		[ "# TYPE a counter\na 1\n", 'counter not _total' ],
		[ "# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\n"
			. "h_sum 1\nh_count 2\n", 'buckets decrease' ],
		[ "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
			. "h_sum 1\nh_count 3\n", '+Inf != count' ],
		[ "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
			'no +Inf bucket' ],
		[ "# TYPE a_total counter\na_total 1 x\n", 'bad value' ],
	) {
		my (undef, $e) = parse($bad->[0]);
		ok(scalar @$e, "parser refuses: $bad->[1]");
	}
}

###############################################################################

my $t = TokenRoute::Test->new();

my $http = <<'EOF';
tokenroute_model m/oa provider=mockai upstream_model=gpt-usage-100-20-cached-30 input_price=1 output_price=2 cached_input_price=0.5;
tokenroute_model m/ant provider=mockant upstream_model=claude-usage-40-6 input_price=1 output_price=5;
tokenroute_model m/flaky provider=mockai upstream_model=gpt-error-500 input_price=1 output_price=1 fallback=m/oa;
tokenroute_model m/quota provider=mockai upstream_model=gpt-error-429-ra30 input_price=1 output_price=1 fallback=m/oa;
tokenroute_model m/broken provider=mockai upstream_model=gpt-malformed input_price=1 output_price=1;
tokenroute_model m/slow provider=mockai upstream_model=gpt-usage-100-20-slow input_price=1 output_price=2;
EOF

my $server = <<'EOF';
add_header x-worker $pid always;
location = /metrics {
    tokenroute_metrics;
}
EOF

$t->start_gateway(http => $http, server => $server);

my $key = $t->create_key(name => 'metrics');
my $broke = $t->create_key(name => 'broke', account => 'broke-acct', fund => 0);
my $limited = $t->create_key(name => 'limited', account => 'rl-acct');
$t->redis('HSET', 'tr:key:' . $t->key_hash($limited->{raw}), rpm => 1);

sub scrape {
	my (%o) = @_;
	my $r = $t->http(method => 'GET', path => '/metrics');
	is($r->{status}, 200, 'metrics: 200');
	is($r->{headers}{'content-type'}, 'text/plain; version=0.0.4',
		'metrics: the 0.0.4 content type');
	my ($m, $e) = parse($r->{body});
	is_deeply($e, [], 'metrics: strict Prometheus text') or diag($r->{body});
	return wantarray ? ($m, $r->{body}) : $m;
}

# long enough that the reported usage is within the reservation's bounds
my $LONG = 'hello ' x 100;

sub chat {
	my ($k, $model, %o) = @_;
	return $t->http(method => 'POST', path => '/v1/chat/completions',
		headers => { Authorization => "Bearer $k" },
		body => { model => $model,
			messages => [ { role => 'user', content => $LONG } ] });
}

sub messages {
	my ($k, $model, %o) = @_;
	my $call = $o{stream} ? 'http_stream' : 'http';
	return $t->$call(method => 'POST', path => '/v1/messages',
		headers => { 'x-api-key' => $k, 'anthropic-version' => '2023-06-01' },
		body => { model => $model, max_tokens => 64,
			($o{stream} ? (stream => JSON::PP::true) : ()),
			messages => [ { role => 'user', content => $LONG } ] });
}

# what changed between two scrapes, for one series

sub delta {
	my ($a, $b, $name, %l) = @_;
	return value($b, $name, %l) - value($a, $name, %l);
}

###############################################################################

my $m0 = scrape();

is(chat($key->{raw}, 'm/oa')->{status}, 200, 'openai shape: 200');
is(messages($key->{raw}, 'm/ant')->{status}, 200, 'anthropic shape: 200');

my $s = messages($key->{raw}, 'm/ant', stream => 1);
is($s->{status}, 200, 'anthropic stream: 200');
like($s->{body}, qr/event: message_stop/, 'the stream completed');

my $f = chat($key->{raw}, 'm/flaky');
is($f->{status}, 200, 'fallback: 200');
is($f->{headers}{'x-tokenroute-attempts'}, 2, 'fallback: 2 attempts');

my $q = chat($key->{raw}, 'm/quota');
is($q->{status}, 200, 'quota event: the fallback serves');

is(chat($key->{raw}, 'm/broken')->{status}, 502,
	'an answer that is not JSON: 502');

is($t->http(method => 'POST', path => '/v1/chat/completions',
	body => { model => 'm/oa', messages => [] })->{status}, 401,
	'no key: 401');
is(chat('sk-tr-' . ('a' x 40), 'm/oa')->{status}, 401, 'an unknown key: 401');
is(chat($broke->{raw}, 'm/oa')->{status}, 402, 'no credit: 402');
is(chat($limited->{raw}, 'm/oa')->{status}, 200, 'rpm 1: the first, 200');
is(chat($limited->{raw}, 'm/oa')->{status}, 429, 'rpm 1: the second, 429');
is(chat($key->{raw}, 'nope/none')->{status}, 404, 'an unknown model: 404');

my ($m1, $text) = scrape();

my %req = (model => 'm/oa', served_model => 'm/oa', provider => 'mockai',
	api => 'openai', status => '2xx');

is(delta($m0, $m1, 'tokenroute_requests_total', %req), 2,
	'requests: m/oa served twice (the key and the rpm-limited key)');
is(delta($m0, $m1, 'tokenroute_requests_total', %req, model => 'm/flaky'),
	1, 'requests: m/flaky asked, m/oa served');
is(delta($m0, $m1, 'tokenroute_requests_total', %req, model => 'm/quota'),
	1, 'requests: m/quota asked, m/oa served');
is(delta($m0, $m1, 'tokenroute_requests_total', model => 'm/ant',
	served_model => 'm/ant', provider => 'mockant', api => 'anthropic',
	status => '2xx'), 2, 'requests: anthropic shape, stream and not');
is(delta($m0, $m1, 'tokenroute_requests_total', model => 'm/broken',
	served_model => 'm/broken', provider => 'mockai', api => 'openai',
	status => '5xx'), 1, 'requests: the 502');
is(delta($m0, $m1, 'tokenroute_requests_total', model => '(unknown)',
	served_model => '(none)', provider => '(none)', api => 'openai',
	status => '4xx'), 2, 'requests: no key (no model read) and no such model');
is(delta($m0, $m1, 'tokenroute_requests_total', model => 'm/oa',
	served_model => '(none)', provider => '(none)', api => 'openai',
	status => '4xx'), 3, 'requests: the 401, 402 and 429 that named m/oa');

my $total = 0;
$total += $m1->{$_} - ($m0->{$_} // 0)
	for grep { /^tokenroute_requests_total\{/ } keys %$m1;
is($total, 12, 'requests: every request counted once');

is(delta($m0, $m1, 'tokenroute_rejections_total', code => 401,
	reason => 'missing_api_key'), 1, 'rejections: 401 missing key');
is(delta($m0, $m1, 'tokenroute_rejections_total', code => 401,
	reason => 'invalid_api_key'), 1, 'rejections: 401 unknown key');
is(delta($m0, $m1, 'tokenroute_rejections_total', code => 402,
	reason => 'insufficient_credit'), 1, 'rejections: 402');
is(delta($m0, $m1, 'tokenroute_rejections_total', code => 429,
	reason => 'rate_limit_exceeded'), 1, 'rejections: 429');

is(delta($m0, $m1, 'tokenroute_attempts_total', model => 'm/flaky'), 2,
	'attempts: 2 for the fallback');
is(delta($m0, $m1, 'tokenroute_fallbacks_total', model => 'm/flaky'), 1,
	'fallbacks: 1 for m/flaky');
is(delta($m0, $m1, 'tokenroute_fallbacks_total', model => 'm/quota'), 1,
	'fallbacks: 1 for m/quota');
is(delta($m0, $m1, 'tokenroute_attempts_total', model => 'm/oa'), 2,
	'attempts: 1 each for the m/oa requests');

is(value($m1, 'tokenroute_model_cooling', model => 'm/quota'), 1,
	'cooling: m/quota after its 429');
is(value($m1, 'tokenroute_model_cooling', model => 'm/oa'), 0,
	'cooling: m/oa not');
is(value($m1, 'tokenroute_cooldowns_active'), 1, 'cooldowns active: 1');

# m/oa: 4 requests served, each 100 input (30 of them cached), 20 output:
# 70 * 1000 + 30 * 500 + 20 * 2000 nano-USD
is(delta($m0, $m1, 'tokenroute_tokens_total', model => 'm/oa',
	type => 'input'), 4 * 70, 'tokens: m/oa uncached input');
is(delta($m0, $m1, 'tokenroute_tokens_total', model => 'm/oa',
	type => 'cached'), 4 * 30, 'tokens: m/oa cached');
is(delta($m0, $m1, 'tokenroute_tokens_total', model => 'm/oa',
	type => 'output'), 4 * 20, 'tokens: m/oa output');
is(delta($m0, $m1, 'tokenroute_cost_nano_usd_total', model => 'm/oa'),
	4 * 125000, 'cost: m/oa');
is(delta($m0, $m1, 'tokenroute_tokens_total', model => 'm/ant',
	type => 'input'), 2 * 40, 'tokens: m/ant input');
is(delta($m0, $m1, 'tokenroute_tokens_total', model => 'm/ant',
	type => 'output'), 2 * 6, 'tokens: m/ant output');
is(delta($m0, $m1, 'tokenroute_tokens_total', model => 'm/ant',
	type => 'cache_write'), 0, 'tokens: m/ant no cache writes');
is(delta($m0, $m1, 'tokenroute_cost_nano_usd_total', model => 'm/ant'),
	2 * 70000, 'cost: m/ant');

is(delta($m0, $m1, 'tokenroute_unbilled_requests_total', model => 'm/broken'),
	1, 'unbilled: the answer that was not JSON');
cmp_ok(delta($m0, $m1, 'tokenroute_unbilled_cost_nano_usd_total',
	model => 'm/broken'), '>', 0, 'unbilled: its cost');
is(delta($m0, $m1, 'tokenroute_cost_nano_usd_total', model => 'm/broken'),
	0, 'cost: nothing billed for it');
is(delta($m0, $m1, 'tokenroute_estimated_requests_total', model => 'm/oa'),
	0, 'estimated: m/oa reported its usage');

# 7 requests were admitted and proxied (the 200s and the 502)
is(delta($m0, $m1, 'tokenroute_overhead_seconds_count'), 7,
	'overhead: one observation per admitted request');
is(delta($m0, $m1, 'tokenroute_upstream_first_byte_seconds_count'), 7,
	'upstream first byte: one per proxied request');
is(delta($m0, $m1, 'tokenroute_upstream_last_byte_seconds_count'), 7,
	'upstream last byte: one per proxied request');
cmp_ok(delta($m0, $m1, 'tokenroute_overhead_seconds_sum'), '>', 0,
	'overhead: a sum');

# 11 requests had a well-formed key: the admission checked each
is(delta($m0, $m1, 'tokenroute_admission_batch_size_sum'), 11,
	'admission batches: every admitted request in one');
cmp_ok(delta($m0, $m1, 'tokenroute_redis_command_seconds_count'), '>=', 1,
	'redis: commands timed');
is(delta($m0, $m1, 'tokenroute_redis_errors_total'), 0, 'redis: no errors');
is(value($m1, 'tokenroute_redis_connected', worker => 0), 1,
	'redis: worker 0 connected');
is(value($m1, 'tokenroute_journal_entries'), 0, 'journal: empty');
is(value($m1, 'tokenroute_journal_capacity_bytes'), 1024 * 1024,
	'journal: its capacity');

# labels come from the configuration only

unlike($text, qr/nope\/none|\Q$key->{id}\E/,
	'no client-supplied model and no key id in the labels');

###############################################################################

# A client that goes away mid-stream: counted once, as the 200 it got.

my %slow = (model => 'm/slow', served_model => 'm/slow', provider => 'mockai',
	api => 'openai', status => '2xx');

my $h = $t->http_start(method => 'POST', path => '/v1/chat/completions',
	headers => [ Authorization => "Bearer $key->{raw}" ],
	body => { model => 'm/slow', stream => JSON::PP::true,
		messages => [ { role => 'user', content => $LONG } ] });
my ($st) = $t->http_read_events($h, 1, timeout => 5);
is($st, 200, 'client abort: the stream started');
$t->http_abort($h);

ok($t->wait_until(5, sub {
	value(scalar(scrape()), 'tokenroute_requests_total', %slow) == 1 }),
	'client abort: the request counted');
sleep 0.6;
my $ma = scrape();
is(value($ma, 'tokenroute_requests_total', %slow), 1,
	'client abort: counted once');
is(value($ma, 'tokenroute_attempts_total', model => 'm/slow'), 1,
	'client abort: one attempt');
is(value($ma, 'tokenroute_upstream_last_byte_seconds_count')
	- value($m1, 'tokenroute_upstream_last_byte_seconds_count'), 1,
	'client abort: its upstream time observed once');

###############################################################################

# A reload keeps the counters (the zone's shape is unchanged).

my $before = value($m1, 'tokenroute_requests_total', %req);
$t->reload_nginx();
my $m2 = scrape();
is(value($m2, 'tokenroute_requests_total', %req), $before,
	'reload: the counters are kept');
is(chat($key->{raw}, 'm/oa')->{status}, 200, 'after the reload: 200');
my $m3 = scrape();
is(value($m3, 'tokenroute_requests_total', %req), $before + 1,
	'after the reload: counted on');
is(value($m3, 'tokenroute_tokens_total', model => 'm/oa', type => 'output'),
	value($m1, 'tokenroute_tokens_total', model => 'm/oa', type => 'output')
	+ 20, 'after the reload: tokens counted on');

###############################################################################

# Two workers count into one table.

$t->stop_nginx();

my $conf = $t->testdir() . '/nginx.conf';
open my $fh, '<', $conf or die "$conf: $!\n";
my $c = do { local $/; <$fh> };
close $fh;
$c =~ s/worker_processes 1;/worker_processes 2;/ or die "no worker_processes\n";
$c =~ s/(listen 127\.0\.0\.1:\d+);/$1 reuseport;/ or die "no listen\n";
open $fh, '>', $conf or die "$conf: $!\n";
print $fh $c;
close $fh;

$t->start_nginx();

# start_nginx() returns once one worker answers; the second may still be
# starting (seen under the sanitizers on a loaded machine)
$t->wait_until(5, sub { scalar($t->workers()) == 2 });
is(scalar($t->workers()), 2, 'two workers');

$t->wait_until(5, sub {
	my $r = $t->http(method => 'GET', path => '/metrics');
	my ($m) = parse($r->{body} // '');
	value($m, 'tokenroute_redis_connected', worker => 0)
		+ value($m, 'tokenroute_redis_connected', worker => 1) == 2;
});

my $m4 = scrape();
my %pids;

for (1 .. 30) {
	my $r = chat($key->{raw}, 'm/oa');
	is($r->{status}, 200, "two workers: request $_") if $r->{status} != 200;
	$pids{ $r->{headers}{'x-worker'} // '' }++;
}

is(scalar(keys %pids), 2, 'two workers: both served requests')
	or diag(explain \%pids);

# a request is counted in its log phase, which may run just after its
# client has the answer, and the scrape may land on the other worker
$t->wait_until(5, sub {
	my $r = $t->http(method => 'GET', path => '/metrics');
	my ($m) = parse($r->{body} // '');
	delta($m4, $m, 'tokenroute_requests_total', %req) >= 30;
});

my $m5 = scrape();
is(delta($m4, $m5, 'tokenroute_requests_total', %req), 30,
	'two workers: all 30 counted');
is(value($m5, 'tokenroute_redis_connected', worker => 0), 1,
	'two workers: worker 0 connected');
is(value($m5, 'tokenroute_redis_connected', worker => 1), 1,
	'two workers: worker 1 connected');

# A reload down to one worker: the worker that is gone leaves no gauge
# behind (a stale 0 would fire "Redis unreachable" forever, a stale 1
# hide an outage).

$c =~ s/worker_processes 2;/worker_processes 1;/ or die "no worker_processes\n";
open $fh, '>', $conf or die "$conf: $!\n";
print $fh $c;
close $fh;

my @old = $t->workers();
$t->reload_nginx();
ok($t->wait_until(10, sub { !grep { kill 0, $_ } @old }),
	'one worker: the old workers exited');

my $m6 = scrape();
my %gauges = family($m6, 'tokenroute_redis_connected');
is(scalar(keys %gauges), 1, 'one worker: one tokenroute_redis_connected')
	or diag(explain \%gauges);
is(value($m6, 'tokenroute_redis_connected', worker => 0), 1,
	'one worker: worker 0 connected');

###############################################################################

done_testing();

###############################################################################
