#!/usr/bin/perl

# (C) tokenroute authors

# Tests for Bedrock streams (README "Claude on AWS Bedrock", streams):
# InvokeModelWithResponseStream answers in AWS's event-stream framing
# (t/lib/mock_bedrock.pl, framed by t/lib/TokenRoute/EventStream.pm), which
# the gateway decodes into Anthropic's SSE for Anthropic clients and
# translates for OpenAI ones: every event as Bedrock sent it, usage from
# the events charged exactly, frames split in two and at every byte, a
# stream exception as an error event, a bad CRC and a frame cut short
# ending the stream as malformed, a connection cut as any cut stream.

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Test::More;

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::EventStream qw(es_message es_chunk es_decode);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

# the encoder first: AWS's all_headers vector (aws-sdk-go,
# private/protocol/eventstream/testdata/encoded/positive/all_headers)
is(unpack('H*', es_message([['event-type', 'int32', 40972],
	['content-type', 'application/json'], ['bool false', 'false', undef],
	['bool true', 'true', undef], ['byte', 'byte', -49],
	['byte buf', 'bytes', "I'm a little teapot!"],
	['timestamp', 'timestamp', 8675309], ['int16', 'int16', 42],
	['int64', 'int64', 42424242], ['uuid', 'uuid', pack('C*', 1 .. 16)]],
	"{'foo':'bar'}")),
	'000000cc000000af0fae64ca0a6576656e742d74797065040000a00c0c636f6e74656e'
	. '742d747970650700106170706c69636174696f6e2f6a736f6e0a626f6f6c206661'
	. '6c73650109626f6f6c207472756500046279746502cf0862797465206275660600'
	. '1449276d2061206c6974746c6520746561706f74210974696d657374616d700800'
	. '00000000845fed05696e74313603002a05696e7436340500000000028757b20475'
	. '756964090102030405060708090a0b0c0d0e0f107b27666f6f273a27626172277d'
	. 'aba5f10c',
	'EventStream.pm encodes AWS\'s all_headers vector byte for byte');

my $t = TokenRoute::Test->new();
my $d = $t->testdir;

open my $fh, '>', "$d/bedrock.keys" or die "$d/bedrock.keys: $!";
print $fh "AKIDENVEXAMPLE1 envSecret/Key+1\n";
close $fh;

$ENV{AWS_ACCESS_KEY_ID} = 'AKIDENVEXAMPLE1';
$ENV{AWS_SECRET_ACCESS_KEY} = 'envSecret/Key+1';
delete $ENV{AWS_SESSION_TOKEN};

$t->start_mock(name => 'bedrock', script => 't/lib/mock_bedrock.pl',
	args => ['--keys', "$d/bedrock.keys", '--region', 'eu-west-3']);

my $prices = 'input_price=0.25 output_price=1.25';
my $p = 'tokenroute_model';
my $u = 'provider=br upstream_model=anthropic.claude';

$t->start_gateway(http => <<"EOF");
tokenroute_provider br type=bedrock url=http://127.0.0.1:%%PORT_bedrock%% region=eu-west-3;
$p br/stream $u-usage-20-10-v1:0 $prices;
$p br/split $u-usage-21-9-split-v1:0 $prices;
$p br/bytes $u-usage-22-8-bytes-v1:0 $prices;
$p br/throttled $u-usage-20-10-exception-throttlingException-v1:0 $prices;
$p br/failing $u-usage-20-10-exception-modelStreamErrorException-v1:0 $prices;
$p br/badcrc $u-usage-20-10-badcrc-v1:0 $prices;
$p br/cutframe $u-usage-20-10-cutframe-v1:0 $prices;
$p br/closed $u-usage-20-10-close-3-v1:0 $prices;
$p br/length $u-usage-23-7-length-v1:0 $prices;
EOF

my $key = $t->create_key(name => 'bedrock-stream');
my $hash = $t->key_hash($key->{raw});

