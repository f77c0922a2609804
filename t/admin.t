#!/usr/bin/perl

# (C) tokenroute authors

# The admin API ("tokenroute_admin"): authentication by admin keys made
# with "tokenroute admin-keys create" (and only them: a model key is
# refused, and an admin key is no model key), the routes whose control
# scripts this build embeds, the errors (OpenAI's shape, the script's
# status), a Redis down or stuck (503, and the worker serves on), a body
# too large, and a client that goes away while its operation is in Redis.

###############################################################################

use warnings;
use strict;

use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP;
use Time::HiRes qw(sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();
$t->start_gateway(server => <<'EOF2');
location /admin/ {
    tokenroute_admin;
}
EOF2

my ($rc, $out, $err) = $t->cli('admin-keys', 'create', '--name', 'ops',
	'--json');
is($rc, 0, 'admin-keys create') or diag($err);
my $ops = eval { decode_json($out) } // {};
like($ops->{raw} // '', qr/^sk-tr-admin-[A-Za-z0-9_-]{43}$/,
	'the raw admin key: sk-tr-admin- and 43 base64url');
is($t->redis('HGET', 'tr:admin:' . sha256_hex($ops->{raw} // ''), 'name'),
	'ops', 'stored under its SHA-256');
ok(!grep({ index($_, $ops->{raw} // 'none') >= 0 }
	@{ $t->redis('KEYS', '*') }), 'the raw key is no Redis key name');

my $model = $t->create_key(name => 'model');

sub api {
	my ($method, $path, $body, $key, %o) = @_;
	$key //= $ops->{raw};
	my %h = defined $key && length $key
		? (Authorization => "Bearer $key") : ();
	my $res = $t->http(method => $method, path => "/admin/$path",
		headers => \%h, body => $body, %o);
	$res->{json} = eval { decode_json($res->{body}) };
	return $res;
}

sub error_is {
	my ($res, $status, $code, $name) = @_;
	subtest $name => sub {
		$t->error_ok($res, 'openai', status => $status,
			name => "$name: OpenAI shape");
		is($res->{json}{error}{code}, $code, 'code') if defined $code;
	};
}

###############################################################################

# authentication

error_is(api('GET', 'whoami', undef, ''), 401, 'invalid_api_key',
	'no key: 401');
error_is(api('GET', 'whoami', undef, 'sk-tr-admin-short'), 401,
	'invalid_api_key', 'not an admin key\'s shape: 401');
error_is(api('GET', 'whoami', undef, 'sk-tr-admin-' . ('A' x 43)), 401,
	'invalid_api_key', 'an unknown admin key: 401');
error_is(api('GET', 'whoami', undef, $model->{raw}), 401, 'invalid_api_key',
	'a model key: 401');

my $res = api('GET', 'whoami');
is($res->{status}, 200, 'whoami') or diag($res->{raw});
like($res->{headers}{'content-type'} // '', qr{^application/json},
	'application/json');
is($res->{headers}{'cache-control'}, 'no-store', 'Cache-Control: no-store');
is($res->{json}{actor}, 'admin:ops', 'the actor: admin:<name>');
is($res->{json}{admin_key}{id}, $ops->{id}, 'the admin key\'s id');

$res = $t->http(method => 'POST', path => '/v1/chat/completions',
	headers => { Authorization => "Bearer $ops->{raw}" },
	body => { model => 'openai/gpt-4o-mini',
		messages => [ { role => 'user', content => 'hi' } ] });
is($res->{status}, 401, 'an admin key on the model endpoints: 401');
is($t->mock_requests() // 0 ? scalar @{ $t->mock_requests() } : 0, 0,
	'no provider was called');

###############################################################################

# accounts create, over the script the CLI runs

$res = api('POST', 'accounts', { name => 'acme' });
is($res->{status}, 200, 'POST accounts') or diag($res->{raw});
is($res->{json}{account}, 'acme', 'the account');
is($res->{json}{credit_usd}, '0.00', 'no credit');
is($t->redis('SISMEMBER', 'tr:accts', 'acme'), 1, 'exists in Redis');

error_is(api('POST', 'accounts', { name => 'acme' }), 409, 'conflict',
	'again: 409 from the script');
like(api('POST', 'accounts', { name => 'acme' })->{json}{error}{message},
	qr/account exists: acme/, 'the script\'s message');
($rc, $out, $err) = $t->cli('accounts', 'create', 'acme');
is($rc, 1, 'the CLI agrees: exit 1');

error_is(api('POST', 'accounts', { name => 'bad name' }), 400,
	'invalid_request', 'a bad name: 400');
error_is(api('POST', 'accounts', { name => 'x', color => 'red' }), 400,
	'invalid_request', 'an unknown parameter: 400');
error_is(api('POST', 'accounts', undef, undef, body => '{"name":'), 400,
	'invalid_request', 'not JSON: 400');
error_is(api('POST', 'accounts', undef, undef, body => '["acme"]'), 400,
	'invalid_request', 'not an object: 400');
error_is(api('POST', 'accounts', { name => { x => 1 } }), 400,
	'invalid_request', 'an object member: 400');
error_is(api('POST', 'accounts', {}), 400, 'invalid_request',
	'no name: 400');

# members as parameters: a number's text, an array joined

$res = api('POST', 'accounts', undef, undef, body => '{"name":12.50}');
is($res->{json}{account}, '12.50', 'a number: its text');
$res = api('POST', 'accounts', { name => JSON::PP::true });
is($res->{json}{account}, '1', 'true: "1"');

###############################################################################

# admin keys over the API: the raw key made in C, first in the response

$res = api('POST', 'admin-keys', { name => [ 'ci', 'nightly' ] });
is($res->{status}, 200, 'POST admin-keys') or diag($res->{raw});
my $ci = $res->{json} // {};
is($ci->{name}, 'ci,nightly', 'an array of strings: joined with commas');
like($ci->{raw} // '', qr/^sk-tr-admin-[A-Za-z0-9_-]{43}$/, 'raw');
like($res->{body}, qr/^\{"raw":/, 'raw first');
is($res->{headers}{'cache-control'}, 'no-store', 'a raw key is not cached');
is($t->redis('GET', "tr:adminid:$ci->{id}"), sha256_hex($ci->{raw} // ''),
	'Redis holds its SHA-256');
is(substr($ci->{raw} // '', 0, 18), $ci->{prefix}, 'the prefix shown');
is(api('GET', 'whoami', undef, $ci->{raw})->{json}{actor},
	'admin:ci,nightly', 'the new key works');
error_is(api('POST', 'admin-keys', { name => 'x', hash => 'a' x 64 }),
	400, 'invalid_request', 'a hash from the client: 400');
error_is(api('POST', 'admin-keys', { name => 'x', prefix => 'p' }),
	400, 'invalid_request', 'a prefix from the client: 400');

$res = api('GET', 'admin-keys');
is_deeply([ sort map { $_->{name} } @{ $res->{json}{admin_keys} || [] } ],
	[ 'ci,nightly', 'ops' ], 'GET admin-keys');
ok(index($res->{body}, $ci->{raw}) < 0, 'no raw key in the list');

$res = api('POST', "admin-keys/$ci->{id}/revoke");
is($res->{status}, 200, 'revoke') or diag($res->{raw});
ok($res->{json}{revoked}, 'revoked');
error_is(api('GET', 'whoami', undef, $ci->{raw}), 401, 'invalid_api_key',
	'a revoked admin key: 401');
error_is(api('POST', 'accounts', { name => 'late' }, $ci->{raw}), 401,
	'invalid_api_key', 'and no operation runs with it');
is($t->redis('SISMEMBER', 'tr:accts', 'late'), 0, 'nothing written');
error_is(api('POST', 'admin-keys/adm_00/revoke'), 404, 'not_found',
	'an unknown id: 404');
error_is(api('POST', "admin-keys/$ci->{id}/revoke", { id => 'x' }), 400,
	'invalid_request', 'a path parameter from the body: 400');

###############################################################################

# the seed's flow, as far as this build's scripts go: the account over
# the API, a key in it (the CLI until ctl_keys.lua), a call, its spend

is(api('POST', 'accounts', { name => 'seed' })->{status}, 200,
	'seed: the account over the API');
my $agent = $t->create_key(name => 'agent-session', account => 'seed');
$res = $t->http(method => 'POST', path => '/v1/chat/completions',
	headers => { Authorization => "Bearer $agent->{raw}" },
	body => { model => 'openai/gpt-4o-mini',
		messages => [ { role => 'user', content => 'hi' } ] });
is($res->{status}, 200, 'seed: the key calls the gateway');
ok($t->wait_until(5, sub {
	($t->redis('HGET', 'tr:acct:seed', 'spent') // 0) > 0 }),
	'seed: the account spent');

###############################################################################

# routing

error_is(api('GET', 'nothing/here'), 404, 'not_found', 'unknown route: 404');
error_is(api('PUT', 'accounts'), 405, 'method_not_allowed',
	'a known path, a wrong method: 405');
error_is(api('GET', 'whoami?color=red'), 400, 'invalid_request',
	'an unknown query parameter: 400');
error_is(api('GET', 'whoami', { a => 1 }), 400, 'invalid_request',
	'a body where none is taken: 400');
is(api('GET', 'whoami/')->{status}, 200, 'a trailing slash');

# a route this build cannot serve: the usage report's, where the tree
# has no report (config builds its driver with it: t/admin_usage.t)
if (-f $t->repo . '/src/tokenroute_report.h') {
	is(api('GET', 'usage')->{status}, 200, 'GET usage: the report');

} else {
	error_is(api('GET', 'usage'), 501, 'not_implemented', 'GET usage: 501');
}

###############################################################################

# body too large

sub chunked {
	my ($data) = @_;
	return sprintf("%x\r\n%s\r\n0\r\n\r\n", length $data, $data);
}

error_is(api('POST', 'accounts', undef, undef,
	body => '{"name":"' . ('x' x 70000) . '"}'), 413,
	'request_too_large', 'a body over 64k: 413');
error_is(api('POST', 'accounts', undef, undef,
	headers => { Authorization => "Bearer $ops->{raw}",
		'Transfer-Encoding' => 'chunked' },
	body => chunked('{"name":"' . ('y' x 70000) . '"}')), 413,
	'request_too_large', 'chunked, over 64k: 413');
$res = api('POST', 'accounts', undef, undef,
	headers => { Authorization => "Bearer $ops->{raw}",
		'Transfer-Encoding' => 'chunked' },
	body => chunked('{"name":"ch"}'));
is($res->{json}{account}, 'ch', 'a chunked body') or diag($res->{raw});

# a body nginx keeps in a file (over client_body_buffer_size)
$res = api('POST', 'admin-keys', { name => 'f' . ('z' x 100),
	pad => ' ' x 40000 });
error_is($res, 400, 'invalid_request', 'a body read from its file');
like($res->{json}{error}{message} // '', qr/^pad: unknown parameter/,
	'and parsed whole');

###############################################################################

# Redis gone: 503 at once; back: served again

$t->redis('SCRIPT', 'FLUSH');
$res = api('POST', 'accounts', { name => 'flushed' });
is($res->{status}, 200, 'scripts flushed from Redis: EVAL instead')
	or diag($res->{raw});
my $lua = $t->script_text('ctl_accounts');
is_deeply($t->redis('SCRIPT', 'EXISTS', Digest::SHA::sha1_hex($lua)), [ 1 ],
	'the very bytes of period.lua, ctl_lib.lua and ctl_accounts.lua');

my $ops_key = 'tr:admin:' . sha256_hex($ops->{raw});
my $ops_record = $t->redis_hash($ops_key);
$t->stop_redis();
error_is(api('POST', 'accounts', { name => 'down' }), 503,
	'service_unavailable', 'Redis down: 503');
$t->start_redis();
$t->redis('HSET', $ops_key, %$ops_record);
ok($t->wait_until(5, sub {
	api('POST', 'accounts', { name => 'back' })->{status} == 200 }),
	'Redis back: served');

# Redis stuck (paused): 503 after the command timeout (1s)

my $t0 = time();
$t->redis('CLIENT', 'PAUSE', 2500);
$res = api('GET', 'whoami');
error_is($res, 503, 'service_unavailable', 'Redis stuck: 503');
ok(time() - $t0 < 2.4, 'at the timeout, not when Redis wakes');
sleep(2.6 - (time() - $t0)) if time() - $t0 < 2.6;
ok($t->wait_until(5, sub { api('GET', 'whoami')->{status} == 200 }),
	'served again');

# a client gone while its operation is in Redis: the reply finds no one

$t->redis('CLIENT', 'PAUSE', 600);
my $h = $t->http_start(method => 'POST', path => '/admin/accounts',
	headers => { Authorization => "Bearer $ops->{raw}" },
	body => { name => 'orphan' });
sleep(0.2);
$t->http_abort($h);
sleep(1.2);
is($t->redis('SISMEMBER', 'tr:accts', 'orphan'), 1,
	'the operation ran in Redis');
like($t->error_log(), qr/request gone while in Redis/,
	'the request was gone before the reply');
is(api('GET', 'whoami')->{status}, 200, 'and the worker serves on');

done_testing();
