#!/usr/bin/perl

# (C) tokenroute authors

# Cooldowns shared by a fleet, against a hostile or damaged tr:cooldown
# (README "Cooldowns across a fleet"): a deadline far in the future is
# damaged, not a cooldown for ever; a status that is not 3 digits is
# damaged and does not hide the good entries; ten thousand entries over
# never fail an admission and are pruned in bounded steps; a reload that
# renames a model does not hand it another model's cooldown, and many
# reloads with changing model lists do not exhaust the cooldown zone.

###############################################################################

use warnings;
use strict;

use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

my $OK = 'gpt-ok-usage-10-5';

sub models {
	my (%o) = @_;
	my $a = $o{a} // 'f/a';
	my $extra = $o{extra} // '';
	return <<"EOF" . $extra;
tokenroute_cooldown 3s failures=2;
tokenroute_model $a provider=mockai upstream_model=gpt-a-error-429-ra60 input_price=1 output_price=1 fallback=f/ok;
tokenroute_model f/b provider=mockai upstream_model=gpt-b-error-429-ra60 input_price=1 output_price=1 fallback=f/ok;
tokenroute_model f/c provider=mockai upstream_model=gpt-c-ok-usage-10-5 input_price=1 output_price=1 fallback=f/ok;
tokenroute_model f/d provider=mockai upstream_model=gpt-d-ok-usage-10-5 input_price=1 output_price=1 fallback=f/ok;
tokenroute_model f/ok provider=mockai upstream_model=$OK input_price=1 output_price=1;
EOF
}

$t->start_gateway(http => models());

my $key = $t->create_key(name => 'hostile', account => 'hostile');

sub chat {
	my ($model) = @_;
	return $t->http(
		method => 'POST',
		path => '/v1/chat/completions',
		headers => {
			Authorization => "Bearer $key->{raw}",
			'content-type' => 'application/json',
		},
		body => { model => $model, max_tokens => 20,
			messages => [ { role => 'user', content => 'Hi' } ] },
		timeout => 20,
	);
}

