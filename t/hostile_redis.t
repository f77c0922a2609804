#!/usr/bin/perl

# (C) tokenroute authors

# Tests for a hostile or broken Redis: a fake Redis (RESP over TCP, a
# forked child of this test) answers the admission script with replies
# the gateway must not trust: a reserving verdict ("ok") to a key check,
# a check verdict ("key") to a reservation, an unknown status, a rate
# limit's verdict to a check or malformed, an integer
# or nil element, an array of the wrong size.  Each request gets 503 in
# its client's shape (as when Redis is down), the worker does not crash,
# nothing is settled or released for a request that reserved nothing,
# and a good reply afterwards is served as usual.
#
# The fake's control file (testdir/fake.json) says what it answers to the
# next admission EVALSHA: "check" and "reserve", the element for a key
# check slot (amount "-") and for a reserving one, each {"s": STRING}
# ("%ALLOW%" in it: one "1" per model asked about), {"i": INTEGER},
# {"nil": 1}; or "reply": the whole reply; "extra": elements added;
# "delay": seconds before answering.  The cooldowns' element (an empty
# array: no news) ends every admission reply but a "reply" one.  Every
# EVALSHA is logged to
# testdir/fake.log, one JSON line each.

###############################################################################

use warnings;
use strict;

use Test::More;
use Digest::SHA qw(sha1_hex);
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new(needs => [qw(nginx module)]);
my $dir = $t->testdir();
my $json = JSON::PP->new->utf8->canonical;

# the fake Redis

sub resp {
	my ($spec) = @_;

	return "\$-1\r\n" if $spec->{nil};
	return ":$spec->{i}\r\n" if defined $spec->{i};
	return "-$spec->{err}\r\n" if defined $spec->{err};

	if ($spec->{a}) {
		return '*' . @{ $spec->{a} } . "\r\n"
			. join('', map { resp($_) } @{ $spec->{a} });
	}

	return '$' . length($spec->{s}) . "\r\n$spec->{s}\r\n";
}

sub parse_command {
	my ($buf) = @_;

	return undef unless $$buf =~ /^\*(\d+)\r\n/;
	my ($n, $pos) = ($1, length($&));
	my @argv;

	for (1 .. $n) {
		return undef
			unless substr($$buf, $pos) =~ /^\$(\d+)\r\n/;
		my $len = $1;
		$pos += length($&);
		return undef if length($$buf) < $pos + $len + 2;
		push @argv, substr($$buf, $pos, $len);
		$pos += $len + 2;
	}

	substr($$buf, 0, $pos) = '';
	return \@argv;
}

