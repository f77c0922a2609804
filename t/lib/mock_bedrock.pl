#!/usr/bin/perl

# (C) tokenroute authors

# Mock AWS Bedrock runtime for the tokenroute test suite: InvokeModel for
# Anthropic models as Bedrock answers it, every request's SigV4 signature
# verified the way AWS does (t/lib/TokenRoute/SigV4.pm: the credential
# scope's date, region and service "bedrock", x-amz-date within 5 minutes,
# the session token), and every request recorded as one JSON line.
#
# usage: mock_bedrock.pl --port P --record FILE --keys FILE --region R
#                        [--host 127.0.0.1] [--aborts FILE]
#
# --keys FILE, read on every request (a test rotates keys by rewriting
# it): lines "ACCESS_KEY_ID SECRET [SESSION_TOKEN]" or "bearer API_KEY".
# A request that fails the check: 403 with x-amzn-ErrorType and
# {"message": ...} as AWS words it (InvalidSignatureException,
# UnrecognizedClientException, MissingAuthenticationTokenException).
#
# POST /model/{modelId}/invoke: the body must be a JSON object with
# "anthropic_version": "bedrock-2023-05-31" and neither "model" nor
# "stream" (Bedrock's 400 ValidationException otherwise); the answer is
# Anthropic's Messages response (model: the Anthropic name Bedrock
# reports) with the x-amzn-bedrock-*-token-count headers.
# POST /model/{modelId}/invoke-with-response-stream: the same checks, the
# answer in AWS's event-stream framing (see stream_answer() for its
# switches).
#
# Behaviour switches, by the model id (decoded) in the path:
#   error-429  429 ThrottlingException        error-503  ServiceUnavailable
#   error-424  424 ModelErrorException        error-408  ModelTimeoutException
#   error-400  400 ValidationException        error-500  InternalServerException
#   error-403  403 AccessDeniedException (the model not enabled)
#   skew-N     the mock's clock N seconds ahead (signatures expire at 300)
#   usage-IN-OUT  usage reports IN input and OUT output tokens
# Without usage-: input tokens = ceil(body bytes / 4), output tokens 3.
#
# Outages switched on at run time, as mock_provider.pl's (Test.pm's
# mock_outage(NAME, SUBSTRING => 'STATUS [SECONDS]')): the file
# FILE.outages (FILE the record), read on every request, holds lines
# "SUBSTRING STATUS [SECONDS]"; a model id (decoded) containing SUBSTRING
# answers, once its signature and body passed, as error-STATUS would
# (invoke and invoke-with-response-stream alike), with "Retry-After:
# SECONDS" when SECONDS is given.  Bedrock itself sends no Retry-After
# with its ThrottlingException (the gateway's tokenroute_cooldown then
# applies); the header lets a test choose the window.
# GET /__health answers 200 "ok", not recorded.
#
# Record line: {time, method, path, headers (lower-cased name -> value),
# header_list, body, sigv4 ("ok" or the exception's message), response:
# {status, body}} as mock_provider.pl's, so Test.pm's mock_requests()
# reads it.

use warnings;
use strict;

use File::Basename qw(dirname);
use Fcntl qw(:flock);
use Getopt::Long;
use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use JSON::PP;
use MIME::Base64 ();
use POSIX qw(:sys_wait_h ceil);
use Time::HiRes qw(time sleep);

use lib dirname(__FILE__);
use TokenRoute::SigV4;
use TokenRoute::EventStream;

my ($port, $record, $keys, $region, $aborts);
my $host = '127.0.0.1';

GetOptions(
	'host=s' => \$host,
	'port=i' => \$port,
	'record=s' => \$record,
	'keys=s' => \$keys,
	'region=s' => \$region,
	'aborts=s' => \$aborts,
	'delay=f' => \my $unused_delay,
	'idle-timeout=f' => \my $unused_idle,
) or die "bad options\n";

die "usage: mock_bedrock.pl --port P --record F --keys F --region R\n"
	unless $port && $record && $keys && $region;

$SIG{PIPE} = 'IGNORE';
$SIG{CHLD} = sub { 1 while waitpid(-1, WNOHANG) > 0 };

my $json = JSON::PP->new->canonical;

my %ERRORS = (
	400 => ['ValidationException', 'Malformed input request, please '
		. 'reformat your input and try again.'],
	403 => ['AccessDeniedException', 'You don\'t have access to the model '
		. 'with the specified model ID.'],
	408 => ['ModelTimeoutException', 'Model has timed out in processing '
		. 'the request. Try your request again.'],
	424 => ['ModelErrorException', 'The model produced an error.'],
	429 => ['ThrottlingException', 'Too many requests, please wait before '
		. 'trying again.'],
	500 => ['InternalServerException', 'The server encountered an '
		. 'internal error.'],
	503 => ['ServiceUnavailableException', 'Bedrock is unable to process '
		. 'your request.'],
);

