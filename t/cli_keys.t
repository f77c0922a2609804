#!/usr/bin/perl

# (C) tokenroute authors

# The key lifecycle from the CLI (README "The key lifecycle"), every
# operation of src/lua/ctl_keys.lua: create with a tenant, a period and
# rate limits, its warnings; list with filters and pages; show by id,
# prefix or raw key; update (taking effect on the next request); rotate;
# revoke and delete with --json; the errors and their exit status (400:
# 2, 404 and 409: 1); the indexes made for keys that predate them.

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

my $t = TokenRoute::Test->new();
$t->start_gateway();

sub cli_json {
	my (@args) = @_;
	my ($rc, $out, $err) = $t->cli(@args);
	is($rc, 0, "@args: exit 0") or diag($err);
	my $j = eval { JSON::PP->new->utf8->decode($out) };
	ok(defined $j, "@args: JSON") or diag($out);
	return $j // {};
}

sub cli_fails {
	my ($code, $re, @args) = @_;
	my ($rc, $out, $err) = $t->cli(@args);
	is($rc, $code, "@args: exit $code") or diag($out . $err);
	like($err, $re, "@args: says why");
}

sub chat {
	my ($raw, $model) = @_;
	return $t->http(method => 'POST', path => '/v1/chat/completions',
		headers => { Authorization => "Bearer $raw" },
		body => { model => $model // 'openai/gpt-4o-mini',
			messages => [ { role => 'user', content => 'hi' } ] });
}

sub rec {
	my ($raw) = @_;
	return $t->redis_hash('tr:key:' . $t->key_hash($raw));
}

###############################################################################

# create: account and tenant must exist; the new settings

cli_fails(1, qr/no such account: nope/, qw(keys create --name a
	--account nope));
is($t->redis('SISMEMBER', 'tr:accts', 'nope'), 0, 'no account by a typo');

cli_json(qw(accounts create acme --json));
cli_fails(1, qr/no such tenant: t1/, qw(keys create --name a --account acme
	--tenant t1));
$t->redis('SADD', 'tr:tenants:acme', 't1', 't2');

my $k = cli_json(qw(keys create --name agent --account acme --tenant t1
	--limit 5 --period day --rpm 10 --tpm 1000 --max-concurrent 2 --json));

is($k->{tenant}, 't1', 'create --json: tenant');
is($k->{period}, 'day', 'create --json: period');
is($k->{limit_usd}, '5.00', 'create --json: limit_usd');
is($k->{rpm}, 10, 'create --json: rpm');
is($k->{tpm}, 1000, 'create --json: tpm');
is($k->{max_concurrent}, 2, 'create --json: max_concurrent');
is_deeply($k->{warnings}, [ 'account acme has no available credit: requests'
	. ' with this key are refused (402) until credit is added' ],
	'create --json: the account has no credit: a warning');

my %r = %{ rec($k->{raw}) };
is_deeply([ @r{qw(tenant period rpm tpm concurrency limit)} ],
	[ 't1', 'day', 10, 1000, 2, 5_000_000_000 ],
	'the record: tenant, period, rpm, tpm, concurrency, limit');

{
	$t->redis('HSET', 'tr:acct:acme', 'credit', 10_000_000_000);
	my ($rc, $out, $err) = $t->cli(qw(keys create --name m --account acme
		--models), 'openai/gpt-4o-mini');
	is($rc, 0, 'create --models: exit 0') or diag($err);
	like($err, qr/warning: model ids are not checked/,
		'create --models: a warning on stderr');
	unlike($err, qr/no available credit/, 'credit: no such warning');
	like($out, qr/^models:\s+openai\/gpt-4o-mini$/m, 'create: the table');
}

for my $case ([ [qw(--period year)], qr/--period: day, week, month/ ],
	[ [qw(--rpm -1)], qr/--rpm/ ], [ [qw(--tpm 1.5)], qr/--tpm/ ],
	[ [qw(--max-concurrent x)], qr/--max-concurrent/ ],
	[ [qw(--tenant a|b)], qr/--tenant/ ], [ [ '--models', 'a,,b' ], qr/--models/ ],
	[ [qw(--models *)], qr/--models/ ], [ [qw(--expires 101y)], qr/--expires/ ])
{
	my ($args, $re) = @$case;
	cli_fails(2, $re, qw(keys create --name bad --account acme), @$args);
}

###############################################################################

# show: by id, prefix or raw key

my $by_id = cli_json('keys', 'show', $k->{id}, '--json');
is($by_id->{id}, $k->{id}, 'show by id');
is(cli_json('keys', 'show', $k->{prefix}, '--json')->{id}, $k->{id},
	'show by prefix');
is(cli_json('keys', 'show', $k->{raw}, '--json')->{id}, $k->{id},
	'show by raw key');
is($by_id->{period_spent_usd}, '0.00', 'show: period_spent_usd');
is($by_id->{status}, 'active', 'show: status');

