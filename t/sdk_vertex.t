#!/usr/bin/perl

# (C) tokenroute authors

# The official SDKs against Claude on Vertex AI (type=vertex): starts the
# gateway and the Vertex mock (t/lib/mock_vertex.pl, whose token endpoint
# verifies the service account's signed assertion) and runs
# t/sdk/providers/vertex.test.mjs with node.

###############################################################################

use warnings;
use strict;

use Test::More;

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Sdk qw(sdk_skip run_sdk);
use TokenRoute::Vertex;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $file = TokenRoute::Test->repo() . '/t/sdk/providers/vertex.test.mjs';

sdk_skip($file);

my $t = TokenRoute::Test->new();
my $v = TokenRoute::Vertex->new($t);
$v->make_key('sa.json');
$v->start;

$t->start_gateway(http => <<'EOF2');
tokenroute_provider vx type=vertex url=http://127.0.0.1:%%PORT_vertex%%/v1/projects/tr-test/locations/us-east5 credentials_file=%%TESTDIR%%/sa.json;
tokenroute_model vertex/claude-haiku provider=vx upstream_model=claude-haiku-4-5@20251001-usage-30-20 input_price=1 output_price=5;
tokenroute_model vertex/missing provider=vx upstream_model=claude-error-404 input_price=1 output_price=5;
tokenroute_model vertex/bad provider=vx upstream_model=claude-garray-400 input_price=1 output_price=5;
EOF2

my $key = $t->create_key(name => 'sdk-vertex');

run_sdk({
	TOKENROUTE_URL => 'http://127.0.0.1:' . $t->port('http'),
	TOKENROUTE_KEY => $key->{raw},
	TOKENROUTE_VERTEX_MODEL => 'vertex/claude-haiku',
	TOKENROUTE_VERTEX_404_MODEL => 'vertex/missing',
	TOKENROUTE_VERTEX_400_MODEL => 'vertex/bad',
	TOKENROUTE_VERTEX_RECORD => $t->testdir . '/vertex/requests.jsonl',
}, $file);

is(scalar $v->requests('token'), 1, 'one token fetch for every SDK call');

done_testing();
