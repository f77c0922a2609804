#!/usr/bin/perl

# (C) tokenroute authors

# Tests for the built-in demo provider ("tokenroute_demo_provider"): it
# answers like OpenAI and Anthropic, non-stream and stream, with events
# spread out in time; errors have the endpoint's shape; a client that goes
# away mid-stream does not hurt the worker.  No Redis, no "tokenroute on".

###############################################################################

use warnings;
use strict;

use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Socket qw(SOL_SOCKET SO_LINGER);
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new(needs => [qw(nginx module)]);

# /small/ keeps bodies over 128 bytes (past the header buffer) in files
$t->write_nginx_conf('', <<'EOF');
location /v1/ {
    tokenroute_demo_provider;
}
location /small/ {
    client_body_buffer_size 128;
    tokenroute_demo_provider;
}
EOF

$t->start_nginx();

my $TEXT = 'Hello from the tokenroute demo provider. Set OPENAI_API_KEY '
	. 'or ANTHROPIC_API_KEY to reach real models.';
my @WORDS = split / /, $TEXT;

# a model id that must be JSON-escaped when echoed
my $MODEL = "demo-\"gpt\"\\x\x{e9}";
my $js = JSON::PP->new->utf8->canonical;

###############################################################################

sub post {
	my ($path, $body, %o) = @_;

	my $method = $o{stream} ? 'http_stream' : 'http';

	return $t->$method(method => 'POST', path => $path,
		headers => { 'Content-Type' => 'application/json' },
		body => ref $body ? $js->encode($body) : $body);
}

sub prompt_tokens {
	my ($body) = @_;
	my $n = int(length($js->encode($body)) / 4);
	return $n < 1 ? 1 : $n;
}

