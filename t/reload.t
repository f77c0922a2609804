#!/usr/bin/perl

# (C) tokenroute authors

# Tests for graceful reload: requests sent without a pause while nginx is
# reloaded twice all succeed; no connection is refused or dropped.

###############################################################################

use warnings;
use strict;

use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();
$t->start_gateway(mock => { delay => 0.05 });

my $key = $t->create_key(name => 'reload');

my $results = $t->testdir() . '/reload-results';

# the client: one request after another for 3 s, both APIs, some streamed

my $pid = fork();
die "fork: $!\n" unless defined $pid;

if ($pid == 0) {
	open my $fh, '>', $results or POSIX::_exit(1);
	select((select($fh), $| = 1)[0]);

	my $end = time() + 3;
	my $i = 0;

	while (time() < $end) {
		my $n = $i++ % 3;
		my $r = $n == 0
			? $t->http(method => 'POST', path => '/v1/chat/completions',
				headers => { Authorization => "Bearer $key->{raw}" },
				body => { model => 'openai/gpt-4o-mini',
					messages => [ { role => 'user', content => "r$i" } ] },
				timeout => 5)
			: $t->http(method => 'POST', path => '/v1/messages',
				headers => { 'x-api-key' => $key->{raw},
					'anthropic-version' => '2023-06-01' },
				body => { model => 'anthropic/claude-haiku-4-5',
					max_tokens => 8, stream => $n == 2 ? \1 : \0,
					messages => [ { role => 'user', content => "r$i" } ] },
				timeout => 5);

		my $complete = $n == 2
			? $r->{body} =~ /event: message_stop\n/ : defined $r->{json};

		printf $fh "%d %s %s\n", $r->{status},
			$complete ? 'complete' : 'incomplete',
			$r->{error} // '-';
	}

	close $fh;
	POSIX::_exit(0);
}

sleep 0.8;
ok(eval { $t->reload_nginx(); 1 }, 'first reload') or diag($@);
sleep 0.8;
ok(eval { $t->reload_nginx(); 1 }, 'second reload') or diag($@);

my $deadline = time() + 20;
my $done = 0;
while (time() < $deadline) {
	$done = 1, last if waitpid($pid, POSIX::WNOHANG()) == $pid;
	sleep 0.05;
}

if (!$done) {
	kill 'KILL', $pid;
	waitpid($pid, 0);
}

ok($done && $? == 0, 'client finished');

open my $fh, '<', $results or die "$results: $!\n";
my @lines = <$fh>;
close $fh;
chomp @lines;

cmp_ok(scalar @lines, '>=', 10, 'requests sent during the reloads')
	or diag(join "\n", @lines);

my @bad = grep { !/^200 complete -$/ } @lines;
ok(!@bad, 'every request answered 200 in full')
	or diag(join "\n", @bad);

is(scalar($t->workers()), 1, 'one worker after the reloads');

is($t->http(method => 'POST', path => '/v1/chat/completions',
	headers => { Authorization => "Bearer $key->{raw}" },
	body => { model => 'openai/gpt-4o-mini',
		messages => [ { role => 'user', content => 'after' } ] })->{status},
	200, 'works after the reloads');

###############################################################################

done_testing();

###############################################################################
