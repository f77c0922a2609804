#!/usr/bin/perl

# (C) tokenroute authors

# Tests for fallback chains (README "Fallback"): the seed scenario (a
# Haiku quota event while Sonnet serves, the client never sees it, usage
# charged at Sonnet's price), chains across provider types and API shapes,
# the request's own "models" chain, cooldowns shared by all requests,
# what is not retried, and a chain that runs out.

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

$t->start_gateway(http => <<'EOF');
tokenroute_cooldown 3s failures=2;
tokenroute_model seed/haiku provider=mockant upstream_model=claude-haiku-error-429-ra2 input_price=1 output_price=5 fallback=seed/sonnet;
tokenroute_model seed/sonnet provider=mockant upstream_model=claude-sonnet-usage-20-10 input_price=3 output_price=15;
tokenroute_model x/down provider=mockant upstream_model=claude-error-529 input_price=1 output_price=5 fallback=x/flaky,x/gpt;
tokenroute_model x/flaky provider=mockai upstream_model=gpt-error-500 input_price=1 output_price=1;
tokenroute_model x/gpt provider=mockai upstream_model=gpt-ok-usage-30-7 input_price=2 output_price=4;
tokenroute_model x/bad provider=mockai upstream_model=gpt-error-400 input_price=1 output_price=1 fallback=x/gpt;
tokenroute_model x/dead provider=mockai upstream_model=gpt-error-503 input_price=1 output_price=1;
EOF

my $key = $t->create_key(name => 'fallback');
my $hash = $t->key_hash($key->{raw});

sub chat {
	my ($model, %o) = @_;

	return $t->http(
		method => 'POST',
		path => $o{path} // '/v1/messages',
		headers => {
			'x-api-key' => $key->{raw},
			'content-type' => 'application/json',
		},
		body => $o{body} // {
			model => $model,
			max_tokens => 100,
			messages => [ { role => 'user', content => 'Hi' } ],
			%{ $o{extra} // {} },
		},
	);
}

sub upstream_models {
	return map { $_->{json} ? $_->{json}{model} : () } $t->mock_requests;
}

###############################################################################

# The seed scenario: Haiku has a quota event, Sonnet serves.

$t->clear_mock_requests;

my $r = chat('seed/haiku');
is($r->{status}, 200, 'seed: the client gets a 200');
is($r->{headers}{'x-tokenroute-model'}, 'seed/sonnet', 'seed: sonnet served');
is($r->{headers}{'x-tokenroute-attempts'}, 2, 'seed: after 2 attempts');
is_deeply([ upstream_models() ],
	[ 'claude-haiku-error-429-ra2', 'claude-sonnet-usage-20-10' ],
	'seed: haiku was tried, then sonnet');

# charged at sonnet's price: 20 in at $3/M + 10 out at $15/M
my $want = 20 * 3_000 + 10 * 15_000;
ok($t->wait_until(5, sub { ($t->redis("HGET", "tr:key:$hash", "spent") // 0)
	== $want }), "seed: charged at sonnet's price")
	or diag $t->redis('HGET', "tr:key:$hash", 'spent');
is($t->redis('HGET', "tr:key:$hash", 'reserved'), 0,
	'seed: reservation released');

# the 429 (retry-after: 2) cools haiku: the next request goes straight
# to sonnet

$t->clear_mock_requests;

$r = chat('seed/haiku');
is($r->{status}, 200, 'cooldown: 200');
is($r->{headers}{'x-tokenroute-attempts'}, 1, 'cooldown: one attempt');
is_deeply([ upstream_models() ], [ 'claude-sonnet-usage-20-10' ],
	'cooldown: haiku skipped while it cools');

# after the window haiku is tried again

sleep 2.1;
$t->clear_mock_requests;

$r = chat('seed/haiku');
is($r->{status}, 200, 'after cooldown: 200');
is((upstream_models())[0], 'claude-haiku-error-429-ra2',
	'after cooldown: haiku tried again');

###############################################################################

# Across provider types and shapes: anthropic 529 -> openai 500 -> openai.
# The client speaks Anthropic; the last model is OpenAI-type.

$t->clear_mock_requests;

$r = chat('x/down');
is($r->{status}, 200, 'chain across shapes: 200');
is($r->{headers}{'x-tokenroute-model'}, 'x/gpt', 'chain: x/gpt served');
is($r->{headers}{'x-tokenroute-attempts'}, 3, 'chain: 3 attempts');
is($r->{json}{type}, 'message', "chain: answer in the client's shape");
is_deeply([ map { $_->{path} } $t->mock_requests ],
	[ '/v1/messages', '/v1/chat/completions', '/v1/chat/completions' ],
	"chain: each attempt in its provider's shape");

# a streamed request falls back the same way before any byte is sent

$r = chat('x/down', extra => { stream => JSON::PP::true });
is($r->{status}, 200, 'stream fallback: 200');
like($r->{body}, qr/event: message_stop/, 'stream fallback: whole stream');

###############################################################################

# The request's own chain (OpenRouter's "models"), not sent on.

$t->clear_mock_requests;

$r = chat('x/dead', path => '/v1/chat/completions', body => {
	model => 'x/dead',
	models => [ 'x/flaky', 'x/gpt' ],
	messages => [ { role => 'user', content => 'Hi' } ],
});
is($r->{status}, 200, 'models: 200');
is($r->{headers}{'x-tokenroute-model'}, 'x/gpt', 'models: x/gpt served');
ok(!grep({ $_->{json} && exists $_->{json}{models} } $t->mock_requests),
	'models: not sent to the provider');

$r = chat('x/dead', path => '/v1/chat/completions', body => {
	model => 'x/dead',
	models => [ 'no/such' ],
	messages => [ { role => 'user', content => 'Hi' } ],
});
is($r->{status}, 404, 'models: an unknown model is a 404');
like($r->{json}{error}{message}, qr/no\/such/, 'models: names it');

###############################################################################

# Client errors are not retried: the provider's 400 comes back.

$t->clear_mock_requests;

$r = chat('x/bad', path => '/v1/chat/completions', body => {
	model => 'x/bad',
	messages => [ { role => 'user', content => 'Hi' } ],
});
is($r->{status}, 400, 'a 400 is not retried');
is(scalar(my @m = upstream_models()), 1, 'one attempt only');
like($r->{json}{error}{message}, qr/Mock provider error 400/,
	"the provider's message is passed on");

# A chain that runs out: the last status, in the client's shape, nothing
# charged.

my $spent = $t->redis('HGET', "tr:key:$hash", 'spent');

$r = chat('x/dead');
is($r->{status}, 503, "exhausted: the provider's status");
is($r->{json}{type}, 'error', 'exhausted: an Anthropic-shaped error');
like($r->{json}{error}{message}, qr/x\/dead/, 'exhausted: names the model');
my $rid = $r->{headers}{'x-tokenroute-request-id'};
ok($rid, 'exhausted: request id');
ok($t->wait_until(5, sub { $t->settled("$rid") }),
	'exhausted: settled');
is($t->redis('HGET', "tr:key:$hash", 'spent'), $spent,
	'exhausted: nothing charged');
is($t->redis('HGET', "tr:key:$hash", 'reserved'), 0,
	'exhausted: reservation released');

# the worker still serves

$r = chat('seed/sonnet');
is($r->{status}, 200, 'still serving');

done_testing();
