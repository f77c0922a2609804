#!/usr/bin/perl

# (C) tokenroute authors

# A held answer that fails (a 200 the gateway cannot translate) falls back
# to the next model: the request is charged for what that model reported,
# nothing of the failed attempt's usage (here its Anthropic cache writes,
# which the OpenAI model that answers never reports) carried into it.

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

$t->start_gateway(http => <<"EOF");
tokenroute_model u/good-ai provider=mockai upstream_model=gpt-u-good-usage-30-300 $PR;
tokenroute_model u/good-ant provider=mockant upstream_model=claude-u-good-usage-30-300 $PR;
tokenroute_model u/odd-ant provider=mockant upstream_model=claude-u-shapeless-usage-20-900-cwrite-40-cached-25 $PR fallback=u/good-ai;
tokenroute_model u/odd-ai provider=mockai upstream_model=gpt-u-shapeless-usage-20-900 $PR fallback=u/good-ant;
EOF

###############################################################################

sub settlement {
	my ($key, $rid, $model) = @_;

	my $settled = $t->wait_until(5, sub { $t->settled("$rid") });
	my $k = $t->redis_hash('tr:key:' . $t->key_hash($key->{raw}));
	my $u = $t->redis_hash('tr:u:d:' . utc_day());
	my $p = "$key->{account}||$key->{id}|$model|";

	return {
		settled => $settled,
		spent => $k->{spent} // '0',
		map { $_ => $u->{"$p$_"} // '0' }
			qw(req in out cached cost est unbilled),
	};
}

my $n = 0;

# what the failed attempt probably cost the gateway: its own usage at its
# own prices, counted as unbilled on the request (README "What a request
# costs")
for my $case (
	[ 'openai', 'u/odd-ant', 'u/good-ai', '/v1/chat/completions',
		cost(in => 20, cached => 25, write => 40, out => 900, %P) ],
	[ 'anthropic', 'u/odd-ai', 'u/good-ant', '/v1/messages',
		cost(in => 20, out => 900, %P) ])
{
	my ($shape, $model, $answered, $path, $unbilled) = @$case;

	my $key = $t->create_key(account => 'u' . ++$n);

	my $r = $t->http(method => 'POST', path => $path,
		headers => $shape eq 'openai'
			? [ Authorization => "Bearer $key->{raw}" ]
			: [ 'x-api-key' => $key->{raw},
				'anthropic-version' => '2023-06-01' ],
		body => { model => $model, max_tokens => 1000,
			messages => [ { role => 'user',
				content => 'a failed attempt, then the next model' } ] },
		timeout => 10);

	my $rid = $r->{headers}{'x-tokenroute-request-id'} // '';

	subtest "$shape client, $model failed, $answered answered" => sub {
		is($r->{status}, 200, 'status 200');
		is($r->{headers}{'x-tokenroute-model'}, $answered,
			'x-tokenroute-model: the fallback');
		is($r->{headers}{'x-tokenroute-attempts'}, 2, 'two attempts');

		my $s = settlement($key, $rid, $answered);
		ok($s->{settled}, 'settled');
		is($s->{req}, 1, 'usage: one request');
		is($s->{in}, 30, 'usage: in 30, the answering model\'s');
		is($s->{cached}, 0, 'usage: no cache reads');
		is($s->{out}, 300, 'usage: out 300');
		is($s->{est}, 0, 'usage: not estimated');
		is($s->{cost}, cost(in => 30, out => 300, %P),
			'usage: the cost of the answer\'s usage');
		is($s->{spent}, $s->{cost}, 'key spent = that cost');
		is($s->{unbilled}, $unbilled,
			'unbilled: what the failed attempt produced, at its prices');
	};
}

done_testing();
