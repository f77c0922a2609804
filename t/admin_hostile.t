#!/usr/bin/perl

# (C) tokenroute authors

# The admin API and the control scripts against a hostile client: bytes
# that are not UTF-8 in a name, a reason or a model id (from the CLI,
# from a JSON escape, or already in Redis) never make a document that is
# not valid JSON; odd paths, bodies and credentials are refused.

###############################################################################

use warnings;
use strict;

use Test::More;
use Encode qw(decode FB_CROAK);
use JSON::PP;

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();
my $ops = $t->start_admin_gateway();
my ($rc, $out, $err);

sub api {
	my ($method, $path, $body, %a) = @_;
	my $res = $t->http(method => $method, path => "/admin/$path",
		headers => { Authorization => "Bearer $ops->{raw}" },
		body => $body, %a);
	$res->{json} = eval { decode_json($res->{body}) };
	return $res;
}

# valid UTF-8 and JSON, whatever the status
sub valid_json {
	my ($text) = @_;
	my $copy = $text;
	return 0 unless eval { decode('UTF-8', $copy, FB_CROAK); 1 };
	return eval { JSON::PP->new->utf8->decode($text); 1 } ? 1 : 0;
}

###############################################################################

# names, reasons and model ids that are not UTF-8

($rc, $out, $err) = $t->cli('keys', 'create', '--name', "bad\xff\xfe",
	'--json');
is($rc, 2, 'keys create: a name not UTF-8, exit 2') or diag("$out$err");

($rc, $out, $err) = $t->cli('keys', 'create', '--name', 'm',
	'--models', "gpt\xc3", '--json');
is($rc, 2, 'keys create: a model id not UTF-8, exit 2') or diag("$out$err");

($rc, $out, $err) = $t->cli('credit', 'add', '--account', 'default',
	'--amount', '1', '--reason', "top\xe2\x82", '--json');
is($rc, 2, 'credit add: a reason not UTF-8, exit 2') or diag("$out$err");

my $res = api('POST', 'keys', undef,
	body => '{"name":"lone \udc00 surrogate"}');
is($res->{status}, 400, 'a lone surrogate in a name: 400')
	or diag($res->{raw});
ok(valid_json($res->{body}), 'its error is valid JSON');

# a record written before the check (an older CLI, by hand): still JSON

my $k = $t->create_key(name => 'plain');
$t->redis("HSET", "tr:key:" . $t->key_hash($k->{raw}), 'name', "old\xff name",
	'models', "m\xe9,ok");
$res = api('GET', 'keys');
is($res->{status}, 200, 'keys list') or diag($res->{raw});
ok(valid_json($res->{body}), 'keys list: valid JSON with a stored '
	. 'name not UTF-8');
$res = api('GET', "keys/$k->{id}");
ok(valid_json($res->{body}), 'keys show: valid JSON');
like($res->{json}{name} // '', qr/^old\x{fffd} name$/,
	'the bad byte shown as U+FFFD');

###############################################################################

# the actor is the admin key's, never a parameter

is(api('POST', 'accounts', { name => 'acme' })->{status}, 200, 'account');
$res = api('POST', 'accounts/acme/credit', { amount => '1',
	reason => 'x', actor => 'cli' });
