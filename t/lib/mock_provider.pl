#!/usr/bin/perl

# (C) tokenroute authors

# Mock LLM provider for the tokenroute test suite: answers the OpenAI Chat
# Completions and the Anthropic Messages API the way the real services do,
# records every request it receives as one JSON line.
#
# usage: mock_provider.pl --port P --record FILE [--delay SECONDS]
#                         [--idle-timeout SECONDS] [--aborts FILE]
#                         [--host 127.0.0.1|::1]
#
# Behaviour switches, by the upstream model id received (substring match):
#   error-401        401 whose message, like a real provider's, names the
#                    key it received and the URL it was sent to
#   error-429        429 with "retry-after: 1" and the provider's error JSON
#                    (error-429-raN: "retry-after: N")
#   error-500        500 with the provider's error JSON
#   error-529        529 overloaded_error (Anthropic error shape)
#   error-NNN        any other status NNN with the provider's error JSON
#   slow             0.5 s between stream events
#   hang             never answers (sleeps 30 s, then closes)
#   close            stream: closes the connection after the first event;
#                    non-stream: closes the connection without answering
#   close-N          stream: closes the connection after the first N events
#                    (non-stream: as close)
#   malformed        non-stream: 200 with the truncated JSON body
#                    {"id": "x", "choices": [  (application/json)
#   malformed-stream stream: a 200 event stream of a broken data line
#                    (OpenAI: data: {"id": "x", "choices": [ ; Anthropic:
#                    event: message_start with a truncated data line),
#                    then a valid end (data: [DONE] / event: message_stop);
#                    non-stream: as malformed
#   long-N           the text is N pieces of 1,000 bytes each ("[i]" then
#                    dots), one stream event each (output tokens stay 3:
#                    use usage-IN-OUT with it)
#   midstream-error  stream: an error event after the first text delta,
#                    then the stream ends (no [DONE] / message_stop)
#   split            stream: every event is written in two pieces split in
#                    the middle of its data line, with a pause in between
#   usage-IN-OUT     usage reports IN input and OUT output tokens
#   cached-N         usage reports N cache-read tokens: OpenAI
#                    prompt_tokens_details.cached_tokens (part of
#                    prompt_tokens, which stays IN), Anthropic
#                    cache_read_input_tokens (besides input_tokens IN)
#   cwrite-N         Anthropic: cache_creation_input_tokens N
#   cwrite1h-N       Anthropic: N more cache writes, 1-hour ones: the usage
#                    has cache_creation {ephemeral_5m_input_tokens: the
#                    cwrite-N count (0 without it), ephemeral_1h_input_tokens:
#                    N}, and cache_creation_input_tokens is their sum
#   cwrite-late      Anthropic stream: message_start reports no cache reads
#                    nor writes (0, no cache_creation); message_delta's
#                    usage has them all (input_tokens, the cache fields and
#                    output_tokens), as it does for server tools
#   stall-N          stream: sends the first N events, then sends nothing
#                    more and waits (at most 30 s) until the peer closes
#   leaky            the response (200, stream or error) also carries the
#                    headers a real provider sends about the gateway's own
#                    account, each value with "LEAKED" in it: Set-Cookie,
#                    openai-organization, openai-project, x-request-id,
#                    request-id, anthropic-organization-id, x-ratelimit-*,
#                    anthropic-ratelimit-*, cf-ray, Server, Location,
#                    Last-Modified, ETag, Expires, Link, WWW-Authenticate,
#                    x-tokenroute-model; and "retry-after: 7",
#                    "retry-after-ms: 7000", "x-should-retry: false"
# Non-stream answers written on the raw socket (the normal 200 JSON body of
# the model, application/json):
#   body-cut         chunked: the first half of the body in one chunk, then
#                    the connection closes (no last chunk)
#   body-short       Content-Length of the whole body, half of it sent,
#                    then the connection closes
#   body-badchunk    chunked: the first half in one chunk, then an invalid
#                    chunk size line; waits (at most 5 s) for the peer to
#                    close
#   body-stall       Content-Length of the whole body, half of it sent,
#                    then nothing more until the peer closes (at most 30 s)
#   body-pieces      Content-Length; the body in 7-byte writes, 5 ms apart
#   body-huge-N      the body padded (in the answer's text) to exactly N
#                    bytes, chunked, in chunks of 997 bytes
#   body-hugecl-N    as body-huge-N with Content-Length, written in
#                    997-byte pieces
#   status-09        HTTP/0.9 style: the body alone, no status line nor
#                    headers, then the connection closes
#   status-NNN       (NNN not 09) the status line "HTTP/1.1 NNN Odd", then
#                    the headers and the body, as a 200 would be
#   secret-NNN       status NNN with the provider's error JSON whose message
#                    names the key received, a Bearer token and the URL
#   binary-NNN       status NNN with a binary body (NUL and invalid UTF-8
#                    bytes, application/octet-stream)
# POST /v1/messages/count_tokens answers {"input_tokens": N} and
# POST /v1/embeddings an embedding list with usage; both take the error-,
# secret- and binary- switches.
#   shapeless        non-stream: 200 with a complete JSON body of the API's
#                    type and usage, but no "choices" (OpenAI) / "content"
#                    (Anthropic): valid JSON no translation can use
#                    (Anthropic: with cached-N / cwrite-N, the usage has
#                    those cache fields too)
#   nousage          stream: no output usage at all (OpenAI: no usage chunk
#                    even when include_usage asks for it; Anthropic: no
#                    output_tokens in message_start, no usage in
#                    message_delta)
#   sse-crlf         stream: every line ends with CR LF instead of LF
#   sse-cr           stream: every line ends with a lone CR instead of LF
#   splitcr          stream (with sse-crlf): every event is written in two
#                    pieces split between the CR and the LF that end it,
#                    with a pause in between
#   badline-N        stream: after the first N events, an event whose data
#                    is not JSON (data: {"broken": ), then the rest
#   oneshot          stream: all the events written at once, in one piece
#   sse-sized        stream: all the events with a Content-Length, written
#                    with the headers in one piece (as a static file server
#                    sends them: the gateway reads the whole answer at once)
#   sse-whole        stream: chunked, all the events in one chunk and the
#                    last chunk, written with the headers in one piece
#   sse-pieces-N     stream: all the events joined, then written in pieces
#                    of N bytes (a chunk each), 0.3 ms apart, so the gateway
#                    reads the stream cut at every N-th byte
#   sse-bigevent-N   stream: one more text piece of N KB ("b" repeated)
#                    after the first ("Hello"), in an event of its own
# Without usage-IN-OUT: input tokens = ceil(request body bytes / 4),
# output tokens = 3 (one per text piece: "Hello", " from", " mock").
#
# Tool use, by the request's content (any model without an error switch):
#   the request has tools and its last message is the user's: the answer
#   is a call of the first tool with the arguments
#   {"location": "Paris", "unit": "celsius"} (OpenAI: message.tool_calls,
#   finish_reason "tool_calls"; streamed as the call's id and name, then
#   the arguments in three fragments.  Anthropic: a text block "Let me
#   check." and a tool_use block, stop_reason "tool_use"; streamed with
#   input_json_delta fragments)
#   the last message is a tool result (OpenAI: role "tool"; Anthropic: a
#   user message with a tool_result block): the text is
#   "Tool said: " followed by the result's text
#
# The request header "x-mock-delay: SECONDS" overrides the stream delay;
# "x-mock-wait: SECONDS" waits that long (after recording the request)
# before the response is sent, streamed or not.
# The file FILE.outages (FILE the record), when it exists, switches
# outages on by model: a line "SUBSTRING STATUS [SECONDS]" makes every
# model whose id contains SUBSTRING answer as error-STATUS (error-429-raN
# with SECONDS), chat completions and messages alike.
# "x-mock-inflight: NAME" (a word) counts the request in flight from its
# receipt until its answer starts (after x-mock-wait): the file
# FILE.inflight-NAME (FILE the record) holds "in-flight peak" (the most
# at once), across connections.  It ends before the gateway can have the
# answer, so a peak above a gateway's limit is the gateway's, never the
# mock's lag.
# GET /__health answers 200 "ok" and is not recorded.
#
# Record line: {time, conn, seq, method, path, version, headers (lower-cased
# name -> value, repeated headers joined with ", "), header_list ([name,
# value] pairs as received), body (raw bytes), response: {status, body}}
# where response.body is the full response body as generated (for a stream,
# all events concatenated, even when the stream is cut short on purpose).
#
# With --aborts FILE, a stream the peer closed before its end (or that
# could not be written) adds a line {time, conn, seq, path, model, sent,
# total, reason} to FILE: sent of total events were written.

