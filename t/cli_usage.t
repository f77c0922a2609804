#!/usr/bin/perl

# (C) tokenroute authors

# Tests for "tokenroute usage" as an operator bills from it: tenants (the
# 5-part usage fields beside the old 4-part ones, --by tenant, --tenant),
# failed requests, windows from ISO dates and times and --month, the
# formats (table aligned on the decimal point, JSON, CSV), names that do
# not exist; and a request through the gateway reported end to end.

###############################################################################

use warnings;
use strict;

use JSON::PP;
use POSIX qw(strftime);
use Test::More;
use Time::HiRes qw(time sleep);
use Time::Local qw(timegm);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new(needs => [qw(redis cli nginx module)]);

$t->start_gateway(http => <<'EOF');
tokenroute_model openai/metered provider=mockai upstream_model=gpt-metered-usage-40-567 input_price=0.333333 output_price=1.777777;
EOF

sub cli_json {
	my (@args) = @_;

	my ($rc, $out, $err) = $t->cli(@args);
	my $j = eval { JSON::PP->new->utf8->decode($out) };

	is($rc, 0, "@args: exit 0") or diag($err);
	ok(defined $j, "@args: prints JSON") or diag($out);

	return $j // {};
}

sub usd9 {
	my ($n) = @_;

	use integer;

	return sprintf('%d.%09d', $n / 1000000000, $n % 1000000000);
}

# stay clear of an hour boundary (every day boundary is one)

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

sub btime { $_[0] eq 'd' ? $DAY0 - $_[1] * 86400 : $HOUR0 - $_[1] * 3600 }

sub bucket {
	my ($g, $off) = @_;
	return 'tr:u:' . $g . ':' . strftime($g eq 'd' ? '%Y%m%d' : '%Y%m%d%H',
		gmtime(btime($g, $off)));
}

sub date { strftime('%Y-%m-%d', gmtime($_[0])) }
sub iso { strftime('%Y-%m-%dT%H:%MZ', gmtime($_[0])) }

my $k1 = $t->create_key(name => 'one, with a comma', account => 'acme');
my $k2 = $t->create_key(name => 'two', account => 'acme');
my $k3 = $t->create_key(name => 'three', account => 'beta');
my ($K1, $K2, $K3) = ($k1->{id}, $k2->{id}, $k3->{id});
my $GONE = 'key_00000000deadbeef';
my %NAMES = ($K1 => 'one, with a comma', $K2 => 'two', $K3 => 'three');

$t->redis('SADD', 'tr:tenants:acme', 't1', 't2');
$t->redis('SADD', 'tr:tenants:beta', 't1');

my @seeds;

# tenant undef: the old 4-part field; '' the 5-part one without a tenant

