#!/usr/bin/perl

# (C) tokenroute authors

# Tests for one public model served by several deployments (README
# "Deployments"): tokenroute_deployment, weighted spreading counted exactly
# by three mock providers' records, a deployment's cooldown that leaves its
# siblings serving, priorities, the fallback model after every deployment
# failed, the reservation at the dearest deployment and the charge at the
# one that served (to the nano-dollar), usage rows per deployment, the
# variables, configuration errors and a reload.

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Math::BigInt;
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::Money qw(usd_nano nano_usd cost reserve utc_day);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

# three providers on three mocks: "mock" (the default conf's mockai and
# mockant), "mock2" and "mock3"
my $PROVIDERS = <<'EOF';
tokenroute_provider ant2 type=anthropic url=http://127.0.0.1:%%PORT_mock2%%/v1 key_env=TOKENROUTE_TEST_ANTHROPIC_KEY;
tokenroute_provider oai2 type=openai url=http://127.0.0.1:%%PORT_mock2%%/v1 key_file=%%TESTDIR%%/openai.key;
tokenroute_provider oai3 type=openai url=http://127.0.0.1:%%PORT_mock3%%/v1 key_file=%%TESTDIR%%/openai.key;
EOF

my ($CI, $CO, $DI, $DO) = ('0.333333', '1.777777', '3.000001', '15.000007');

sub conf {
	my ($w1, $w2) = @_;

	return $PROVIDERS . <<"EOF";
tokenroute_cooldown 30s failures=1;
tokenroute_model d/w input_price=1 output_price=5;
tokenroute_deployment d/w provider=mockai upstream_model=gpt-w1-usage-10-5 weight=$w1;
tokenroute_deployment d/w provider=oai2 upstream_model=gpt-w2-usage-10-5 weight=$w2;
tokenroute_deployment d/w provider=oai3 upstream_model=gpt-w3-usage-10-5 priority=2 name=w-backup;
tokenroute_model d/cool input_price=1 output_price=5;
tokenroute_deployment d/cool provider=mockant upstream_model=claude-cool-error-429-ra30;
tokenroute_deployment d/cool provider=ant2 upstream_model=claude-cool-usage-10-5;
tokenroute_model d/prio input_price=1 output_price=5;
tokenroute_deployment d/prio provider=oai3 upstream_model=gpt-prio3-usage-10-5 priority=3;
tokenroute_deployment d/prio provider=mockai upstream_model=gpt-prio1-error-503 priority=1;
tokenroute_deployment d/prio provider=oai2 upstream_model=gpt-prio2-usage-10-5 priority=2;
tokenroute_model d/allfail input_price=1 output_price=5 fallback=d/next;
tokenroute_deployment d/allfail provider=mockai upstream_model=gpt-all1-error-500;
tokenroute_deployment d/allfail provider=oai2 upstream_model=gpt-all2-error-500;
tokenroute_model d/next provider=oai3 upstream_model=gpt-next-usage-10-5 input_price=1 output_price=5;
tokenroute_model d/money input_price=$CI output_price=$CO;
tokenroute_deployment d/money provider=mockai upstream_model=gpt-cheap-usage-40-567;
tokenroute_deployment d/money provider=oai2 upstream_model=gpt-dear-usage-40-567 input_price=$DI output_price=$DO priority=2;
tokenroute_model d/ct input_price=1 output_price=5;
tokenroute_deployment d/ct provider=mockant upstream_model=claude-ct-usage-10-5;
tokenroute_deployment d/ct provider=oai2 upstream_model=gpt-ct-usage-10-5;
tokenroute_model d/fa input_price=1 output_price=5;
tokenroute_deployment d/fa provider=mockai upstream_model=gpt-fa1-usage-10-5 weight=3;
tokenroute_deployment d/fa provider=oai3 upstream_model=gpt-fa2-usage-10-5 weight=1;
tokenroute_model d/fb provider=oai2 upstream_model=gpt-fb-usage-10-5 input_price=1 output_price=5 fallback=d/fa;
log_format dep '\$tokenroute_request_id \$tokenroute_served_model \$tokenroute_deployment \$tokenroute_provider';
access_log %%TESTDIR%%/dep.log dep;
EOF
}

