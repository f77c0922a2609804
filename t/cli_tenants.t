#!/usr/bin/perl

# (C) tokenroute authors

# Tenants through the control script ctl_tenants.lua, as the CLI runs
# it: tenants create, show, update, list and delete; their settings and
# spend (spent, spent this period, reserved, remaining) in JSON and
# tables; exit status and messages.

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new(needs => [qw(redis cli)]);
$t->start_redis();

my $NUSD = 1000000000;

sub cli_json {
	my (@args) = @_;

	my ($rc, $out, $err) = $t->cli(@args);
	my $j = eval { JSON::PP->new->utf8->decode($out) };

	is($rc, 0, "@args: exit 0") or diag($err);
	ok(defined $j, "@args: prints JSON") or diag($out);

	return $j // {};
}

sub cli_fails {
	my ($want, $re, @args) = @_;

	my ($rc, $out, $err) = $t->cli(@args);
	is($rc, $want, "@args: exit $want") or diag($out . $err);
	like($err, $re, "@args: says why") if $re;
	is($out, '', "@args: nothing on stdout");
}

sub rec {
	my ($acct, $name) = @_;
	return { @{ $t->redis('HGETALL', "tr:tenant:$acct|$name") } };
}

my @FIELDS = sort qw(account name created_at limit_usd limit_nusd period
	period_id rpm tpm max_concurrent spent_usd spent_nusd period_spent_usd
	period_spent_nusd reserved_usd reserved_nusd remaining_usd
	remaining_nusd inflight);

###############################################################################

for my $args ([qw(tenants --help)], [qw(tenants create --help)],
	[qw(tenants show --help)], [qw(tenants update --help)],
	[qw(tenants list --help)], [qw(tenants delete --help)])
{
	my ($rc, $out, $err) = $t->cli(@$args);
	is($rc, 0, "@$args: exit 0") or diag($err);
	like($out, qr/usage/i, "@$args: usage on stdout");
}

###############################################################################

# create: the account must exist (default excepted)

cli_fails(1, qr/no such account: acme/, qw(tenants create acme web));
is($t->redis('EXISTS', 'tr:tenant:acme|web', 'tr:tenants:acme'), 0,
	'unknown account: nothing written');

cli_ok(qw(accounts create acme));

sub cli_ok {
	my (@args) = @_;
	my ($rc, $out, $err) = $t->cli(@args);
	is($rc, 0, "@args: exit 0") or diag($err);
	return $out;
}

my $t0 = int(time()) - 1;

{
	my $j = cli_json(qw(tenants create acme web --limit 5 --period day
		--rpm 60 --tpm 100000 --max-concurrent 4 --json));
	is_deeply([ sort keys %$j ], \@FIELDS, 'create --json: fields');
	is($j->{account}, 'acme', 'account');
	is($j->{name}, 'web', 'name');
	ok($j->{created_at} >= $t0 && $j->{created_at} <= time(), 'created_at');
	is($j->{limit_usd}, '5.00', 'limit_usd');
	is($j->{limit_nusd}, 5 * $NUSD, 'limit_nusd');
	is($j->{period}, 'day', 'period');
	is($j->{period_id}, 'd' . int(time() / 86400), 'period_id: today');
	is($j->{rpm}, 60, 'rpm');
	is($j->{tpm}, 100000, 'tpm');
	is($j->{max_concurrent}, 4, 'max_concurrent');
	is($j->{spent_nusd}, 0, 'spent 0');
	is($j->{period_spent_nusd}, 0, 'period_spent 0');
	is($j->{reserved_nusd}, 0, 'reserved 0');
	is($j->{remaining_nusd}, 5 * $NUSD, 'remaining: the limit');
	is($j->{inflight}, 0, 'inflight 0');

	my $r = rec('acme', 'web');
	is_deeply({ map { $_ => $r->{$_} } qw(name account limit period rpm
		tpm concurrency) }, { name => 'web', account => 'acme',
		limit => 5 * $NUSD, period => 'day', rpm => 60, tpm => 100000,
		concurrency => 4 }, 'the record, as schema11 says');
	is($t->redis('SISMEMBER', 'tr:tenants:acme', 'web'), 1,
		'in tr:tenants:acme');

	cli_fails(1, qr/tenant exists: web/, qw(tenants create acme web));

	$j = cli_json(qw(tenants create acme batch --json));
	is($j->{limit_usd}, undef, 'no limit: null');
	is($j->{remaining_usd}, undef, 'no limit: remaining null');
	is($j->{period}, undef, 'no period: null');
	is($j->{period_spent_usd}, undef, 'no period: period_spent null');
	is($j->{rpm}, undef, 'no rpm: null');

	$j = cli_json(qw(tenants create default agents --json));
	is($j->{account}, 'default', 'default: made on first use');
	is($t->redis('SISMEMBER', 'tr:accts', 'default'), 1, 'default listed');
}

# bad input: exit 2, nothing written

for my $args ([ 'acme', 'a|b' ], [ 'acme', 'a:b' ], [ 'acme', 'x' x 65 ],
	[ 'a b', 'w' ], [ qw(acme w --limit -1) ], [ qw(acme w --limit x) ],
	[ qw(acme w --period year) ], [ qw(acme w --rpm -1) ],
	[ qw(acme w --tpm 1.5) ], [ qw(acme w --max-concurrent x) ],
	[ qw(acme) ], [ ], [ qw(acme w extra) ], [ qw(acme w --bogus) ])
{
	cli_fails(2, undef, qw(tenants create), @$args);
}
is($t->redis('SCARD', 'tr:tenants:acme'), 2, 'bad input: no tenant made');

###############################################################################

