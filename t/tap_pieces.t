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
use TokenRoute::Money qw(usd_nano cost utc_day);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

my ($IP, $OP) = ('0.25', '1.5');
my %P = (price => usd_nano($IP), out_price => usd_nano($OP));
my $PR = "input_price=$IP output_price=$OP";

my @N = (1 .. 7);

my $models = '';
for my $n (@N) {
	$models .= "tokenroute_model x/ant-$n provider=mockant "
		. "upstream_model=claude-x-sse-pieces-$n-usage-30-300 $PR;\n"
		. "tokenroute_model x/antcrlf-$n provider=mockant "
		. "upstream_model=claude-x-sse-crlf-sse-pieces-$n-usage-30-300 "
		. "$PR;\n"
		. "tokenroute_model x/ai-$n provider=mockai "
		. "upstream_model=gpt-x-sse-pieces-$n-usage-30-300 $PR;\n";
}

$t->start_gateway(http => $models);

my ($IN, $OUT) = (30, 300);

###############################################################################

my $acct_no = 0;

sub stream {
	my ($shape, $model, $usage) = @_;

	my $key = $t->create_key(account => 'tap' . ++$acct_no);

	my %h = $shape eq 'openai'
		? (Authorization => "Bearer $key->{raw}")
		: ('x-api-key' => $key->{raw}, 'anthropic-version' => '2023-06-01');

	my $res = $t->http_stream(method => 'POST',
		path => $shape eq 'openai' ? '/v1/chat/completions' : '/v1/messages',
		headers => \%h,
		body => { model => $model, stream => JSON::PP::true,
			max_tokens => 400,
			messages => [ { role => 'user', content => 'pieces' } ],
			($usage ? (stream_options =>
				{ include_usage => JSON::PP::true }) : ()) },
		timeout => 30);

	$res->{key} = $key;

	return $res;
}

sub charged {
	my ($res, $model) = @_;

	my $key = $res->{key};
	my $rid = $res->{headers}{'x-tokenroute-request-id'} // '';
	my $settled = $t->wait_until(5, sub { $t->settled("$rid") });
	my $u = $t->redis_hash('tr:u:d:' . utc_day());
	my $p = "$key->{account}||$key->{id}|$model|";

	return { settled => $settled,
		map { $_ => $u->{"$p$_"} // '0' } qw(req in out cost est) };
}

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

		my $res = stream($shape, $model, $usage);
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

		my $s = charged($res, $model);

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

###############################################################################

done_testing();

###############################################################################
