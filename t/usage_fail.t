#!/usr/bin/perl

# (C) tokenroute authors

# The usage records' "req" and "fail" (README "Redis keys for money"):
# "req" counts the charged requests only, under the model that served
# them; "fail" counts the requests on which every attempt failed (the
# client got the provider's or the gateway's error, or an answer it never
# got whole, and was charged nothing), under the model the client asked
# for, not a fallback.  Both client shapes, JSON and streams.

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Test::More;

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

# no cooldown gets in the way: every attempt reaches its provider
$t->start_gateway(http => <<"EOF");
tokenroute_cooldown 1s failures=1000;
tokenroute_model f/ask provider=mockant upstream_model=claude-error-529 $PR fallback=f/next,f/last;
tokenroute_model f/next provider=mockai upstream_model=gpt-error-500 $PR;
tokenroute_model f/last provider=mockai upstream_model=gpt-error-503 $PR;
tokenroute_model f/ask-ok provider=mockant upstream_model=claude-error-529 $PR fallback=f/good;
tokenroute_model f/good provider=mockai upstream_model=gpt-usage-30-7 $PR;
tokenroute_model f/alone provider=mockai upstream_model=gpt-error-500 $PR;
tokenroute_model f/broken provider=mockai upstream_model=gpt-malformed-usage-30-7 $PR;
EOF

my $n = 0;

sub call {
	my ($shape, $key, $model, $stream) = @_;

	return $t->http(method => 'POST',
		path => $shape eq 'openai' ? '/v1/chat/completions' : '/v1/messages',
		headers => $shape eq 'openai'
			? [ Authorization => "Bearer $key->{raw}" ]
			: [ 'x-api-key' => $key->{raw},
				'anthropic-version' => '2023-06-01' ],
		body => { model => $model, max_tokens => 100,
			messages => [ { role => 'user', content => 'Hi' } ],
			$stream ? (stream => JSON::PP::true) : () },
		timeout => 10);
}

# the usage fields of the key, per model and metric, once settled

sub usage_of {
	my ($key, $rid) = @_;

	my $settled = $t->wait_until(5, sub { $t->settled("$rid") });
	my $u = $t->redis_hash('tr:u:d:' . utc_day());
	my $p = "$key->{account}||$key->{id}|";
	my %m;

	for my $f (keys %$u) {
		next unless index($f, $p) == 0;
		my ($model, $metric) = substr($f, length $p) =~ /^(.*)\|(\w+)$/;
		$m{$model}{$metric} = $u->{$f};
	}

	return ($settled, \%m);
}

###############################################################################

# Every model of the chain fails: fail 1 under the model asked for, no req

for my $shape ('openai', 'anthropic') {
	for my $stream (0, 1) {
		my $name = "$shape client, all of f/ask's chain fails"
			. ($stream ? ', stream' : '');
		my $key = $t->create_key(account => 'fail' . ++$n);

		$t->clear_mock_requests();
		my $res = call($shape, $key, 'f/ask', $stream);
		my $rid = $res->{headers}{'x-tokenroute-request-id'} // '';

		subtest $name => sub {
			is($res->{status}, 503, "the last provider's status");
			is($res->{headers}{'x-tokenroute-attempts'}, 3, 'three attempts');
			is(scalar($t->mock_requests()), 3, 'three reached a provider');

			my ($settled, $m) = usage_of($key, $rid);
			ok($settled, 'settled');
			is_deeply($m, { 'f/ask' => { fail => 1 } },
				'usage: fail 1 under f/ask, the model asked for; no req')
				or diag(explain($m));

			my $k = $t->redis_hash('tr:key:' . $t->key_hash($key->{raw}));
			is($k->{spent} // 0, 0, 'nothing charged');
			is($k->{reserved}, 0, 'reservation released');
		};
	}
}

# A fallback serves: req 1 under it, no fail anywhere

for my $shape ('openai', 'anthropic') {
	my $name = "$shape client, f/ask-ok falls back to f/good";
	my $key = $t->create_key(account => 'fail' . ++$n);

	my $res = call($shape, $key, 'f/ask-ok', 0);
	my $rid = $res->{headers}{'x-tokenroute-request-id'} // '';

	subtest $name => sub {
		is($res->{status}, 200, 'answered with 200');
		is($res->{headers}{'x-tokenroute-model'}, 'f/good', 'f/good served');

		my ($settled, $m) = usage_of($key, $rid);
		ok($settled, 'settled');
		my $c = cost(in => 30, out => 7, %P);
		is_deeply($m, { 'f/good' => { req => 1, in => 30, out => 7,
			cost => $c } }, 'usage: req 1 under f/good; no fail')
			or diag(explain($m));
	};
}

# A single model's error, and a 200 whose body is not JSON (the client
# gets the gateway's 502; what the provider probably billed is unbilled):
# failed, charged nothing

for my $c ([ 'f/alone', 500, 0 ], [ 'f/broken', 502, 1 ]) {
	my ($model, $status, $unbilled) = @$c;

	for my $shape ('openai', 'anthropic') {
		my $name = "$shape client, $model answers $status";
		my $key = $t->create_key(account => 'fail' . ++$n);

		my $res = call($shape, $key, $model, 0);
		my $rid = $res->{headers}{'x-tokenroute-request-id'} // '';

		subtest $name => sub {
			is($res->{status}, $status, "status $status");

			my ($settled, $m) = usage_of($key, $rid);
			ok($settled, 'settled');
			is($m->{$model}{fail}, 1, "usage: fail 1 under $model");
			ok(!exists $m->{$model}{req}, 'usage: no req');
			ok(!exists $m->{$model}{cost}, 'usage: no cost');
			is(exists $m->{$model}{unbilled} ? 1 : 0, $unbilled,
				$unbilled ? 'usage: unbilled recorded'
					: 'usage: nothing unbilled');
		};
	}
}

# The same key and model, charged and failed requests mixed in one hour's
# record: each counted where it belongs

{
	my $key = $t->create_key(account => 'fail' . ++$n);
	my @rid;

	for my $model ('f/ask', 'f/ask-ok', 'f/ask', 'f/ask-ok', 'f/ask') {
		my $res = call('openai', $key, $model, 0);
		push @rid, $res->{headers}{'x-tokenroute-request-id'} // '';
	}

	$t->wait_until(5, sub { !grep { !$t->settled("$_") } @rid });
	my (undef, $m) = usage_of($key, $rid[-1]);

	is($m->{'f/ask'}{fail}, 3, 'mixed: 3 failed under f/ask');
	ok(!exists $m->{'f/ask'}{req}, 'mixed: no req under f/ask');
	is($m->{'f/good'}{req}, 2, 'mixed: 2 charged under f/good');
	ok(!exists $m->{'f/good'}{fail}, 'mixed: no fail under f/good');
	ok(!exists $m->{'f/ask-ok'}, 'mixed: nothing under f/ask-ok');
	ok(!exists $m->{'f/last'}, 'mixed: nothing under f/last');
}

done_testing();
