#!/usr/bin/perl

# (C) tokenroute authors

# Tests for the edges of the SSE format that providers may use: streams
# whose lines end with CR LF or a lone CR (both allowed by the SSE spec),
# and an event larger than the 64 KB the gateway reads for usage.  In
# every mode (passed on, usage chunk stripped, translated both ways) the
# client gets the whole text and the final events, and usage is charged
# exactly.

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Test::More;

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Money qw(usd_nano cost utc_day);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

my ($IP, $OP) = ('0.25', '1.5');
my %P = (price => usd_nano($IP), out_price => usd_nano($OP));
my $PR = "input_price=$IP output_price=$OP";

my $BIG = 100;    # KB: more than the 64 KB read for usage

# style => the mock's switch
my %STYLE = (
	crlf => 'sse-crlf',
	crlfsplit => 'sse-crlf-splitcr',
	cr => 'sse-cr',
	oneshot => 'oneshot',
	croneshot => 'sse-cr-oneshot',
	crlfoneshot => 'sse-crlf-oneshot',
	big => "sse-bigevent-$BIG",
	bigcrlf => "sse-bigevent-$BIG-sse-crlf",
);

my $models = '';
for my $s (sort keys %STYLE) {
	$models .= "tokenroute_model e/ai-$s provider=mockai "
		. "upstream_model=gpt-e-$STYLE{$s}-usage-30-300 $PR;\n"
		. "tokenroute_model e/ant-$s provider=mockant "
		. "upstream_model=claude-e-$STYLE{$s}-usage-30-300 $PR;\n";
}

# a data line that is not JSON after the first events
$models .= "tokenroute_model e/ai-bad provider=mockai "
	. "upstream_model=gpt-e-badline-3-usage-30-300 $PR;\n"
	. "tokenroute_model e/ant-bad provider=mockant "
	. "upstream_model=claude-e-badline-4-usage-30-300 $PR;\n"
	. "tokenroute_model e/ai-badcr provider=mockai "
	. "upstream_model=gpt-e-badline-3-sse-crlf-usage-30-300 $PR;\n"
	. "tokenroute_model e/ai-badone provider=mockai "
	. "upstream_model=gpt-e-badline-3-oneshot-usage-30-300 $PR;\n"
	. "tokenroute_model e/ant-badone provider=mockant "
	. "upstream_model=claude-e-badline-4-sse-cr-oneshot-usage-30-300 $PR;\n";

$t->start_gateway(http => $models);

my $IN = 30;
my $OUT = 300;

###############################################################################

my $acct_no = 0;

sub new_key {
	return $t->create_key(account => 'sse' . ++$acct_no);
}

sub stream {
	my ($shape, $key, $model, %o) = @_;

	my %h = $shape eq 'openai'
		? (Authorization => "Bearer $key->{raw}")
		: ('x-api-key' => $key->{raw}, 'anthropic-version' => '2023-06-01');
	$h{'x-mock-delay'} = $o{delay} if defined $o{delay};

	return $t->http_stream(method => 'POST',
		path => $shape eq 'openai' ? '/v1/chat/completions' : '/v1/messages',
		headers => \%h,
		body => { model => $model, stream => JSON::PP::true,
			max_tokens => 400,
			messages => [ { role => 'user', content => 'edges' } ],
			($o{usage} ? (stream_options =>
				{ include_usage => JSON::PP::true }) : ()) },
		timeout => 20);
}

