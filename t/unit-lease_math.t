#!/usr/bin/perl

# Runs the lease arithmetic unit test (t/unit/lease_math.c, built by
# "make unit") and hands its TAP output to prove unchanged.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Spec;

my $root = abs_path(File::Spec->catdir(dirname(__FILE__), '..'));
my $build = $ENV{TOKENROUTE_BUILD} || File::Spec->catdir($root, 'build');
my $bin = File::Spec->catfile($build, 'unit', 'lease_math');

unless (-x $bin) {
    print "1..0 # SKIP $bin is not built (make unit)\n";
    exit 0;
}

exec { $bin } $bin or die "cannot run $bin: $!\n";
