#!/usr/bin/perl

# (C) tokenroute authors

# Tests for a Redis outage: while Redis is down requests fail fast with 503
# in the client's shape and never reach the provider; once Redis is back the
# gateway recovers by itself, without a reload.

###############################################################################

use warnings;
use strict;

use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();
$t->start_gateway();

my $key = $t->create_key(name => 'redis-down');

sub chat {
	return $t->http(method => 'POST', path => '/v1/chat/completions',
		headers => { Authorization => "Bearer $key->{raw}" },
		body => { model => 'openai/gpt-4o-mini',
			messages => [ { role => 'user', content => 'hi' } ] },
		timeout => 15);
}

sub messages {
	return $t->http(method => 'POST', path => '/v1/messages',
		headers => { 'x-api-key' => $key->{raw},
			'anthropic-version' => '2023-06-01' },
		body => { model => 'anthropic/claude-haiku-4-5', max_tokens => 8,
			messages => [ { role => 'user', content => 'hi' } ] },
		timeout => 15);
}

# everything in Redis, to be put back after the restart
# (the test Redis runs with --save '' and starts empty)

sub dump_redis {
	my @dump;
	my $cursor = 0;

	do {
		my $r = $t->redis('SCAN', $cursor, 'COUNT', 1000);
		$cursor = $r->[0];
		for my $k (@{ $r->[1] }) {
			my $type = $t->redis('TYPE', $k);
			my $v = $type eq 'string' ? $t->redis('GET', $k)
				: $type eq 'hash' ? $t->redis('HGETALL', $k)
				: $type eq 'zset'
					? $t->redis('ZRANGE', $k, 0, -1, 'WITHSCORES')
				: $type eq 'set' ? $t->redis('SMEMBERS', $k)
				: $type eq 'list' ? $t->redis('LRANGE', $k, 0, -1)
				: die "cannot dump $k of type $type\n";
			push @dump, [ $k, $type, $v ];
		}
	} while ($cursor ne '0');

	return @dump;
}

sub restore_redis {
	for my $d (@_) {
		my ($k, $type, $v) = @$d;

		if ($type eq 'string') {
			$t->redis('SET', $k, $v);

		} elsif ($type eq 'hash') {
			$t->redis('HSET', $k, @$v);

		} elsif ($type eq 'zset') {
			my @pairs = @$v;
			my @args;
			push @args, splice(@pairs, 1, 1), shift @pairs while @pairs;
			$t->redis('ZADD', $k, @args);

		} elsif ($type eq 'set') {
			$t->redis('SADD', $k, @$v);

		} else {
			$t->redis('RPUSH', $k, @$v);
		}
	}
}

###############################################################################

is(chat()->{status}, 200, 'openai: works with Redis up');
is(messages()->{status}, 200, 'anthropic: works with Redis up');

my $master = $t->nginx_pid();
my @workers = $t->workers();

my @dump = dump_redis();
ok(scalar(grep { $_->[0] eq 'tr:key:' . $t->key_hash($key->{raw}) } @dump),
	'key record dumped');

$t->stop_redis();
$t->clear_mock_requests();

my @secrets = ($key->{raw}, $TokenRoute::Test::OPENAI_KEY,
	$TokenRoute::Test::ANTHROPIC_KEY);

for my $round (1, 2) {
	my $t0 = time();
	my $res = chat();
	my $elapsed = time() - $t0;

	$t->error_ok($res, 'openai', name => "openai: Redis down ($round)",
		status => 503, secrets => \@secrets);
	cmp_ok($elapsed, '<', 3, "openai: 503 within 3 s ($round)");

	$t0 = time();
	$res = messages();
	$elapsed = time() - $t0;

	$t->error_ok($res, 'anthropic', name => "anthropic: Redis down ($round)",
		status => 503, secrets => \@secrets);
	like(ref $res->{json} eq 'HASH' && ref $res->{json}{error} eq 'HASH'
		? $res->{json}{error}{type} // '' : '',
		qr/^(?:api_error|overloaded_error)$/,
		"anthropic: 503 error type ($round)");
	cmp_ok($elapsed, '<', 3, "anthropic: 503 within 3 s ($round)");
}

is(scalar($t->mock_requests()), 0,
	'nothing reached the provider while Redis was down');

###############################################################################

$t->start_redis();
restore_redis(@dump);

my $deadline = time() + 10;
my $status = 0;

while (time() < $deadline) {
	$status = chat()->{status};
	last if $status == 200;
	sleep 0.25;
}

is($status, 200, 'openai: works again within 10 s of Redis coming back');
is(messages()->{status}, 200, 'anthropic: works again');

is($t->nginx_pid(), $master, 'same nginx master');
is_deeply([ $t->workers() ], \@workers, 'same worker, no reload');

###############################################################################

done_testing();

###############################################################################
