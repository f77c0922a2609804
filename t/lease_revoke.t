#!/usr/bin/perl

# (C) tokenroute authors

# Tests for revocation with leases (README "Leases", "Key changes pushed
# to every gateway"): a key admitted from the gateways' caches is refused
# on every gateway within 1 s of "tokenroute keys revoke" returning: at
# once on a gateway that hears the change (tokenroute_invalidation, on
# with the leases), and within max_age on one that does not (its
# subscriber off, as when Redis's pub/sub is lost).  Each latency is
# measured and printed.

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

my $conf = <<'EOF';
tokenroute_lease zone=lease:1m slice=1000 max_age=1s flush=100ms ttl=20s;
tokenroute_model openai/used provider=mockai upstream_model=gpt-usage-100-20 input_price=1 output_price=5;
EOF

$t->start_gateway(http => $conf);
$t->start_nginx_instance('deaf', http => $conf
	. "tokenroute_invalidation off;\n");

my %port = (pushed => $t->port('http'), deaf => $t->port('deaf'));

sub chat {
	my ($key, $port) = @_;
	return $t->http(method => 'POST', path => '/v1/chat/completions',
		port => $port,
		headers => [ Authorization => "Bearer $key" ],
		body => { model => 'openai/used', max_tokens => 50,
			messages => [ { role => 'user', content => 'Hi' } ] })
		->{status};
}

# a key served from the leases of both gateways (t/lease.t shows that
# leased requests run no admission script)

sub leased_key {
	my ($name) = @_;
	my $k = $t->create_key(name => $name, account => 'revacct');

	for my $g (sort keys %port) {
		chat($k->{raw}, $port{$g}) for 1 .. 3;
	}

	sleep 0.3;
	return $k;
}

# polls both gateways until each refuses the key: the seconds from t0
# to each one's first 401 (undef: none within 3 s)

sub refused_after {
	my ($key, $t0) = @_;
	my %at;

	while (time() - $t0 < 3 && keys %at < keys %port) {
		for my $g (sort keys %port) {
			next if $at{$g};
			my $s = chat($key, $port{$g});
			$at{$g} = time() - $t0 if $s == 401;
		}
	}

	return \%at;
}

###############################################################################

for my $trial (1 .. 3) {
	my $k = leased_key("rev$trial");

	is(chat($k->{raw}, $port{$_}), 200, "trial $trial: $_ serves the key")
		for sort keys %port;

	# revoked at a random point of the cache's age
	sleep rand(1);

	my ($rc, $out, $err) = $t->cli('keys', 'revoke', $k->{id});
	is($rc, 0, "trial $trial: keys revoke") or diag($err);
	my $at = refused_after($k->{raw}, time());

	for my $g (sort keys %port) {
		ok(defined $at->{$g}, "trial $trial: $g refuses the key");
		diag(sprintf("trial %d: %s gateway refuses after %.0f ms",
			$trial, $g, 1000 * ($at->{$g} // 9)));
	}

	cmp_ok($at->{pushed} // 9, '<', 1,
		"trial $trial: the gateway that hears it, within 1 s");
	# max_age bounds the cache's age; the polls' own time is the slack
	cmp_ok($at->{deaf} // 9, '<', 1.25,
		"trial $trial: the one that does not, within max_age");
}

# revoked right after both caches were refreshed: the gateway that hears
# it refuses at once, the other one serves from its cache until the
# record is max_age / 2 old (then it asks again)

{
	my $k = leased_key('fresh');
	sleep 0.6;
	chat($k->{raw}, $port{$_}) for sort keys %port;
	sleep 0.05;

	$t->cli('keys', 'revoke', $k->{id});
	my $at = refused_after($k->{raw}, time());
	diag(sprintf("fresh caches: %s gateway refuses after %.0f ms", $_,
		1000 * ($at->{$_} // 9))) for sort keys %port;

	cmp_ok($at->{pushed} // 9, '<', $at->{deaf} // 9,
		'fresh caches: the change pushed is seen first');
	cmp_ok($at->{deaf} // 9, '<', 1.25, 'and the other within max_age');
}

# the refusal is the usual one, in the client's shape

my $k = leased_key('shape');
$t->cli('keys', 'revoke', $k->{id});
sleep 1.2;

my $r = $t->http(method => 'POST', path => '/v1/messages',
	port => $port{deaf},
	headers => [ 'x-api-key' => $k->{raw},
		'anthropic-version' => '2023-06-01' ],
	body => { model => 'openai/used', max_tokens => 50,
		messages => [ { role => 'user', content => 'Hi' } ] });

is($r->{status}, 401, 'revoked: 401');
like($r->{body}, qr/"type":"error".*"authentication_error"/s,
	'in the Anthropic shape');


done_testing();

###############################################################################
