#!/usr/bin/perl

# (C) tokenroute authors

# Models that serve only as hops of a chain (tokenroute_model ...
# listed=off; README "Directives"): not in GET /v1/models, not found by
# GET /v1/models/{id}, refused when a client names them (as the model or
# in its own "models" list) with the 404 an unknown model gets, and still
# serving as the fallback of a listed model.

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

$t->start_gateway(http => <<'EOF2');
tokenroute_model l/front provider=mockai upstream_model=gpt-error-503 input_price=1 output_price=1 fallback=l/hop;
tokenroute_model l/hop provider=mockai upstream_model=gpt-ok-usage-30-7 input_price=2 output_price=4 listed=off;
tokenroute_model l/open provider=mockai upstream_model=gpt-ok-usage-30-7 input_price=2 output_price=4 listed=on;
EOF2

my $key = $t->create_key(name => 'listed');

sub call {
	my (%o) = @_;
	my $res = $t->http(method => $o{method} // 'POST', path => $o{path},
		headers => { Authorization => "Bearer $key->{raw}",
			'Content-Type' => 'application/json' },
		body => $o{body});
	$res->{json} = eval { decode_json($res->{body}) };
	return $res;
}

sub chat {
	my ($model, %extra) = @_;
	return call(path => '/v1/chat/completions', body => { model => $model,
		messages => [ { role => 'user', content => 'Hi' } ], %extra });
}

my $res = call(method => 'GET', path => '/v1/models');
is($res->{status}, 200, 'GET /v1/models');
my %listed = map { $_->{id} => 1 } @{ $res->{json}{data} || [] };
ok($listed{'l/front'} && $listed{'l/open'}, 'the listed models are');
ok(!$listed{'l/hop'}, 'the hop is not listed');

$res = call(method => 'GET', path => '/v1/models/l/hop');
is($res->{status}, 404, 'GET /v1/models/l/hop: 404');
is(call(method => 'GET', path => '/v1/models/l/open')->{status}, 200,
	'a listed model is found');

$res = chat('l/hop');
is($res->{status}, 404, 'the hop asked for directly: 404');
is($res->{json}{error}{code}, 'model_not_found', 'model_not_found');
like($res->{json}{error}{message}, qr/does not exist/,
	'as an unknown model: the table is not probed');

$res = chat('l/open', models => [ 'l/open', 'l/hop' ]);
is($res->{status}, 404, 'nor in the client\'s own models list');

$t->clear_mock_requests();
$res = chat('l/front');
is($res->{status}, 200, 'the listed model\'s fallback is served by the hop')
	or diag($res->{body});
is(scalar(my @m = $t->mock_requests()), 2, 'two attempts: front, then hop');

done_testing();
