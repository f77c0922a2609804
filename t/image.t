#!/usr/bin/perl

# (C) tokenroute authors

# The image's entry point, for real and without Docker: "make
# image-install" into a directory laid out as the image, and the entry
# point run from it with its paths pointed there: commands passed through
# (the CLI creates a key), the generated configuration loaded by nginx
# with the module just built, a request answered and its JSON access log
# line, SIGQUIT finishing a stream, a mounted nginx.conf and http.d file
# left untouched, the gateway run as uid 10001.

###############################################################################

use warnings;
use strict;

use Test::More;
use File::Basename qw(dirname);
use File::Path qw(make_path rmtree);
use IPC::Open3 qw(open3);
use IO::Select;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Symbol qw(gensym);
use Time::HiRes qw(time sleep);

use lib dirname(__FILE__) . '/lib';
use TokenRoute::Test;
use TokenRoute::Image qw(slurp entrypoint_defaults image_install);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new(needs => [qw(nginx module redis cli)]);
my $dir = $t->testdir;
my $json = JSON::PP->new->utf8;

###############################################################################

# The entry point, for real.

my %ep_default = %{ entrypoint_defaults() };

# an entry point that does not take its paths from the environment would
# write the host's /etc/nginx/nginx.conf: never run it
unless (ok($ep_default{TOKENROUTE_CONF_DIR}
	&& $ep_default{TOKENROUTE_RUN_DIR} && $ep_default{TOKENROUTE_MODULE}
	&& $ep_default{TOKENROUTE_NGINX},
	'the entry point takes its paths from the environment'))
{
	done_testing();
	exit;
}

my $l = image_install($t);
unless (is($l->{status}, 0, 'make image-install')) {
	diag($l->{out});
	done_testing();
	exit;
}
my ($root, $bindir, $confdir, $modulesdir) =
	@$l{qw(root bindir confdir modulesdir)};

$t->start_redis();
$t->start_mock();

my $ep = "$root$bindir/docker-entrypoint.sh";
my $conf = "$root$confdir";
my $gw_port = $t->port('gw');
$t->_release_port('gw');

delete @ENV{qw(OPENAI_API_KEY ANTHROPIC_API_KEY GEMINI_API_KEY
	TOKENROUTE_REDIS TOKENROUTE_REDIS_PASSWORD)};

my %env = (
	%{ $t->_nginx_env },
	PATH => "$root$bindir:$ENV{PATH}",
	TOKENROUTE_CONF_DIR => $conf,
	TOKENROUTE_MODULE => "$root$modulesdir/ngx_http_tokenroute_module.so",
	TOKENROUTE_RUN_DIR => "$dir/run",
	TOKENROUTE_NGINX => $t->{nginx},
	TOKENROUTE_REDIS => '127.0.0.1:' . $t->redis_port,
	TOKENROUTE_PORT => $gw_port,
	TOKENROUTE_LISTEN => "127.0.0.1:$gw_port",
	TOKENROUTE_TEST_OPENAI_KEY => $TokenRoute::Test::OPENAI_KEY,
	# the test machine's DNS servers are not 127.0.0.1: none
	TOKENROUTE_RESOLVER => 'off',
);

# the CLI under ASan writes its reports where the teardown looks
my %cli_env = $ENV{TOKENROUTE_SANITIZE}
	? (LD_PRELOAD => '', ASAN_OPTIONS => "log_path=$dir/asan") : ();

# runs the entry point to its end: (exit code, stdout, stderr)
sub run_ep {
	my ($extra, @args) = @_;

	local @ENV{ keys %env } = values %env;
	local @ENV{ keys %$extra } = values %$extra;

	my ($in, $out, $err) = (undef, undef, gensym);
	my $pid = open3($in, $out, $err, $ep, @args);
	close $in;

	my %buf = (out => '', err => '');
	my $sel = IO::Select->new($out, $err);
	my $deadline = time() + 20;
	while ($sel->count && time() < $deadline) {
		for my $fh ($sel->can_read($deadline - time())) {
			my $w = $fh == $out ? 'out' : 'err';
			$sel->remove($fh) unless sysread($fh, $buf{$w}, 65536,
				length $buf{$w});
		}
	}
	kill 'KILL', $pid if $sel->count;
	waitpid($pid, 0);

	return ($? >> 8, $buf{out}, $buf{err});
}

