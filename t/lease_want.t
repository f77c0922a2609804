#!/usr/bin/perl

# (C) tokenroute authors

# Leases (README "Leases"): the slice a gateway asks for (slice= times a
# request's reservation) does not overflow for the largest reservation
# and slice (UBSan aborts the worker on a signed overflow: run it under
# TOKENROUTE_SANITIZE too).

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
tokenroute_lease zone=lease:1m slice=1000000 max_age=500ms flush=200ms ttl=2s;
tokenroute_model openai/dear provider=mockai upstream_model=gpt-usage-100-20 input_price=100 output_price=100;
tokenroute_model openai/used provider=mockai upstream_model=gpt-usage-100-20 input_price=1 output_price=5;
EOF

sub chat {
	my ($raw, $model, $max) = @_;
	return $t->http(method => 'POST', path => '/v1/chat/completions',
		headers => [ Authorization => "Bearer $raw" ],
		body => { model => $model, max_tokens => $max,
			messages => [ { role => 'user', content => 'Hi' } ] },
		timeout => 5)->{status};
}

###############################################################################

# a reservation of 1e9 output tokens at $100 per million, $100,000, asks
# for a slice of a million of them

my $k = $t->create_key(name => 'dear', account => 'wacct');
my $kh = $t->key_hash($k->{raw});

my $st = chat($k->{raw}, 'openai/dear', 1_000_000_000);
ok($st == 200 || $st == 402, "the largest reservation answered ($st)");

sleep 0.5;

is(chat($k->{raw}, 'openai/used', 50), 200, 'the gateway serves on');
ok($t->wait_until(3, sub {
	my %r = @{ $t->redis('HGETALL', 'tr:rsvd') || [] };
	grep { /^$kh \d+ / } values %r;
}), 'a slice leased, bounded by the headroom');

done_testing();
