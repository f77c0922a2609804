#!/usr/bin/perl

# (C) tokenroute authors

# The admin API over the control scripts of keys, accounts and tenants
# (src/lua/ctl_keys.lua, ctl_accounts.lua, ctl_tenants.lua): every route
# of the issue's seed flow end to end, with a real nginx and Redis: a
# tenant and a key for an agent session made over the API, the key used
# on the gateway, its spend per tenant seen in tokenroute usage --by
# tenant, over the API's usage route and on the tenant's record.

###############################################################################

use warnings;
use strict;

use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP;

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();
my $ops = $t->start_admin_gateway();
my ($rc, $out, $err);

sub api {
	my ($method, $path, $body) = @_;
	my $res = $t->http(method => $method, path => "/admin/$path",
		headers => { Authorization => "Bearer $ops->{raw}" },
		body => $body);
	$res->{json} = eval { decode_json($res->{body}) };
	return $res;
}


sub ok_api {
	my ($method, $path, $body, $name) = @_;
	my $res = api($method, $path, $body);
	is($res->{status}, 200, $name) or diag($res->{raw});
	return $res->{json} // {};
}

###############################################################################

# the seed's flow

ok_api('POST', 'accounts', { name => 'acme' }, 'account');
my $j = ok_api('POST', 'accounts/acme/credit',
	{ amount => '10', reason => 'first top-up',
		idempotency_key => 'inv-1' }, 'credit add');
ok_api('POST', 'accounts/acme/credit',
	{ amount => '10', reason => 'first top-up',
		idempotency_key => 'inv-1' }, 'the same top-up again');
is(ok_api('GET', 'accounts/acme', undef, 'show')->{credit_usd}, '10.00',
	'added once: the idempotency key');
ok_api('POST', 'accounts/acme/credit/adjust',
	{ amount => '-1.50', reason => 'refund' }, 'credit adjust');
$j = ok_api('GET', 'accounts/acme/history?limit=10', undef, 'history');
like(encode_json($j), qr/admin:ops/, 'the ledger names the admin key');

ok_api('POST', 'accounts/acme/tenants',
	{ name => 'team-a', limit => '5', period => 'month' }, 'tenant');
is(ok_api('GET', 'accounts/acme/tenants/team-a', undef,
	'tenant show')->{name} // '', 'team-a', 'its name');
ok_api('PATCH', 'accounts/acme/tenants/team-a', { rpm => 600 },
	'tenant update');
ok_api('GET', 'accounts/acme/tenants', undef, 'tenants list');

my $key = ok_api('POST', 'keys', { name => 'session-42', account => 'acme',
	tenant => 'team-a', limit => 2, period => 'day', expires => '12h',
	models => [ 'openai/gpt-4o-mini' ] }, 'key create');
like($key->{raw} // '', qr/^sk-tr-[A-Za-z0-9_-]{43}$/, 'its raw key');
ok($t->redis('EXISTS', 'tr:key:' . sha256_hex($key->{raw} // '')),
	'stored under its hash');

my $res = $t->http(method => 'POST', path => '/v1/chat/completions',
	headers => { Authorization => "Bearer $key->{raw}" },
	body => { model => 'openai/gpt-4o-mini',
		messages => [ { role => 'user', content => 'hi' } ] });
is($res->{status}, 200, 'the agent calls the gateway');

# its spend, per tenant: the CLI's report, the API's, the tenant's record

my $rid = $res->{headers}{'x-tokenroute-request-id'} // '';
like($rid, qr/^[0-9a-f]{24}$/, 'its request id');
ok($t->wait_until(10, sub { $t->settled($rid) }), 'settled');
my $spent = $t->redis('HGET', 'tr:key:' . sha256_hex($key->{raw} // ''),
	'spent') // 0;
cmp_ok($spent, '>', 0, "the key spent $spent nano-USD");
($rc, $out, $err) = $t->cli('usage', '--by', 'tenant', '--account', 'acme',
	'--since', '1d', '--json');
is($rc, 0, 'tokenroute usage --by tenant') or diag($err);
my $cli = eval { decode_json($out) } // {};
my ($row) = grep { ($_->{tenant} // '') eq 'team-a' } @{ $cli->{rows} || [] };
is_deeply([ @{ $row // {} }{qw(account requests cost_nusd)} ],
	[ 'acme', 1, $spent ], 'the CLI: acme/team-a, 1 request, its cost')
	or diag($out);
$j = ok_api('GET', 'usage?by=tenant&account=acme&since=1d', undef,
	'usage over the API');
is_deeply($j, $cli, 'the API: the same report');
my $tenant = ok_api('GET', 'accounts/acme/tenants/team-a', undef,
	'the tenant');
is($tenant->{spent_nusd}, $spent, 'the tenant spent what its key spent');

ok_api('GET', "keys/$key->{id}", undef, 'show by id');
ok_api('GET', "keys/$key->{raw}", undef, 'show by raw key');
$j = ok_api('GET', 'keys?account=acme&tenant=team-a&limit=10', undef,
	'list');
is(scalar @{ $j->{keys} || [] }, 1, 'one key of the tenant');
ok_api('PATCH', "keys/$key->{id}", { rpm => 60 }, 'update');

my $new = ok_api('POST', "keys/$key->{id}/rotate", undef, 'rotate');
like($new->{raw} // '', qr/^sk-tr-/, 'a new raw key');
isnt($new->{raw}, $key->{raw}, 'another one');
is($new->{id}, $key->{id}, 'the same id');

ok_api('POST', "keys/$key->{id}/revoke", undef, 'revoke');
ok_api('DELETE', "keys/$key->{id}", undef, 'delete');
is(api('GET', "keys/$key->{id}")->{status}, 404, 'gone');
ok_api('POST', 'keys/purge', { older_than => '0' }, 'purge');
ok_api('DELETE', 'accounts/acme/tenants/team-a', undef, 'tenant delete');

done_testing();