cli_fails(1, qr/no key with prefix sk-tr-zzzzzz/, qw(keys show sk-tr-zzzzzz));
cli_fails(1, qr/no such key/, 'keys', 'show', 'sk-tr-' . ('A' x 43));
cli_fails(1, qr/no key with id key_00/, qw(keys show key_00));

{
	my $other = $t->create_key(name => 'other');
	my $pfx = $t->redis('HGET', 'tr:keypfx', $k->{prefix});
	$t->redis('HSET', 'tr:keypfx', $k->{prefix}, "$pfx $other->{id}");
	cli_fails(1, qr/ambiguous: \Q$k->{id}, $other->{id}\E/, 'keys', 'show',
		$k->{prefix});
	$t->redis('HSET', 'tr:keypfx', $k->{prefix}, $pfx);
}

###############################################################################

# list: filters, pages

my @more = map { $t->create_key(name => "l$_", account => 'acme') } 1 .. 4;

my $all = cli_json(qw(keys list --json));
is(ref $all, 'ARRAY', 'list --json: an array of every key');
is(scalar @$all, $t->redis('ZCARD', 'tr:keys'), 'every key');

my $t1 = cli_json(qw(keys list --tenant t1 --json));
is_deeply([ map { $_->{id} } @$t1 ], [ $k->{id} ], 'list --tenant');

my @pages;
my $cursor;
for (1 .. 10) {
	my $p = cli_json(qw(keys list --account acme --limit 2),
		defined $cursor ? ('--cursor', $cursor) : (), '--json');
	push @pages, $p;
	$cursor = $p->{next_cursor};
	last unless defined $cursor;
}
my @paged = map { map { $_->{id} } @{ $_->{keys} } } @pages;
is(scalar @{ $pages[0]{keys} }, 2, 'list --limit 2: a page of 2');
is_deeply(\@paged, [ map { $_->{id} } grep { $_->{account} eq 'acme' }
	@$all ], 'the pages: every key of the account, once, in order');

{
	my ($rc, $out, $err) = $t->cli(qw(keys list --account acme));
	is($rc, 0, 'list: exit 0');
	my @lines = split /\n/, $out;
	is(scalar @lines, 1 + @paged, 'list: every key of the account');
	like($lines[0], qr/\bTENANT$/, 'list: a TENANT column');
}

cli_fails(2, qr/--status/, qw(keys list --status bogus));
cli_fails(2, qr/--limit/, qw(keys list --limit 0));
cli_fails(2, qr/--limit/, qw(keys list --limit 1001));
cli_fails(2, qr/--cursor/, qw(keys list --limit 2 --cursor garbage));

###############################################################################

# update: the next request sees it

is(chat($more[0]{raw})->{status}, 200, 'update: the key works');

my $u = cli_json('keys', 'update', $more[0]{id}, qw(--models
	openai/gpt-4o --name renamed --json));
is_deeply($u->{models}, [ 'openai/gpt-4o' ], 'update --models');
is($u->{name}, 'renamed', 'update --name');
is(chat($more[0]{raw})->{status}, 403,
	'update: the next request is refused the model it no longer may use');

$u = cli_json('keys', 'update', $more[0]{raw}, qw(--models all --limit 0.5
	--tenant t2 --rpm 5 --json));
is_deeply($u->{models}, [], 'update --models all: every model');
is($u->{limit_usd}, '0.50', 'update --limit');
is($u->{tenant}, 't2', 'update --tenant');
is($u->{rpm}, 5, 'update --rpm');
is(chat($more[0]{raw})->{status}, 200, 'update: allowed again');

$t->redis('HSET', 'tr:key:' . $t->key_hash($more[0]{raw}), 'period', 'day',
	'pid', 'd1', 'pspent', 7);
$u = cli_json('keys', 'update', $more[0]{id}, qw(--period week --rpm 0
	--tenant none --limit none --json));
is($u->{period}, 'week', 'update --period');
is($u->{rpm}, undef, 'update --rpm 0: none');
is($u->{tenant}, undef, 'update --tenant none');
is($u->{limit_usd}, undef, 'update --limit none');
%r = %{ rec($more[0]{raw}) };
ok(!exists $r{pid} && !exists $r{pspent} && !exists $r{rpm}
	&& !exists $r{tenant} && $r{limit} eq '',
	'a new period starts at 0; cleared settings are gone');

