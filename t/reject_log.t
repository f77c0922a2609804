#!/usr/bin/perl

# (C) tokenroute authors

# Tests for the log of the gateway's own rejections (401, 402, 403, 503):
# one error.log line each, at tokenroute_reject_log_level (default
# "error"), naming the status, the reason, the key id, the account and
# the model where known; a lower level than error_log's is filtered; no
# raw key and no key hash reaches the log.

###############################################################################

use warnings;
use strict;

use Test::More;
use Time::HiRes qw(sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();
$t->start_gateway();

my $d = $t->testdir();

# name => [ extra http, extra server, the level the lines must have ]

my %inst = (
	default => [ "error_log %%TESTDIR%%/default/rej.log info;\n", '',
		'error' ],
	notice => [ "tokenroute_reject_log_level notice;\n"
		. "error_log %%TESTDIR%%/notice/rej.log notice;\n", '', 'notice' ],
	server => [ "error_log %%TESTDIR%%/server/rej.log info;\n",
		"tokenroute_reject_log_level warn;\n", 'warn' ],
	filtered => [ "tokenroute_reject_log_level info;\n"
		. "error_log %%TESTDIR%%/filtered/rej.log notice;\n", '', undef ],
);

$t->start_nginx_instance($_, http => $inst{$_}[0], server => $inst{$_}[1])
	for sort keys %inst;

my $ok = $t->create_key(name => 'rl-ok', account => 'rl-acct');
my $revoked = $t->create_key(name => 'rl-revoked', account => 'rl-acct');
my $expired = $t->create_key(name => 'rl-expired', account => 'rl-acct',
	expires => '1s');
my $broke = $t->create_key(name => 'rl-broke', account => 'rl-broke',
	fund => 0);
my $limited = $t->create_key(name => 'rl-limited', account => 'rl-acct',
	limit => '0.000000001');
my $restricted = $t->create_key(name => 'rl-restricted', account => 'rl-acct',
	models => [ 'anthropic/claude-sonnet-4-5' ]);

my ($rc, undef, $err) = $t->cli('keys', 'revoke', $revoked->{id});
is($rc, 0, 'keys revoke') or diag($err);

my @b64 = ('A' .. 'Z', 'a' .. 'z', 0 .. 9, '-', '_');
my $unknown = 'sk-tr-' . join '', map { $b64[rand @b64] } 1 .. 43;

my @keys = ($ok, $revoked, $expired, $broke, $limited, $restricted);
my @secrets = ((map { $_->{raw} } @keys), $unknown,
	(map { $t->key_hash($_->{raw}) } @keys), $t->key_hash($unknown),
	$TokenRoute::Test::OPENAI_KEY, $TokenRoute::Test::ANTHROPIC_KEY);

sleep 1.1;

my $model = 'openai/gpt-4o-mini';

sub chat {
	my ($name, $auth) = @_;

	return $t->http(method => 'POST', path => '/v1/chat/completions',
		port => $t->port($name),
		headers => defined $auth ? { Authorization => "Bearer $auth" } : {},
		body => { model => $model, max_tokens => 8,
			messages => [ { role => 'user', content => 'hi' } ] });
}

# [ case, key or undef, status, what the line must say ]

my @cases = (
	[ 'missing key', undef, 401, qr/401 missing api key(?=, client: )/ ],
	[ 'malformed key', 'sk-tr-short', 401, qr/401 malformed api key(?=, client: )/ ],
	[ 'unknown key', $unknown, 401,
		qr/401 unknown api key, model "\Q$model\E"/ ],
	[ 'revoked key', $revoked->{raw}, 401,
		qr/401 revoked api key, key "\Q$revoked->{id}\E"/
		. qr/ account "rl-acct"/ ],
	[ 'expired key', $expired->{raw}, 401,
		qr/401 expired api key, key "\Q$expired->{id}\E"/
		. qr/ account "rl-acct"/ ],
	[ 'no credit', $broke->{raw}, 402,
		qr/402 insufficient credit, key "\Q$broke->{id}\E"/
		. qr/ account "rl-broke" model "\Q$model\E"/ ],
	[ 'key limit', $limited->{raw}, 402,
		qr/402 key limit reached, key "\Q$limited->{id}\E"/
		. qr/ account "rl-acct" model "\Q$model\E"/ ],
	[ 'model not allowed', $restricted->{raw}, 403,
		qr/403 model not allowed, key "\Q$restricted->{id}\E"/
		. qr/ account "rl-acct" model "\Q$model\E"/ ],
);

for my $name (sort keys %inst) {
	for my $c (@cases) {
		my ($case, $auth, $status) = @$c;
		is(chat($name, $auth)->{status}, $status, "$name: $case: $status");
	}

	is(chat($name, $ok->{raw})->{status}, 200, "$name: a good key: 200");
}

# Redis down: 503, the key unknown

$t->stop_redis();

for my $name (sort keys %inst) {
	is(chat($name, $ok->{raw})->{status}, 503, "$name: Redis down: 503");
}

$t->stop_nginx_instance($_) for sort keys %inst;

push @cases, [ 'Redis down', undef, 503,
	qr/503 key store unavailable(?!, key)/ ];

for my $name (sort keys %inst) {
	my $log = do {
		local $/;
		open my $fh, '<', "$d/$name/rej.log" or die "$name/rej.log: $!";
		<$fh>;
	};

	my @lines = grep { /tokenroute: \d{3} / } split /\n/, $log;
	my $level = $inst{$name}[2];

	if (!defined $level) {
		is(scalar @lines, 0, "$name: info lines filtered at notice")
			or diag(join "\n", @lines);

	} else {
		is(scalar @lines, scalar @cases, "$name: one line per rejection")
			or diag(join "\n", @lines);

		for my $i (0 .. $#cases) {
			my ($case, undef, undef, $re) = @{ $cases[$i] };
			my $line = $lines[$i] // '';

			like($line, qr/\[\Q$level\E\] \d+#\d+: \*\d+ tokenroute: $re/,
				"$name: $case: logged");
			like($line, qr/, client: 127\.0\.0\.1, server: /,
				"$name: $case: nginx's context");
		}

		unlike($log, qr/tokenroute: 200 /, "$name: no line for a 200");
	}

	for my $s (@secrets) {
		ok(index($log, $s) < 0, "$name: no " . substr($s, 0, 12) . '...')
			or diag(join "\n", grep { index($_, $s) >= 0 } split /\n/,
				$log);
	}
}

done_testing();
