#!/usr/bin/perl

# (C) tokenroute authors

# Leases in the metrics (README "Metrics"): leases held, admissions from a
# lease and by the exact path, renewals, give-backs and flushes, in strict
# Prometheus text.

###############################################################################

use warnings;
use strict;

use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Lease qw(lease_gateway used_chat);
use TokenRoute::Prom qw(parse value family);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

lease_gateway($t, server => <<'EOF');
location = /metrics {
    tokenroute_metrics;
}
EOF

# checked strict once per test, not at each poll
sub scrape {
	my ($check) = @_;
	my $r = $t->http(method => 'GET', path => '/metrics');
	my ($m, $e) = parse($r->{body});
	is_deeply($e, [], 'metrics: strict Prometheus text') or diag($r->{body})
		if $check;
	return $m;
}

###############################################################################

my $m0 = scrape(1);

for my $f (qw(tokenroute_leases_held tokenroute_lease_admissions_total
	tokenroute_lease_renewals_total tokenroute_lease_give_backs_total
	tokenroute_lease_flushes_total))
{
	ok(scalar(() = family($m0, $f)), "$f listed");
}

is(value($m0, 'tokenroute_leases_held'), 0, 'no lease held at first');

my $k = $t->create_key(name => 'm', account => 'macct');

is(used_chat($t, $k->{raw}), 200, 'first request: exact path');
ok($t->wait_until(3, sub {
	value(scrape(), 'tokenroute_leases_held') == 1 }), 'a lease held');

my $N = 10;
my $ok = 0;
$ok += used_chat($t, $k->{raw}) == 200 for 1 .. $N;
is($ok, $N, "$N served");

sleep 0.5;

my $m1 = scrape(1);

is(value($m1, 'tokenroute_lease_admissions_total', path => 'exact'), 1,
	'one admission by the exact path');
is(value($m1, 'tokenroute_lease_admissions_total', path => 'lease'), $N,
	"$N admissions from the lease");
cmp_ok(value($m1, 'tokenroute_lease_renewals_total'), '>=', 1,
	'renewals counted');
cmp_ok(value($m1, 'tokenroute_lease_flushes_total'), '>=', 1,
	'aggregates flushed');

# revoked: the lease is given back at the next renewal's answer

$t->cli('keys', 'revoke', $k->{id});
sleep 0.3;
is(used_chat($t, $k->{raw}), 401, 'revoked');

ok($t->wait_until(3, sub {
	my $m = scrape();
	value($m, 'tokenroute_leases_held') == 0
		&& value($m, 'tokenroute_lease_give_backs_total') >= 1
}), 'the lease given back, and counted');

done_testing();
