#!/usr/bin/perl

# (C) tokenroute authors

# The seed's walkthrough, with the files we ship: a key for an agent
# runtime made by the CLI, an OpenAI-compatible client (the official
# openai npm package) pointed at the gateway, conf.d/provider-anthropic.conf
# as shipped (Claude Haiku 4.5 primary, Sonnet 4.5 its fallback) with only
# its address and key variable pointed at the mock provider, a quota event
# on Haiku the client never sees, and the spend watched with tokenroute
# usage.

###############################################################################

use warnings;
use strict;

use Test::More;
use JSON::PP;
use IPC::Open3;
use Symbol qw(gensym);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $SDK = TokenRoute::Test->repo() . '/t/sdk';

unless (-d "$SDK/node_modules/openai" && TokenRoute::Test::_which('node')) {
	plan(skip_all => 'the openai npm package or node is missing '
		. '(make test installs it)')
		unless $ENV{TOKENROUTE_REQUIRE_SDK};
}

my $t = TokenRoute::Test->new();
$t->start_redis();
$t->start_mock(delay => 0.01);

# the shipped provider file, pointed at the mock: the upstream's server,
# the url's scheme and host, the key's variable; nothing else changes
my $file = TokenRoute::Test->repo() . '/conf.d/provider-anthropic.conf';
open my $fh, '<', $file or die "$file: $!\n";
my $shipped = do { local $/; <$fh> };
close $fh;

