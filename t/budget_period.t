#!/usr/bin/perl

# (C) tokenroute authors

# Budgets that reset (README "Budgets that reset"): a limit with a period
# (day, week, month: UTC calendar periods) counts what was charged in the
# current period (pspent of period pid), on keys and on tenants; the
# spend starts again in the next period, which is driven here by writing
# an older pid into the record (no test waits a day); a reservation made
# in one period and settled in the next is charged to the period it was
# made in (over), not to the new one; "spent" stays lifetime, and a
# lifetime limit (no period) is unchanged.

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Math::BigInt;
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Money qw(usd_nano nano_usd cost reserve);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

# not across a UTC midnight: the period ids must not move under the test
my $to_midnight = 86400 - time() % 86400;
sleep($to_midnight + 1) if $to_midnight < 60;

my ($IP, $OP) = ('1', '2');
my %P = (price => usd_nano($IP), out_price => usd_nano($OP));

$t->start_gateway(http => <<"EOF");
tokenroute_model b/ai provider=mockai upstream_model=gpt-bud-usage-10-20 input_price=$IP output_price=$OP;
EOF

my $BODY = '{"model":"b/ai","messages":[{"role":"user","content":"hi"}],'
	. '"max_tokens":100}';

my $R = reserve(bytes => length $BODY, max_tokens => 100, %P);
my $C = cost(in => 10, out => 20, %P);

sub big { Math::BigInt->new($_[0]) }

# the period ids of now (README: UTC calendar)
my $DAY = int(time() / 86400);
my $D = "d$DAY";
my $W = 'w' . int(($DAY + 3) / 7);
my @g = gmtime();
my $M = sprintf 'm%04d%02d', $g[5] + 1900, $g[4] + 1;

