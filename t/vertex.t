#!/usr/bin/perl

# (C) tokenroute authors

# Tests for Claude on Google Vertex AI (type=vertex, README "Claude on
# Vertex AI"): both client shapes, streamed and not, against a mock whose
# token endpoint verifies the service account's RS256 assertion with its
# public key and whose rawPredict checks the token, path and body; usage
# charged exactly; one token fetch for many parallel requests on two
# workers; the refresh before expiry; the token endpoint down (fallback,
# then recovery); the key rotated on reload; Vertex's errors; config
# errors.

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Vertex;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();
my $v = TokenRoute::Vertex->new($t);
my $sa = $v->make_key('sa.json');
$v->start;

my $vx = <<'EOF2';
tokenroute_provider vx type=vertex url=http://127.0.0.1:%%PORT_vertex%%/v1/projects/tr-test/locations/us-east5 credentials_file=%%TESTDIR%%/sa.json;
tokenroute_model vx/haiku provider=vx upstream_model=claude-haiku-4-5@20251001-usage-30-20 input_price=3 output_price=15;
tokenroute_model vx/quota provider=vx upstream_model=claude-haiku-error-429 input_price=3 output_price=15 fallback=anthropic/claude-haiku-4-5;
tokenroute_model vx/fb provider=vx upstream_model=claude-haiku-usage-7-3 input_price=3 output_price=15 fallback=anthropic/claude-haiku-4-5;
tokenroute_model vx/missing provider=vx upstream_model=claude-error-404 input_price=3 output_price=15;
tokenroute_model vx/bad provider=vx upstream_model=claude-garray-400 input_price=3 output_price=15;
EOF2

# two workers: the token is shared by both

my ($http, $server) = $t->default_conf();
$t->start_redis();
$t->start_mock();
$t->write_nginx_conf($http . $vx, $server);
{
	my $f = $t->testdir . '/nginx.conf';
	open my $fh, '<', $f or die;
	my $c = do { local $/; <$fh> };
	close $fh;
	$c =~ s/worker_processes 1;/worker_processes 2;/ or die;
	open $fh, '>', $f or die;
	print $fh $c;
	close $fh;
}
$t->start_nginx();

my $key = $t->create_key(name => 'vertex');

sub req {
	my ($model, %o) = @_;

	my $openai = $o{openai};
	my $k = $o{key} // $key;
	my $body = $openai
		? { model => $model, max_tokens => 50,
			messages => [ { role => 'user', content => 'Hi' } ] }
		: { model => $model, max_tokens => 50,
			messages => [ { role => 'user', content => 'Hi' } ] };
	$body->{stream} = JSON::PP::true if $o{stream};
	$body->{stream_options} = { include_usage => JSON::PP::true }
		if $o{stream} && $openai;

	return {
		method => 'POST',
		path => $openai ? '/v1/chat/completions' : '/v1/messages',
		headers => $openai
			? { authorization => "Bearer $k->{raw}" }
			: { 'x-api-key' => $k->{raw},
				'anthropic-version' => '2023-06-01' },
		body => $body,
		timeout => 15,
	};
}

sub call { my $m = shift; return $t->http(%{ req($m, @_) }) }
sub stream { my $m = shift; return $t->http_stream(%{ req($m, @_) }) }
sub ntokens { return scalar $v->requests('token') }

###############################################################################

# Many requests at once, no token yet, a slow token endpoint: one fetch
# for the whole nginx, every request served with its token.

$v->control(delay => 1);

my @res = $t->http_parallel(map { req('vx/haiku', openai => $_ % 2) } 1 .. 16);
is(scalar(grep { $_->{status} == 200 } @res), 16,
	'16 parallel requests on 2 workers: all served')
	or diag(explain([ map { "$_->{status} $_->{body}" } @res ]));
is(ntokens(), 1, 'one token fetch for all of them');

