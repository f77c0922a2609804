#!/usr/bin/perl

# (C) tokenroute authors

# Tests for batched settlement (README "Settlement"): settlements that
# pile up while one batch is in Redis go together in one script call,
# which adds up the increments of the same key, account and usage bucket.
# Whatever the batching, every request is charged exactly once, to its own
# key, at its own model's price, and counted in its own usage fields.

###############################################################################

use warnings;
use strict;

use Math::BigInt;
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Money qw(usd_nano cost utc_day utc_hour);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

my %M = (
	'b/one' => { up => 'gpt-b1-usage-10-20', in => 10, out => 20,
		ip => '1', op => '2' },
	'b/two' => { up => 'gpt-b2-usage-7-3', in => 7, out => 3,
		ip => '0.5', op => '4' },
);

$t->start_gateway(http => join '', map {
	"tokenroute_model $_ provider=mockai upstream_model=$M{$_}{up} "
	. "input_price=$M{$_}{ip} output_price=$M{$_}{op};\n"
} sort keys %M);

for my $m (values %M) {
	$m->{cost} = cost(in => $m->{in}, out => $m->{out},
		price => usd_nano($m->{ip}), out_price => usd_nano($m->{op}));
}

my @keys = map { $t->create_key(name => "batch-$_", account => 'batch') }
	1 .. 2;

my $N = 20;

sub stat_calls {
	my ($cmd) = @_;
	my $info = $t->redis('INFO', 'commandstats');
	return $info =~ /cmdstat_$cmd:calls=(\d+)/ ? $1 : 0;
}

###############################################################################

# N requests in flight at once, over two keys and two models; their
# answers come back together while Redis holds its writes, so their
# settlements queue up behind the first one and go as a batch.

my $hincrby = stat_calls('hincrby');

my @plan = map { [ $keys[$_ % 2], (sort keys %M)[int($_ / 2) % 2] ] }
	0 .. $N - 1;

# the provider answers each request 0.45 s after it came (the mock starts
# one process per connection, so they come over some 0.4 s); Redis holds
# writes from 0.3 s to 1.2 s (less than the gateway's Redis timeout)

my $pause = fork() // die "fork: $!\n";

if ($pause == 0) {
	sleep 0.3;
	eval { $t->redis('CLIENT', 'PAUSE', 900, 'WRITE') };
	POSIX::_exit(0);
}

my @res = $t->http_parallel(map { {
	method => 'POST', path => '/v1/chat/completions',
	headers => [ Authorization => "Bearer $_->[0]{raw}",
		'Content-Type' => 'application/json', 'x-mock-wait' => '0.45' ],
	body => qq({"model":"$_->[1]","max_tokens":50,)
		. qq("messages":[{"role":"user","content":"Hi"}]}),
	timeout => 30,
} } @plan);

waitpid($pause, 0);

is(scalar(grep { $_->{status} == 200 } @res), $N, "all $N answered");

my @rids = map { $_->{headers}{'x-tokenroute-request-id'} } @res;

ok($t->wait_until(10, sub { !grep { !$t->settled($_) } @rids }),
	'every request settled');

# admissions make 2 HINCRBYs each; a settlement alone makes 13 (key and
# account: 5, two usage buckets: 4 each), a batch of them about as many

my $calls = stat_calls('hincrby') - $hincrby;

cmp_ok($calls, '<', 2 * $N + 13 * $N / 2,
	"settlements were batched ($calls HINCRBYs for $N requests)");

###############################################################################

# the books, to the nano-dollar

my %want;

for my $p (@plan) {
	my ($key, $model) = @$p;
	my $w = $want{$key->{id}} //= { spent => Math::BigInt->new(0) };
	$w->{spent}->badd($M{$model}{cost});
	$w->{$model}{req}++;
}

my $total = Math::BigInt->new(0);

for my $key (@keys) {
	my $k = $t->redis_hash('tr:key:' . $t->key_hash($key->{raw}));
	my $w = $want{$key->{id}};

	is($k->{spent}, $w->{spent}->bstr(), "key $key->{id}: spent");
	is($k->{reserved}, '0', "key $key->{id}: nothing reserved");
	$total->badd($w->{spent});

	for my $bucket ('tr:u:d:' . utc_day(), 'tr:u:h:' . utc_hour()) {
		my $u = $t->redis_hash($bucket);

		for my $model (sort keys %M) {
			my $p = "batch|$key->{id}|$model|";
			my $n = $w->{$model}{req};
			my $m = $M{$model};

			is_deeply([ map { $u->{"$p$_"} } qw(req in out cost) ],
				[ $n, $n * $m->{in}, $n * $m->{out},
					Math::BigInt->new($m->{cost})->bmul($n)->bstr() ],
				"$bucket $key->{id} $model: req, in, out, cost");
			ok(!exists $u->{"${p}est"} && !exists $u->{"${p}cached"},
				"$bucket $key->{id} $model: no zero fields");
		}
	}
}

my $a = $t->redis_hash('tr:acct:batch');

is($a->{spent}, $total->bstr(), 'account spent: the sum');
is($a->{credit}, Math::BigInt->new(usd_nano(1000))->bsub($total)->bstr(),
	'account credit: charged the sum');
is($a->{reserved}, '0', 'account: nothing reserved');
is($t->redis('ZCARD', 'tr:rsv'), 0, 'no reservation left');

cmp_ok($t->redis('TTL', 'tr:u:d:' . utc_day()), '>', 30 * 86400,
	'day bucket expires (400 days)');
cmp_ok($t->redis('TTL', 'tr:u:h:' . utc_hour()), '>', 86400,
	'hour bucket expires (8 days)');

###############################################################################

###############################################################################

done_testing();

###############################################################################
