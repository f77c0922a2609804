#!/usr/bin/perl

# (C) tokenroute authors

# The production image without a Docker daemon or a registry.
#
# Static: the Dockerfile's build steps are the Makefile's (its packages
# only through .ci/packages-*, which the Makefile reads too; its commands
# only make targets the Makefile defines; no path of its own but apt's and
# its staging directory), its runtime promises (non-root USER, STOPSIGNAL
# SIGQUIT, a HEALTHCHECK on /health with a client the runtime packages
# install), the runtime packages against the libraries the built module
# and CLI link, the JSON access log against README's variables table,
# docker-compose.yml's fleet, the Anthropic provider file's chain.
#
# For real: "make image-install" into a directory laid out as the image,
# and the entry point run from it with its paths pointed there: commands
# passed through (the CLI creates a key), the generated configuration
# loaded by nginx with the module just built, a request answered and its
# JSON access log line, SIGQUIT finishing a stream, a mounted nginx.conf
# and http.d file left untouched, the gateway run as uid 10001.

###############################################################################

use warnings;
use strict;

use Test::More;
use File::Basename qw(dirname);
use File::Copy qw(copy);
use File::Path qw(make_path rmtree);
use IPC::Open3 qw(open3);
use IO::Select;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Symbol qw(gensym);
use Time::HiRes qw(time sleep);

use lib dirname(__FILE__) . '/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new(needs => [qw(nginx module redis cli)]);
my $repo = $t->repo;
my $dir = $t->testdir;
my $json = JSON::PP->new->utf8;

sub slurp {
	open my $fh, '<', $_[0] or return undef;
	local $/;
	return scalar <$fh>;
}

# a variable of the Makefile, as make computes it
sub make_var {
	my ($name) = @_;
	my $v = `make -s --no-print-directory -C '$repo' \\
		--eval 'print-var-%: ; \@echo \$(\$*)' print-var-$name 2>&1`;
	chomp $v;
	return $v;
}

