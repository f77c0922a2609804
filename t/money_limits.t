#!/usr/bin/perl

# (C) tokenroute authors

# The charge never exceeds what the request allowed (README "What a
# request costs"): output above the request's output cap and input above
# the body's bound are clamped, logged at warn and counted; no arithmetic
# overflows on extreme max_tokens or usage reports; the output cap of a
# request without max_tokens is its model's max_output_tokens.

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Money qw(usd_nano nano_usd cost reserve utc_day);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

my ($IP, $OP) = ('0.333333', '1.777777');
my %P = (price => usd_nano($IP), out_price => usd_nano($OP));
my $PR = "input_price=$IP output_price=$OP";

# 8e18; OpenAI's total_tokens (IN + OUT) must stay an int64 for the body
# to be read as JSON, so its output is 1e18 and half its input cached
# (and Anthropic's cache_creation_input_tokens, the sum of the 5-minute
# and 1-hour writes: 8e18 + 1e18)
my $BIG = '8000000000000000000';
my $BIG1 = '1000000000000000000';
my $BIG4 = '4000000000000000000';

$t->start_gateway(http => <<"EOF");
tokenroute_model l/huge-ai provider=mockai upstream_model=gpt-usage-10-1000000000000 $PR;
tokenroute_model l/huge-ant provider=mockant upstream_model=claude-usage-10-1000000000000 $PR;
tokenroute_model l/long-ai provider=mockai upstream_model=gpt-long-40-nousage $PR;
tokenroute_model l/long-ant provider=mockant upstream_model=claude-long-40-nousage $PR;
tokenroute_model l/big-ai provider=mockai upstream_model=gpt-usage-$BIG-$BIG1-cached-$BIG4 $PR;
tokenroute_model l/big-ant provider=mockant upstream_model=claude-usage-$BIG-$BIG-cached-$BIG-cwrite-$BIG $PR;
tokenroute_model l/big1h-ant provider=mockant upstream_model=claude-usage-$BIG-$BIG-cached-$BIG-cwrite-$BIG-cwrite1h-$BIG1 $PR;
tokenroute_model l/round-ant provider=mockant upstream_model=claude-usage-10-0-cached-5-cwrite-5-cwrite1h-5 input_price=0.000000001 output_price=0;
tokenroute_model l/cap-ai provider=mockai upstream_model=gpt-cap-usage-10-5 max_output_tokens=100 $PR;
tokenroute_model l/cap-ant provider=mockant upstream_model=claude-cap-usage-10-5 max_output_tokens=100 $PR;
tokenroute_model l/plain-ai provider=mockai upstream_model=gpt-plain-usage-10-5 $PR;
tokenroute_model l/dearcache-ai provider=mockai upstream_model=gpt-plain-usage-10-5 input_price=0.1 cached_input_price=$IP output_price=$OP;
log_format lim '\$tokenroute_request_id \$tokenroute_reserved \$tokenroute_cost \$tokenroute_unbilled_cost \$tokenroute_usage_clamped \$tokenroute_input_tokens \$tokenroute_output_tokens';
access_log %%TESTDIR%%/lim.log lim;
EOF

my $acct_no = 0;

sub new_key {
	return $t->create_key(account => 'lim-' . ++$acct_no);
}

sub body_of {
	my ($shape, %o) = @_;

	my $b = '{"model":"' . $o{model} . '"'
		. (defined $o{max_tokens} ? ',"max_tokens":' . $o{max_tokens} : '')
		. (defined $o{mct} ? ',"max_completion_tokens":' . $o{mct} : '')
		. ',"messages":[{"role":"user","content":"how much?"}]'
		. ($o{stream} ? ',"stream":true' : '') . '}';

	return $b;
}

