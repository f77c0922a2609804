#!/usr/bin/perl

# (C) tokenroute authors

# Tenants under one bill (README "Tenants"): keys of one tenant share the
# tenant's spend ceiling; the account stays the bill (its credit pays for
# every key, with or without a tenant); a request the tenant cannot cover
# gets 402 tenant_limit_reached in the client's shape; a key naming a
# tenant that has no record spends nothing; $tokenroute_tenant, the
# rejection log line and the usage records name the tenant.  The tenant
# records are written here by hand, as README "What Redis holds" defines
# them (tenants are created by the CLI and the admin API).

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Math::BigInt;
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Money qw(usd_nano nano_usd cost reserve utc_day);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

my ($IP, $OP) = ('1', '2');
my %P = (price => usd_nano($IP), out_price => usd_nano($OP));

$t->start_gateway(http => <<"EOF");
tokenroute_model t/ai provider=mockai upstream_model=gpt-ten-usage-10-20 input_price=$IP output_price=$OP;
tokenroute_model t/ant provider=mockant upstream_model=claude-ten-usage-10-20 input_price=$IP output_price=$OP;
log_format ten '\$tokenroute_request_id "\$tokenroute_tenant" \$tokenroute_account \$tokenroute_key_id \$status';
access_log %%TESTDIR%%/ten.log ten;
tokenroute_reject_log_level notice;
EOF

my $BODY = '{"model":"t/ai","messages":[{"role":"user","content":"hi"}],'
	. '"max_tokens":100}';
my $ABODY = '{"model":"t/ant","messages":[{"role":"user","content":"hi"}],'
	. '"max_tokens":100}';

my $R = reserve(bytes => length $BODY, max_tokens => 100, %P);
my $RA = reserve(bytes => length $ABODY, max_tokens => 100, anthropic => 1,
	%P);
my $C = cost(in => 10, out => 20, %P);

# a tenant record and its key fields, as the control plane writes them
sub tenant {
	my ($acct, $name, %f) = @_;
	$t->redis('HSET', "tr:tenant:$acct|$name", name => $name,
		account => $acct, created_at => int(time()), %f);
	$t->redis('SADD', "tr:tenants:$acct", $name);
}

sub key_in {
	my ($acct, $tenant, %o) = @_;
	my $key = $t->create_key(account => $acct, fund => $o{fund} // 1000,
		$o{limit} ? (limit => $o{limit}) : ());
	$t->redis('HSET', 'tr:key:' . $t->key_hash($key->{raw}),
		tenant => $tenant) if defined $tenant;
	return $key;
}

sub call {
	my ($key, %o) = @_;
	my $ant = $o{shape} && $o{shape} eq 'anthropic';
	return $t->http(method => 'POST',
		path => $ant ? '/v1/messages' : '/v1/chat/completions',
		headers => $ant
			? [ 'x-api-key' => $key->{raw},
				'anthropic-version' => '2023-06-01',
				'Content-Type' => 'application/json' ]
			: [ Authorization => "Bearer $key->{raw}",
				'Content-Type' => 'application/json' ],
		body => $ant ? $ABODY : $BODY, timeout => 15);
}

