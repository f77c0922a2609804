#!/usr/bin/perl

# (C) tokenroute authors

# Provider addresses that change (README "Providers whose addresses
# change", issue 12): an upstream with "tokenroute_resolve" and
# "keepalive" has its server's name resolved again by each worker, with
# nginx's resolver, without a reload.
#
# The DNS server is t/lib/mock_dns.pl; the two addresses of the name are
# 127.0.0.1, where mock provider A listens, and ::1, where mock provider B
# listens on the same port.  The upstream's server is "localhost": nginx
# resolves a server's name at load with the system's resolver (here
# /etc/hosts: 127.0.0.1), then at run time with the mock DNS.  The
# provider's url names provider.test (the Host header).
#
#   1. the name answers 127.0.0.1: N sequential requests reach A on one
#      connection (keepalive)
#   2. the answer changes to ::1: requests reach B within a few seconds,
#      no reload, again N of them on one connection; a [notice] says so;
#      a provider whose url has no upstream= (its implicit upstream,
#      url=http://localhost:PORT) moves to B too
#   3. the DNS server stops: requests keep going to B (the last good
#      address), a [warn] says so, no [alert] (the harness checks)
#   4. the DNS server answers 127.0.0.1 again while a stream to B is in
#      flight: the stream completes (the old peers stay alive until it
#      ends: run under ASan to see no use after free), new requests
#      reach A
#   5. NXDOMAIN: the last good address stays, with a [warn]; a reload
#      ends the old worker at once (its timers do not hold it)
#   6. "nginx -t": tokenroute_resolve without a resolver is a [warn] (the
#      names resolved at load only: a provider file that has it can be
#      included anywhere), after keepalive an [emerg]

###############################################################################

use warnings;
use strict;

use JSON::PP;
use POSIX qw(:sys_wait_h);
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();
my $d = $t->testdir;

plan(skip_all => 'no IPv6 loopback')
	unless IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0,
		Proto => 'tcp', Listen => 1);

my $zone = "$d/zone";
my $dns_log = "$d/dns.log";

sub answer {
	my ($text) = @_;
	$t->_write("$zone.tmp", "$text\n", 0644);
	rename "$zone.tmp", $zone or die "rename: $!\n";
}

sub start_dns {
	$t->_spawn('dns', "$d/dns.out", {}, $^X,
		$t->repo . '/t/lib/mock_dns.pl', '--port', $t->port('dns'),
		'--zone', $zone, '--log', $dns_log);
	$t->wait_until(5, sub { -s "$d/dns.out" || 1 });
	sleep 0.2;
}

answer('localhost A 127.0.0.1 1');

my $port = $t->port('prov');
$t->_release_port('prov');

$t->start_redis();
$t->start_mock(name => 'mockA', port => $port);
$t->start_mock(name => 'mockB', port => $port, host => '::1');
start_dns();

my ($http, $server) = $t->default_conf();

$http .= <<'EOF';
resolver 127.0.0.1:%%PORT_dns%% valid=1s;
resolver_timeout 1s;
upstream resolved_up {
    server localhost:%%PORT_prov%%;
    tokenroute_resolve 2s;
    keepalive 8;
}
tokenroute_provider resolved type=openai url=http://provider.test:%%PORT_prov%%/v1 upstream=resolved_up key_file=%%TESTDIR%%/openai.key;
tokenroute_model r/gpt provider=resolved upstream_model=gpt-4o-mini input_price=1 output_price=1;
tokenroute_provider implicit type=openai url=http://localhost:%%PORT_prov%%/v1 key_file=%%TESTDIR%%/openai.key;
tokenroute_model i/gpt provider=implicit upstream_model=gpt-4o-mini input_price=1 output_price=1;
EOF

$t->write_nginx_conf($http, $server);
$t->start_nginx();

my $key = $t->create_key(name => 'resolve');

sub chat {
	my (%o) = @_;
	return $t->http(method => 'POST', path => '/v1/chat/completions',
		headers => { Authorization => "Bearer $key->{raw}",
			'Content-Type' => 'application/json' },
		body => { model => $o{model} // 'r/gpt',
			stream => $o{stream} ? JSON::PP::true
				: JSON::PP::false,
			messages => [ { role => 'user', content => 'Hi' } ] });
}

sub conns {
	my ($name) = @_;
	my %c = map { $_->{conn} => 1 } $t->mock_requests($name);
	return scalar keys %c;
}

sub count { scalar(my @r = $t->mock_requests($_[0])) }

# 1. 127.0.0.1

for (1 .. 5) {
	my $res = chat();
	is($res->{status}, 200, "A: request $_") or diag($res->{body});
}

is(count('mockA'), 5, 'A got the 5 requests');
is(count('mockB'), 0, 'B got none');
is(conns('mockA'), 1, 'A: one connection for 5 requests (keepalive)');
ok($t->wait_until(5, sub { -s $dns_log }), 'nginx asked the mock DNS');

# 2. ::1

answer('localhost AAAA ::1 1');

my $moved = $t->wait_until(10, sub {
	my $res = chat();
	return $res->{status} == 200 && count('mockB') > 0;
});
ok($moved, 'requests reach B after the answer changed, without reload');

# the implicit upstream of a url without upstream= moves too

$t->clear_mock_requests('mockB');

