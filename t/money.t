#!/usr/bin/perl

# (C) tokenroute authors

# Tests for the money path (README "Money: prepaid credit, hard per-key
# ceilings, exact usage"): 402 before anything reaches a provider, the
# reservation bound to the nano-dollar, exact settlement of what the
# provider reported (JSON and streams, both API shapes, cache reads and
# writes), provider errors cost nothing, the usage report and the CLI
# agree with Redis, and the $tokenroute_* log variables.

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Money qw(usd_nano nano_usd part cost reserve utc_day
	utc_hour);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

# prices with fractions of a nano-dollar per token, so every rounding shows
my ($IP, $OP, $CP) = ('0.333333', '1.777777', '0.033333');
my %P = (price => usd_nano($IP), out_price => usd_nano($OP));
my %PC = (%P, cached_price => usd_nano($CP));

# configured cache write prices: 5-minute, 1-hour, and one dearer than
# the 1-hour default (2 x input)
my ($WP, $W1P, $WD) = ('0.500001', '0.700007', '0.999999');
my %PW = (%PC, write_price => usd_nano($WP), write_1h_price => usd_nano($W1P));

$t->start_gateway(http => <<"EOF");
tokenroute_model openai/metered provider=mockai upstream_model=gpt-metered-usage-40-567 input_price=$IP output_price=$OP;
tokenroute_model anthropic/metered provider=mockant upstream_model=claude-metered-usage-40-567 input_price=$IP output_price=$OP;
tokenroute_model openai/small provider=mockai upstream_model=gpt-small-usage-10-5 input_price=$IP output_price=$OP;
tokenroute_model anthropic/small provider=mockant upstream_model=claude-small-usage-10-5 input_price=$IP output_price=$OP;
tokenroute_model openai/cached provider=mockai upstream_model=gpt-usage-1000-50-cached-400 input_price=$IP output_price=$OP cached_input_price=$CP;
tokenroute_model openai/cached-default provider=mockai upstream_model=gpt-usage-1000-50-cached-400 input_price=$IP output_price=$OP;
tokenroute_model anthropic/cached provider=mockant upstream_model=claude-usage-100-50-cached-300-cwrite-200 input_price=$IP output_price=$OP cached_input_price=$CP;
tokenroute_model anthropic/cache1h provider=mockant upstream_model=claude-usage-100-50-cached-300-cwrite-200-cwrite1h-150 input_price=$IP output_price=$OP cached_input_price=$CP;
tokenroute_model anthropic/cache1h-late provider=mockant upstream_model=claude-usage-100-50-cached-300-cwrite1h-150-cwrite-late input_price=$IP output_price=$OP cached_input_price=$CP;
tokenroute_model anthropic/cache1h-priced provider=mockant upstream_model=claude-usage-100-50-cached-300-cwrite-200-cwrite1h-150 input_price=$IP output_price=$OP cached_input_price=$CP cache_write_price=$WP cache_write_1h_price=$W1P;
tokenroute_model anthropic/small-wdear provider=mockant upstream_model=claude-small-usage-10-5 input_price=$IP output_price=$OP cache_write_price=$WD;
tokenroute_model anthropic/small-w1hdear provider=mockant upstream_model=claude-small-usage-10-5 input_price=$IP output_price=$OP cache_write_1h_price=$WD;
tokenroute_model openai/small-wdear provider=mockai upstream_model=gpt-small-usage-10-5 input_price=$IP output_price=$OP cache_write_price=$WD cache_write_1h_price=$WD;
tokenroute_model openai/err500 provider=mockai upstream_model=gpt-error-500 input_price=$IP output_price=$OP;
tokenroute_model openai/err429 provider=mockai upstream_model=gpt-error-429 input_price=$IP output_price=$OP;
tokenroute_model anthropic/err500 provider=mockant upstream_model=claude-error-500 input_price=$IP output_price=$OP;
tokenroute_model anthropic/err429 provider=mockant upstream_model=claude-error-429 input_price=$IP output_price=$OP;
log_format tr '\$tokenroute_key_id \$tokenroute_account \$tokenroute_model \$tokenroute_served_model \$tokenroute_attempts \$tokenroute_input_tokens \$tokenroute_output_tokens \$tokenroute_cached_tokens \$tokenroute_cost \$tokenroute_usage_estimated \$tokenroute_request_id';
access_log %%TESTDIR%%/tr.log tr;
log_format trc '\$tokenroute_request_id \$tokenroute_input_tokens \$tokenroute_cached_tokens \$tokenroute_cache_write_tokens \$tokenroute_cache_write_1h_tokens';
access_log %%TESTDIR%%/trc.log trc;
EOF