$u = cli_json('keys', 'update', $more[0]{id}, qw(--expires 1h --json));
cmp_ok(abs(($u->{expires_at} // 0) - time() - 3600), '<', 5,
	'update --expires: from now');
is($t->redis('ZSCORE', 'tr:keys:ended', $more[0]{id}), $u->{expires_at},
	'update --expires: in the index of ended keys');
$u = cli_json('keys', 'update', $more[0]{id}, qw(--expires never --json));
ok(!defined $u->{expires_at}
	&& !defined $t->redis('ZSCORE', 'tr:keys:ended', $more[0]{id}),
	'update --expires never: out of it');

cli_fails(2, qr/nothing to change/, 'keys', 'update', $more[0]{id});
cli_fails(1, qr/no such tenant: t9/, 'keys', 'update', $more[0]{id},
	qw(--tenant t9));
cli_fails(1, qr/no key with id/, qw(keys update key_0000 --name x));
cli_fails(2, qr/--period/, 'keys', 'update', $more[0]{id}, qw(--period x));

{
	my ($rc, $out, $err) = $t->cli('keys', 'update', $more[0]{id},
		qw(--name table));
	is($rc, 0, 'update: table');
	like($out, qr/^name:\s+table$/m, 'update: the key shown');
}

###############################################################################

# rotate

{
	my ($rc, $out, $err) = $t->cli('keys', 'rotate', $more[1]{id}, '--json');
	is($rc, 0, 'rotate --json: exit 0') or diag($err);
	like($out, qr/^\{"raw":"sk-tr-[A-Za-z0-9_-]{43}","id":"\Q$more[1]{id}\E"/,
		'rotate --json: raw first');
	my $j = eval { JSON::PP->new->decode($out) } // {};
	isnt($j->{prefix}, $more[1]{prefix}, 'rotate: a new prefix');
	is($j->{name}, 'l2', 'rotate: same settings');
	is(chat($more[1]{raw})->{status}, 401, 'rotate: the old key stops');
	is(chat($j->{raw} // '')->{status}, 200, 'rotate: the new one works');
	cli_fails(1, qr/no such key/, 'keys', 'show', $more[1]{raw});
	is(cli_json('keys', 'show', $j->{prefix} // '', '--json')->{id},
		$more[1]{id}, 'rotate: show by the new prefix');
	cli_fails(1, qr/no key with prefix/, 'keys', 'show', $more[1]{prefix});

	($rc, $out, $err) = $t->cli('keys', 'rotate', $j->{raw} // '');
	is($rc, 0, 'rotate by raw key: table');
	like($out, qr/^sk-tr-\S+\n.*shown only once/s, 'rotate: the new key');
}

###############################################################################

# revoke, delete

my $rv = cli_json('keys', 'revoke', $more[2]{prefix}, '--json');
is($rv->{status}, 'revoked', 'revoke --json: status');
is($rv->{changed}, JSON::PP::true, 'revoke --json: changed');
$rv = cli_json('keys', 'revoke', $more[2]{id}, '--json');
is($rv->{changed}, JSON::PP::false, 'revoke again: not changed');
{
	my ($rc, $out) = $t->cli('keys', 'revoke', $more[2]{id});
	like($out, qr/was already revoked/, 'revoke again: table');
}
cli_fails(1, qr/is revoked/, 'keys', 'rotate', $more[2]{id});
is(cli_json(qw(keys list --status revoked --json))->[0]{id}, $more[2]{id},
	'list --status revoked');

my $dl = cli_json('keys', 'delete', $more[3]{id}, '--json');
is_deeply($dl, { id => $more[3]{id}, deleted => JSON::PP::true },
	'delete --json');
cli_fails(1, qr/no key with id/, 'keys', 'delete', $more[3]{id});
cli_fails(1, qr/no key with id/, 'keys', 'show', $more[3]{id});
is(chat($more[3]{raw})->{status}, 401, 'delete: the key is unknown');
ok(!$t->redis('EXISTS', "tr:keyid:$more[3]{id}")
	&& !defined $t->redis('ZSCORE', 'tr:keys', $more[3]{id})
	&& !defined $t->redis('HGET', 'tr:keypfx', $more[3]{prefix}),
	'delete: record and indexes gone');
{
	my ($rc, $out) = $t->cli('keys', 'delete', $more[0]{raw});
	is($rc, 0, 'delete by raw key');
	like($out, qr/^deleted \Q$more[0]{id}\E$/, 'delete: table');
}

###############################################################################

# the indexes of keys that predate them are made by a migration in
# batches (t/key_index.t): until it is done a prefix is refused, an id is
# not

$t->redis('DEL', 'tr:keypfx', 'tr:keys:ended', 'tr:keys:index');
{
	my ($rc, $out, $err) = $t->cli('keys', 'show', $k->{prefix});
	is($rc, 1, 'a key from before the prefix index: prefix refused');
	like($err, qr/keys reindex/, 'the refusal says to run keys reindex');
}
is(cli_json('keys', 'show', $k->{id}, '--json')->{id}, $k->{id},
	'a key from before the prefix index: found by id');
is(($t->cli('keys', 'reindex'))[0], 0, 'keys reindex');
is(cli_json('keys', 'show', $k->{prefix}, '--json')->{id}, $k->{id},
	'after keys reindex: found by prefix');
ok(defined $t->redis('ZSCORE', 'tr:keys:ended', $more[2]{id}),
	'a key revoked before the index: in the index of ended keys');

###############################################################################

done_testing();

###############################################################################
