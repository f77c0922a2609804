#!/usr/bin/perl

# (C) tokenroute authors

# Tests for the tokenroute CLI: keys create, list, show and revoke, what
# they store in Redis, their output, their exit status; the raw key is
# never stored.

###############################################################################

use warnings;
use strict;

use Digest::SHA qw(sha256_hex);
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new(needs => [qw(redis cli)]);
$t->start_redis();

my $RAW_RE = qr/sk-tr-[A-Za-z0-9_-]{43}/;
my @FIELDS = sort qw(id name account models limit expires_at revoked
	revoked_at created_at prefix);

my @raws;    # every raw key created, none may be in Redis

sub cli_json {
	my (@args) = @_;

	my ($rc, $out, $err) = $t->cli(@args);
	my $j = eval { JSON::PP->new->utf8->decode($out) };

	is($rc, 0, "@args: exit 0") or diag($err);
	ok(defined $j, "@args: prints JSON") or diag($out);

	return $j;
}

sub create {
	my (@args) = @_;

	# the second before: time(2), which the CLI reads, lags
	# gettimeofday(2) by up to a tick of the kernel's coarse clock
	my $t0 = int(time()) - 1;
	my $k = cli_json('keys', 'create', @args, '--json') // {};
	my $t1 = time();

	push @raws, $k->{raw} if defined $k->{raw};
	$k->{_t0} = $t0;
	$k->{_t1} = $t1;

	return $k;
}

sub record {
	my ($raw) = @_;

	my $h = $t->redis('HGETALL', 'tr:key:' . sha256_hex($raw));
	return { @$h };
}

sub key_count {
	return $t->redis('ZCARD', 'tr:keys');
}

###############################################################################

# --help on every command

for my $args (['--help'], ['-h'], [qw(keys --help)], [qw(keys create --help)],
	[qw(keys list --help)], [qw(keys show --help)], [qw(keys revoke --help)])
{
	my ($rc, $out, $err) = $t->cli(@$args);
	is($rc, 0, "@$args: exit 0") or diag($err);
	like($out, qr/usage/i, "@$args: usage on stdout");
}

###############################################################################

# keys create, human output

{
	my ($rc, $out, $err) = $t->cli(qw(keys create --name alice));
	is($rc, 0, 'create: exit 0') or diag($err);

	my @found = $out =~ /($RAW_RE)/g;
	is(scalar @found, 1, 'create: prints the raw key') or diag($out);

	if (@found) {
		push @raws, $found[0];
		is(record($found[0])->{name}, 'alice', 'create: stored');
	}
}

# keys create --json, defaults

my $bob = create(qw(--name bob));

