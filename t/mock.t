#!/usr/bin/perl

# (C) tokenroute authors

# Tests for the test suite's mock provider itself (no nginx): the API
# shapes, the behaviour switches and the request record the other tests
# rely on.

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new(needs => []);
$t->start_mock(delay => 0.1);

my $port = $t->port('mock');

sub openai {
	my ($model, %o) = @_;
	my $f = delete $o{stream_fn} ? 'http_stream' : 'http';
	return $t->$f(port => $port, method => 'POST',
		path => '/v1/chat/completions',
		headers => { Authorization => 'Bearer sk-x', %{ $o{headers} || {} } },
		body => $o{body} // { model => $model, messages => [],
			%{ $o{extra} || {} } },
		timeout => $o{timeout} // 10);
}

sub anthropic {
	my ($model, %o) = @_;
	my $f = delete $o{stream_fn} ? 'http_stream' : 'http';
	return $t->$f(port => $port, method => 'POST', path => '/v1/messages',
		headers => { 'x-api-key' => 'sk-x', 'anthropic-version' => '2023-06-01',
			%{ $o{headers} || {} } },
		body => $o{body} // { model => $model, max_tokens => 8,
			messages => [], %{ $o{extra} || {} } },
		timeout => $o{timeout} // 10);
}

###############################################################################

# plain answers and the record

my $r = openai('gpt-x', extra => { user => "caf\x{e9}" });

is($r->{status}, 200, 'openai: 200');
is($r->{json}{object}, 'chat.completion', 'openai: object');
like($r->{json}{id}, qr/^chatcmpl-/, 'openai: id');
is($r->{json}{model}, 'gpt-x', 'openai: model echoed');
is($r->{json}{choices}[0]{message}{content}, 'Hello from mock', 'openai: text');
is($r->{json}{usage}{total_tokens},
	$r->{json}{usage}{prompt_tokens} + $r->{json}{usage}{completion_tokens},
	'openai: usage adds up');

my @rec = $t->mock_requests();
is(scalar @rec, 1, 'record: one request');
is($rec[0]{method}, 'POST', 'record: method');
is($rec[0]{path}, '/v1/chat/completions', 'record: path');
is($rec[0]{headers}{authorization}, 'Bearer sk-x', 'record: headers');
is($rec[0]{json}{user}, "caf\x{e9}", 'record: json decoded from UTF-8');
is($rec[0]{body}, JSON::PP->new->canonical->utf8->encode({ model => 'gpt-x',
	messages => [], user => "caf\x{e9}" }), 'record: raw body bytes');
is($rec[0]{response}{body}, $r->{body}, 'record: response body');

$r = anthropic('claude-x');

is($r->{status}, 200, 'anthropic: 200');
is($r->{json}{type}, 'message', 'anthropic: type');
is($r->{json}{content}[0]{text}, 'Hello from mock', 'anthropic: text');
is($r->{json}{stop_reason}, 'end_turn', 'anthropic: stop_reason');

$r = openai('usage-1000-2000');
is_deeply([ @{ $r->{json}{usage} }{qw(prompt_tokens completion_tokens)} ],
	[ 1000, 2000 ], 'usage-IN-OUT');

$t->clear_mock_requests();
is(scalar($t->mock_requests()), 0, 'clear_mock_requests');

###############################################################################

# authentication and validation like the real APIs

$r = $t->http(port => $port, method => 'POST', path => '/v1/chat/completions',
	body => { model => 'm', messages => [] });
is($r->{status}, 401, 'openai: no Authorization: 401');
ok(ref $r->{json}{error} eq 'HASH', 'openai: error shape');

$r = $t->http(port => $port, method => 'POST', path => '/v1/messages',
	headers => { 'anthropic-version' => '2023-06-01' },
	body => { model => 'm', max_tokens => 1, messages => [] });
is($r->{status}, 401, 'anthropic: no x-api-key: 401');
is($r->{json}{error}{type}, 'authentication_error', 'anthropic: error type');

is(anthropic('m', headers => { 'anthropic-version' => '' })->{status}, 400,
	'anthropic: no anthropic-version: 400');
is(anthropic('m', body => { model => 'm', messages => [] })->{status}, 400,
	'anthropic: no max_tokens: 400');
is(openai('m', body => '{"model":')->{status}, 400, 'openai: bad JSON: 400');
is($t->http(port => $port, path => '/v1/nowhere')->{status}, 404,
	'unknown path: 404');

###############################################################################

# error switches

$r = openai('x-error-429');
is($r->{status}, 429, 'openai error-429');
is($r->{headers}{'retry-after'}, '1', 'openai error-429: retry-after');
is($r->{json}{error}{code}, 'rate_limit_exceeded', 'openai error-429: code');

