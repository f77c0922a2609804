#!/usr/bin/perl

# (C) tokenroute authors

# Tests for cooldowns shared by a fleet with leases on (README "Leases",
# "Cooldowns across a fleet"): admissions are rare then, so a gateway
# asks for the fleet's cooldowns on its own, at each tick of its lease
# timer: a model that cools on A cools on B within a tick, though B
# admits its requests from a lease with no admission script of theirs.

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

my $conf = <<'EOF2';
tokenroute_lease zone=lease:1m max_age=5s flush=200ms ttl=30s;
tokenroute_cooldown 5s failures=2;
tokenroute_model f/quota provider=mockai upstream_model=gpt-quota-error-429-ra5 input_price=1 output_price=1 fallback=f/ok;
tokenroute_model f/ok provider=mockai upstream_model=gpt-ok-usage-10-5 input_price=1 output_price=1;
EOF2

$t->start_gateway(http => $conf);
$t->start_nginx_instance('b', http => $conf);

my %port = (A => $t->port('http'), B => $t->port('b'));
my $key = $t->create_key(name => 'fleet', account => 'fleet');

sub chat {
	my ($gw, $model) = @_;
	return $t->http(method => 'POST', path => '/v1/chat/completions',
		port => $port{$gw},
		headers => [ Authorization => "Bearer $key->{raw}" ],
		body => { model => $model, max_tokens => 20,
			messages => [ { role => 'user', content => 'Hi' } ] });
}

sub tried {
	my ($upstream) = @_;
	return scalar grep { $_->{json} && ($_->{json}{model} // '') eq $upstream }
		$t->mock_requests;
}

# B holds a lease: its requests take no admission script
is(chat('B', 'f/ok')->{status}, 200, 'B: served');
sleep 0.5;


my $r = chat('A', 'f/quota');
is($r->{headers}{'x-tokenroute-attempts'}, 2, 'A: f/quota cooled by a 429');
ok($t->wait_until(2, sub { defined $t->redis('HGET', 'tr:cooldown',
	'f/quota') }), 'published');

sleep 0.5;
$t->clear_mock_requests;
$r = chat('B', 'f/quota');
is($r->{status}, 200, 'B: 200');
is($r->{headers}{'x-tokenroute-attempts'}, 1, 'B: straight to f/ok');
is(tried('gpt-quota-error-429-ra5'), 0, 'B made no attempt at f/quota');

done_testing();
