#!/usr/bin/perl

# (C) tokenroute authors

# A translated stream (either way) read in pieces of 1 to 7 bytes (the
# mock's sse-pieces-N): the usage is read from the provider's events as
# the translator splits them (its tap), and is charged exactly however
# the events were cut; the client's stream is whole.

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Test::More;

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Pieces;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();
my $p = TokenRoute::Pieces->new($t, account => 'tap');

my @N = (1 .. 7);

my $models = '';
for my $n (@N) {
	$models .= $p->model("x/ant-$n", 'mockant',
			"claude-x-sse-pieces-$n-usage-30-300")
		. $p->model("x/antcrlf-$n", 'mockant',
			"claude-x-sse-crlf-sse-pieces-$n-usage-30-300")
		. $p->model("x/ai-$n", 'mockai',
			"gpt-x-sse-pieces-$n-usage-30-300");
}

$t->start_gateway(http => $models);

###############################################################################

sub text_of {
	my ($shape, $body) = @_;
	my $text = '';

	for my $line (split /\r?\n/, $body) {
		next unless $line =~ /^data: (\{.*)$/;
		my $j = eval { decode_json($1) } or next;
		if ($shape eq 'openai') {
			$text .= $_->{delta}{content} // ''
				for @{ $j->{choices} // [] };
		} elsif (($j->{type} // '') eq 'content_block_delta') {
			$text .= $j->{delta}{text} // '';
		}
	}

	return $text;
}

###############################################################################

for my $n (@N) {
	for my $c ([ 'openai', "x/ant-$n", 1 ], [ 'openai', "x/ant-$n", 0 ],
		[ 'openai', "x/antcrlf-$n", 0 ], [ 'anthropic', "x/ai-$n", 0 ])
	{
		my ($shape, $model, $usage) = @$c;
		my $name = "$model, $shape client"
			. ($usage ? ', include_usage' : '');

		my $res = $p->stream($shape, $model, $usage);
		my $body = $res->{body} // '';

		is($res->{status}, 200, "$name: 200");
		ok(!$res->{error}, "$name: read to its end") or diag($res->{error});

		is(text_of($shape, $body), 'Hello from mock', "$name: the text");

		if ($shape eq 'openai') {
			like($body, qr/data: \[DONE\]\n\n\z/, "$name: ends with [DONE]");
			is(() = $body =~ /"usage":\{/g, $usage ? 1 : 0,
				"$name: a usage chunk only when asked for");
		} else {
			like($body, qr/event: message_stop\ndata: [^\n]*\n\n\z/,
				"$name: ends with message_stop");
		}

		$p->charged_ok($res, $model, $name);
	}
}

###############################################################################

done_testing();

###############################################################################