###############################################################################

use warnings;
use strict;

use Config;
use Fcntl qw(:flock);
use Getopt::Long;
use IO::Select;
use IO::Socket::INET;
use IO::Socket::IP;
use JSON::PP;
use POSIX qw(:sys_wait_h ceil);
use Socket qw(MSG_PEEK);
use Time::HiRes qw(time sleep);

###############################################################################

my $port;
my $record;
my $delay = 0.2;
my $idle_timeout = 120;
my $aborts;
my $host = '127.0.0.1';

GetOptions(
	'host=s' => \$host,
	'port=i' => \$port,
	'record=s' => \$record,
	'delay=f' => \$delay,
	'idle-timeout=f' => \$idle_timeout,
	'aborts=s' => \$aborts,
) or usage();

usage() unless defined $port && defined $record;

$SIG{PIPE} = 'IGNORE';

my $json = JSON::PP->new->canonical;

# the arguments of a tool call, and the fragments a stream sends them in
my $TOOL_ARGS = '{"location": "Paris", "unit": "celsius"}';
my @TOOL_ARG_PIECES = ('{"location": ', '"Paris", "unit"', ': "celsius"}');
my $json_rec = JSON::PP->new->canonical->ascii;

my $listen = IO::Socket::IP->new(
	LocalHost => $host,
	LocalService => $port,
	Proto => 'tcp',
	Listen => 128,
	ReuseAddr => 1,
) or die "mock_provider: cannot listen on $host:$port: $!\n";

my %children;
my $parent = $$;

$SIG{TERM} = $SIG{INT} = sub {
	exit 0 unless $$ == $parent;
	kill 'TERM', keys %children;
	my $deadline = time() + 2;
	while (%children && time() < $deadline) {
		reap();
		sleep 0.02;
	}
	kill 'KILL', keys %children;
	reap();
	exit 0;
};

my $sel = IO::Select->new($listen);
my $conn_no = 0;

for (;;) {
	reap();
	next unless $sel->can_read(0.5);

	my $c = $listen->accept() or next;
	$conn_no++;

	my $pid = fork();
	if (!defined $pid) {
		warn "mock_provider: fork: $!\n";
		close $c;
		next;
	}

	if ($pid == 0) {
		$SIG{TERM} = $SIG{INT} = 'DEFAULT';
		die_with_parent();
		POSIX::_exit(0) if getppid() != $parent;
		close $listen;
		handle_connection($c, "$parent-$conn_no");
		POSIX::_exit(0);
	}

	$children{$pid} = 1;
	close $c;
}

###############################################################################

sub usage {
	die "usage: $0 --port P --record FILE [--delay S] [--idle-timeout S]\n";
}

# Linux: a connection child gets SIGTERM when the server process dies.

sub die_with_parent {
	return unless $^O eq 'linux' && $Config{archname} =~ /^x86_64/;
	syscall(157, 1, 15);    # prctl(PR_SET_PDEATHSIG, SIGTERM)
}

sub reap {
	while ((my $pid = waitpid(-1, WNOHANG)) > 0) {
		delete $children{$pid};
	}
}

sub handle_connection {
	my ($c, $conn) = @_;

	my $buf = '';
	my $seq = 0;

	for (;;) {
		my $req = read_request($c, \$buf) or return;
		$req->{conn} = $conn;
		$req->{seq} = ++$seq;
		respond($c, $req) or return;
	}
}

# the x-mock-inflight counter: "in-flight peak", updated under a lock