my $listen = IO::Socket::INET->new(LocalAddr => $host, LocalPort => $port,
	Proto => 'tcp', Listen => 128, ReuseAddr => 1)
	or die "listen $host:$port: $!\n";

while (1) {
	my $c = $listen->accept() or next;
	my $pid = fork();
	if (!defined $pid) { close $c; next; }
	if ($pid == 0) {
		close $listen;
		serve($c);
		exit 0;
	}
	close $c;
}

sub serve {
	my ($c) = @_;
	binmode $c;

	while (1) {
		my $head = '';
		while ($head !~ /\r\n\r\n/) {
			my $n = sysread($c, my $buf, 65536);
			return unless $n;
			$head .= $buf;
		}
		my ($h, $body) = split /\r\n\r\n/, $head, 2;
		my ($line, @lines) = split /\r\n/, $h;
		my ($method, $target, $version) = split / /, $line;
		my @hl = map { [split /:\s*/, $_, 2] } @lines;
		my %hd;
		for (@hl) {
			my $k = lc $_->[0];
			$hd{$k} = defined $hd{$k} ? "$hd{$k}, $_->[1]" : $_->[1];
		}
		my $len = $hd{'content-length'} // 0;
		while (length $body < $len) {
			my $n = sysread($c, my $buf, $len - length $body);
			return unless $n;
			$body .= $buf;
		}

		if ($target eq '/__health') {
			respond($c, 200, { 'Content-Type' => 'text/plain' }, 'ok');
			next;
		}

		my ($path, $query) = split /\?/, $target, 2;
		my ($status, $hdrs, $out, $sig) =
			answer($method, $path, $query // '', \@hl, $body);

		record({ time => time(), method => $method, path => $target,
			version => $version, headers => \%hd, header_list => \@hl,
			body => $body, sigv4 => $sig,
			response => { status => $status,
				body => ref $out ? stream_text($out) : $out } });

		respond($c, $status, $hdrs, $out) or return;
		return if lc($hd{connection} // '') eq 'close';
	}
}

sub respond {
	my ($c, $status, $hdrs, $body) = @_;
	return respond_stream($c, $status, $hdrs, $body) if ref $body;
	my $text = "HTTP/1.1 $status X\r\n";
	$text .= "$_: $hdrs->{$_}\r\n" for sort keys %$hdrs;
	$text .= "Content-Length: " . length($body) . "\r\n\r\n" . $body;
	syswrite($c, $text);
}

# a stream's messages as the record shows them, a line each: the chunk's
# Anthropic event (its JSON), "EXCEPTION-TYPE PAYLOAD" or "malformed"
sub stream_text {
	my ($s) = @_;
	my $text = '';
	for my $raw (@{ $s->{messages} }) {
		my ($m) = eval { TokenRoute::EventStream::es_decode($raw) };
		if (!$m) {
			$text .= "malformed\n";
		} elsif (my $x = $m->{headers}{':exception-type'}) {
			$text .= "$x $m->{payload}\n";
		} else {
			$text .= MIME::Base64::decode_base64(
				$json->decode($m->{payload})->{bytes}) . "\n";
		}
	}
	return $text;
}

# an event stream (stream_answer()), chunked, by its switches; 0 if the
# connection was closed on purpose
sub respond_stream {
	my ($c, $status, $hdrs, $s) = @_;
	my $text = "HTTP/1.1 $status OK\r\n";
	$text .= "$_: $hdrs->{$_}\r\n" for sort keys %$hdrs;

	if ($s->{length}) {
		my $body = join '', @{ $s->{messages} };
		syswrite($c, $text . 'Content-Length: ' . length($body) . "\r\n"
			. "ETag: \"es-1\"\r\nAccept-Ranges: bytes\r\n\r\n" . $body);
		return 1;
	}

	syswrite($c, $text . "Transfer-Encoding: chunked\r\n\r\n");
	setsockopt($c, IPPROTO_TCP, TCP_NODELAY, 1);

	my $chunk = sub {
		my ($bytes) = @_;
		syswrite($c, sprintf("%x\r\n", length $bytes) . $bytes . "\r\n")
			if length $bytes;
	};

	my @msgs = @{ $s->{messages} };
	my $n = 0;

	for my $i (0 .. $#msgs) {
		my $m = $msgs[$i];

		if ($s->{close} && $n == $s->{close}) {
			close $c;
			return 0;
		}

		$m = substr($m, 0, int(length($m) / 2))
			if $s->{cutframe} && $i == $#msgs;

		if ($s->{bytes}) {
			for my $b (split //, $m) {
				$chunk->($b);
				sleep 0.001;
			}
		} elsif ($s->{split}) {
			my $half = int(length($m) / 2);
			$chunk->(substr($m, 0, $half));
			sleep 0.01;
			$chunk->(substr($m, $half));
		} else {
			$chunk->($m);
		}

		$n++;
	}

	syswrite($c, "0\r\n\r\n");

	return 1;
}

sub record {
	my ($r) = @_;
	open my $fh, '>>', $record or die "$record: $!\n";
	flock $fh, LOCK_EX;
	print $fh JSON::PP->new->canonical->ascii->encode($r), "\n";
	close $fh;
}

# the outage of FILE.outages the model is in: (STATUS, SECONDS or undef),
# or nothing

sub outage {
	my ($model) = @_;

	open(my $fh, '<', "$record.outages") or return;

	while (my $line = <$fh>) {
		my ($sub, $status, $ra) = $line =~ /^(\S+)\s+(\d{3})(?:\s+(\d+))?\s*$/
			or next;
		return ($status, $ra) if index($model, $sub) >= 0;
	}

	return;
}

sub aws_error {
	my ($status, $type, $message) = @_;
	return ($status, { 'Content-Type' => 'application/json',
		'x-amzn-ErrorType' => "$type:http://internal.amazon.com/coral/"
			. "com.amazon.bedrock/",
		'x-amzn-RequestId' => request_id() },
		$json->encode({ message => $message }));
}

sub request_id {
	return sprintf '%08x-%04x-4%03x-a%03x-%012x', int(rand 2**32),
		int(rand 2**16), int(rand 4096), int(rand 4096), int(rand 2**48);
}

sub secret_for {
	my ($ak) = @_;
	open my $fh, '<', $keys or return;
	while (<$fh>) {
		# split's implied limit would keep a trailing empty field
		my ($id, $secret, $token) = grep { length } split ' ', $_;
		next unless defined $secret;
		return ($secret, $token) if $id eq $ak;
	}
	return;
}

sub bearer_ok {
	my ($key) = @_;
	open my $fh, '<', $keys or return 0;
	while (<$fh>) {
		my ($id, $k) = grep { length } split ' ', $_;
		return 1 if $id eq 'bearer' && defined $k && $k eq $key;
	}
	return 0;
}

sub answer {
	my ($method, $path, $query, $hl, $body) = @_;

	my ($raw_model, $op) = $path =~ m{^/model/([^/]+)/(invoke|invoke-with-response-stream)$}
		or return (aws_error(404, 'UnknownOperationException',
			'Unknown operation'), 'not checked');
	my $model = TokenRoute::SigV4::uri_decode($raw_model);

	my ($skew) = $model =~ /skew-(\d+)/;

	my ($auth) = map { $_->[1] } grep { lc $_->[0] eq 'authorization' } @$hl;
	my ($ok, $type, $message);

	if (defined $auth && $auth =~ /^Bearer (.+)$/) {
		($ok, $type, $message) = bearer_ok($1) ? (1)
			: (0, 'UnrecognizedClientException', 'Invalid API Key format: '
				. 'Must start with pre-defined prefix');
	} else {
		($ok, $type, $message) = TokenRoute::SigV4::verify(
			method => $method, path => $path, query => $query,
			headers => $hl, body => $body, now => time() + ($skew // 0),
			region => $region, service => 'bedrock',
			secret_for => \&secret_for);
	}

	return (aws_error(403, $type, $message), $message) unless $ok;

	my $req = eval { $json->decode($body) };
	my $v;
	if (ref $req ne 'HASH') {
		$v = 'Malformed input request, please reformat your input and '
			. 'try again.';
	} elsif (($req->{anthropic_version} // '') ne 'bedrock-2023-05-31') {
		$v = 'Malformed input request: #: required key '
			. '[anthropic_version] not found, please reformat your input '
			. 'and try again.';
	} elsif (my @x = grep { exists $req->{$_} } qw(model stream)) {
		$v = "Malformed input request: #: extraneous key [$x[0]] is not "
			. 'permitted, please reformat your input and try again.';
	} elsif (ref $req->{messages} ne 'ARRAY') {
		$v = 'Malformed input request: #: required key [messages] not '
			. 'found, please reformat your input and try again.';
	}
	return (aws_error(400, 'ValidationException', $v), 'ok') if $v;

	if ($model =~ /error-(\d{3})/) {
		my $e = $ERRORS{$1} // ['InternalServerException', 'Error'];
		return (aws_error($1, @$e), 'ok');
	}

	if (my ($status, $ra) = outage($model)) {
		my $e = $ERRORS{$status} // ['InternalServerException', 'Error'];
		my @r = aws_error($status, @$e);
		$r[1]{'Retry-After'} = $ra if defined $ra;
		return (@r, 'ok');
	}

	return (stream_answer($model, $req), 'ok')
		if $op eq 'invoke-with-response-stream';

	my ($in, $out) = $model =~ /usage-(\d+)-(\d+)/
		? ($1, $2) : (ceil(length($body) / 4), 3);

	my $text = 'Hello from bedrock';
	my $resp = {
		id => 'msg_bdrk_01' . join('', map { ('a' .. 'z')[rand 26] } 1 .. 20),
		type => 'message', role => 'assistant',
		model => 'claude-3-haiku-20240307',
		content => [{ type => 'text', text => $text }],
		stop_reason => 'end_turn', stop_sequence => undef,
		usage => { input_tokens => $in + 0, output_tokens => $out + 0 },
	};

	return (200, { 'Content-Type' => 'application/json',
		'x-amzn-RequestId' => request_id(),
		'X-Amzn-Bedrock-Invocation-Latency' => 312,
		'X-Amzn-Bedrock-Input-Token-Count' => $in,
		'X-Amzn-Bedrock-Output-Token-Count' => $out },
		$json->encode($resp), 'ok');
}

# InvokeModelWithResponseStream: 200 application/vnd.amazon.eventstream,
# chunked, each Anthropic stream event base64 in a "chunk" message
# (TokenRoute::EventStream, real framing and CRCs), message_stop with
# Bedrock's amazon-bedrock-invocationMetrics.  Stream switches, by the
# model id (besides usage-IN-OUT and the error-NNN statuses above):
#   split         every message written in two pieces, cut in the middle,
#                 10 ms apart
#   bytes         the body written one byte at a time, 1 ms apart (every
#                 byte boundary, as the gateway reads them)
#   close-N       the connection closed after N messages (no chunked end)
#   exception-X   after the first text delta, an exception message of
#                 :exception-type X (e.g. throttlingException), then the
#                 stream's end, as Bedrock does
#   badcrc        the third message's CRC wrong
#   cutframe      the body ends (properly chunked) in the middle of the
#                 last message
#   length        not chunked: the whole body with Content-Length (and an
#                 ETag and Accept-Ranges: bytes), as a buffering proxy
#                 in front of Bedrock may answer
# The record's response body is the stream's messages decoded, one
# "TYPE JSON" line each.
sub stream_answer {
	my ($model, $req) = @_;

	my ($in, $out) = $model =~ /usage-(\d+)-(\d+)/
		? ($1 + 0, $2 + 0) : (11, 3);
	my $id = 'msg_bdrk_01' . join('', map { ('a' .. 'z')[rand 26] } 1 .. 20);
	my @events = (
		{ type => 'message_start', message => { id => $id,
			type => 'message', role => 'assistant',
			model => 'claude-3-haiku-20240307', content => [],
			stop_reason => undef, stop_sequence => undef,
			usage => { input_tokens => $in, output_tokens => 1 } } },
		{ type => 'content_block_start', index => 0,
			content_block => { type => 'text', text => '' } },
		(map { { type => 'content_block_delta', index => 0,
			delta => { type => 'text_delta', text => $_ } } }
			('Hello', ' from', " bedrock \x{e9}\n\"q\"")),
		{ type => 'content_block_stop', index => 0 },
		{ type => 'message_delta', delta => { stop_reason => 'end_turn',
			stop_sequence => undef }, usage => { output_tokens => $out } },
		{ type => 'message_stop', 'amazon-bedrock-invocationMetrics' => {
			inputTokenCount => $in, outputTokenCount => $out,
			invocationLatency => 412, firstByteLatency => 120 } },
	);

	my $utf8 = JSON::PP->new->canonical->utf8;
	my @msgs = map { TokenRoute::EventStream::es_chunk($utf8->encode($_)) }
		@events;

	if ($model =~ /exception-(\w+?)(?:-v\d|$|:)/) {
		@msgs = (@msgs[0 .. 2], TokenRoute::EventStream::es_exception($1,
			'The stream was interrupted: ' . $1));
	}

	if ($model =~ /badcrc/) {
		my $m = $msgs[2];
		substr($m, -1, 1) = chr(ord(substr($m, -1, 1)) ^ 0x55);
		$msgs[2] = $m;
	}

	my %s = (messages => \@msgs);
	$s{split} = 1 if $model =~ /split/;
	$s{bytes} = 1 if $model =~ /bytes/;
	$s{close} = $1 if $model =~ /close-(\d+)/;
	$s{cutframe} = 1 if $model =~ /cutframe/;
	$s{length} = 1 if $model =~ /length/;

	return (200, { 'Content-Type' => 'application/vnd.amazon.eventstream',
		'x-amzn-RequestId' => request_id(),
		'X-Amzn-Bedrock-Content-Type' => 'application/json' }, \%s);
}