sub tried {
	my ($upstream) = @_;
	return scalar grep { $_->{json} && ($_->{json}{model} // '') eq $upstream }
		$t->mock_requests;
}

sub now_ms { int(time() * 1000) }

# a version no gateway has seen yet
my $version = 0;
sub news { $t->redis('SET', 'tr:cooldown:v', now_ms() + ++$version) }

my $sha = $t->redis('SCRIPT', 'LOAD', $t->script_text('admission'));

sub fleet {
	my ($arg) = @_;
	my $r = $t->redis('EVALSHA', $sha, 0, int(time()), int(time()) + 60,
		$arg);
	return $r->[-1];
}

###############################################################################

# 1. A deadline beyond now + 1 h (the cap of a window) is damaged: not
# learned, deleted, not accepted when published.

$t->redis('HSET', 'tr:cooldown', 'f/c', '999999999999999 429');
news();

$t->clear_mock_requests;
my $r = chat('f/c');
is($r->{status}, 200, 'far deadline: 200');
is($r->{headers}{'x-tokenroute-model'}, 'f/c',
	'a deadline years ahead does not cool the model');
ok(!defined $t->redis('HGET', 'tr:cooldown', 'f/c'), 'and is deleted');

my $ms = now_ms();
$t->redis('DEL', 'tr:cooldown', 'tr:cooldown:v');
my $got = fleet("$ms 0 s/far " . ($ms + 3601 * 1000) . ' 429');
is_deeply($got, [], 'a deadline beyond the cap is not published');
ok(!defined $t->redis('HGET', 'tr:cooldown', 's/far'), 'not stored');

$got = fleet("$ms 0 s/hour " . ($ms + 3599 * 1000) . ' 429');
is_deeply([ @$got[1 .. 3] ], [ 's/hour', $ms + 3599 * 1000, 429 ],
	'one just under an hour is');

###############################################################################

# 2. A status that is not 3 digits is damaged: deleted, and the good
# entries beside it are learned (no malformed reply, no error per batch).

$t->redis('DEL', 'tr:cooldown', 'tr:cooldown:v');
$ms = now_ms();
$t->redis('HSET', 'tr:cooldown',
	'f/d', ($ms + 60000) . ' 1234567890123456',
	'f/c', ($ms + 60000) . ' 42',
	'f/b', ($ms + 60000) . ' 429');
news();

$t->clear_mock_requests;
for (1 .. 3) {
	$r = chat('f/b');
	is($r->{headers}{'x-tokenroute-attempts'}, 1,
		'f/b learned beside a damaged status');
}
is(tried('gpt-b-error-429-ra60'), 0, 'f/b not tried');
$r = chat('f/d');
is($r->{headers}{'x-tokenroute-model'}, 'f/d', 'f/d (16-digit status) not cooled');
$r = chat('f/c');
is($r->{headers}{'x-tokenroute-model'}, 'f/c', 'f/c (2-digit status) not cooled');
is_deeply([ sort @{ $t->redis('HKEYS', 'tr:cooldown') } ], [ 'f/b' ],
	'damaged statuses deleted');

$got = fleet("$ms 0 s/st " . ($ms + 60000) . ' 42');
ok(!grep({ $_ eq 's/st' } @$got), 'a 2-digit status is not published');

my $malformed = () = $t->error_log() =~ /malformed cooldowns/g;
is($malformed, 0, 'no malformed-reply error lines');

###############################################################################

# 3. Ten thousand fields over: admissions still succeed (they failed with
# "too many results to unpack"), the hash shrinks in bounded steps.

$t->redis('DEL', 'tr:cooldown', 'tr:cooldown:v');
$ms = now_ms();
$t->redis('HSET', 'tr:cooldown',
	map { ("x/$_", ($ms - 1000 - $_) . ' 429') } 1 .. 10000);
news();
is($t->redis('HLEN', 'tr:cooldown'), 10000, '10,000 fields over');

my $res = eval { $t->redis('EVALSHA', $sha, 0, int(time()),
	int(time()) + 60, $t->key_hash($key->{raw}), 'f/ok', 'rid-big', 5, 5,
	"$ms 0") } // [ $@ ];
like($res->[0], qr/^ok\n/, 'the script admits beside 10,000 fields over');
ok(defined $t->redis('HGET', 'tr:rsvd', 'rid-big'), 'and reserved');
my $len = $t->redis('HLEN', 'tr:cooldown');
cmp_ok($len, '<', 10000, "the hash shrank ($len)");
cmp_ok($len, '>=', 10000 - 5000, 'by a bounded step');
$t->redis('ZREM', 'tr:rsv', 'rid-big');
$t->redis('HDEL', 'tr:rsvd', 'rid-big');

my $fails = 0;
for (1 .. 12) {
	$r = chat('f/ok');
	$fails++ if $r->{status} != 200;
}
is($fails, 0, 'admissions through the gateway succeed');
is($t->redis('HLEN', 'tr:cooldown'), 0, 'and the hash is pruned to empty');

###############################################################################

# 4. Reload with f/a renamed f/a2 (same place, same count): f/a2 does not
# inherit f/a's cooldown, f/b keeps its own (from shared memory: Redis
# forgot both).

$t->redis('DEL', 'tr:cooldown', 'tr:cooldown:v');
$t->clear_mock_requests;
$r = chat('f/a');
is($r->{headers}{'x-tokenroute-attempts'}, 2, 'f/a: a 429');
chat('f/b');		# cooling since 2 (from the fleet), or now
sleep 0.5;
$r = chat('f/a');
is($r->{headers}{'x-tokenroute-attempts'}, 1, 'f/a cools');
$t->redis('DEL', 'tr:cooldown', 'tr:cooldown:v');

$t->write_nginx_conf(($t->default_conf())[0] . models(a => 'f/a2'),
	($t->default_conf())[1]);
ok(eval { $t->reload_nginx(); 1 }, 'reload with f/a renamed') or diag($@);
$t->redis('DEL', 'tr:cooldown', 'tr:cooldown:v');

$t->clear_mock_requests;
$r = chat('f/a2');
is($r->{status}, 200, 'f/a2: 200');
is($r->{headers}{'x-tokenroute-attempts'}, 2,
	"f/a2 tried: it did not inherit f/a's cooldown");
is(tried('gpt-a-error-429-ra60'), 1, 'one attempt at its upstream');
$t->redis('DEL', 'tr:cooldown', 'tr:cooldown:v');
$t->clear_mock_requests;
$r = chat('f/b');
is($r->{headers}{'x-tokenroute-attempts'}, 1, 'f/b kept its cooldown');
is(tried('gpt-b-error-429-ra60'), 0, 'f/b not tried');

###############################################################################

# 5. Many reloads with model lists that change (in length and names) do
# not exhaust the 64 KB zone.

my $N = 24;
my $reloaded = 0;
for my $i (1 .. $N) {
	my $extra = join '', map {
		"tokenroute_model r$i/m$_ provider=mockai upstream_model=$OK "
		. "input_price=1 output_price=1;\n" } 1 .. 100 + $i % 2;
	$t->write_nginx_conf(($t->default_conf())[0] . models(extra => $extra),
		($t->default_conf())[1]);
	last unless eval { $t->reload_nginx(); 1 };
	$reloaded++;
}
is($reloaded, $N, "$N reloads with changing model lists");
$r = chat("r$N/m1");
is($r->{status}, 200, 'the last list is in force');
is($r->{headers}{'x-tokenroute-model'}, "r$N/m1", 'served by its model');
$r = chat('f/b');
is($r->{headers}{'x-tokenroute-attempts'}, 1, 'f/b still cools');

unlike($t->error_log(), qr/no memory|\[crit\]/, 'no zone exhausted');

###############################################################################

# 6. tokenroute_cooldown is at most the cap (1h): what the fleet takes.

sub nginx_t {
	my ($cooldown) = @_;
	my ($h, $server) = $t->default_conf();
	my $dir = $t->testdir . "/t-$cooldown";
	mkdir $dir;
	open my $fh, '>', "$dir/nginx.conf" or die "$dir/nginx.conf: $!\n";
	print $fh $t->_nginx_conf_text($dir, $t->port('http'),
		$h . "tokenroute_cooldown $cooldown;\n", $server);
	close $fh;
	my $env = $t->_nginx_env();
	local @ENV{ keys %$env } = values %$env;
	my $out = `$t->{nginx} -t -p $dir -c $dir/nginx.conf 2>&1`;
	return ($? >> 8, $out);
}

my ($rc, $msg) = nginx_t('1h');
is($rc, 0, 'nginx -t: tokenroute_cooldown 1h') or diag($msg);
($rc, $msg) = nginx_t('2h');
isnt($rc, 0, 'nginx -t: tokenroute_cooldown 2h refused');
like($msg, qr/invalid cooldown "2h"/, 'and says why');

done_testing();

###############################################################################