sub key_with {
	my (%f) = @_;
	my $key = $t->create_key(account => $f{account} // 'per', fund => 1000);
	delete $f{account};
	$key->{hash} = 'tr:key:' . $t->key_hash($key->{raw});
	$t->redis('HSET', $key->{hash}, %f) if %f;
	return $key;
}

sub tenant {
	my ($acct, $name, %f) = @_;
	$t->redis('HSET', "tr:tenant:$acct|$name", name => $name,
		account => $acct, created_at => int(time()), %f);
	$t->redis('SADD', "tr:tenants:$acct", $name);
}

sub call {
	my ($key, %o) = @_;
	return $t->http(method => 'POST', path => '/v1/chat/completions',
		headers => [ Authorization => "Bearer $key->{raw}",
			'Content-Type' => 'application/json',
			$o{wait} ? ('x-mock-wait' => $o{wait}) : () ],
		body => $BODY, timeout => 15);
}

sub settled_all {
	$t->wait_until(5, sub { $t->redis('HLEN', 'tr:rsvd') == 0 });
	sleep 0.2;
}

sub fields {
	my ($h, @f) = @_;
	return $t->redis('HMGET', $h, @f);
}

###############################################################################

# a key's daily budget of R + C - 1: one request fits a day (then R - 1 is
# left); the next day (an older pid written by hand) the spend starts
# again

my $limit = big($R)->badd($C)->bsub(1)->bstr();
my $kd = key_with(limit => $limit, period => 'day');

is(call($kd)->{status}, 200, 'day 1: the first request fits');
settled_all();
is_deeply(fields($kd->{hash}, qw(pid pspent spent)), [ $D, $C, $C ],
	'pid today, pspent and spent: its cost');

my $r = call($kd);
is($r->{status}, 402, 'day 1: the second does not fit');
is($r->{json}{error}{code}, 'key_limit_reached', 'key_limit_reached');
like($r->{json}{error}{message} // '',
	qr/This API key's daily spend limit is reached \(a budget that starts again each UTC day\)/,
	'the message says it is a daily budget');

# "yesterday" was the period just settled: make the record's period the
# day before, as the next day would find it
$t->redis('HSET', $kd->{hash}, pid => 'd' . ($DAY - 1));
is(call($kd)->{status}, 200, 'the next period: the spend starts again');
settled_all();
is_deeply(fields($kd->{hash}, qw(pid pspent spent)),
	[ $D, $C, big($C)->bmul(2)->bstr() ],
	'pid moved on, pspent this period\'s only, spent lifetime');

###############################################################################

# a reservation made in one period and settled in the next: charged to
# the period it was made in, which is over; not to the new period

my $kx = key_with(limit => $limit, period => 'day');
my $h = $t->http_start(method => 'POST', path => '/v1/chat/completions',
	headers => [ Authorization => "Bearer $kx->{raw}",
		'Content-Type' => 'application/json', 'x-mock-wait' => '1.5' ],
	body => $BODY);
ok($t->wait_until(5, sub { $t->redis('HLEN', 'tr:rsvd') == 1 }),
	'a slow request holds its reservation');
like(($t->redis('HVALS', 'tr:rsvd'))->[0] // '', qr/^\S+ \d+ per - \Q$D\E /,
	'made in today\'s period');

# the period turns while it runs (the next request of the next day would
# move pid on; here by hand)
$t->redis('HSET', $kx->{hash}, pid => 'd' . ($DAY + 1), pspent => 0);

my $res = $t->http_finish($h, timeout => 10);
is($res->{status}, 200, 'the slow request is answered');
settled_all();
is_deeply(fields($kx->{hash}, qw(pid pspent spent reserved)),
	[ 'd' . ($DAY + 1), 0, $C, 0 ],
	'settled in the new period: not charged to it; spent and released');
is($t->redis('HGET', 'tr:acct:per', 'reserved'), 0, 'account released');

###############################################################################

# a tenant's monthly budget, over two keys; the key's own weekly budget
# alongside

tenant('per', 'agents', limit => $limit, period => 'month');
my $ka = key_with(tenant => 'agents', limit => usd_nano(100),
	period => 'week');
my $kb = key_with(tenant => 'agents');

is(call($ka)->{status}, 200, 'month 1: a key of the tenant');
settled_all();
$r = call($kb);
is($r->{status}, 402, 'month 1: the other key finds the tenant short');
is($r->{json}{error}{code}, 'tenant_limit_reached', 'tenant_limit_reached');
like($r->{json}{error}{message} // '',
	qr/The monthly spend limit of tenant "agents" is reached \(a budget that starts again each UTC month\)/,
	'the message says it is the tenant\'s monthly budget');
is_deeply(fields('tr:tenant:per|agents', qw(pid pspent spent reserved)),
	[ $M, $C, $C, 0 ], 'the tenant: this month\'s id and spend');
is_deeply(fields($ka->{hash}, qw(pid pspent)), [ $W, $C ],
	'the key: this week\'s');

# last month's spend, as the first request of a month finds it
$t->redis('HSET', 'tr:tenant:per|agents', pid => 'm190001');
is(call($kb)->{status}, 200, 'the next month: the tenant has room again');
settled_all();
is_deeply(fields('tr:tenant:per|agents', qw(pid pspent spent)),
	[ $M, $C, big($C)->bmul(2)->bstr() ],
	'tenant: pspent this month\'s, spent lifetime');

###############################################################################

# a lifetime limit is unchanged: a pid in the record (a period set once,
# then removed) does not make its spend start again

my $kl = key_with(limit => $limit);
is(call($kl)->{status}, 200, 'lifetime: the first fits');
settled_all();
$t->redis('HSET', $kl->{hash}, pid => 'd1', pspent => 0);
is(call($kl)->{status}, 402, 'lifetime: the second never does');
is_deeply(fields($kl->{hash}, qw(spent pid)), [ $C, 'd1' ],
	'spent counts; no period written');

###############################################################################

done_testing();

###############################################################################