is($res->{status}, 400, 'an actor in the body: 400') or diag($res->{raw});
is($t->redis('HGET', 'tr:acct:acme', 'credit') // 0, 0, 'nothing added');
$res = api('POST', 'accounts/acme/credit?actor=cli', { amount => '1' });
is($res->{status}, 400, 'an actor in the query: 400');

# odd bytes in a path segment or a query value: refused as valid JSON

for my $seg ('%FF', 'a%20b', '%0Aid', '~indexed', 'x' x 300) {
	$res = api('GET', "keys/$seg");
	ok($res->{status} == 400 || $res->{status} == 404,
		"keys/$seg: 400 or 404") or diag($res->{raw});
	ok(valid_json($res->{body}), "keys/$seg: valid JSON");
}
$res = api('GET', 'keys?account=%FF%00');
is($res->{status}, 400, 'a filter not a name: 400');
ok(valid_json($res->{body}), 'valid JSON');
$res = api('GET', 'keys?cursor=' . ('9' x 40) . ':key_0');
is($res->{status}, 400, 'a tampered cursor: 400');
$res = api('GET', 'keys?cursor=999999999999999:key_0');
is_deeply($res->{json}{keys}, [], 'a cursor past the end: an empty page');

# bodies that are no object, or too deep

for my $b ('null', '1', '"s"', 'true', '[]', '{"a":[[["x"]]]}',
	'{"name":' . ('[' x 5000) . '}', "{\"name\":\"\xff\"}",
	'{"name":"a"} {"name":"b"}')
{
	$res = api('POST', 'accounts', undef, body => $b);
	is($res->{status}, 400, 'body ' . substr($b, 0, 20) . ': 400')
		or diag($res->{raw});
}

# a member twice: which one counts is no guess

$res = api('POST', 'accounts', undef,
	body => '{"name":"dup-a","name":"dup-b"}');
is($res->{status}, 400, 'a member twice: 400') or diag($res->{raw});
is($t->redis('SISMEMBER', 'tr:accts', 'dup-b') +
	$t->redis('SISMEMBER', 'tr:accts', 'dup-a'), 0, 'no account made');

# credentials in other forms

my $bare = $t->http(method => 'GET', path => '/admin/whoami',
	headers => { 'x-api-key' => $ops->{raw} });
is($bare->{status}, 401, 'x-api-key is not taken: 401');
$bare = $t->http(method => 'GET', path => '/admin/whoami',
	headers => { Authorization => "bearer  $ops->{raw}" });
is($bare->{status}, 200, 'bearer, any case, spaces');
$bare = $t->http(method => 'GET', path => '/admin/whoami',
	headers => { Authorization => "Bearer $ops->{raw}." });
is($bare->{status}, 401, 'a character more: not the key');
$bare = $t->http(method => 'GET', path => '/admin/whoami',
	headers => { Authorization => "Basic $ops->{raw}" });
is($bare->{status}, 401, 'Basic: 401');

# the idempotency key: one top-up however many retries at once, and a
# different request under the same key refused

my @burst = $t->http_parallel(map { {
	method => 'POST', path => '/admin/accounts/acme/credit',
	headers => { Authorization => "Bearer $ops->{raw}" },
	body => { amount => '2', reason => 'inv-9', idempotency_key => 'k9' },
} } 1 .. 20);
is(scalar(grep { $_->{status} == 200 } @burst), 20, 'a burst: all 200');
is(scalar(keys %{ { map { $_->{body} => 1 } @burst } }), 1,
	'one answer, byte for byte');
is($t->redis('HGET', 'tr:acct:acme', 'credit'), 2_000_000_000,
	'added once');
is($t->redis('LLEN', 'tr:ledger:acme'), 1, 'one ledger entry');
$res = api('POST', 'accounts/acme/credit', { amount => '2',
	reason => 'inv-10', idempotency_key => 'k9' });
is($res->{status}, 409, 'the same key, another reason: 409')
	or diag($res->{raw});
is($t->redis('HGET', 'tr:acct:acme', 'credit'), 2_000_000_000,
	'nothing added');
$res = api('POST', 'accounts/acme/credit', { amount => '2',
	reason => 'inv-9', idempotency_key => 'k9' });
is($res->{body}, $burst[0]{body}, 'the same request again: its answer');

# a reload while an operation is in Redis: the old worker answers it

$t->redis('CLIENT', 'PAUSE', 700);
my $h = $t->http_start(method => 'POST', path => '/admin/accounts',
	headers => { Authorization => "Bearer $ops->{raw}" },
	body => { name => 'during-reload' });
select(undef, undef, undef, 0.2);
$t->reload_nginx();
$res = $t->http_finish($h, timeout => 5);
is($res->{status}, 200, 'a reload with an operation in Redis: answered')
	or diag($res->{raw});
is(api('GET', 'accounts/during-reload')->{status}, 200, 'and made');

# the fleet's purge cannot be put off for years by one call

$t->redis('DEL', 'tr:keys:purge');
$res = api('POST', 'keys/purge', { interval => '999999999' });
is($res->{status}, 400, 'purge: an interval over an hour: 400')
	or diag($res->{raw});
ok($t->redis('TTL', 'tr:keys:purge') <= 3600, 'the purge is not put off');
$t->redis('DEL', 'tr:keys:purge');
$res = api('POST', 'keys/purge', { interval => '60' });
is($res->{status}, 200, 'purge: a minute, as the gateways');

# the ledger names an admin key by its name: one name, one key

($rc, $out, $err) = $t->cli('admin-keys', 'create', '--name', 'ops');
is($rc, 1, 'admin-keys create: a name taken, exit 1') or diag("$out$err");
$res = api('POST', 'admin-keys', { name => 'ops' });
is($res->{status}, 409, 'over the API: 409') or diag($res->{raw});
is(scalar @{ api('GET', 'admin-keys')->{json}{admin_keys} // [] }, 1,
	'one admin key named ops');

# a raw key where the usage report takes an id: refused, not shown back

my $raw = $k->{raw};
$res = api('GET', "usage?key=$raw");
is($res->{status}, 400, 'usage?key=<raw key>: 400') or diag($res->{raw});
ok(index($res->{body}, substr($raw, 6)) < 0, 'the raw key not echoed');

# a key whose tenant was deleted while it had expired is not brought back
# to life with no tenant record behind it

is(api('POST', 'accounts/acme/tenants', { name => 'gone' })->{status}, 200,
	'tenant gone');
my $tk = api('POST', 'keys', { name => 'sess', account => 'acme',
	tenant => 'gone', expires => '1h' })->{json} // {};
my $ended = time() - 10;
$t->redis('HSET', 'tr:key:' . $t->key_hash($tk->{raw} // ''),
	'expires_at', $ended);
is(api('DELETE', 'accounts/acme/tenants/gone')->{status}, 200,
	'its only key expired: the tenant deleted');
$res = api('PATCH', "keys/$tk->{id}", { expires => 'never' });
is($res->{status}, 409, 'the key brought back without its tenant: 409')
	or diag($res->{raw});
is($t->redis('HGET', 'tr:key:' . $t->key_hash($tk->{raw} // ''),
	'expires_at'), $ended, 'nothing written') or diag($res->{raw});
$res = api('PATCH', "keys/$tk->{id}", { expires => 'never',
	tenant => 'none' });
is($res->{status}, 200, 'with its tenant cleared: 200') or diag($res->{raw});

done_testing();
