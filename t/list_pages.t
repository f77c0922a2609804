#!/usr/bin/perl

# (C) tokenroute authors

# accounts list and tenants list by pages (src/lua/ctl_accounts.lua,
# ctl_tenants.lua): limit and cursor (SSCAN: no call reads a whole set
# of any size), the CLI printing every page sorted, the admin API passing
# limit and cursor as query parameters; without them the array of old,
# refused when it would read more than 1000 members at once.

###############################################################################

use warnings;
use strict;

use Test::More;
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
	my ($path) = @_;
	my $res = $t->http(method => 'GET', path => "/admin/$path",
		headers => { Authorization => "Bearer $ops->{raw}" });
	$res->{json} = eval { decode_json($res->{body}) };
	return $res;
}

sub ctl {
	my ($script, @args) = @_;
	my $r = eval { $t->redis('EVAL', TokenRoute::Test->script_text($script),
		0, 'list', time(), 'cli', @args) };
	return $@ ? { error => $@ } : (eval { decode_json($r) } // {});
}

# every page from the script, its members by name: the union, the
# largest page and the number of pages
sub pages {
	my ($script, $member, $name, $limit, @args) = @_;
	my (%seen, $max, $n, $cursor);
	$max = 0;
	$n = 0;
	do {
		my $p = ctl($script, @args, 'limit', $limit,
			defined $cursor ? ('cursor', $cursor) : ());
		die "$script list: $p->{error}" if $p->{error};
		my $items = $p->{$member} // [];
		$max = @$items if @$items > $max;
		$seen{ $_->{$name} } = 1 for @$items;
		$cursor = $p->{next_cursor};
		$n++;
	} while (defined $cursor && $n < 10000);
	return ([ sort keys %seen ], $max, $n);
}

###############################################################################

# 1500 accounts, 1200 tenants of one of them: made as the scripts make them

$t->cli('accounts', 'create', 'acme');
$t->redis('EVAL', <<'LUA', 0, 1500, 1200, time());
for i = 1, tonumber(ARGV[1]) do
  local a = string.format('a%05d', i)
  redis.call('SADD', 'tr:accts', a)
  redis.call('HSET', 'tr:acct:' .. a, 'created_at', ARGV[3])
end
for i = 1, tonumber(ARGV[2]) do
  local n = string.format('t%05d', i)
  redis.call('SADD', 'tr:tenants:acme', n)
  redis.call('HSET', 'tr:tenant:acme|' .. n, 'name', n, 'account', 'acme',
             'created_at', ARGV[3])
end
LUA

my @accts = sort('acme', map { sprintf 'a%05d', $_ } 1 .. 1500);
my @tenants = map { sprintf 't%05d', $_ } 1 .. 1200;

# the scripts: pages of about limit members, every member once

my ($all, $max, $n) = pages('ctl_accounts', 'accounts', 'account', 100);
is_deeply($all, \@accts, 'accounts list by pages: every account');
ok($max <= 200, "accounts list: pages of about 100 (largest $max)");
ok($n >= 8, "accounts list: in pages ($n)");

($all, $max, $n) = pages('ctl_tenants', 'tenants', 'name', 100,
	'account', 'acme');
is_deeply($all, \@tenants, 'tenants list by pages: every tenant');
ok($max <= 200, "tenants list: pages of about 100 (largest $max)");

# without limit: one call would read every member: refused over 1000

like(ctl('ctl_accounts')->{error} // '', qr/^redis: 409 .*limit and cursor/,
	'accounts list without limit: refused over 1000 accounts');
like(ctl('ctl_tenants', 'account', 'acme')->{error} // '',
	qr/^redis: 409 .*limit and cursor/,
	'tenants list without limit: refused over 1000 tenants');
like(ctl('ctl_accounts', 'limit', '1001')->{error} // '', qr/^redis: 400 /,
	'limit over 1000: refused');
like(ctl('ctl_accounts', 'cursor', 'x')->{error} // '', qr/^redis: 400 /,
	'a cursor that is none: refused');

# the CLI: every page, sorted, as before

($rc, $out, $err) = $t->cli('accounts', 'list', '--json');
is($rc, 0, 'accounts list: exit 0') or diag($err);
my $l = eval { decode_json($out) } // [];
is_deeply([ map { $_->{account} } @$l ], \@accts,
	'accounts list --json: every account, sorted, once');
($rc, $out, $err) = $t->cli('accounts', 'list');
is(scalar(() = $out =~ /\n/g), 1 + @accts, 'accounts list: every row');

($rc, $out, $err) = $t->cli('tenants', 'list', 'acme', '--json');
is($rc, 0, 'tenants list: exit 0') or diag($err);
$l = eval { decode_json($out) } // [];
is_deeply([ map { $_->{name} } @$l ], \@tenants,
	'tenants list --json: every tenant, sorted, once');

# the admin API: limit and cursor as query parameters

my (%seen, $cursor, $pages);
$pages = 0;
do {
	my $res = api('accounts?limit=500'
		. (defined $cursor ? "&cursor=$cursor" : ''));
	is($res->{status}, 200, 'GET accounts?limit=500') or diag($res->{raw});
	$seen{ $_->{account} }++ for @{ $res->{json}{accounts} // [] };
	$cursor = $res->{json}{next_cursor};
	$pages++;
} while (defined $cursor && $pages < 100);
is_deeply([ sort keys %seen ], \@accts, 'API: accounts by pages');

my $res = api('accounts/acme/tenants?limit=1000');
is($res->{status}, 200, 'GET tenants?limit=1000') or diag($res->{raw});
ok(exists $res->{json}{next_cursor}, 'tenants page: next_cursor');

$res = api('accounts');
is($res->{status}, 409, 'GET accounts over 1000 without limit: 409');

# a small set without limit: the array as before

$t->redis('DEL', 'tr:tenants:acme');
$t->cli('tenants', 'create', 'acme', 'web');
$res = api('accounts/acme/tenants');
is($res->{status}, 200, 'GET tenants of a small set');
is(ref $res->{json}, 'ARRAY', 'without limit: an array as before');
is($res->{json}[0]{name}, 'web', 'the tenant');

# the key index migration over the API: one batch per call

$t->redis('DEL', 'tr:keys:index');
$t->redis('ZADD', 'tr:keys', 1, 'key_00ff');
$res = $t->http(method => 'POST', path => '/admin/keys/reindex',
	headers => { Authorization => "Bearer $ops->{raw}" }, body => '{}');
is($res->{status}, 200, 'POST keys/reindex') or diag($res->{raw});
like($res->{body}, qr/^\{"indexed":1,"done":true\}$/, 'one batch, done');

###############################################################################

done_testing();

###############################################################################
