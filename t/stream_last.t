#!/usr/bin/perl

# (C) tokenroute authors

# Tests for the end of a stream whose provider answer arrives whole: with
# a Content-Length, or chunked with its last chunk in the same read.  The
# gateway then sends its own end of the stream (the terminating chunk)
# with the last events, and must not send it again when nginx finalizes
# the request: two streams on one keep-alive connection must each end
# once, with nothing between or after them, and both be charged.  In
# every mode: usage chunk stripped, passed on, translated both ways; and
# over HTTP/2 (curl), where the end is the last DATA frame's END_STREAM.

###############################################################################

use warnings;
use strict;

use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Test::More;

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Money qw(utc_day);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

my $PR = 'input_price=0.25 output_price=1.5';
my ($IN, $OUT) = (30, 300);

my $models = '';
for my $how (qw(sized whole)) {
	$models .= "tokenroute_model l/ai-$how provider=mockai "
		. "upstream_model=gpt-l-sse-$how-usage-$IN-$OUT $PR;\n"
		. "tokenroute_model l/ant-$how provider=mockant "
		. "upstream_model=claude-l-sse-$how-usage-$IN-$OUT $PR;\n";
}

$t->start_gateway(http => $models,
	server => 'listen 127.0.0.1:' . $t->port('h2') . " http2;\n");

###############################################################################

