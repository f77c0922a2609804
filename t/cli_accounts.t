#!/usr/bin/perl

# (C) tokenroute authors

# Accounts and their credit through the control script ctl_accounts.lua,
# as the CLI runs it: accounts create, show and list; credit add (no
# account made by a typo, --create, idempotency keys, concurrent retries),
# credit adjust (the hard ceiling kept), credit history (the ledger: its
# order, fields, actor and pages); exit status and messages.  The script
# is also run directly, as the admin API runs it, with another actor.

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

sub acct {
	my ($name) = @_;
	return { @{ $t->redis('HGETALL', "tr:acct:$name") } };
}

sub ledger {
	my ($name) = @_;
	return [ map { JSON::PP->new->decode($_) }
		@{ $t->redis('LRANGE', "tr:ledger:$name", 0, -1) } ];
}

###############################################################################

# --help everywhere

for my $args ([qw(accounts --help)], [qw(accounts show --help)],
	[qw(accounts list --help)], [qw(credit adjust --help)],
	[qw(credit history --help)], [qw(credit add --help)])
{
	my ($rc, $out, $err) = $t->cli(@$args);
	is($rc, 0, "@$args: exit 0") or diag($err);
	like($out, qr/usage/i, "@$args: usage on stdout");
}

like(($t->cli(qw(credit add --help)))[1], qr/--idempotency-key/,
	'credit add --help: --idempotency-key');

###############################################################################

# no account is created by a typo

cli_fails(1, qr/no such account: acmee/,
	qw(credit add --account acmee --amount 5));
is($t->redis('EXISTS', 'tr:acct:acmee', 'tr:ledger:acmee'), 0,
	'credit add, unknown account: nothing written');
is($t->redis('SISMEMBER', 'tr:accts', 'acmee'), 0,
	'credit add, unknown account: not listed');

cli_fails(1, qr/no such account: acmee/,
	qw(credit adjust --account acmee --amount 5 --reason x));
cli_fails(1, qr/no such account: acmee/,
	qw(credit history --account acmee));
cli_fails(1, qr/no such account: acmee/, qw(accounts show acmee));

# --create makes it; default springs into existence

