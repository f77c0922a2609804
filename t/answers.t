#!/usr/bin/perl

# (C) tokenroute authors

# Every non-stream answer is a well-formed answer in the client's shape
# (README "What the client gets"):
#   1. a same-shape JSON body passes unchanged, byte for byte, with its
#      Content-Length, however it arrives;
#   2. a malformed same-shape JSON body falls back to the next model, or
#      is a 502 error in the client's shape, never a 200;
#   3. a provider that hangs up, sends a short body, broken chunked
#      encoding or stalls mid-body: a 502 (504 for the stall) in the
#      client's shape, translated or not, nothing charged;
#   4. tokenroute_max_response_size is exact: a body of the limit passes,
#      one byte more is a 502;
#   5. an answer that is not HTTP (HTTP/0.9) or has a status outside
#      100-599 is a 502, never relayed.

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

my $LIMIT = 200000;
my $PR = 'input_price=1 output_price=2';

$t->start_gateway(server => <<'EOF', http => <<"EOF");
proxy_read_timeout 1s;
EOF
tokenroute_max_response_size $LIMIT;
tokenroute_model a/good-ai provider=mockai upstream_model=gpt-a-usage-10-20 $PR;
tokenroute_model a/good-ant provider=mockant upstream_model=claude-a-usage-10-20 $PR;
tokenroute_model a/pieces-ai provider=mockai upstream_model=gpt-a-body-pieces-usage-10-20 $PR;
tokenroute_model a/pieces-ant provider=mockant upstream_model=claude-a-body-pieces-usage-10-20 $PR;
tokenroute_model a/bad-ai provider=mockai upstream_model=gpt-a-malformed $PR;
tokenroute_model a/bad-ant provider=mockant upstream_model=claude-a-malformed $PR;
tokenroute_model a/bad-ai-fb provider=mockai upstream_model=gpt-a-malformed $PR fallback=a/good-ant;
tokenroute_model a/bad-ant-fb provider=mockant upstream_model=claude-a-malformed $PR fallback=a/good-ant;
tokenroute_model a/cut-ai provider=mockai upstream_model=gpt-a-body-cut $PR;
tokenroute_model a/cut-ant provider=mockant upstream_model=claude-a-body-cut $PR;
tokenroute_model a/short-ai provider=mockai upstream_model=gpt-a-body-short $PR;
tokenroute_model a/short-ant provider=mockant upstream_model=claude-a-body-short $PR;
tokenroute_model a/badchunk-ai provider=mockai upstream_model=gpt-a-body-badchunk $PR;
tokenroute_model a/badchunk-ant provider=mockant upstream_model=claude-a-body-badchunk $PR;
tokenroute_model a/stall-ai provider=mockai upstream_model=gpt-a-body-stall $PR;
tokenroute_model a/stall-ant provider=mockant upstream_model=claude-a-body-stall $PR;
tokenroute_model a/cut-ai-fb provider=mockai upstream_model=gpt-a-body-cut $PR fallback=a/good-ai;
tokenroute_model a/cool-ai provider=mockai upstream_model=gpt-a-cool-malformed $PR fallback=a/good-ai;
tokenroute_model a/full-ai provider=mockai upstream_model=gpt-a-body-huge-$LIMIT $PR;
tokenroute_model a/full-ant provider=mockant upstream_model=claude-a-body-huge-$LIMIT $PR;
tokenroute_model a/over-ai provider=mockai upstream_model=gpt-a-body-huge-@{[ $LIMIT + 1 ]} $PR;
tokenroute_model a/over-ant provider=mockant upstream_model=claude-a-body-huge-@{[ $LIMIT + 1 ]} $PR;
tokenroute_model a/fullcl-ai provider=mockai upstream_model=gpt-a-body-hugecl-$LIMIT $PR;
tokenroute_model a/overcl-ai provider=mockai upstream_model=gpt-a-body-hugecl-@{[ $LIMIT + 1 ]} $PR;
tokenroute_model a/overcl-ant provider=mockant upstream_model=claude-a-body-hugecl-@{[ $LIMIT + 1 ]} $PR;
tokenroute_model a/s09-ai provider=mockai upstream_model=gpt-a-status-09 $PR;
tokenroute_model a/s09-ant provider=mockant upstream_model=claude-a-status-09 $PR;
tokenroute_model a/s999-ai provider=mockai upstream_model=gpt-a-status-999 $PR;
tokenroute_model a/s099-ai provider=mockai upstream_model=gpt-a-status-099 $PR;
tokenroute_model a/s600-ant provider=mockant upstream_model=claude-a-status-600 $PR;
tokenroute_model a/s999-ai-fb provider=mockai upstream_model=gpt-a-status-999 $PR fallback=a/good-ai;
log_format answers '\$tokenroute_request_id \$status \$tokenroute_attempts \$tokenroute_cost';
access_log %%TESTDIR%%/answers.log answers;
EOF

