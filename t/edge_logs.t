#!/usr/bin/perl

# (C) tokenroute authors

# Tests that a client's sk-tr key never reaches a log: a key put in the
# query string is refused with a JSON 400 and logged nowhere (the shipped
# log format logs the path without the query; nginx's request line, which
# other formats and the error log's context use, is cut before the key),
# with the error log at "info"; at "notice" not even nginx's own report of
# a duplicate Authorization shows the key.  The gateway's own rejections
# are logged by the key's id, never by the key or its hash.

###############################################################################

use warnings;
use strict;

use Test::More;

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();
$t->start_gateway();

my $d = $t->testdir();

for my $level (qw(info notice)) {
	$t->start_nginx_instance($level, http => <<"EOF");
include %%REPO%%/conf.d/tokenroute_log.conf;
access_log %%TESTDIR%%/$level/tokenroute.log tokenroute;
error_log %%TESTDIR%%/$level/$level.log $level;
EOF
}

my $key = $t->create_key(name => 'edge-logs');
my $raw = $key->{raw};
(my $enc = $raw) =~ s/-/%2D/g;
(my $enc_lc = $raw) =~ s/-/%2d/g;

my $info = $t->port('info');

sub slurp {
	my ($f) = @_;
	open my $fh, '<', $f or return '';
	local $/;
	return <$fh>;
}

sub secrets_absent {
	my ($name, $text, @secrets) = @_;

	for my $s (@secrets) {
		ok(index($text, $s) < 0, "$name: no " . substr($s, 0, 10) . '...')
			or diag(join "\n", grep { index($_, $s) >= 0 } split /\n/, $text);
	}

	# the random part of the key, in any encoding
	my $tail = substr($raw, 6);
	ok(index($text, $tail) < 0, "$name: not the key's random part");
}

###############################################################################

# a normal request with a query: the tokenroute format logs the path only

{
	my $res = $t->http(method => 'GET', path => '/v1/models?limit=5',
		headers => { Authorization => "Bearer $raw" }, port => $info);

	is($res->{status}, 200, 'models with a harmless query: 200');
}

# the key in the query string, in every spelling

my @cases = (
	[ 'openai, literal', 'POST', "/v1/chat/completions?api_key=$raw",
		'openai' ],
	[ 'anthropic, literal', 'POST', "/v1/messages?key=$raw", 'anthropic' ],
	[ 'percent-encoded', 'POST', "/v1/chat/completions?api_key=$enc",
		'openai' ],
	[ 'percent-encoded, lower case', 'POST', "/v1/messages?k=$enc_lc",
		'anthropic' ],
	[ 'upper case', 'GET', '/v1/models?key=' . uc($raw), 'openai' ],
	[ 'with a valid header key too', 'POST',
		"/v1/chat/completions?x=1&key=$raw", 'openai', 1 ],
);

for my $case (@cases) {
	my ($name, $method, $path, $shape, $with_header) = @$case;

	$t->clear_mock_requests();

	my $res = $t->http(method => $method, path => $path, port => $info,
		headers => $with_header ? { Authorization => "Bearer $raw" } : {},
		$method eq 'POST' ? (body => { model => 'openai/gpt-4o-mini',
			max_tokens => 8,
			messages => [ { role => 'user', content => 'hi' } ] }) : ());

	$t->error_ok($res, $shape, status => 400,
		type => 'invalid_request_error', secrets => [ $raw ],
		name => "key in the query ($name): JSON 400");

	if ($shape eq 'openai') {
		is($res->{json}{error}{code}, 'invalid_request',
			"key in the query ($name): code");
	}

	like($res->{json}{error}{message} // '', qr/Authorization|x-api-key/,
		"key in the query ($name): says where the key goes");

	is(scalar(my @r = $t->mock_requests()), 0,
		"key in the query ($name): nothing reached the provider");
}

# nginx itself refuses a second Authorization, and logs the header lines
# at "info": not at "notice"

{
	my $res = $t->http(method => 'POST', path => '/v1/chat/completions',
		port => $t->port('notice'),
		headers => [ Authorization => "Bearer $raw",
			Authorization => "Bearer $raw" ],
		body => { model => 'openai/gpt-4o-mini',
			messages => [ { role => 'user', content => 'hi' } ] });

	is($res->{status}, 400, 'two Authorization: 400');
}

# the gateway's own rejections are logged (at "error" by default), by the
# key's id: neither the key nor its hash

my $restricted = $t->create_key(name => 'edge-logs-restricted',
	models => [ 'anthropic/claude-sonnet-4-5' ]);

{
	my $res = $t->http(method => 'POST', path => '/v1/chat/completions',
		port => $info,
		headers => { Authorization => "Bearer $restricted->{raw}" },
		body => { model => 'openai/gpt-4o-mini',
			messages => [ { role => 'user', content => 'hi' } ] });

	is($res->{status}, 403, 'model not allowed: 403');

	$res = $t->http(method => 'POST', path => '/v1/chat/completions',
		port => $info, headers => { Authorization => "Bearer ${raw}x" },
		body => { model => 'openai/gpt-4o-mini',
			messages => [ { role => 'user', content => 'hi' } ] });

	is($res->{status}, 401, 'unknown key: 401');
}

$t->stop_nginx_instance($_) for qw(info notice);

my $access = slurp("$d/info/tokenroute.log");

like($access, qr{"GET /v1/models HTTP/1\.1" 200 },
	'tokenroute log: the path without the query');
unlike($access, qr{limit=5}, 'tokenroute log: no query');
like($access, qr{"POST /v1/chat/completions HTTP/1\.1" 400 },
	'tokenroute log: the refused request, by its path');

secrets_absent('tokenroute access log', $access, $raw, $enc, $enc_lc,
	uc($raw));
secrets_absent('default access log', slurp("$d/info/access.log"), $raw, $enc,
	$enc_lc, uc($raw));
secrets_absent('error log at info', slurp("$d/info/info.log"), $raw, $enc,
	$enc_lc, uc($raw));

my $errlog = slurp("$d/info/info.log");

my $id = $restricted->{id};

like($errlog, qr/\[error\] .*tokenroute: 403 model not allowed, key "\Q$id\E"/,
	'error log: the rejection, by the key id');
like($errlog, qr/\[error\] .*tokenroute: 401 unknown api key/,
	'error log: the unknown key');
secrets_absent('error log at info, rejections', $errlog, $restricted->{raw},
	"${raw}x", $t->key_hash($restricted->{raw}), $t->key_hash("${raw}x"),
	$t->key_hash($raw));

my $notice = slurp("$d/notice/notice.log") . slurp("$d/notice/access.log")
	. slurp("$d/notice/tokenroute.log");
secrets_absent('logs at notice', $notice, $raw);

done_testing();