sub inflight {
	my ($name, $delta) = @_;

	my $file = "$record.inflight-$name";
	open my $fh, '+>>', $file or die "mock_provider: $file: $!\n";
	flock($fh, LOCK_EX);
	seek($fh, 0, 0);
	my ($n, $peak) = split ' ', (<$fh> // '0 0');
	$n = ($n // 0) + $delta;
	$peak = $n if $n > ($peak // 0);
	truncate($fh, 0);
	syswrite($fh, "$n $peak\n");
	close $fh;
}

###############################################################################

# Bounded socket reading: returns the number of bytes read, 0 on EOF or
# timeout, undef on error.

sub fill {
	my ($c, $bufref, $timeout) = @_;

	return 0 unless IO::Select->new($c)->can_read($timeout);
	my $n = sysread($c, $$bufref, 65536, length $$bufref);
	return $n;
}

sub read_request {
	my ($c, $bufref) = @_;

	my $deadline = time() + $idle_timeout;

	while ($$bufref !~ /\r?\n\r?\n/) {
		my $left = $deadline - time();
		return undef if $left <= 0;
		return undef unless fill($c, $bufref, $left);
		$deadline = time() + 30 if length $$bufref;
	}

	$$bufref =~ s/^(.*?)\r?\n\r?\n//s;
	my @lines = split /\r?\n/, $1;

	my $start = shift @lines;
	my ($method, $path, $version) =
		$start =~ m{^(\S+) (\S+) HTTP/(\d\.\d)$} or return undef;

	my (%headers, @list);
	for my $line (@lines) {
		my ($name, $value) = $line =~ /^([^:\s]+):[ \t]*(.*?)[ \t]*$/
			or return undef;
		push @list, [ $name, $value ];
		my $lc = lc $name;
		$headers{$lc} = exists $headers{$lc}
			? "$headers{$lc}, $value" : $value;
	}

	$deadline = time() + 30;
	my $body = '';

	if (($headers{'transfer-encoding'} // '') =~ /chunked/i) {
		for (;;) {
			while ($$bufref !~ /\r\n/) {
				return undef unless fill($c, $bufref, $deadline - time());
			}
			$$bufref =~ s/^([0-9a-fA-F]+)[^\r]*\r\n//
				or return undef;
			my $size = hex $1;

			if ($size == 0) {
				# trailer section, ends with an empty line
				while ($$bufref !~ /^\r\n/ && $$bufref !~ /\r\n\r\n/) {
					return undef
						unless fill($c, $bufref, $deadline - time());
				}
				$$bufref =~ s/^(?:.*?\r\n)??\r\n//s;
				last;
			}

			while (length $$bufref < $size + 2) {
				return undef unless fill($c, $bufref, $deadline - time());
			}
			$body .= substr($$bufref, 0, $size);
			substr($$bufref, 0, $size + 2) = '';
		}

	} elsif (defined $headers{'content-length'}) {
		my $len = $headers{'content-length'};
		return undef unless $len =~ /^\d+$/;

		while (length $$bufref < $len) {
			return undef unless fill($c, $bufref, $deadline - time());
		}
		$body = substr($$bufref, 0, $len);
		substr($$bufref, 0, $len) = '';
	}

	return {
		time => time(),
		method => $method,
		path => $path,
		version => $version,
		headers => \%headers,
		header_list => \@list,
		body => $body,
	};
}

###############################################################################

sub record {
	my ($req, $resp) = @_;

	my %r = %$req;
	$r{response} = {
		status => $resp->{status},
		body => $resp->{body} // join('', @{ $resp->{events} || [] }),
	};

	my $line = $json_rec->encode(\%r) . "\n";

	open my $fh, '>>', $record or die "mock_provider: $record: $!\n";
	flock($fh, LOCK_EX);
	syswrite($fh, $line);
	close $fh;
}

sub record_abort {
	my ($req, $resp, $sent, $reason) = @_;

	return unless defined $aborts;

	my $model = (decode_body($req) // {})->{model};
	my $line = $json_rec->encode({
		time => time(),
		conn => $req->{conn},
		seq => $req->{seq},
		path => $req->{path},
		model => $model,
		sent => $sent,
		total => scalar @{ $resp->{events} },
		reason => $reason,
	}) . "\n";

	open my $fh, '>>', $aborts or die "mock_provider: $aborts: $!\n";
	flock($fh, LOCK_EX);
	syswrite($fh, $line);
	close $fh;
}

# Waits up to $secs; returns 1 as soon as the peer has closed the
# connection (EOF or error), 0 after the full wait.

sub wait_or_eof {
	my ($c, $secs) = @_;

	my $deadline = time() + $secs;

	for (;;) {
		my $left = $deadline - time();
		return 0 if $left <= 0;
		next unless IO::Select->new($c)->can_read($left);

		# nothing is expected from the peer during a response: data is
		# left alone (it is a pipelined request), only EOF counts
		my $peek = '';
		my $n = recv($c, $peek, 1, MSG_PEEK);
		return 1 unless defined $n && length $peek;
		sleep $left > 0.05 ? 0.05 : $left;
	}
}

sub write_all {
	my ($c, $data) = @_;

	while (length $data) {
		my $n = syswrite($c, $data);
		return 0 unless $n;
		substr($data, 0, $n) = '';
	}

	return 1;
}

my %reason = (
	200 => 'OK', 400 => 'Bad Request', 401 => 'Unauthorized',
	404 => 'Not Found', 429 => 'Too Many Requests',
	500 => 'Internal Server Error', 529 => 'Site is overloaded',
);

# Returns true when the connection may serve another request.

sub respond {
	my ($c, $req) = @_;

	my $keepalive = $req->{version} eq '1.1'
		? (($req->{headers}{connection} // '') !~ /close/i)
		: (($req->{headers}{connection} // '') =~ /keep-alive/i);

	my $name = $req->{headers}{'x-mock-inflight'};
	$name = undef unless defined $name && $name =~ /^\w+$/;
	inflight($name, 1) if defined $name;

	(my $path = $req->{path}) =~ s/\?.*//s;

	if ($req->{method} eq 'GET' && $path eq '/__health') {
		return send_plain($c, $req, $keepalive,
			{ status => 200, type => 'text/plain', body => 'ok' });
	}

	my $resp;

	if ($req->{method} eq 'POST' && $path eq '/v1/chat/completions') {
		$resp = openai($req);

	} elsif ($req->{method} eq 'POST' && $path eq '/v1/messages') {
		$resp = anthropic($req);

	} elsif ($req->{method} eq 'POST'
		&& $path eq '/v1/messages/count_tokens')
	{
		$resp = count_tokens($req);

	} elsif ($req->{method} eq 'POST' && $path eq '/v1/embeddings') {
		$resp = embeddings($req);

	} else {
		$resp = json_resp(404, {
			error => {
				message => "Unknown request URL: $req->{method} $path",
				type => 'invalid_request_error',
				param => undef,
				code => 'unknown_url',
			},
		});
	}

	leaky($req, $resp);
	$resp = raw_answer($req, $resp);

	record($req, $resp);

	my $wait = $req->{headers}{'x-mock-wait'};
	sleep $wait if defined $wait && $wait =~ /^\d+(?:\.\d+)?$/ && $wait > 0;

	inflight($name, -1) if defined $name;

	return send_raw($c, $resp) if $resp->{raw};

	if ($resp->{hang}) {
		sleep $resp->{hang};
		return 0;
	}

	return 0 if $resp->{close_now};

	return send_stream($c, $req, $keepalive, $resp) if $resp->{events};

	return send_plain($c, $req, $keepalive, $resp);
}

# the "leaky" switch: what a provider says about the account that called it
# (a sub: the main loop runs before file-scope lists below it are set)

sub leaky_headers {
	return (
	[ 'Set-Cookie', '__cf_bm=LEAKED-cookie; path=/; HttpOnly' ],
	[ 'openai-organization', 'org-LEAKED' ],
	[ 'openai-project', 'proj_LEAKED' ],
	[ 'x-request-id', 'req_LEAKED_openai' ],
	[ 'request-id', 'req_LEAKED_anthropic' ],
	[ 'anthropic-organization-id', 'LEAKED-0000-org' ],
	[ 'x-ratelimit-limit-requests', '10000; LEAKED' ],
	[ 'x-ratelimit-remaining-tokens', '149990; LEAKED' ],
	[ 'anthropic-ratelimit-requests-remaining', '49; LEAKED' ],
	[ 'anthropic-ratelimit-tokens-reset', 'LEAKED-2025-01-01T00:00:00Z' ],
	[ 'cf-ray', '8f00LEAKED-CDG' ],
	[ 'Server', 'cloudflare-LEAKED' ],
	[ 'Location', '/LEAKED/location' ],
	[ 'Last-Modified', 'Wed, 21 Oct 2015 07:28:00 GMT' ],
	[ 'ETag', '"LEAKED-etag"' ],
	[ 'Expires', 'Thu, 01 Dec 2033 16:00:00 GMT' ],
	[ 'Link', '</LEAKED>; rel=preload' ],
	[ 'WWW-Authenticate', 'Bearer realm="LEAKED"' ],
	[ 'x-tokenroute-model', 'LEAKED/model' ],
	[ 'retry-after', '7' ],
	[ 'retry-after-ms', '7000' ],
	[ 'x-should-retry', 'false' ],
	);
}

sub leaky {
	my ($req, $resp) = @_;

	my $body = decode_body($req);
	my $model = ref $body eq 'HASH' ? $body->{model} : undef;

	return unless defined $model && !ref $model && $model =~ /leaky/;

	push @{ $resp->{headers} }, leaky_headers();
}

sub send_plain {
	my ($c, $req, $keepalive, $resp) = @_;

	my $h = "HTTP/1.1 $resp->{status} "
		. ($reason{$resp->{status}} // 'Unknown') . "\r\n"
		. "Content-Type: $resp->{type}\r\n"
		. "Content-Length: " . length($resp->{body}) . "\r\n";

	$h .= "$_->[0]: $_->[1]\r\n" for @{ $resp->{headers} || [] };
	$h .= $keepalive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";

	write_all($c, "$h\r\n$resp->{body}") or return 0;

	return $keepalive;
}

sub send_stream {
	my ($c, $req, $keepalive, $resp) = @_;

	return send_stream_at_once($c, $req, $keepalive, $resp)
		if $resp->{sized} || $resp->{whole};

	my $chunked = $req->{version} eq '1.1';
	$keepalive = 0 unless $chunked;

	my $h = "HTTP/1.1 200 OK\r\n"
		. "Content-Type: text/event-stream; charset=utf-8\r\n"
		. "Cache-Control: no-cache\r\n";

	$h .= "$_->[0]: $_->[1]\r\n" for @{ $resp->{headers} || [] };
	$h .= "Transfer-Encoding: chunked\r\n" if $chunked;
	$h .= $keepalive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";

	write_all($c, "$h\r\n") or return 0;

	splice @{ $resp->{events} }, $resp->{badline}, 0,
		"data: {\"broken\": \n\n"
		if defined $resp->{badline};

	$resp->{events} = [ join '', @{ $resp->{events} } ] if $resp->{oneshot};

	if ($resp->{pieces}) {
		my $all = join '', @{ $resp->{events} };
		$resp->{events} = [ map { substr($all, $_ * $resp->{pieces},
			$resp->{pieces}) } 0 .. int((length($all) - 1) / $resp->{pieces}) ];
		$resp->{delay} = 0.0003;
	}

	my $d = $resp->{delay};
	my $i = 0;
	my $sent = 0;

	for my $event (@{ $resp->{events} }) {
		if ($i++ > 0 && wait_or_eof($c, $d)) {
			record_abort($req, $resp, $sent, 'peer closed');
			return 0;
		}

		if (defined $resp->{stall} && $sent >= $resp->{stall}) {
			my $closed = wait_or_eof($c, 30);
			record_abort($req, $resp, $sent,
				$closed ? 'peer closed' : 'stalled 30 s');
			return 0;
		}

		$event =~ s/\n/$resp->{eol}/g if defined $resp->{eol};

		my @pieces = ($event);
		if ($resp->{splitcr} && $event =~ /\r\n$/) {
			@pieces = (substr($event, 0, -1), "\n");

		} elsif ($resp->{split}) {
			my $cut = index($event, 'data:');
			$cut = $cut < 0 ? length($event) / 2
				: $cut + int((length($event) - $cut) / 2);
			@pieces = (substr($event, 0, $cut), substr($event, $cut));
		}

		my $j = 0;
		for my $piece (@pieces) {
			sleep $d / 2 if $j++ > 0;
			if (!write_all($c, $chunked
				? sprintf("%x\r\n%s\r\n", length $piece, $piece)
				: $piece))
			{
				record_abort($req, $resp, $sent, 'write failed');
				return 0;
			}
		}

		$sent++;

		return 0 if $resp->{close_after} && $i >= $resp->{close_after};
	}

	if ($chunked && !write_all($c, "0\r\n\r\n")) {
		record_abort($req, $resp, $sent, 'write failed');
		return 0;
	}

	return $keepalive;
}

# sse-sized and sse-whole: the whole stream and its end in one write

sub send_stream_at_once {
	my ($c, $req, $keepalive, $resp) = @_;

	my $all = join '', @{ $resp->{events} };
	$all =~ s/\n/$resp->{eol}/g if defined $resp->{eol};

	my $chunked = $resp->{whole} && $req->{version} eq '1.1';
	$keepalive = 0 if $resp->{whole} && !$chunked;

	my $h = "HTTP/1.1 200 OK\r\n"
		. "Content-Type: text/event-stream; charset=utf-8\r\n"
		. "Cache-Control: no-cache\r\n";

	$h .= "$_->[0]: $_->[1]\r\n" for @{ $resp->{headers} || [] };
	$h .= $chunked ? "Transfer-Encoding: chunked\r\n"
		: $resp->{sized} ? 'Content-Length: ' . length($all) . "\r\n" : '';
	$h .= $keepalive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";

	$all = sprintf("%x\r\n%s\r\n0\r\n\r\n", length $all, $all) if $chunked;

	return write_all($c, "$h\r\n$all") ? $keepalive : 0;
}

# body-* and status-*: a normal JSON answer, written as the switch says

sub raw_answer {
	my ($req, $resp) = @_;

	return $resp unless ($resp->{status} // 0) == 200 && defined $resp->{body}
		&& ($resp->{type} // '') eq 'application/json';

	my $model = (decode_body($req) // {})->{model} // '';
	my ($sw) = $model =~ /((?:body-(?:cut|short|badchunk|stall|pieces|huge(?:cl)?-\d+))
		|status-\d+)/x or return $resp;

	my $body = $resp->{body};

	if ($sw =~ /huge(?:cl)?-(\d+)/) {
		my $n = $1;
		my $d = $json->decode($body);
		my $pad = $n - length $body;
		die "mock_provider: $sw: the body is already " . length($body)
			. " bytes\n" if $pad < 0;
		if ($d->{choices}) {
			$d->{choices}[0]{message}{content} .= 'x' x $pad;
		} else {
			$d->{content}[0]{text} .= 'x' x $pad;
		}
		$body = $json->encode($d);
	}

	my $half = substr($body, 0, int(length($body) / 2));
	my $type = "Content-Type: application/json\r\n";
	my $cl = "Content-Length: " . length($body) . "\r\n";
	my $te = "Transfer-Encoding: chunked\r\n";
	my $h200 = "HTTP/1.1 200 OK\r\n$type";
	my $chunk = sprintf("%x\r\n%s\r\n", length $half, $half);
	my @w;    # [ bytes, pause after ]
	my $after = 'close';

	if ($sw eq 'body-cut') {
		@w = ([ "$h200$te\r\n$chunk", 0 ]);

	} elsif ($sw eq 'body-short') {
		@w = ([ "$h200$cl\r\n$half", 0 ]);

	} elsif ($sw eq 'body-badchunk') {
		@w = ([ "$h200$te\r\n$chunk", 0.05 ], [ "zz\r\n$half\r\n", 0 ]);
		$after = 5;

	} elsif ($sw eq 'body-stall') {
		@w = ([ "$h200$cl\r\n$half", 0 ]);
		$after = 30;

	} elsif ($sw eq 'body-pieces') {
		@w = ([ "$h200$cl\r\n", 0.005 ],
			map { [ substr($body, $_ * 7, 7), 0.005 ] }
				0 .. int((length($body) - 1) / 7));

	} elsif ($sw =~ /^body-hugecl/) {
		@w = ([ "$h200$cl\r\n", 0 ],
			map { [ substr($body, $_ * 997, 997), 0 ] }
				0 .. int((length($body) - 1) / 997));

	} elsif ($sw =~ /^body-huge/) {
		@w = ([ "$h200$te\r\n", 0 ],
			(map {
				my $piece = substr($body, $_ * 997, 997);
				[ sprintf("%x\r\n%s\r\n", length $piece, $piece), 0 ]
			} 0 .. int((length($body) - 1) / 997)),
			[ "0\r\n\r\n", 0 ]);

	} elsif ($sw eq 'status-09') {
		@w = ([ $body, 0 ]);

	} else {
		my ($code) = $sw =~ /(\d+)/;
		@w = ([ "HTTP/1.1 $code Odd\r\n$type$cl\r\n$body", 0 ]);
	}

	return { %$resp, body => $body, raw => \@w, after => $after };
}

# Always closes the connection: after the writes, at once or once the peer
# has closed (waiting at most "after" seconds).

sub send_raw {
	my ($c, $resp) = @_;

	for my $w (@{ $resp->{raw} }) {
		write_all($c, $w->[0]) or return 0;
		sleep $w->[1] if $w->[1];
	}

	wait_or_eof($c, $resp->{after}) if $resp->{after} ne 'close';

	return 0;
}

sub json_resp {
	my ($status, $data, @headers) = @_;

	return {
		status => $status,
		type => 'application/json',
		body => $json->encode($data),
		headers => \@headers,
	};
}

sub rand_id {
	my ($n) = @_;
	my @c = ('a' .. 'z', 'A' .. 'Z', 0 .. 9);
	return join '', map { $c[rand @c] } 1 .. $n;
}

sub decode_body {
	my ($req) = @_;
	my $data = eval { JSON::PP->new->utf8->decode($req->{body}) };
	return ref $data eq 'HASH' ? $data : undef;
}

sub usage_of {
	my ($req, $model) = @_;

	return ($1, $2) if $model =~ /usage-(\d+)-(\d+)/;
	my $in = ceil(length($req->{body}) / 4);
	return ($in > 0 ? $in : 1, 3);
}

# cache reads and cache writes the usage reports

sub cache_of {
	my ($model) = @_;

	my $read = $model =~ /cached-(\d+)/ ? $1 + 0 : 0;
	my $write = $model =~ /cwrite-(\d+)/ ? $1 + 0 : 0;
	return ($read, $write);
}

# Anthropic's cache fields of the usage: cache_creation (the split by
# lifetime) only with cwrite1h-N

sub cache_usage {
	my ($model) = @_;

	my ($read, $write) = cache_of($model);
	my $hour = $model =~ /cwrite1h-(\d+)/ ? $1 + 0 : undef;

	return (cache_creation_input_tokens => $write + ($hour // 0),
		cache_read_input_tokens => $read,
		defined $hour ? (cache_creation => {
			ephemeral_5m_input_tokens => $write,
			ephemeral_1h_input_tokens => $hour }) : ());
}

sub stall_of {
	my ($model) = @_;
	return $model =~ /stall-(\d+)/ ? $1 + 0 : undef;
}

# sse-crlf / sse-cr: the line end of a stream's events (undef: LF)

sub eol_of {
	my ($model) = @_;

	return "\r\n" if $model =~ /sse-crlf/;
	return "\r" if $model =~ /sse-cr/;
	return undef;
}

sub stream_delay {
	my ($req, $model) = @_;

	my $h = $req->{headers}{'x-mock-delay'};
	return $h if defined $h && $h =~ /^\d+(?:\.\d+)?$/;
	return 0.5 if $model =~ /slow/;
	return $delay;
}

sub close_after {
	my ($model) = @_;

	return $1 + 0 if $model =~ /close-(\d+)/;
	return $model =~ /close/ ? 1 : 0;
}

# the text of an answer, in the pieces a stream sends it in

sub text_pieces {
	my ($model) = @_;

	return ('Hello', 'b' x ($1 * 1024), ' from', ' mock')
		if $model =~ /sse-bigevent-(\d+)/;
	return ('Hello', ' from', ' mock') unless $model =~ /long-(\d+)/;

	return map {
		my $p = "[$_]";
		$p . ('.' x (1000 - length $p));
	} 1 .. $1;
}

# malformed / malformed-stream: a 200 whose body cannot be parsed

sub malformed {
	my ($body, $model, $api) = @_;

	return undef unless $model =~ /malformed/;

	if (!$body->{stream}) {
		return {
			status => 200,
			type => 'application/json',
			body => '{"id": "x", "choices": [',
			headers => [],
		};
	}

	return undef unless $model =~ /malformed-stream/;

	return {
		status => 200,
		events => $api eq 'openai'
			? [ "data: {\"id\": \"x\", \"choices\": [\n\n",
				"data: [DONE]\n\n" ]
			: [ "event: message_start\ndata: {\"type\": \"message_start\", "
					. "\"message\": {\"id\": \"x\", \"content\": [\n\n",
				"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n" ],
		headers => [],
		delay => 0.05,
	};
}

# secret-NNN and binary-NNN, for any endpoint: undef when neither applies

sub leak_switches {
	my ($req, $model) = @_;

	if ($model =~ /secret-(\d{3})/) {
		my $status = $1;
		my $key = $req->{headers}{'x-api-key'}
			// (($req->{headers}{authorization} // '') =~ /(\S+)$/)[0]
			// '';
		return json_resp($status, {
			type => 'error',
			error => {
				type => 'invalid_request_error',
				message => "key $key rejected at "
					. "http://127.0.0.1:$port$req->{path} (Authorization: "
					. "Bearer $key; see https://internal.example/docs)",
			},
		});
	}

	return { status => $1, type => 'application/octet-stream',
		body => "\x00\x01\xff\xfe binary \x80\xc3(" . "\x00" x 16 }
		if $model =~ /binary-(\d{3})/;

	return undef;
}

sub count_tokens {
	my ($req) = @_;

	my $body = decode_body($req) // {};
	my $model = $body->{model} // '';

	if (my $sw = leak_switches($req, $model)) {
		return $sw;
	}

	return anthropic_error($1, 'api_error', "Mock provider error $1")
		if $model =~ /error-(\d{3})/;

	return json_resp(200, { input_tokens => ceil(length($req->{body}) / 4) });
}

sub embeddings {
	my ($req) = @_;

	my $body = decode_body($req) // {};
	my $model = $body->{model} // '';

	if (my $sw = leak_switches($req, $model)) {
		return $sw;
	}

	return openai_error($1, "Mock provider error $1", 'invalid_request_error',
		'mock_error')
		if $model =~ /error-(\d{3})/;

	my $n = ceil(length($req->{body}) / 4);

	return json_resp(200, {
		object => 'list',
		data => [ { object => 'embedding', index => 0,
			embedding => [ 0.25, -0.5 ] } ],
		model => $model,
		usage => { prompt_tokens => $n, total_tokens => $n },
	});
}

sub shapeless {
	my ($req, $body, $model, $api) = @_;

	return undef if $body->{stream} || $model !~ /shapeless/;

	my ($in, $out) = usage_of($req, $model);
	my ($read, $write) = cache_of($model);

	return json_resp(200, $api eq 'openai'
		? { id => 'chatcmpl-x', object => 'chat.completion', model => $model,
			usage => { prompt_tokens => $in + 0,
				completion_tokens => $out + 0,
				total_tokens => $in + $out } }
		: { id => 'msg_x', type => 'message', role => 'assistant',
			model => $model, usage => { input_tokens => $in + 0,
				output_tokens => $out + 0,
				($write ? (cache_creation_input_tokens => $write) : ()),
				($read ? (cache_read_input_tokens => $read) : ()) } });
}

# An outage switched on at run time: the file FILE.outages (FILE the
# record) holds lines "SUBSTRING STATUS [SECONDS]"; a model whose id contains
# SUBSTRING answers as the switch error-STATUS would (read per request, so a
# test starts and ends an outage by writing the file).

sub outage {
	my ($model) = @_;

	return $model unless defined $model && !ref $model;
	open(my $fh, '<', "$record.outages") or return $model;

	while (my $line = <$fh>) {
		my ($sub, $status, $ra) = $line =~ /^(\S+)\s+(\d{3})(?:\s+(\d+))?\s*$/
			or next;
		next if index($model, $sub) < 0;
		return "$model error-$status" . (defined $ra ? "-ra$ra" : '');
	}

	return $model;
}

sub common_switches {
	my ($model) = @_;

	return { status => 0, hang => 30 } if $model =~ /hang/;
	return undef;
}

###############################################################################

# Tool use: what the request asks for.  Returns undef (plain text), or
# { call => TOOL NAME } or { result => TEXT }.

sub text_of {
	my ($content) = @_;

	return $content unless ref $content;
	return '' unless ref $content eq 'ARRAY';

	return join '', map {
		ref $_ eq 'HASH'
			? (($_->{type} // '') eq 'text' ? $_->{text} // ''
				: ($_->{type} // '') eq 'tool_result'
					? text_of($_->{content}) : '')
			: ''
	} @$content;
}

sub tool_turn_openai {
	my ($body) = @_;

	my $last = ref $body->{messages} eq 'ARRAY' ? $body->{messages}[-1] : undef;
	return undef unless ref $last eq 'HASH';

	return { result => text_of($last->{content}) }
		if ($last->{role} // '') eq 'tool';

	my $tools = $body->{tools};
	return undef unless ref $tools eq 'ARRAY' && @$tools
		&& ($last->{role} // '') eq 'user';

	my $fn = ref $tools->[0] eq 'HASH' ? $tools->[0]{function} : undef;
	return { call => (ref $fn eq 'HASH' ? $fn->{name} : undef) // 'tool' };
}

sub tool_turn_anthropic {
	my ($body) = @_;

	my $last = ref $body->{messages} eq 'ARRAY' ? $body->{messages}[-1] : undef;
	return undef unless ref $last eq 'HASH'
		&& ($last->{role} // '') eq 'user';

	if (ref $last->{content} eq 'ARRAY') {
		my @results = grep {
			ref $_ eq 'HASH' && ($_->{type} // '') eq 'tool_result'
		} @{ $last->{content} };
		return { result => join '', map { text_of($_->{content}) } @results }
			if @results;
	}

	my $tools = $body->{tools};
	return undef unless ref $tools eq 'ARRAY' && @$tools;

	return { call => (ref $tools->[0] eq 'HASH' ? $tools->[0]{name} : undef)
		// 'tool' };
}

sub openai_error {
	my ($status, $message, $type, $code, @headers) = @_;

	return json_resp($status, {
		error => {
			message => $message,
			type => $type,
			param => undef,
			code => $code,
		},
	}, @headers);
}

sub openai {
	my ($req) = @_;

	my $auth = $req->{headers}{authorization} // '';
	if ($auth !~ /^Bearer\s+\S+/) {
		return openai_error(401, "You didn't provide an API key. You need to "
			. "provide your API key in an Authorization header using "
			. "Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
			'invalid_request_error', undef);
	}

	my $body = decode_body($req)
		or return openai_error(400, 'We could not parse the JSON body of '
			. 'your request.', 'invalid_request_error', undef);

	my $model = outage($body->{model});
	return openai_error(400, 'you must provide a model parameter',
		'invalid_request_error', undef)
		unless defined $model && !ref $model && length $model;

	return openai_error(400, "Missing required parameter: 'messages'.",
		'invalid_request_error', 'missing_required_parameter')
		unless ref $body->{messages} eq 'ARRAY';

	if (my $sw = common_switches($model) // leak_switches($req, $model)) {
		return $sw;
	}

	return openai_error(401, 'Incorrect API key provided: '
		. ($auth =~ /^Bearer\s+(\S+)/ ? $1 : '')
		. '. You can find your API key at '
		. 'https://platform.openai.com/account/api-keys. (POST '
		. "http://127.0.0.1:$port$req->{path})", 'invalid_request_error',
		'invalid_api_key')
		if $model =~ /error-401/;

	return openai_error(429, 'Rate limit reached for requests', 'requests',
		'rate_limit_exceeded', [ 'retry-after', $1 // 1 ])
		if $model =~ /error-429(?:-ra(\d+))?/;

	return openai_error(500, 'The server had an error while processing your '
		. 'request. Sorry about that!', 'server_error', undef)
		if $model =~ /error-500/;

	return anthropic_error(529, 'overloaded_error', 'Overloaded')
		if $model =~ /error-529/;

	return openai_error($1, "Mock provider error $1", 'invalid_request_error',
		'mock_error')
		if $model =~ /error-(\d{3})/;

	if (my $bad = malformed($body, $model, 'openai')) {
		return $bad;
	}

	if (my $odd = shapeless($req, $body, $model, 'openai')) {
		return $odd;
	}

	my ($in, $out) = usage_of($req, $model);
	my ($cache_read) = cache_of($model);
	my $id = 'chatcmpl-' . rand_id(29);
	my $created = int time();
	my @hdr = ([ 'x-request-id', 'req_' . rand_id(24) ],
		[ 'openai-processing-ms', 42 ]);

	my $usage = {
		prompt_tokens => $in + 0,
		completion_tokens => $out + 0,
		total_tokens => $in + $out,
		prompt_tokens_details => { cached_tokens => $cache_read },
		completion_tokens_details => { reasoning_tokens => 0 },
	};

	my $tool = tool_turn_openai($body);
	my @text = text_pieces($model);
	@text = ('Tool said: ', $tool->{result}) if $tool && exists $tool->{result};
	my $call = $tool && defined $tool->{call} ? {
		id => 'call_' . rand_id(24),
		type => 'function',
		function => { name => $tool->{call}, arguments => $TOOL_ARGS },
	} : undef;

	if (!$body->{stream}) {
		return { close_now => 1, status => 0 } if $model =~ /close/;

		my $message = {
			role => 'assistant',
			content => join('', @text),
			refusal => undef,
		};

		if ($call) {
			$message->{content} = undef;
			$message->{tool_calls} = [ $call ];
		}

		my $r = json_resp(200, {
			id => $id,
			object => 'chat.completion',
			created => $created,
			model => $model,
			system_fingerprint => 'fp_mock',
			choices => [ {
				index => 0,
				message => $message,
				finish_reason => $call ? 'tool_calls' : 'stop',
				logprobs => undef,
			} ],
			usage => $usage,
		}, @hdr);

		return $r;
	}

	my $include_usage = ref $body->{stream_options} eq 'HASH'
		&& $body->{stream_options}{include_usage};

	my $chunk = sub {
		my ($delta, $finish) = @_;
		my $c = {
			id => $id,
			object => 'chat.completion.chunk',
			created => $created,
			model => $model,
			system_fingerprint => 'fp_mock',
			choices => [ {
				index => 0,
				delta => $delta,
				logprobs => undef,
				finish_reason => $finish,
			} ],
		};
		$c->{usage} = undef if $include_usage;
		return 'data: ' . $json->encode($c) . "\n\n";
	};

	my @events;

	if ($call) {
		@events = (
			$chunk->({ role => 'assistant', content => undef,
				refusal => undef, tool_calls => [ {
					index => 0,
					id => $call->{id},
					type => 'function',
					function => { name => $call->{function}{name},
						arguments => '' },
				} ] }, undef),
			(map {
				$chunk->({ tool_calls => [ { index => 0,
					function => { arguments => $_ } } ] }, undef)
			} @TOOL_ARG_PIECES),
		);

	} else {
		@events = (
			$chunk->({ role => 'assistant', content => '', refusal => undef },
				undef),
			$chunk->({ content => $text[0] }, undef),
		);
	}

	if ($model =~ /midstream-error/) {
		push @events, 'data: ' . $json->encode({ error => {
			message => 'Overloaded', type => 'server_error',
			param => undef, code => undef } }) . "\n\n";

	} else {
		push @events,
			(map { $chunk->({ content => $_ }, undef) }
				$call ? () : @text[1 .. $#text]),
			$chunk->({}, $call ? 'tool_calls' : 'stop');

		if ($include_usage && $model !~ /nousage/) {
			push @events, 'data: ' . $json->encode({
				id => $id,
				object => 'chat.completion.chunk',
				created => $created,
				model => $model,
				system_fingerprint => 'fp_mock',
				choices => [],
				usage => $usage,
			}) . "\n\n";
		}

		push @events, "data: [DONE]\n\n";
	}

	return {
		status => 200,
		events => \@events,
		headers => \@hdr,
		delay => stream_delay($req, $model),
		close_after => close_after($model),
		split => $model =~ /split/ ? 1 : 0,
		stall => stall_of($model),
		eol => eol_of($model),
		splitcr => $model =~ /splitcr/ ? 1 : 0,
		badline => $model =~ /badline-(\d+)/ ? $1 + 0 : undef,
		oneshot => $model =~ /oneshot/ ? 1 : 0,
		sized => $model =~ /sse-sized/ ? 1 : 0,
		whole => $model =~ /sse-whole/ ? 1 : 0,
		pieces => $model =~ /sse-pieces-(\d+)/ ? $1 + 0 : 0,
	};
}

###############################################################################

sub anthropic_error {
	my ($status, $type, $message, @headers) = @_;

	return json_resp($status, {
		type => 'error',
		error => { type => $type, message => $message },
		request_id => 'req_' . rand_id(24),
	}, @headers);
}

sub anthropic {
	my ($req) = @_;

	return anthropic_error(401, 'authentication_error',
		'x-api-key header is required')
		unless length($req->{headers}{'x-api-key'} // '');

	return anthropic_error(400, 'invalid_request_error',
		'anthropic-version: header is required')
		unless length($req->{headers}{'anthropic-version'} // '');

	my $body = decode_body($req)
		or return anthropic_error(400, 'invalid_request_error',
			'There was an issue with your request body: invalid JSON');

	my $model = outage($body->{model});
	return anthropic_error(400, 'invalid_request_error', 'model: Field required')
		unless defined $model && !ref $model && length $model;

	return anthropic_error(400, 'invalid_request_error',
		'max_tokens: Field required')
		unless defined $body->{max_tokens};

	return anthropic_error(400, 'invalid_request_error',
		'messages: Field required')
		unless ref $body->{messages} eq 'ARRAY';

	if (my $sw = common_switches($model) // leak_switches($req, $model)) {
		return $sw;
	}

	return anthropic_error(401, 'authentication_error',
		"invalid x-api-key $req->{headers}{'x-api-key'} for "
		. "http://127.0.0.1:$port$req->{path}")
		if $model =~ /error-401/;

	return anthropic_error(429, 'rate_limit_error',
		'Number of request tokens has exceeded your per-minute rate limit',
		[ 'retry-after', $1 // 1 ])
		if $model =~ /error-429(?:-ra(\d+))?/;

	return anthropic_error(500, 'api_error', 'Internal server error')
		if $model =~ /error-500/;

	return anthropic_error(529, 'overloaded_error', 'Overloaded')
		if $model =~ /error-529/;

	return anthropic_error($1, 'api_error', "Mock provider error $1")
		if $model =~ /error-(\d{3})/;

	if (my $bad = malformed($body, $model, 'anthropic')) {
		return $bad;
	}

	if (my $odd = shapeless($req, $body, $model, 'anthropic')) {
		return $odd;
	}

	my ($in, $out) = usage_of($req, $model);
	my $id = 'msg_' . rand_id(24);
	my @hdr = ([ 'request-id', 'req_' . rand_id(24) ]);

	my $tool = tool_turn_anthropic($body);
	my @text = text_pieces($model);
	@text = ('Tool said: ', $tool->{result}) if $tool && exists $tool->{result};
	@text = ('Let me check.') if $tool && defined $tool->{call};
	my $call = $tool && defined $tool->{call} ? {
		type => 'tool_use',
		id => 'toolu_' . rand_id(24),
		name => $tool->{call},
		input => $json->decode($TOOL_ARGS),
	} : undef;

	if (!$body->{stream}) {
		return { close_now => 1, status => 0 } if $model =~ /close/;

		return json_resp(200, {
			id => $id,
			type => 'message',
			role => 'assistant',
			model => $model,
			content => [ { type => 'text', text => join('', @text) },
				$call ? ($call) : () ],
			stop_reason => $call ? 'tool_use' : 'end_turn',
			stop_sequence => undef,
			usage => {
				input_tokens => $in + 0,
				output_tokens => $out + 0,
				cache_usage($model),
			},
		}, @hdr);
	}

	my $ev = sub {
		my ($name, $data) = @_;
		return "event: $name\ndata: " . $json->encode($data) . "\n\n";
	};

	my $delta = sub {
		$ev->('content_block_delta', {
			type => 'content_block_delta',
			index => 0,
			delta => { type => 'text_delta', text => $_[0] },
		});
	};

	my @events = (
		$ev->('message_start', {
			type => 'message_start',
			message => {
				id => $id,
				type => 'message',
				role => 'assistant',
				model => $model,
				content => [],
				stop_reason => undef,
				stop_sequence => undef,
				usage => {
					input_tokens => $in + 0,
					($model =~ /nousage/ ? () : (output_tokens => 1)),
					$model =~ /cwrite-late/
						? (cache_creation_input_tokens => 0,
							cache_read_input_tokens => 0)
						: cache_usage($model),
				},
			},
		}),
		$ev->('content_block_start', {
			type => 'content_block_start',
			index => 0,
			content_block => { type => 'text', text => '' },
		}),
		$ev->('ping', { type => 'ping' }),
		$delta->($text[0]),
	);

	if ($model =~ /midstream-error/) {
		push @events, $ev->('error', {
			type => 'error',
			error => { type => 'overloaded_error', message => 'Overloaded' },
		});

	} else {
		push @events,
			(map { $delta->($_) } @text[1 .. $#text]),
			$ev->('content_block_stop', {
				type => 'content_block_stop', index => 0 });

		if ($call) {
			push @events,
				$ev->('content_block_start', {
					type => 'content_block_start',
					index => 1,
					content_block => { %$call, input => {} },
				}),
				(map {
					$ev->('content_block_delta', {
						type => 'content_block_delta',
						index => 1,
						delta => { type => 'input_json_delta',
							partial_json => $_ },
					})
				} '', @TOOL_ARG_PIECES),
				$ev->('content_block_stop', {
					type => 'content_block_stop', index => 1 });
		}

		push @events,
			$ev->('message_delta', {
				type => 'message_delta',
				delta => { stop_reason => $call ? 'tool_use' : 'end_turn',
					stop_sequence => undef },
				($model =~ /nousage/ ? ()
					: $model =~ /cwrite-late/
					? (usage => { input_tokens => $in + 0,
						cache_usage($model), output_tokens => $out + 0 })
					: (usage => { output_tokens => $out + 0 })),
			}),
			$ev->('message_stop', { type => 'message_stop' });
	}

	return {
		status => 200,
		events => \@events,
		headers => \@hdr,
		delay => stream_delay($req, $model),
		close_after => close_after($model),
		split => $model =~ /split/ ? 1 : 0,
		stall => stall_of($model),
		eol => eol_of($model),
		splitcr => $model =~ /splitcr/ ? 1 : 0,
		badline => $model =~ /badline-(\d+)/ ? $1 + 0 : undef,
		oneshot => $model =~ /oneshot/ ? 1 : 0,
		sized => $model =~ /sse-sized/ ? 1 : 0,
		whole => $model =~ /sse-whole/ ? 1 : 0,
		pieces => $model =~ /sse-pieces-(\d+)/ ? $1 + 0 : 0,
	};
}

###############################################################################