sub pkg_list {
	my $text = slurp("$repo/$_[0]") // '';
	return [ map { /^([a-z0-9][^\s#]*)/ ? $1 : () } split /\n/, $text ];
}

###############################################################################

# The Dockerfile, as instructions (continuations joined, comments gone),
# each with its stage.

my @docker;
{
	my $text = slurp("$repo/Dockerfile") // '';
	$text =~ s/^\s*#.*\n//mg;
	$text =~ s/\\\n/ /g;
	my $stage = -1;
	for (split /\n/, $text) {
		next unless /^\s*(\w+)\s+(.*?)\s*$/;
		$stage++ if uc $1 eq 'FROM';
		push @docker, { op => uc $1, args => $2, stage => $stage };
	}
}

sub docker_ops { grep { $_->{op} eq $_[0] } @docker }

my @from = docker_ops('FROM');
is(scalar @from, 2, 'Dockerfile: two stages, build and runtime');

my %stage_list = (0 => '.ci/packages-build', 1 => '.ci/packages-runtime');
my ($destdir, @make_calls, @bad_cmds);

for my $run (docker_ops('RUN')) {
	for my $cmd (split /\s*&&\s*/, $run->{args}) {
		$cmd =~ s/^\s+//;
		$cmd =~ s/^(?:[A-Z_]+=\S+\s+)+//;
		my ($prog, $rest) = $cmd =~ /^(\S+)\s*(.*)$/;

		if ($prog eq 'apt-get' && $rest =~ /^update$/) {
			next;

		} elsif ($prog eq 'apt-get' && $rest =~ /^install\s+(.*)$/) {
			my $args = $1;
			my $want = $stage_list{ $run->{stage} } // '?';
			(my $tmp = $want) =~ s{^\.ci/}{/tmp/};
			my @pkgs = grep { !/^-/ }
				split /\s+/, ($args =~ s/\$\([^)]*\)//gr);
			ok(!@pkgs, "stage $run->{stage}: apt-get installs no package"
				. " of its own") or diag("spelled: @pkgs");
			like($args, qr/\$\(grep '\^\[a-z0-9\]' \Q$tmp\E\)/,
				"stage $run->{stage}: apt-get installs $want");
			ok((grep { $_->{stage} == $run->{stage}
					&& $_->{args} eq "$want $tmp" } docker_ops('COPY')),
				"stage $run->{stage}: $want copied to $tmp");

		} elsif ($prog eq 'rm') {
			my @p = grep { !/^-/ } split /\s+/, $rest;
			my @other = grep { $_ ne '/var/lib/apt/lists/*'
				&& !m{^/tmp/packages-(?:build|runtime)$} } @p;
			push @bad_cmds, $cmd if @other;

		} elsif ($prog eq 'make') {
			push @make_calls, $rest;

		} else {
			push @bad_cmds, $cmd;
		}
	}
}

ok(!@bad_cmds, 'Dockerfile: RUN has only apt-get, make and the cleanup')
	or diag(join "\n", @bad_cmds);

my $makefile = slurp("$repo/Makefile") // '';
my %targets;
for my $call (@make_calls) {
	for my $w (split /\s+/, $call) {
		if ($w =~ /^(\w+)=(.*)$/) {
			is($1, 'DESTDIR', "make $call: only DESTDIR is set");
			$destdir = $2 if $1 eq 'DESTDIR';
			next;
		}
		ok($makefile =~ /^\Q$w\E\s*:/m, "make target $w is the Makefile's");
		$targets{$w} = 1;
	}
}
ok($targets{all} && $targets{'image-install'},
	'Dockerfile builds with make all and lays out with make image-install');
ok(defined $destdir && $destdir =~ m{^/\w+$}, 'image-install has a DESTDIR');

my @copy = docker_ops('COPY');
ok((grep { $_->{stage} == 1 && $_->{args} eq "--from=build $destdir /" }
	@copy), "runtime stage: the staged $destdir copied to /");
my @copy_other = grep {
	$_->{args} !~ m{^\.ci/packages-(build|runtime) /tmp/packages-\1$}
	&& $_->{args} ne '. .' && $_->{args} ne "--from=build $destdir /"
} @copy;
ok(!@copy_other, 'Dockerfile copies nothing else')
	or diag(join "\n", map { $_->{args} } @copy_other);

# no absolute path of its own: apt's, the package lists, the staging
{
	my %allowed = map { $_ => 1 } ('/tmp/packages-build',
		'/tmp/packages-runtime', '/var/lib/apt/lists/*', '/src', $destdir,
		'/', '/dev/null', '/health');
	my @paths;
	for my $i (@docker) {
		next if $i->{op} eq 'FROM';
		push @paths, $i->{args} =~ m#(?<![\w.:/}-])(/[\w./*-]*)#g;
	}
	# "/health" is after ${TOKENROUTE_PORT}
	push @paths, map { m#\}(/[\w/]*)#g } map { $_->{args} } @docker;
	my @own = grep { !$allowed{$_} } @paths;
	ok(!@own, 'Dockerfile spells no path of its own')
		or diag("@own");
}

# the package lists: the Makefile's are the files' (and nothing else)

for my $which (qw(build runtime)) {
	my $file = pkg_list(".ci/packages-$which");
	ok(@$file >= 3, ".ci/packages-$which lists packages");
	my $printed = `make -s --no-print-directory -C '$repo' print-$which-deps`;
	is_deeply([ split ' ', $printed ], $file,
		"make print-$which-deps is .ci/packages-$which");
}
my $debian = make_var('DEBIAN_PKGS');
my %debian = map { $_ => 1 } split ' ', $debian;
ok(!(grep { !$debian{$_} } @{ pkg_list('.ci/packages-build') }),
	'make deps installs the build packages');

my %runtime = map { $_ => 1 } @{ pkg_list('.ci/packages-runtime') };

# the runtime promises

my ($user) = map { $_->{args} } docker_ops('USER');
ok(defined $user && $user =~ /^[1-9]\d*$/,
	'the image runs as a numeric non-root user');
is(join(' ', map { $_->{args} } docker_ops('STOPSIGNAL')), 'SIGQUIT',
	'STOPSIGNAL SIGQUIT: nginx finishes its streams');
my ($hc) = map { $_->{args} } docker_ops('HEALTHCHECK');
like($hc // '', qr{CMD curl .*http://127\.0\.0\.1:\$\{TOKENROUTE_PORT\}/health},
	'HEALTHCHECK asks /health on the gateway\'s port');
ok($runtime{curl}, 'curl, the HEALTHCHECK\'s client, is a runtime package');
ok($runtime{nginx}, 'nginx is a runtime package');
is(join(' ', map { $_->{args} } docker_ops('ENTRYPOINT')),
	'["docker-entrypoint.sh"]', 'ENTRYPOINT is the installed entry point');
my ($expose) = map { $_->{args} } docker_ops('EXPOSE');
my ($env_port) = join(' ', map { $_->{args} } docker_ops('ENV'))
	=~ /TOKENROUTE_PORT=(\d+)/;
is($expose, $env_port, 'EXPOSE is TOKENROUTE_PORT');

###############################################################################

# The entry point: its default paths are what make image-install lays out.

my $ep_text = slurp("$repo/conf.d/docker-entrypoint.sh") // '';
my %ep_default = $ep_text =~ /^: "\$\{(TOKENROUTE_\w+):=([^}]*)\}"$/mg;

# an entry point that does not take its paths from the environment would
# write the host's /etc/nginx/nginx.conf: never run it
my $ep_safe = $ep_default{TOKENROUTE_CONF_DIR}
	&& $ep_default{TOKENROUTE_RUN_DIR} && $ep_default{TOKENROUTE_MODULE}
	&& $ep_default{TOKENROUTE_NGINX};
ok($ep_safe, 'the entry point takes its paths from the environment');
is($ep_default{TOKENROUTE_PORT}, $env_port,
	'the entry point\'s default port is the image\'s');

my $root = "$dir/root";
my $bindir = make_var('BINDIR');
my $confdir = make_var('CONFDIR');
my $modulesdir = make_var('MODULESDIR');

{
	my @args = ('-s', '--no-print-directory', '-C', $repo, 'image-install',
		"DESTDIR=$root", 'BUILD=' . $t->build_dir);
	push @args, 'SANITIZE=1' if $ENV{TOKENROUTE_SANITIZE};
	my $out = `make @args 2>&1`;
	is($?, 0, 'make image-install DESTDIR=...') or diag($out);
}

ok(-x "$root$bindir/docker-entrypoint.sh", "entry point in $bindir");
ok(-x "$root$bindir/tokenroute", "CLI in $bindir");
ok(-f "$root$modulesdir/ngx_http_tokenroute_module.so",
	"module in $modulesdir");
is($ep_default{TOKENROUTE_MODULE}, "$modulesdir/ngx_http_tokenroute_module.so",
	'the entry point loads the installed module');
is($ep_default{TOKENROUTE_CONF_DIR}, $confdir,
	'the entry point reads the installed conf.d');
for my $f (map { s{.*/}{}r } glob("$repo/conf.d/*.conf")) {
	ok(-f "$root$confdir/conf.d/$f", "conf.d/$f installed");
}

# the runtime packages provide what the installed files link

SKIP: {
	skip 'no dpkg or ldd here', 1
		unless TokenRoute::Test::_which('dpkg')
			&& TokenRoute::Test::_which('ldd');

	my %need;
	for my $f ("$root$modulesdir/ngx_http_tokenroute_module.so",
		"$root$bindir/tokenroute")
	{
		for (split /\n/, `ldd '$f'`) {
			next unless m{=>\s+(/\S+)};
			my $lib = `realpath '$1'`;
			chomp $lib;
			# merged /usr: dpkg knows one of /lib and /usr/lib
			my $owner = '';
			for my $p ($lib, $lib =~ s{^/lib/}{/usr/lib/}r,
				$lib =~ s{^/usr/lib/}{/lib/}r)
			{
				$owner = `dpkg -S '$p' 2>/dev/null`;
				last if $owner ne '';
			}
			my ($pkg) = $owner =~ /^([^:\s]+)/;
			$need{$pkg // "?($lib)"} = 1;
		}
	}
	# in the base image; the sanitizers only in a test build
	delete @need{qw(libc6 libgcc-s1 libstdc++6)};
	delete @need{ grep { /^lib(?:asan|ubsan)\d*$/ } keys %need };
	my @missing = grep { !$runtime{$_} } sort keys %need;
	ok(keys %need && !@missing,
		'the runtime packages provide the libraries linked ('
		. join(' ', sort keys %need) . ')')
		or diag("missing: @missing");
}

###############################################################################

# The access log: tokenroute_json logs README's $tokenroute_* variables,
# but the ones its comment lists as not logged.

{
	my $readme = slurp("$repo/README.md") // '';
	my %readme = map { $_ => 1 } $readme =~ /^\| `\$(tokenroute_\w+)` \|/mg;
	my $log = slurp("$repo/conf.d/tokenroute_log.conf") // '';
	my ($fmt) = $log =~ /^(log_format tokenroute_json escape=json .*?;)$/ms;
	ok($fmt, 'log_format tokenroute_json escape=json');
	my %logged = map { $_ => 1 } ($fmt // '') =~ /\$(tokenroute_\w+)/g;
	my ($not) = $log =~ /logged .*?but these:\n((?:#.*\n)+)/;
	my %not = map { $_ => 1 } ($not // '') =~ /\$(tokenroute_\w+)/g;

	ok(keys %readme > 20, 'README lists the variables');
	my @unknown = grep { !$readme{$_} } sort keys(%logged), keys(%not);
	ok(!@unknown, 'every variable the log names is in README')
		or diag("@unknown");
	my @left = grep { !$logged{$_} && !$not{$_} } sort keys %readme;
	ok(!@left, 'every README variable is logged or said not to be')
		or diag("@left");
	ok(!$logged{tokenroute_provider_authorization}
		&& !$logged{tokenroute_provider_api_key},
		'no provider credential in the log');

	my $conf_row = ($readme =~ /^\| `tokenroute_log\.conf` \|(.*)$/m)[0];
	like($conf_row // '', qr/tokenroute_json/,
		'README\'s conf.d table names tokenroute_json');
}

###############################################################################

# The Anthropic provider file: the seed's chain.

{
	my $text = slurp("$repo/conf.d/provider-anthropic.conf") // '';
	my %models;
	while ($text =~ /^tokenroute_model\s+(\S+)\s+([^;]*);/mg) {
		$models{$1} = $2;
	}
	like($models{'anthropic/claude-haiku-4-5'} // '',
		qr/\bfallback=anthropic\/claude-sonnet-4-5(?:\s|$)/,
		'Haiku 4.5 falls back to Sonnet 4.5');
	ok(exists $models{'anthropic/claude-sonnet-4-5'}, 'Sonnet 4.5 declared');
	unlike($models{'anthropic/claude-sonnet-4-5'} // '', qr/fallback=/,
		'Sonnet 4.5 is the end of the chain');
}

###############################################################################

# the file loads (its upstream's host made local: no DNS in tests)

{
	my $text = slurp("$repo/conf.d/provider-anthropic.conf") // '';
	$text =~ s/\bserver\s+api\.anthropic\.com:443;/server 127.0.0.1:1;/;
	my $d = "$dir/anthropic";
	make_path($d);
	open my $fh, '>', "$d/provider.conf" or die;
	print $fh $text;
	close $fh;
	my $module = $t->build_dir . '/ngx_http_tokenroute_module.so';
	open $fh, '>', "$d/nginx.conf" or die;
	print $fh <<"EOF";
load_module $module;
pid $d/nginx.pid;
error_log stderr;
events { }
http {
    tokenroute_redis 127.0.0.1:1;
    include $d/provider.conf;
}
EOF
	close $fh;
	my $nenv = $t->_nginx_env;
	local @ENV{ keys %$nenv } = values %$nenv;
	local $ENV{ANTHROPIC_API_KEY} = 'sk-ant-test';
	my $out = `$t->{nginx} -t -p $d/ -c $d/nginx.conf 2>&1`;
	SKIP: {
		skip 'its upstream needs DNS', 1
			if $out =~ /host not found/;
		is($?, 0, 'provider-anthropic.conf loads with the module')
			or diag($out);
	}
}

###############################################################################

# docker-compose.yml, read by a parser of the YAML it may use: block
# mappings and sequences, scalars plain or quoted, flow sequences of
# quoted strings.

sub yaml_scalar {
	my ($v) = @_;
	return $json->decode($v) if $v =~ /^\[.*\]$/;
	return $1 if $v =~ /^"(.*)"$/ || $v =~ /^'(.*)'$/;
	return $v;
}

sub yaml_block {
	my ($lines, $i, $indent) = @_;

	my $node;
	while ($$i < @$lines) {
		my ($ind, $text) = @{ $lines->[$$i] };
		last if $ind < $indent;
		die "line $lines->[$$i][2]: unexpected indentation\n"
			if $ind > $indent;

		if ($text =~ /^- (.*)$/) {
			die "line $lines->[$$i][2]: a list in a mapping\n"
				if ref $node eq 'HASH';
			$node //= [];
			$$i++;
			push @$node, yaml_scalar($1);

		} elsif ($text =~ /^([\w.-]+):(?:\s+(.*))?$/) {
			die "line $lines->[$$i][2]: a mapping in a list\n"
				if ref $node eq 'ARRAY';
			$node //= {};
			my ($k, $v) = ($1, $2);
			die "line $lines->[$$i][2]: duplicate key $k\n"
				if exists $node->{$k};
			$$i++;
			if (defined $v && $v ne '') {
				$node->{$k} = yaml_scalar($v);
			} elsif ($$i < @$lines && $lines->[$$i][0] > $indent) {
				$node->{$k} = yaml_block($lines, $i, $lines->[$$i][0]);
			} else {
				$node->{$k} = undef;
			}

		} else {
			die "line $lines->[$$i][2]: not understood: $text\n";
		}
	}

	return $node;
}

{
	my $text = slurp("$repo/docker-compose.yml") // '';
	my (@lines, $n);
	for (split /\n/, $text) {
		$n++;
		next if /^\s*(?:#.*)?$/;
		die "docker-compose.yml:$n: a tab\n" if /\t/;
		/^( *)(.*?)\s*$/;
		push @lines, [ length $1, $2, $n ];
	}
	my $i = 0;
	my $c = eval { yaml_block(\@lines, \$i, 0) };
	ok($c && $i == @lines, 'docker-compose.yml parses') or diag($@);
	$c ||= {};

	my $s = $c->{services} || {};
	ok($s->{redis} && ($s->{redis}{image} // '') =~ /^redis:/,
		'compose: a redis service');
	ok($s->{redis}{healthcheck}, 'compose: redis has a healthcheck');

	my @gw = grep { ($s->{$_}{build} // '') eq '.' } sort keys %$s;
	ok(@gw >= 2, 'compose: two gateways built from this Dockerfile ('
		. "@gw)");

	my %host;
	for my $g (@gw) {
		my $svc = $s->{$g};
		my %env = map { /^(\w+)(?:=(.*))?$/ ? ($1 => $2) : () }
			@{ $svc->{environment} || [] };
		is($env{TOKENROUTE_REDIS}, 'redis:6379', "$g: TOKENROUTE_REDIS");
		ok(exists $env{$_} && !defined $env{$_}, "$g: $_ from the shell")
			for qw(OPENAI_API_KEY ANTHROPIC_API_KEY GEMINI_API_KEY);
		is($svc->{depends_on}{redis}{condition}, 'service_healthy',
			"$g: starts once redis is healthy");
		like(join(' ', @{ $svc->{healthcheck}{test} || [] }),
			qr{curl .*http://127\.0\.0\.1:$env_port/health},
			"$g: healthcheck on /health");
		ok($svc->{stop_grace_period}, "$g: a grace period for streams");
		for (@{ $svc->{ports} || [] }) {
			my ($h, $p) = /^(\d+):(\d+)$/ or next;
			is($p, $env_port, "$g: publishes the gateway's port");
			ok(!$host{$h}++, "$g: host port $h its own");
		}
	}

	# the same document as a YAML parser reads it, when one is here
	SKIP: {
		my $yq = `yq . '$repo/docker-compose.yml' 2>/dev/null`;
		skip 'no working yq here', 1 unless $? == 0 && $yq =~ /^\{/;
		is_deeply($c, $json->decode($yq), 'yq reads the same document');
	}

	SKIP: {
		skip 'no "docker compose" here', 1
			unless system('docker compose version >/dev/null 2>&1') == 0;
		is(system("docker compose -f '$repo/docker-compose.yml' config -q"
			. ' >/dev/null 2>&1'), 0, 'docker compose config');
	}
}

###############################################################################

# The entry point, for real.

BAIL_OUT('the entry point would write outside the test directory')
	unless $ep_safe;

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
	if ($> == 0) {
		like($g, qr/^user www-data;$/m, 'root: workers as www-data');
	} else {
		unlike($g, qr/^\s*user\b/m, 'not root: no user directive');
	}
}

my ($code, $out, $err) = run_ep({}, 'nginx', '-t');
my $no_health = $code != 0
	&& $err =~ /unknown directive "tokenroute_(?:health|metrics)"/;
if ($no_health) {
	note('this build has no tokenroute_health/tokenroute_metrics yet: the'
		. ' gateway runs with the generated configuration less those two'
		. ' locations, mounted');
} else {
	is($code, 0, 'nginx -t through the entry point: the generated'
		. ' configuration loads with the module just built') or diag($err);
}

like($err, qr{configuration file \Q$dir\E/run/nginx\.conf test},
	'nginx -t tests the generated configuration');
{
	my ($c2, $o2, $e2) = run_ep({}, '-t');
	is($c2, $code, 'arguments starting with "-" are nginx\'s');
	like($e2, qr{configuration file \Q$dir\E/run/nginx\.conf test},
		'on the same configuration');
}

# without the health and metrics directives: the generated configuration
# less their locations, mounted
sub mount_degraded {
	my ($run, $no_user) = @_;
	my $g = slurp("$run/nginx.conf") // '';
	$g =~ s#location = /(?:health|metrics) \{[^}]*\}##g;
	$g =~ s#^user .*;$##mg if $no_user;
	open my $fh, '>', "$conf/nginx.conf" or die;
	print $fh $g;
	close $fh;
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

mount_degraded("$dir/run") if $no_health;
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

	SKIP: {
		skip 'tokenroute_health not in this build', 3 if $no_health;
		$r = $t->http(path => '/health', port => $gw_port);
		is($r->{status}, 200, '/health answers 200 with Redis up');
		ok(eval { $json->decode($r->{body}) }, '/health: JSON');
		$r = $t->http(path => '/metrics', port => $gw_port);
		is($r->{status}, 200, '/metrics from 127.0.0.1');
	}

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

	run_ep({ TOKENROUTE_RUN_DIR => $run, TOKENROUTE_NGINX => '/bin/true' });
	mount_degraded($run, 1) if $no_health;
	rmtree($run);

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
	unless ($no_health) {
		unlike(slurp("$run/nginx.conf") // '', qr/^\s*user\b/m,
			'no user directive');
	}
	is($t->http($chat->('openai/gpt-4o-mini'))->{status}, 200,
		'it serves a request');
	is(stop_gateway($pid), 0, 'and stops');
	no_alerts($log, 'gateway as 10001');
	unlink "$conf/nginx.conf";
}

done_testing();

###############################################################################
