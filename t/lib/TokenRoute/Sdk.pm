package TokenRoute::Sdk;

# (C) tokenroute authors

# Running the official SDKs' tests (node's built-in test runner over
# t/sdk/*.mjs files) from a Perl test: sdk_missing() says why they cannot
# run (no node, an old one, the SDKs not installed), run_sdk(ENV, FILES)
# runs node on the files with ENV added to the environment and reports
# each top-level node test as one test of the calling file.
#
# run_node(ENV, CMD...) and parse_tap(TEXT) are the two halves of it.

use warnings;
use strict;

use Errno qw(EINTR);
use Exporter qw(import);
use IO::Select;
use POSIX qw(:sys_wait_h);
use Test::More;
use Time::HiRes qw(time sleep);

use TokenRoute::Test;

our @EXPORT_OK = qw(sdk_missing sdk_skip run_sdk run_node parse_tap tail);

our $SDK = TokenRoute::Test->repo() . '/t/sdk';
our $TIMEOUT = 300;

# skips the whole file when the SDKs cannot run, unless
# TOKENROUTE_REQUIRE_SDK is set (as the Makefile's check targets do): then
# it fails

sub sdk_skip {
	my (@files) = @_;

	my $missing = sdk_missing(@files);
	return unless defined $missing;

	plan(skip_all => "$missing (make test installs it)")
		unless $ENV{TOKENROUTE_REQUIRE_SDK};

	fail("SDK tests can run: $missing (TOKENROUTE_REQUIRE_SDK is set)");
	done_testing();
	exit;
}

# node on FILES; each top-level node test becomes a test here

sub run_sdk {
	my ($env, @files) = @_;

	my ($code, $out) = run_node($env, 'node', '--test',
		'--test-reporter=tap', @files);

	my @results = parse_tap($out);

	for my $r (@results) {
		my $diag = sub {
			diag(join("\n", @{ $r->{before} }, $r->{line},
				@{ $r->{after} }));
		};

		if (($r->{directive} // '') eq 'SKIP') {
			SKIP: { skip($r->{reason} || 'skipped by node', 1) }

		} elsif (($r->{directive} // '') eq 'TODO') {
			TODO: {
				local $TODO = $r->{reason} || 'todo';
				ok($r->{ok}, $r->{name})
					or note(join("\n", $r->{line}, @{ $r->{after} }));
			}

		} else {
			ok($r->{ok}, $r->{name}) or $diag->();
		}
	}

	ok(scalar @results >= 2 * @files, 'node ran the SDK tests ('
		. scalar(@results) . ' top-level tests)')
		or diag($out);
	is($code, 0, 'node --test exited 0') or diag(tail($out, 60));

	return @results;
}

sub sdk_missing {
	my (@files) = @_;

	my $node = which('node');
	return 'node not found in PATH' unless $node;

	my $v = `node --version 2>/dev/null` // '';
	return "node $v is too old (18.19 or later has --test-reporter)"
		unless $v =~ /^v(\d+)\.(\d+)/ && ($1 > 18 || ($1 == 18 && $2 >= 19));

	for my $pkg ('openai', '@anthropic-ai/sdk') {
		return "$SDK/node_modules/$pkg is not installed"
			unless -f "$SDK/node_modules/$pkg/package.json";
	}

	return 'no SDK test files' unless @files;
	return undef;
}

sub which {
	my ($prog) = @_;
	for my $d (split /:/, $ENV{PATH} // '') {
		return "$d/$prog" if -x "$d/$prog";
	}
	return undef;
}

# Runs a command in its own process group with %$env added to the
# environment (and the SDKs' own variables removed, so nothing from the
# caller's shell redirects them); returns (exit code, stdout and stderr).
# After $TIMEOUT seconds the group is killed.

sub run_node {
	my ($env, @cmd) = @_;

	pipe(my $r, my $w) or die "pipe: $!\n";

	my $pid = fork();
	die "fork: $!\n" unless defined $pid;

	if ($pid == 0) {
		close $r;
		POSIX::setpgid(0, 0);
		chdir $SDK or POSIX::_exit(126);
		delete @ENV{ grep { /^(?:OPENAI|ANTHROPIC)_/ } keys %ENV };
		delete $ENV{NODE_OPTIONS};
		$ENV{$_} = $env->{$_} for keys %$env;
		open STDIN, '<', '/dev/null';
		open STDOUT, '>&', $w;
		open STDERR, '>&', $w;
		{ no warnings 'exec'; exec { $cmd[0] } @cmd; }
		print STDERR "exec $cmd[0]: $!\n";
		POSIX::_exit(127);
	}

	close $w;

	my $out = '';
	my $sel = IO::Select->new($r);
	my $deadline = time() + $TIMEOUT;

	while (time() < $deadline) {
		my @ready = $sel->can_read($deadline - time());
		next if !@ready && $! == EINTR;
		last unless @ready;
		my $n = sysread($r, $out, 65536, length $out);
		next if !defined $n && $! == EINTR;
		last unless $n;
	}

	if (time() >= $deadline) {
		$out .= "\n[killed after $TIMEOUT s]\n";
		kill 'TERM', -$pid;
		sleep 2;
		kill 'KILL', -$pid;
	}

	close $r;
	waitpid($pid, 0);

	my $code = $? & 127 ? 128 + ($? & 127) : $? >> 8;

	# the test files' own child processes, if any were left
	kill 'KILL', -$pid;

	return ($code, $out);
}

# The top-level results of node's TAP output: { ok, name, directive,
# reason, line, before (the subtests' lines), after (the YAML block) }.

sub parse_tap {
	my ($text) = @_;

	my (@results, @pending, $expect, $yaml);

	for my $line (split /\n/, $text) {
		if ($yaml) {
			push @{ $yaml->{after} }, $line;
			undef $yaml if $line eq '  ...';
			next;
		}

		if ($expect && $line eq '  ---') {
			($yaml, $expect) = ($expect, undef);
			push @{ $yaml->{after} }, $line;
			next;
		}

		undef $expect;

		if ($line =~ /^(not )?ok \d+ - (.*)$/) {
			my ($not, $rest) = ($1, $2);
			my ($name, $directive, $reason) = ($rest, undef, undef);

			# "# TODO reason" / "# SKIP reason"; a "#" in a name is "\#"
			if ($rest =~ /^(.*?)(?<!\\)\s+#\s*(TODO|SKIP)\b\s*(.*)$/i) {
				($name, $directive, $reason) = ($1, uc $2, $3);
			}
			$name =~ s/\\#/#/g;

			push @results, {
				ok => $not ? 0 : 1,
				name => $name,
				directive => $directive,
				reason => $reason,
				line => $line,
				before => [ @pending ],
				after => [],
			};
			@pending = ();
			$expect = $results[-1];
			next;
		}

		push @pending, $line;
	}

	return @results;
}

sub tail {
	my ($text, $n) = @_;
	my @l = split /\n/, $text;
	return join "\n", @l > $n ? @l[-$n .. -1] : @l;
}

1;