sub messages {
	my ($model, $timeout) = @_;
	return $t->http_stream(method => 'POST', path => '/v1/messages',
		headers => { 'x-api-key' => $key->{raw},
			'anthropic-version' => '2023-06-01' },
		body => { model => $model, stream => JSON::PP::true,
			max_tokens => 64,
			messages => [ { role => 'user', content => 'hi' } ] },
		timeout => $timeout // 20);
}

sub chat {
	my ($model) = @_;
	return $t->http_stream(method => 'POST', path => '/v1/chat/completions',
		headers => { Authorization => "Bearer $key->{raw}" },
		body => { model => $model, stream => JSON::PP::true,
			stream_options => { include_usage => JSON::PP::true },
			messages => [ { role => 'user', content => 'hi' } ] },
		timeout => 20);
}

sub last_req { my @r = $t->mock_requests('bedrock'); return $r[-1]; }

sub spent { return $t->redis('HGET', "tr:key:$hash", 'spent') // 0; }

sub charged {
	my ($before, $want, $name) = @_;
	ok($t->wait_until(5, sub { spent() - $before == $want }), $name)
		or diag('charged ' . (spent() - $before) . ", want $want");
}

my $text = "Hello from bedrock \x{e9}\n\"q\"";
my $utf8 = JSON::PP->new->utf8;

# the events the mock sent, as the record has them (one JSON a line)
sub sent_events {
	my ($req) = @_;
	return grep { /^\{/ } split /\n/, $req->{response}{body};
}

sub anthropic_ok {
	my ($name, $res, $in, $out) = @_;

	is($res->{status}, 200, "$name: 200");
	like($res->{headers}{'content-type'} // '', qr{^text/event-stream},
		"$name: the client's content type is text/event-stream");

	my $req = last_req();
	is($req->{sigv4}, 'ok', "$name: the stream request was signed");
	like($req->{path}, qr{/invoke-with-response-stream$},
		"$name: InvokeModelWithResponseStream");

	my @sent = sent_events($req);
	my @got = @{ $res->{sse} };

	is(scalar(@got), scalar(@sent), "$name: every event, one each")
		or diag(explain(\@got));
	is_deeply([map { $_->{data} } @got], \@sent,
		"$name: each event's data as Bedrock sent it, byte for byte");
	is_deeply([map { $_->{event} } @got],
		[map { $utf8->decode($_)->{type} } @sent],
		"$name: each event named by its type");

	my $joined = join '', map { $_->{delta}{text} // '' }
		map { $utf8->decode($_->{data}) } @got;
	is($joined, $text, "$name: the text");
	is($utf8->decode($got[0]{data})->{message}{usage}{input_tokens}, $in,
		"$name: input tokens");
}

###############################################################################

# Anthropic's shape: the events as Bedrock sent them

my $before = spent();
my $res = messages('br/stream');
anthropic_ok('messages', $res, 20, 10);
charged($before, 20 * 250 + 10 * 1250, 'messages: usage charged exactly');
ok(!exists $utf8->decode(last_req()->{body})->{stream},
	'no "stream" in the body Bedrock gets');

# split in two in every frame, then at every byte

$before = spent();
anthropic_ok('split', messages('br/split'), 21, 9);
charged($before, 21 * 250 + 9 * 1250, 'split: usage charged exactly');

$before = spent();
anthropic_ok('bytes', messages('br/bytes'), 22, 8);
charged($before, 22 * 250 + 8 * 1250,
	'a byte at a time: usage charged exactly');

# the stream with Content-Length (an ETag, Accept-Ranges) instead of
# chunked: none of them reaches the client, whose SSE is of another length

$before = spent();
$res = messages('br/length');
anthropic_ok('content-length', $res, 23, 7);
ok(!exists $res->{headers}{'content-length'},
	'content-length: not the upstream Content-Length');
ok(!exists $res->{headers}{etag}, 'content-length: no ETag');
ok(!exists $res->{headers}{'accept-ranges'}, 'content-length: no Accept-Ranges');
charged($before, 23 * 250 + 7 * 1250, 'content-length: usage charged exactly');

# OpenAI's shape: translated

$before = spent();
$res = chat('br/stream');
is($res->{status}, 200, 'chat: 200');
my @chunks = map { $_->{data} eq '[DONE]' ? '[DONE]' : $utf8->decode($_->{data}) }
	@{ $res->{sse} };
is($chunks[-1], '[DONE]', 'chat: ends with [DONE]');
is(join('', map { ref $_ ? $_->{choices}[0]{delta}{content} // '' : '' }
	@chunks), $text, 'chat: the text');
my ($usage) = grep { ref $_ && $_->{usage} } @chunks;
is_deeply([$usage->{usage}{prompt_tokens}, $usage->{usage}{completion_tokens}],
	[20, 10], 'chat: usage chunk from the Bedrock events');
is($chunks[0]{model}, 'br/stream', 'chat: the public model id');
charged($before, 20 * 250 + 10 * 1250, 'chat: usage charged exactly');

$res = chat('br/bytes');
is(join('', map { $_->{data} eq '[DONE]' ? ''
	: $utf8->decode($_->{data})->{choices}[0]{delta}{content} // '' }
	@{ $res->{sse} }), $text, 'chat, a byte at a time: the text');

# a stream exception: Anthropic's error event, after what came before

$res = messages('br/throttled');
my @ev = @{ $res->{sse} };
is_deeply([map { $_->{event} } @ev], [qw(message_start content_block_start
	content_block_delta error)],
	'throttlingException: the events before it, then an error event');
is_deeply($utf8->decode($ev[-1]{data}), { type => 'error', error => {
	type => 'rate_limit_error',
	message => 'The stream was interrupted: throttlingException' } },
	'throttlingException: rate_limit_error with Bedrock\'s message');

$res = messages('br/failing');
is($utf8->decode($res->{sse}[-1]{data})->{error}{type}, 'api_error',
	'modelStreamErrorException: api_error');

# an OpenAI client: the translator's error chunk (then [DONE])
sub chat_error {
	my ($res) = @_;
	my ($e) = grep { $_->{data} =~ /^\{"error"/ } @{ $res->{sse} };
	return $e ? $utf8->decode($e->{data})->{error} : {};
}

$res = chat('br/throttled');
my $err = chat_error($res);
is_deeply([$err->{type}, $err->{message}], ['rate_limit_error',
	'The stream was interrupted: throttlingException'],
	'throttlingException, OpenAI client: its error chunk');

# malformed: a bad CRC, a frame cut short by the end of the body

for my $case (['badcrc', 'message CRC mismatch', 2],
	['cutframe', 'cut in the middle of a message', 7])
{
	my ($m, $why, $n) = @$case;

	$res = messages("br/$m");
	@ev = @{ $res->{sse} };
	is(scalar(@ev), $n + 1, "$m: the events before the bad frame, then one")
		or diag(explain(\@ev));
	is($ev[-1]{event}, 'error', "$m: an error event ends the stream");
	is($utf8->decode($ev[-1]{data})->{error}{message},
		'The provider sent a malformed stream event',
		"$m: the malformed stream's error");
	like($t->error_log, qr/event stream of model "br\/$m" is malformed \Q($why)\E/,
		"$m: error.log says why");

	$res = chat("br/$m");
	$err = chat_error($res);
	is($err->{message}, 'The provider sent a malformed stream event',
		"$m, OpenAI client: the translator's error for a malformed event")
		or diag(explain($res->{sse}));
}

# the connection cut after 3 frames: the stream cut short

$res = messages('br/closed');
@ev = @{ $res->{sse} };
is_deeply([map { $_->{event} } @ev], [qw(message_start content_block_start
	content_block_delta error)], 'cut: 3 events, then an error event');
like($ev[-1]{data}, qr/ended early/, 'cut: the stream ended early');

done_testing();
