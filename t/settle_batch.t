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

# Redis is held up for longer than the usual 1 s timeout below
my ($http, $server) = $t->default_conf();
$http =~ s/ timeout=1s / timeout=10s / or die "no timeout in the conf\n";
$http .= join '', map {
	"tokenroute_model $_ provider=mockai upstream_model=$M{$_}{up} "
	. "input_price=$M{$_}{ip} output_price=$M{$_}{op};\n"
} sort keys %M;

$t->start_redis();
$t->start_mock();
$t->write_nginx_conf($http, $server);
$t->start_nginx();

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

# the provider answers each request 1 s after it came (the mock starts a
# process per connection, so the answers spread over a few tenths of a
# second); Redis holds writes from 0.3 s to 3.3 s, so the settlements
# queue up behind the first

my $pause = fork() // die "fork: $!\n";

if ($pause == 0) {
	sleep 0.3;
	eval { $t->redis('CLIENT', 'PAUSE', 3000, 'WRITE') };
	POSIX::_exit(0);
}

my @res = $t->http_parallel(map { {
	method => 'POST', path => '/v1/chat/completions',
	headers => [ Authorization => "Bearer $_->[0]{raw}",
		'Content-Type' => 'application/json', 'x-mock-wait' => '1' ],
	body => qq({"model":"$_->[1]","max_tokens":50,)
		. qq("messages":[{"role":"user","content":"Hi"}]}),
	timeout => 30,
} } @plan);

waitpid($pause, 0);

is(scalar(grep { $_->{status} == 200 } @res), $N, "all $N answered");

my @rids = map { $_->{headers}{'x-tokenroute-request-id'} } @res;

ok($t->wait_until(10, sub { !grep { !$t->settled($_) } @rids }),
	'every request settled');

# an admission makes at most 2 HINCRBYs; a settlement alone makes 13 (key
# and account: 5, two usage buckets: 4 each): 300 for 20 requests settled
# one by one.  A batch of them here makes at most 39 (2 keys, 1 account,
# 2 models), whatever its size.

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
			my $p = "batch||$key->{id}|$model|";
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
is($t->redis('HLEN', 'tr:rsvd'), 0, 'no reservation record left');

cmp_ok($t->redis('TTL', 'tr:u:d:' . utc_day()), '>', 30 * 86400,
	'day bucket expires (400 days)');
cmp_ok($t->redis('TTL', 'tr:u:h:' . utc_hour()), '>', 86400,
	'hour bucket expires (8 days)');

###############################################################################

###############################################################################

done_testing();

###############################################################################
