#!/usr/bin/perl

# (C) tokenroute authors

# The request body in one piece (ngx_http_tokenroute_body_collect()):
# nginx 1.22 leaves a body in two buffers when part of it came with the
# headers; the access phase joins them in nginx's own body buffer (the
# part read with the headers moved in front of the rest) instead of
# copying both into a new one.  Bodies of many sizes, split at many
# places, sent at once or after the headers, with a Content-Length or
# chunked (chunks of many sizes; nginx merges small ones in its own
# buffers): the provider receives the client's bytes (with the model
# rewritten; unchanged through a location without proxy_set_body, which
# sends nginx's buffers themselves), and $request_body in the access log
# is the client's body.  A chunked chain of several pieces ends with a
# link of flags only, whose NULL pos was once copied from
# (memcpy(p, NULL, 0): UBSan's report under TOKENROUTE_SANITIZE, the
# worker gone, no answer).

###############################################################################

use warnings;
use strict;

use Test::More;
use Time::HiRes qw(sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = TokenRoute::Test->new();
my $d = $t->testdir;

open my $fh, '<', $t->repo . '/conf.d/tokenroute_proxy.conf' or die $!;
my $conf = do { local $/; <$fh> };
close $fh;

ok($conf =~ s/^proxy_set_body [^\n]*\n//m, 'the conf sets the body');
$conf =~ s/^error_page [^\n]*\n//mg;

open $fh, '>', "$d/raw_proxy.conf" or die $!;
print $fh $conf;
close $fh;

$t->start_gateway(http => <<'EOF', server => <<'EOF');
log_format body escape=json '$request_body';
access_log %%TESTDIR%%/body.log body;
EOF
location /raw/v1/ {
    tokenroute on;
    include %%TESTDIR%%/raw_proxy.conf;
}
EOF

my $key = $t->create_key(name => 'body');

sub body_of {
	my ($size) = @_;

	my $head = '{"model":"openai/gpt-4o-mini","max_tokens":16,'
		. '"messages":[{"role":"user","content":"';
	my $tail = '"}]}';
	my $n = $size - length($head) - length($tail);
	$n = 1 if $n < 1;

	# text that shows a piece out of place: its offsets
	my $text = '';
	$text .= sprintf('%07d,', length $text) while length $text < $n;

	return $head . substr($text, 0, $n) . $tail;
}

sub chunked {
	my ($body, $size) = @_;

	my $out = '';

	for (my $i = 0; $i < length $body; $i += $size) {
		my $c = substr($body, $i, $size);
		$out .= sprintf("%x\r\n", length $c) . $c . "\r\n";
	}

	return $out . "0\r\n\r\n";
}

# $chunk: the body chunked in pieces of that size, else a Content-Length
sub send_raw {
	my ($path, $body, $chunk, $late) = @_;

	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
		PeerPort => $t->port('http'), Proto => 'tcp', Timeout => 10)
		or die "connect: $!";

	my $head = "POST $path HTTP/1.1\r\nHost: localhost\r\n"
		. "Authorization: Bearer $key->{raw}\r\n"
		. "Content-Type: application/json\r\n"
		. ($chunk ? "Transfer-Encoding: chunked\r\n"
			: "Content-Length: " . length($body) . "\r\n")
		. "Connection: close\r\n\r\n";

	$body = chunked($body, $chunk) if $chunk;

	if (defined $late) {
		# the headers and the first $late bytes, then the rest
		$s->syswrite($head . substr($body, 0, $late));
		sleep 0.1;
		$s->syswrite(substr($body, $late));

	} else {
		$s->syswrite($head . $body);
	}

	my $res = '';
	while ($s->sysread(my $buf, 65536)) {
		$res .= $buf;
	}

	close $s;

	my ($status) = $res =~ m{^HTTP/1\.1 (\d+)};
	return $status // 0;
}

sub logged_bodies {
	open my $fh, '<', "$d/body.log" or return ();
	my @l = <$fh>;
	close $fh;
	chomp @l;
	return @l;
}

sub json_escape {
	my ($s) = @_;
	$s =~ s/(["\\])/\\$1/g;
	return $s;
}

my @cases;

for my $size (60, 500, 700, 800, 900, 1000, 1100, 1500, 3000, 9000,
	70000)
{
	push @cases, [ $size, undef, undef ];
}

push @cases, [ 1500, undef, 0 ], [ 1500, undef, 1 ], [ 1500, undef, 700 ],
	[ 3000, undef, 2999 ];

for my $size (700, 1500, 3000, 9000) {
	for my $chunk (5, 64, 100, 200, 1000) {
		for my $late (undef, 0, 3, 50, 130, 700) {
			push @cases, [ $size, $chunk, $late ];
		}
	}
}

for my $c (@cases) {
	my ($size, $chunk, $late) = @$c;
	my $name = "$size bytes" . ($chunk ? " in chunks of $chunk" : '')
		. (defined $late ? ", $late with the headers" : '');
	my $body = body_of($size);

	for my $prefix ('', '/raw') {
		$t->clear_mock_requests();
		my $before = () = logged_bodies();

		my $status = send_raw("$prefix/v1/chat/completions", $body, $chunk,
			$late);
		is($status, 200, "$name$prefix: 200");

		my @reqs = $t->mock_requests();
		my $want = $body;
		$want =~ s{"openai/gpt-4o-mini"}{"gpt-4o-mini-2024-07-18"}
			unless $prefix;

		ok(@reqs && $reqs[-1]{body} eq $want,
			"$name$prefix: the provider got the body");

		my @logged = logged_bodies();
		$t->wait_until(2, sub { @logged = logged_bodies(); @logged > $before });
		is($logged[-1] // '', json_escape($body),
			"$name$prefix: \$request_body is the client's body");
	}
}

done_testing();
