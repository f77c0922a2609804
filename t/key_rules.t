#!/usr/bin/perl

# (C) tokenroute authors

# The key rules (unknown, revoked, expired, which models a key may use)
# live in the admission script alone (src/lua/admission.lua): requests that
# reserve nothing (GET /v1/models, GET /v1/models/{id}, count_tokens,
# bodies refused once the key is known) get their verdict from it too,
# and so do the fallbacks a chain may take.  Each path here, with keys
# that may use some models only, revoked or expired keys.

###############################################################################

use warnings;
use strict;

use Test::More;

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::KeyCheck qw(get post msg ids);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

$t->start_gateway(http => <<'EOF');
tokenroute_model k/down provider=mockant upstream_model=claude-error-529 input_price=1 output_price=5 fallback=k/other,k/gpt;
tokenroute_model k/other provider=mockai upstream_model=gpt-ok-usage-3-1 input_price=1 output_price=1;
tokenroute_model k/gpt provider=mockai upstream_model=gpt-ok-usage-30-7 input_price=2 output_price=4;
tokenroute_model k/ant provider=mockant upstream_model=claude-ok input_price=1 output_price=1;
EOF

my $all = $t->create_key(name => 'rules-all');
my $two = $t->create_key(name => 'rules-two',
	models => [ 'k/down', 'k/gpt' ]);
my $one = $t->create_key(name => 'rules-one', models => [ 'k/down' ]);
my $revoked = $t->create_key(name => 'rules-revoked');
my $expired = $t->create_key(name => 'rules-expired', expires => '1s');

my ($rc, undef, $err) = $t->cli('keys', 'revoke', $revoked->{id});
is($rc, 0, 'keys revoke') or diag($err);

###############################################################################

# GET /v1/models: the catalog, as the key may use it

my $r = get($t, $two, '/v1/models');
is($r->{status}, 200, 'models, two: 200');
is_deeply(ids($r), [ 'k/down', 'k/gpt' ], 'models, two: those two');

$r = get($t, $all, '/v1/models');
is_deeply([ grep { m{^k/} } @{ ids($r) } ],
	[ 'k/ant', 'k/down', 'k/gpt', 'k/other' ], 'models, all: the catalog');
cmp_ok(scalar @{ ids($r) }, '>', 4, 'models, all: the default ones too');

# GET /v1/models/{id}: one model, the same 404 for one the key may not use

is(get($t, $two, '/v1/models/k/gpt')->{status}, 200, 'model k/gpt, two: 200');
is(get($t, $two, '/v1/models/k/other')->{status}, 404,
	'model k/other, two: 404');
is(get($t, $two, '/v1/models/k/none')->{status}, 404, 'unknown model: 404');
is(get($t, $all, '/v1/models/k/other')->{status}, 200,
	'model k/other, all: 200');

# revoked and expired keys, where nothing is reserved

sleep 2;

for my $case ([ $revoked, 'revoked_api_key' ], [ $expired, 'expired_api_key' ])
{
	my ($key, $code) = @$case;

	$r = get($t, $key, '/v1/models');
	is($r->{status}, 401, "$code: models 401");
	is($r->{json}{error}{code}, $code, "$code: models, its code");

	$r = get($t, $key, '/v1/models/k/gpt');
	is($r->{status}, 401, "$code: one model 401");

	$r = post($t, $key, '/v1/messages/count_tokens', msg('k/ant'));
	is($r->{status}, 401, "$code: count_tokens 401");
	like($r->{body}, $code eq 'revoked_api_key' ? qr/revoked/ : qr/expired/,
		"$code: count_tokens, why");

	# the key is reported before a bad body
	$r = post($t, $key, '/v1/messages', '{');
	is($r->{status}, 401, "$code: a bad body, the key first");
}

# count_tokens: the model the key may not use is refused

$r = post($t, $two, '/v1/messages/count_tokens', msg('k/ant'));
is($r->{status}, 403, 'count_tokens, a model the key may not use: 403');
like($r->{body}, qr/may not use the model \\"k\/ant\\"/,
	'count_tokens: the key may not use it');

$t->clear_mock_requests;
$r = post($t, $all, '/v1/messages/count_tokens', msg('k/ant'));
isnt($r->{status}, 403, 'count_tokens, a model the key may use: sent on');
is(scalar($t->mock_requests), 1, 'count_tokens: the provider asked');

is($t->redis('HLEN', 'tr:rsvd'), 0, 'nothing reserved by any of these');

# fallbacks: only those the key may use

$t->clear_mock_requests;
$r = post($t, $two, '/v1/messages', msg('k/down'));
is($r->{status}, 200, 'fallback, two: 200');
is($r->{headers}{'x-tokenroute-model'}, 'k/gpt',
	'fallback, two: k/other skipped, k/gpt served');
is_deeply([ map { $_->{json} ? $_->{json}{model} : () } $t->mock_requests ],
	[ 'claude-error-529', 'gpt-ok-usage-30-7' ], 'fallback, two: tried');

$t->clear_mock_requests;
$r = post($t, $all, '/v1/messages', msg('k/down'));
is($r->{headers}{'x-tokenroute-model'}, 'k/other',
	'fallback, all: k/other served');

$t->clear_mock_requests;
$r = post($t, $one, '/v1/messages', msg('k/down'));
isnt($r->{status}, 200, 'fallback, one: no fallback it may use');
is(scalar($t->mock_requests), 1, 'fallback, one: k/down only');

$r = post($t, $one, '/v1/messages', msg('k/gpt'));
is($r->{status}, 403, 'a model the key may not use: 403');

###############################################################################

done_testing();

###############################################################################
