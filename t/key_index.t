#!/usr/bin/perl

# (C) tokenroute authors

# The key indexes (src/lua/ctl_keys.lua) and their migration: the index
# of each tenant's keys (tr:tenantkeys) kept by keys create, update,
# delete and purge and read by tenants delete; keys that predate the
# indexes (records made by hand as older versions wrote them) indexed in
# bounded batches by "tokenroute keys reindex" or the purge, every
# operation correct before and after, no script call longer than a
# batch.

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Test::More;

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new(needs => [qw(redis cli)]);
$t->start_redis();

sub cli_json {
	my (@args) = @_;
	my ($rc, $out, $err) = $t->cli(@args, '--json');
	is($rc, 0, "@args: exit 0") or diag($err);
	return eval { decode_json($out) } // {};
}

sub members {
	my ($key) = @_;
	return join ' ', sort @{ $t->redis('SMEMBERS', $key) // [] };
}

###############################################################################

# the tenant index, kept by the key operations

cli_json('accounts', 'create', 'acme');
cli_json('tenants', 'create', 'acme', $_) for qw(t1 t2 big small empty);

my $k1 = cli_json('keys', 'create', '--name', 'a', '--account', 'acme',
	'--tenant', 't1');
my $k2 = cli_json('keys', 'create', '--name', 'b', '--account', 'acme',
	'--tenant', 't1', '--expires', '1d');
is(members('tr:tenantkeys:acme|t1'), join(' ', sort $k1->{id}, $k2->{id}),
	'create: the tenant index has the keys');

cli_json('keys', 'update', $k2->{id}, '--tenant', 't2');
is(members('tr:tenantkeys:acme|t1'), $k1->{id}, 'update: out of t1');
is(members('tr:tenantkeys:acme|t2'), $k2->{id}, 'update: into t2');

my ($rc, $out, $err) = $t->cli('tenants', 'delete', 'acme', 't2');
is($rc, 1, 'tenant t2 with a usable key: refused');
like($err, qr/1 usable key/, 'tenant t2: the key counted');

cli_json('keys', 'update', $k2->{id}, '--tenant', 'none');
is(members('tr:tenantkeys:acme|t2'), '', 'update to none: out of t2');
cli_json('tenants', 'delete', 'acme', 't2');

cli_json('keys', 'revoke', $k1->{id});
cli_json('keys', 'purge', '--older-than', '0');
is(members('tr:tenantkeys:acme|t1'), '', 'purge: out of the tenant index');
cli_json('tenants', 'delete', 'acme', 't1');

my $k3 = cli_json('keys', 'create', '--name', 'c', '--account', 'acme',
	'--tenant', 'small');
cli_json('keys', 'delete', $k3->{id});
is(members('tr:tenantkeys:acme|small'), '', 'delete: out of the index');

###############################################################################

# keys that predate the indexes: HSET records as older versions wrote
# them, with no prefix index, no index of ended keys, no tenant index

my $N = 3000;
my $now = time();
$t->redis('EVAL', <<'LUA', 0, $N, $now);
local n, now = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, n do
  local id = string.format('key_%08x', i)
  local kh = string.format('%064x', i)
  local tenant = ''
  if i <= 1500 then tenant = 'big' elseif i <= 1502 then tenant = 'small' end
  local revoked = (i % 10 == 0) and '1' or '0'
  local expires = (i % 7 == 0) and tostring(now - 100) or '0'
  local prefix = string.format('sk-tr-%06x', i)
  if i == n then prefix = 'sk-tr-000001' end
  redis.call('HSET', 'tr:key:' .. kh, 'id', id, 'name', 'old ' .. i,
             'account', 'acme', 'models', '', 'limit', '',
             'expires_at', expires, 'revoked', revoked,
             'revoked_at', revoked == '1' and tostring(now - 100) or '0',
             'created_at', tostring(now - n + i), 'prefix', prefix,
             'tenant', tenant)
  redis.call('SET', 'tr:keyid:' .. id, kh)
  redis.call('ZADD', 'tr:keys', now - n + i, id)
end
LUA
# as an older version left them: no index, no migration done
$t->redis('DEL', 'tr:keypfx', 'tr:keys:ended', 'tr:keys:index',
	'tr:keys:purge');

$t->redis('CONFIG', 'SET', 'slowlog-log-slower-than', '0');
$t->redis('CONFIG', 'SET', 'slowlog-max-len', '100000');
$t->redis('SLOWLOG', 'RESET');

# before the migration: by id, right; by prefix, a clear refusal
is(cli_json('keys', 'show', 'key_00000005')->{name}, 'old 5',
	'before the migration: show by id');
is($t->redis('HLEN', 'tr:keypfx') // 0, 0,
	'before the migration: a call does not index every key');

($rc, $out, $err) = $t->cli('keys', 'show', 'sk-tr-000005');
is($rc, 1, 'before the migration: show by prefix refused');
like($err, qr/tokenroute keys reindex/, 'refusal: run keys reindex');

($rc, $out, $err) = $t->cli('tenants', 'delete', 'acme', 'small');
is($rc, 1, 'before the migration: tenants delete refused');
like($err, qr/tokenroute keys reindex/, 'tenants delete: run keys reindex');

# one purge as the gateways' timers run it: one batch of the migration
my $p = $t->redis('EVAL', TokenRoute::Test->script_text('ctl_keys'), 0,
	'purge', time(), 'cli', 'older_than', '0', 'limit', '100');
like($p, qr/"reindexed":1000/, 'the purge: one batch of the migration');
my $done = $t->redis('HLEN', 'tr:keypfx');
ok($done > 0 && $done <= 1001, "a purge indexes one batch ($done)");
ok(!$t->redis('HEXISTS', 'tr:keys:index', 'done'), 'not done yet');

# the gateways' timers (with interval): one batch a second for the fleet
$p = $t->redis('EVAL', TokenRoute::Test->script_text('ctl_keys'), 0,
	'purge', time(), 'cli', 'limit', '100', 'interval', '60');
like($p, qr/"reindexed":1000/, 'a timer\'s purge: one batch');
$p = $t->redis('EVAL', TokenRoute::Test->script_text('ctl_keys'), 0,
	'purge', time(), 'cli', 'limit', '100', 'interval', '60');
like($p, qr/"skipped":true/, 'the next timer within the second: skipped');
ok($t->redis('TTL', 'tr:keys:purge') <= 1, 'for a second');

# the migration, resumed where the purge left it
my $r = cli_json('keys', 'reindex');
ok($r->{done}, 'keys reindex: done');
ok($r->{batches} >= 2, "keys reindex: in batches ($r->{batches})");
is($t->redis('HGET', 'tr:keys:index', 'done'), '1', 'marked done');

# no script call longer than a batch: none touched the 3000 keys at once
my $slow = $t->redis('SLOWLOG', 'GET', '100000');
my ($worst, $cmd) = (0, '');
for my $e (@$slow) {
	next unless $e->[3][0] =~ /^eval/i;
	($worst, $cmd) = ($e->[2], $e->[3][3] // '') if $e->[2] > $worst;
}
diag("slowest control script over $N old keys: $worst us ($cmd)");
my $bound = $ENV{TOKENROUTE_SANITIZE} ? 2000000 : 200000;
ok($worst < $bound, "slowest script call $worst us");

is(scalar @{ $t->redis('SMEMBERS', 'tr:tenantkeys:acme|big') }, 1500,
	'the tenant index: every old key of tenant big');
is($t->redis('ZCARD', 'tr:keys:ended'),
	1 + scalar(grep { $_ % 10 == 0 || $_ % 7 == 0 } 1 .. $N),
	'the index of ended keys: every one (and key b, expiring)');

# after: by prefix, found and ambiguity seen
is(cli_json('keys', 'show', 'sk-tr-000005')->{id}, 'key_00000005',
	'after the migration: show by prefix');
($rc, $out, $err) = $t->cli('keys', 'show', 'sk-tr-000001');
is($rc, 1, 'a prefix shared by two old keys');
like($err, qr/ambiguous/, 'ambiguous prefix');

($rc, $out, $err) = $t->cli('tenants', 'delete', 'acme', 'small');
is($rc, 1, 'tenant small with 2 old usable keys: refused');
like($err, qr/2 usable keys/, 'old keys counted from the tenant index');
cli_json('keys', 'revoke', 'key_000005dd');
cli_json('keys', 'revoke', 'key_000005de');
cli_json('tenants', 'delete', 'acme', 'small');

($rc, $out, $err) = $t->cli('tenants', 'delete', 'acme', 'big');
is($rc, 1, 'tenant big with 1500 keys: refused');
like($err, qr/1500 keys/, 'refusal says how many');

cli_json('tenants', 'delete', 'acme', 'empty');

is(cli_json('keys', 'reindex')->{batches}, 0, 'reindex again: nothing');

###############################################################################

done_testing();

###############################################################################