like($bob->{raw} // '', qr/^$RAW_RE$/, 'create --json: raw key format');
is_deeply([ sort grep { !/^_/ } keys %$bob ],
	[ sort qw(raw id name account prefix models limit_usd expires_at
		created_at tenant period rpm tpm max_concurrent warnings) ],
	'create --json: fields (issue 11: tenant, period, rate limits, '
	. 'warnings)');
ok(defined $bob->{id} && length $bob->{id} && $bob->{id} !~ /\s/,
	'create --json: id');
is($bob->{name}, 'bob', 'create --json: name');
ok(defined $bob->{account} && length $bob->{account},
	'create --json: default account');
ok(defined $bob->{prefix} && $bob->{prefix} =~ /^sk-tr-/
	&& length $bob->{prefix} < length $bob->{raw}
	&& index($bob->{raw}, $bob->{prefix}) == 0,
	'create --json: prefix is the start of the key');
is_deeply($bob->{models}, [], 'create --json: models [] (all)');
is($bob->{limit_usd}, undef, 'create --json: limit_usd null');
is($bob->{expires_at}, undef, 'create --json: expires_at null');
ok(defined $bob->{created_at} && $bob->{created_at} =~ /^\d+$/
	&& $bob->{created_at} >= $bob->{_t0}
	&& $bob->{created_at} <= $bob->{_t1},
	'create --json: created_at is now');

my $rec = record($bob->{raw});

is_deeply([ sort keys %$rec ], \@FIELDS, 'redis: fields of tr:key:<sha256>');
is($rec->{id}, $bob->{id}, 'redis: id');
is($rec->{name}, 'bob', 'redis: name');
is($rec->{account}, $bob->{account}, 'redis: account');
is($rec->{models}, '', 'redis: models "" (all)');
is($rec->{expires_at}, '0', 'redis: expires_at 0 (never)');
is($rec->{revoked}, '0', 'redis: revoked 0');
is($rec->{created_at}, $bob->{created_at}, 'redis: created_at');
is($rec->{prefix}, $bob->{prefix}, 'redis: prefix');
is($t->redis('GET', "tr:keyid:$bob->{id}"), sha256_hex($bob->{raw}),
	'redis: tr:keyid:<id> is the hash');
ok(defined $t->redis('ZSCORE', 'tr:keys', $bob->{id}),
	'redis: id in the tr:keys index');

isnt(create(qw(--name bob))->{id}, $bob->{id}, 'same name: a new id');

###############################################################################

# keys create with every option (issue 11: an account other than
# "default" must exist)

{
	my ($rc, $out, $err) = $t->cli(qw(accounts create acme));
	is($rc, 0, 'accounts create acme') or diag($err);
}

my $carol = create(qw(--name carol --account acme --limit 12.50 --models),
	'openai/gpt-4o-mini,anthropic/claude-haiku-4-5', qw(--expires 7d));

is($carol->{account}, 'acme', 'options: account');
is_deeply($carol->{models},
	[ 'openai/gpt-4o-mini', 'anthropic/claude-haiku-4-5' ],
	'options: models');
ok(defined $carol->{limit_usd} && !ref $carol->{limit_usd}
	&& $carol->{limit_usd} =~ /^\d+\.\d+$/ && $carol->{limit_usd} == 12.5,
	'options: limit_usd is the string 12.50')
	or diag(explain($carol->{limit_usd}));
is($carol->{expires_at}, ($carol->{created_at} // 0) + 7 * 86400,
	'options: expires_at 7 days on');

$rec = record($carol->{raw});

is($rec->{account}, 'acme', 'redis: account');
is($rec->{models}, 'openai/gpt-4o-mini,anthropic/claude-haiku-4-5',
	'redis: models');
is($rec->{limit}, '12500000000', 'redis: limit in nano-USD');
is($rec->{expires_at}, $carol->{expires_at}, 'redis: expires_at');

for my $case ([ '30s', 30 ], [ '10m', 600 ], [ '12h', 43200 ],
	[ '2w', 1209600 ])
{
	my ($d, $secs) = @$case;
	my $k = create('--name', "exp-$d", '--expires', $d);
	is(($k->{expires_at} // 0) - ($k->{created_at} // 0), $secs,
		"--expires $d");
	is(record($k->{raw} // '')->{expires_at}, $k->{expires_at},
		"--expires $d: redis");
}

{
	my $k = create(qw(--name exp-never --expires never));
	is($k->{expires_at}, undef, '--expires never: null');
	is(record($k->{raw} // '')->{expires_at}, '0', '--expires never: redis 0');
}

for my $case ([ '5', '5000000000' ], [ '0.25', '250000000' ],
	[ '$3.5', '3500000000' ], [ '0.000000001', '1' ])
{
	my ($usd, $nusd) = @$case;
	my $k = create('--name', "limit-$usd", '--limit', $usd);
	is(record($k->{raw} // '')->{limit}, $nusd, "--limit $usd: redis");
	ok(defined $k->{limit_usd} && $k->{limit_usd} == $usd =~ s/^\$//r,
		"--limit $usd: limit_usd");
}

###############################################################################

# keys list

my $short = create(qw(--name short-lived --expires 1s));

{
	my ($rc, $out, $err) = $t->cli(qw(keys list));
	is($rc, 0, 'list: exit 0') or diag($err);
	like($out, qr/\Q$bob->{id}\E/, 'list: shows an id');
	like($out, qr/\bcarol\b/, 'list: shows a name');
	ok(!grep({ index($out, $_) >= 0 } @raws), 'list: no raw key');
}

my $list = cli_json(qw(keys list --json));

is(ref $list, 'ARRAY', 'list --json: an array');
$list = [] unless ref $list eq 'ARRAY';

is(scalar @$list, key_count(), 'list --json: every key');
ok(!grep({ exists $_->{raw} } @$list), 'list --json: no raw field');

my ($lc) = grep { ($_->{id} // '') eq ($carol->{id} // '') } @$list;
ok($lc, 'list --json: has carol');
$lc //= {};

is($lc->{name}, 'carol', 'list --json: name');
is($lc->{account}, 'acme', 'list --json: account');
is($lc->{prefix}, $carol->{prefix}, 'list --json: prefix');
is_deeply($lc->{models}, $carol->{models}, 'list --json: models');
is($lc->{limit_usd}, $carol->{limit_usd}, 'list --json: limit_usd');
is($lc->{expires_at}, $carol->{expires_at}, 'list --json: expires_at');
is($lc->{created_at}, $carol->{created_at}, 'list --json: created_at');
is($lc->{status}, 'active', 'list --json: status active');

{
	my $acme = cli_json(qw(keys list --account acme --json)) // [];
	is_deeply([ map { $_->{id} } @$acme ], [ $carol->{id} ],
		'list --account: only that account');
}

###############################################################################

# keys show

{
	my ($rc, $out, $err) = $t->cli('keys', 'show', $carol->{id});
	is($rc, 0, 'show: exit 0') or diag($err);
	like($out, qr/\Q$carol->{id}\E/, 'show: id');
	like($out, qr/\bcarol\b/, 'show: name');
	ok(index($out, $carol->{raw}) < 0, 'show: no raw key');
}

my $show = cli_json('keys', 'show', $carol->{id}, '--json') // {};

is($show->{id}, $carol->{id}, 'show --json: id');
is($show->{name}, 'carol', 'show --json: name');
is($show->{status}, 'active', 'show --json: active');
ok(!exists $show->{raw}, 'show --json: no raw field');

sleep(($short->{created_at} // 0) + 2.2 - time())
	if time() < ($short->{created_at} // 0) + 2.2;

is((cli_json('keys', 'show', $short->{id}, '--json') // {})->{status},
	'expired', 'show --json: expired');

###############################################################################

# keys revoke

{
	my ($rc, $out, $err) = $t->cli('keys', 'revoke', $carol->{id});
	is($rc, 0, 'revoke: exit 0') or diag($err);

	$rec = record($carol->{raw});
	is($rec->{revoked}, '1', 'revoke: redis revoked 1');
	ok($rec->{revoked_at} >= $carol->{created_at}
		&& $rec->{revoked_at} <= time() + 1, 'revoke: redis revoked_at');

	my $s = cli_json('keys', 'show', $carol->{id}, '--json') // {};
	is($s->{status}, 'revoked', 'revoke: show status revoked');

	my ($l) = grep { ($_->{id} // '') eq $carol->{id} }
		@{ cli_json(qw(keys list --json)) // [] };
	is(($l // {})->{status}, 'revoked', 'revoke: list status revoked');

	($rc, $out, $err) = $t->cli('keys', 'revoke', $carol->{id});
	is($rc, 0, 'revoke again: exit 0') or diag($err);
	is(record($carol->{raw})->{revoked_at}, $rec->{revoked_at},
		'revoke again: revoked_at unchanged');

	is(record($bob->{raw})->{revoked}, '0', 'revoke: other keys untouched');
}

###############################################################################

# the raw key is nowhere in Redis

{
	my @found;
	my $cursor = 0;
	my $n = 0;

	do {
		my $r = $t->redis('SCAN', $cursor, 'COUNT', 1000);
		$cursor = $r->[0];

		for my $k (@{ $r->[1] }) {
			$n++;
			my $type = $t->redis('TYPE', $k);
			my $v = $type eq 'string' ? [ $t->redis('GET', $k) ]
				: $type eq 'hash' ? $t->redis('HGETALL', $k)
				: $type eq 'zset'
					? $t->redis('ZRANGE', $k, 0, -1, 'WITHSCORES')
				: $type eq 'set' ? $t->redis('SMEMBERS', $k)
				: $type eq 'list' ? $t->redis('LRANGE', $k, 0, -1)
				: [ "unknown type $type" ];

			for my $raw (@raws) {
				my $secret = substr($raw, length 'sk-tr-');
				push @found, "$k ($type)"
					if grep { index($_ // '', $secret) >= 0 } $k, @$v;
			}
		}
	} while ($cursor ne '0');

	cmp_ok($n, '>', scalar @raws, 'redis scanned');
	cmp_ok(scalar @raws, '>=', 10, 'raw keys checked');
	ok(!@found, 'no raw key anywhere in Redis') or diag(explain(\@found));
}

###############################################################################

# usage errors: exit 2, a message on stderr, no key created

my $count = key_count();

for my $args ([], ['bogus'], ['--frobnicate', 'keys', 'list'], ['keys'],
	[qw(keys bogus)], [qw(keys create)], [qw(keys create --name)],
	[qw(keys create --name x --frobnicate)],
	[qw(keys create --name x --expires bogus)],
	[qw(keys create --name x --expires -5m)],
	[qw(keys create --name x --expires 5)],
	[qw(keys create --name x --limit abc)],
	[qw(keys create --name x --limit -1)],
	[qw(keys create --name x --limit 1.0000000001)],
	[qw(keys create --name x --models)],
	[qw(keys list --bogus)], [qw(keys show)], [qw(keys revoke)])
{
	my ($rc, $out, $err) = $t->cli(@$args);
	is($rc, 2, "usage error: '@$args': exit 2") or diag($out . $err);
	ok(length $err, "usage error: '@$args': message on stderr");
}

{
	my ($rc, $out, $err) = $t->cli_raw('--redis');
	is($rc, 2, '--redis without a value: exit 2') or diag($err);
}

is(key_count(), $count, 'usage errors created no key');

# no such key: exit 1

for my $cmd (qw(show revoke)) {
	my ($rc, $out, $err) = $t->cli('keys', $cmd, 'key_00000000deadbeef');
	is($rc, 1, "$cmd unknown id: exit 1") or diag($out . $err);
	ok(length $err, "$cmd unknown id: message on stderr");
}

# Redis unreachable: exit 3, promptly

my $closed = do {
	my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
		Proto => 'tcp', Listen => 1) or die "listen: $!\n";
	my $p = $s->sockport();
	close $s;
	$p;
};

for my $args ([qw(keys list)], [qw(keys create --name x)],
	[ 'keys', 'show', $bob->{id} ], [ 'keys', 'revoke', $bob->{id} ])
{
	my $t0 = time();
	my ($rc, $out, $err) = $t->cli_raw('--redis', "127.0.0.1:$closed",
		@$args);
	is($rc, 3, "Redis unreachable: '@$args': exit 3") or diag($err);
	cmp_ok(time() - $t0, '<', 5, "Redis unreachable: '@$args': promptly");
}

is(key_count(), $count, 'nothing created while Redis was unreachable');

###############################################################################

done_testing();

###############################################################################
