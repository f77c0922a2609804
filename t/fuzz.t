#!/usr/bin/perl

# The short fuzzing pass of the test suite: builds the libFuzzer targets
# of t/fuzz/ (make fuzz-build, clang), replays for each the inputs of
# t/fuzz/regress/<target>/ (crashes found before, kept as regression
# tests) and its seed corpus, then fuzzes it for a few seconds from a
# scratch copy of the corpus.  A crash fails the test; its input is kept
# in build-fuzz/crashes/.  Longer runs: make fuzz (t/fuzz/README.md).
#
#   TOKENROUTE_FUZZ_SECONDS  seconds per target (default 4)
#
# The targets are sanitizer builds already: under TOKENROUTE_SANITIZE
# (make check-asan, after make check ran this) it is skipped.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname basename);
use File::Copy qw(copy);
use File::Path qw(make_path);
use File::Spec;
use File::Temp qw(tempdir);
use Test::More;

my $root = abs_path(File::Spec->catdir(dirname(__FILE__), '..'));
my $build = File::Spec->catdir($root, 'build-fuzz');
my $secs = $ENV{TOKENROUTE_FUZZ_SECONDS} || 4;

plan(skip_all => 'the targets are sanitized builds: run by make check')
    if $ENV{TOKENROUTE_SANITIZE};

# make check requires every tool the suite uses (as it does the SDKs)
if (system('clang --version >/dev/null 2>&1') != 0) {
    BAIL_OUT('clang is not installed (make deps)')
        if $ENV{TOKENROUTE_REQUIRE_SDK};
    plan(skip_all => 'clang is not installed (make deps)');
}

my @targets = map { basename($_, '.c') } sort glob("$root/t/fuzz/*.c");

ok(@targets >= 11, scalar(@targets) . ' targets');

my $out = `make -s -C '$root' fuzz-build FUZZ_BUILD=build-fuzz 2>&1`;
ok($? == 0, 'make fuzz-build') or diag($out);
BAIL_OUT('the fuzz targets do not build') if $?;

make_path("$build/crashes");

for my $t (@targets) {
    my $bin = "$build/$t";
    my @inputs = (glob("$root/t/fuzz/regress/$t/*"),
                  glob("$root/t/fuzz/corpus/$t/*"));
    my $regress = () = glob("$root/t/fuzz/regress/$t/*");

    # given files, libFuzzer runs each once and stops at the first crash
    $out = `'$bin' @{[ map { "'$_'" } @inputs ]} 2>&1`;
    ok($? == 0, "$t: replays its " . scalar(@inputs) . " inputs"
       . " ($regress regression)") or diag(tail($out));

    my $work = tempdir("fuzz-$t-XXXX", TMPDIR => 1, CLEANUP => 1);
    mkdir("$work/corpus");
    copy($_, "$work/corpus/") for glob("$root/t/fuzz/corpus/$t/*");

    $out = `'$bin' -max_total_time=$secs -timeout=10 -rss_limit_mb=1024 \\
            -max_len=16384 -artifact_prefix='$build/crashes/$t-' \\
            '$work/corpus' 2>&1`;
    my $rc = $?;
    my ($stats) = $out =~ /^(#\d+\s+DONE.*)$/m;

    ok($rc == 0, "$t: fuzzed ${secs}s" . ($stats ? ": $stats" : ''))
        or diag(tail($out));
}

done_testing();


sub tail {
    my @l = grep { !/^(#\d+\s|\s+NEW_FUNC|INFO:)/ } split /\n/, shift;
    return join("\n", @l > 40 ? @l[-40 .. -1] : @l);
}
