#!/usr/bin/perl

# (C) tokenroute authors

# Reservations the gateway knows are dead are released at once, not after
# tokenroute_reservation_ttl (README "The reservation rule"): those of
# admissions whose reply never came (the client got 503 after `timeout`,
# but Redis made the reservation when it woke up), and those of clients
# that went away while their admission was in Redis.

###############################################################################

use warnings;
use strict;

use IO::Select;
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

my ($http, $server) = $t->default_conf();
$http =~ s/ timeout=1s / timeout=300ms / or die "no timeout in the conf\n";
$http .= <<'EOF2';
log_format rel '$tokenroute_request_id $status';
access_log %%TESTDIR%%/rel.log rel;
EOF2

$t->start_redis();
$t->start_mock();
$t->write_nginx_conf($http, $server);
$t->start_nginx();

# one more nginx, with the usual timeout of 1 s: for clients that leave
# while Redis is slow, but not too slow
$t->start_nginx_instance('patient', http => <<'EOF2');
log_format rel '$tokenroute_request_id $status';
access_log %%TESTDIR%%/patient.log rel;
EOF2

my $key = $t->create_key(account => 'rel');
my $KH = 'tr:key:' . $t->key_hash($key->{raw});
my $AH = 'tr:acct:rel';

sub reserved {
	return ($t->redis('HGET', $KH, 'reserved') // 0) . ' '
		. ($t->redis('HGET', $AH, 'reserved') // 0) . ' '
		. $t->redis('HLEN', 'tr:rsvd') . ' ' . $t->redis('ZCARD', 'tr:rsv');
}

# Redis stalled by a busy script (as DEBUG SLEEP would, which Redis 7
# refuses by default), sent on a connection of its own; its reply (read
# by redis_woke()) is when Redis answers again
my $BUSY = <<'LUA';
local s = redis.call('TIME')
local t0 = s[1] * 1000000 + s[2]
while true do
  local n = redis.call('TIME')
  if n[1] * 1000000 + n[2] - t0 >= tonumber(ARGV[1]) then break end
end
return 'OK'
LUA

sub redis_sleep {
	my ($secs) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
		PeerPort => $t->redis_port(), Proto => 'tcp', Timeout => 2)
		or die "redis: $!\n";
	my @cmd = ('EVAL', $BUSY, 0, int($secs * 1e6));
	syswrite($s, '*' . @cmd . "\r\n"
		. join('', map { '$' . length($_) . "\r\n$_\r\n" } @cmd));
	return $s;
}

sub redis_woke {
	my ($s) = @_;
	my ($answer, $sel) = ('', IO::Select->new($s));
	while ($answer !~ /\r\n.*\r\n/s && $sel->can_read(10)) {
		sysread($s, $answer, 1024, length $answer) or last;
	}
	close $s;
	return $answer;
}

sub request {
	return { method => 'POST', path => '/v1/chat/completions',
		headers => [ Authorization => "Bearer $key->{raw}",
			'Content-Type' => 'application/json' ],
		body => '{"model":"openai/gpt-4o-mini","max_tokens":1000,'
			. '"messages":[{"role":"user","content":"Hi"}]}',
		timeout => 10, @_ };
}

###############################################################################

# 1. Redis stalls past `timeout` while 24 requests are admitted: each gets
# 503, and Redis makes their reservations when it wakes up

my $s = redis_sleep(2);
sleep 0.2;

my @res = $t->http_parallel(map { request() } 1 .. 24);
is(scalar(grep { $_->{status} == 503 } @res), 24, '24 requests: 503')
	or diag(join ' ', map { $_->{status} } @res);

is(redis_woke($s), "\$2\r\nOK\r\n", 'Redis answers again');
my $woke = time();

ok($t->wait_until(2, sub { reserved() eq '0 0 0 0' }),
	'within 2 s, nothing is reserved any more') or diag(reserved());
diag(sprintf 'released %.2f s after Redis woke', time() - $woke);
is($t->redis('HEXISTS', $KH, 'reserved'), 1,
	'the timed-out admissions did reserve (and were released)');
is($t->redis('HGET', $AH, 'credit'), 1000 * 1e9, 'nothing charged');

# 2. The release is sent once more a little later: an admission that
# reaches Redis after the first release (delayed on its way) is
# released too.  Shown by making such a reservation by hand for one of
# the 503 requests.

my ($rid) = TokenRoute::Test::_slurp($t->testdir . '/rel.log')
	=~ /^([0-9a-f]{24}) 503$/m;
ok($rid, "a 503 request's id: " . ($rid // ''));

if ($rid) {
	my $h = $t->key_hash($key->{raw});
	$t->redis('HSET', 'tr:rsvd', $rid, "$h 777 rel");
	$t->redis('ZADD', 'tr:rsv', time() + 900, $rid);
	$t->redis('HINCRBY', $KH, 'reserved', 777);
	$t->redis('HINCRBY', $AH, 'reserved', 777);

	ok($t->wait_until(5, sub { reserved() eq '0 0 0 0' }),
		'a late reservation of a timed-out admission is released too')
		or diag(reserved());
}

# 3. Clients that go away while their admission is in Redis (stalled for
# less than the timeout): the reply says ok, nobody is there to use it,
# the reservation is released

$s = redis_sleep(0.8);
sleep 0.1;

my $mock0 = () = $t->mock_requests();
my @h = map { $t->http_start(%{ request(port => $t->port('patient')) }) }
	1 .. 10;
sleep 0.3;
$t->http_abort($_) for @h;

is(redis_woke($s), "\$2\r\nOK\r\n", 'Redis answers again');
$woke = time();

ok($t->wait_until(2, sub { reserved() eq '0 0 0 0' }),
	'within 2 s, the reservations of the clients gone are released')
	or diag(reserved());
diag(sprintf 'released %.2f s after Redis woke', time() - $woke);

sleep 0.5;
is(scalar(() = $t->mock_requests()), $mock0, 'none reached the provider');
my $log = TokenRoute::Test::_slurp($t->testdir . '/patient.log');
is(scalar(() = $log =~ / 499$/mg), 10, 'the clients gone are logged 499')
	or diag($log);
is($t->redis('HGET', $AH, 'credit'), 1000 * 1e9, 'nothing charged');

# a request afterwards goes through as usual

my $r = $t->http(%{ request() });
is($r->{status}, 200, 'a request afterwards: 200');
ok($t->wait_until(3, sub {
	$t->settled($r->{headers}{'x-tokenroute-request-id'} // 'none') }),
	'and is settled');
is(reserved(), '0 0 0 0', 'nothing reserved');

###############################################################################

done_testing();

###############################################################################
