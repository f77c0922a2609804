#!/usr/bin/perl

# (C) tokenroute authors

# Tests for the money commands of the tokenroute CLI: credit add and credit
# show, the spend of keys in keys list and keys show, and the usage report
# over the tr:u:d:* and tr:u:h:* hashes; exact nano-USD amounts, output
# formats, exit status.

###############################################################################

use warnings;
use strict;

use IO::Socket::INET;
use JSON::PP;
use POSIX qw(strftime);
use Test::More;
use Time::HiRes qw(time sleep);

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

	return $j;
}

sub cli_ok {
	my (@args) = @_;

	my ($rc, $out, $err) = $t->cli(@args);
	is($rc, 0, "@args: exit 0") or diag($err);

	return ($out, $err);
}

# nano-USD as the CLI prints USD: 2 to 9 decimals, trailing zeros trimmed

sub usd {
	my ($n) = @_;

	use integer;

	my $sign = $n < 0 ? '-' : '';
	$n = -$n if $n < 0;

	my $s = sprintf('%s%d.%09d', $sign, $n / 1000000000, $n % 1000000000);
	$s =~ s/0+$//;
	my $decimals = length(($s =~ /\.(\d*)$/)[0]);
	$s .= '0' x (2 - $decimals) if $decimals < 2;

	return $s;
}

# the text of tr_cli_table_print(): columns 2 spaces apart, none trailing