sub settlement {
	my ($key, $rid, $model) = @_;

	my $settled = $t->wait_until(5, sub { $t->settled("$rid") });
	my $u = $t->redis_hash('tr:u:d:' . utc_day());
	my $p = "$key->{account}||$key->{id}|$model|";

	return {
		settled => $settled,
		map { $_ => $u->{"$p$_"} // '0' } qw(req in out cost est),
	};
}

sub openai_check {
	my ($name, $res, $text, $usage) = @_;

	my @sse = @{ $res->{sse} };
	my @json = map { scalar eval { decode_json($_->{data} // '') } }
		@sse[0 .. $#sse - 1];

	ok(@sse && $sse[-1]{data} eq '[DONE]', "$name: ends with [DONE]");
	ok(!grep({ ref $_ ne 'HASH' || !$_->{choices} } @json),
		"$name: every other event is a chunk");

	my $got = join '', map { $_->{choices}[0]{delta}{content} // '' }
		grep { ref $_ eq 'HASH' && @{ $_->{choices} || [] } } @json;
	ok($got eq $text, "$name: the whole text")
		or diag('got ' . length($got) . ' bytes: ' . substr($got, 0, 80));

	is(scalar(grep { ref $_ eq 'HASH'
			&& ($_->{choices}[0]{finish_reason} // '') eq 'stop' } @json),
		1, "$name: one finish_reason stop");

	my @u = grep { ref $_ eq 'HASH' && ref $_->{usage} eq 'HASH' } @json;
	if ($usage) {
		is(scalar @u, 1, "$name: the usage chunk asked for");

	} else {
		is(scalar @u, 0, "$name: no usage chunk (not asked for)");
	}
}

sub anthropic_check {
	my ($name, $res, $text) = @_;

	my @sse = @{ $res->{sse} };
	my @bad = grep {
		my $d = eval { decode_json($_->{data} // '') };
		ref $d ne 'HASH' || ($d->{type} // '') ne ($_->{event} // '');
	} @sse;
	ok(!@bad, "$name: every data is JSON of the event's type");

	my $got = join '', map {
		my $d = eval { decode_json($_->{data}) };
		$d ? $d->{delta}{text} // '' : '';
	} grep { ($_->{event} // '') eq 'content_block_delta' } @sse;
	ok($got eq $text, "$name: the whole text")
		or diag('got ' . length($got) . ' bytes: ' . substr($got, 0, 80));

	ok(@sse >= 2 && ($sse[-2]{event} // '') eq 'message_delta'
		&& ($sse[-1]{event} // '') eq 'message_stop',
		"$name: ends with message_delta, message_stop");
}

###############################################################################

for my $style (sort keys %STYLE) {
	my $text = $style =~ /big/
		? 'Hello' . ('b' x ($BIG * 1024)) . ' from mock'
		: 'Hello from mock';

	for my $delay (undef, 0) {
		# client shape, model, include_usage, mode
		for my $c ([ 'openai', "e/ai-$style", 1, 'pass' ],
			[ 'openai', "e/ai-$style", 0, 'strip' ],
			[ 'anthropic', "e/ant-$style", 0, 'pass' ],
			[ 'anthropic', "e/ai-$style", 0, 'translated' ],
			[ 'openai', "e/ant-$style", 1, 'translated' ],
			[ 'openai', "e/ant-$style", 0, 'translated' ])
		{
			my ($shape, $model, $usage, $mode) = @$c;
			my $name = "$style, $shape client, $model, $mode"
				. ($usage ? ', include_usage' : '')
				. (defined $delay ? ', no pause' : '');
			my $key = new_key();

			my $res = stream($shape, $key, $model, usage => $usage,
				delay => $delay);

			is($res->{status}, 200, "$name: 200");
			ok(!$res->{error}, "$name: read to its end")
				or diag($res->{error});
			cmp_ok(length($res->{body} // ''), '>', 0, "$name: a body");

			if ($shape eq 'openai') {
				openai_check($name, $res, $text, $usage);

			} else {
				anthropic_check($name, $res, $text);
			}

			my $rid = $res->{headers}{'x-tokenroute-request-id'} // '';
			my $s = settlement($key, $rid, $model);

			subtest "$name: charged exactly" => sub {
				ok($s->{settled}, 'settled');
				is($s->{req}, 1, 'the request counted');
				is($s->{est}, 0, 'not estimated');
				is($s->{in}, $IN, "in $IN");
				is($s->{out}, $OUT, "out $OUT");
				is($s->{cost}, cost(in => $IN, out => $OUT, %P), 'cost');
			};
		}
	}
}

###############################################################################

# A malformed event in a same-shape stream (passed on, or with the usage
# chunk stripped): the events before it reach the client, then an error
# event in the client's shape ends the stream; neither the broken event
# nor anything after it (the rest of the text, [DONE], message_stop) is
# passed on.

for my $delay (undef, 0) {
	for my $c ([ 'openai', 'e/ai-bad', 1 ], [ 'openai', 'e/ai-bad', 0 ],
		[ 'openai', 'e/ai-badcr', 0 ], [ 'anthropic', 'e/ant-bad', 0 ],
		[ 'openai', 'e/ai-badone', 0 ], [ 'openai', 'e/ai-badone', 1 ],
		[ 'anthropic', 'e/ant-badone', 0 ])
	{
		my ($shape, $model, $usage) = @$c;
		my $name = "malformed event, $shape client, $model"
			. ($usage ? ', include_usage' : '')
			. (defined $delay ? ', no pause' : '');
		my $key = new_key();

		my $res = stream($shape, $key, $model, usage => $usage,
			delay => $delay);
		my @sse = @{ $res->{sse} };
		my @json = map { scalar eval { decode_json($_->{data} // '') } }
			@sse;

		note("$name: the client got: " . substr($res->{raw} // '', 0, 3000));

		is($res->{status}, 200, "$name: 200");
		ok(!$res->{error}, "$name: the HTTP response ends normally")
			or diag($res->{error});
		ok(!grep({ !defined } @json), "$name: every event is JSON");
		unlike($res->{body}, qr/broken|\[DONE\]|message_stop| mock/,
			"$name: nothing from the broken event on");

		my $last = $json[-1];

		if ($shape eq 'openai') {
			is(join('', map { $_->{choices}[0]{delta}{content} // '' }
					grep { $_ && $_->{choices} } @json),
				'Hello from', "$name: the text before it");
			ok(ref $last eq 'HASH' && ref $last->{error} eq 'HASH'
				&& ($last->{error}{code} // '') eq 'provider_stream_invalid',
				"$name: ends with an error chunk");

		} else {
			is(join('', map { $_->{delta}{text} // '' }
					grep { $_ && ($_->{type} // '') eq 'content_block_delta' }
					@json),
				'Hello', "$name: the text before it");
			ok(($sse[-1]{event} // '') eq 'error' && ref $last eq 'HASH'
				&& ($last->{error}{type} // '') eq 'api_error',
				"$name: ends with event: error");
		}

		my $rid = $res->{headers}{'x-tokenroute-request-id'} // '';
		my $s = settlement($key, $rid, $model);
		ok($s->{settled} && $s->{est} == 1 && $s->{cost} > 0,
			"$name: charged an estimate");
	}
}

###############################################################################

done_testing();

###############################################################################
