#!/usr/bin/perl

# (C) tokenroute authors

# A same-shape stream read in pieces of every size down to one byte (the
# mock's sse-pieces-N writes the whole stream N bytes at a time): the
# client gets exactly the provider's bytes, minus the usage chunk when it
# did not ask for usage (strip), with LF and CR LF line ends, and usage
# is charged exactly however the usage chunk was cut.  A malformed event
# cut anywhere still ends the stream with the error event, and nothing
# after it.

###############################################################################

use warnings;
use strict;

use Test::More;

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Pieces;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();
my $p = TokenRoute::Pieces->new($t, account => 'pieces');

my @N = (1, 3, 64);

my $models = '';
for my $n (@N) {
	$models .= $p->model("p/ai-$n", 'mockai',
			"gpt-p-sse-pieces-$n-usage-30-300")
		. $p->model("p/aicrlf-$n", 'mockai',
			"gpt-p-sse-crlf-sse-pieces-$n-usage-30-300")
		. $p->model("p/ant-$n", 'mockant',
			"claude-p-sse-pieces-$n-usage-30-300")
		. $p->model("p/aibad-$n", 'mockai',
			"gpt-p-badline-3-sse-pieces-$n-usage-30-300");
}

$t->start_gateway(http => $models);

###############################################################################

for my $n (@N) {
	for my $c ([ 'openai', "p/ai-$n", 1 ], [ 'openai', "p/ai-$n", 0 ],
		[ 'openai', "p/aicrlf-$n", 1 ], [ 'openai', "p/aicrlf-$n", 0 ],
		[ 'anthropic', "p/ant-$n", 0 ])
	{
		my ($shape, $model, $usage) = @$c;
		my $name = "$model, $shape client"
			. ($usage ? ', include_usage' : ', usage stripped');

		my $res = $p->stream($shape, $model, $usage, upstream => 1);
		my $up = $res->{upstream}{response}{body} // '';

		is($res->{status}, 200, "$name: 200");
		ok(!$res->{error}, "$name: read to its end") or diag($res->{error});

		# the mock records its events before it turns their LFs into
		# CR LFs
		$up =~ s/\n/\r\n/g if $model =~ /crlf/;

		my $want = $up;
		my $usage_events = () = $up =~ /"usage":\{/g;

		if ($shape eq 'openai') {
			is($usage_events, 1, "$name: the provider sent a usage chunk");
		}

		if ($shape eq 'openai' && !$usage) {
			$want =~ s/data: [^\r\n]*"usage":\{[^\r\n]*(?:\r\n\r\n|\n\n)//;
		}

		ok($res->{body} eq $want, "$name: the provider's bytes"
			. ($want ne $up ? ' minus the usage chunk' : ''))
			or diag("got:\n$res->{body}\nwanted:\n$want");

		$p->charged_ok($res, $model, $name);
	}

	# a malformed event: what precedes it, then the error event, then
	# nothing

	for my $usage (1, 0) {
		my $model = "p/aibad-$n";
		my $name = "$model" . ($usage ? ', include_usage' : '');

		my $res = $p->stream('openai', $model, $usage, upstream => 1);
		my $up = $res->{upstream}{response}{body} // '';

		# the mock records its events without the broken one, which it
		# sends after the first three
		my @ev = split /(?<=\n\n)/, $up;
		my $want = join('', @ev[0 .. 2])
			. 'data: {"error":{"message":"The provider sent a malformed '
			. 'stream event","type":"server_error","param":null,'
			. '"code":"provider_stream_invalid"}}' . "\n\n";

		is($res->{status}, 200, "$name: 200");
		ok(@ev > 3 && $res->{body} eq $want,
			"$name: the events before the broken one, then the error event")
			or diag("got:\n$res->{body}\nwanted:\n$want");
	}
}

###############################################################################

done_testing();

###############################################################################
