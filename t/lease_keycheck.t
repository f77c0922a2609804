#!/usr/bin/perl

# (C) tokenroute authors

# Leases (README "Leases"): requests that only have their key checked
# (GET /v1/models, GET /v1/models/{id}, count_tokens, a bad body) are
# answered from the key's record in the lease zone while it is fresh, with
# no Redis command, and with the same verdicts as the admission script:
# the models the key may use, a revoked key refused once the change is
# pushed.

###############################################################################

use warnings;
use strict;

use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::KeyCheck qw(get post msg ids);
use TokenRoute::Lease qw(lease_gateway evalsha_calls);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

lease_gateway($t, models => <<'EOF');
tokenroute_model k/gpt provider=mockai upstream_model=gpt-ok-usage-30-7 input_price=1 output_price=1;
tokenroute_model k/ant provider=mockant upstream_model=claude-ok input_price=1 output_price=1;
tokenroute_model k/no provider=mockai upstream_model=gpt-ok-usage-3-1 input_price=1 output_price=1;
tokenroute_model k/noant provider=mockant upstream_model=claude-ok input_price=1 output_price=1;
EOF

###############################################################################

my $k = $t->create_key(name => 'two', models => [ 'k/gpt', 'k/ant' ]);
my $kh = $t->key_hash($k->{raw});

# the record read by the exact path before: the verdicts to match

my $models = get($t, $k, '/v1/models');
is($models->{status}, 200, 'models, exact: 200');
is_deeply(ids($models), [ 'k/ant', 'k/gpt' ], 'models, exact: the two');

is(post($t, $k, '/v1/chat/completions', msg('k/gpt'))->{status}, 200,
	'a chat request: the entry made');
ok($t->wait_until(3, sub {
	my %r = @{ $t->redis('HGETALL', 'tr:rsvd') || [] };
	grep { /^$kh / } values %r }), 'its lease held');

# from the zone: no script

my $e = evalsha_calls($t);

my $n = 0;
for (1 .. 10) {
	my $r = get($t, $k, '/v1/models');
	$n++ if $r->{status} == 200 && $r->{body} eq $models->{body};
}
is($n, 10, 'models from the zone: the same body 10 times');

is(get($t, $k, '/v1/models/k/gpt')->{status}, 200, 'one model it may use');
is(get($t, $k, '/v1/models/k/no')->{status}, 404, 'one model it may not use');

my $r = post($t, $k, '/v1/messages/count_tokens', msg('k/ant'));
is($r->{status}, 200, 'count_tokens, a model it may use: sent on');
$r = post($t, $k, '/v1/messages/count_tokens', msg('k/noant'));
is($r->{status}, 403, 'count_tokens, a model it may not use: 403');
like($r->{body}, qr/may not use the model \\"k\/noant\\"/, 'count_tokens: why');

is(post($t, $k, '/v1/messages', '{')->{status}, 400, 'a bad body: 400');

cmp_ok(evalsha_calls($t) - $e, '<=', 3,
	'14 key checks with at most 3 scripts (renewals, flushes)');

# revoked: pushed, then refused from the zone (or Redis) alike

my ($rc) = $t->cli('keys', 'revoke', $k->{id});
is($rc, 0, 'keys revoke');

ok($t->wait_until(2, sub { get($t, $k, '/v1/models')->{status} == 401 }),
	'models: 401 once revoked');
is(post($t, $k, '/v1/messages/count_tokens', msg('k/ant'))->{status}, 401,
	'count_tokens: 401 once revoked');

# an unknown key: 401, as from the script

my $u = { raw => 'sk-tr-' . 'u' x 40 };
is(get($t, $u, '/v1/models')->{status}, 401, 'an unknown key: 401');

done_testing();
