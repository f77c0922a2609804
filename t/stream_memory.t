#!/usr/bin/perl

# (C) tokenroute authors

# Worker memory per stream held open (issue 14: close to a bare proxy):
# K streams stalled mid-answer through tokenroute, and K through a bare
# nginx proxy (the same transport, no module in its location), the worker's
# VmRSS growth per stream compared.  bench/streams measures the same at
# 10,000 streams; this keeps the gap from growing back: what tokenroute
# adds per held stream (its context, response state, SSE splitter, body
# copies) stays under STREAM_EXTRA_KB.  Skipped under sanitizers (their
# allocator's redzones and quarantine are what would be measured).

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $K = 150;
my $STREAM_EXTRA_KB = 7;

my $t = TokenRoute::Test->new();

# stall-2: two events, then the provider holds the stream open (30 s)
$t->start_gateway(http => <<'EOF');
tokenroute_model openai/held provider=mockai upstream_model=gpt-held-stall-2-usage-30-300 input_price=1 output_price=2;
EOF

my $mock = $t->port('mock');
my $provider_key = do {
	open my $fh, '<', $t->testdir . '/openai.key' or die "openai.key: $!";
	local $/;
	<$fh> =~ s/\s+\z//r;
};

# the bare proxy: conf.d/tokenroute_proxy.conf's transport, no module
$t->start_nginx_instance('bare', server => <<"EOF");
location /bare/ {
    proxy_pass http://127.0.0.1:$mock/;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Content-Type "application/json";
    proxy_set_header Authorization "Bearer $provider_key";
    proxy_pass_request_headers off;
    proxy_buffering off;
    client_body_buffer_size 4m;
}
EOF

my $key = $t->create_key(name => 'held');

my $body = { model => 'openai/held', max_tokens => 300,
	stream => JSON::PP::true,
	messages => [ { role => 'user', content => 'x' x 800 } ] };

sub workers_of {
	my ($master) = @_;
	my @pids;
	opendir my $dh, '/proc' or return ();
	for my $p (grep { /^\d+$/ } readdir $dh) {
		open my $fh, '<', "/proc/$p/stat" or next;
		my $stat = <$fh> // '';
		push @pids, $p if $stat =~ /\)\s+\S+\s+(\d+)/ && $1 == $master;
	}
	return @pids;
}

sub rss_kb {
	my $kb = 0;
	for my $p (@_) {
		open my $fh, '<', "/proc/$p/status" or next;
		while (<$fh>) {
			$kb += $1 if /^VmRSS:\s+(\d+)/;
		}
	}
	return $kb;
}

# opens n streams, reads each one's first event; returns the handles
sub open_streams {
	my ($n, %o) = @_;
	my (@h, $started);

	for (1 .. $n) {
		push @h, $t->http_start(method => 'POST', port => $o{port},
			path => $o{path}, headers => $o{headers}, body => $o{body},
			timeout => 20);
	}

	for my $h (@h) {
		my ($count, $raw) = $t->http_read_events($h, 1, timeout => 20);
		$started++ if $count >= 1 && $raw =~ m{^HTTP/1\.1 200 };
	}

	return ($started // 0, @h);
}

# per stream growth of the workers' RSS, KB, after a warm-up
sub per_stream {
	my (%o) = @_;
	my @w = workers_of($o{master});

	my ($warm, @h) = open_streams(10, %o);
	$t->http_abort($_) for @h;
	sleep 0.5;

	my $before = rss_kb(@w);
	my $started;
	($started, @h) = open_streams($K, %o);
	sleep 0.3;
	my $after = rss_kb(@w);
	$t->http_abort($_) for @h;

	return ($started, ($after - $before) / $K);
}

my $bare_body = { %$body, model => 'gpt-held-stall-2-usage-30-300' };

my ($bare_started, $bare) = per_stream(master => $t->{procs}{bare},
	port => $t->port('bare'), path => '/bare/v1/chat/completions',
	headers => [], body => $bare_body);

my ($tr_started, $tr) = per_stream(master => $t->nginx_pid,
	path => '/v1/chat/completions',
	headers => [ Authorization => "Bearer $key->{raw}" ], body => $body);

is($bare_started, $K, "$K streams held open through the bare proxy");
is($tr_started, $K, "$K streams held open through tokenroute");

diag(sprintf("worker RSS per held stream: bare %.1f KB, tokenroute %.1f KB"
	. " (+%.1f)", $bare, $tr, $tr - $bare));

SKIP: {
	skip 'memory under sanitizers is their allocator\'s', 1
		if $ENV{TOKENROUTE_SANITIZE};

	cmp_ok($tr - $bare, '<=', $STREAM_EXTRA_KB,
		"tokenroute adds at most $STREAM_EXTRA_KB KB per held stream");
}

$t->stop_nginx_instance('bare');

done_testing();

###############################################################################
