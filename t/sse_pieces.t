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

my @N = (1, 3, 64);

my $models = '';
for my $n (@N) {
	$models .= "tokenroute_model p/ai-$n provider=mockai "
		. "upstream_model=gpt-p-sse-pieces-$n-usage-30-300 $PR;\n"
		. "tokenroute_model p/aicrlf-$n provider=mockai "
		. "upstream_model=gpt-p-sse-crlf-sse-pieces-$n-usage-30-300 $PR;\n"
		. "tokenroute_model p/ant-$n provider=mockant "
		. "upstream_model=claude-p-sse-pieces-$n-usage-30-300 $PR;\n"
		. "tokenroute_model p/aibad-$n provider=mockai "
		. "upstream_model=gpt-p-badline-3-sse-pieces-$n-usage-30-300 $PR;\n";
}

$t->start_gateway(http => $models);

my ($IN, $OUT) = (30, 300);

###############################################################################

my $acct_no = 0;

sub stream {
	my ($shape, $model, $usage) = @_;

	my $key = $t->create_key(account => 'pieces' . ++$acct_no);

	$t->clear_mock_requests();

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

	my @reqs = $t->mock_requests();
	$res->{upstream} = $reqs[0];
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

###############################################################################

for my $n (@N) {
	for my $c ([ 'openai', "p/ai-$n", 1 ], [ 'openai', "p/ai-$n", 0 ],
		[ 'openai', "p/aicrlf-$n", 1 ], [ 'openai', "p/aicrlf-$n", 0 ],
		[ 'anthropic', "p/ant-$n", 0 ])
	{
		my ($shape, $model, $usage) = @$c;
		my $name = "$model, $shape client"
			. ($usage ? ', include_usage' : ', usage stripped');

		my $res = stream($shape, $model, $usage);
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

	# a malformed event: what precedes it, then the error event, then
	# nothing

	for my $usage (1, 0) {
		my $model = "p/aibad-$n";
		my $name = "$model" . ($usage ? ', include_usage' : '');

		my $res = stream('openai', $model, $usage);
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
