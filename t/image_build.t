#!/usr/bin/perl

# (C) tokenroute authors

# The image's build steps are the Makefile's, checked without a Docker
# daemon or a registry: the Dockerfile's packages only through
# .ci/packages-* (which the Makefile reads too), its commands only make
# targets the Makefile defines, no path of its own but apt's and its
# staging directory; its runtime promises (non-root USER, STOPSIGNAL
# SIGQUIT, a HEALTHCHECK on /health with a client the runtime packages
# install); "make image-install" lays out what the entry point's default
# paths name; the runtime packages provide the libraries the built module
# and CLI link.

###############################################################################

use warnings;
use strict;

use Test::More;
use File::Basename qw(dirname);

use lib dirname(__FILE__) . '/lib';
use TokenRoute::Test;
use TokenRoute::Image qw(slurp make_var pkg_list dockerfile
	entrypoint_defaults image_install);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new(needs => [qw(module cli)]);
my $repo = $t->repo;

###############################################################################

# The Dockerfile's instructions, each with its stage.

my @docker = dockerfile();

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

my %ep_default = %{ entrypoint_defaults() };

# an entry point that does not take its paths from the environment would
# write the host's /etc/nginx/nginx.conf: never run it
my $ep_safe = $ep_default{TOKENROUTE_CONF_DIR}
	&& $ep_default{TOKENROUTE_RUN_DIR} && $ep_default{TOKENROUTE_MODULE}
	&& $ep_default{TOKENROUTE_NGINX};
ok($ep_safe, 'the entry point takes its paths from the environment');
is($ep_default{TOKENROUTE_PORT}, $env_port,
	'the entry point\'s default port is the image\'s');

my $l = image_install($t);
is($l->{status}, 0, 'make image-install DESTDIR=...') or diag($l->{out});
my ($root, $bindir, $confdir, $modulesdir) =
	@$l{qw(root bindir confdir modulesdir)};

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


done_testing();

###############################################################################