my @pred = $v->requests('predict');
is(scalar @pred, 16, 'the mock saw 16 predictions');
is(scalar(grep { ($_->{headers}{authorization} // '') =~ /^Bearer ya29\.mock\./ }
	@pred), 16, 'each with the bearer token the mock issued');

my %pids = map { $_ => 1 } $t->workers();
is(scalar keys %pids, 2, 'two workers');

$v->control();

###############################################################################

# What Vertex gets: the path, the token, the body

my $tok0 = ($v->requests('token'))[0];
my %form = map { split /=/, $_, 2 } split /&/, $tok0->{body};
is($form{grant_type}, 'urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer',
	'token: the jwt-bearer grant');
like($form{assertion}, qr/^eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9\.[\w-]+\.[\w-]{342}$/,
	'token: an RS256 JWT with a 2048-bit signature (verified by the mock)');
is($tok0->{headers}{'content-type'}, 'application/x-www-form-urlencoded',
	'token: a form');
ok(!grep({ /sk-tr/ } values %{ $tok0->{headers} }), 'token: no client key');

my $p = $pred[0];
is($p->{path}, '/v1/projects/tr-test/locations/us-east5/publishers/'
	. 'anthropic/models/claude-haiku-4-5@20251001-usage-30-20:rawPredict',
	'rawPredict path');
is($p->{json}{anthropic_version}, 'vertex-2023-10-16', 'anthropic_version');
ok(!exists $p->{json}{model}, 'no model in the body');
ok(!grep({ /sk-tr/ } values %{ $p->{headers} }), 'no client key upstream');

###############################################################################

# Both shapes, streamed and not

my $n0 = ntokens();
my $uk = $t->create_key(name => 'vx-usage', account => 'vx-usage');

my $r = call('vx/haiku', key => $uk);
is($r->{status}, 200, 'anthropic shape: 200');
my $j = eval { decode_json($r->{body}) } // {};
is($j->{content}[0]{text}, 'Hello from Vertex', 'anthropic shape: the text');
is($j->{usage}{input_tokens}, 30, 'anthropic shape: usage');

$r = call('vx/haiku', openai => 1, key => $uk);
is($r->{status}, 200, 'openai shape: 200');
$j = eval { decode_json($r->{body}) } // {};
is($j->{choices}[0]{message}{content}, 'Hello from Vertex',
	'openai shape: translated');
is($j->{usage}{prompt_tokens}, 30, 'openai shape: usage');
is($j->{model}, 'vx/haiku', 'openai shape: the public model');

$r = stream('vx/haiku', stream => 1, key => $uk);
is($r->{status}, 200, 'anthropic stream: 200');
like($r->{body}, qr/event: message_stop/, 'anthropic stream: to the end');
like($r->{body}, qr/"text":"Hello from Vertex"/, 'anthropic stream: text');
like(($v->requests('predict'))[-1]{path}, qr/:streamRawPredict$/,
	'stream: streamRawPredict');
ok(($v->requests('predict'))[-1]{json}{stream}, 'stream: stream true');

$r = stream('vx/haiku', stream => 1, openai => 1, key => $uk);
is($r->{status}, 200, 'openai stream: 200');
like($r->{body}, qr/data: \[DONE\]/, 'openai stream: to the end');
like($r->{body}, qr/"content":"Hello from Vertex"/, 'openai stream: text');
like($r->{body}, qr/"prompt_tokens":30/, 'openai stream: usage chunk');

is(ntokens(), $n0, 'no fetch: the cached token served them');

# 4 requests of 30 in, 20 out at $3 / $15: 4 x 390,000 nUSD

my $want = 4 * (30 * 3000 + 20 * 15000);
my $spent = $t->wait_until(3, sub {
	my $s = $t->redis('HGET', 'tr:acct:vx-usage', 'spent');
	return ($s // 0) == $want ? $s : undef;
}) // $t->redis('HGET', 'tr:acct:vx-usage', 'spent');
is($spent, $want, 'usage charged exactly (4 requests)');

###############################################################################

# Vertex's errors: a 429 (Google's RESOURCE_EXHAUSTED) falls back; the
# others reach the client in its shape

$r = call('vx/quota');
is($r->{status}, 200, '429 on vertex: the fallback serves');
is($r->{headers}{'x-tokenroute-model'}, 'anthropic/claude-haiku-4-5',
	'429 on vertex: served by the fallback');

$r = call('vx/missing');
is($r->{status}, 404, 'a 404 from vertex: 404');
$j = eval { decode_json($r->{body}) } // {};
is($j->{type}, 'error', 'anthropic shape: an error object');
like($j->{error}{message} // '', qr/Vertex says 404/,
	"anthropic shape: Vertex's message");

$r = call('vx/bad', openai => 1);
is($r->{status}, 400, 'a 400 in an array: 400');
$j = eval { decode_json($r->{body}) } // {};
like($j->{error}{message} // '', qr/Vertex says 400/,
	"openai shape: Vertex's message");

###############################################################################

# The client's anthropic-beta goes on (Vertex reads it from the header);
# its anthropic-version does not (the body says Vertex's)

$r = $t->http(%{ req('vx/haiku') }, headers => { 'x-api-key' => $key->{raw},
	'anthropic-version' => '2023-06-01',
	'anthropic-beta' => 'context-1m-2025-08-07' });
is($r->{status}, 200, 'anthropic-beta: served');
my $ph = ($v->requests('predict'))[-1]{headers};
is($ph->{'anthropic-beta'}, 'context-1m-2025-08-07', 'anthropic-beta sent');
ok(!exists $ph->{'anthropic-version'}, 'anthropic-version not sent');
ok(!exists $ph->{'x-api-key'}, 'no x-api-key sent');

###############################################################################

# A client that goes away while its request fetches the token gives the
# fetch up: the next request fetches at once and is served

$v->make_key('sa.json');
$t->reload_nginx();
$v->control(delay => 2);
$n0 = ntokens();

my $h = $t->http_start(%{ req('vx/haiku') });
sleep 0.5;
$t->http_abort($h);
$v->control();

my $t0 = time();
$r = call('vx/haiku');
is($r->{status}, 200, 'after a client gave up its fetch: served');
cmp_ok(time() - $t0, '<', 2, 'after a client gave up its fetch: at once');
$t->wait_until(3, sub { ntokens() >= $n0 + 2 });
is(ntokens(), $n0 + 2, 'the given-up fetch and a new one');

###############################################################################

# count_tokens and embeddings: a clear 400

$r = $t->http(method => 'POST', path => '/v1/messages/count_tokens',
	headers => { 'x-api-key' => $key->{raw} },
	body => { model => 'vx/haiku',
		messages => [ { role => 'user', content => 'Hi' } ] });
is($r->{status}, 400, 'count_tokens on vertex: 400');

$r = $t->http(method => 'POST', path => '/v1/embeddings',
	headers => { authorization => "Bearer $key->{raw}" },
	body => { model => 'vx/haiku', input => 'x' });
is($r->{status}, 400, 'embeddings on vertex: 400');

###############################################################################

# The key rotated: the file re-read on reload, the new key's assertion
# verified (the mock now knows only the new public key), a token of its
# own fetched

$v->make_key('sa.json');
$v->control(expires_in => 16);
$t->reload_nginx();

$n0 = ntokens();
$r = call('vx/haiku');
is($r->{status}, 200, 'rotated key: served');
is(ntokens(), $n0 + 1, 'rotated key: a token fetched with it');

my $tok1 = ($v->requests('predict'))[-1]{headers}{authorization};

# a short-lived token (16 s: not used in its last 10) is refreshed half
# way through what is usable of it (13 s left), not by every request

my $ok = 0;
for (1 .. 4) {
	$ok++ if call('vx/haiku')->{status} == 200;
}
is($ok, 4, 'a short-lived token: served');
is(ntokens(), $n0 + 1, 'a short-lived token: no fetch per request');
is(scalar(grep { ($_->{headers}{authorization} // '') eq $tok1 }
	($v->requests('predict'))[-4 .. -1]), 4, '... its token used');

# the request that finds the refresh due is served at once with the
# token it has, the new one fetched in the background (a slow endpoint)

sleep 3.5;
$v->control(expires_in => 13, delay => 2);

$t0 = time();
$r = call('vx/haiku');
is($r->{status}, 200, 'refresh: served');
cmp_ok(time() - $t0, '<', 1.5, 'refresh: without waiting for the fetch');
is(($v->requests('predict'))[-1]{headers}{authorization}, $tok1,
	'refresh: with the token it had');
ok($t->wait_until(6, sub {
	call('vx/haiku')->{status} == 200
		&& ($v->requests('predict'))[-1]{headers}{authorization} ne $tok1;
}), 'refresh: the new token used once fetched');
is(ntokens(), $n0 + 2, 'refresh: one fetch for it');
$v->control(expires_in => 13);

###############################################################################

# The token endpoint down and the token expired: the attempt fails like
# a 503 and falls back; the next request does not hammer the endpoint;
# then recovery

$v->control(status => 503);
$t->allow_log(qr/OAuth2 token endpoint/);
sleep 3.5;

$n0 = ntokens();
$r = call('vx/fb');
is($r->{status}, 200, 'token endpoint down: the client gets a 200');
is($r->{headers}{'x-tokenroute-model'}, 'anthropic/claude-haiku-4-5',
	'token endpoint down: the fallback served');
is(ntokens(), $n0 + 1, 'token endpoint down: tried once');
like($t->error_log, qr/OAuth2 token endpoint http:\S+ of \S+ answered 503/,
	'token endpoint down: a clear error.log line');

$r = call('vx/fb');
is($r->{headers}{'x-tokenroute-model'}, 'anthropic/claude-haiku-4-5',
	'at once again: the fallback');
is(ntokens(), $n0 + 1, 'at once again: the endpoint not tried');

$r = call('vx/haiku', openai => 1);
is($r->{status}, 503, 'no token and no fallback: 503');
$j = eval { decode_json($r->{body}) } // {};
is($j->{error}{code}, 'provider_failed', 'no token: provider_failed');
like($j->{error}{message} // '', qr{vx/haiku}, 'no token: the model named');
is(ntokens(), $n0 + 1, 'no token and no fallback: the endpoint not tried');

$v->control();
sleep 2.2;

$r = call('vx/fb');
is($r->{status}, 200, 'recovered: 200');
is($r->{headers}{'x-tokenroute-model'}, 'vx/fb', 'recovered: vertex serves');
is(ntokens(), $n0 + 2, 'recovered: one more fetch');

###############################################################################

# Vertex refuses the cached token (401, revoked): the attempt falls back
# and the token is dropped, so the next request fetches a new one

$v->revoke_all();
$n0 = ntokens();

$r = call('vx/fb');
is($r->{status}, 200, 'token revoked: the client gets a 200');
is($r->{headers}{'x-tokenroute-model'}, 'anthropic/claude-haiku-4-5',
	'token revoked: the fallback served');

$r = call('vx/fb');
is($r->{headers}{'x-tokenroute-model'}, 'vx/fb',
	'token revoked: the next request served by vertex');
is(ntokens(), $n0 + 1, 'token revoked: with a new token');

###############################################################################

# A key the token endpoint does not know (its signature does not verify
# with the account's public key): Google's invalid_grant, said in
# error.log; the attempt falls back

$v->make_key('other.json', unknown => 1);
$v->make_key('third.json');
{
	# a token endpoint nothing listens on
	my $dead = $t->port('dead');
	$t->_release_port('dead');
	open my $in, '<', $t->testdir . '/third.json' or die;
	my $text = do { local $/; <$in> };
	close $in;
	$text =~ s{127\.0\.0\.1:\d+/token}{127.0.0.1:$dead/token} or die;
	open my $out, '>', $t->testdir . '/dead.json' or die;
	print $out $text;
	close $out;
}
$t->write_nginx_conf($http . $vx . <<'EOF2', $server);
tokenroute_provider vxo type=vertex url=http://127.0.0.1:%%PORT_vertex%%/v1/projects/tr-test/locations/us-east5 credentials_file=%%TESTDIR%%/other.json;
tokenroute_model vxo/haiku provider=vxo upstream_model=claude-haiku-usage-7-3 input_price=3 output_price=15 fallback=anthropic/claude-haiku-4-5;
tokenroute_provider vxn type=vertex url=http://127.0.0.1:%%PORT_vertex%%/v1/projects/tr-test/locations/us-east5 credentials_file=%%TESTDIR%%/third.json;
tokenroute_model vxn/haiku provider=vxn upstream_model=claude-haiku-usage-7-3 input_price=3 output_price=15;
tokenroute_model fb/first provider=mockant upstream_model=claude-error-429 input_price=3 output_price=15 fallback=vxn/haiku;
tokenroute_provider vxd type=vertex url=http://127.0.0.1:%%PORT_vertex%%/v1/projects/tr-test/locations/us-east5 credentials_file=%%TESTDIR%%/dead.json;
tokenroute_model vxd/haiku provider=vxd upstream_model=claude-haiku-usage-7-3 input_price=3 output_price=15 fallback=anthropic/claude-haiku-4-5;
EOF2
$t->reload_nginx();

$n0 = ntokens();
$r = call('vxo/haiku');
is($r->{status}, 200, 'an unknown key: the client gets a 200');
is($r->{headers}{'x-tokenroute-model'}, 'anthropic/claude-haiku-4-5',
	'an unknown key: the fallback served');
is(ntokens(), $n0 + 1, 'an unknown key: the token endpoint asked');
like($t->error_log, qr/answered 400: invalid_grant: "Invalid JWT Signature\."/,
	"an unknown key: Google's reason in error.log");

$r = call('vx/haiku');
is($r->{status}, 200, 'the other provider, its own key: still served');
is($r->{headers}{'x-tokenroute-model'}, 'vx/haiku', '... by vertex');

# a token endpoint that refuses connections: a 502 of nginx's, a clear
# line, the fallback

$r = call('vxd/haiku');
is($r->{status}, 200, 'token endpoint unreachable: the client gets a 200');
is($r->{headers}{'x-tokenroute-model'}, 'anthropic/claude-haiku-4-5',
	'token endpoint unreachable: the fallback served');
like($t->error_log, qr/OAuth2 token endpoint http:\S+:\d+\/token of \S+ answered 502/,
	'token endpoint unreachable: said in error.log');

# the token fetched on a fallback attempt (the subrequest made in
# @tokenroute_fallback)

$n0 = ntokens();
$r = call('fb/first');
is($r->{status}, 200, 'fallback to vertex without a token yet: 200');
is($r->{headers}{'x-tokenroute-model'}, 'vxn/haiku',
	'fallback to vertex without a token yet: vertex served');
is($r->{headers}{'x-tokenroute-attempts'}, 2, '... on the second attempt');
is(ntokens(), $n0 + 1, '... with a token fetched for it');

###############################################################################

# The token endpoint answers 200 but not with a usable token (expires_in
# 0): error.log says why, and never holds the token it was sent

$v->make_key('sa.json');
$v->control(expires_in => 0);
$t->reload_nginx();

$n0 = ntokens();
$r = call('vx/fb');
is($r->{status}, 200, 'a 200 without a usable token: the client gets a 200');
is($r->{headers}{'x-tokenroute-model'}, 'anthropic/claude-haiku-4-5',
	'a 200 without a usable token: the fallback served');
is(ntokens(), $n0 + 1, 'a 200 without a usable token: the endpoint asked');
my @issued = do {
	open my $in, '<', $t->testdir . '/vertex/tokens' or die;
	map { (split / /)[0] } <$in>;
};
like($t->error_log, qr/answered 200 without a usable token/,
	'a 200 without a usable token: said in error.log');
unlike($t->error_log, qr/\Q$issued[-1]\E/,
	'a 200 without a usable token: the token is not in error.log');

# an error_description with a newline and a quote: one escaped line,
# no line of its own in error.log

sleep 2.2;
$v->control(describe => 'bad%0A2026/01/01 00:00:00 [alert] 1#1: forged "x"');
$r = call('vx/fb');
is($r->{headers}{'x-tokenroute-model'}, 'anthropic/claude-haiku-4-5',
	'an error with a newline: the fallback served');
like($t->error_log, qr/answered 400: invalid_grant: "bad\\n2026\S+ \S+ \[alert\] 1#1: forged \\"x\\""/,
	'an error with a newline: escaped on its line');
unlike($t->error_log, qr/^2026\/01\/01/m, 'no forged line in error.log');
$v->control();

###############################################################################

# Configuration errors

my $c = $t->nginx_check(http => 'tokenroute_provider v2 type=vertex '
	. 'url=http://127.0.0.1:1/v1/projects/p/'
	. "locations/us-east5;\n");
isnt($c->{rc}, 0, 'no credentials_file: nginx -t fails');
like($c->{out}, qr/needs credentials_file=/, 'no credentials_file: said');

$c = $t->nginx_check(http => 'tokenroute_provider v2 type=vertex '
	. 'url=http://127.0.0.1:1/v1 '
	. "credentials_file=$sa;\n");
isnt($c->{rc}, 0, 'a url without project: nginx -t fails');
like($c->{out}, qr{/v1/projects/PROJECT/locations/REGION}, 'url: said');

open my $fh, '>', $t->testdir . '/bad.json' or die;
print $fh '{"type":"service_account","client_email":"a@b",'
	. '"private_key":"-----BEGIN PRIVATE KEY-----\nSECRETSTUFF\n'
	. '-----END PRIVATE KEY-----\n"}';
close $fh;

$c = $t->nginx_check(http => 'tokenroute_provider v2 type=vertex '
	. 'url=http://127.0.0.1:1/v1/projects/p/'
	. 'locations/us-east5 credentials_file=' . $t->testdir
	. "/bad.json;\n");
isnt($c->{rc}, 0, 'a broken private key: nginx -t fails');
like($c->{out}, qr/is not an RSA private key/, 'broken key: said');
unlike($c->{out}, qr/SECRETSTUFF/, 'broken key: not shown');

###############################################################################

done_testing();