sub admission_reply {
	my ($argv) = @_;

	my $c = do {
		local $/;
		open my $fh, '<', "$dir/fake.json" or return resp({ err => 'ERR' });
		$json->decode(<$fh>);
	};

	sleep $c->{delay} if $c->{delay};

	return resp($c->{reply}) if $c->{reply};

	# ARGV after the sha and numkeys: now, deadline, 5 fields per slot
	my @slots;
	for (my $i = 5; $i + 4 < @$argv; $i += 5) {
		my $spec = { %{ $argv->[$i + 3] eq '-' ? $c->{check}
			: $c->{reserve} } };
		if (defined $spec->{s}) {
			my $allow = '1' x scalar(split / /, $argv->[$i + 1]);
			$spec->{s} =~ s/%ALLOW%/$allow/g;
		}
		push @slots, $spec;
	}

	push @slots, ({ s => 'ok' }) x ($c->{extra} // 0);

	# the cooldowns' argument after the slots: no news about them
	push @slots, { a => [] } if (@$argv - 5) % 5 == 1;

	return resp({ a => \@slots });
}

sub fake_redis {
	my ($listen) = @_;

	my %scripts;
	my %buf;
	my $sel = IO::Select->new($listen);

	open my $log, '>>', "$dir/fake.log" or die "fake.log: $!\n";
	$log->autoflush(1);

	while (1) {
		for my $fh ($sel->can_read(1)) {
			if ($fh == $listen) {
				my $c = $listen->accept() or next;
				$sel->add($c);
				$buf{$c} = '';
				next;
			}

			my $n = sysread($fh, $buf{$fh}, 65536, length $buf{$fh});

			if (!$n) {
				$sel->remove($fh);
				delete $buf{$fh};
				close $fh;
				next;
			}

			while (my $argv = parse_command(\$buf{$fh})) {
				my $cmd = uc $argv->[0];
				my $out;

				if ($cmd eq 'SCRIPT' && uc($argv->[1]) eq 'LOAD') {
					my $sha = sha1_hex($argv->[2]);
					$scripts{$sha} = $argv->[2];
					$out = resp({ s => $sha });

				} elsif ($cmd eq 'EVALSHA') {
					my $text = $scripts{$argv->[1]} // '';
					my $admission = $text =~ /bad admission: ARGV/ ? 1 : 0;

					print $log $json->encode({ admission => $admission,
						argv => [ @$argv[2 .. $#$argv] ] }), "\n";

					$out = $admission ? admission_reply($argv)
						: resp({ i => 0 });

				} elsif ($cmd eq 'PING') {
					$out = "+PONG\r\n";

				} else {
					$out = "+OK\r\n";
				}

				syswrite($fh, $out);
			}
		}
	}
}

sub control {
	my ($c) = @_;

	open my $fh, '>', "$dir/fake.json.tmp" or die "fake.json: $!\n";
	print $fh $json->encode($c);
	close $fh;
	rename "$dir/fake.json.tmp", "$dir/fake.json" or die "rename: $!\n";
}

sub fake_log {
	open my $fh, '<', "$dir/fake.log" or return ();
	return map { $json->decode($_) } <$fh>;
}

my $port = $t->port('redis');
$t->_release_port('redis');

my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
	LocalPort => $port, Listen => 16, ReuseAddr => 1, Proto => 'tcp')
	or die "fake redis: cannot listen on $port: $!\n";

my $pid = fork();
die "fork: $!\n" unless defined $pid;

if ($pid == 0) {
	TokenRoute::Test::_die_with_parent();
	# a reply to a connection nginx dropped meanwhile
	$SIG{PIPE} = 'IGNORE';
	fake_redis($listen);
	POSIX::_exit(0);
}

close $listen;

# the harness stops it at the end, as it would a real Redis
$t->{procs}{redis} = $pid;

control({ check => { s => "key\nkey_x\nacct\n-\n%ALLOW%" },
	reserve => { s => "ok\nkey_x\nacct\n-\n%ALLOW%" } });

$t->start_gateway();

###############################################################################

my $raw = 'sk-tr-' . ('h' x 40);
my @workers = $t->workers();

my %req = (
	models => [ 'openai', method => 'GET', path => '/v1/models',
		headers => { Authorization => "Bearer $raw" } ],
	model => [ 'openai', method => 'GET',
		path => '/v1/models/openai/gpt-4o-mini',
		headers => { Authorization => "Bearer $raw" } ],
	count_tokens => [ 'anthropic', method => 'POST',
		path => '/v1/messages/count_tokens',
		headers => { 'x-api-key' => $raw,
			'anthropic-version' => '2023-06-01' },
		body => { model => 'anthropic/claude-haiku-4-5',
			messages => [ { role => 'user', content => 'hi' } ] } ],
	chat => [ 'openai', method => 'POST', path => '/v1/chat/completions',
		headers => { Authorization => "Bearer $raw" },
		body => { model => 'openai/gpt-4o-mini',
			messages => [ { role => 'user', content => 'hi' } ] } ],
);

sub request {
	my ($name) = @_;
	my ($shape, %a) = @{ $req{$name} };
	return ($shape, $t->http(%a, timeout => 10));
}

sub crashed {
	return scalar grep { /exited on signal/ } split /\n/, $t->error_log();
}

# the fake answers well: the gateway serves (the test works)

is((request('models'))[1]{status}, 200, 'good reply: models 200');
is((request('model'))[1]{status}, 200, 'good reply: model 200');
is((request('chat'))[1]{status}, 200, 'good reply: chat 200');

my @cases = (
	[ 'each kind gets the other kind\'s verdict',
		{ check => { s => "ok\nkey_x\nacct\n-\n%ALLOW%" },
		reserve => { s => "key\nkey_x\nacct\n-\n%ALLOW%" } } ],
	[ 'an unknown status',
		{ check => { s => "xyz\nkey_x\nacct\n-\n%ALLOW%" },
		reserve => { s => "xyz\nkey_x\nacct\n-\n%ALLOW%" } } ],
	[ 'a reservation\'s refusal to a check',
		{ check => { s => "forbidden\nkey_x\nacct\n-\n" },
		reserve => { s => "bad" } } ],
	[ 'a check\'s refusal with a reserving status',
		{ check => { s => "credit\nkey_x\nacct\n5\n" },
		reserve => { s => "" } } ],
	[ 'a rate limit\'s verdict to a check, one with an unknown limit',
		{ check => { s => "rate\nkey_x\nacct\n1\nrpm\nkey\n5" },
		reserve => { s => "rate\nkey_x\nacct\n1\nrps\nkey\n5" } } ],
	[ 'rate verdicts cut short, or with an unknown level',
		{ check => { s => "rate\nkey_x\nacct" },
		reserve => { s => "rate\nkey_x\nacct\n1\nrpm" } } ],
	[ 'rate verdicts with no retry, or one past an hour',
		{ check => { s => "rate" },
		reserve => { s => "rate\nkey_x\nacct\n\nrpm\nkey" } } ],
	[ 'a rate verdict with a retry past an hour',
		{ check => { s => "" },
		reserve => { s => "rate\nkey_x\nacct\n3601\ntpm\nkey\n9" } } ],
	[ 'a rate verdict of an unknown level',
		{ check => { s => "" },
		reserve => { s => "rate\nkey_x\nacct\n5\ntpm\nteam\n9" } } ],
	[ 'an integer element', { check => { i => 1 }, reserve => { i => 1 } } ],
	[ 'a nil element', { check => { nil => 1 }, reserve => { nil => 1 } } ],
	[ 'an array of the wrong size',
		{ check => { s => "key\nkey_x\nacct\n-\n%ALLOW%" },
		reserve => { s => "ok\nkey_x\nacct\n-\n%ALLOW%" }, extra => 1 } ],
	[ 'an integer reply', { reply => { i => 7 } } ],
);

for my $case (@cases) {
	my ($what, $c) = @$case;
	my $crashed = crashed();

	control($c);

	for my $name (qw(models model count_tokens chat)) {
		my ($shape, $res) = request($name);
		$t->error_ok($res, $shape, status => 503,
			name => "$what: $name 503 in the $shape shape");
	}

	is(crashed() - $crashed, 0, "$what: no worker crashed");
}

is_deeply([ $t->workers() ], \@workers, 'the same worker throughout');

# nothing was settled or released: every admitted request above reserved
# nothing, and the chats before the cases were the only ones admitted

# the key checks' request ids in the log from entry FROM on, and the
# other scripts' commands (settlement, release, sweep) naming one

sub touched_checks {
	my ($from) = @_;

	my @log = fake_log();
	splice(@log, 0, $from);

	my %rid;
	for my $e (grep { $_->{admission} } @log) {
		my @a = @{ $e->{argv} };
		for (my $i = 3; $i + 4 < @a; $i += 5) {
			$rid{ $a[$i + 2] } = 1 if $a[$i + 3] eq '-';
		}
	}

	my @touched = grep { my $e = $_; grep { $rid{$_} } @{ $e->{argv} } }
		grep { !$_->{admission} } @log;

	return (scalar(keys %rid), scalar(@touched));
}

my ($checks, $touched) = touched_checks(0);
ok($checks, 'key checks were sent');
is($touched, 0, 'no settlement or release names a key check');

# a key check gone while in Redis, answered "ok": nothing to release

my $mark = () = fake_log();

control({ check => { s => "ok\nkey_x\nacct\n-\n%ALLOW%" },
	reserve => { s => "ok\nkey_x\nacct\n-\n%ALLOW%" }, delay => 0.6 });

my $h = $t->http_start(@{ $req{models} }[1 .. $#{ $req{models} }]);
$t->wait_until(5, sub { (touched_checks($mark))[0] });
$t->http_abort($h);
sleep 1;

($checks, $touched) = touched_checks($mark);
is($checks, 1, 'gone: its key check was sent');
is($touched, 0, 'gone: a key check answered "ok" is not released');

# the worker serves a good reply afterwards

control({ check => { s => "key\nkey_x\nacct\n-\n%ALLOW%" },
	reserve => { s => "ok\nkey_x\nacct\n-\n%ALLOW%" } });

# a good rate verdict: 429; the limit's level and value come from Redis

control({ check => { s => "key\nkey_x\nacct\n-\n%ALLOW%" },
	reserve => { s => "rate\nkey_x\nacct\n7\nrpm\ntenant\n100\nmore" } });

my ($shape, $res) = request('chat');
$t->error_ok($res, $shape, status => 429, type => 'rate_limit_error',
	name => 'a rate verdict: 429');
is($res->{headers}{'retry-after'}, 7, 'Retry-After: the verdict\'s');
like($res->{json}{error}{message} // '',
	qr/this API key's tenant's own limit of 100 requests per minute \(rpm\)/,
	'the tenant\'s rpm limit of 100');

control({ check => { s => "key\nkey_x\nacct\n-\n%ALLOW%" },
	reserve => { s => "rate\nkey_x\nacct\n0\nrpm\nkey" } });
($shape, $res) = request('chat');
is($res->{status}, 429, 'a rate verdict with no value: 429');
is($res->{headers}{'retry-after'}, 1, 'a retry of 0 is sent as 1');
like($res->{json}{error}{message} // '',
	qr/this API key's own limit of requests per minute \(rpm\)/,
	'no value: none named');

control({ check => { s => "key\nkey_x\nacct\n-\n%ALLOW%" },
	reserve => { s => "ok\nkey_x\nacct\n-\n%ALLOW%" } });

($shape, $res) = request('models');
is($res->{status}, 200, 'good reply again: models 200');
($shape, $res) = request('chat');
is($res->{status}, 200, 'good reply again: chat 200');

is(crashed(), 0, 'no worker exited on a signal');
is_deeply([ $t->workers() ], \@workers, 'the same worker at the end');

###############################################################################

done_testing();

###############################################################################