my $t0 = int(time()) - 1;
{
	my $j = cli_json(qw(credit add --account newco --amount 2 --create
		--json));
	is($j->{credit_nusd}, 2 * $NUSD, 'credit add --create: the credit');
	ok(($j->{created_at} // 0) >= $t0 && $j->{created_at} <= time(),
		'credit add --create: created_at now');
	is($t->redis('SISMEMBER', 'tr:accts', 'newco'), 1,
		'credit add --create: listed');
	is($j->{entry}{kind}, 'add', 'credit add --json: its ledger entry');

	$j = cli_json(qw(credit add --account default --amount 1 --json));
	is($j->{credit_nusd}, $NUSD, 'credit add: default made on first use');
	is($t->redis('SISMEMBER', 'tr:accts', 'default'), 1,
		'default: listed');
}

###############################################################################

# accounts create, show, list

{
	my $j = cli_json(qw(accounts create acme --json));
	is($j->{account}, 'acme', 'accounts create --json: account');
	is($j->{credit_nusd}, 0, 'accounts create: no credit');
	ok($j->{created_at} >= $t0, 'accounts create: created_at');

	cli_fails(1, qr/account exists: acme/, qw(accounts create acme));
	cli_fails(2, qr/--name/, qw(accounts create), 'a b');
	cli_fails(2, qr/missing NAME/, qw(accounts create));

	my ($rc, $out) = $t->cli(qw(accounts create zeta));
	is($out, "created account zeta\n", 'accounts create: one line');

	my $s = cli_json(qw(accounts show acme --json));
	is_deeply($s, $j, 'accounts show --json: as created');

	($rc, $out) = $t->cli(qw(accounts show acme));
	like($out, qr/^ACCOUNT\s+CREDIT\s+RESERVED\s+AVAILABLE\s+SPENT\s+ADDED
		\s+CREATED\n acme\s+0\.00\s+0\.00\s+0\.00\s+0\.00\s+0\.00\s+
		\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$/x, 'accounts show: a table')
		or diag($out);

	my $l = cli_json(qw(accounts list --json));
	is_deeply([ map { $_->{account} } @$l ],
		[ qw(acme default newco zeta) ], 'accounts list: sorted');
	is_deeply($l->[0], $j, 'accounts list: the same objects');

	($rc, $out) = $t->cli(qw(accounts list));
	is(scalar(() = $out =~ /\n/g), 5, 'accounts list: header + 4 rows');

	cli_fails(2, qr/unexpected argument/, qw(accounts list x));
	cli_fails(2, qr/unknown accounts command/, qw(accounts bogus));
}

###############################################################################

# credit add: the ledger, idempotency keys

{
	my $j = cli_json(qw(credit add --account acme --amount 10.5
		--reason), 'first top-up', qw(--idempotency-key tu-1 --json));
	is($j->{credit_usd}, '10.50', 'credit add: the new credit');
	my $e = $j->{entry};
	is_deeply([ sort keys %$e ], [ sort qw(seq at account kind amount_usd
		amount_nusd balance_usd balance_nusd reason actor
		idempotency_key) ], 'ledger entry: fields');
	is($e->{seq}, 1, 'entry: seq 1');
	is($e->{kind}, 'add', 'entry: kind');
	is($e->{amount_nusd}, 10.5 * $NUSD, 'entry: amount_nusd');
	is($e->{amount_usd}, '10.50', 'entry: amount_usd');
	is($e->{balance_nusd}, 10.5 * $NUSD, 'entry: balance after');
	is($e->{reason}, 'first top-up', 'entry: reason');
	is($e->{actor}, 'cli', 'entry: actor cli');
	is($e->{idempotency_key}, 'tu-1', 'entry: idempotency key');
	ok($e->{at} >= $t0 && $e->{at} <= time(), 'entry: at, now');
	is_deeply(ledger('acme'), [ $e ], 'tr:ledger:acme holds the entry');

	# the retry: the first answer, nothing added
	my ($rc, $out, $err) = $t->cli(qw(credit add --account acme --amount
		10.5 --reason), 'first top-up', qw(--idempotency-key tu-1 --json));
	is($rc, 0, 'credit add retried: exit 0') or diag($err);
	is_deeply(JSON::PP->new->decode($out), $j,
		'credit add retried: the first answer, same entry');
	is(acct('acme')->{credit}, 10.5 * $NUSD, 'retried: added once');
	is(scalar @{ ledger('acme') }, 1, 'retried: one ledger entry');

	cli_fails(1, qr/idempotency_key tu-1 was used/,
		qw(credit add --account acme --amount 11 --idempotency-key tu-1));
	cli_fails(1, qr/idempotency_key tu-1 was used/,
		qw(credit add --account zeta --amount 10.5 --idempotency-key tu-1));
	is(acct('acme')->{credit}, 10.5 * $NUSD, 'another amount: 409, no add');

	my $ttl = $t->redis('TTL', 'tr:idem:tu-1');
	ok($ttl > 7 * 86400 - 60 && $ttl <= 7 * 86400,
		'the idempotency key is kept 7 days') or diag($ttl);

	($rc, $out) = $t->cli(qw(credit add --account acme --amount 0.5));
	is($out, "account acme: credit 11.00 USD (available 11.00, reserved "
		. "0.00, spent 0.00)\n", 'credit add: the line as before');
	is(ledger('acme')->[1]{reason}, undef, 'no reason: null');
	is(ledger('acme')->[1]{idempotency_key}, undef, 'no key: null');
}

# bad input: exit 2, nothing written

{
	my $before = acct('acme');
	for my $args ([qw(--amount 0)], [qw(--amount -1)], [qw(--amount x)],
		[qw(--amount 1 --idempotency-key), 'a b'],
		[qw(--amount 1 --idempotency-key), 'x' x 129],
		[qw(--amount 1 --reason), "a\nb"],
		[qw(--amount 1 --reason), 'x' x 501])
	{
		cli_fails(2, undef, qw(credit add --account acme), @$args);
	}
	cli_fails(2, qr/--account/, qw(credit add --amount 1));
	cli_fails(2, qr/--amount/, qw(credit add --account acme));
	# above what the scripts hold exactly: said so, not "at most 9
	# decimals"
	cli_fails(2, qr/--amount: at most 9007199\.254740991 USD: 10000000$/m,
		qw(credit add --account acme --amount 10000000));
	cli_fails(2, qr/--amount: at most 9007199\.254740991 USD/,
		qw(credit add --account acme --amount 9007199.254740992));
	is_deeply(acct('acme'), $before, 'bad input: acme unchanged');
	is(scalar @{ ledger('acme') }, 2, 'bad input: no entry');
}

###############################################################################

# credit adjust: signed, a reason, the hard ceiling

{
	cli_fails(2, qr/--reason/,
		qw(credit adjust --account acme --amount -1));
	cli_fails(2, qr/--amount/,
		qw(credit adjust --account acme --amount 0 --reason r));

	my $j = cli_json(qw(credit adjust --account acme --amount -1.50
		--reason refund --json));
	is($j->{credit_usd}, '9.50', 'credit adjust -1.50: the credit');
	is($j->{added_usd}, '9.50', 'credit adjust: added net of it');
	is($j->{entry}{kind}, 'adjust', 'adjust: kind');
	is($j->{entry}{amount_nusd}, -1.5 * $NUSD, 'adjust: signed amount');
	is($j->{entry}{amount_usd}, '-1.50', 'adjust: amount_usd');
	is($j->{entry}{balance_nusd}, 9.5 * $NUSD, 'adjust: balance after');
	is($j->{entry}{reason}, 'refund', 'adjust: reason');

	$j = cli_json(qw(credit adjust --account acme --amount 0.25 --reason
		goodwill --json));
	is($j->{credit_usd}, '9.75', 'credit adjust +0.25');

	# requests in flight hold 9: at most 0.75 may be taken away
	$t->redis('HSET', 'tr:acct:acme', 'reserved', 9 * $NUSD);
	cli_fails(1, qr/available: 0\.75 USD/,
		qw(credit adjust --account acme --amount -0.76 --reason r));
	is(acct('acme')->{credit}, 9.75 * $NUSD, 'over the ceiling: no change');
	$j = cli_json(qw(credit adjust --account acme --amount -0.75 --reason
		r --json));
	is($j->{available_nusd}, 0, 'exactly the available: allowed');
	$t->redis('HSET', 'tr:acct:acme', 'reserved', 0);

	my ($rc, $out) = $t->cli(qw(credit adjust --account acme --amount
		1 --reason x));
	like($out, qr/^account acme: credit 10\.00 USD/, 'adjust: one line');
}

###############################################################################

# credit history: newest first, pages, table

{
	my $h = cli_json(qw(credit history --account acme --json));
	is($h->{account}, 'acme', 'history: account');
	is_deeply([ map { $_->{seq} } @{ $h->{entries} } ], [ 6, 5, 4, 3, 2, 1 ],
		'history: newest first');
	is_deeply([ map { $_->{kind} } @{ $h->{entries} } ],
		[ qw(adjust adjust adjust adjust add add) ], 'history: kinds');
	is_deeply([ map { $_->{amount_usd} } @{ $h->{entries} } ],
		[ qw(1.00 -0.75 0.25 -1.50 0.50 10.50) ], 'history: amounts');
	is_deeply([ map { $_->{balance_usd} } @{ $h->{entries} } ],
		[ qw(10.00 9.00 9.75 9.50 11.00 10.50) ], 'history: balances');
	is_deeply([ reverse @{ $h->{entries} } ], ledger('acme'),
		'history: the ledger\'s entries');
	is($h->{next_cursor}, undef, 'history: one page');

	my $p = cli_json(qw(credit history --account acme --limit 4 --json));
	is_deeply([ map { $_->{seq} } @{ $p->{entries} } ], [ 6, 5, 4, 3 ],
		'history --limit 4');
	is($p->{next_cursor}, '3', 'history --limit 4: next_cursor');
	$p = cli_json(qw(credit history --account acme --limit 4 --cursor 3
		--json));
	is_deeply([ map { $_->{seq} } @{ $p->{entries} } ], [ 2, 1 ],
		'history --cursor: the rest');
	is($p->{next_cursor}, undef, 'history --cursor: the last page');

	my ($rc, $out) = $t->cli(qw(credit history --account acme));
	my @l = split /\n/, $out;
	like($l[0], qr/^TIME\s+KIND\s+AMOUNT\s+BALANCE\s+ACTOR\s+REASON$/,
		'history: table header');
	like($l[1], qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+adjust\s+1\.00\s+
		10\.00\s+cli\s+x$/x, 'history: newest row');
	is(scalar @l, 7, 'history: a row per entry');

	cli_fails(2, qr/--limit: 1 to 1000/,
		qw(credit history --account acme --limit 0));
	cli_fails(2, qr/--limit: 1 to 1000/,
		qw(credit history --account acme --limit x));
	cli_fails(2, qr/--cursor/,
		qw(credit history --account acme --cursor x));

	$h = cli_json(qw(credit history --account zeta --json));
	is_deeply($h->{entries}, [], 'history: none yet');
}

###############################################################################

# the admin API's way in: the script itself, another actor

{
	my $lua = $t->script_text('ctl_accounts');
	my $now = int(time());

	my $doc = $t->redis('EVAL', $lua, 0, 'credit_add', $now, 'admin:ops',
		name => 'zeta', amount => '3', reason => 'invoice 7');
	my $j = JSON::PP->new->decode($doc);
	is($j->{entry}{actor}, 'admin:ops', 'the actor of an admin key');
	is($j->{entry}{at}, $now, 'at: the time given');

	my $err = eval { $t->redis('EVAL', $lua, 0, 'credit_add', $now, 'cli',
		name => 'zeta', amount => '3', bogus => 1); 1 } ? '' : $@;
	like($err, qr/400 invalid_request bogus: unknown parameter/,
		'unknown parameter: 400');

	$err = eval { $t->redis('EVAL', $lua, 0, 'show', $now, 'cli',
		name => 'nope'); 1 } ? '' : $@;
	like($err, qr/404 not_found no such account: nope/, 'show: 404');
}

###############################################################################

# two identical top-ups at once: added once

{
	my $ok = 1;
	for my $round (1 .. 10) {
		my @pids;
		for my $i (1 .. 2) {
			my $pid = fork() // die "fork: $!";
			if ($pid == 0) {
				my ($rc) = $t->cli(qw(credit add --account zeta --amount 1
					--idempotency-key), "race-$round");
				exit($rc);
			}
			push @pids, $pid;
		}
		for my $pid (@pids) {
			waitpid($pid, 0);
			$ok = 0 if $? != 0;
		}
	}
	ok($ok, 'concurrent retries: every one exits 0');
	is(acct('zeta')->{credit}, 13 * $NUSD,
		'10 pairs of concurrent retries: 10 USD added, not 20');
	is(scalar(grep { $_->{kind} eq 'add' } @{ ledger('zeta') }), 11,
		'one ledger entry per key');
}

###############################################################################

# a damaged record: the list warns and goes on, show fails

{
	$t->redis('HSET', 'tr:acct:broken', 'credit', 'abc');
	$t->redis('SADD', 'tr:accts', 'broken');

	my ($rc, $out, $err) = $t->cli(qw(accounts list));
	is($rc, 0, 'accounts list, a malformed record: exit 0');
	like($err, qr/broken/, 'accounts list, a malformed record: warning');
	unlike($out, qr/broken/, 'a malformed record: not in the table');

	cli_fails(1, qr/malformed/, qw(accounts show broken));
	cli_fails(1, qr/malformed/,
		qw(credit add --account broken --amount 1));
	is(acct('broken')->{credit}, 'abc', 'malformed: untouched');
}

###############################################################################

done_testing();

###############################################################################
