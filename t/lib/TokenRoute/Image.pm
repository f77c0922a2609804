package TokenRoute::Image;

# (C) tokenroute authors

# What the image tests (t/image*.t) read: files, the Makefile's variables
# as make computes them, the package lists of .ci/, the Dockerfile as
# instructions, the entry point's defaults, and "make image-install" into
# a test directory.

###############################################################################

use warnings;
use strict;

use Exporter qw(import);

our @EXPORT_OK = qw(slurp make_var pkg_list dockerfile entrypoint_defaults
	image_install);

use TokenRoute::Test;

my $REPO = $TokenRoute::Test::REPO;

sub slurp {
	open my $fh, '<', $_[0] or return undef;
	local $/;
	return scalar <$fh>;
}

# a variable of the Makefile, as make computes it

sub make_var {
	my ($name) = @_;
	my $v = `make -s --no-print-directory -C '$REPO' \\
		--eval 'print-var-%: ; \@echo \$(\$*)' print-var-$name 2>&1`;
	chomp $v;
	return $v;
}

# the packages of a list of .ci/ (one a line, "#" comments)

sub pkg_list {
	my $text = slurp("$REPO/$_[0]") // '';
	return [ map { /^([a-z0-9][^\s#]*)/ ? $1 : () } split /\n/, $text ];
}

# The Dockerfile as instructions (continuations joined, comments gone):
# { op, args, stage }, the stage counted from 0 at each FROM.

sub dockerfile {
	my $text = slurp("$REPO/Dockerfile") // '';
	$text =~ s/^\s*#.*\n//mg;
	$text =~ s/\\\n/ /g;

	my ($stage, @ops) = (-1);
	for (split /\n/, $text) {
		next unless /^\s*(\w+)\s+(.*?)\s*$/;
		$stage++ if uc $1 eq 'FROM';
		push @ops, { op => uc $1, args => $2, stage => $stage };
	}
	return @ops;
}

# the entry point's defaults: its lines ': "${TOKENROUTE_X:=VALUE}"'

sub entrypoint_defaults {
	my $text = slurp("$REPO/conf.d/docker-entrypoint.sh") // '';
	return { $text =~ /^: "\$\{(TOKENROUTE_\w+):=([^}]*)\}"$/mg };
}

# make image-install into DIR/root with the harness's build: the paths
# as the image has them ({ root, bindir, confdir, modulesdir }), and
# make's exit status and output

sub image_install {
	my ($t) = @_;

	my %l = (root => $t->testdir . '/root', bindir => make_var('BINDIR'),
		confdir => make_var('CONFDIR'),
		modulesdir => make_var('MODULESDIR'));

	my @args = ('-s', '--no-print-directory', '-C', $REPO, 'image-install',
		"DESTDIR=$l{root}", 'BUILD=' . $t->build_dir);
	push @args, 'SANITIZE=1' if $ENV{TOKENROUTE_SANITIZE};
	$l{out} = `make @args 2>&1`;
	$l{status} = $?;

	return \%l;
}

1;