sub call {
	my ($shape, $key, %o) = @_;

	my $f = $o{stream} ? 'http_stream' : 'http';
	my $body = body_of($shape, %o);

	my $res = $t->$f(method => 'POST',
		path => $shape eq 'openai' ? '/v1/chat/completions' : '/v1/messages',
		headers => $shape eq 'openai'
			? [ Authorization => "Bearer $key->{raw}",
				'Content-Type' => 'application/json' ]
			: [ 'x-api-key' => $key->{raw},
				'anthropic-version' => '2023-06-01',
				'Content-Type' => 'application/json' ],
		body => $body, timeout => 15);

	$res->{sent_body} = $body;
	return $res;
}

sub rid_of { $_[0]{headers}{'x-tokenroute-request-id'} // '' }

# the access log line of a request: reserved cost unbilled clamped in out

sub log_of {
	my ($rid) = @_;

	my $line = $t->wait_until(3, sub {
		my ($l) = grep { /^\Q$rid\E / } split /\n/,
			(TokenRoute::Test::_slurp($t->testdir . '/lim.log') // '');
		return $l;
	}) // '';

	my %l;
	@l{qw(rid reserved cost unbilled clamped in out)} = split / /, $line;
	return \%l;
}

# the usage record of the day and the key, once the request settled

sub usage_of {
	my ($key, $rid, $model) = @_;

	$t->wait_until(5, sub { $t->settled($rid) });

	my $k = $t->redis_hash('tr:key:' . $t->key_hash($key->{raw}));
	my $u = $t->redis_hash('tr:u:d:' . utc_day());
	my $p = "$key->{account}||$key->{id}|$model|";

	return {
		spent => $k->{spent} // '0',
		reserved => $k->{reserved} // '0',
		map { $_ => $u->{"$p$_"} // '0' }
			qw(req in out cached cost est unbilled clamped),
	};
}

sub warns {
	return scalar grep { /\[warn\].*tokenroute: .*clamped/ }
		split /\n/, $t->error_log();
}

sub usd { defined $_[0] && $_[0] =~ /^\d+\.\d+$/ ? usd_nano($_[0]) : 'bad' }

###############################################################################

# 1. A provider reporting 10^12 output tokens on a request of max_tokens
# 20 is charged for 20, with a warning, and the clamp is counted.

for my $c ([ 'openai', 'l/huge-ai', 0 ], [ 'anthropic', 'l/huge-ant', 0 ],
	[ 'openai', 'l/huge-ai', 1 ], [ 'anthropic', 'l/huge-ant', 1 ])
{
	my ($shape, $model, $stream) = @$c;
	my $name = "huge output, $shape" . ($stream ? ' stream' : '');
	my $key = new_key();
	my $w = warns();

	my $res = call($shape, $key, model => $model, max_tokens => 20,
		stream => $stream);
	is($res->{status}, 200, "$name: 200");

	my $rid = rid_of($res);
	my $u = usage_of($key, $rid, $model);
	my $c = cost(in => 10, out => 20, %P);

	is($u->{out}, 20, "$name: 20 output tokens recorded");
	is($u->{cost}, $c, "$name: charged for 20 output tokens");
	is($u->{spent}, $c, "$name: the key spent that");
	is($u->{reserved}, '0', "$name: reservation released");
	is($u->{clamped}, 1, "$name: counted as clamped");
	is($u->{unbilled}, '0', "$name: nothing unbilled");

	my $l = log_of($rid);
	is($l->{clamped}, '1', "$name: \$tokenroute_usage_clamped");
	is($l->{out}, '20', "$name: \$tokenroute_output_tokens");
	is(usd($l->{cost}), $c, "$name: \$tokenroute_cost");
	cmp_ok(warns(), '>', $w, "$name: a warning in error.log");
}

like($t->error_log(), qr/\[warn\].*output tokens 1000000000000 clamped to 20/,
	'the warning names the reported and the clamped values');

###############################################################################

# 2. A long stream without any usage report, on max_tokens 5: the output
# estimate (40,000 bytes of text, 10,000 tokens) is clamped to 5.

for my $c ([ 'openai', 'l/long-ai' ], [ 'anthropic', 'l/long-ant' ]) {
	my ($shape, $model) = @$c;
	my $name = "long stream without usage, $shape";
	my $key = new_key();

	my $res = call($shape, $key, model => $model, max_tokens => 5,
		stream => 1);
	is($res->{status}, 200, "$name: 200");
	cmp_ok(length($res->{body} // ''), '>', 40000, "$name: the whole text");

	my $rid = rid_of($res);
	my $u = usage_of($key, $rid, $model);

	is($u->{out}, 5, "$name: output clamped to 5");
	is($u->{est}, 1, "$name: estimated");
	is($u->{clamped}, 1, "$name: counted as clamped");
	is($u->{cost}, cost(in => $u->{in}, out => 5, %P),
		"$name: charged for 5 output tokens");
	is($u->{spent}, $u->{cost}, "$name: the key spent that");
}

###############################################################################

# 5. max_tokens past the gateway's bound (10^9) is a 400 naming it, before
# anything is reserved; no overflow on the way (the asan build reports
# any).

for my $c ([ 'openai', 'l/plain-ai', 'max_tokens', '20000000000000000' ],
	[ 'openai', 'l/plain-ai', 'max_tokens', '9223372036854775807' ],
	[ 'openai', 'l/plain-ai', 'mct', '9223372036854775807' ],
	[ 'openai', 'l/plain-ai', 'max_tokens', '1000000001' ],
	[ 'anthropic', 'l/huge-ant', 'max_tokens', '9223372036854775807' ],
	[ 'openai', 'l/huge-ant', 'max_tokens', '9223372036854775807' ])
{
	my ($shape, $model, $field, $n) = @$c;
	my $name = "$field $n, $shape, $model";
	my $key = new_key();

	$t->clear_mock_requests();

	my $res = call($shape, $key, model => $model, $field => $n);
	is($res->{status}, 400, "$name: 400");

	my $err = $res->{json} && $res->{json}{error} || {};
	like($err->{message} // '', qr/max_tokens/, "$name: names max_tokens");
	is($shape eq 'openai' ? $err->{code} : $err->{type},
		$shape eq 'openai' ? 'invalid_request' : 'invalid_request_error',
		"$name: invalid_request");
	is(scalar($t->mock_requests()), 0, "$name: nothing sent on");

	my $k = $t->redis_hash('tr:key:' . $t->key_hash($key->{raw}));
	is($k->{reserved} // '0', '0', "$name: nothing reserved");
}

# the bound itself is admitted: its reservation (about 1,778 USD) is more
# than the key's account holds
{
	my $key = new_key();
	my $res = call('openai', $key, model => 'l/plain-ai',
		max_tokens => 1000000000);
	is($res->{status}, 402, 'max_tokens 10^9: admitted, cannot be covered');
}

###############################################################################

# 6. Usage fields of 8e18, and cache fields summing past 2^63: each is
# clamped, input to the body's bytes, output to max_tokens.

for my $c ([ 'openai', 'l/big-ai', 0 ], [ 'anthropic', 'l/big-ant', 0 ],
	[ 'openai', 'l/big-ai', 1 ], [ 'anthropic', 'l/big-ant', 1 ],
	[ 'anthropic', 'l/big1h-ant', 0 ], [ 'anthropic', 'l/big1h-ant', 1 ])
{
	my ($shape, $model, $stream) = @$c;
	my $name = "8e18 usage, $model" . ($stream ? ' stream' : '');
	my $key = new_key();

	my $res = call($shape, $key, model => $model, max_tokens => 20,
		stream => $stream);
	is($res->{status}, 200, "$name: 200");

	my $rid = rid_of($res);
	my $u = usage_of($key, $rid, $model);
	my $bytes = length $res->{sent_body};

	is($u->{in}, $bytes, "$name: input clamped to the body's $bytes bytes");
	is($u->{out}, 20, "$name: output clamped to 20");
	is($u->{clamped}, 1, "$name: counted as clamped");
	cmp_ok($u->{cost}, '>', 0, "$name: a cost");
	cmp_ok($u->{cost}, '<=', reserve(bytes => $bytes, max_tokens => 20,
		anthropic => $shape eq 'anthropic', %P),
		"$name: no more than the reservation");
	is($u->{spent}, $u->{cost}, "$name: the key spent that");
	is($u->{reserved}, '0', "$name: reservation released");

	my $l = log_of($rid);
	is($l->{in}, $bytes, "$name: \$tokenroute_input_tokens");
	is($l->{clamped}, '1', "$name: \$tokenroute_usage_clamped");
}

###############################################################################

# 7. The output cap without max_tokens is the model's max_output_tokens;
# with max_tokens, never above it; other models keep
# tokenroute_default_max_tokens (4096).

for my $c ([ 'l/cap-ai', undef, 100 ], [ 'l/cap-ai', 50, 50 ],
	[ 'l/cap-ai', 500, 100 ], [ 'l/plain-ai', undef, 4096 ],
	[ 'l/plain-ai', 500, 500 ])
{
	my ($model, $max, $cap) = @$c;
	my $name = "reservation, $model, max_tokens " . ($max // 'none');
	my $key = new_key();

	my $res = call('openai', $key, model => $model,
		defined $max ? (max_tokens => $max) : ());
	is($res->{status}, 200, "$name: 200");

	my $l = log_of(rid_of($res));
	is(usd($l->{reserved}), reserve(bytes => length $res->{sent_body},
		max_tokens => $cap, %P), "$name: reserves $cap output tokens");
	is($l->{clamped}, '0', "$name: not clamped");
	is($l->{unbilled}, '0.00', "$name: nothing unbilled");
}

# a cache read priced above the input: the input bound at the dearer
{
	my $key = new_key();
	my $res = call('openai', $key, model => 'l/dearcache-ai',
		max_tokens => 30);
	is($res->{status}, 200, 'cache reads dearer than input: 200');

	my $l = log_of(rid_of($res));
	is(usd($l->{reserved}), reserve(bytes => length $res->{sent_body},
		max_tokens => 30, %P), 'cache reads dearer than input: the input '
		. 'bound reserved at the cache read price');
}

# translated to Anthropic, which needs max_tokens: the model's own
{
	my $key = new_key();

	$t->clear_mock_requests();

	my $res = call('openai', $key, model => 'l/cap-ant');
	is($res->{status}, 200, 'translated without max_tokens: 200');

	my ($req) = $t->mock_requests();
	is($req && $req->{json} && $req->{json}{max_tokens}, 100,
		'translated without max_tokens: sends max_output_tokens');
}

###############################################################################

# 8. Each part of a cost is rounded up on its own: at a price of 1
# nano-USD per million tokens, 10 uncached input tokens, 5 cache reads,
# 5 5-minute and 5 1-hour cache writes would cost 4 nano-USD, but the
# reservation (the input bound at 2 nano-USD per million) is 1.  A charge
# never exceeds its reservation: it is charged at 1, as clamped.

for my $stream (0, 1) {
	my $name = 'parts rounded up past the reservation'
		. ($stream ? ', stream' : '');
	my $key = new_key();

	my $res = call('anthropic', $key, model => 'l/round-ant',
		max_tokens => 20, stream => $stream);
	is($res->{status}, 200, "$name: 200");

	my $rid = rid_of($res);
	my $u = usage_of($key, $rid, 'l/round-ant');
	my $l = log_of($rid);

	is(usd($l->{reserved}), 1, "$name: 1 nano-USD reserved");
	is($u->{cost}, 1, "$name: charged 1, the reservation");
	is($u->{spent}, 1, "$name: the key spent 1");
	is($u->{clamped}, 1, "$name: counted as clamped");
	is($l->{clamped}, '1', "$name: \$tokenroute_usage_clamped");
	is($u->{in}, 25, "$name: the tokens reported are recorded");
}

###############################################################################

done_testing();

###############################################################################