# show and the spend: a period, the current one or an old one

{
	my $today = 'd' . int(time() / 86400);
	$t->redis('HSET', 'tr:tenant:acme|web', spent => 7 * $NUSD,
		pid => $today, pspent => 2 * $NUSD, reserved => 500000000,
		inflight => 2);

	my $j = cli_json(qw(tenants show acme web --json));
	is($j->{spent_usd}, '7.00', 'show: spent, lifetime');
	is($j->{period_spent_usd}, '2.00', 'show: spent this period');
	is($j->{reserved_usd}, '0.50', 'show: reserved');
	is($j->{remaining_usd}, '2.50',
		'show: remaining = limit - period spent - reserved');
	is($j->{inflight}, 2, 'show: inflight');

	$t->redis('HSET', 'tr:tenant:acme|web', pid => 'd1');
	$j = cli_json(qw(tenants show acme web --json));
	is($j->{period_spent_usd}, '0.00', 'an old period: nothing spent in this');
	is($j->{remaining_usd}, '4.50', 'an old period: limit - reserved');

	my $out = cli_ok(qw(tenants show acme web));
	like($out, qr/^TENANT\s+LIMIT\s+PERIOD\s+SPENT\s+PERIOD_SPENT\s+RESERVED
		\s+REMAINING\s+RPM\s+TPM\s+CONCURRENT\n
		web\s+5\.00\s+day\s+7\.00\s+0\.00\s+0\.50\s+4\.50\s+60\s+100000\s+4
		\n$/x, 'show: a table') or diag($out);

	cli_fails(1, qr/no such tenant: nope in account acme/,
		qw(tenants show acme nope));
	cli_fails(1, qr/no such tenant/, qw(tenants show zz web));
}

###############################################################################

# update: the settings given, none clears

{
	my $j = cli_json(qw(tenants update acme web --limit 20 --period month
		--rpm none --json));
	is($j->{limit_usd}, '20.00', 'update: limit');
	is($j->{period}, 'month', 'update: period');
	like($j->{period_id}, qr/^m\d{6}$/, 'update: a month\'s period id');
	is($j->{rpm}, undef, 'update: rpm none clears');
	is($j->{tpm}, 100000, 'update: tpm kept');
	is($j->{period_spent_nusd}, 0, 'a new period kind counts from 0');
	is($j->{spent_nusd}, 7 * $NUSD, 'update: spent kept');

	$j = cli_json(qw(tenants update acme web --limit none --period none
		--max-concurrent 0 --json));
	is($j->{limit_usd}, undef, 'limit none: cleared');
	is($j->{period}, undef, 'period none: cleared');
	is($j->{max_concurrent}, undef, 'max-concurrent 0: cleared');
	is($j->{remaining_usd}, undef, 'no limit: remaining null');
	is(rec('acme', 'web')->{limit}, '', 'the record: limit ""');

	cli_fails(2, qr/nothing to update/, qw(tenants update acme web));
	cli_fails(2, qr/--limit/, qw(tenants update acme web --limit -5));
	cli_fails(1, qr/no such tenant/, qw(tenants update acme nope --rpm 1));
	is($t->redis('EXISTS', 'tr:tenant:acme|nope'), 0,
		'update of no tenant: nothing made');
}

###############################################################################

# list

{
	my $l = cli_json(qw(tenants list acme --json));
	is_deeply([ map { $_->{name} } @$l ], [ qw(batch web) ],
		'list: sorted by name');
	is_deeply($l->[1], cli_json(qw(tenants show acme web --json)),
		'list: the objects of show');

	my $out = cli_ok(qw(tenants list acme));
	is(scalar(() = $out =~ /\n/g), 3, 'list: header + 2 rows');

	cli_ok(qw(accounts create zeta));
	is_deeply(cli_json(qw(tenants list zeta --json)), [],
		'list of an account without tenants');
	cli_fails(1, qr/no such account: zz/, qw(tenants list zz));
	cli_fails(2, qr/missing ACCOUNT/, qw(tenants list));
}

###############################################################################

# delete: refused while usable keys or requests in flight have it

{
	my $k = $t->create_key(name => 'k', account => 'acme', fund => 0);
	my $hash = $t->redis('GET', "tr:keyid:$k->{id}");
	cli_ok('keys', 'update', $k->{id}, '--tenant', 'batch');

	cli_fails(1, qr/1 usable key/, qw(tenants delete acme batch));
	is($t->redis('SISMEMBER', 'tr:tenants:acme', 'batch'), 1,
		'refused: the tenant stays');

	$t->redis('HSET', "tr:key:$hash", revoked => 1);
	$t->redis('HSET', 'tr:tenant:acme|batch', inflight => 1);
	cli_fails(1, qr/in flight/, qw(tenants delete acme batch));
	$t->redis('HSET', 'tr:tenant:acme|batch', inflight => 0);

	my $j = cli_json(qw(tenants delete acme batch --json));
	is_deeply($j, { account => 'acme', name => 'batch',
		deleted => JSON::PP::true }, 'delete --json');
	is($t->redis('EXISTS', 'tr:tenant:acme|batch'), 0, 'record gone');
	is($t->redis('SISMEMBER', 'tr:tenants:acme', 'batch'), 0, 'unlisted');

	cli_fails(1, qr/in flight/, qw(tenants delete acme web));
	$t->redis('HSET', 'tr:tenant:acme|web', reserved => 0, inflight => 0);
	my $out = cli_ok(qw(tenants delete acme web));
	is($out, "deleted tenant web of account acme\n", 'delete: one line');
	cli_fails(1, qr/no such tenant/, qw(tenants delete acme web));
}

###############################################################################

done_testing();

###############################################################################