my $key = $t->create_key(name => 'answers');

my %other = (openai => 'anthropic', anthropic => 'openai');

sub path_of { $_[0] eq 'openai' ? '/v1/chat/completions' : '/v1/messages' }

# the provider shape of a model: its name ends in -ai or -ant

sub shape_of { $_[0] =~ /-ai(?:-fb)?$/ ? 'openai' : 'anthropic' }

sub call {
	my ($shape, $model, %o) = @_;

	return $t->http(method => 'POST', path => path_of($shape),
		headers => $shape eq 'openai'
			? [ Authorization => "Bearer $key->{raw}" ]
			: [ 'x-api-key' => $key->{raw},
				'anthropic-version' => '2023-06-01' ],
		body => { model => $model, max_tokens => 100,
			messages => [ { role => 'user', content => 'answers' } ] },
		timeout => $o{timeout} // 10);
}

# the access log line of a request: [status, attempts, cost]

sub log_of {
	my ($res) = @_;

	my $rid = $res->{headers}{'x-tokenroute-request-id'} // 'none';

	my $line = $t->wait_until(3, sub {
		my ($l) = grep { /^\Q$rid\E / } split /\n/,
			TokenRoute::Test::_slurp($t->testdir . '/answers.log') // '';
		return $l;
	}) // '';

	my (undef, @f) = split / /, $line;
	return \@f;
}

# the response is a complete error in the client's shape, naming the
# model that failed, and nothing was charged

sub failed_ok {
	my ($name, $shape, $model, $r, $status) = @_;

	$t->error_ok($r, $shape, status => $status, name => $name,
		secrets => [ $TokenRoute::Test::OPENAI_KEY,
			$TokenRoute::Test::ANTHROPIC_KEY ]);

	subtest "$name: a complete response, nothing charged" => sub {
		ok($r->{complete}, 'the HTTP response is complete')
			or diag($r->{error} // '');
		is($r->{headers}{'content-length'}, length $r->{body},
			'Content-Length is the body length')
			if defined $r->{headers}{'content-length'};
		is($r->{headers}{'x-tokenroute-model'}, $model,
			'x-tokenroute-model names the model that failed');
		is($shape eq 'openai' && ref $r->{json} eq 'HASH'
			&& ref $r->{json}{error} eq 'HASH'
			? $r->{json}{error}{type} : 'n/a',
			$shape eq 'openai' ? 'server_error' : 'n/a', 'OpenAI type');
		unlike($r->{body}, qr/"choices"|"content"/,
			'none of the provider\'s answer');
		my $f = log_of($r);
		is($f->[0], $status, "logged $status");
		ok(defined $f->[2] && $f->[2] =~ /^[\d.]+$/ && $f->[2] == 0, 'cost 0')
			or diag("cost: " . ($f->[2] // 'none'));
	};
}

###############################################################################

# 1. Same shape, valid: unchanged, byte for byte, however it arrives.

for my $model (qw(a/good-ai a/good-ant a/pieces-ai a/pieces-ant
	a/full-ai a/full-ant a/fullcl-ai))
{
	my $shape = shape_of($model);
	my $name = "1. valid same-shape answer, $model";

	$t->clear_mock_requests;
	my $r = call($shape, $model);
	my ($rec) = $t->mock_requests;

	is($r->{status}, 200, "$name: 200");
	ok($r->{complete}, "$name: complete") or diag($r->{error} // '');
	ok(defined $rec && $r->{body} eq $rec->{response}{body},
		"$name: the provider's body, byte for byte")
		or diag(substr($r->{body}, 0, 300));
	is($r->{headers}{'content-length'}, length $r->{body},
		"$name: Content-Length");
	ok(!defined $r->{headers}{'transfer-encoding'}, "$name: not chunked");
	like($r->{headers}{'content-type'} // '', qr{^application/json},
		"$name: application/json");
	is(length $r->{body}, $LIMIT, "$name: exactly the limit")
		if $model =~ /full/;
	cmp_ok(log_of($r)->[2], '>', 0, "$name: charged");
}

# 2. Same shape, malformed: a 502, or the next model.

for my $model (qw(a/bad-ai a/bad-ant)) {
	my $shape = shape_of($model);
	my $name = "2. malformed same-shape answer, $model";

	failed_ok($name, $shape, $model, call($shape, $model), 502);
}

for my $model (qw(a/bad-ai-fb a/bad-ant-fb)) {
	my $shape = shape_of($model);
	my $name = "2. malformed same-shape answer, fallback, $model";

	my $r = call($shape, $model);

	is($r->{status}, 200, "$name: 200");
	is($r->{headers}{'x-tokenroute-model'}, 'a/good-ant',
		"$name: the next model served");
	is($r->{headers}{'x-tokenroute-attempts'}, 2, "$name: 2 attempts");
	ok($shape eq 'openai'
		? $r->{json} && $r->{json}{choices}[0]{message}{content}
			eq 'Hello from mock'
		: $r->{json} && $r->{json}{content}[0]{text} eq 'Hello from mock',
		"$name: its answer, in the client's shape")
		or diag($r->{raw});
	is($r->{headers}{'content-length'}, length $r->{body},
		"$name: Content-Length");
	unlike($r->{raw}, qr/"id": "x"/, "$name: none of the broken body");
	my @h = $r->{raw} =~ /^x-tokenroute-model:/mgi;
	is(scalar @h, 1, "$name: one x-tokenroute-model header");
}

# A model that keeps answering garbage cools down like one that keeps
# failing with an error status (tokenroute_cooldown: 3 in a row): the
# fourth request goes straight to the next model.

{
	my $name = '2. malformed answers cool the model down';

	$t->clear_mock_requests;
	my @attempts = map {
		call('openai', 'a/cool-ai')->{headers}{'x-tokenroute-attempts'} // 0
	} 1 .. 4;
	my $tried = grep { ($_->{json} ? $_->{json}{model} // '' : '')
		eq 'gpt-a-cool-malformed' } $t->mock_requests;

	is_deeply(\@attempts, [ 2, 2, 2, 1 ],
		"$name: 2 attempts each, then 1");
	is($tried, 3, "$name: the provider asked 3 times, not 4");
}

# 3. Broken transport of a body, translated and same shape.

for my $case ([ 'cut', 502 ], [ 'short', 502 ], [ 'badchunk', 502 ],
	[ 'stall', 504 ])
{
	my ($what, $status) = @$case;

	for my $p (qw(ai ant)) {
		my $model = "a/$what-$p";

		for my $shape ('openai', 'anthropic') {
			my $how = $shape eq shape_of($model) ? 'same shape'
				: 'translated';
			my $name = "3. $what, $model, $shape client ($how)";

			my $t0 = time();
			my $r = call($shape, $model);

			failed_ok($name, $shape, $model, $r, $status);
			cmp_ok(time() - $t0, '<', 4, "$name: in time");
		}
	}
}

{
	my $name = '3. cut, fallback';
	my $r = call('anthropic', 'a/cut-ai-fb');

	is($r->{status}, 200, "$name: 200");
	is($r->{headers}{'x-tokenroute-model'}, 'a/good-ai',
		"$name: the next model served");
	is($r->{json} && $r->{json}{content}[0]{text}, 'Hello from mock',
		"$name: its answer, translated");
}

# 4. One byte over the limit: chunked, or with a Content-Length that says
# so at once.

for my $model (qw(a/over-ai a/over-ant a/overcl-ai a/overcl-ant)) {
	for my $shape ('openai', 'anthropic') {
		my $name = "4. over the limit, $model, $shape client";

		failed_ok($name, $shape, $model, call($shape, $model), 502);
	}
}

like($t->error_log(), qr/response of model "a\/over-ai" is larger than $LIMIT/,
	'4. error.log says why');
like($t->error_log(), qr/response of model "a\/overcl-ai" is larger than $LIMIT bytes \(Content-Length: @{[ $LIMIT + 1 ]}\)/,
	'4. error.log says why (Content-Length)');

# 5. Not HTTP, or a status outside 100-599.

for my $model (qw(a/s09-ai a/s09-ant a/s999-ai a/s099-ai a/s600-ant)) {
	for my $shape ('openai', 'anthropic') {
		my $name = "5. $model, $shape client";
		my $r = call($shape, $model);

		like($r->{raw}, qr{^HTTP/1\.1 }, "$name: an HTTP/1.1 response");
		failed_ok($name, $shape, $model, $r, 502);
	}
}

{
	my $name = '5. status 999, fallback';
	my $r = call('openai', 'a/s999-ai-fb');

	is($r->{status}, 200, "$name: 200");
	is($r->{headers}{'x-tokenroute-model'}, 'a/good-ai',
		"$name: the next model served");
	is($r->{json} && $r->{json}{choices}[0]{message}{content},
		'Hello from mock', "$name: its answer");
}

# The worker keeps serving.

{
	my $r = call('openai', 'a/good-ai', timeout => 3);
	is($r->{status}, 200, 'a normal request after all that: 200');
}

done_testing();

###############################################################################