$t->start_redis();
$t->start_mock(name => 'mock2');
$t->start_mock(name => 'mock3');
$t->start_gateway(http => conf(3, 1),
	server => "location = /metrics {\n    tokenroute_metrics;\n}\n");

my $key = $t->create_key(name => 'dep', account => 'dep');

sub post {
	my ($model, %o) = @_;

	return $t->http(method => 'POST', path => '/v1/chat/completions',
		headers => [ Authorization => 'Bearer ' . ($o{key} // $key)->{raw},
			'Content-Type' => 'application/json' ],
		body => $o{body} // { model => $model, max_tokens => 50,
			messages => [ { role => 'user', content => 'Hi' } ] },
		timeout => 10);
}

sub upstream {
	my ($mock) = @_;
	return map { $_->{json} ? $_->{json}{model} : () }
		$t->mock_requests($mock);
}

sub clear { $t->clear_mock_requests($_) for qw(mock mock2 mock3) }

sub count {
	my ($mock, $re) = @_;
	return scalar grep { /$re/ } upstream($mock);
}

sub log_line {
	my ($rid) = @_;

	my $line;
	$t->wait_until(3, sub {
		open my $fh, '<', $t->testdir . '/dep.log' or return;
		($line) = grep { /^$rid / } <$fh>;
		return $line;
	});
	chomp $line if defined $line;
	return $line // '';
}

###############################################################################

# Weights 3 and 1: smooth weighted round robin, w1 w1 w2 w1, so 40
# requests are exactly 30 and 10; the priority-2 deployment gets none.

clear();

my @served;
for (1 .. 40) {
	my $r = post('d/w');
	push @served, $r->{status};
	is($r->{headers}{'x-tokenroute-model'}, 'd/w',
		'x-tokenroute-model is the public id') if $_ == 1;
}
is(scalar(grep { $_ == 200 } @served), 40, 'weighted: 40 answers');
is(count('mock', qr/^gpt-w1/), 30, 'weighted: weight 3 served 30 of 40');
is(count('mock2', qr/^gpt-w2/), 10, 'weighted: weight 1 served 10 of 40');
is(count('mock3', qr/^gpt-w3/), 0, 'weighted: priority 2 served none');

# metrics: asked by the public id, served by the deployment
sub metric {
	my ($series) = @_;
	my $body = $t->http(method => 'GET', path => '/metrics')->{body} // '';
	my ($v) = $body =~ /^\Q$series\E (\d+)$/m;
	return $v // 'none';
}
my $M = 'tokenroute_requests_total{model="d/w",served_model="%s",'
	. 'provider="%s",api="openai",status="2xx"}';
$t->wait_until(3, sub { metric(sprintf $M, 'd/w@oai2', 'oai2') eq '10' });
is(metric(sprintf $M, 'd/w@mockai', 'mockai'), 30,
	'metrics: requests_total, asked d/w, served by d/w@mockai');
is(metric(sprintf $M, 'd/w@oai2', 'oai2'), 10,
	'metrics: requests_total, asked d/w, served by d/w@oai2');
is(metric('tokenroute_tokens_total{model="d/w@oai2",type="output"}'), 50,
	'metrics: tokens_total by deployment');
is(metric('tokenroute_attempts_total{model="d/w"}'), 40,
	'metrics: attempts_total by the public model');
# the order itself: smooth, not 30 in a row
clear();
my @order;
for (1 .. 8) {
	my $r = post('d/w');
	my $rid = $r->{headers}{'x-tokenroute-request-id'} // '';
	my (undef, undef, $dep) = split / /, log_line($rid);
	push @order, $dep // '';
}
is_deeply(\@order, [ ('d/w@mockai') x 2, 'd/w@oai2', 'd/w@mockai',
	('d/w@mockai') x 2, 'd/w@oai2', 'd/w@mockai' ],
	'weighted: the order is smooth (w1 w1 w2 w1)');

