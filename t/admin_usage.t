#!/usr/bin/perl

# (C) tokenroute authors

# The admin API's usage route: the report of "tokenroute usage" over
# HTTP (JSON, table, CSV), its admin key checked first, its errors (a bad
# parameter 400, an unknown account 404, Redis down 503), a client gone
# while its report is in Redis.  Skipped where the module is built
# without the usage report (GET usage answers 501).

###############################################################################

use warnings;
use strict;

use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();
my $ops = $t->start_admin_gateway();
my ($rc, $out, $err);

sub api {
	my ($path, $key) = @_;
	my $res = $t->http(method => 'GET', path => "/admin/$path",
		headers => { Authorization => 'Bearer ' . ($key // $ops->{raw}) });
	$res->{json} = eval { decode_json($res->{body}) };
	return $res;
}


###############################################################################

my $key = $t->create_key(name => 'agent', account => 'acme');
for (1 .. 2) {
	my $res = $t->http(method => 'POST', path => '/v1/chat/completions',
		headers => { Authorization => "Bearer $key->{raw}" },
		body => { model => 'openai/gpt-4o-mini',
			messages => [ { role => 'user', content => 'hi' } ] });
	is($res->{status}, 200, "a request through the gateway ($_)");
}
ok($t->wait_until(5, sub { !@{ $t->redis('HKEYS', 'tr:rsvd') } }),
	'settled');

my $res = api('usage?by=account&since=1d');
is($res->{status}, 200, 'GET usage') or diag($res->{raw});
like($res->{headers}{'content-type'} // '', qr{^application/json}, 'JSON');
my ($row) = grep { $_->{group} eq 'acme' } @{ $res->{json}{rows} || [] };
is($row->{requests}, 2, 'the account\'s requests');
ok(($row->{cost_nusd} // 0) > 0, 'its cost');

($rc, $out) = $t->cli('usage', '--by', 'account', '--since', '1d',
	'--format', 'json');
is_deeply(decode_json($out), $res->{json},
	'what tokenroute usage --format json prints')
	or diag($out);

$res = api('usage?by=account&since=1d&format=csv');
like($res->{headers}{'content-type'} // '', qr{^text/csv}, 'CSV');
like($res->{body}, qr/^acme,2,/m, 'its row');
$res = api('usage?by=account&since=1d&format=table');
like($res->{headers}{'content-type'} // '', qr{^text/plain}, 'a table');
like($res->{body}, qr/^TOTAL\s/m, 'with its total');

$res = api('usage?by=tenant&account=acme&since=1d');
is($res->{status}, 200, 'by tenant') or diag($res->{raw});
is(scalar(grep { $_->{account} eq 'acme' } @{ $res->{json}{rows} || [] }),
	1, 'the account\'s keys without a tenant: one row');

$res = api('usage?by=nothing');
is($res->{status}, 400, 'a bad parameter: 400');
is($res->{json}{error}{code}, 'invalid_request', 'invalid_request');
$res = api('usage?account=nobody');
is($res->{status}, 404, 'an unknown account: 404');
is($res->{json}{error}{code}, 'not_found', 'not_found');
$res = api('usage?color=red');
is($res->{status}, 400, 'an unknown query parameter: 400');

is(api('usage', 'sk-tr-admin-' . ('B' x 43))->{status}, 401,
	'an unknown admin key: 401, before any report');
is(api('usage', $key->{raw})->{status}, 401, 'a model key: 401');

# a client gone while its report is in Redis

$t->redis('CLIENT', 'PAUSE', 600);
my $h = $t->http_start(method => 'GET', path => '/admin/usage?since=30d',
	headers => { Authorization => "Bearer $ops->{raw}" });
sleep(0.2);
$t->http_abort($h);
sleep(1.2);
is(api('usage')->{status}, 200, 'a client gone: the worker serves on');

# Redis down

my $record = $t->redis_hash('tr:admin:' . $t->key_hash($ops->{raw}));
$t->stop_redis();
is(api('usage')->{status}, 503, 'Redis down: 503');
$t->start_redis();
$t->redis('HSET', 'tr:admin:' . $t->key_hash($ops->{raw}), %$record);
ok($t->wait_until(5, sub { api('usage')->{status} == 200 }), 'back');

done_testing();