(my $conf = $shipped) =~ s/^(\s*server\s+)api\.anthropic\.com:443;/${1}127.0.0.1:%%MOCK_PORT%%;/m;
$conf =~ s{url=https://api\.anthropic\.com}{url=http://127.0.0.1:%%MOCK_PORT%%};
$conf =~ s/key_env=ANTHROPIC_API_KEY/key_env=TOKENROUTE_TEST_ANTHROPIC_KEY/;

isnt($conf, $shipped, 'the shipped Anthropic provider file was found');
like($conf, qr/127\.0\.0\.1:%%MOCK_PORT%%;/, 'its upstream server replaced');
like($conf, qr{url=http://127\.0\.0\.1:%%MOCK_PORT%%}, 'its url replaced');

# the seed's chain, as shipped
like($shipped, qr{tokenroute_model\s+anthropic/claude-haiku-4-5\b[^;]*
	\bfallback=anthropic/claude-sonnet-4-5\b}x,
	'the shipped file: Haiku 4.5 falls back to Sonnet 4.5');

my (undef, $server) = $t->default_conf();
$t->write_nginx_conf("tokenroute_redis 127.0.0.1:%%REDIS_PORT%%;\n$conf",
	$server);
$t->start_nginx();

# 1. a key for the agent runtime
my ($rc, $out, $err) = $t->cli('keys', 'create', '--name', 'agent-runtime',
	'--json');
is($rc, 0, 'tokenroute keys create --name agent-runtime --json') or diag($err);
my $key = eval { decode_json($out) } // {};
like($key->{raw} // '', qr/^sk-tr-/, 'the raw key');

($rc, $out, $err) = $t->cli('credit', 'add', '--account', 'default',
	'--amount', '5', '--idempotency-key', 'walkthrough');
is($rc, 0, 'credit for the account') or diag($err);

# 2. an OpenAI-compatible client pointed at the gateway asks for Haiku
my $GATEWAY = 'http://127.0.0.1:' . $t->port('http') . '/v1';

sub client {
	my ($stream) = @_;

	my $js = <<'JS';
import OpenAI from 'openai';
const client = new OpenAI({ baseURL: process.env.GW, apiKey: process.env.KEY,
    maxRetries: 0 });
const ask = { model: 'anthropic/claude-haiku-4-5', max_tokens: 64,
    messages: [{ role: 'user', content: 'Hi from the agent runtime' }] };
let out;
if (process.env.STREAM === '1') {
    const { data, response } = await client.chat.completions.create(
        { ...ask, stream: true, stream_options: { include_usage: true } })
        .withResponse();
    let text = '', usage = null;
    for await (const c of data) {
        text += c.choices[0]?.delta?.content ?? '';
        if (c.usage) usage = c.usage;
    }
    out = { text, usage, served: response.headers.get('x-tokenroute-model') };
} else {
    const { data, response } = await client.chat.completions.create(ask)
        .withResponse();
    out = { text: data.choices[0].message.content, usage: data.usage,
        served: response.headers.get('x-tokenroute-model') };
}
console.log(JSON.stringify(out));
JS

	local $ENV{GW} = $GATEWAY;
	local $ENV{KEY} = $key->{raw} // '';
	local $ENV{STREAM} = $stream ? 1 : 0;

	my ($in, $o, $e) = (undef, undef, gensym);
	my $pid = open3($in, $o, $e, 'node', '--input-type=module', '-e', $js);
	close $in;
	my $stdout = do { local $/; <$o> } // '';
	my $stderr = do { local $/; <$e> } // '';
	waitpid($pid, 0);

	my $res = eval { decode_json($stdout) } // {};
	return ($res, "$stderr$stdout", $? >> 8);
}

chdir $SDK or die "$SDK: $!\n";

my ($res, $log, $code) = client(0);
is($code, 0, 'the OpenAI SDK, Haiku') or diag($log);
is($res->{served}, 'anthropic/claude-haiku-4-5', 'Haiku served it');
is($res->{text}, 'Hello from mock', 'the answer, translated');

my @seen = map { $_->{body} =~ /"model"\s*:\s*"([^"]+)"/ ? $1 : '?' }
	$t->mock_requests('mock');
is_deeply(\@seen, ['claude-haiku-4-5'], 'one attempt, at Haiku');

# 3. a quota event on Haiku: the next requests go to Sonnet, unseen
$t->clear_mock_requests('mock');
$t->mock_outage('mock', 'claude-haiku-4-5' => '429 30');

($res, $log, $code) = client(0);
is($code, 0, 'Haiku has a quota event: the client gets an answer') or diag($log);
is($res->{served}, 'anthropic/claude-sonnet-4-5', 'Sonnet served it');
is($res->{text}, 'Hello from mock', 'the answer');

($res, $log, $code) = client(1);
is($code, 0, 'and a stream') or diag($log);
is($res->{served}, 'anthropic/claude-sonnet-4-5', 'Sonnet served the stream');
is($res->{text}, 'Hello from mock', 'the streamed answer');
ok($res->{usage} && $res->{usage}{completion_tokens},
	'the stream ends with its usage');

@seen = map { $_->{body} =~ /"model"\s*:\s*"([^"]+)"/ ? $1 : '?' }
	$t->mock_requests('mock');
is_deeply(\@seen, ['claude-haiku-4-5', 'claude-sonnet-4-5',
	'claude-sonnet-4-5'],
	'Haiku tried once, then cooled: the stream went to Sonnet at once');

# 4. watch the usage: the spend, per model, to the nano-dollar
# settlements are sent as each answer ends: wait for the third
my $usage = {};
$t->wait_until(5, sub {
	($rc, $out, $err) = $t->cli('usage', '--key', $key->{id}, '--by',
		'model', '--json');
	$usage = eval { decode_json($out) } // {};
	($usage->{total}{requests} // 0) == 3;
});
is($rc, 0, 'tokenroute usage --key ID --by model --json') or diag($err);
my %rows = map { ($_->{group} // "?") => $_ } @{ $usage->{rows} // [] };
is($rows{'anthropic/claude-haiku-4-5'}{requests}, 1, 'one request on Haiku')
	or diag($out);
is($rows{'anthropic/claude-sonnet-4-5'}{requests}, 2,
	'two on Sonnet, its fallback');

my $spent = $t->redis_hash("tr:key:" . $t->key_hash($key->{raw}))->{spent};
my $sum = 0;
$sum += $_->{cost_nusd} // 0 for values %rows;
ok($sum > 0, 'the usage report has a cost');
is($spent, $sum, "the key's spend is the report's sum, to the nano-dollar");

done_testing();

###############################################################################