my $FUND = usd_nano(1000);    # what create_key() gives a new account
my @raw_keys;

###############################################################################

# Requests with bodies written out here, so that their exact byte count
# (the reservation's input bound) is known.

sub openai_body {
	my (%o) = @_;

	return '{"model":"' . $o{model} . '","messages":[{"role":"user",'
		. '"content":"' . ($o{content} // 'What does this cost?') . '"}]'
		. (defined $o{max_tokens} ? ',"max_tokens":' . $o{max_tokens} : '')
		. (defined $o{max_completion_tokens}
			? ',"max_completion_tokens":' . $o{max_completion_tokens} : '')
		. ($o{stream} ? ',"stream":true' : '')
		. ($o{include_usage} ? ',"stream_options":{"include_usage":true}'
			: '')
		. '}';
}

sub anthropic_body {
	my (%o) = @_;

	return '{"model":"' . $o{model} . '","max_tokens":'
		. ($o{max_tokens} // 1000) . ',"messages":[{"role":"user",'
		. '"content":"' . ($o{content} // 'What does this cost?') . '"}]'
		. ($o{stream} ? ',"stream":true' : '') . '}';
}

sub call {
	my ($shape, $key, $body, %o) = @_;

	my $f = $o{stream} ? 'http_stream' : 'http';

	return $t->$f(method => 'POST',
		path => $shape eq 'openai' ? '/v1/chat/completions' : '/v1/messages',
		headers => $shape eq 'openai'
			? [ Authorization => "Bearer $key->{raw}",
				'Content-Type' => 'application/json' ]
			: [ 'x-api-key' => $key->{raw},
				'anthropic-version' => '2023-06-01',
				'Content-Type' => 'application/json' ],
		body => $body, timeout => 15);
}

my $acct_no = 0;

sub new_key {
	my (%o) = @_;
	my $key = $t->create_key(account => 'acct-' . ++$acct_no, %o);
	push @raw_keys, $key->{raw};
	return $key;
}

sub key_state { $t->redis_hash('tr:key:' . $t->key_hash($_[0]{raw})) }
sub acct_state { $t->redis_hash("tr:acct:$_[0]") }

sub cli_json {
	my (@args) = @_;

	my ($code, $out, $err) = $t->cli(@args);
	is($code, 0, "tokenroute @args: exit 0") or diag($err);
	return eval { decode_json($out) } // {};
}

sub num { defined $_[0] ? "$_[0]" : 'undef' }

# Waits (at most 3 s) until the key has spent $cost, then checks every
# place the settlement shows: the key, the account, the reservation, the
# settled marker, the usage buckets and what the CLI reports.
#   e: { in, out, cached, cost, est }  (README "Redis keys for money": in
#   all input tokens, uncached, cache reads and cache writes together;
#   cached, of in, the cache reads)

sub settled_ok {
	my ($name, $key, $res, $model, $e, $t0) = @_;

	my $acct = $key->{account};
	my $rid = $res->{headers}{'x-tokenroute-request-id'} // '';

	subtest "$name: settled exactly" => sub {
		like($rid, qr/^[0-9a-f]{24}$/, 'x-tokenroute-request-id');

		my $k = $t->wait_until(3, sub {
			my $k = key_state($key);
			return (num($k->{spent}) eq $e->{cost}) ? $k : undef;
		}) // key_state($key);

		is(num($k->{spent}), $e->{cost}, 'key spent = the exact cost');
		is(num($k->{reserved}), '0', 'key reserved back to 0');

		my $a = acct_state($acct);
		is(num($a->{credit}),
			Math::BigInt->new($FUND)->bsub($e->{cost})->bstr(),
			'account credit decreased by exactly the cost');
		is(num($a->{spent}), $e->{cost}, 'account spent');
		is(num($a->{reserved}), '0', 'account reserved back to 0');

		is($t->redis('ZCARD', 'tr:rsv'), 0, 'tr:rsv empty');
		is($t->redis('HEXISTS', 'tr:rsvd', $rid), 0, 'its tr:rsvd record gone');
		is($t->redis('EXISTS', "tr:swept:$rid"), 0,
			'no late-settlement marker');

		# the bucket of the settlement's time: the request's, or the
		# next hour's if the hour turned meanwhile
		for my $b ([ 'd', \&utc_day ], [ 'h', \&utc_hour ]) {
			my %u;
			for my $when ($t0, time()) {
				my $h = $t->redis_hash("tr:u:$b->[0]:" . $b->[1]->($when));
				my $p = "$acct||$key->{id}|$model|";
				%u = map { $_ => $h->{"$p$_"} } qw(req in out cached cost est);
				last if defined $u{req};
			}

			is(num($u{req}), '1', "tr:u:$b->[0] req");
			is(num($u{in} // 0), $e->{in}, "tr:u:$b->[0] in (all input tokens)");
			is(num($u{out} // 0), $e->{out}, "tr:u:$b->[0] out");
			is(num($u{cached} // 0), $e->{cached}, "tr:u:$b->[0] cached");
			is(num($u{cost} // 0), $e->{cost}, "tr:u:$b->[0] cost");
			is(num($u{est} // 0), $e->{est}, "tr:u:$b->[0] est");
		}

		my $j = cli_json('usage', '--json', '--by', 'model',
			'--account', $acct);
		my @rows = @{ $j->{rows} || [] };
		is(scalar @rows, 1, 'usage --by model: one row');
		is($rows[0]{group}, $model, 'usage --by model: the model');
		is(num($rows[0]{cost_nusd}), $e->{cost},
			'usage --by model: cost_nusd');
		is(num($rows[0]{requests}), '1', 'usage --by model: requests');
		is(num($rows[0]{input_tokens}), $e->{in},
			'usage --by model: input_tokens');
		is(num($rows[0]{output_tokens}), $e->{out},
			'usage --by model: output_tokens');
		is(num($rows[0]{cached_tokens}), $e->{cached},
			'usage --by model: cached_tokens');
		is(num($rows[0]{estimated}), $e->{est}, 'usage --by model: estimated');
		is(num($j->{total}{cost_nusd}), $e->{cost}, 'usage total cost_nusd');

		$j = cli_json('usage', '--json', '--by', 'key', '--account', $acct);
		@rows = @{ $j->{rows} || [] };
		is(scalar @rows, 1, 'usage --by key: one row');
		is($rows[0]{group}, $key->{id}, 'usage --by key: the key id');
		is(num($rows[0]{cost_nusd}), $e->{cost}, 'usage --by key: cost_nusd');

		$j = cli_json('credit', 'show', '--json', '--account', $acct);
		is(num($j->{credit_nusd}),
			Math::BigInt->new($FUND)->bsub($e->{cost})->bstr(),
			'credit show: credit_nusd');
		is(num($j->{spent_nusd}), $e->{cost}, 'credit show: spent_nusd');
		is(num($j->{reserved_nusd}), '0', 'credit show: reserved_nusd');
		is(num($j->{available_nusd}), num($j->{credit_nusd}),
			'credit show: available = credit');

		$j = cli_json('keys', 'show', $key->{id}, '--json');
		is(num($j->{spent_nusd}), $e->{cost}, 'keys show: spent_nusd');
		is(num($j->{reserved_nusd}), '0', 'keys show: reserved_nusd');
	};

	return $rid;
}

###############################################################################

# 402: no credit.  Nothing reaches the provider, nothing stays reserved.

{
	my $key = $t->create_key(account => 'broke-acct', fund => 0);
	push @raw_keys, $key->{raw};
	$t->clear_mock_requests();

	my $r = call('openai', $key, openai_body(model => 'openai/small',
		max_tokens => 10));
	$t->error_ok($r, 'openai', status => 402, type => 'insufficient_quota',
		name => 'no credit: 402 in OpenAI shape');
	is($r->{json}{error}{code}, 'insufficient_credit',
		'no credit: error.code insufficient_credit');
	like($r->{json}{error}{message} // '', qr/broke-acct/,
		'no credit: message names the account');

	$r = call('anthropic', $key, anthropic_body(model => 'anthropic/small',
		max_tokens => 10));
	$t->error_ok($r, 'anthropic', status => 402, type => 'billing_error',
		name => 'no credit: 402 in Anthropic shape');
	like($r->{json}{error}{message} // '', qr/broke-acct/,
		'no credit: anthropic message names the account');

	is(scalar($t->mock_requests()), 0, 'no credit: nothing reached the mock');
	is($t->redis('ZCARD', 'tr:rsv'), 0, 'no credit: nothing reserved');
	is(num(key_state($key)->{reserved} // 0), '0',
		'no credit: key reserved 0');
}

###############################################################################

# The reservation bound, to the nano-dollar: a ceiling exactly equal to it
# admits, one nano-USD less rejects.

sub limit_boundary {
	my ($name, $shape, $body, %r) = @_;

	my $R = reserve(bytes => length($body), %P, %r);

	subtest "$name: key limit boundary at reserve $R nano-USD" => sub {
		$t->clear_mock_requests();

		my $under = new_key(limit => nano_usd($R - 1));
		my $res = call($shape, $under, $body);
		$t->error_ok($res, $shape, status => 402,
			type => $shape eq 'openai' ? 'insufficient_quota'
				: 'billing_error',
			name => 'limit = reserve - 1 nano-USD: 402');
		is($res->{json}{error}{code}, 'key_limit_reached',
			'error.code key_limit_reached') if $shape eq 'openai';
		like($res->{json}{error}{message} // '', qr/limit/i,
			'message says the limit ran out');
		my ($upto) = ($res->{json}{error}{message} // '')
			=~ /up to \$?([0-9]+(?:\.[0-9]+)?) USD/;
		is(defined $upto ? usd_nano($upto) : undef, $R,
			'message: "may cost up to" the exact reservation');
		is(scalar($t->mock_requests()), 0, '402: nothing reached the mock');
		is(num(key_state($under)->{reserved} // 0), '0',
			'402: nothing reserved on the key');

		my $exact = new_key(limit => nano_usd($R));
		$res = call($shape, $exact, $body);
		is($res->{status}, 200, 'limit = reserve: admitted')
			or diag(substr($res->{raw}, 0, 500));
		is(scalar($t->mock_requests()), 1, 'admitted: reached the mock');
	};
}

sub credit_boundary {
	my ($name, $shape, $body, %r) = @_;

	my $R = reserve(bytes => length($body), %P, %r);

	subtest "$name: account credit boundary at reserve $R nano-USD" => sub {
		my $under = $t->create_key(account => 'c-under-' . ++$acct_no,
			fund => 0);
		my $exact = $t->create_key(account => 'c-exact-' . $acct_no,
			fund => 0);
		push @raw_keys, $under->{raw}, $exact->{raw};

		$t->redis('HSET', "tr:acct:$under->{account}", 'credit', $R - 1);
		$t->redis('HSET', "tr:acct:$exact->{account}", 'credit', $R);

		my $res = call($shape, $under, $body);
		$t->error_ok($res, $shape, status => 402,
			type => $shape eq 'openai' ? 'insufficient_quota'
				: 'billing_error',
			name => 'credit = reserve - 1 nano-USD: 402');
		is($res->{json}{error}{code}, 'insufficient_credit',
			'error.code insufficient_credit') if $shape eq 'openai';
		like($res->{json}{error}{message} // '', qr/\Q$under->{account}\E/,
			'message names the account');

		$res = call($shape, $exact, $body);
		is($res->{status}, 200, 'credit = reserve: admitted')
			or diag(substr($res->{raw}, 0, 500));
	};
}

{
	my $b = openai_body(model => 'openai/small', max_tokens => 100);
	limit_boundary('openai max_tokens', 'openai', $b, max_tokens => 100);
	credit_boundary('openai max_tokens', 'openai', $b, max_tokens => 100);

	$b = openai_body(model => 'openai/small', max_completion_tokens => 77);
	limit_boundary('openai max_completion_tokens', 'openai', $b,
		max_tokens => 77);

	# no cap in the request: tokenroute_default_max_tokens, 4096
	$b = openai_body(model => 'openai/small');
	limit_boundary('openai default cap', 'openai', $b, max_tokens => 4096);

	# Anthropic-type: any input token may be a cache write, so the input
	# bound is priced at the dearest write rate: 1-hour writes, 2 x input
	$b = anthropic_body(model => 'anthropic/small', max_tokens => 100);
	limit_boundary('anthropic', 'anthropic', $b, max_tokens => 100,
		anthropic => 1);
	credit_boundary('anthropic', 'anthropic', $b, max_tokens => 100,
		anthropic => 1);

	# configured write prices above 2 x input: those
	$b = anthropic_body(model => 'anthropic/small-wdear', max_tokens => 100);
	limit_boundary('anthropic, cache_write_price dearest', 'anthropic', $b,
		max_tokens => 100, anthropic => 1, write_price => usd_nano($WD));

	$b = anthropic_body(model => 'anthropic/small-w1hdear',
		max_tokens => 100);
	limit_boundary('anthropic, cache_write_1h_price dearest', 'anthropic',
		$b, max_tokens => 100, anthropic => 1,
		write_1h_price => usd_nano($WD));

	# an OpenAI-type provider reports no cache writes: its write prices
	# do not count
	$b = openai_body(model => 'openai/small-wdear', max_tokens => 100);
	limit_boundary('openai, cache write prices ignored', 'openai', $b,
		max_tokens => 100);
}

###############################################################################

# Exact settlement of what the provider reported.

# OpenAI, not streamed; with the access log line

my ($log_key, $log_rid, $log_cost);

{
	my $key = new_key();
	my $t0 = time();
	my $res = call('openai', $key, openai_body(model => 'openai/metered',
		max_tokens => 1000));
	is($res->{status}, 200, 'openai json: 200')
		or diag(substr($res->{raw}, 0, 500));
	is($res->{headers}{'x-tokenroute-model'}, 'openai/metered',
		'openai json: x-tokenroute-model');

	my $c = cost(in => 40, out => 567, %P);
	is($c, '1021334', 'openai json: the expected cost is rounded per part');

	$log_rid = settled_ok('openai json', $key, $res, 'openai/metered',
		{ in => 40, out => 567, cached => 0, cost => $c, est => 0 }, $t0);
	($log_key, $log_cost) = ($key, $c);
}

# Anthropic, not streamed

{
	my $key = new_key();
	my $t0 = time();
	my $res = call('anthropic', $key, anthropic_body(
		model => 'anthropic/metered', max_tokens => 1000));
	is($res->{status}, 200, 'anthropic json: 200')
		or diag(substr($res->{raw}, 0, 500));

	settled_ok('anthropic json', $key, $res, 'anthropic/metered',
		{ in => 40, out => 567, cached => 0,
			cost => cost(in => 40, out => 567, %P), est => 0 }, $t0);
}

# OpenAI stream, the client did not ask for usage: the gateway asks for it
# upstream and removes the usage chunk, the client still gets [DONE]

sub openai_events {
	my ($res) = @_;
	return map { { raw => $_->{data},
		json => ($_->{data} // '') eq '[DONE]' ? undef
			: eval { decode_json($_->{data}) } } } @{ $res->{sse} };
}

{
	my $key = new_key();
	$t->clear_mock_requests();
	my $t0 = time();
	my $res = call('openai', $key, openai_body(model => 'openai/metered',
		max_tokens => 1000, stream => 1), stream => 1);

	is($res->{status}, 200, 'openai stream: 200');
	ok(!$res->{error}, 'openai stream: read to its end')
		or diag($res->{error});

	my ($up) = $t->mock_requests();
	ok($up && ref $up->{json}{stream_options} eq 'HASH'
		&& $up->{json}{stream_options}{include_usage},
		'openai stream: upstream asked for stream_options.include_usage')
		or diag($up ? $up->{body} : 'no upstream request');

	my @ev = openai_events($res);
	my @usage = grep { $_->{json} && ref $_->{json}{choices} eq 'ARRAY'
		&& !@{ $_->{json}{choices} } } @ev;
	is(scalar @usage, 0, 'openai stream: no usage-only chunk for the client')
		or diag(join "\n", map { $_->{raw} } @usage);
	ok(!grep({ $_->{json} && $_->{json}{usage} } @ev),
		'openai stream: no usage object reached the client');
	is(@ev ? $ev[-1]{raw} : undef, '[DONE]', 'openai stream: [DONE] last');
	is(scalar(grep { ($_->{raw} // '') eq '[DONE]' } @ev), 1,
		'openai stream: one [DONE]');

	settled_ok('openai stream', $key, $res, 'openai/metered',
		{ in => 40, out => 567, cached => 0,
			cost => cost(in => 40, out => 567, %P), est => 0 }, $t0);
}

# OpenAI stream, the client asked for usage: it gets the usage chunk

{
	my $key = new_key();
	my $t0 = time();
	my $res = call('openai', $key, openai_body(model => 'openai/metered',
		max_tokens => 1000, stream => 1, include_usage => 1), stream => 1);

	is($res->{status}, 200, 'openai stream with usage: 200');

	my @ev = openai_events($res);
	my @usage = grep { $_->{json} && ref $_->{json}{choices} eq 'ARRAY'
		&& !@{ $_->{json}{choices} } } @ev;
	is(scalar @usage, 1, 'openai stream with usage: the usage chunk arrives');
	is_deeply(@usage ? [ @{ $usage[0]{json}{usage} || {} }{qw(prompt_tokens
		completion_tokens)} ] : [], [ 40, 567 ],
		'openai stream with usage: its numbers');
	is(@ev ? $ev[-1]{raw} : undef, '[DONE]',
		'openai stream with usage: [DONE] last');

	settled_ok('openai stream with usage', $key, $res, 'openai/metered',
		{ in => 40, out => 567, cached => 0,
			cost => cost(in => 40, out => 567, %P), est => 0 }, $t0);
}

# Anthropic stream: input from message_start, output from message_delta

{
	my $key = new_key();
	my $t0 = time();
	my $res = call('anthropic', $key, anthropic_body(
		model => 'anthropic/metered', max_tokens => 1000, stream => 1),
		stream => 1);

	is($res->{status}, 200, 'anthropic stream: 200');
	is(scalar @{ $res->{sse} }, 9, 'anthropic stream: all 9 events');

	settled_ok('anthropic stream', $key, $res, 'anthropic/metered',
		{ in => 40, out => 567, cached => 0,
			cost => cost(in => 40, out => 567, %P), est => 0 }, $t0);
}

###############################################################################

# Cache reads at cached_input_price (default: input_price), Anthropic cache
# writes at 1.25 x input_price (5-minute ones) and 2 x input_price (1-hour
# ones, usage.cache_creation.ephemeral_1h_input_tokens), or at
# cache_write_price and cache_write_1h_price.  OpenAI's prompt_tokens
# (1000) include the cached tokens (400): 600 are uncached.  Anthropic's
# input_tokens (100) are the uncached ones, besides 300 cache reads and
# 200 cache writes (and 150 1-hour ones).  The usage records count all
# input tokens in "in" and the cache reads of them in "cached".  An
# OpenAI client of an Anthropic model is charged the same (the usage is
# read from the provider's answer) and its prompt_tokens are all of them.

my %cache_rid;

for my $case (
	[ 'openai cached json', 'openai', 'openai/cached', 0, \%PC,
		{ in => 600, cached => 400, write => 0, out => 50 } ],
	[ 'openai cached stream', 'openai', 'openai/cached', 1, \%PC,
		{ in => 600, cached => 400, write => 0, out => 50 } ],
	[ 'openai cached, default cached price', 'openai',
		'openai/cached-default', 0, \%P,
		{ in => 600, cached => 400, write => 0, out => 50 } ],
	[ 'anthropic cached json', 'anthropic', 'anthropic/cached', 0, \%PC,
		{ in => 100, cached => 300, write => 200, out => 50 } ],
	[ 'anthropic cached stream', 'anthropic', 'anthropic/cached', 1, \%PC,
		{ in => 100, cached => 300, write => 200, out => 50 } ],
	[ 'anthropic 1h json', 'anthropic', 'anthropic/cache1h', 0, \%PC,
		{ in => 100, cached => 300, write => 200, write_1h => 150,
			out => 50 } ],
	[ 'anthropic 1h stream', 'anthropic', 'anthropic/cache1h', 1, \%PC,
		{ in => 100, cached => 300, write => 200, write_1h => 150,
			out => 50 } ],
	[ 'anthropic 1h stream, split in message_delta', 'anthropic',
		'anthropic/cache1h-late', 1, \%PC,
		{ in => 100, cached => 300, write => 0, write_1h => 150,
			out => 50 } ],
	[ 'openai client, anthropic 1h json', 'openai', 'anthropic/cache1h', 0,
		\%PC, { in => 100, cached => 300, write => 200, write_1h => 150,
			out => 50 } ],
	[ 'openai client, anthropic 1h stream', 'openai', 'anthropic/cache1h', 1,
		\%PC, { in => 100, cached => 300, write => 200, write_1h => 150,
			out => 50 } ],
	[ 'anthropic 1h json, write prices configured', 'anthropic',
		'anthropic/cache1h-priced', 0, \%PW,
		{ in => 100, cached => 300, write => 200, write_1h => 150,
			out => 50 } ],
	[ 'anthropic 1h stream, write prices configured', 'anthropic',
		'anthropic/cache1h-priced', 1, \%PW,
		{ in => 100, cached => 300, write => 200, write_1h => 150,
			out => 50 } ],
) {
	my ($name, $shape, $model, $stream, $prices, $u) = @$case;

	my $key = new_key();
	my $t0 = time();
	# the body is longer than the input reported (1,000 and 600 tokens):
	# a charge never counts more input tokens than the body has bytes
	my $content = 'x' x 1000;
	my $body = $shape eq 'openai'
		? openai_body(model => $model, max_tokens => 100, stream => $stream,
			content => $content)
		: anthropic_body(model => $model, max_tokens => 100,
			stream => $stream, content => $content);
	my $res = call($shape, $key, $body, stream => $stream);
	is($res->{status}, 200, "$name: 200");

	my $c = cost(%$u, %$prices);
	my $all = $u->{in} + $u->{cached} + $u->{write} + ($u->{write_1h} // 0);

	settled_ok($name, $key, $res, $model,
		{ in => $all, out => $u->{out},
			cached => $u->{cached}, cost => $c, est => 0 }, $t0);

	is($res->{json}{usage}{prompt_tokens}, $all,
		"$name: the client's prompt_tokens count all the input")
		if $shape eq 'openai' && !$stream;

	$cache_rid{$name} = [ $res->{headers}{'x-tokenroute-request-id'} // '',
		$all, $u ];
}

# 1-hour writes cost more than 5-minute ones at the default prices
is(cost(write => 350, %PC, price => usd_nano($IP)) < cost(write => 200,
	write_1h => 150, %PC) ? 1 : 0, 1,
	'1-hour writes make a difference in these numbers');

# $tokenroute_cache_write_tokens (all the writes, of the input) and
# $tokenroute_cache_write_1h_tokens (of them, the 1-hour ones)

for my $name (sort keys %cache_rid) {
	my ($rid, $all, $u) = @{ $cache_rid{$name} };
	my $w = $u->{write} + ($u->{write_1h} // 0);

	my $line = $t->wait_until(3, sub {
		my ($l) = grep { /^\Q$rid\E / }
			split /\n/, (TokenRoute::Test::_slurp($t->testdir . '/trc.log')
				// '');
		return $l;
	});

	is($line, "$rid $all $u->{cached} $w " . ($u->{write_1h} // 0),
		"$name: \$tokenroute_cache_write_tokens and _1h_tokens");
}

# the same usage costs more without the cheaper cached price
is(cost(in => 600, cached => 400, out => 50, %P) > cost(in => 600,
	cached => 400, out => 50, %PC) ? 1 : 0, 1,
	'cached price makes a difference in these numbers');

###############################################################################

# A provider's error costs nothing; the request is counted as failed
# ("fail" in the usage record, not "req", which counts charged ones).  A
# fallback status (429, 5xx) with no chain to fall back on comes back as
# that status in the client's shape, with the provider's Retry-After
# (README "Fallback": the provider's own text is not passed); a client
# error (400) keeps the provider's message.

for my $case (
	[ 'openai', 'openai/err500', 500 ],
	[ 'openai', 'openai/err429', 429 ],
	[ 'anthropic', 'anthropic/err500', 500 ],
	[ 'anthropic', 'anthropic/err429', 429 ],
	[ 'openai', 'openai/small', 400 ],
	[ 'anthropic', 'anthropic/small', 400 ],
) {
	my ($shape, $model, $status) = @$case;
	my $name = "$model $status";

	my $key = new_key();
	$t->clear_mock_requests();
	my $t0 = time();

	# the provider answers 400 to a body without "messages"
	my $body = $status == 400
		? '{"model":"' . $model . '","max_tokens":100}'
		: $shape eq 'openai'
			? openai_body(model => $model, max_tokens => 100)
			: anthropic_body(model => $model, max_tokens => 100);
	my $res = call($shape, $key, $body);

	my @up = $t->mock_requests();

	subtest "$name: provider error costs nothing" => sub {
		is(scalar @up, 1, 'one attempt reached the provider');
		$t->error_ok($res, $shape, status => $status,
			name => "error in the client's shape");
		is($res->{headers}{'x-tokenroute-attempts'}, 1,
			'x-tokenroute-attempts 1');
		is($res->{headers}{'retry-after'}, '1', 'retry-after passed on')
			if $status == 429;

		if ($status == 400) {
			my $pe = eval { decode_json(@up ? $up[0]{response}{body} : '') }
				// {};
			is(ref $res->{json}{error} eq 'HASH'
				? $res->{json}{error}{message} : undef,
				$pe->{error}{message}, "the provider's message");
		}

		my $rid = $res->{headers}{'x-tokenroute-request-id'} // '';
		$t->wait_until(3, sub {
			$t->settled("$rid") });
		is($t->settled("$rid"), 1, 'settled');

		my $k = key_state($key);
		is(num($k->{spent} // 0), '0', 'key spent 0');
		is(num($k->{reserved}), '0', 'key reservation released');

		my $a = acct_state($key->{account});
		is(num($a->{credit}), $FUND, 'credit unchanged');
		is(num($a->{reserved}), '0', 'account reservation released');
		is($t->redis('ZCARD', 'tr:rsv'), 0, 'tr:rsv empty');

		my $h = $t->redis_hash('tr:u:d:' . utc_day($t0));
		%$h = (%$h, %{ $t->redis_hash('tr:u:d:' . utc_day()) });
		my $p = "$key->{account}||$key->{id}|$model|";
		is(num($h->{"${p}fail"}), '1', 'usage counts the request as failed');
		ok(!exists $h->{"${p}req"}, 'usage: not as a charged request');
		is(num($h->{"${p}cost"} // 0), '0', 'usage cost 0');
		is(num($h->{"${p}est"} // 0), '0', 'usage not estimated');

		my $j = cli_json('usage', '--json', '--account', $key->{account});
		is(num($j->{total}{requests}), '0',
			'usage report: no charged request');
		is(num($j->{total}{cost_nusd}), '0', 'usage report: cost 0');
	};
}

###############################################################################

# $tokenroute_* in the access log, final when the line is written

{
	my $line = $t->wait_until(3, sub {
		my ($l) = grep { /\Q$log_rid\E$/ }
			split /\n/, (TokenRoute::Test::_slurp($t->testdir . '/tr.log')
				// '');
		return $l;
	});

	ok(defined $line, 'access log: the line of the request') or return;

	my @f = split / /, $line;
	is(scalar @f, 11, 'access log: 11 fields') or diag($line);

	my %l;
	@l{qw(key_id account model served attempts in out cached cost est rid)}
		= @f;

	is($l{key_id}, $log_key->{id}, '$tokenroute_key_id');
	is($l{account}, $log_key->{account}, '$tokenroute_account');
	is($l{model}, 'openai/metered', '$tokenroute_model');
	is($l{served}, 'openai/metered', '$tokenroute_served_model');
	is($l{attempts}, '1', '$tokenroute_attempts');
	is($l{in}, '40', '$tokenroute_input_tokens');
	is($l{out}, '567', '$tokenroute_output_tokens');
	is($l{cached}, '0', '$tokenroute_cached_tokens');
	like($l{cost} // '', qr/^[0-9]+\.[0-9]+$/, '$tokenroute_cost is USD');
	is(($l{cost} // '') =~ /^[0-9]+(?:\.[0-9]{1,9})?$/
		? usd_nano($l{cost}) : $l{cost}, $log_cost,
		'$tokenroute_cost: the exact cost');
	is($l{est}, '0', '$tokenroute_usage_estimated');
	is($l{rid}, $log_rid, '$tokenroute_request_id = x-tokenroute-request-id');
}

# no raw sk-tr key in any log, nor in what reached the provider

{
	my $d = $t->testdir;
	my @files = (glob("$d/*.log"), glob("$d/*.jsonl"), "$d/nginx.stderr");

	for my $f (@files) {
		my $content = TokenRoute::Test::_slurp($f) // '';
		my $name = $f =~ s{.*/}{}r;

		if ($name eq 'error.log') {
			# nginx's own debug log echoes request headers verbatim
			# ("http header: ...", with --with-debug at level debug):
			# that is nginx, not the module; everything else must be clean
			$content = join "\n", grep {
				!/\[debug\] \d+#\d+: \*\d+ http header: "(?:Authorization|x-api-key): /i
			} split /\n/, $content;
		}

		my @hits = grep { index($content, $_) >= 0 } @raw_keys;
		is(scalar @hits, 0, "no raw sk-tr key in $name")
			or diag(join "\n", grep { index($_, $hits[0]) >= 0 }
				split /\n/, $content);
	}
}

###############################################################################

done_testing();

###############################################################################
