#!/usr/bin/perl

# Runs the differential test of the learned body (t/unit/skim_body_diff.c,
# built by "make unit") with the repository as its argument (for
# bench/mock), and hands its TAP output to prove unchanged.
# TOKENROUTE_DIFF_N sets how many bodies it generates.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Spec;

my $root = abs_path(File::Spec->catdir(dirname(__FILE__), '..'));
my $build = $ENV{TOKENROUTE_BUILD} || File::Spec->catdir($root, 'build');
my $bin = File::Spec->catfile($build, 'unit', 'skim_body_diff');

unless (-x $bin) {
    print "1..0 # SKIP $bin is not built (make unit)\n";
    exit 0;
}

exec { $bin } $bin, $root or die "cannot run $bin: $!\n";