# the variables of one request
my $r = post('d/w');
my @f = split / /, log_line($r->{headers}{'x-tokenroute-request-id'} // '-');
is_deeply([ @f[1 .. 3] ], [ 'd/w', 'd/w@mockai', 'mockai' ],
	'variables: served model public, deployment and its provider');

# a key limited to the public model is served by its deployments
my $limited = $t->create_key(account => 'lim', models => [ 'd/w' ]);
is(post('d/w', key => $limited)->{status}, 200,
	'a key allowed d/w may use its deployments');
is(post('d/w', key => $limited)->{status}, 200,
	'a key allowed d/w may use its deployments (the other one)');
is(post('d/prio', key => $limited)->{status}, 403,
	'a key not allowed d/prio may not');

###############################################################################

# A 429 cools one deployment (retry-after 30), not its sibling: the
# request goes on to the sibling, later ones never try the cooled one.

clear();

$r = post('d/cool');
is($r->{status}, 200, 'cooldown: the client sees no error');
is($r->{headers}{'x-tokenroute-model'}, 'd/cool', 'cooldown: public id');
is($r->{headers}{'x-tokenroute-attempts'}, 2, 'cooldown: after 2 attempts');
is(count('mock', qr/cool/), 1, 'cooldown: the 429 deployment tried once');

my $ok = 0;
for (1 .. 10) {
	$ok++ if post('d/cool')->{status} == 200;
}
is($ok, 10, 'cooldown: the sibling keeps serving');
is(count('mock', qr/cool/), 1, 'cooldown: zero attempts on the cooled one');
is(count('mock2', qr/cool/), 11, 'cooldown: the sibling served all 11');
like($t->error_log, qr/"d\/cool\@mockant" cools down/,
	'cooldown: error.log names the deployment');
unlike($t->error_log, qr/"d\/cool\@ant2" cools down/,
	'cooldown: not its sibling');

# the other models of the same provider do not cool either
clear();
is(post('d/w')->{status}, 200, 'cooldown: another model on mockai serves');

###############################################################################

# Priorities: 1 first, then 2; 3 is never reached.

clear();

$r = post('d/prio');
is($r->{status}, 200, 'priority: answered');
is_deeply([ upstream('mock'), upstream('mock2') ],
	[ 'gpt-prio1-error-503', 'gpt-prio2-usage-10-5' ],
	'priority: 1 tried, then 2 served');
is(count('mock3', qr/prio/), 0, 'priority: 3 not tried');

###############################################################################

# Every deployment fails: the model's fallback serves.

clear();

$r = post('d/allfail');
is($r->{status}, 200, 'all fail: the client sees no error');
is($r->{headers}{'x-tokenroute-model'}, 'd/next', 'all fail: d/next served');
is($r->{headers}{'x-tokenroute-attempts'}, 3, 'all fail: 3 attempts');
is(count('mock', qr/all1/) + count('mock2', qr/all2/), 2,
	'all fail: both deployments tried');
is(count('mock3', qr/next/), 1, 'all fail: then the fallback model');

###############################################################################

# A request only some deployments can serve goes to one of those, whatever
# the weighted pick: count_tokens to the Anthropic-type one, embeddings to
# the OpenAI-type one; chat still spreads over both.

clear();

my %ct;
for (1 .. 6) {
	my $r = $t->http(method => 'POST', path => '/v1/messages/count_tokens',
		headers => [ 'x-api-key' => $key->{raw},
			'anthropic-version' => '2023-06-01',
			'Content-Type' => 'application/json' ],
		body => { model => 'd/ct',
			messages => [ { role => 'user', content => 'Hi' } ] },
		timeout => 10);
	$ct{$r->{status}}++;
}
is($ct{200} // 0, 6, 'count_tokens: 6 of 6 served') or diag(explain(\%ct));
is(count('mock', qr/^claude-ct/), 6,
	'count_tokens: by the Anthropic-type deployment');

clear();
my %emb;
for (1 .. 6) {
	my $r = $t->http(method => 'POST', path => '/v1/embeddings',
		headers => [ Authorization => "Bearer $key->{raw}",
			'Content-Type' => 'application/json' ],
		body => { model => 'd/ct', input => 'Hi' }, timeout => 10);
	$emb{$r->{status}}++;
}
is($emb{200} // 0, 6, 'embeddings: 6 of 6 served') or diag(explain(\%emb));
is(count('mock2', qr/^gpt-ct/), 6,
	'embeddings: by the OpenAI-type deployment');

clear();
post('d/ct') for 1 .. 6;
is(count('mock', qr/^claude-ct/), 3, 'chat: 3 of 6 on the Anthropic one');
is(count('mock2', qr/^gpt-ct/), 3, 'chat: 3 of 6 on the OpenAI one');

###############################################################################

# A model that is another's fallback keeps its own weights: requests to
# d/fb (served by its own deployment, d/fa its fallback) interleaved with
# d/fa's take no step of d/fa's rotation, which stays 3 to 1.

clear();
for (1 .. 8) {
	is(post('d/fb')->{status}, 200, 'interleaved: d/fb served') if $_ == 1;
	post('d/fb') if $_ > 1;
	post('d/fa');
}
is(count('mock2', qr/^gpt-fb/), 8, 'interleaved: d/fb served all of its 8');
is(count('mock', qr/^gpt-fa1/), 6, 'interleaved: d/fa weight 3 served 6 of 8');
is(count('mock3', qr/^gpt-fa2/), 2, 'interleaved: d/fa weight 1 served 2 of 8');

###############################################################################

# Money: reserve at the dearest deployment of the chain, charge at the one
# that served (the cheap one, priority 1).

my $body = '{"model":"d/money","messages":[{"role":"user","content":'
	. '"What does this cost?"}],"max_tokens":1000}';
my $R = reserve(bytes => length($body), max_tokens => 1000,
	price => usd_nano($DI), out_price => usd_nano($DO));
my $Rcheap = reserve(bytes => length($body), max_tokens => 1000,
	price => usd_nano($CI), out_price => usd_nano($CO));
cmp_ok($R, '>', $Rcheap, 'money: the dear deployment reserves more');

my $under = $t->create_key(account => 'm1', limit => nano_usd($R - 1));
$r = post('d/money', key => $under, body => $body);
is($r->{status}, 402, 'money: limit = dearest reserve - 1: 402');
my ($upto) = ($r->{json}{error}{message} // '')
	=~ /up to \$?([0-9]+(?:\.[0-9]+)?) USD/;
is(defined $upto ? usd_nano($upto) : undef, $R,
	'money: the reservation is the dearest deployment\'s, exactly');

my $exact = $t->create_key(account => 'm2', limit => nano_usd($R));
my $t0 = time();
$r = post('d/money', key => $exact, body => $body);
is($r->{status}, 200, 'money: limit = dearest reserve: admitted');

my $C = cost(in => 40, out => 567, price => usd_nano($CI),
	out_price => usd_nano($CO));
my $k = $t->wait_until(3, sub {
	my $k = $t->redis_hash('tr:key:' . $t->key_hash($exact->{raw}));
	return (($k->{spent} // '') eq $C) ? $k : undef;
}) // {};
is($k->{spent} // 'undef', $C, 'money: charged at the cheap one, exactly');
is($k->{reserved} // 'undef', '0', 'money: reservation released');

my $h = $t->redis_hash('tr:u:d:' . utc_day($t0));
$h = $t->redis_hash('tr:u:d:' . utc_day(time())) unless %$h;
is($h->{"m2||$exact->{id}|d/money\@mockai|cost"}, $C,
	'money: the usage bucket names the deployment that served');

###############################################################################

# tokenroute usage: one row per deployment.

my %rows;
$t->wait_until(5, sub {
	my ($code, $out, $err) = $t->cli('usage', '--json', '--by', 'model',
		'--account', 'dep');
	my $j = eval { decode_json($out) } // {};
	%rows = map { $_->{group} => $_->{requests} } @{ $j->{rows} || [] };
	return ($rows{'d/next'} // 0) == 1 && ($rows{'d/cool@ant2'} // 0) == 11
		&& ($rows{'d/w@mockai'} // 0) == 38;
});
is($rows{'d/w@mockai'}, 30 + 6 + 1 + 1, 'usage: row of d/w@mockai');
is($rows{'d/w@oai2'}, 10 + 2, 'usage: row of d/w@oai2');
is($rows{'d/cool@ant2'}, 11, 'usage: row of d/cool@ant2');
is($rows{'d/next'}, 1, 'usage: a model of one deployment keeps its id');

###############################################################################

# Configuration errors.

sub check {
	my ($extra) = @_;
	return $t->nginx_check(http => $PROVIDERS . $extra);
}

my @bad = (
	[ "tokenroute_deployment x/none provider=mockai;\n",
		qr/unknown model "x\/none"/, 'deployment of an unknown model' ],
	[ "tokenroute_model x/a;\ntokenroute_deployment x/a provider=nope;\n",
		qr/unknown provider "nope"/, 'unknown provider' ],
	[ "tokenroute_model x/a;\ntokenroute_deployment x/a provider=mockai "
		. "weight=0;\n", qr/invalid weight/, 'weight 0' ],
	[ "tokenroute_model x/a;\ntokenroute_deployment x/a provider=mockai "
		. "weight=1001;\n", qr/invalid weight/, 'weight 1001' ],
	[ "tokenroute_model x/a;\ntokenroute_deployment x/a provider=mockai "
		. "priority=0;\n", qr/invalid priority/, 'priority 0' ],
	[ "tokenroute_model x/a;\ntokenroute_deployment x/a provider=mockai;\n"
		. "tokenroute_deployment x/a provider=mockai;\n",
		qr/duplicate deployment "x\/a\@mockai"/, 'duplicate deployment' ],
	[ "tokenroute_model x/a;\ntokenroute_deployment x/a provider=mockai "
		. "name=openai/gpt-4o-mini;\n",
		qr/duplicate deployment "openai\/gpt-4o-mini"/,
		'a deployment named as a model' ],
	[ "tokenroute_model x/a provider=mockai;\n"
		. "tokenroute_deployment x/a provider=oai2;\n",
		qr/has provider=/, 'a model with provider= and deployments' ],
	[ "tokenroute_model x/a;\n",
		qr/model "x\/a" needs provider= or tokenroute_deployment/,
		'a model with neither' ],
	[ "tokenroute_model x/a;\ntokenroute_deployment x/a provider=mockai;\n"
		. "tokenroute_model x/b provider=mockai fallback=x/a\@mockai;\n",
		qr/fallback "x\/a\@mockai" is a deployment/,
		'a fallback naming a deployment' ],
	[ "tokenroute_model x/a;\ntokenroute_deployment x/a provider=mockai "
		. "input_price=abc;\n", qr/invalid price/, 'a bad price' ],
	[ "tokenroute_model x/a;\ntokenroute_deployment x/a provider=mockai "
		. "name=a,b;\n", qr/invalid parameter "name=a,b"/, 'a bad name' ],
	[ "tokenroute_model x/a provider=mockai cache_write_1h_price=1.5x;\n",
		qr/invalid price "1.5x"/, 'a bad price of a model' ],
	[ "tokenroute_max_attempts 65;\n",
		qr/tokenroute_max_attempts must be 1 to 64/,
		'more attempts than a chain holds' ],
);

for my $b (@bad) {
	my $c = check($b->[0]);
	isnt($c->{rc}, 0, "nginx -t fails: $b->[2]");
	like($c->{out}, $b->[1], "nginx -t says why: $b->[2]")
		or diag($c->{out});
}

my $c = check("tokenroute_model x/a output_price=2;\n"
	. "tokenroute_deployment x/a provider=mockai weight=1000 priority=7;\n"
	. "tokenroute_deployment x/a provider=oai2 name=x-a-2;\n");
is($c->{rc}, 0, 'nginx -t: a valid model of deployments') or diag($c->{out});

# a chain of deployments may take more attempts than the 9 models a
# fallback= or a request's "models" names
$c = check("tokenroute_max_attempts 64;\n");
is($c->{rc}, 0, 'nginx -t: tokenroute_max_attempts 64') or diag($c->{out});

# the conf.d example loads (its hosts made the mock's: no network here)
{
	open my $fh, '<', $t->repo . '/conf.d/deployments.conf.example' or die;
	my $ex = join '', <$fh>;
	$ex =~ s{https://api\.anthropic\.com}{http://127.0.0.1:%%MOCK_PORT%%}g;
	$ex =~ s{anthropic/claude-}{ex/claude-}g;    # the default conf's ids
	my $c = $t->nginx_check(http => $ex);
	is($c->{rc}, 0, 'nginx -t: conf.d/deployments.conf.example')
		or diag($c->{out});
}

###############################################################################

# Reload with new weights: 1 and 1, exactly half each.

$t->write_nginx_conf(($t->default_conf())[0] . conf(1, 1),
	($t->default_conf())[1]);
$t->reload_nginx();

clear();
for (1 .. 20) {
	post('d/w');
}
is(count('mock', qr/^gpt-w1/), 10, 'reload: weight 1 served 10 of 20');
is(count('mock2', qr/^gpt-w2/), 10, 'reload: weight 1 served 10 of 20');

# the cooldown of a deployment outlives the reload (its id is the same)
clear();
is(post('d/cool')->{status}, 200, 'reload: d/cool answers');
is(count('mock', qr/cool/), 0, 'reload: the cooled deployment stays cooled');

###############################################################################

# Across a fleet: the cooldown is published under the deployment's id, and
# another gateway on the same Redis makes no attempt at that deployment,
# while its sibling serves there too.

ok($t->wait_until(3,
	sub { defined $t->redis('HGET', 'tr:cooldown', 'd/cool@mockant') }),
	'fleet: the cooldown is in Redis under the deployment id');
is($t->redis('HGET', 'tr:cooldown', 'd/cool@ant2'), undef,
	'fleet: its sibling has none');
is($t->redis('HGET', 'tr:cooldown', 'd/cool'), undef,
	'fleet: nor the public model');

$t->start_nginx_instance('b', http => conf(1, 1));
clear();

my @b;
for (1 .. 4) {
	push @b, $t->http(method => 'POST', path => '/v1/chat/completions',
		port => $t->port('b'),
		headers => [ Authorization => "Bearer $key->{raw}",
			'Content-Type' => 'application/json' ],
		body => { model => 'd/cool', max_tokens => 50,
			messages => [ { role => 'user', content => 'Hi' } ] },
		timeout => 10)->{status};
}
is_deeply(\@b, [ 200, 200, 200, 200 ], 'fleet: B answers');
is(count('mock', qr/cool/), 0, 'fleet: B made no attempt at the cooled one');
is(count('mock2', qr/cool/), 4, 'fleet: B\'s requests went to the sibling');

###############################################################################

# Translated for the client: the answer's model is the public id.

$r = $t->http(method => 'POST', path => '/v1/messages',
	headers => [ 'x-api-key' => $key->{raw},
		'anthropic-version' => '2023-06-01',
		'Content-Type' => 'application/json' ],
	body => { model => 'd/prio', max_tokens => 50,
		messages => [ { role => 'user', content => 'Hi' } ] },
	timeout => 10);
is($r->{status}, 200, 'translated: answered');
is($r->{json}{model}, 'd/prio', 'translated: the answer names the public id');
is($r->{headers}{'x-tokenroute-model'}, 'd/prio',
	'translated: x-tokenroute-model');

# a translated stream (Anthropic deployments, an OpenAI client): each
# chunk names the public id
$r = $t->http_stream(method => 'POST', path => '/v1/chat/completions',
	headers => [ Authorization => "Bearer $key->{raw}",
		'Content-Type' => 'application/json' ],
	body => { model => 'd/cool', max_tokens => 50, stream => JSON::PP::true,
		messages => [ { role => 'user', content => 'Hi' } ] },
	timeout => 10);
is($r->{status}, 200, 'translated stream: answered');
my @models = map { my $j = eval { decode_json($_->{data}) };
	$j && $j->{model} ? $j->{model} : () } @{ $r->{sse} || [] };
ok(@models > 1, 'translated stream: chunks with a model');
is_deeply([ grep { $_ ne 'd/cool' } @models ], [],
	'translated stream: every chunk names the public id');

done_testing();
