#!/usr/bin/perl

# (C) tokenroute authors

# The seed's chain across providers, with the file we ship
# (conf.d/claude-anthropic-bedrock.conf, README "Deployments"): Haiku 4.5
# on Anthropic, then Haiku 4.5 on Bedrock, then Sonnet 4.5.  Real nginx
# and Redis, the mock provider as Anthropic and the mock Bedrock (every
# SigV4 signature verified) as Bedrock, the file as shipped with only its
# addresses, key variable and credentials pointed at the mocks, a key made
# by the CLI, and the official OpenAI and Anthropic SDKs (node) as
# clients, streams and not.  Phases: all healthy; a quota event (429 with
# retry-after) on Anthropic's Haiku; Bedrock's Haiku out too; each window
# ending.  Every request: the client sees no error, the deployment that
# served (access log), x-tokenroute-model the public id, the reservation
# at the dearest deployment of the chain, the charge at the serving
# deployment's prices (from the tokens the mocks reported), and tokenroute
# usage's rows per deployment adding up to the key's spend exactly.

###############################################################################

use warnings;
use strict;

use Test::More;
use JSON::PP;
use IPC::Open3;
use POSIX qw(ceil);
use Symbol qw(gensym);
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Money qw(usd_nano cost reserve);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $SDK = TokenRoute::Test->repo() . '/t/sdk';

unless (-d "$SDK/node_modules/openai"
	&& -d "$SDK/node_modules/\@anthropic-ai/sdk"
	&& TokenRoute::Test::_which('node'))
{
	plan(skip_all => 'the SDK npm packages or node are missing '
		. '(make test installs them)')
		unless $ENV{TOKENROUTE_REQUIRE_SDK};
}

my $HAIKU = 'anthropic/claude-haiku-4-5';
my $SONNET = 'anthropic/claude-sonnet-4-5';

# the quota events' windows (retry-after, seconds)
my $ANT_WINDOW = 20;
my $BR_WINDOW = 5;

my $t = TokenRoute::Test->new();
my $d = $t->testdir;

open my $kf, '>', "$d/bedrock.keys" or die "$d/bedrock.keys: $!";
print $kf "AKIDSEEDCHAIN01 seedSecret/Key+9 FwoGZXIvYXdzSEED//token+/=\n";
close $kf;

$ENV{AWS_ACCESS_KEY_ID} = 'AKIDSEEDCHAIN01';
$ENV{AWS_SECRET_ACCESS_KEY} = 'seedSecret/Key+9';
$ENV{AWS_SESSION_TOKEN} = 'FwoGZXIvYXdzSEED//token+/=';

$t->start_redis();
$t->start_mock(delay => 0.01);
$t->start_mock(name => 'bedrock', script => 't/lib/mock_bedrock.pl',
	args => ['--keys', "$d/bedrock.keys", '--region', 'us-east-1']);

# the shipped file, pointed at the mocks: the upstreams' servers, the
# urls' scheme and host, Anthropic's key variable; nothing else changes
my $file = TokenRoute::Test->repo() . '/conf.d/claude-anthropic-bedrock.conf';
open my $fh, '<', $file or die "$file: $!\n";
my $shipped = do { local $/; <$fh> };
close $fh;