$r = anthropic('x-error-429');
is($r->{status}, 429, 'anthropic error-429');
is($r->{json}{error}{type}, 'rate_limit_error', 'anthropic error-429: type');

is(openai('x-error-500')->{status}, 500, 'openai error-500');
is(anthropic('x-error-500')->{json}{error}{type}, 'api_error',
	'anthropic error-500');

$r = anthropic('x-error-529');
is($r->{status}, 529, 'error-529');
is($r->{json}{error}{type}, 'overloaded_error', 'error-529: type');

my $t0 = time();
$r = openai('x-hang', timeout => 1);
ok(!$r->{status} && time() - $t0 >= 0.9, 'hang: no answer');

$r = openai('x-close');
ok(!$r->{status} && $r->{error}, 'close: connection closed, no answer');

###############################################################################

# streams

$r = openai('gpt-x', stream_fn => 1,
	extra => { stream => JSON::PP::true,
		stream_options => { include_usage => JSON::PP::true } });

is($r->{headers}{'transfer-encoding'}, 'chunked', 'openai stream: chunked');
like($r->{headers}{'content-type'}, qr{^text/event-stream},
	'openai stream: content type');
is(scalar @{ $r->{sse} }, 7, 'openai stream: 7 events');
is($r->{sse}[-1]{data}, '[DONE]', 'openai stream: [DONE]');
cmp_ok($r->{sse}[-1]{time} - $r->{sse}[0]{time}, '>=', 0.5,
	'openai stream: paced');

$r = anthropic('claude-x', stream_fn => 1,
	extra => { stream => JSON::PP::true });

is_deeply([ map { $_->{event} } @{ $r->{sse} } ],
	[ qw(message_start content_block_start ping content_block_delta
		content_block_delta content_block_delta content_block_stop
		message_delta message_stop) ], 'anthropic stream: events');

$r = anthropic('claude-slow', stream_fn => 1,
	extra => { stream => JSON::PP::true });
cmp_ok($r->{sse}[-1]{time} - $r->{sse}[0]{time}, '>=', 3.5,
	'slow: 0.5 s between events');

$r = anthropic('claude-split', stream_fn => 1,
	extra => { stream => JSON::PP::true });
is(scalar @{ $r->{events} }, 18, 'split: every event in two pieces');
is(scalar @{ $r->{sse} }, 9, 'split: events reassembled');

$r = anthropic('claude-midstream-error', stream_fn => 1,
	extra => { stream => JSON::PP::true });
is($r->{sse}[-1]{event}, 'error', 'anthropic midstream-error: error event');

$r = openai('gpt-midstream-error', stream_fn => 1,
	extra => { stream => JSON::PP::true });
like($r->{sse}[-1]{data}, qr/"error"/, 'openai midstream-error: error data');

$r = openai('gpt-close', stream_fn => 1,
	extra => { stream => JSON::PP::true });
is(scalar @{ $r->{sse} }, 1, 'close: one event, then closed');
ok($r->{error}, 'close: stream incomplete');

$r = anthropic('claude-close-4', stream_fn => 1,
	extra => { stream => JSON::PP::true });
is_deeply([ map { $_->{event} } @{ $r->{sse} } ],
	[ qw(message_start content_block_start ping content_block_delta) ],
	'close-4: four events, then closed');
ok($r->{error}, 'close-4: stream incomplete');

# malformed, malformed-stream, long-N

$r = openai('gpt-malformed');
is($r->{status}, 200, 'malformed: 200');
like($r->{headers}{'content-type'}, qr{^application/json},
	'malformed: application/json');
is($r->{body}, '{"id": "x", "choices": [', 'malformed: truncated JSON');
is(anthropic('claude-malformed')->{body}, '{"id": "x", "choices": [',
	'anthropic malformed: truncated JSON');

$r = openai('gpt-malformed-stream', stream_fn => 1,
	extra => { stream => JSON::PP::true });
like($r->{headers}{'content-type'}, qr{^text/event-stream},
	'malformed-stream: event stream');
is_deeply([ map { $_->{data} } @{ $r->{sse} } ],
	[ '{"id": "x", "choices": [', '[DONE]' ],
	'malformed-stream: a broken data line, then [DONE]');
ok($r->{complete}, 'malformed-stream: the stream ends normally');

$r = anthropic('claude-malformed-stream', stream_fn => 1,
	extra => { stream => JSON::PP::true });
is_deeply([ map { $_->{event} } @{ $r->{sse} } ],
	[ 'message_start', 'message_stop' ],
	'anthropic malformed-stream: events');
