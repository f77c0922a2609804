#!/usr/bin/perl

# (C) tokenroute authors

# End-to-end tests with the official SDKs from npm as the clients: the
# OpenAI SDK and the Anthropic SDK (t/sdk/*.test.mjs, node's built-in test
# runner), through the gateway, to the mock provider of each type: all four
# cells of the client shape x provider type matrix.  Each node test becomes
# one test here.
#
# The SDKs are installed in t/sdk/node_modules by the Makefile (npm ci).
# Without them, or without node, this file is skipped, unless
# TOKENROUTE_REQUIRE_SDK is set (as the Makefile's check targets do): then
# it fails.

###############################################################################

use warnings;
use strict;

use Test::More;

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Sdk qw(sdk_skip run_sdk);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my @FILES = sort glob("$TokenRoute::Sdk::SDK/*.test.mjs");

sdk_skip(@FILES);

my $t = TokenRoute::Test->new();

# providers nothing listens for: their ports are reserved now and released
# when nginx starts
$t->port('dead_openai');
$t->port('dead_anthropic');

my $extra = <<'EOF';
tokenroute_provider deadai type=openai url=http://127.0.0.1:%%PORT_dead_openai%%/v1 key_file=%%TESTDIR%%/openai.key;
tokenroute_provider deadant type=anthropic url=http://127.0.0.1:%%PORT_dead_anthropic%%/v1 key_env=TOKENROUTE_TEST_ANTHROPIC_KEY;
tokenroute_model openai/gpt-error-401 provider=mockai upstream_model=gpt-error-401 input_price=0.15 output_price=0.60;
tokenroute_model openai/gpt-error-429 provider=mockai upstream_model=gpt-error-429 input_price=0.15 output_price=0.60;
tokenroute_model openai/gpt-error-500 provider=mockai upstream_model=gpt-error-500 input_price=0.15 output_price=0.60;
tokenroute_model openai/gpt-unreachable provider=deadai upstream_model=gpt-unreachable input_price=0.15 output_price=0.60;
tokenroute_model anthropic/claude-error-401 provider=mockant upstream_model=claude-error-401 input_price=1 output_price=5;
tokenroute_model anthropic/claude-error-429 provider=mockant upstream_model=claude-error-429 input_price=1 output_price=5;
tokenroute_model anthropic/claude-error-500 provider=mockant upstream_model=claude-error-500 input_price=1 output_price=5;
tokenroute_model anthropic/claude-unreachable provider=deadant upstream_model=claude-unreachable input_price=1 output_price=5;
tokenroute_model anthropic/claude-cache1h provider=mockant upstream_model=claude-usage-100-7-cached-40-cwrite-30-cwrite1h-50 input_price=1 output_price=5;
EOF

$t->start_gateway(http => $extra, mock => { delay => 0.05 });

# every model the configuration declares, in order
my ($http) = $t->default_conf();
my @models = ($http . $extra) =~ /^\s*tokenroute_model\s+(\S+)/mg;

my @limited = ('openai/gpt-4o-mini', 'anthropic/claude-haiku-4-5');

my $key = $t->create_key(name => 'sdk');
my $limited = $t->create_key(name => 'sdk-limited', models => \@limited);
my $broke = $t->create_key(name => 'sdk-broke', account => 'broke',
	fund => 0);

# rate limits (README "Rate limits"), set on the key records: one request
# at once, and one already in flight that never ends (429, Retry-After 1);
# tpm 1, which no request fits (429, never retried)
my $busy = $t->create_key(name => 'sdk-busy');
$t->redis('HSET', 'tr:key:' . $t->key_hash($busy->{raw}),
	concurrency => 1, inflight => 1);
my $tiny = $t->create_key(name => 'sdk-tpm');
$t->redis('HSET', 'tr:key:' . $t->key_hash($tiny->{raw}), tpm => 1);

# a key of a tenant with no room left (README "Tenants under one bill")
my $tenant = $t->create_key(name => 'sdk-tenant', account => 'sdk-tenant');
$t->redis('HSET', 'tr:tenant:sdk-tenant|crew', name => 'crew',
	account => 'sdk-tenant', limit => 0);
$t->redis('SADD', 'tr:tenants:sdk-tenant', 'crew');
$t->redis('HSET', 'tr:key:' . $t->key_hash($tenant->{raw}), tenant => 'crew');

# well-formed, but no such key
my @b64 = ('A' .. 'Z', 'a' .. 'z', 0 .. 9, '-', '_');
my $bad = 'sk-tr-' . join('', map { $b64[rand @b64] } 1 .. 43);

my %env = (
	TOKENROUTE_URL => 'http://127.0.0.1:' . $t->port('http'),
	TOKENROUTE_KEY => $key->{raw},
	TOKENROUTE_BAD_KEY => $bad,
	TOKENROUTE_BROKE_KEY => $broke->{raw},
	TOKENROUTE_BUSY_KEY => $busy->{raw},
	TOKENROUTE_TPM_KEY => $tiny->{raw},
	TOKENROUTE_TENANT_KEY => $tenant->{raw},
	TOKENROUTE_LIMITED_KEY => $limited->{raw},
	TOKENROUTE_LIMITED_MODELS => join(',', @limited),
	TOKENROUTE_MODELS => join(',', @models),
	TOKENROUTE_OPENAI_PROVIDER_KEY => $TokenRoute::Test::OPENAI_KEY,
	TOKENROUTE_ANTHROPIC_PROVIDER_KEY => $TokenRoute::Test::ANTHROPIC_KEY,
	TOKENROUTE_MOCK_RECORD => $t->testdir() . '/mock.jsonl',

	TOKENROUTE_OPENAI_MODEL => 'openai/gpt-4o-mini',
	TOKENROUTE_OPENAI_UPSTREAM => 'gpt-4o-mini-2024-07-18',
	TOKENROUTE_OPENAI_401_MODEL => 'openai/gpt-error-401',
	TOKENROUTE_OPENAI_429_MODEL => 'openai/gpt-error-429',
	TOKENROUTE_OPENAI_500_MODEL => 'openai/gpt-error-500',
	TOKENROUTE_OPENAI_UNREACHABLE_MODEL => 'openai/gpt-unreachable',

	TOKENROUTE_ANTHROPIC_MODEL => 'anthropic/claude-haiku-4-5',
	TOKENROUTE_ANTHROPIC_UPSTREAM => 'claude-haiku-4-5-20251001',
	TOKENROUTE_ANTHROPIC_401_MODEL => 'anthropic/claude-error-401',
	TOKENROUTE_ANTHROPIC_429_MODEL => 'anthropic/claude-error-429',
	TOKENROUTE_ANTHROPIC_500_MODEL => 'anthropic/claude-error-500',
	TOKENROUTE_ANTHROPIC_UNREACHABLE_MODEL => 'anthropic/claude-unreachable',
);

run_sdk(\%env, @FILES);

done_testing();

###############################################################################