# one request on the socket; returns (status, headers, body) of a response
# read to its exact end (Content-Length or chunked), or dies
sub request {
	my ($s, $buf, $path, $headers, $body) = @_;

	my $json = encode_json($body);
	my $req = "POST $path HTTP/1.1\r\nHost: localhost\r\n"
		. join('', map { "$_: $headers->{$_}\r\n" } sort keys %$headers)
		. "Content-Type: application/json\r\n"
		. 'Content-Length: ' . length($json) . "\r\n\r\n$json";

	syswrite($s, $req) == length $req or die "write: $!";

	my $need = sub {
		my ($n) = @_;
		while (length $$buf < $n) {
			IO::Select->new($s)->can_read(20) or die 'read timeout';
			sysread($s, $$buf, 65536, length $$buf) or die 'closed';
		}
	};

	my $end;
	until (($end = index($$buf, "\r\n\r\n")) >= 0) {
		$need->(length($$buf) + 1);
	}

	my $head = substr($$buf, 0, $end + 4, '');
	my ($status) = $head =~ m{^HTTP/1\.1 (\d+) } or die "status line: $head";
	my %h;
	while ($head =~ /^([^:\r\n]+):\s*([^\r\n]*)/mg) {
		$h{lc $1} = $2;
	}

	my $out = '';

	if (defined $h{'content-length'}) {
		$need->($h{'content-length'});
		$out = substr($$buf, 0, $h{'content-length'}, '');

	} else {
		die 'neither Content-Length nor chunked'
			unless ($h{'transfer-encoding'} // '') eq 'chunked';

		for (;;) {
			my $eol;
			until (($eol = index($$buf, "\r\n")) >= 0) {
				$need->(length($$buf) + 1);
			}
			my $line = substr($$buf, 0, $eol + 2, '');
			$line =~ /^([0-9a-fA-F]+)\r\n$/ or die "chunk size line: $line";
			my $n = hex $1;
			$need->($n + 2);
			my $data = substr($$buf, 0, $n + 2, '');
			substr($data, -2) eq "\r\n" or die 'chunk not ended by CR LF';
			last if $n == 0;
			$out .= substr($data, 0, $n);
		}
	}

	return ($status, \%h, $out);
}

# what follows on the connection within 0.3 s (after a whole response)
sub stray {
	my ($s, $buf) = @_;

	while (IO::Select->new($s)->can_read(0.3)) {
		sysread($s, $$buf, 65536, length $$buf) or last;
	}

	return $$buf;
}

sub body_of {
	my ($shape, $model, $usage) = @_;

	return { model => $model, stream => JSON::PP::true, max_tokens => 400,
		messages => [ { role => 'user', content => 'last' } ],
		($usage ? (stream_options => { include_usage => JSON::PP::true })
			: ()) };
}

# the SSE data lines of a body, in order
sub events {
	my ($body) = @_;
	return [ $body =~ /^data: ?(.*)$/mg ];
}

my $n = 0;

for my $case (
	[ 'openai', 'l/ai-sized', 0, 'stripped' ],
	[ 'openai', 'l/ai-whole', 0, 'stripped' ],
	[ 'openai', 'l/ai-sized', 1, 'passed on' ],
	[ 'openai', 'l/ai-whole', 1, 'passed on' ],
	[ 'openai', 'l/ant-sized', 0, 'translated' ],
	[ 'openai', 'l/ant-whole', 1, 'translated' ],
	[ 'anthropic', 'l/ant-sized', 0, 'passed on' ],
	[ 'anthropic', 'l/ant-whole', 0, 'passed on' ],
	[ 'anthropic', 'l/ai-sized', 0, 'translated' ],
	[ 'anthropic', 'l/ai-whole', 0, 'translated' ])
{
	my ($shape, $model, $usage, $mode) = @$case;
	my $name = "$shape client, $model, $mode" . ($usage ? ', usage asked' : '');

	my $key = $t->create_key(account => 'last' . ++$n);
	my %h = $shape eq 'openai'
		? (Authorization => "Bearer $key->{raw}")
		: ('x-api-key' => $key->{raw}, 'anthropic-version' => '2023-06-01');
	my $path = $shape eq 'openai' ? '/v1/chat/completions' : '/v1/messages';

	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
		PeerPort => $t->port('http'), Timeout => 10) or die "connect: $!";
	my $buf = '';

	for my $i (1, 2) {
		my ($status, $hdr, $body) = eval {
			request($s, \$buf, $path, \%h, body_of($shape, $model, $usage));
		};

		if (!defined $status) {
			fail("$name: response $i read to its end: $@");
			last;
		}

		is($status, 200, "$name: response $i: 200");

		my $ev = events($body);

		if ($shape eq 'openai') {
			is($ev->[-1], '[DONE]', "$name: response $i ends with [DONE]");
			is(scalar(grep { /"usage":\{/ } @$ev), $usage ? 1 : 0,
				"$name: response $i: usage chunk as asked");

		} else {
			like($ev->[-1] // '', qr/"type":\s*"message_stop"/,
				"$name: response $i ends with message_stop");
		}

		is(($i == 1 ? stray($s, \$buf) : $buf), '',
			"$name: nothing after response $i");
	}

	my $p = "$key->{account}||$key->{id}|$model|";
	my $u = $t->wait_until(5, sub {
		my $u = $t->redis_hash('tr:u:d:' . utc_day());
		($u->{"${p}req"} // 0) == 2 ? $u : undef;
	});

	is($u && $u->{"${p}out"}, 2 * $OUT, "$name: both charged, exactly");

	close $s;
}

# HTTP/2 (curl fails on a frame after a stream's end; curl 7.88 cannot
# reuse a prior-knowledge connection for a second URL, so one each)

for my $case (
	[ 'openai', 'l/ai-sized', 'stripped' ],
	[ 'openai', 'l/ai-whole', 'stripped' ],
	[ 'openai', 'l/ant-whole', 'translated' ],
	[ 'anthropic', 'l/ant-sized', 'passed on' ],
	[ 'anthropic', 'l/ai-whole', 'translated' ])
{
	my ($shape, $model, $mode) = @$case;
	my $name = "HTTP/2, $shape client, $model, $mode";

	my $key = $t->create_key(account => 'last' . ++$n);
	my @h = $shape eq 'openai'
		? ('-H', "Authorization: Bearer $key->{raw}")
		: ('-H', "x-api-key: $key->{raw}",
			'-H', 'anthropic-version: 2023-06-01');
	my $url = 'http://127.0.0.1:' . $t->port('h2')
		. ($shape eq 'openai' ? '/v1/chat/completions' : '/v1/messages');

	open(my $fh, '-|', 'curl', '--http2-prior-knowledge', '-sS', @h,
		'-H', 'Content-Type: application/json',
		'-d', encode_json(body_of($shape, $model, 0)),
		'-w', '\n%{http_version} %{response_code}\n', $url)
		or die "curl: $!";
	my $out = do { local $/; <$fh> };
	close $fh;

	is($?, 0, "$name: curl ends without error");
	like($out, qr/\n2 200\n\z/, "$name: 200 over HTTP/2");

	my $end = $shape eq 'openai' ? qr/^data: \[DONE\]$/m
		: qr/"type":\s*"message_stop"/;
	my $ends = () = $out =~ /$end/g;
	is($ends, 1, "$name: the stream ends once");

	my $p = "$key->{account}||$key->{id}|$model|";
	my $u = $t->wait_until(5, sub {
		my $u = $t->redis_hash('tr:u:d:' . utc_day());
		($u->{"${p}req"} // 0) == 1 ? $u : undef;
	});

	is($u && $u->{"${p}out"}, $OUT, "$name: charged, exactly");
}

# every stream above was a complete answer read at once: each one's end
# went with its last events (nginx's debug log says so)
my $lent = () = $t->error_log()
	=~ /tokenroute: the stream's end sent with its last events/g;
is($lent, 2 * 10 + 5, 'every stream\'s end sent with its last events');

done_testing();

###############################################################################
