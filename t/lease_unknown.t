#!/usr/bin/perl

# (C) tokenroute authors

# Leases (README "Leases"): a flood of unknown keys (each a 401) does not
# take the zone's entries of keys that hold a lease: the real key's lease
# stays held in Redis and its requests stay fast.  The zone is the
# smallest (a table of a few dozen entries), so that every unknown key
# lands among the real key's probed slots.

###############################################################################

use warnings;
use strict;

use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

$t->start_gateway(http => <<'EOF');
tokenroute_lease zone=lease:32k slice=50 max_age=10s flush=200ms ttl=40s;
tokenroute_model openai/used provider=mockai upstream_model=gpt-usage-100-20 input_price=1 output_price=5;
EOF

sub chat {
	my ($raw) = @_;
	return $t->chat($raw, model => 'openai/used')->{status};
}

# the lease ids of a key hash in tr:rsvd
sub lease_ids {
	my ($kh) = @_;
	my %r = @{ $t->redis('HGETALL', 'tr:rsvd') || [] };
	my @ids = sort grep { $r{$_} =~ /^$kh \d+ / } keys %r;
	return @ids;
}

sub evalsha_calls {
	my $info = $t->redis('INFO', 'commandstats');
	return $info =~ /cmdstat_evalsha:calls=(\d+)/ ? $1 : 0;
}

###############################################################################

my $k = $t->create_key(name => 'real', account => 'uacct');
my $kh = $t->key_hash($k->{raw});

is(chat($k->{raw}), 200, 'the real key served');
ok($t->wait_until(3, sub { lease_ids($kh) }), 'its lease held in Redis');
my @before = lease_ids($kh);

sleep 0.3;
is(chat($k->{raw}), 200, 'served from its lease');

# 500 unknown keys, a 401 each, every one newer than the real key's entry

my $n401 = 0;
for my $i (1 .. 500) {
	$n401++ if chat(sprintf('sk-tr-unknown%08d%024d', $i, $i)) == 401;
}
is($n401, 500, "500 unknown keys refused");

sleep 0.5;

is_deeply([ lease_ids($kh) ], \@before,
	'the real key still holds the same lease');

my $e = evalsha_calls();
my $ok = 0;
$ok += chat($k->{raw}) == 200 for 1 .. 10;
is($ok, 10, 'the real key served on');
cmp_ok(evalsha_calls() - $e, '<=', 4, 'from its lease, with few scripts');

done_testing();
