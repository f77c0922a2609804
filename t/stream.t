#!/usr/bin/perl

# (C) tokenroute authors

# Tests for streaming: server-sent events from both provider types reach
# the client event by event, as the provider sends them, and intact.

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Test::More;

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

# the mock waits 0.5 s between events when the upstream model says "slow"
$t->start_gateway(http => <<'EOF');
tokenroute_model openai/gpt-slow provider=mockai upstream_model=gpt-4o-mini-slow input_price=0.15 output_price=0.60;
tokenroute_model anthropic/claude-slow provider=mockant upstream_model=claude-haiku-4-5-slow input_price=1 output_price=5;
EOF

my $key = $t->create_key(name => 'stream');

###############################################################################

sub stream {
	my ($shape, $model, %extra) = @_;

	$t->clear_mock_requests();

	my $res = $shape eq 'openai'
		? $t->http_stream(method => 'POST', path => '/v1/chat/completions',
			headers => { Authorization => "Bearer $key->{raw}" },
			body => { model => $model, stream => JSON::PP::true,
				messages => [ { role => 'user', content => 'hi' } ],
				%extra },
			timeout => 20)
		: $t->http_stream(method => 'POST', path => '/v1/messages',
			headers => { 'x-api-key' => $key->{raw},
				'anthropic-version' => '2023-06-01' },
			body => { model => $model, stream => JSON::PP::true,
				max_tokens => 64,
				messages => [ { role => 'user', content => 'hi' } ],
				%extra },
			timeout => 20);

	my @reqs = $t->mock_requests();
	$res->{upstream} = $reqs[0];

	return $res;
}

sub check_common {
	my ($name, $res, $model) = @_;

	is($res->{status}, 200, "$name: status")
		or diag(substr($res->{raw}, 0, 2000));
	ok(!$res->{error}, "$name: stream read to its end")
		or diag($res->{error});
	like($res->{headers}{'content-type'} // '', qr{^text/event-stream},
		"$name: content type");
	is($res->{headers}{'x-tokenroute-model'}, $model,
		"$name: x-tokenroute-model");
	ok(!defined $res->{headers}{'content-length'},
		"$name: no content-length");
}

# Each event arrives on its own: with the provider pausing 0.5 s between
# events, consecutive events at the client are at least 0.2 s apart.

sub check_timing {
	my ($name, $res) = @_;

	my @sse = @{ $res->{sse} };
	return fail("$name: no events") unless @sse;

	my $spread = $sse[-1]{time} - $sse[0]{time};
	cmp_ok($spread, '>=', 1.0,
		"$name: first event arrived well before the last");

	my @gaps = map { $sse[$_]{time} - $sse[$_ - 1]{time} } 1 .. $#sse;
	my @short = grep { $_ < 0.2 } @gaps;

	ok(!@short, "$name: events arrived one by one")
		or diag('gaps between events: '
			. join(' ', map { sprintf '%.3f', $_ } @gaps));

	cmp_ok($sse[0]{time} - $res->{start}, '<', 1.0,
		"$name: first event without waiting for the rest");
}

sub openai_text {
	my ($res) = @_;

	my $text = '';
	for my $e (@{ $res->{sse} }) {
		next if !defined $e->{data} || $e->{data} eq '[DONE]';
		my $d = eval { decode_json($e->{data}) } or return undef;
		for my $c (@{ $d->{choices} || [] }) {
			$text .= $c->{delta}{content} // '';
		}
	}

	return $text;
}

sub anthropic_text {
	my ($res) = @_;

	my $text = '';
	for my $e (@{ $res->{sse} }) {
		next unless ($e->{event} // '') eq 'content_block_delta';
		my $d = eval { decode_json($e->{data}) } or return undef;
		$text .= $d->{delta}{text} // '';
	}

	return $text;
}

###############################################################################

# OpenAI, slow, with include_usage as the client asked

{
	my $name = 'openai slow';
	my $res = stream('openai', 'openai/gpt-slow',
		stream_options => { include_usage => JSON::PP::true });

	check_common($name, $res, 'openai/gpt-slow');

	my @sse = @{ $res->{sse} };
	is(scalar @sse, 7, "$name: 7 events");
	check_timing($name, $res);

	is($res->{body}, $res->{upstream}{response}{body},
		"$name: events passed through byte for byte");

	my @json = grep { defined } map {
		scalar eval { decode_json($_->{data}) } } @sse[0 .. $#sse - 1];
	is(scalar @json, 6, "$name: every event but the last is a JSON chunk");
	is($sse[-1]{data}, '[DONE]', "$name: ends with [DONE]");
	is(openai_text($res), 'Hello from mock', "$name: text");
	ok((grep { ref $_->{usage} eq 'HASH' } @json) == 1,
		"$name: one usage chunk");
}

# OpenAI, default pace, no stream_options

{
	my $name = 'openai';
	my $res = stream('openai', 'openai/gpt-4o-mini');

	check_common($name, $res, 'openai/gpt-4o-mini');

	my @sse = @{ $res->{sse} };
	cmp_ok(scalar @sse, '>=', 6, "$name: at least 6 events");
	is($sse[-1]{data}, '[DONE]', "$name: ends with [DONE]");

	my @json = map { scalar eval { decode_json($_->{data} // '') } }
		@sse[0 .. $#sse - 1];
	my @bad = grep { ref $_ ne 'HASH'
		|| ($_->{object} // '') ne 'chat.completion.chunk' } @json;
	ok(!@bad, "$name: every event but the last is a chat.completion.chunk");

	is($json[0]{choices}[0]{delta}{role}, 'assistant',
		"$name: first delta has the role");
	is(openai_text($res), 'Hello from mock', "$name: text");
	ok((grep { ($_->{choices}[0]{finish_reason} // '') eq 'stop' }
		grep { ref $_ eq 'HASH' && @{ $_->{choices} || [] } } @json) == 1,
		"$name: one finish_reason stop");
	is($res->{upstream}{json}{model}, 'gpt-4o-mini-2024-07-18',
		"$name: upstream model");
	ok($res->{upstream}{json}{stream}, "$name: stream requested upstream");
}

###############################################################################

my @anthropic_events = qw(message_start content_block_start ping
	content_block_delta content_block_delta content_block_delta
	content_block_stop message_delta message_stop);

for my $case ([ 'anthropic slow', 'anthropic/claude-slow', 1 ],
	[ 'anthropic', 'anthropic/claude-haiku-4-5', 0 ])
{
	my ($name, $model, $slow) = @$case;

	my $res = stream('anthropic', $model);

	check_common($name, $res, $model);

	my @sse = @{ $res->{sse} };
	is_deeply([ map { $_->{event} // '' } @sse ], \@anthropic_events,
		"$name: event sequence");
	check_timing($name, $res) if $slow;

	is($res->{body}, $res->{upstream}{response}{body},
		"$name: events passed through byte for byte");

	my @bad = grep {
		my $d = eval { decode_json($_->{data} // '') };
		ref $d ne 'HASH' || ($d->{type} // '') ne ($_->{event} // '');
	} @sse;
	ok(!@bad, "$name: every data is JSON of the event's type");

	is(anthropic_text($res), 'Hello from mock', "$name: text");
}

###############################################################################

done_testing();

###############################################################################