sub rid_of { $_[0]{headers}{'x-tokenroute-request-id'} // '' }

sub settled_all {
	$t->wait_until(5, sub { $t->redis('HLEN', 'tr:rsvd') == 0 });
	sleep 0.2;
}

sub log_line {
	my ($rid) = @_;
	return $t->wait_until(3, sub {
		my ($l) = grep { /^\Q$rid\E / } split /\n/,
			(TokenRoute::Test::_slurp($t->testdir . '/ten.log') // '');
		return $l;
	}) // '';
}

###############################################################################

# a tenant ceiling of 2.5 reservations, shared by two keys of the tenant;
# a key of the same account without a tenant is not held by it

tenant('acme', 'bots', limit => Math::BigInt->new($R)->bmul(5)->bdiv(2)
	->bstr());
my $k1 = key_in('acme', 'bots');
my $k2 = key_in('acme', 'bots');
my $k0 = key_in('acme', undef);

my $r1 = call($k1);
is($r1->{status}, 200, 'k1: admitted');
my $r2 = call($k2);
is($r2->{status}, 200, 'k2 of the same tenant: admitted');
settled_all();

my $th = $t->redis_hash('tr:tenant:acme|bots');
is($th->{spent}, Math::BigInt->new($C)->bmul(2)->bstr(),
	'tenant spent: both keys\' costs');
is($th->{reserved}, 0, 'tenant reserved: given back');

# what is left: 2.5 R - 2 C, less than R (C is well below R, so lower the
# ceiling to make the third one short)
$t->redis('HSET', 'tr:tenant:acme|bots', limit =>
	Math::BigInt->new($C)->bmul(2)->badd($R)->bsub(1)->bstr());

my $r3 = call($k1);
$t->error_ok($r3, 'openai', status => 402, type => 'insufficient_quota',
	name => 'tenant short: 402 in OpenAI shape');
is($r3->{json}{error}{code}, 'tenant_limit_reached', 'code');
like($r3->{json}{error}{message} // '',
	qr/spend limit of tenant "bots" is reached: 0\.\d+ USD left/,
	'the message names the tenant and what it has left');
unlike($r3->{json}{error}{message} // '', qr/daily|weekly|monthly/,
	'a lifetime limit: no period named');

my $r3a = call($k2, shape => 'anthropic');
$t->error_ok($r3a, 'anthropic', status => 402, type => 'billing_error',
	name => 'tenant short: 402 in Anthropic shape');
like($r3a->{json}{error}{message} // '', qr/tenant "bots"/,
	'the Anthropic message names the tenant');

my $r0 = call($k0);
is($r0->{status}, 200, 'a key of the account without a tenant: admitted');
settled_all();

is(scalar $t->mock_requests(), 3, 'the refused never reached the provider');

# the account is the bill

my $ah = $t->redis_hash('tr:acct:acme');
my $spent3 = Math::BigInt->new($C)->bmul(3)->bstr();
is($ah->{spent}, $spent3, 'account spent: every key\'s, tenant or not');
is($ah->{credit}, Math::BigInt->new(usd_nano(1000))->bsub($spent3)->bstr(),
	'account credit charged for all three');
is($ah->{reserved}, 0, 'account reserved 0');
is($t->redis('HGET', 'tr:tenant:acme|bots', 'spent'),
	Math::BigInt->new($C)->bmul(2)->bstr(),
	'the tenant is charged for its keys only');
ok(!defined $t->redis('HGET', 'tr:tenant:acme|bots', 'credit'),
	'a tenant holds no credit of its own');

# the tenant, where it shows

like(log_line(rid_of($r1)), qr/^\S+ "bots" acme \Q$k1->{id}\E 200$/,
	'$tokenroute_tenant in the access log');
like(log_line(rid_of($r0)), qr/^\S+ "-" acme \Q$k0->{id}\E 200$/,
	'$tokenroute_tenant empty ("-") for a key without a tenant');
like(TokenRoute::Test::_slurp($t->testdir . '/ten.log') // '',
	qr/^\S+ "bots" acme \Q$k1->{id}\E 402$/m,
	'and on a refused request');
my $who = qr/key "\Q$k1->{id}\E" account "acme" tenant "bots"/;
like($t->error_log(), qr/\[notice\].*tokenroute: 402 tenant limit reached, $who/,
	'the rejection is logged, naming key, account and tenant');

my $u = $t->redis_hash('tr:u:d:' . utc_day());
is($u->{"acme|bots|$k1->{id}|t/ai|cost"}, $C,
	'usage field: account|tenant|key|model|metric');
is($u->{"acme|bots|$k2->{id}|t/ai|req"}, 1, 'the other key of the tenant');
is($u->{"acme||$k0->{id}|t/ai|cost"}, $C, 'no tenant: the field\'s part ""');

###############################################################################

# a key naming a tenant that has no record: nothing (fail-safe); it may
# still list models (a key check reserves nothing)

my $kg = key_in('acme', 'ghost');
my $rg = call($kg);
$t->error_ok($rg, 'openai', status => 402, type => 'insufficient_quota',
	name => 'a missing tenant: 402');
is($rg->{json}{error}{code}, 'tenant_limit_reached', 'code');
like($rg->{json}{error}{message} // '',
	qr/tenant "ghost" does not exist in account "acme"/,
	'the message says the tenant does not exist');
is($t->redis('EXISTS', 'tr:tenant:acme|ghost'), 0, 'no record was made');

my $rm = $t->http(method => 'GET', path => '/v1/models',
	headers => [ Authorization => "Bearer $kg->{raw}" ]);
is($rm->{status}, 200, 'GET /v1/models with that key: 200');

# a tenant of another account with the same name is another tenant

tenant('other', 'bots', limit => 0);
my $ko = key_in('other', 'bots');
$t->redis('HSET', 'tr:tenant:acme|bots', limit => usd_nano(1000));
is(call($ko)->{status}, 402, 'other|bots has no room');
is(call($k1)->{status}, 200, 'acme|bots has');
settled_all();

###############################################################################

# a tenant without a limit: no ceiling, its spend still counted

tenant('acme', 'free');
my $kf = key_in('acme', 'free');
is(call($kf)->{status}, 200, 'a tenant without a limit: admitted');
settled_all();
is($t->redis('HGET', 'tr:tenant:acme|free', 'spent'), $C,
	'its spend counted');

###############################################################################

done_testing();

###############################################################################