sub table {
	my (@rows) = @_;

	my @w;
	for my $r (@rows) {
		for my $i (0 .. $#$r) {
			$w[$i] = length $r->[$i]
				if !defined $w[$i] || length $r->[$i] > $w[$i];
		}
	}

	my $s = '';
	for my $r (@rows) {
		my @c = @$r;
		my $last = pop @c;
		$s .= join('', map { sprintf('%-*s', $w[$_] + 2, $c[$_]) } 0 .. $#c)
			. "$last\n";
	}

	return $s;
}

# nano-USD with exactly 9 decimals, as the usage table prints them

sub usd9 {
	my ($n) = @_;

	use integer;

	return sprintf('%s%d.%09d', $n < 0 ? '-' : '', abs($n) / 1000000000,
		abs($n) % 1000000000);
}

# the usage table: the first $left columns left-aligned, the numbers
# right-aligned, columns 2 spaces apart, none trailing

sub table_right {
	my ($left, @rows) = @_;

	my @w;
	for my $r (@rows) {
		for my $i (0 .. $#$r) {
			$w[$i] = length $r->[$i]
				if !defined $w[$i] || length $r->[$i] > $w[$i];
		}
	}

	my $s = '';
	for my $r (@rows) {
		my @c = map { $_ < $left ? sprintf('%-*s', $w[$_], $r->[$_])
			: sprintf('%*s', $w[$_], $r->[$_]) } 0 .. $#$r;
		my $line = join('  ', @c);
		$line =~ s/ +$//;
		$s .= "$line\n";
	}

	return $s;
}

sub acct {
	my ($name) = @_;
	return { @{ $t->redis('HGETALL', "tr:acct:$name") } };
}

is(usd(0), '0.00', 'usd() helper: 0');
is(usd(12500000000), '12.50', 'usd() helper: 12.50');
is(usd(1234), '0.000001234', 'usd() helper: nano');
is(usd(-250000000), '-0.25', 'usd() helper: negative');
is(usd9(5000000007), '5.000000007', 'usd9() helper');
is(usd9(0), '0.000000000', 'usd9() helper: 0');

###############################################################################

# --help on every new command, and in the command list

for my $args ([qw(credit --help)], [qw(credit add --help)],
	[qw(credit show --help)], [qw(usage --help)], [qw(usage -h)])
{
	my ($rc, $out, $err) = $t->cli(@$args);
	is($rc, 0, "@$args: exit 0") or diag($err);
	like($out, qr/usage/i, "@$args: usage on stdout");
}

{
	my ($out) = cli_ok('--help');
	like($out, qr/credit add/, '--help: lists credit add');
	like($out, qr/credit show/, '--help: lists credit show');
	like($out, qr/^\s+usage\s/m, '--help: lists usage');

	($out) = cli_ok(qw(usage --help));
	like($out, qr/--by model\|key\|account\|tenant\|day\|hour/,
		'usage --help: --by');
	like($out, qr/--since WHEN/, 'usage --help: --since');
	like($out, qr/--format table\|json\|csv/, 'usage --help: --format');

	($out) = cli_ok(qw(keys list --help));
	like($out, qr/SPENT/, 'keys list --help: SPENT');
	like($out, qr/REMAINING/, 'keys list --help: REMAINING');
}

###############################################################################

# credit add

{
	# issue 11: no account is made by a typo; --create makes one
	my ($out) = cli_ok(qw(credit add --account acme --amount 12.50
		--create));
	is($out, "account acme: credit 12.50 USD (available 12.50, reserved "
		. "0.00, spent 0.00)\n", 'credit add: the new balance');

	my $a = acct('acme');
	is($a->{credit}, '12500000000', 'credit add: redis credit in nano-USD');
	is($a->{added}, '12500000000', 'credit add: redis added');
	is($t->redis('SISMEMBER', 'tr:accts', 'acme'), 1,
		'credit add: account in tr:accts');
}

# issue 11: the account's created_at, and the ledger entry of the addition
my $ADD_FIELDS = [ sort 'created_at', 'entry',
	map { ("${_}_usd", "${_}_nusd") } qw(credit reserved available spent
	added) ];

{
	my $j = cli_json(qw(credit add --account acme --amount 0.000001234
		--json)) // {};

	is_deeply([ sort grep { $_ ne 'account' } keys %$j ], $ADD_FIELDS,
		'credit add --json: fields');
	is($j->{account}, 'acme', 'credit add --json: account');
	is($j->{credit_usd}, '12.500001234', 'credit add --json: credit_usd');
	is($j->{credit_nusd}, 12500001234, 'credit add --json: credit_nusd');
	is($j->{added_nusd}, 12500001234, 'credit add --json: added_nusd');
	is($j->{available_nusd}, 12500001234, 'credit add --json: available');
	is($j->{reserved_usd}, '0.00', 'credit add --json: reserved_usd 0.00');
	is($j->{spent_nusd}, 0, 'credit add --json: spent 0');
}

# the gateway reserves and charges; the CLI only adds

$t->redis('HSET', 'tr:acct:acme', 'reserved', 250000000, 'spent',
	3000000000);
$t->redis('HINCRBY', 'tr:acct:acme', 'credit', -3000000000);

{
	my ($out) = cli_ok(qw(credit add --account acme --amount $3.5));
	is($out, "account acme: credit 13.000001234 USD (available "
		. "12.750001234, reserved 0.25, spent 3.00)\n",
		'credit add $3.5: available = credit - reserved');

	my $a = acct('acme');
	is($a->{credit}, '13000001234', 'credit add $3.5: redis credit');
	is($a->{added}, '16000001234', 'credit add $3.5: redis added');
	is($a->{reserved}, '250000000', 'credit add: reserved untouched');
	is($a->{spent}, '3000000000', 'credit add: spent untouched');
}

{
	my $j = cli_json(qw(credit add --account tiny --amount 0.000000001
		--create --json)) // {};
	is($j->{credit_usd}, '0.000000001', 'credit add 1 nano-USD: usd');
	is($j->{credit_nusd}, 1, 'credit add 1 nano-USD: nusd');
}

# bad amounts and accounts: exit 2, nothing written

{
	my $before = acct('acme');
	my $naccts = $t->redis('SCARD', 'tr:accts');

	for my $args ([qw(credit add --account acme --amount 0)],
		[qw(credit add --account acme --amount 0.0)],
		[qw(credit add --account acme --amount -1)],
		[qw(credit add --account acme --amount abc)],
		[qw(credit add --account acme --amount 1e3)],
		[qw(credit add --account acme --amount 1.0000000001)],
		[qw(credit add --account acme --amount 1.)],
		[qw(credit add --account acme --amount), ''],
		[qw(credit add --account acme --amount 99999999999)],
		[qw(credit add --account acme)],
		[qw(credit add --amount 5)],
		[qw(credit add --account), 'a b', qw(--amount 5)],
		[qw(credit add --account a|b --amount 5)],
		[qw(credit add --account acme --amount 5 --bogus)],
		[qw(credit add --account acme --amount 5 extra)],
		[qw(credit add --account acme --amount)],
		[qw(credit)], [qw(credit bogus)], [qw(credit show --bogus)],
		[qw(credit show --account), 'no way'])
	{
		my ($rc, $out, $err) = $t->cli(@$args);
		is($rc, 2, "usage error: '@$args': exit 2") or diag($out . $err);
		ok(length $err, "usage error: '@$args': message on stderr");
	}

	is_deeply(acct('acme'), $before, 'usage errors: acme unchanged');
	is($t->redis('SCARD', 'tr:accts'), $naccts,
		'usage errors: no account added');
}

# an overflowing add fails as a whole

{
	$t->redis('HSET', 'tr:acct:full', 'credit', 5, 'added',
		'9223372036854775000');

	my ($rc, $out, $err) = $t->cli(qw(credit add --account full --amount 1
		--create));
	is($rc, 1, 'credit add overflow: exit 1') or diag($out . $err);
	like($err, qr/overflow/, 'credit add overflow: says why');
	is_deeply(acct('full'), { credit => 5, added => '9223372036854775000' },
		'credit add overflow: nothing changed');
	is($t->redis('SISMEMBER', 'tr:accts', 'full'), 0,
		'credit add overflow: not listed');
}

###############################################################################

# credit show

# keys create lists its account with zero credit (the harness would fund
# it otherwise)

my $kbeta = $t->create_key(name => 'beta-key', account => 'beta',
	limit => '10', fund => 0);

is($t->redis('SISMEMBER', 'tr:accts', 'beta'), 1,
	'keys create: account in tr:accts');
is($t->redis('EXISTS', 'tr:acct:beta'), 0, 'keys create: no tr:acct record');

$t->create_key(name => 'default-key', fund => 0);
is($t->redis('SISMEMBER', 'tr:accts', 'default'), 1,
	'keys create: the default account is listed');

# a record with every field, and one with none but credit

$t->redis('HSET', 'tr:acct:zed', 'credit', '-500000000', 'reserved', 7,
	'spent', 1500000000, 'added', 1000000000);
$t->redis('SADD', 'tr:accts', 'zed');
$t->redis('HSET', 'tr:acct:onlycredit', 'credit', 42);
$t->redis('SADD', 'tr:accts', 'onlycredit');

my %ACCTS = (
	acme => [ 13000001234, 250000000, 3000000000, 16000001234 ],
	beta => [ 0, 0, 0, 0 ],
	default => [ 0, 0, 0, 0 ],
	onlycredit => [ 42, 0, 0, 0 ],
	tiny => [ 1, 0, 0, 1 ],
	zed => [ -500000000, 7, 1500000000, 1000000000 ],
);

sub acct_json {
	my ($name) = @_;

	my ($credit, $reserved, $spent, $added) = @{ $ACCTS{$name} };
	my $avail = $credit - $reserved;

	return {
		account => $name,
		credit_usd => usd($credit), credit_nusd => $credit,
		reserved_usd => usd($reserved), reserved_nusd => $reserved,
		available_usd => usd($avail), available_nusd => $avail,
		spent_usd => usd($spent), spent_nusd => $spent,
		added_usd => usd($added), added_nusd => $added,
	};
}

# an account object (or a list) without created_at, which acct_json()
# does not know
sub uncreated {
	my ($j) = @_;
	return [ map { uncreated($_) } @$j ] if ref $j eq 'ARRAY';
	my %o = %{ $j // {} };
	delete $o{created_at};
	return \%o;
}

sub acct_row {
	my ($name) = @_;

	my ($credit, $reserved, $spent, $added) = @{ $ACCTS{$name} };
	return [ $name, usd($credit), usd($reserved), usd($credit - $reserved),
		usd($spent), usd($added) ];
}

my @HDR_ACCT = qw(ACCOUNT CREDIT RESERVED AVAILABLE SPENT ADDED);

{
	my ($out) = cli_ok(qw(credit show));
	is($out, table(\@HDR_ACCT, map { acct_row($_) } sort keys %ACCTS),
		'credit show: table of every account, sorted')
		or diag($out);

	like($out, qr/^acme \s+ 13\.000001234 \s+ 0\.25 \s+ 12\.750001234
		\s+ 3\.00 \s+ 16\.000001234$/mx,
		'credit show: acme, nano precision');
	like($out, qr/^zed \s+ -0\.50 \s+ 0\.000000007 \s+ -0\.500000007
		\s+ 1\.50 \s+ 1\.00$/mx,
		'credit show: negative credit');

	my $j = cli_json(qw(credit show --json));
	is_deeply([ map { $_->{account} } grep { defined $_->{created_at} } @$j ],
		[ qw(acme tiny) ], 'credit show --json: created_at of the '
		. 'accounts credit add --create made (issue 11)');
	is_deeply(uncreated($j), [ map { acct_json($_) } sort keys %ACCTS ],
		'credit show --json: every account, exact');

	($out) = cli_ok(qw(credit show --account acme));
	is($out, table(\@HDR_ACCT, acct_row('acme')),
		'credit show --account: one row');

	$j = cli_json(qw(credit show --account acme --json));
	is_deeply(uncreated($j), acct_json('acme'),
		'credit show --account --json: object');

	$j = cli_json(qw(credit show --account beta --json));
	is_deeply(uncreated($j), acct_json('beta'),
		'credit show --account: a key\'s account, all zero');
}

{
	my ($rc, $out, $err) = $t->cli(qw(credit show --account nope));
	is($rc, 1, 'credit show unknown account: exit 1') or diag($out . $err);
	like($err, qr/no such account: nope/,
		'credit show unknown account: message');
	is($out, '', 'credit show unknown account: no output');
}

{
	# charged by the gateway before anyone listed it
	$t->redis('HSET', 'tr:acct:unlisted', 'spent', 5);
	my $j = cli_json(qw(credit show --account unlisted --json)) // {};
	is($j->{spent_nusd}, 5, 'credit show: a record not in tr:accts');
	$t->redis('DEL', 'tr:acct:unlisted');
}

{
	$t->redis('HSET', 'tr:acct:broken', 'credit', 'abc');
	$t->redis('SADD', 'tr:accts', 'broken');

	my ($rc, $out, $err) = $t->cli(qw(credit show));
	is($rc, 0, 'credit show, a malformed record: exit 0') or diag($err);
	like($err, qr/broken/, 'credit show, a malformed record: warning');
	unlike($out, qr/broken/, 'credit show, a malformed record: skipped');

	($rc, $out, $err) = $t->cli(qw(credit show --account broken));
	is($rc, 1, 'credit show --account malformed: exit 1');

	$t->redis('DEL', 'tr:acct:broken');
	$t->redis('SREM', 'tr:accts', 'broken');
}

###############################################################################

# keys list and keys show: spent, reserved, remaining

my $klim = $t->create_key(name => 'limited', account => 'acme',
	limit => '10', fund => 0);
my $kfree = $t->create_key(name => 'unlimited', account => 'acme', fund => 0);
my $kover = $t->create_key(name => 'over', account => 'acme',
	limit => '1', fund => 0);

sub key_hset {
	my ($k, @kv) = @_;
	my $hash = $t->redis('GET', "tr:keyid:$k->{id}");
	$t->redis('HSET', "tr:key:$hash", @kv);
}

key_hset($klim, spent => 2500000001, reserved => 1000);
key_hset($kfree, spent => 1234);
key_hset($kover, spent => 1250000000, reserved => 250000000);

# issue 11 added tenant, period, the rate limits, the period's spend and
# revoked_at
my @KEY_FIELDS = sort qw(id name account prefix models limit_usd expires_at
	created_at revoked status spent_usd reserved_usd remaining_usd
	spent_nusd reserved_nusd remaining_nusd tenant period rpm tpm
	max_concurrent period_spent_usd period_spent_nusd revoked_at);

{
	my $list = cli_json(qw(keys list --account acme --json)) // [];
	my %by = map { $_->{name} => $_ } @$list;

	is_deeply([ sort keys %{ $by{limited} // {} } ], \@KEY_FIELDS,
		'keys list --json: fields');

	my $l = $by{limited} // {};
	is($l->{limit_usd}, '10.00', 'keys list --json: limit kept');
	is($l->{spent_usd}, '2.500000001', 'keys list --json: spent_usd');
	is($l->{spent_nusd}, 2500000001, 'keys list --json: spent_nusd');
	is($l->{reserved_usd}, '0.000001', 'keys list --json: reserved_usd');
	is($l->{reserved_nusd}, 1000, 'keys list --json: reserved_nusd');
	is($l->{remaining_usd}, '7.499998999',
		'keys list --json: remaining = limit - spent - reserved');
	is($l->{remaining_nusd}, 7499998999, 'keys list --json: remaining_nusd');
	is($l->{status}, 'active', 'keys list --json: status kept');

	my $f = $by{unlimited} // {};
	is($f->{spent_usd}, '0.000001234', 'keys list --json: no limit, spent');
	is($f->{reserved_usd}, '0.00', 'keys list --json: reserved missing = 0');
	ok(exists $f->{remaining_usd} && !defined $f->{remaining_usd},
		'keys list --json: remaining_usd null without a limit');

	my $o = $by{over} // {};
	is($o->{remaining_usd}, '-0.50', 'keys list --json: overspent remaining');
	is($o->{remaining_nusd}, -500000000,
		'keys list --json: overspent remaining_nusd');

	my ($b) = grep { $_->{id} eq $kbeta->{id} }
		@{ cli_json(qw(keys list --json)) // [] };
	is(($b // {})->{spent_usd}, '0.00', 'keys list --json: spent missing = 0');
	is(($b // {})->{remaining_usd}, '10.00',
		'keys list --json: untouched limit remains');
}

{
	my ($out) = cli_ok(qw(keys list --account acme));
	my @lines = split /\n/, $out;
	my @hdr = split /\s{2,}/, shift(@lines) // '';

	is_deeply(\@hdr, [ qw(ID NAME ACCOUNT PREFIX MODELS LIMIT SPENT
		REMAINING EXPIRES STATUS TENANT) ],
		'keys list: header (issue 11: TENANT)');

	my %rows = map { my @c = split /\s{2,}/; $c[1] => \@c } @lines;

	is_deeply([ @{ $rows{limited} // [] }[5, 6, 7] ],
		[ '$10.00', '$2.500000001', '$7.499998999' ],
		'keys list: LIMIT, SPENT, REMAINING');
	is_deeply([ @{ $rows{unlimited} // [] }[5, 6, 7] ],
		[ '-', '$0.000001234', '-' ], 'keys list: no limit: REMAINING -');
	is_deeply([ @{ $rows{over} // [] }[5, 6, 7] ],
		[ '$1.00', '$1.25', '-$0.50' ], 'keys list: overspent');
}

{
	my ($out) = cli_ok('keys', 'show', $klim->{id});
	like($out, qr/^spent:\s+\$2\.500000001$/m, 'keys show: spent');
	like($out, qr/^reserved:\s+\$0\.000001$/m, 'keys show: reserved');
	like($out, qr/^remaining:\s+\$7\.499998999$/m, 'keys show: remaining');
	like($out, qr/^limit:\s+\$10\.00$/m, 'keys show: limit kept');

	($out) = cli_ok('keys', 'show', $kfree->{id});
	like($out, qr/^remaining:\s+-$/m, 'keys show: no limit: remaining -');

	my $j = cli_json('keys', 'show', $klim->{id}, '--json') // {};
	is_deeply([ sort keys %$j ], \@KEY_FIELDS, 'keys show --json: fields');
	is($j->{spent_nusd}, 2500000001, 'keys show --json: spent_nusd');
	is($j->{remaining_usd}, '7.499998999', 'keys show --json: remaining');

	$j = cli_json('keys', 'show', $kfree->{id}, '--json') // {};
	ok(exists $j->{remaining_usd} && !defined $j->{remaining_usd},
		'keys show --json: remaining_usd null without a limit');

	# a malformed spend makes the record malformed, as any bad field
	key_hset($kover, spent => 'lots');
	my ($rc, $o, $err) = $t->cli('keys', 'show', $kover->{id});
	is($rc, 1, 'keys show, malformed spent: exit 1') or diag($o . $err);
	like($err, qr/spent/, 'keys show, malformed spent: names the field');
	key_hset($kover, spent => 1250000000);
}

###############################################################################

# usage

# the window is whole UTC hours and days: stay clear of an hour boundary
# (every day boundary is one) while seeding and checking

{
	my $left = 3600 - time() % 3600;
	if ($left < 150) {
		diag("waiting ${left}s for the next UTC hour");
		sleep($left + 1);
	}
}

my $T0 = int time();
my $DAY0 = $T0 - $T0 % 86400;
my $HOUR0 = $T0 - $T0 % 3600;

sub bucket_time { $_[0] eq 'd' ? $DAY0 - $_[1] * 86400 : $HOUR0 - $_[1] * 3600 }

sub bucket {
	my ($g, $off) = @_;
	return 'tr:u:' . $g . ':' . strftime($g eq 'd' ? '%Y%m%d' : '%Y%m%d%H',
		gmtime(bucket_time($g, $off)));
}

sub label {
	my ($g, $off) = @_;
	return strftime($g eq 'd' ? '%Y-%m-%d' : '%Y-%m-%dT%H',
		gmtime(bucket_time($g, $off)));
}

my $k1 = $t->create_key(name => 'alpha key', account => 'acme', fund => 0);
my $k2 = $t->create_key(name => 'beta-two', account => 'beta', fund => 0);
my $GONE = 'key_00000000deadbeef';
my %NAMES = ($k1->{id} => 'alpha key', $k2->{id} => 'beta-two');

my @seeds;

sub seed {
	my ($g, $off, $acct, $key, $model, %m) = @_;

	for my $metric (sort keys %m) {
		$t->redis('HINCRBY', bucket($g, $off), "$acct|$key|$model|$metric",
			$m{$metric});
	}

	push @seeds, [ $g, $off, $acct, $key, $model, \%m ];
}

my ($K1, $K2) = ($k1->{id}, $k2->{id});

# days: 0 is today
seed('d', 0, 'acme', $K1, 'openai/gpt-4o', req => 3, in => 1000, out => 500,
	cached => 200, cost => 1234567, est => 1, unbilled => 3000000000,
	clamped => 2);
seed('d', 0, 'acme', $K1, 'anthropic/claude-haiku-4-5', req => 1, in => 10,
	out => 20, cost => 5000000000);
seed('d', 0, 'beta', $K2, 'openai/gpt-4o', req => 2, in => 100, out => 50,
	cost => 123456);
seed('d', 0, 'beta', $K2, 'tie-b', req => 1, cost => 42);
seed('d', 0, 'beta', $K2, 'tie-a', req => 1, cost => 42);
seed('d', 1, 'acme', $K1, 'openai/gpt-4o', req => 1, in => 1, out => 1,
	cost => 1);
seed('d', 1, 'beta', $GONE, 'openai/gpt-4o-mini', req => 4, in => 40,
	out => 40, cached => 8, cost => 999, est => 2, unbilled => 17,
	clamped => 1);
seed('d', 1, 'acme', $K1, 'openai/gpt-4o', req => 2, in => 2, cost => 2);
seed('d', 6, 'beta', $K2, 'anthropic/claude-haiku-4-5', req => 1,
	cost => 7);
seed('d', 7, 'acme', $K1, 'openai/gpt-4o', req => 1000, in => 1000000,
	cost => 1000000000000);
seed('d', 399, 'acme', $K1, 'old-model', req => 1, cost => 5);
seed('d', 400, 'acme', $K1, 'old-model', req => 1, cost => 500);

# hours: 0 is the current one
seed('h', 0, 'acme', $K1, 'openai/gpt-4o', req => 2, in => 20, out => 10,
	cached => 5, cost => 111);
seed('h', 1, 'beta', $K2, 'openai/gpt-4o', req => 1, in => 3, cost => 222);
seed('h', 23, 'acme', $K1, 'anthropic/claude-haiku-4-5', req => 1,
	cost => 333, est => 1);
seed('h', 24, 'acme', $K1, 'openai/gpt-4o', req => 50, cost => 1000000);
seed('h', 167, 'beta', $GONE, 'openai/gpt-4o-mini', req => 1, cost => 9);
seed('h', 168, 'beta', $GONE, 'openai/gpt-4o-mini', req => 1, cost => 90);

# what the gateway will not write, and what a later version may
$t->redis('HSET', bucket('d', 0), 'garbage', 1, "acme|$K1|x|req", 'many',
	"acme|$K1|openai/gpt-4o|future_metric", 77);

# the report, computed from the seeds

sub expect {
	my (%o) = @_;

	my %rows;
	my @m = qw(requests failed input_tokens output_tokens cached_tokens
		cost_nusd estimated unbilled_nusd clamped);
	my %metric = (req => 'requests', in => 'input_tokens',
		out => 'output_tokens', cached => 'cached_tokens',
		cost => 'cost_nusd', est => 'estimated',
		unbilled => 'unbilled_nusd', clamped => 'clamped',
		fail => 'failed');

	for my $s (@seeds) {
		my ($g, $off, $acct, $key, $model, $m) = @$s;

		next unless $g eq $o{g} && $off < $o{n};
		next if defined $o{account} && $acct ne $o{account};
		next if defined $o{key} && $key ne $o{key};

		my $group = $o{by} eq 'model' ? $model
			: $o{by} eq 'key' ? $key
			: $o{by} eq 'account' ? $acct
			: label($g, $off);

		my $r = $rows{$group} //= { group => $group, map { $_ => 0 } @m };
		$r->{ $metric{$_} } += $m->{$_} for keys %$m;
	}

	my @rows = sort { $b->{cost_nusd} <=> $a->{cost_nusd}
		|| $a->{group} cmp $b->{group} } values %rows;

	my %total = map { $_ => 0 } @m;
	for my $r (@rows) {
		$total{$_} += $r->{$_} for @m;
		$r->{cost_usd} = usd($r->{cost_nusd});
		$r->{unbilled_usd} = usd($r->{unbilled_nusd});
		$r->{name} = $NAMES{ $r->{group} } if $o{by} eq 'key';
	}
	$total{cost_usd} = usd($total{cost_nusd});
	$total{unbilled_usd} = usd($total{unbilled_nusd});

	return {
		since => bucket_time($o{g}, $o{n} - 1),
		by => $o{by},
		bucket => $o{g} eq 'd' ? 'day' : 'hour',
		rows => \@rows,
		total => \%total,
	};
}

sub expect_table {
	my ($e) = @_;

	my $by = $e->{by};
	my $name = $by eq 'key';
	my $cells = sub {
		my ($r) = @_;
		return ($r->{requests}, $r->{failed}, $r->{input_tokens},
			$r->{output_tokens}, $r->{cached_tokens}, usd9($r->{cost_nusd}),
			$r->{estimated}, usd9($r->{unbilled_nusd}), $r->{clamped});
	};
	my @rows = ([ uc $by, ($name ? 'NAME' : ()), qw(REQUESTS FAILED INPUT
		OUTPUT CACHED COST ESTIMATED UNBILLED CLAMPED) ]);

	push @rows, [ $_->{group}, ($name ? $_->{name} // '-' : ()),
		$cells->($_) ] for @{ $e->{rows} };
	push @rows, [ 'TOTAL', ($name ? '' : ()), $cells->($e->{total}) ];

	return table_right($name ? 2 : 1, @rows);
}

sub check_usage {
	my ($what, $exp, @args) = @_;

	my $t0 = int time();
	my $j = cli_json('usage', @args, '--json') // {};
	my $t1 = time();

	# time(2), which the CLI reads, lags gettimeofday(2) by up to a tick
	# of the kernel's coarse clock: at a second's edge it can still say
	# the second before
	my $until = delete $j->{until};
	ok(defined $until && $until >= $t0 - 1 && $until <= $t1,
		"$what: until is now");
	is_deeply($j, $exp, "$what: --json") or diag(explain($j));

	my ($rc, $out, $err) = $t->cli('usage', @args);
	is($rc, 0, "$what: exit 0") or diag($err);
	is($out, expect_table($exp), "$what: table") or diag($out);
}

# default: 7 days by model

{
	my $e = expect(g => 'd', n => 7, by => 'model');
	check_usage('usage', $e);

	# the oracle itself, by hand
	is_deeply([ map { $_->{group} } @{ $e->{rows} } ],
		[ 'anthropic/claude-haiku-4-5', 'openai/gpt-4o', 'openai/gpt-4o-mini',
			'tie-a', 'tie-b' ],
		'usage: sorted by cost, then name');
	is_deeply($e->{rows}[1], { group => 'openai/gpt-4o', requests => 8,
		input_tokens => 1103, output_tokens => 551, cached_tokens => 200,
		cost_nusd => 1358026, cost_usd => '0.001358026', estimated => 1,
		unbilled_nusd => 3000000000, unbilled_usd => '3.00', clamped => 2,
		failed => 0 }, 'usage: gpt-4o over 2 days and 2 accounts');
	is_deeply($e->{total}, { requests => 16, failed => 0,
		input_tokens => 1153,
		output_tokens => 611, cached_tokens => 208,
		cost_nusd => 5001359116, cost_usd => '5.001359116',
		estimated => 3, unbilled_nusd => 3000000017,
		unbilled_usd => '3.000000017', clamped => 3 },
		'usage: total, bucket 7 days ago not counted');
	is($e->{since}, $DAY0 - 6 * 86400, 'usage: since 6 days before today');

	my ($rc, $out, $err) = $t->cli('usage');
	like($err, qr/2 malformed usage fields/,
		'usage: malformed fields are counted in a warning');
	like($out, qr{^anthropic/claude-haiku-4-5 \s+ 2 \s+ 0 \s+ 10 \s+ 20
		\s+ 0 \s+ 5\.000000007 \s+ 0 \s+ 0\.000000000 \s+ 0$}mx,
		'usage: a table row');
}

check_usage('usage --by key', expect(g => 'd', n => 7, by => 'key'),
	qw(--by key));
{
	my $e = expect(g => 'd', n => 7, by => 'key');
	my ($gone) = grep { $_->{group} eq $GONE } @{ $e->{rows} };
	ok($gone && !defined $gone->{name}, 'usage --by key: a gone key has no '
		. 'name');
	my ($out) = cli_ok(qw(usage --by key));
	like($out, qr/^\Q$K1\E\s+alpha key\s+/m, 'usage --by key: NAME column');
	like($out, qr/^\Q$GONE\E\s+-\s+/m, 'usage --by key: gone key: -');
}

check_usage('usage --by account', expect(g => 'd', n => 7, by => 'account'),
	qw(--by account));
check_usage('usage --by day', expect(g => 'd', n => 7, by => 'day'),
	qw(--by day));
check_usage('usage --by hour', expect(g => 'h', n => 168, by => 'hour'),
	qw(--by hour));
check_usage('usage --by hour --since 24h',
	expect(g => 'h', n => 24, by => 'hour'), qw(--by hour --since 24h));

# the window picks the buckets

check_usage('usage --since 24h', expect(g => 'h', n => 24, by => 'model'),
	qw(--since 24h));
check_usage('usage --since 90m', expect(g => 'h', n => 2, by => 'model'),
	qw(--since 90m));
check_usage('usage --since 30m', expect(g => 'h', n => 1, by => 'model'),
	qw(--since 30m));
check_usage('usage --since 47h', expect(g => 'h', n => 47, by => 'account'),
	qw(--since 47h --by account));
check_usage('usage --since 48h', expect(g => 'd', n => 2, by => 'model'),
	qw(--since 48h));
check_usage('usage --since 8d', expect(g => 'd', n => 8, by => 'model'),
	qw(--since 8d));
check_usage('usage --since 2w --by day', expect(g => 'd', n => 14,
	by => 'day'), qw(--since 2w --by day));
check_usage('usage --since 1h --by day', expect(g => 'd', n => 1,
	by => 'day'), qw(--since 1h --by day));
check_usage('usage --since 400d', expect(g => 'd', n => 400, by => 'model'),
	qw(--since 400d));

{
	my $e = expect(g => 'd', n => 400, by => 'model');
	my ($old) = grep { $_->{group} eq 'old-model' } @{ $e->{rows} };
	is(($old // {})->{cost_nusd}, 5, 'usage --since 400d: day 400 not '
		. 'counted');

	$e = expect(g => 'h', n => 24, by => 'model');
	is($e->{total}{cost_nusd}, 666, 'usage --since 24h: hour 24 not counted');
	is($e->{since}, $HOUR0 - 23 * 3600, 'usage --since 24h: since');
}

# filters

check_usage('usage --account acme', expect(g => 'd', n => 7, by => 'model',
	account => 'acme'), qw(--account acme));
check_usage('usage --account beta --by key', expect(g => 'd', n => 7,
	by => 'key', account => 'beta'), qw(--account beta --by key));
check_usage('usage --key K2 --by day', expect(g => 'd', n => 7, by => 'day',
	key => $K2), '--key', $K2, '--by', 'day');
check_usage('usage --key K1 --account acme --since 24h',
	expect(g => 'h', n => 24, by => 'model', account => 'acme',
		key => $K1), '--key', $K1, qw(--account acme --since 24h));
check_usage('usage --key K1 --account beta: nothing',
	expect(g => 'd', n => 7, by => 'model', account => 'beta',
		key => $K1), '--key', $K1, qw(--account beta));

{
	my $e = expect(g => 'd', n => 7, by => 'model', account => 'nobody');
	is_deeply($e->{rows}, [], 'usage, no usage: no rows');

	# an account that does not exist is an error, like credit show
	my ($rc, $out, $err) = $t->cli(qw(usage --account nobody));
	is($rc, 1, 'usage --account nobody: exit 1') or diag($out . $err);
	like($err, qr/no account nobody/, 'usage --account nobody: message');
	is($out, '', 'usage --account nobody: no report');
}

{
	my $j = cli_json('usage', '--key', $K2, '--json') // {};
	is_deeply($j->{total}, { requests => 5, failed => 0, input_tokens => 100,
		output_tokens => 50, cached_tokens => 0, cost_nusd => 123547,
		cost_usd => '0.000123547', estimated => 0, unbilled_nusd => 0,
		unbilled_usd => '0.00', clamped => 0 },
		'usage --key: exact total');
	is_deeply([ map { $_->{group} } @{ $j->{rows} // [] } ],
		[ 'openai/gpt-4o', 'tie-a', 'tie-b', 'anthropic/claude-haiku-4-5' ],
		'usage --key: cost order, ties by name');
}

# usage errors

for my $args ([qw(usage --by week)], [qw(usage --by)], [qw(usage --since 0)],
	[qw(usage --since never)], [qw(usage --since bogus)],
	[qw(usage --since -1d)], [qw(usage --since 401d)],
	[qw(usage --since 9d --by hour)], [qw(usage --account), 'a b'],
	[qw(usage --key a|b)], [qw(usage --key), ''], [qw(usage extra)],
	[qw(usage --bogus)])
{
	my ($rc, $out, $err) = $t->cli(@$args);
	is($rc, 2, "usage error: '@$args': exit 2") or diag($out . $err);
	ok(length $err, "usage error: '@$args': message on stderr");
}

{
	my ($out) = cli_ok(qw(usage --since 8d --by hour));
	like($out, qr/^TOTAL\s/m, 'usage --since 8d --by hour: the most hours');
}

###############################################################################

# Redis errors and Redis unreachable

{
	$t->redis('SET', bucket('d', 2), 'not a hash');
	my ($rc, $out, $err) = $t->cli('usage');
	is($rc, 1, 'usage, a bucket of the wrong type: exit 1')
		or diag($out . $err);
	like($err, qr/WRONGTYPE/, 'usage, a bucket of the wrong type: message');
	$t->redis('DEL', bucket('d', 2));
}

my $closed = do {
	my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
		Proto => 'tcp', Listen => 1) or die "listen: $!\n";
	my $p = $s->sockport();
	close $s;
	$p;
};

for my $args ([qw(credit add --account acme --amount 1)], [qw(credit show)],
	[qw(credit show --account acme)], [qw(usage)], [qw(usage --by key)])
{
	my $t0 = time();
	my ($rc, $out, $err) = $t->cli_raw('--redis', "127.0.0.1:$closed",
		@$args);
	is($rc, 3, "Redis unreachable: '@$args': exit 3") or diag($err);
	cmp_ok(time() - $t0, '<', 5, "Redis unreachable: '@$args': promptly");
}

###############################################################################

done_testing();

###############################################################################
