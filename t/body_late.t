#!/usr/bin/perl

# (C) tokenroute authors

# A request body that arrives after the access phase started reading it,
# and is answered at once when it is in (Redis down: 503, without waiting
# for anything): the client half-closes right after its last byte, so
# nginx ends the connection, and frees the request, while finishing the
# answer.  The body reader must not touch the request after that (under
# ASan: no use after free), and the client gets its 503.

###############################################################################

use warnings;
use strict;

use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Socket qw(SHUT_WR);
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

$t->start_gateway();

my $key = $t->create_key();

$t->stop_redis();

# the worker has seen Redis go: a request is refused at once
my $r = $t->wait_until(5, sub {
	my $res = $t->http(method => 'POST', path => '/v1/chat/completions',
		headers => [ Authorization => "Bearer $key->{raw}" ],
		body => 'not json', timeout => 5);
	return $res->{status} == 503 ? $res : undef;
});
is($r && $r->{status}, 503, 'Redis down: 503');

sub late_body {
	my ($half_close) = @_;

	my $body = 'not json, and not routable: only the key is looked up';
	my $cut = int(length($body) / 2);

	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
		PeerPort => $t->port('http'), Proto => 'tcp')
		or die "connect: $!";

	print $s "POST /v1/chat/completions HTTP/1.1\r\n"
		. "Host: localhost\r\n"
		. "Authorization: Bearer $key->{raw}\r\n"
		. "Content-Type: application/json\r\n"
		. "Content-Length: " . length($body) . "\r\n\r\n"
		. substr($body, 0, $cut);

	# the access phase is reading the body when the rest comes
	sleep(0.3);

	print $s substr($body, $cut);
	shutdown($s, SHUT_WR) if $half_close;

	my $in = '';
	my $sel = IO::Select->new($s);
	my $end = time() + 5;

	while (time() < $end && $sel->can_read($end - time())) {
		my $n = sysread($s, $in, 65536, length $in);
		last unless $n;
	}

	close $s;

	return $in;
}

# nginx's debug log (the harness logs at debug): the request is freed
# when its log handlers run ("http log handler"); that must not happen
# before the body reader that ended it returned ("tokenroute body read")

sub freed_inside {
	my ($conn) = @_;

	my ($reading, $freed) = (0, 0);

	for (split /\n/, $t->error_log()) {
		next unless /\*\Q$conn\E /;
		$reading = 1 if /http run request/;
		$freed = 1 if $reading && /http log handler/;
		return $freed if /tokenroute body read: /;
	}

	return undef;
}

for my $half_close (1, 0) {
	my $name = $half_close ? 'half-closed' : 'kept open';
	my $log = length($t->error_log());
	my $in = late_body($half_close);

	like($in, qr{^HTTP/1\.1 503 }, "$name: 503");
	like($in, qr/key_store_unavailable/, "$name: the error in OpenAI's shape");

	my ($conn) = substr($t->error_log(), $log)
		=~ /\*(\d+) tokenroute body read: /;

	ok(defined $conn, "$name: the late body went through the body reader");
	is($conn && freed_inside($conn), 0,
		"$name: the request outlives the body reader");
}

# the worker is still there, and serves
my @w = $t->workers();
ok(@w, 'a worker');

done_testing();