# a provider and models mounted in http.d (the mock; its "slow" model
# streams an event every 0.5 s)
my $mock_port = $t->port('mock');
my $mounted_models = <<"EOF";
tokenroute_provider mockai type=openai url=http://127.0.0.1:$mock_port/v1
                    key_env=TOKENROUTE_TEST_OPENAI_KEY;
tokenroute_model openai/gpt-4o-mini provider=mockai
                 upstream_model=gpt-4o-mini input_price=0.15 output_price=0.60;
tokenroute_model openai/slow provider=mockai upstream_model=slow
                 input_price=0.15 output_price=0.60;
EOF
make_path("$conf/http.d");
open my $mf, '>', "$conf/http.d/mock.conf" or die;
print $mf $mounted_models;
close $mf;

# commands pass through

{
	my ($code, $out, $err) = run_ep({ %cli_env }, 'sh', '-c',
		'echo "$0|$1"', 'a b', 'c');
	is($code, 0, 'a command runs as given');
	is($out, "a b|c\n", 'its arguments unchanged');
	ok(!-e "$dir/run", 'a command writes no configuration');
}

my $key;
{
	my ($code, $out, $err) = run_ep({ %cli_env }, 'tokenroute', 'keys',
		'create', '--name', 'image-app', '--json');
	is($code, 0, 'tokenroute keys create through the entry point')
		or diag($err);
	$key = eval { $json->decode($out) } // {};
	like($key->{raw} // '', qr/^sk-tr-/, 'the CLI answered with a key');
	my ($c, $list) = $t->cli('keys', 'list', '--json');
	like($list, qr/"image-app"/, 'the key is in the gateway\'s Redis');
	$t->redis('HINCRBY', "tr:acct:$key->{account}", 'credit',
		1000 * 1_000_000_000) if $key->{account};
	$t->redis('SADD', 'tr:accts', $key->{account}) if $key->{account};
}

# the generated configuration

{
	local $env{TOKENROUTE_NGINX} = '/bin/true';
	my $alt = "$dir/conf-bare";
	make_path($alt);
	symlink("$conf/conf.d", "$alt/conf.d");

	run_ep({ TOKENROUTE_CONF_DIR => $alt });
	my $g = slurp("$dir/run/nginx.conf") // '';
	like($g, qr{include \Q$alt\E/conf\.d/provider-demo\.conf;},
		'no provider key, nothing mounted: the demo provider');

	run_ep({ TOKENROUTE_CONF_DIR => $alt, ANTHROPIC_API_KEY => 'x' });
	$g = slurp("$dir/run/nginx.conf") // '';
	like($g, qr{include \Q$alt\E/conf\.d/provider-anthropic\.conf;},
		'ANTHROPIC_API_KEY: the Anthropic provider');
	unlike($g, qr/provider-demo|provider-openai/, 'and no other');

	run_ep({});
	$g = slurp("$dir/run/nginx.conf") // '';
	unlike($g, qr/provider-demo/, 'a mounted http.d file: no demo');
	like($g, qr{include \Q$conf\E/http\.d/\*\.conf;}, 'http.d included');
	like($g, qr{^pid \Q$dir\E/run/nginx\.pid;}m, 'pid file in the run dir');
	for my $p (qw(client_body proxy fastcgi uwsgi scgi)) {
		like($g, qr{^\s*${p}_temp_path \Q$dir\E/run/}m,
			"${p}_temp_path in the run dir");
	}
	like($g, qr{^error_log stderr}m, 'errors to stderr');
	like($g, qr{^\s*access_log /dev/stdout tokenroute_json;}m,
		'the JSON access log to stdout');
	like($g, qr{location = /health \{\s*tokenroute_health;\s*\}},
		'/health: tokenroute_health');
	like($g, qr{location\ =\ /metrics\ \{\s*allow\ 127\.0\.0\.1;\s*
		allow\ ::1;\s*deny\ all;\s*tokenroute_metrics;\s*\}}x,
		'/metrics: tokenroute_metrics, from the host only');
	like($g, qr/^\s*tokenroute_redis env=TOKENROUTE_REDIS;/m,
		'nginx reads TOKENROUTE_REDIS itself, as the CLI does');
	unlike($g, qr/^\s*resolver\b/m, 'TOKENROUTE_RESOLVER=off: no resolver');
	like($g, qr/^\s*tokenroute_lease zone=tokenroute_lease:16m;/m,
		'leases on by default');

	run_ep({ TOKENROUTE_LEASE => 'off' });
	unlike(slurp("$dir/run/nginx.conf") // '', qr/tokenroute_lease/,
		'TOKENROUTE_LEASE=off: no leases');
	run_ep({ TOKENROUTE_LEASE => 'zone=mine:32m slice=16' });
	like(slurp("$dir/run/nginx.conf") // '',
		qr/^\s*tokenroute_lease zone=mine:32m slice=16;/m,
		'TOKENROUTE_LEASE: the directive\'s arguments');

	# a redis:// URL's password never lands in the generated file
	run_ep({ TOKENROUTE_REDIS => 'redis://:s3cret@127.0.0.1:'
		. $t->redis_port });
	unlike(slurp("$dir/run/nginx.conf") // '', qr/s3cret/,
		'a Redis URL with a password: not in the generated file');

	# the container's DNS servers from its resolv.conf
	open my $rf, '>', "$dir/resolv.conf" or die;
	print $rf "# docker\nnameserver 127.0.0.11\nnameserver fd00::53\n"
		. "nameserver fe80::1%eth0\noptions ndots:0\n";
	close $rf;
	{
		local $env{TOKENROUTE_RESOLV_CONF} = "$dir/resolv.conf";
		delete local $env{TOKENROUTE_RESOLVER};
		run_ep({});
	}
	like(slurp("$dir/run/nginx.conf") // '',
		qr/^\s*resolver 127\.0\.0\.11 \[fd00::53\] valid=30s;$/m,
		'a resolver: the nameservers of resolv.conf (no zoned address)');
	run_ep({ TOKENROUTE_RESOLVER => '127.0.0.1:5353' });
	like(slurp("$dir/run/nginx.conf") // '',
		qr/^\s*resolver 127\.0\.0\.1:5353 valid=30s;$/m,
		'TOKENROUTE_RESOLVER names the resolver');
	{
		local $env{TOKENROUTE_NGINX} = $t->{nginx};
		my ($c, undef, $e) = run_ep({ TOKENROUTE_RESOLVER => '127.0.0.1:5353',
			TOKENROUTE_REDIS => 'redis://:s3cret@127.0.0.1:'
				. $t->redis_port }, 'nginx', '-t');
		is($c, 0, 'nginx -t: the resolver and the Redis URL from the'
			. ' environment load') or diag($e);
	}

	if ($> == 0) {
		like($g, qr/^user www-data;$/m, 'root: workers as www-data');
	} else {
		unlike($g, qr/^\s*user\b/m, 'not root: no user directive');
	}
}

my ($code, $out, $err) = run_ep({}, 'nginx', '-t');
is($code, 0, 'nginx -t through the entry point: the generated'
	. ' configuration loads with the module just built') or diag($err);

like($err, qr{configuration file \Q$dir\E/run/nginx\.conf test},
	'nginx -t tests the generated configuration');
{
	my ($c2, $o2, $e2) = run_ep({}, '-t');
	is($c2, $code, 'arguments starting with "-" are nginx\'s');
	like($e2, qr{configuration file \Q$dir\E/run/nginx\.conf test},
		'on the same configuration');
}

# starts the entry point without arguments (as uid $uid when given); its
# stdout and stderr go to $log
sub start_gateway {
	my ($log, $uid, $extra) = @_;

	# as a container runtime does, the user owns its stdout and stderr
	# (nginx opens /dev/stdout for the access log)
	if (defined $uid) {
		for ("$log.out", "$log.err") {
			open my $fh, '>>', $_ or die "$_: $!\n";
			close $fh;
			chown $uid, $uid, $_;
		}
	}

	my $pid = fork() // die "fork: $!\n";
	if ($pid == 0) {
		open STDIN, '<', '/dev/null';
		open STDOUT, '>>', "$log.out";
		open STDERR, '>>', "$log.err";
		%ENV = (%ENV, %env, %{ $extra || {} });
		if (defined $uid) {
			POSIX::setgid($uid) or POSIX::_exit(126);
			POSIX::setuid($uid) or POSIX::_exit(126);
		}
		exec $ep or POSIX::_exit(127);
	}
	$t->{procs}{"gw-$pid"} = $pid;

	my $deadline = time() + 10;
	while (time() < $deadline) {
		last if waitpid($pid, WNOHANG) != 0;
		my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$gw_port");
		return $pid if $s && close $s;
		sleep 0.05;
	}
	diag('the gateway did not start: ' . (slurp("$log.err") // ''));
	delete $t->{procs}{"gw-$pid"};
	return undef;
}

sub stop_gateway {
	my ($pid, $sig) = @_;
	kill $sig // 'QUIT', $pid;
	my $deadline = time() + 15;
	while (time() < $deadline) {
		if (waitpid($pid, WNOHANG) == $pid) {
			delete $t->{procs}{"gw-$pid"};
			return $?;
		}
		sleep 0.05;
	}
	return -1;
}

sub children {
	my ($ppid) = @_;
	my @c;
	for my $p (glob '/proc/[0-9]*') {
		my $stat = slurp("$p/stat") // next;
		push @c, $p =~ s{.*/}{}r if $stat =~ /\)\s+\S+\s+(\d+)/ && $1 == $ppid;
	}
	return @c;
}

sub uid_of {
	my $status = slurp("/proc/$_[0]/status") // '';
	return $status =~ /^Uid:\s+(\d+)/m ? $1 : -1;
}

sub no_alerts {
	my ($log, $name) = @_;
	my @bad = grep { /\[(?:alert|emerg)\]|AddressSanitizer|runtime error/ }
		split /\n/, (slurp("$log.err") // '') . (slurp("$log.out") // '');
	ok(!@bad, "$name: no alert, emerg or sanitizer lines") or diag("@bad");
}

my $chat = sub {
	my ($model, %o) = @_;
	return (method => 'POST', path => '/v1/chat/completions',
		port => $gw_port,
		headers => { Authorization => "Bearer $key->{raw}" },
		body => { model => $model, %o,
			messages => [ { role => 'user', content => 'Hi' } ] });
};

# the gateway, as root would run it (or as the test's user)

my $mounted_before = slurp("$conf/http.d/mock.conf");
my $log1 = "$dir/gw1";
my $pid = start_gateway($log1);
ok($pid, 'the gateway starts');

SKIP: {
	skip 'the gateway did not start', 20 unless $pid;

	is(slurp("/proc/$pid/comm"), "nginx\n",
		'the entry point became nginx (the stop signal reaches it)');
	# a worker drops root right after the fork: wait for that
	my @workers;
	$t->wait_until(5, sub {
		@workers = children($pid);
		@workers && !grep { uid_of($_) == 0 } @workers;
	});
	ok(@workers, 'workers started');
	ok(!(grep { uid_of($_) == 0 } @workers), 'no worker runs as root')
		or diag(join ' ', map { "$_:" . uid_of($_) } @workers);

	my $r = $t->http($chat->('openai/gpt-4o-mini'));
	is($r->{status}, 200, 'a request through the gateway');
	my $rid = $r->{headers}{'x-tokenroute-request-id'} // '?';

	my $line;
	$t->wait_until(5, sub {
		($line) = grep { /"request_id":"\Q$rid\E"/ }
			split /\n/, slurp("$log1.out") // '';
		$line;
	});
	my $entry = eval { $json->decode($line // '') };
	ok($entry, 'its access log line on stdout is JSON') or diag($line);
	$entry ||= {};
	is($entry->{status}, 200, 'status');
	is($entry->{key_id}, $key->{id}, 'key_id');
	is($entry->{account}, $key->{account}, 'account');
	is($entry->{model}, 'openai/gpt-4o-mini', 'model');
	is($entry->{served_model}, 'openai/gpt-4o-mini', 'served_model');
	is($entry->{provider}, 'mockai', 'provider');
	is($entry->{attempts}, '1', 'attempts');
	like($entry->{input_tokens} // '', qr/^[1-9]\d*$/, 'input_tokens');
	like($entry->{cost} // '', qr/^0\.\d+$/, 'cost');
	ok(($entry->{cost} // 0) > 0, 'cost charged');
	is($entry->{request}, 'POST /v1/chat/completions HTTP/1.1', 'request');

	$r = $t->http(method => 'GET', path => '/v1/models?k=secret',
		port => $gw_port);
	is($r->{status}, 401, 'no key: 401');
	$t->wait_until(5, sub { (slurp("$log1.out") // '') =~ /"status":401/ });
	my ($l401) = grep { /"status":401/ } split /\n/, slurp("$log1.out") // '';
	my $e401 = eval { $json->decode($l401 // '') };
	ok($e401, 'a refusal\'s log line is JSON too') or diag($l401);
	unlike($l401 // '', qr/secret/, 'no query string in the log');

	$r = $t->http(path => '/health', port => $gw_port);
	is($r->{status}, 200, '/health answers 200 with Redis up');
	ok(eval { $json->decode($r->{body}) }, '/health: JSON');
	$r = $t->http(path => '/metrics', port => $gw_port);
	is($r->{status}, 200, '/metrics from 127.0.0.1');

	# SIGQUIT: the stream in flight finishes, then nginx exits
	my $h = $t->http_start($chat->('openai/slow', stream => JSON::PP::true));
	my ($st) = $t->http_read_events($h, 1, timeout => 5);
	is($st, 200, 'a slow stream has begun');
	kill 'QUIT', $pid;
	my $done = $t->http_finish($h, timeout => 15);
	like($done->{body} // '', qr/data: \[DONE\]/,
		'SIGQUIT: the stream in flight finishes');
	is(stop_gateway($pid, 'QUIT'), 0, 'then nginx exits, status 0');
	my $srid = $done->{headers}{'x-tokenroute-request-id'} // '?';
	ok($t->redis('HEXISTS', 'tr:rsvd', $srid) == 0
		&& !defined $t->redis('ZSCORE', 'tr:rsv', $srid)
		&& (slurp("$log1.out") // '') =~ /"request_id":"\Q$srid\E"/,
		'and was settled and logged before it exited');
	no_alerts($log1, 'gateway');
}

is(slurp("$conf/http.d/mock.conf"), $mounted_before,
	'the mounted http.d file is untouched');

# a mounted nginx.conf: used as it is, never written

{
	my $mounted = <<"EOF";
# mounted
load_module $env{TOKENROUTE_MODULE};
pid $dir/run/mounted.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $dir/run/mb;
    proxy_temp_path $dir/run/mp;
    fastcgi_temp_path $dir/run/mf;
    uwsgi_temp_path $dir/run/mu;
    scgi_temp_path $dir/run/ms;
    server {
        listen 127.0.0.1:$gw_port;
        location = /mounted { return 204; }
    }
}
EOF
	open my $fh, '>', "$conf/nginx.conf" or die;
	print $fh $mounted;
	close $fh;
	chmod 0444, "$conf/nginx.conf";
	my $mtime = (stat "$conf/nginx.conf")[9];
	rmtree("$dir/run");

	my $pid = start_gateway("$dir/gw2");
	ok($pid, 'the gateway starts with a mounted nginx.conf');
	SKIP: {
		skip 'the gateway did not start', 3 unless $pid;
		is($t->http(path => '/mounted', port => $gw_port)->{status}, 204,
			'the mounted nginx.conf is the one served');
		# what "docker exec C docker-entrypoint.sh nginx -s quit" runs
		my ($c, $o, $e) = run_ep({}, 'nginx', '-s', 'quit');
		is($c, 0, 'nginx -s quit through the entry point') or diag($e);
		is(stop_gateway($pid, 0), 0, 'the mounted configuration\'s nginx'
			. ' got it and exits');
	}
	is(slurp("$conf/nginx.conf"), $mounted, 'the mounted nginx.conf is'
		. ' unchanged');
	is((stat "$conf/nginx.conf")[9], $mtime, 'and was not written');
	ok(!-e "$dir/run/nginx.conf", 'no configuration generated');
	unlink "$conf/nginx.conf";
}

# as uid 10001: the master and its workers, nothing written but the run dir

SKIP: {
	skip 'not root: cannot run as another user', 6 unless $> == 0;

	rmtree("$dir/run");
	chmod 0755, $root;
	my $run = "$dir/run-10001";

	my $log = "$dir/gw3";
	my $pid = start_gateway($log, 10001, { TOKENROUTE_RUN_DIR => $run });
	ok($pid, 'the gateway starts as uid 10001');
	skip 'the gateway did not start', 5 unless $pid;

	is(uid_of($pid), 10001, 'the master runs as 10001');
	my @w;
	$t->wait_until(5, sub {
		@w = children($pid);
		@w && !grep { uid_of($_) != 10001 } @w;
	});
	ok(@w && !(grep { uid_of($_) != 10001 } @w), 'its workers too');
	unlike(slurp("$run/nginx.conf") // '', qr/^\s*user\b/m,
		'no user directive');
	is($t->http($chat->('openai/gpt-4o-mini'))->{status}, 200,
		'it serves a request');
	is(stop_gateway($pid), 0, 'and stops');
	no_alerts($log, 'gateway as 10001');
	unlink "$conf/nginx.conf";
}

done_testing();

###############################################################################