sub sse_json {
	my ($ev) = @_;
	return eval { JSON::PP->new->utf8->decode($ev->{data} // '') };
}

###############################################################################

# OpenAI shape, non-stream

{
	my $body = { model => $MODEL,
		messages => [ { role => 'user', content => 'hi' } ] };
	my $r = post('/v1/chat/completions', $body);
	my $j = $r->{json};

	is($r->{status}, 200, 'openai: status');
	like($r->{headers}{'content-type'}, qr{^application/json},
		'openai: content type');
	is($r->{headers}{'content-length'}, length $r->{body},
		'openai: content length');

	like($j->{id}, qr/^chatcmpl-demo[0-9a-f]{16}$/, 'openai: id');
	is($j->{object}, 'chat.completion', 'openai: object');
	ok(abs($j->{created} - time()) < 60, 'openai: created is now');
	is($j->{model}, $MODEL, 'openai: model echoed, escaped');
	is(scalar @{ $j->{choices} }, 1, 'openai: one choice');

	my $c = $j->{choices}[0];
	is($c->{index}, 0, 'openai: choice index');
	is($c->{message}{role}, 'assistant', 'openai: role');
	is($c->{message}{content}, $TEXT, 'openai: content');
	is($c->{finish_reason}, 'stop', 'openai: finish_reason');
	ok(exists $c->{logprobs} && !defined $c->{logprobs},
		'openai: logprobs null');

	is_deeply($j->{usage}, {
		prompt_tokens => prompt_tokens($body),
		completion_tokens => scalar @WORDS,
		total_tokens => prompt_tokens($body) + @WORDS,
		prompt_tokens_details => { cached_tokens => 0 },
	}, 'openai: usage');

	my $r2 = post('/v1/chat/completions', $body);
	isnt($r2->{json}{id}, $j->{id}, 'openai: ids differ');
}

{
	my $body = { model => 'm', max_tokens => 3,
		messages => [ { role => 'user', content => 'hi' } ] };
	my $j = post('/v1/chat/completions', $body)->{json};

	is($j->{choices}[0]{message}{content}, 'Hello from the',
		'openai max_tokens: truncated');
	is($j->{choices}[0]{finish_reason}, 'length',
		'openai max_tokens: finish_reason');
	is($j->{usage}{completion_tokens}, 3,
		'openai max_tokens: completion_tokens');

	$body->{max_tokens} = scalar @WORDS;
	is(post('/v1/chat/completions', $body)->{json}{choices}[0]
		{finish_reason}, 'stop', 'openai max_tokens = word count: stop');
}

# Anthropic shape, non-stream

{
	my $body = { model => $MODEL, max_tokens => 1024,
		messages => [ { role => 'user', content => 'hi' } ] };
	my $r = post('/v1/messages', $body);
	my $j = $r->{json};

	is($r->{status}, 200, 'anthropic: status');
	like($r->{headers}{'content-type'}, qr{^application/json},
		'anthropic: content type');
	like($j->{id}, qr/^msg_demo[0-9a-f]{16}$/, 'anthropic: id');
	is($j->{type}, 'message', 'anthropic: type');
	is($j->{role}, 'assistant', 'anthropic: role');
	is($j->{model}, $MODEL, 'anthropic: model echoed, escaped');
	is_deeply($j->{content}, [ { type => 'text', text => $TEXT } ],
		'anthropic: content');
	is($j->{stop_reason}, 'end_turn', 'anthropic: stop_reason');
	ok(exists $j->{stop_sequence} && !defined $j->{stop_sequence},
		'anthropic: stop_sequence null');
	is_deeply($j->{usage}, { input_tokens => prompt_tokens($body),
		output_tokens => scalar @WORDS }, 'anthropic: usage');

	$body->{max_tokens} = 5;
	$j = post('/v1/messages', $body)->{json};

	is($j->{content}[0]{text}, 'Hello from the tokenroute demo',
		'anthropic max_tokens: truncated');
	is($j->{stop_reason}, 'max_tokens', 'anthropic max_tokens: stop_reason');
	is($j->{usage}{output_tokens}, 5, 'anthropic max_tokens: output_tokens');
}

###############################################################################

# OpenAI shape, stream

sub openai_stream {
	my ($name, $body, %e) = @_;

	my $r = post('/v1/chat/completions', $body, stream => 1);
	my @sse = @{ $r->{sse} };

	is($r->{status}, 200, "$name: status");
	like($r->{headers}{'content-type'} // '', qr{^text/event-stream},
		"$name: content type");
	is($r->{headers}{'cache-control'}, 'no-cache', "$name: cache control");
	ok(!defined $r->{headers}{'content-length'}, "$name: no content length");
	like($r->{headers}{'transfer-encoding'} // '', qr/chunked/,
		"$name: chunked");
	ok($r->{complete}, "$name: response complete") or diag($r->{error});

	my $words = $e{words} // scalar @WORDS;
	my $n = 1 + $words + 1 + ($e{usage} ? 1 : 0) + 1;

	is(scalar @sse, $n, "$name: $n events")
		or diag(join "\n", map { $_->{raw} } @sse);
	return $r unless @sse == $n;

	is($sse[-1]{data}, '[DONE]', "$name: ends with [DONE]");

	my @chunks = map { sse_json($_) } @sse[0 .. $#sse - 1];

	ok(!(grep { ref $_ ne 'HASH' } @chunks), "$name: chunks are JSON")
		or return $r;

	my %ids = map { $_->{id} => 1 } @chunks;
	is(scalar keys %ids, 1, "$name: one id");
	like($chunks[0]{id}, qr/^chatcmpl-demo[0-9a-f]{16}$/, "$name: id");
	ok(!(grep { $_->{object} ne 'chat.completion.chunk' } @chunks),
		"$name: object");
	ok(!(grep { $_->{model} ne $body->{model} } @chunks), "$name: model");

	is_deeply($chunks[0]{choices}, [ { index => 0,
		delta => { role => 'assistant', content => '' },
		finish_reason => undef } ], "$name: role chunk first");

	my @deltas = @chunks[1 .. $words];
	is(join('', map { $_->{choices}[0]{delta}{content} // '' } @deltas),
		join(' ', @WORDS[0 .. $words - 1]), "$name: words");
	ok(!(grep { defined $_->{choices}[0]{finish_reason} } @deltas),
		"$name: no finish_reason in word chunks");
	like($deltas[0]{choices}[0]{delta}{content}, qr/^\S+ $/,
		"$name: a word carries its space");

	my $fin = $chunks[$words + 1];
	is_deeply($fin->{choices}, [ { index => 0, delta => {},
		finish_reason => $e{finish} // 'stop' } ], "$name: finish chunk");

	my @usage = grep { exists $_->{usage} } @chunks;

	if ($e{usage}) {
		my $p = prompt_tokens($body);
		is(scalar @usage, 1, "$name: one usage chunk");
		is($usage[0], $chunks[-1], "$name: usage chunk last");
		is_deeply($usage[0]{choices}, [], "$name: usage chunk: no choices");
		is_deeply($usage[0]{usage}, { prompt_tokens => $p,
			completion_tokens => $words, total_tokens => $p + $words,
			prompt_tokens_details => { cached_tokens => 0 } },
			"$name: usage");

	} else {
		is(scalar @usage, 0, "$name: no usage chunk");
	}

	return $r;
}

{
	my $r = openai_stream('openai stream',
		{ model => $MODEL, stream => JSON::PP::true });

	# 17 events 30 ms apart
	my @sse = @{ $r->{sse} };
	ok(@sse && $sse[-1]{time} - $sse[0]{time} >= 0.1,
		'openai stream: events spread out in time')
		or diag(sprintf "first to last: %.3f s",
			@sse ? $sse[-1]{time} - $sse[0]{time} : 0);
	ok(@{ $r->{events} } >= 10, 'openai stream: events arrive apart')
		or diag(scalar @{ $r->{events} } . ' pieces');
}

openai_stream('openai stream include_usage',
	{ model => 'm', stream => JSON::PP::true,
		stream_options => { include_usage => JSON::PP::true } },
	usage => 1);

openai_stream('openai stream include_usage false',
	{ model => 'm', stream => JSON::PP::true,
		stream_options => { include_usage => JSON::PP::false } });

openai_stream('openai stream include_usage elsewhere',
	{ model => 'm', stream => JSON::PP::true,
		metadata => { include_usage => JSON::PP::true },
		stream_options => { x => [ { include_usage => JSON::PP::true } ] }
	});

openai_stream('openai stream max_tokens',
	{ model => 'm', stream => JSON::PP::true, max_tokens => 2,
		stream_options => { include_usage => JSON::PP::true } },
	usage => 1, words => 2, finish => 'length');

# spaces around the tokens are JSON too
{
	my $body = '{ "stream_options" : { "include_usage" : true } , '
		. '"model" : "m" , "stream" : true }';
	my $r = post('/v1/chat/completions', $body, stream => 1);
	my @usage = grep { ($_->{data} // '') =~ /"usage"/ } @{ $r->{sse} };
	is(scalar @usage, 1, 'openai stream include_usage with spaces');
}

###############################################################################

# Anthropic shape, stream

sub anthropic_stream {
	my ($name, $body, %e) = @_;

	my $r = post('/v1/messages', $body, stream => 1);
	my @sse = @{ $r->{sse} };

	is($r->{status}, 200, "$name: status");
	like($r->{headers}{'content-type'} // '', qr{^text/event-stream},
		"$name: content type");
	is($r->{headers}{'cache-control'}, 'no-cache', "$name: cache control");
	ok(!defined $r->{headers}{'content-length'}, "$name: no content length");
	ok($r->{complete}, "$name: response complete") or diag($r->{error});

	my $words = $e{words} // scalar @WORDS;

	is_deeply([ map { $_->{event} } @sse ], [ 'message_start',
		'content_block_start', ('content_block_delta') x $words,
		'content_block_stop', 'message_delta', 'message_stop' ],
		"$name: event sequence")
		or return $r;

	my @d = map { sse_json($_) } @sse;

	my @bad = grep { ref $d[$_] ne 'HASH'
		|| ($d[$_]{type} // '') ne $sse[$_]{event} } 0 .. $#d;
	ok(!@bad, "$name: every data is JSON of the event's type");

	my $m = $d[0]{message};
	like($m->{id}, qr/^msg_demo[0-9a-f]{16}$/, "$name: id");
	is($m->{model}, $body->{model}, "$name: model");
	is($m->{role}, 'assistant', "$name: role");
	is_deeply($m->{content}, [], "$name: no content yet");
	is_deeply($m->{usage}, { input_tokens => prompt_tokens($body),
		output_tokens => 1 }, "$name: message_start usage");

	is_deeply($d[1]{content_block}, { type => 'text', text => '' },
		"$name: content block");
	is(join('', map { $_->{delta}{text} } @d[2 .. $words + 1]),
		join(' ', @WORDS[0 .. $words - 1]), "$name: words");
	ok(!(grep { $_->{delta}{type} ne 'text_delta' || $_->{index} != 0 }
		@d[2 .. $words + 1]), "$name: text deltas of block 0");

	is($d[-2]{delta}{stop_reason}, $e{stop} // 'end_turn',
		"$name: stop_reason");
	ok(exists $d[-2]{delta}{stop_sequence}
		&& !defined $d[-2]{delta}{stop_sequence}, "$name: stop_sequence");
	is_deeply($d[-2]{usage}, { output_tokens => $words },
		"$name: message_delta usage");

	return $r;
}

{
	my $r = anthropic_stream('anthropic stream',
		{ model => $MODEL, stream => JSON::PP::true, max_tokens => 1024 });

	my @sse = @{ $r->{sse} };
	ok(@sse && $sse[-1]{time} - $sse[0]{time} >= 0.1,
		'anthropic stream: events spread out in time')
		or diag(sprintf "first to last: %.3f s",
			@sse ? $sse[-1]{time} - $sse[0]{time} : 0);
}

anthropic_stream('anthropic stream max_tokens',
	{ model => 'm', stream => JSON::PP::true, max_tokens => 4 },
	words => 4, stop => 'max_tokens');

###############################################################################

# errors, in the shape of the endpoint

$t->error_ok($t->http(method => 'GET', path => '/v1/chat/completions'),
	'openai', name => 'openai: GET is 405', status => 405,
	type => 'invalid_request_error');

{
	my $r = $t->http(method => 'GET', path => '/v1/messages');
	$t->error_ok($r, 'anthropic', name => 'anthropic: GET is 405',
		status => 405, type => 'invalid_request_error');
	is($r->{headers}{allow}, 'POST', '405 says Allow: POST');
}

$t->error_ok(post('/v1/models', '{"model":"m"}'), 'openai',
	name => 'unknown endpoint is 404', status => 404,
	type => 'invalid_request_error');

$t->error_ok(post('/v1/complete', '{"model":"m"}'), 'openai',
	name => 'legacy endpoint is 404', status => 404);

{
	my $r = post('/v1/chat/completions', '{"model": "m", "messages": [}');
	$t->error_ok($r, 'openai', name => 'openai: invalid JSON is 400',
		status => 400, type => 'invalid_request_error');
	is($r->{json}{error}{code}, 'invalid_json', 'openai: invalid_json code');
}

$t->error_ok(post('/v1/chat/completions', ''), 'openai',
	name => 'openai: empty body is 400', status => 400);

$t->error_ok(post('/v1/messages', '{"max_tokens":16,"messages":[]}'),
	'anthropic', name => 'anthropic: no model is 400', status => 400,
	type => 'invalid_request_error');

$t->error_ok(post('/v1/messages', '{"model":"m","stream":"yes"}'),
	'anthropic', name => 'anthropic: bad stream type is 400',
	status => 400);

$t->error_ok(post('/v1/messages', '["m"]'), 'anthropic',
	name => 'anthropic: not an object is 400', status => 400);

$t->error_ok(post('/small/chat/completions',
	'{"model":"m","pad":"' . ('x' x 4000) . '"}'), 'openai',
	name => 'openai: body in a temporary file is 413', status => 413);

###############################################################################

# a body that arrives in several buffers

{
	my $body = '{"model":"chunked","stream":false,"pad":"'
		. ('y' x 3000) . '"}';
	my @parts = (substr($body, 0, 20), substr($body, 20, 20),
		substr($body, 40));

	my $raw = "POST /v1/messages HTTP/1.1\r\nHost: localhost\r\n"
		. "Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
		. join('', map { sprintf("%x\r\n%s\r\n", length, $_) } @parts)
		. "0\r\n\r\n";

	my $j = $t->http(raw => $raw)->{json};
	is($j->{model}, 'chunked', 'chunked body: model');
	is($j->{usage}{input_tokens}, int(length($body) / 4),
		'chunked body: every byte counted');
}

###############################################################################

# the client goes away mid-stream, in different ways

my @workers = $t->workers();

for my $how (qw(close reset early)) {
	my $body = '{"model":"m","stream":true,'
		. '"stream_options":{"include_usage":true}}';

	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
		PeerPort => $t->port('http'), Proto => 'tcp', Timeout => 5)
		or die "connect: $!\n";

	print $s "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
		. "Content-Length: " . length($body) . "\r\n\r\n$body";

	if ($how ne 'early') {
		my $buf = '';
		IO::Select->new($s)->can_read(5);
		sysread($s, $buf, 65536);
		like($buf, qr/^HTTP\/1\.1 200/, "abort ($how): stream started");
		sleep 0.1;
	}

	# RST instead of FIN
	setsockopt($s, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0))
		if $how eq 'reset';

	close $s;
}

# longer than the rest of those streams
sleep 0.8;

is_deeply([ $t->workers() ], \@workers, 'abort: the worker survived');

{
	my $r = post('/v1/chat/completions', '{"model":"after-abort"}');
	is($r->{json}{model}, 'after-abort', 'abort: the worker still serves');
}

like($t->error_log(), qr/client prematurely closed connection/,
	'abort: the closed client was noticed');

###############################################################################

# streams one after another on a keep-alive connection

{
	my @r = $t->http_keepalive(
		{ method => 'POST', path => '/v1/chat/completions',
			body => { model => 'ka1', stream => JSON::PP::true } },
		{ method => 'POST', path => '/v1/messages',
			body => { model => 'ka2', stream => JSON::PP::true,
				max_tokens => 3 } },
		{ method => 'POST', path => '/v1/messages',
			body => { model => 'ka3', max_tokens => 3 } });

	is(scalar @r, 3, 'keepalive: three responses');
	like($r[0]{body} // '', qr/data: \[DONE\]\n\n\z/,
		'keepalive: first stream complete');
	like($r[1]{body} // '', qr/event: message_stop\n.*\n\n\z/,
		'keepalive: second stream complete');
	is($r[2]{json}{model}, 'ka3', 'keepalive: then a plain answer');
}

###############################################################################

done_testing();

###############################################################################
