#!/usr/bin/perl

# The request writer's tr_gen_key() and tr_gen_pair() write their member
# names with the quotes added when compiling, unescaped: every name given
# them in src/ must be one that JSON needs no escape for (no quote,
# backslash or control).  A name that did would go out as invalid JSON.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Spec;
use Test::More;

my $root = abs_path(File::Spec->catdir(dirname(__FILE__), '..'));
my ($calls, @bad) = (0);

for my $file (glob "$root/src/tokenroute_translate*.c") {
    open my $fh, '<', $file or die "$file: $!\n";
    my $text = do { local $/; <$fh> };

    # a literal: "..." with escapes inside
    while ($text =~ /\btr_gen_(?:key|pair)\s*\(\s*[^,]+,\s*"((?:[^"\\]|\\.)*)"/g) {
        my $name = $1;
        $calls++;
        push @bad, "$file: \"$name\"" if $name =~ /[\\"\x00-\x1f]/;
    }

    # anything else given as the name would not compile (see the macro),
    # but say so here too
    while ($text =~ /\btr_gen_(?:key|pair)\s*\(\s*[^,]+,\s*([^"\s][^,)]*)/g) {
        next if $1 =~ /^(?:const char|tr_ctx_t)/;
        push @bad, "$file: not a literal: $1";
    }
}

ok($calls > 20, "found the writer's keys ($calls)");
ok(!@bad, 'every key written unescaped needs no escape')
    or diag(join "\n", @bad);

done_testing();