sub seed {
	my ($g, $off, $acct, $tenant, $key, $model, %m) = @_;

	for my $metric (sort keys %m) {
		my $f = defined $tenant ? "$acct|$tenant|$key|$model|$metric"
			: "$acct|$key|$model|$metric";
		$t->redis('HINCRBY', bucket($g, $off), $f, $m{$metric});
	}

	push @seeds, [ $g, $off, $acct, $tenant // '', $key, $model, \%m ];
}

seed('d', 0, 'acme', '', $K1, 'm1', req => 2, cost => 1000, in => 5);
seed('d', 0, 'acme', undef, $K1, 'm1', req => 1, cost => 500, out => 7);
seed('d', 0, 'acme', 't1', $K1, 'm1', req => 3, cost => 3000, fail => 2);
seed('d', 0, 'acme', 't2', $K2, 'm2', req => 1, cost => 7, in => 10);
seed('d', 0, 'beta', 't1', $K3, 'm1', req => 1, cost => 12345678901234);
seed('d', 1, 'acme', 'ghost', $K2, 'm1', req => 1, cost => 3);
seed('d', 2, 'acme', 't1', $K1, 'm2', req => 4, cost => 40000, cached => 2);
seed('d', 3, 'acme', 't1', $GONE, 'm1', req => 1, cost => 1, fail => 1,
	est => 1, unbilled => 9, clamped => 1);
seed('d', 4, 'acme', 't1', $K1, 'm3', fail => 5);
seed('d', 10, 'acme', 't1', $K1, 'm1', req => 100, cost => 5);

seed('h', 0, 'acme', 't1', $K1, 'm1', req => 1, cost => 11);
seed('h', 2, 'acme', 't2', $K2, 'm1', req => 1, cost => 22);
seed('h', 3, 'acme', undef, $K2, 'm1', req => 1, cost => 33);
seed('h', 5, 'acme', 't1', $K1, 'm2', req => 1, cost => 44);
seed('h', 6, 'acme', 't1', $K1, 'm2', req => 1, cost => 55);

###############################################################################

# the oracle: buckets $o{from} .. $o{to} (offsets back from now) of $o{g}

my @M = qw(requests failed input_tokens output_tokens cached_tokens cost_nusd
	estimated unbilled_nusd clamped);
my %METRIC = (req => 'requests', fail => 'failed', in => 'input_tokens',
	out => 'output_tokens', cached => 'cached_tokens', cost => 'cost_nusd',
	est => 'estimated', unbilled => 'unbilled_nusd', clamped => 'clamped');

sub usd {
	my ($n) = @_;

	use integer;

	my $s = sprintf('%d.%09d', $n / 1000000000, $n % 1000000000);
	$s =~ s/0+$//;
	$s .= '0' x (2 - length(($s =~ /\.(\d*)$/)[0]))
		if length(($s =~ /\.(\d*)$/)[0]) < 2;
	return $s;
}

sub expect {
	my (%o) = @_;

	my %rows;

	for my $s (@seeds) {
		my ($g, $off, $acct, $tenant, $key, $model, $m) = @$s;

		next unless $g eq $o{g} && $off >= ($o{to} // 0) && $off <= $o{from};
		next if defined $o{account} && $acct ne $o{account};
		next if defined $o{tenant} && $tenant ne $o{tenant};
		next if defined $o{key} && $key ne $o{key};

		my $group = $o{by} eq 'model' ? $model
			: $o{by} eq 'key' ? $key
			: $o{by} eq 'account' ? $acct
			: $o{by} eq 'tenant' ? "$acct/" . ($tenant eq '' ? '-' : $tenant)
			: strftime($g eq 'd' ? '%Y-%m-%d' : '%Y-%m-%dT%H',
				gmtime(btime($g, $off)));

		my $r = $rows{$group} //= { group => $group, map { $_ => 0 } @M };
		$r->{ $METRIC{$_} } += $m->{$_} for keys %$m;

		if ($o{by} eq 'tenant') {
			$r->{account} = $acct;
			$r->{tenant} = $tenant eq '' ? undef : $tenant;
		}
	}

	my @rows = sort { $b->{cost_nusd} <=> $a->{cost_nusd}
		|| $a->{group} cmp $b->{group} } values %rows;

	my %total = map { $_ => 0 } @M;
	for my $r (@rows, \%total) {
		if ($r != \%total) {
			$total{$_} += $r->{$_} for @M;
			$r->{name} = $NAMES{ $r->{group} } if $o{by} eq 'key';
		}
	}
	for my $r (@rows, \%total) {
		$r->{cost_usd} = usd($r->{cost_nusd});
		$r->{unbilled_usd} = usd($r->{unbilled_nusd});
	}

	return {
		since => btime($o{g}, $o{from}),
		by => $o{by},
		bucket => $o{g} eq 'd' ? 'day' : 'hour',
		rows => \@rows,
		total => \%total,
	};
}

sub check_json {
	my ($what, $exp, @args) = @_;

	my $j = cli_json('usage', @args, '--json');
	my $until = delete $j->{until};
	my $want_until = delete $exp->{until};

	if (defined $want_until) {
		is($until, $want_until, "$what: until");
	} else {
		ok(defined $until && $until >= $T0 && $until <= time() + 1,
			"$what: until is now");
	}

	is_deeply($j, $exp, "$what: --json") or diag(explain($j));
}

###############################################################################

# tenants: 5-part and 4-part fields read together

check_json('usage --by tenant', expect(g => 'd', from => 6, by => 'tenant'),
	qw(--by tenant));

{
	my $e = expect(g => 'd', from => 6, by => 'tenant');
	is_deeply([ map { $_->{group} } @{ $e->{rows} } ],
		[ qw(beta/t1 acme/t1 acme/- acme/t2 acme/ghost) ],
		'the oracle: tenant groups by cost');
	my ($none) = grep { $_->{group} eq 'acme/-' } @{ $e->{rows} };
	is($none->{requests}, 3, 'the oracle: old and new fields without a '
		. 'tenant together');
	is($e->{total}{failed}, 8, 'the oracle: failed requests counted');
}

check_json('usage --account acme --tenant t1',
	expect(g => 'd', from => 6, by => 'model', account => 'acme',
		tenant => 't1'), qw(--account acme --tenant t1));
check_json('usage --account beta --tenant t1 --by key',
	expect(g => 'd', from => 6, by => 'key', account => 'beta',
		tenant => 't1'), qw(--account beta --tenant t1 --by key));
check_json('usage --account acme --tenant ghost (only in the usage)',
	expect(g => 'd', from => 6, by => 'tenant', account => 'acme',
		tenant => 'ghost'), qw(--account acme --tenant ghost --by tenant));

# the table: FAILED beside REQUESTS, costs with 9 decimals aligned

{
	my ($rc, $out, $err) = $t->cli(qw(usage --by tenant));
	is($rc, 0, 'usage --by tenant: exit 0') or diag($err);

	my @lines = split /\n/, $out;
	is_deeply([ split ' ', $lines[0] ], [ qw(TENANT REQUESTS FAILED INPUT
		OUTPUT CACHED COST ESTIMATED UNBILLED CLAMPED) ],
		'table: the header');
	like($out, qr{^acme/t1 \s+ 8 \s+ 8 \s+ 0 \s+ 0 \s+ 2 \s+ 0\.000043001
		\s+ 1 \s+ 0\.000000009 \s+ 1$}mx, 'table: a tenant row');
	like($out, qr{^beta/t1 \s+ 1 \s+ 0 \s+ 0 \s+ 0 \s+ 0
		\s+ 12345\.678901234 \s+ 0 \s+ 0\.000000000 \s+ 0$}mx,
		'table: a large cost, 9 decimals');
	like($out, qr{^TOTAL \s+ 14 \s+ 8 \s}mx, 'table: TOTAL');

	# every cost ends in the same column: the points are aligned
	my %ends;
	for my $l (@lines[1 .. $#lines]) {
		my @m;
		push @m, $+[0] while $l =~ /\d\.\d{9}(?!\d)/g;
		$ends{"cost $m[0]"}++;
		$ends{"unbilled $m[1]"}++;
	}
	is(scalar(keys %ends), 2, 'table: costs aligned on the decimal point')
		or diag(explain(\%ends), $out);
	unlike($out, qr/ $/m, 'table: no trailing spaces');
}

# CSV: a header line, plain numbers, quoted names, no TOTAL

{
	my ($rc, $out, $err) = $t->cli(qw(usage --by tenant --format csv));
	is($rc, 0, 'csv: exit 0') or diag($err);

	my $e = expect(g => 'd', from => 6, by => 'tenant');
	my $csv = "account,tenant,requests,failed,input_tokens,output_tokens,"
		. "cached_tokens,cost_usd,estimated,unbilled_usd,clamped\n";
	for my $r (@{ $e->{rows} }) {
		$csv .= join(',', $r->{account}, $r->{tenant} // '',
			@$r{qw(requests failed input_tokens output_tokens
				cached_tokens)}, usd9($r->{cost_nusd}), $r->{estimated},
			usd9($r->{unbilled_nusd}), $r->{clamped}) . "\n";
	}
	is($out, $csv, 'csv --by tenant: exact text');

	($rc, $out, $err) = $t->cli(qw(usage --by key --format csv
		--account acme));
	is($rc, 0, 'csv --by key: exit 0') or diag($err);
	like($out, qr/^key,name,requests,failed,/, 'csv --by key: header');
	like($out, qr/^\Q$K1\E,"one, with a comma",10,7,5,7,2,0\.000044500,/m,
		'csv --by key: a name with a comma is quoted');
	like($out, qr/^\Q$GONE\E,,1,1,/m, 'csv --by key: a gone key: no name');
	unlike($out, qr/TOTAL/, 'csv: no TOTAL row');
}

# failed requests: their own column, not in REQUESTS

{
	my $j = cli_json(qw(usage --account acme --by model --json));
	my ($m3) = grep { $_->{group} eq 'm3' } @{ $j->{rows} // [] };
	is(($m3 // {})->{requests}, 0, 'failed only: requests 0');
	is(($m3 // {})->{failed}, 5, 'failed only: failed 5');
	is(($m3 // {})->{cost_nusd}, 0, 'failed only: cost 0');
}

# names that do not exist

for my $c ([ [qw(--account nobody)], qr/no account nobody/ ],
	[ [qw(--account acme --tenant nope)], qr/no tenant nope in account acme/ ],
	[ [qw(--account beta --tenant t2)], qr/no tenant t2 in account beta/ ],
	[ [qw(--key key_0123456789abcdef)], qr/no key key_0123456789abcdef/ ],
	[ [ '--key', $GONE, '--since', '2d' ], qr/no key \Q$GONE\E/ ],
	[ [ '--key', $GONE, '--format', 'csv', '--since', '3d' ],
		qr/no key \Q$GONE\E/ ])
{
	my ($args, $re) = @$c;
	my ($rc, $out, $err) = $t->cli('usage', @$args);
	is($rc, 1, "usage @$args: exit 1") or diag($out . $err);
	like($err, $re, "usage @$args: message");
	is($out, '', "usage @$args: no report");
}

check_json('usage --key GONE: a deleted key with usage in the window',
	expect(g => 'd', from => 6, by => 'model', key => $GONE),
	'--key', $GONE);
check_json('usage --key K3 --by tenant',
	expect(g => 'd', from => 6, by => 'tenant', key => $K3),
	'--key', $K3, '--by', 'tenant');

###############################################################################

# windows from dates and times

{
	my ($d3, $d1) = (date(btime('d', 3)), date(btime('d', 1)));

	my $e = expect(g => 'd', from => 3, to => 1, by => 'tenant');
	$e->{until} = btime('d', 0);
	check_json("usage --since $d3 --until $d1 (dates: the last day is in)",
		$e, '--since', $d3, '--until', $d1, '--by', 'tenant');

	$e = expect(g => 'd', from => 3, to => 2, by => 'model');
	$e->{until} = btime('d', 1);
	check_json("usage --since ${d3}T00:00Z --until ${d1}T00:00Z (times: "
		. "the end is not in)", $e, '--since', "${d3}T00:00Z", '--until',
		"${d1}T00:00Z");

	$e = expect(g => 'd', from => 3, to => 0, by => 'day');
	check_json("usage --since $d3 --by day (until now)", $e,
		'--since', $d3, '--by', 'day');

	$e = expect(g => 'd', from => 3, to => 2, by => 'model');
	$e->{until} = btime('d', 1);
	check_json("usage --since ...T00:00:00Z --until ... seconds", $e,
		'--since', "${d3}T00:00:00Z", '--until', "${d1}T00:00:00Z");
}

{
	# a time inside an hour: since rounds down, until up
	my ($s, $u) = (iso(btime('h', 5) + 1800), iso(btime('h', 2) + 1800));

	my $e = expect(g => 'h', from => 5, to => 2, by => 'tenant');
	$e->{until} = btime('h', 1);
	check_json("usage --since $s --until $u (hours)", $e,
		'--since', $s, '--until', $u, '--by', 'tenant');

	$e = expect(g => 'h', from => 5, to => 0, by => 'model');
	check_json("usage --since $s (hours until now)", $e, '--since', $s);

	# durations: --until 2h ends 2 hours ago, inside hour 2
	$e = expect(g => 'h', from => 5, to => 2, by => 'model');
	$e->{until} = btime('h', 1);
	check_json('usage --since 6h --until 2h', $e, qw(--since 6h --until 2h));
}

{
	# a short window older than hourly usage is kept: days
	my $d = date(btime('d', 10));
	my $e = expect(g => 'd', from => 10, to => 10, by => 'model');
	$e->{until} = btime('d', 9);
	check_json("usage --since ${d}T10:00Z --until ${d}T12:00Z (old: days)",
		$e, '--since', "${d}T10:00Z", '--until', "${d}T12:00Z");
}

{
	# --month: the current one, up to now
	my @g = gmtime($T0);
	my $month = strftime('%Y-%m', @g);
	my $start = timegm(0, 0, 0, 1, $g[4], $g[5] + 1900);
	my $e = expect(g => 'd', from => ($DAY0 - $start) / 86400, to => 0,
		by => 'tenant');
	check_json("usage --month $month", $e, '--month', $month, '--by',
		'tenant');

	# last month, whole
	my $pstart = $g[4] == 0 ? timegm(0, 0, 0, 1, 11, $g[5] + 1900 - 1)
		: timegm(0, 0, 0, 1, $g[4] - 1, $g[5] + 1900);
	my $prev = strftime('%Y-%m', gmtime($pstart));
	$e = expect(g => 'd', from => ($DAY0 - $pstart) / 86400,
		to => ($DAY0 - $start) / 86400 + 1, by => 'model');
	$e->{until} = $start;
	check_json("usage --month $prev", $e, '--month', $prev);
}

# usage errors

for my $args ([qw(usage --tenant t1)], [qw(usage --since 2026-13-01)],
	[qw(usage --since 2026-02-30)], [qw(usage --since 2026-11-03T10:00)],
	[qw(usage --since 2026-11-03T25:00Z)], [qw(usage --since 2026-11-3)],
	[qw(usage --month 2026-1)], [qw(usage --month 2020-01)],
	[qw(usage --month 2099-01)], [qw(usage --month 2026-11 --since 1d)],
	[qw(usage --since 1d --until 2d)], [qw(usage --since 2099-01-01)],
	[qw(usage --format xml)], [qw(usage --json --format csv)],
	[qw(usage --by week)], [qw(usage --account acme --tenant a|b)],
	[qw(usage --account acme --tenant), 'a:b'])
{
	my ($rc, $out, $err) = $t->cli(@$args);
	is($rc, 2, "usage error: '@$args': exit 2") or diag($out . $err);
	like($err, qr/^tokenroute: .*\n.*tokenroute usage --help/,
		"usage error: '@$args': message");
}

{
	my $j = cli_json(qw(usage --format json --since 1d));
	is($j->{bucket}, 'hour', '--format json: the same as --json');
}

###############################################################################

# end to end: a request through the gateway, reported

{
	my $key = $t->create_key(name => 'live', account => 'live');
	my $res = $t->http(method => 'POST', path => '/v1/chat/completions',
		headers => [ Authorization => "Bearer $key->{raw}",
			'Content-Type' => 'application/json' ],
		body => '{"model":"openai/metered","max_tokens":1000,'
			. '"messages":[{"role":"user","content":"hi"}]}',
		timeout => 15);
	is($res->{status}, 200, 'gateway: 200') or diag($res->{raw});

	my $h = 'tr:key:' . $t->key_hash($key->{raw});
	my $spent = $t->wait_until(3, sub {
		my $s = $t->redis('HGET', $h, 'spent');
		return (defined $s && $s > 0) ? $s : undef;
	});
	ok($spent, 'gateway: the request settled') or diag($spent);

	my $j = cli_json('usage', '--key', $key->{id}, '--json');
	is_deeply([ map { [ @$_{qw(group requests failed input_tokens
		output_tokens cost_nusd)} ] } @{ $j->{rows} // [] } ],
		[ [ 'openai/metered', 1, 0, 40, 567, $spent ] ],
		'gateway: usage --key, the request as settled');

	my ($rc, $out) = $t->cli(qw(usage --account live --format csv));
	is($out, "model,requests,failed,input_tokens,output_tokens,"
		. "cached_tokens,cost_usd,estimated,unbilled_usd,clamped\n"
		. "openai/metered,1,0,40,567,0," . usd9($spent) . ",0,0.000000000,0\n",
		'gateway: usage --account --format csv');

	$j = cli_json(qw(usage --by tenant --account live --json));
	is_deeply([ map { [ @$_{qw(group account tenant requests)} ] }
		@{ $j->{rows} // [] } ], [ [ 'live/-', 'live', undef, 1 ] ],
		'gateway: usage --by tenant, a key without a tenant');
}

###############################################################################

done_testing();

###############################################################################