ok($t->wait_until(10, sub {
	my $res = chat(model => 'i/gpt');
	return $res->{status} == 200 && count('mockB') > 0;
}), 'an implicit upstream (url=http://localhost:PORT) moves to B too');

$t->clear_mock_requests('mockA');
$t->clear_mock_requests('mockB');

for (1 .. 5) {
	my $res = chat();
	is($res->{status}, 200, "B: request $_") or diag($res->{body});
}

is(count('mockB'), 5, 'B got the 5 requests');
is(count('mockA'), 0, 'A got none');
is(conns('mockB'), 1, 'B: one connection for 5 requests (keepalive)');
like($t->error_log, qr/\[notice\].*tokenroute_resolve: "localhost" of upstream "resolved_up" now resolves to \[::1\]:$port/,
	'a notice names the new address');

# 3. the DNS server stops

$t->_stop_proc('dns', 'TERM');
my $stopped = time();

ok($t->wait_until(15, sub {
	$t->error_log =~ /\[warn\].*tokenroute_resolve: "localhost" of upstream "resolved_up" could not be resolved.*keeping the last good addresses/
}), 'a [warn]: the last good address is kept');

$t->clear_mock_requests('mockB');

for (1 .. 3) {
	my $res = chat();
	is($res->{status}, 200, "DNS down: request $_") or diag($res->{body});
}

is(count('mockB'), 3, 'DNS down: B still gets the requests');
is(count('mockA'), 0, 'DNS down: A none');

# 4. a swap while a stream to B is in flight

$t->clear_mock_requests('mockA');
$t->clear_mock_requests('mockB');

my $h = $t->http_start(method => 'POST', path => '/v1/chat/completions',
	headers => { Authorization => "Bearer $key->{raw}",
		'Content-Type' => 'application/json', 'x-mock-delay' => '0.7' },
	body => { model => 'r/gpt', stream => JSON::PP::true,
		messages => [ { role => 'user', content => 'Hi' } ] });

my ($status) = $t->http_read_events($h, 1);
is($status, 200, 'a stream to B started');

answer('localhost A 127.0.0.1 1');
start_dns();

ok($t->wait_until(10, sub {
	my $res = chat();
	return $res->{status} == 200 && count('mockA') > 0;
}), 'new requests reach A while the stream goes on');

my $res = $t->http_finish($h, timeout => 20);
like($res->{body} // '', qr/data: \[DONE\]/, 'the stream to B completed');
is(scalar(grep { ($_->{json}{stream} // 0) } $t->mock_requests('mockB')), 1,
	'the stream was B\'s');

# the stream held B's peers past the swap; its end freed them

ok($t->wait_until(5, sub { $t->error_log =~
	/old peers of upstream "resolved_up" freed by their last request/ }),
	'the old peers were freed by their last request (the stream)');

# more requests, still A

for (1 .. 3) {
	my $r = chat();
	is($r->{status}, 200, "A again: request $_") or diag($r->{body});
}

# 5. NXDOMAIN keeps the last good address

answer('otherhost A 127.0.0.1 1');
ok($t->wait_until(10, sub {
	my @w = $t->error_log =~ /(could not be resolved \(3: Host not found\))/g;
	return scalar @w;
}), 'NXDOMAIN: a [warn]');

$t->clear_mock_requests('mockA');
$res = chat();
is($res->{status}, 200, 'NXDOMAIN: a request') or diag($res->{body});
is(count('mockA'), 1, 'NXDOMAIN: A still gets it');

# a reload: the old worker, with its resolve timers, exits at once (the
# timers do not hold it); the new one starts from the load-time address

my @old = $t->workers();
$t->reload_nginx();
ok($t->wait_until(5, sub {
	my %now = map { $_ => 1 } $t->workers();
	return !grep { $now{$_} } @old;
}), 'reload: the old worker exited');

$t->clear_mock_requests('mockA');
$res = chat();
is($res->{status}, 200, 'after reload: a request') or diag($res->{body});
is(count('mockA'), 1, 'after reload: A gets it');

###############################################################################

# 6. configuration errors

sub nginx_check { return $t->nginx_check(http => $_[0]) }

my $r = nginx_check(<<'EOF');
upstream u1 {
    server localhost:1;
    tokenroute_resolve;
}
EOF
is($r->{rc}, 0, 'no resolver: nginx -t passes');
like($r->{out}, qr/\[warn\].*"tokenroute_resolve" in upstream "u1".*needs a "resolver" in the http block: its names are resolved once, at load/,
	'no resolver: a [warn] says so') or diag($r->{out});

$r = nginx_check(<<'EOF');
resolver 127.0.0.1:1;
upstream u1 {
    server localhost:1;
    keepalive 4;
    tokenroute_resolve;
}
EOF
isnt($r->{rc}, 0, 'after keepalive: nginx -t fails');
like($r->{out}, qr/\[emerg\].*must come before keepalive/,
	'after keepalive: says so') or diag($r->{out});

$r = nginx_check(<<'EOF');
resolver 127.0.0.1:1;
upstream u1 {
    server localhost:1;
    tokenroute_resolve 10s;
    keepalive 4;
}
EOF
is($r->{rc}, 0, 'tokenroute_resolve 10s; keepalive: nginx -t passes')
	or diag($r->{out});

done_testing();