my $conf = $shipped;
my $n = 0;
$n += $conf =~ s/^(\s*server\s+)api\.anthropic\.com:443;/${1}127.0.0.1:%%MOCK_PORT%%;/m;
$n += $conf =~ s{url=https://api\.anthropic\.com/}{url=http://127.0.0.1:%%MOCK_PORT%%/};
$n += $conf =~ s/key_env=ANTHROPIC_API_KEY/key_env=TOKENROUTE_TEST_ANTHROPIC_KEY/;
$n += $conf =~ s/^(\s*server\s+)bedrock-runtime\.us-east-1\.amazonaws\.com:443;/${1}127.0.0.1:%%PORT_bedrock%%;/m;
$n += $conf =~ s{url=https://bedrock-runtime\.us-east-1\.amazonaws\.com}{url=http://127.0.0.1:%%PORT_bedrock%%};
is($n, 5, 'the shipped file: its two upstreams, two urls and key pointed '
	. 'at the mocks');

# the chain, as shipped
like($shipped, qr{tokenroute_model\s+\Q$HAIKU\E\b[^;]*
	\bfallback=\Q$SONNET\E\b}x, 'shipped: Haiku falls back to Sonnet');
like($shipped, qr{tokenroute_deployment\s+\Q$HAIKU\E\s+provider=anthropic\b
	[^;]*\bpriority=1\b}x, 'shipped: Haiku on Anthropic, priority 1');
like($shipped, qr{tokenroute_deployment\s+\Q$HAIKU\E\s+provider=bedrock\s+
	upstream_model=us\.anthropic\.claude-haiku-4-5-20251001-v1:0\s
	[^;]*\bpriority=2\b}x, 'shipped: Haiku on Bedrock, priority 2');
like($shipped, qr{tokenroute_provider\s+bedrock\s+type=bedrock\b[^;]*
	\bregion=us-east-1\b}x, 'shipped: Bedrock in us-east-1');

# the prices, as shipped: deployment id -> [input, output, cached] nano-USD
my %PRICE;
{
	my %model;
	while ($shipped =~ /^tokenroute_model\s+(\S+)([^;]*);/mg) {
		my ($id, $args) = ($1, $2);
		$model{$id} = { $args =~ /(\w+_price)=([\d.]+)/g };
	}
	while ($shipped =~ /^tokenroute_deployment\s+(\S+)\s+provider=(\w+)
		([^;]*);/mgx)
	{
		my ($id, $p, $args) = ($1, $2, $3);
		my %a = (%{ $model{$id} }, $args =~ /(\w+_price)=([\d.]+)/g);
		$PRICE{"$id\@$p"} = [ map { usd_nano($a{$_}) }
			qw(input_price output_price cached_input_price) ];
	}
}
is_deeply([ sort keys %PRICE ], [ "$HAIKU\@anthropic", "$HAIKU\@bedrock",
	"$SONNET\@anthropic", "$SONNET\@bedrock" ], 'four deployments shipped');
my ($DEAREST) = sort { $PRICE{$b}[1] <=> $PRICE{$a}[1] } keys %PRICE;
is($DEAREST, "$SONNET\@bedrock", 'the dearest: Sonnet on Bedrock');

my (undef, $server) = $t->default_conf();
$t->write_nginx_conf(<<"EOF" . $conf, $server);
tokenroute_redis 127.0.0.1:%%REDIS_PORT%%;
log_format seed escape=json '{"rid":"\$tokenroute_request_id",'
    '"status":"\$status","model":"\$tokenroute_model",'
    '"served":"\$tokenroute_served_model",'
    '"deployment":"\$tokenroute_deployment",'
    '"provider":"\$tokenroute_provider",'
    '"attempts":"\$tokenroute_attempts",'
    '"in":"\$tokenroute_input_tokens","out":"\$tokenroute_output_tokens",'
    '"cached":"\$tokenroute_cached_tokens",'
    '"cw":"\$tokenroute_cache_write_tokens",'
    '"cw1h":"\$tokenroute_cache_write_1h_tokens",'
    '"cost":"\$tokenroute_cost","reserved":"\$tokenroute_reserved",'
    '"estimated":"\$tokenroute_usage_estimated",'
    '"length":"\$http_content_length"}';
access_log %%TESTDIR%%/seed.log seed;
EOF
$t->start_nginx();

# a key for the agent runtime, and credit
my ($rc, $out, $err) = $t->cli('keys', 'create', '--name', 'seed-chain',
	'--json');
is($rc, 0, 'tokenroute keys create') or diag($err);
my $key = eval { decode_json($out) } // {};
like($key->{raw} // '', qr/^sk-tr-/, 'the raw key');

($rc, $out, $err) = $t->cli('credit', 'add', '--account', 'default',
	'--amount', '5', '--idempotency-key', 'seed-chain');
is($rc, 0, 'credit for the account') or diag($err);

###############################################################################

# The clients: one node process per phase runs CALLS in turn (each
# "openai" or "anthropic", "stream" or "plain"), all asking for Haiku.

my $JS = <<'JS';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
const openai = new OpenAI({ baseURL: process.env.GW + '/v1',
    apiKey: process.env.KEY, maxRetries: 0 });
const anthropic = new Anthropic({ baseURL: process.env.GW,
    apiKey: process.env.KEY, maxRetries: 0 });
const model = 'anthropic/claude-haiku-4-5';
const messages = [{ role: 'user', content: 'Plan the next step' }];
const results = [];
for (const call of process.env.CALLS.split(',')) {
    const [sdk, mode] = call.split(':');
    const stream = mode === 'stream';
    const r = { sdk, stream };
    try {
        if (sdk === 'openai') {
            const ask = { model, messages, max_tokens: 200 };
            if (stream) {
                const { data, response } = await openai.chat.completions
                    .create({ ...ask, stream: true,
                        stream_options: { include_usage: true } })
                    .withResponse();
                r.text = '';
                for await (const c of data) {
                    r.text += c.choices[0]?.delta?.content ?? '';
                    if (c.model) r.model = c.model;
                    if (c.usage) r.usage = c.usage;
                }
                r.served = response.headers.get('x-tokenroute-model');
            } else {
                const { data, response } = await openai.chat.completions
                    .create(ask).withResponse();
                r.text = data.choices[0].message.content;
                r.model = data.model;
                r.usage = data.usage;
                r.served = response.headers.get('x-tokenroute-model');
            }
        } else {
            const ask = { model, messages, max_tokens: 300 };
            if (stream) {
                const { data, response } = await anthropic.messages
                    .create({ ...ask, stream: true }).withResponse();
                r.text = '';
                for await (const e of data) {
                    if (e.type === 'message_start') r.model = e.message.model;
                    if (e.type === 'content_block_delta'
                        && e.delta.type === 'text_delta')
                        r.text += e.delta.text;
                    if (e.type === 'message_delta') r.usage = e.usage;
                }
                r.served = response.headers.get('x-tokenroute-model');
            } else {
                const { data, response } = await anthropic.messages
                    .create(ask).withResponse();
                r.text = data.content.map((b) => b.text ?? '').join('');
                r.model = data.model;
                r.usage = data.usage;
                r.served = response.headers.get('x-tokenroute-model');
            }
        }
    } catch (e) {
        r.error = `${e.status ?? ''} ${e.message}`;
    }
    results.push(r);
}
console.log(JSON.stringify(results));
JS

my $GATEWAY = 'http://127.0.0.1:' . $t->port('http');
my $ALL = 'openai:plain,openai:stream,anthropic:plain,anthropic:stream';

sub clients {
	my ($calls) = @_;

	local $ENV{GW} = $GATEWAY;
	local $ENV{KEY} = $key->{raw} // '';
	local $ENV{CALLS} = $calls;

	my ($in, $o, $e) = (undef, undef, gensym);
	my $pid = open3($in, $o, $e, 'node', '--input-type=module', '-e', $JS);
	close $in;
	my $stdout = do { local $/; <$o> } // '';
	my $stderr = do { local $/; <$e> } // '';
	waitpid($pid, 0);

	my $res = eval { decode_json($stdout) };
	diag("node: $stderr$stdout") unless ref $res eq 'ARRAY' && $? == 0;
	return ref $res eq 'ARRAY' ? @$res : ();
}

# the access log's lines, one per request

sub logged {
	open my $lf, '<', "$d/seed.log" or return ();
	return map { decode_json($_) } <$lf>;
}

# a mock's requests for a model (its id as the mock received it)

sub attempts {
	my ($mock, $re) = @_;

	return grep {
		$mock eq 'bedrock' ? $_->{path} =~ $re
			: ($_->{body} // '') =~ /"model"\s*:\s*"[^"]*$re/
	} $t->mock_requests($mock);
}

my $served_n = 0;	# requests the clients sent so far
my @calls;		# and their calls

# the model an answer in the client's own shape names (it goes out byte
# for byte): the provider's; a translated answer names the public id
my %PROVIDER_MODEL = ("$HAIKU\@anthropic" => 'claude-haiku-4-5',
	"$HAIKU\@bedrock" => 'claude-3-haiku-20240307',
	"$SONNET\@anthropic" => 'claude-sonnet-4-5');

# a phase: its calls, each answered with no error, by SERVED (the public
# id) from DEPLOYMENT (the access log)

sub phase {
	my ($name, $calls, $public, $deployment) = @_;

	push @calls, split /,/, $calls;

	my @res = clients($calls);
	my @want = split /,/, $calls;
	is(scalar @res, scalar @want, "$name: every client ran");

	for my $r (@res) {
		my $what = "$name: $r->{sdk}" . ($r->{stream} ? ' stream' : '');
		is($r->{error}, undef, "$what: no error");
		is($r->{served}, $public, "$what: x-tokenroute-model $public");
		my $model = $r->{sdk} eq 'openai' ? $public
			: $PROVIDER_MODEL{$deployment};
		is($r->{model}, $model, "$what: the answer's model is $model");
		like($r->{text} // '', qr/^Hello from (mock|bedrock)/,
			"$what: the answer");
	}

	my @lines;
	$t->wait_until(5, sub {
		@lines = logged();
		@lines >= $served_n + @want;
	});
	my @mine = @lines[$served_n .. $#lines];
	$served_n = @lines;

	is(scalar @mine, scalar @want, "$name: logged");
	is_deeply([ map { $_->{deployment} } @mine ],
		[ ($deployment) x @want ], "$name: $deployment served");
	is_deeply([ map { "$_->{status} $_->{served}" } @mine ],
		[ ("200 $public") x @want ], "$name: 200, served as $public");

	return @mine;
}

chdir $SDK or die "$SDK: $!\n";

###############################################################################

# 1. all healthy: Haiku on Anthropic serves

my @log = phase('healthy', $ALL, $HAIKU, "$HAIKU\@anthropic");
is(scalar $t->mock_requests('bedrock'), 0, 'healthy: nothing to Bedrock');

###############################################################################

# 2. a quota event on Anthropic's Haiku: Haiku on Bedrock serves, signed;
# the cooled deployment gets no other attempt during its window

$t->mock_outage('mock', 'claude-haiku-4-5' => "429 $ANT_WINDOW");

push @log, phase('anthropic 429',
	'anthropic:stream,openai:plain,openai:stream,anthropic:plain', $HAIKU,
	"$HAIKU\@bedrock");

my @ant429 = grep { $_->{response}{status} == 429 }
	attempts('mock', qr/claude-haiku-4-5/);
is(scalar @ant429, 1, 'anthropic 429: one attempt on the cooled deployment');
my $ant_until = ($ant429[0]{time} // 0) + $ANT_WINDOW;
is($log[4]{attempts}, 2, 'anthropic 429: its first request made 2 attempts');

# the fleet's cooldown: the deployment's, not the public model's
sub fleet_cooldown {
	my ($id, $until) = @_;

	my $v = $t->wait_until(2, sub { $t->redis('HGET', 'tr:cooldown', $id) });
	my ($ms, $status) = split / /, $v // '';
	ok(defined $ms && $status eq '429' && abs($ms / 1000 - $until) < 1.5,
		"fleet: $id cools until its window's end") or diag($v);
	is_deeply([ grep { !/\@/ } @{ $t->redis('HKEYS', 'tr:cooldown') } ], [],
		'fleet: no public model cools');
}
fleet_cooldown("$HAIKU\@anthropic", $ant_until);
is_deeply([ map { $_->{attempts} } @log[5 .. 7] ], [ 1, 1, 1 ],
	'anthropic 429: the next ones went straight to Bedrock');

my @br = attempts('bedrock', qr/claude-haiku-4-5/);
is(scalar @br, 4, 'anthropic 429: four requests to Bedrock');
is_deeply([ map { $_->{sigv4} } @br ], [ ('ok') x 4 ],
	'anthropic 429: each signed, the signature verified');
is_deeply([ map { $_->{headers}{'x-amz-security-token'} // '' } @br ],
	[ ($ENV{AWS_SESSION_TOKEN}) x 4 ],
	'anthropic 429: with the session token');
is_deeply([ map { $_->{path} =~ m{/(invoke(?:-with-response-stream)?)$} }
	@br ], [ qw(invoke-with-response-stream invoke
	invoke-with-response-stream invoke) ], 'anthropic 429: streams as streams');
is_deeply([ map { $_->{path} =~ m{^/model/([^/]+)/} } @br ],
	[ ('us.anthropic.claude-haiku-4-5-20251001-v1%3A0') x 4 ],
	'anthropic 429: the inference profile, percent-encoded');

###############################################################################

# 3. Bedrock's Haiku out too: Sonnet (on Anthropic) serves

$t->mock_outage('bedrock', 'claude-haiku-4-5' => "429 $BR_WINDOW");

push @log, phase('both out',
	'openai:stream,anthropic:plain,anthropic:stream,openai:plain', $SONNET,
	"$SONNET\@anthropic");

my @br429 = grep { $_->{response}{status} == 429 }
	attempts('bedrock', qr/claude-haiku-4-5/);
is(scalar @br429, 1, 'both out: one attempt on Bedrock\'s Haiku');
my $br_until = ($br429[0]{time} // 0) + $BR_WINDOW;
is($log[8]{attempts}, 2, 'both out: its first request made 2 attempts');
fleet_cooldown("$HAIKU\@bedrock", $br_until);
is_deeply([ map { $_->{attempts} } @log[9 .. 11] ], [ 1, 1, 1 ],
	'both out: the next ones went straight to Sonnet');
ok(time() < $ant_until, 'both out: still in Anthropic\'s window');
is(scalar(grep { $_->{response}{status} == 429 }
	attempts('mock', qr/claude-haiku-4-5/)), 1,
	'both out: no other attempt on Anthropic\'s cooled Haiku');

###############################################################################

# 4. recovery: Bedrock's window ends first (Anthropic's Haiku still cools):
# Haiku on Bedrock again; then Anthropic's, and it serves again

$t->mock_outage('bedrock');
$t->mock_outage('mock');

sleep($br_until - time() + 0.3) if time() < $br_until + 0.3;
ok(time() < $ant_until, 'recovery: Bedrock\'s window over, Anthropic\'s not');
push @log, phase('bedrock back', 'openai:plain,anthropic:stream', $HAIKU,
	"$HAIKU\@bedrock");

my @ant = attempts('mock', qr/claude-haiku-4-5/);
is(scalar(grep { $_->{time} > $ant429[0]{time} } @ant), 0,
	'no attempt on Anthropic\'s Haiku during its window');

sleep($ant_until - time() + 0.3) if time() < $ant_until + 0.3;
push @log, phase('anthropic back', 'openai:stream,anthropic:plain', $HAIKU,
	"$HAIKU\@anthropic");
is(scalar(attempts('mock', qr/claude-haiku-4-5/)), scalar(@ant) + 2,
	'anthropic back: its Haiku tried again');

###############################################################################

# Money.  Each request's reservation: the dearest deployment of its chain
# (Sonnet on Bedrock, an Anthropic-shape provider: any input token may be
# a 1-hour cache write), for its body's bytes and max_tokens.

my @P = @{ $PRICE{$DEAREST} };

is(scalar @log, scalar @calls, 'every request logged');

my @res;
for my $i (0 .. $#log) {
	my $l = $log[$i];
	my $max = $calls[$i] =~ /^openai/ ? 200 : 300;
	my $want = reserve(bytes => $l->{length}, max_tokens => $max,
		price => $P[0], out_price => $P[1], cached_price => $P[2],
		anthropic => 1);
	push @res, [ usd_nano($l->{reserved}), $want ];
}
is_deeply([ map { $_->[0] } @res ], [ map { $_->[1] } @res ],
	'each reservation: the dearest deployment\'s, exactly');

# Each charge: the tokens the serving mock reported, at the serving
# deployment's prices.  The mocks answered one request at a time: their
# 200s in time order are the log's lines in order.

my @ok = sort { $a->{time} <=> $b->{time} }
	grep { $_->{response}{status} == 200 }
	(map { $_->{mock} = 'anthropic'; $_ } $t->mock_requests('mock')),
	(map { $_->{mock} = 'bedrock'; $_ } $t->mock_requests('bedrock'));
is(scalar @ok, scalar @log, 'one answer from a mock per request');

my (@got, @want);
for my $i (0 .. $#log) {
	my ($l, $m) = ($log[$i], $ok[$i]);
	my $stream = $calls[$i] =~ /stream/;
	my $bedrock_stream = $m->{mock} eq 'bedrock' && $stream;
	my ($in, $o) = $bedrock_stream ? (11, 3)
		: (ceil(length($m->{body}) / 4), 3);
	my $p = $PRICE{ $l->{deployment} } // [ 0, 0, 0 ];
	my ($provider) = $l->{deployment} =~ /\@(\w+)$/;
	push @got, "$l->{deployment} by $m->{mock}: $l->{in} $l->{out} "
		. "$l->{cached} $l->{cw} $l->{estimated} " . usd_nano($l->{cost});
	push @want, "$l->{deployment} by " . ($provider // '?') . ": $in $o 0 0 0 "
		. cost(in => $in, out => $o, price => $p->[0],
			out_price => $p->[1], cached_price => $p->[2]);
}
is_deeply(\@got, \@want,
	'each charge: the mock\'s tokens at the serving deployment\'s prices');

# tokenroute usage: a row per deployment, adding up to the key's spend

my $usage = {};
$t->wait_until(5, sub {
	($rc, $out, $err) = $t->cli('usage', '--key', $key->{id}, '--by',
		'model', '--json');
	$usage = eval { decode_json($out) } // {};
	($usage->{total}{requests} // 0) == @log;
});
is($rc, 0, 'tokenroute usage --key ID --by model --json') or diag($err);
my %rows = map { ($_->{group} // '?') => $_ } @{ $usage->{rows} // [] };

my %by;
for my $l (@log) {
	$by{ $l->{deployment} }{requests}++;
	$by{ $l->{deployment} }{cost} += usd_nano($l->{cost});
}
is_deeply({ map { $_ => $rows{$_}{requests} } keys %rows },
	{ map { $_ => $by{$_}{requests} } keys %by },
	'usage: requests per deployment') or diag($out);
is_deeply({ map { $_ => $rows{$_}{requests} } keys %rows },
	{ "$HAIKU\@anthropic" => 4 + 2, "$HAIKU\@bedrock" => 4 + 2,
	"$SONNET\@anthropic" => 4 }, 'usage: the rows expected');
is_deeply({ map { $_ => "$rows{$_}{cost_nusd}" } keys %rows },
	{ map { $_ => "$by{$_}{cost}" } keys %by },
	'usage: each deployment\'s cost, the charges it served');

my $spent = $t->redis_hash('tr:key:' . $t->key_hash($key->{raw}))->{spent};
my $sum = 0;
$sum += $_->{cost_nusd} for values %rows;
ok($sum > 0, 'usage: a cost');
is($spent, $sum, 'the key\'s spend is the rows\' sum, to the nano-dollar');

###############################################################################

# The Docker image: the file mounted as conf.d/provider-anthropic.conf
# (replacing the shipped one, included when ANTHROPIC_API_KEY is set)
# loads in the configuration the entry point generates; mounted in http.d
# beside the shipped one it would clash (nginx -t of that configuration,
# the upstreams' hosts made local: no DNS in tests)

sub image_check {
	my ($where) = @_;

	my $root = "$d/image-$where";
	mkdir $_ for $root, "$root/etc", "$root/etc/conf.d", "$root/etc/http.d",
		"$root/run";
	my $repo = TokenRoute::Test->repo();
	for my $f (glob("$repo/conf.d/*.conf")) {
		open my $in, '<', $f or die "$f: $!\n";
		my $text = do { local $/; <$in> };
		$text =~ s/\bserver\s+[\w.-]+\.com:443;/server 127.0.0.1:1;/g;
		my $to = "$root/etc/conf.d/" . ($f =~ s{.*/}{}r);
		$to = $where eq 'conf.d' ? "$root/etc/conf.d/provider-anthropic.conf"
			: "$root/etc/http.d/seed.conf"
			if $f =~ /claude-anthropic-bedrock/;
		open my $o, '>', $to or die "$to: $!\n";
		print $o $text;
		close $o;
	}

	my $nenv = $t->_nginx_env;
	local @ENV{ keys %$nenv } = values %$nenv;
	local $ENV{ANTHROPIC_API_KEY} = 'sk-ant-test';
	local $ENV{TOKENROUTE_CONF_DIR} = "$root/etc";
	local $ENV{TOKENROUTE_RUN_DIR} = "$root/run";
	local $ENV{TOKENROUTE_MODULE} = $t->build_dir
		. '/ngx_http_tokenroute_module.so';
	local $ENV{TOKENROUTE_NGINX} = $t->{nginx};
	local $ENV{TOKENROUTE_RESOLVER} = 'off';
	local $ENV{TOKENROUTE_REDIS} = '127.0.0.1:1';

	my $out = `sh $repo/conf.d/docker-entrypoint.sh nginx -t -e stderr 2>&1`;
	return ($? >> 8, $out);
}

my ($code, $text) = image_check('conf.d');
is($code, 0, 'image: as conf.d/provider-anthropic.conf, it loads')
	or diag($text);
($code, $text) = image_check('http.d');
like($text, qr/\[emerg\].*duplicate/,
	'image: in http.d beside provider-anthropic.conf, it clashes');

done_testing();

###############################################################################