ok(!eval { decode_json($r->{sse}[0]{data}) },
	'anthropic malformed-stream: message_start data is broken');

$r = openai('gpt-long-20', stream_fn => 1, headers => { 'x-mock-delay' => 0 },
	extra => { stream => JSON::PP::true });
my @pieces = map { $_->{choices}[0]{delta}{content} // () }
	map { decode_json($_->{data}) } grep { $_->{data} ne '[DONE]' }
	@{ $r->{sse} };
is(scalar(grep { length } @pieces), 20, 'long-20: 20 text events');
is(length(join '', @pieces), 20_000, 'long-20: 1,000 bytes each');
like($pieces[-1], qr/^\[20\]\.+$/, 'long-20: numbered pieces');

# cache usage, x-mock-wait, stall-N and the aborts record

$r = openai('gpt-usage-100-7-cached-40');
is_deeply([ @{ $r->{json}{usage} }{qw(prompt_tokens completion_tokens)},
	$r->{json}{usage}{prompt_tokens_details}{cached_tokens} ],
	[ 100, 7, 40 ], 'openai cached-N: cached_tokens within prompt_tokens');

$r = anthropic('claude-usage-100-7-cached-40-cwrite-30');
is_deeply([ @{ $r->{json}{usage} }{qw(input_tokens output_tokens
	cache_read_input_tokens cache_creation_input_tokens)} ],
	[ 100, 7, 40, 30 ], 'anthropic cached-N cwrite-N');

$r = anthropic('claude-usage-100-7-cached-40-cwrite-30', stream_fn => 1,
	extra => { stream => JSON::PP::true });
my $ms = decode_json($r->{sse}[0]{data});
is_deeply([ @{ $ms->{message}{usage} }{qw(input_tokens
	cache_read_input_tokens cache_creation_input_tokens)} ],
	[ 100, 40, 30 ], 'anthropic stream: message_start cache usage');

# cwrite1h-N: the split by lifetime, cache_creation_input_tokens its sum

$r = anthropic('claude-usage-100-7-cwrite-30-cwrite1h-50');
is_deeply([ @{ $r->{json}{usage} }{qw(cache_creation_input_tokens
	cache_read_input_tokens)}, $r->{json}{usage}{cache_creation} ],
	[ 80, 0, { ephemeral_5m_input_tokens => 30,
		ephemeral_1h_input_tokens => 50 } ],
	'anthropic cwrite1h-N: 5-minute and 1-hour writes, and their sum');

$r = anthropic('claude-usage-100-7-cwrite-30', stream_fn => 1,
	extra => { stream => JSON::PP::true });
$ms = decode_json($r->{sse}[0]{data});
ok(!exists $ms->{message}{usage}{cache_creation},
	'anthropic stream: no cache_creation without cwrite1h-N');

$r = anthropic('claude-usage-100-7-cached-4-cwrite1h-50-cwrite-late',
	stream_fn => 1, extra => { stream => JSON::PP::true });
$ms = decode_json($r->{sse}[0]{data});
my ($md) = grep { $_->{type} eq 'message_delta' }
	map { decode_json($_->{data}) } @{ $r->{sse} };
is_deeply([ @{ $ms->{message}{usage} }{qw(input_tokens
	cache_read_input_tokens cache_creation_input_tokens cache_creation)} ],
	[ 100, 0, 0, undef ], 'cwrite-late: no cache usage in message_start');
is_deeply($md->{usage}, { input_tokens => 100, output_tokens => 7,
	cache_read_input_tokens => 4, cache_creation_input_tokens => 50,
	cache_creation => { ephemeral_5m_input_tokens => 0,
		ephemeral_1h_input_tokens => 50 } },
	'cwrite-late: all of it in message_delta');

$t0 = time();
$r = openai('gpt-x', headers => { 'x-mock-wait' => 0.6 });
ok($r->{status} == 200 && time() - $t0 >= 0.55, 'x-mock-wait: waits');

$t0 = time();
$r = openai('gpt-stall-2', stream_fn => 1, timeout => 1.5,
	extra => { stream => JSON::PP::true });
is(scalar @{ $r->{sse} }, 2, 'stall-2: two events, then nothing');
ok($r->{error} && time() - $t0 >= 1.4, 'stall-2: stream left open');

my @ab;
$t0 = time();
while (time() - $t0 < 3) {
	@ab = grep { ($_->{model} // '') eq 'gpt-stall-2' } $t->mock_aborts();
	last if @ab;
	select undef, undef, undef, 0.05;
}
is(scalar @ab, 1, 'stall-2: the closed stream is recorded');
is_deeply([ @{ $ab[0] || {} }{qw(sent total reason)} ], [ 2, 6, 'peer closed' ],
	'stall-2: abort record');

# tool use: a call of the first tool when the user speaks last, a text
# with the tool's result when the result comes last

my $otools = [ { type => 'function', function => { name => 'get_weather',
	parameters => { type => 'object' } } } ];
my $atools = [ { name => 'get_weather', input_schema => { type => 'object' } } ];
my $args = { location => 'Paris', unit => 'celsius' };

$r = openai('gpt-x', extra => { tools => $otools,
	messages => [ { role => 'user', content => 'weather?' } ] });
my $call = $r->{json}{choices}[0]{message}{tool_calls}[0];
is($r->{json}{choices}[0]{finish_reason}, 'tool_calls',
	'openai tools: finish_reason');
is($call->{function}{name}, 'get_weather', 'openai tools: the first tool');
is_deeply(decode_json($call->{function}{arguments}), $args,
	'openai tools: arguments');

$r = openai('gpt-x', stream_fn => 1, extra => { tools => $otools,
	stream => JSON::PP::true,
	messages => [ { role => 'user', content => 'weather?' } ] });
my @frags = map { $_->{function}{arguments} // '' } map {
	@{ $_->{choices}[0]{delta}{tool_calls} || [] } }
	map { decode_json($_->{data}) } grep { $_->{data} ne '[DONE]' }
	@{ $r->{sse} };
is(scalar(grep { length } @frags), 3, 'openai tools stream: 3 fragments');
is_deeply(decode_json(join '', @frags), $args,
	'openai tools stream: the fragments make the arguments');

$r = openai('gpt-x', extra => { tools => $otools, messages => [
	{ role => 'user', content => 'weather?' },
	{ role => 'assistant', content => undef, tool_calls => [ $call ] },
	{ role => 'tool', tool_call_id => $call->{id}, content => '21 C' } ] });
is($r->{json}{choices}[0]{message}{content}, 'Tool said: 21 C',
	'openai tool result: text');

$r = anthropic('claude-x', extra => { tools => $atools,
	messages => [ { role => 'user', content => 'weather?' } ] });
is($r->{json}{stop_reason}, 'tool_use', 'anthropic tools: stop_reason');
is_deeply([ map { $_->{type} } @{ $r->{json}{content} } ],
	[ 'text', 'tool_use' ], 'anthropic tools: text and tool_use blocks');
is_deeply($r->{json}{content}[1]{input}, $args, 'anthropic tools: input');

my $use = $r->{json}{content}[1];
$r = anthropic('claude-x', stream_fn => 1, extra => { tools => $atools,
	stream => JSON::PP::true,
	messages => [ { role => 'user', content => 'weather?' } ] });
my @parts = map { $_->{delta}{partial_json} } grep {
	($_->{delta}{type} // '') eq 'input_json_delta' }
	map { decode_json($_->{data}) } @{ $r->{sse} };
is(scalar @parts, 4, 'anthropic tools stream: input_json_delta events');
is_deeply(decode_json(join '', @parts), $args,
	'anthropic tools stream: the fragments make the input');

$r = anthropic('claude-x', extra => { tools => $atools, messages => [
	{ role => 'user', content => 'weather?' },
	{ role => 'assistant', content => [ $use ] },
	{ role => 'user', content => [ { type => 'tool_result',
		tool_use_id => $use->{id},
		content => [ { type => 'text', text => '21 C' } ] } ] } ] });
is($r->{json}{content}[0]{text}, 'Tool said: 21 C',
	'anthropic tool result: text');

# error-401 names the key and the URL, as real providers do

$r = openai('gpt-error-401');
is($r->{status}, 401, 'openai error-401');
like($r->{json}{error}{message}, qr/sk-x.*127\.0\.0\.1/,
	'openai error-401: the key and the URL in the message');

$r = anthropic('claude-error-401');
is($r->{status}, 401, 'anthropic error-401');
like($r->{json}{error}{message}, qr/sk-x.*127\.0\.0\.1/,
	'anthropic error-401: the key and the URL in the message');

# keep-alive: several requests on one connection

my @ka = $t->http_keepalive(map { {
	port => $port, method => 'POST', path => '/v1/chat/completions',
	headers => { Authorization => 'Bearer k' },
	body => { model => "m$_", messages => [], stream => $_ == 2
		? JSON::PP::true : JSON::PP::false },
} } 1 .. 3);

is_deeply([ map { $_->{status} } @ka ], [ 200, 200, 200 ], 'keep-alive');
my @conns = map { $_->{conn} } ($t->mock_requests())[-3 .. -1];
is(scalar(keys %{ { map { $_ => 1 } @conns } }), 1,
	'keep-alive: one connection');

###############################################################################

done_testing();

###############################################################################
