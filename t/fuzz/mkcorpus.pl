#!/usr/bin/perl

# Writes the seed corpora t/fuzz/corpus/<target>/ from the samples in
# t/fuzz/seed/ (answers of t/lib/mock_provider.pl, the bench fixtures and
# a few written by hand), each behind the leading bytes its target reads
# (see the target's header comment).  Run it after changing a sample or a
# target's input layout; the corpora are committed.

use strict;
use warnings;

use Cwd qw(abs_path);
use Digest::SHA qw(sha1_hex);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);

my $dir = dirname(abs_path(__FILE__));
my %seed;

opendir(my $dh, "$dir/seed") or die "$dir/seed: $!\n";
for my $f (sort grep { !/^\./ } readdir $dh) {
    open(my $fh, '<:raw', "$dir/seed/$f") or die "$f: $!\n";
    local $/;
    $seed{$f} = <$fh>;
}

my @oa_sse = grep { /^oa_.*\.sse$/ } sort keys %seed;
my @an_sse = grep { /^an_.*\.sse$/ } sort keys %seed;
my @oa_json = grep { /^oa_(?!.*req).*\.json$/ } sort keys %seed;
my @an_json = grep { /^an_(?!.*req).*\.json$/ } sort keys %seed;
my @req = grep { /req\.json$/ } sort keys %seed;
my %corpus;

sub add {
    my ($target, $bytes) = @_;
    push @{ $corpus{$target} }, $bytes;
}

# a whole stream's events' data lines, for the one-event modes
sub datas {
    my ($s) = @_;
    return map { /^data: ?(.*)$/ ? $1 : () } split /\r\n|\r|\n/, $s;
}

for my $f (@oa_sse, @an_sse, 'mixed_lines.sse') {
    add('sse', chr(0x00) . chr(0x00) . $seed{$f});
    add('sse', chr(0x83) . chr(0x10) . $seed{$f});
}

for my $f (@oa_json) {
    add('usage', chr(0x05) . chr(0x00) . $seed{$f});
}
for my $f (@an_json) {
    add('usage', chr(0x05) . chr(0x01) . $seed{$f});
}
for my $f (@oa_sse) {
    add('usage', chr(0x03) . chr(0x04) . $seed{$f});
    my @d = datas($seed{$f});
    add('usage', chr(0x07) . chr(0x02) . $d[$_]) for (0, 1, -1, -2);
}
for my $f (@an_sse) {
    add('usage', chr(0x00) . chr(0x05) . $seed{$f});
    my @d = datas($seed{$f});
    add('usage', chr(0x07) . chr(0x03 | ($_ << 3)) . $d[$_ % @d])
        for (1 .. 5);
}

for my $f (@req) {
    add('request', chr($_) . $seed{$f}) for (0x00, 0x0f, 0x0e);
    add('translate_request', chr($_) . $seed{$f})
        for (0x00, 0x02, 0x05, 0x07, 0x36, 0x53);
}

for my $f (@oa_json, @an_json, 'err_html.json') {
    my $from = $f =~ /^an_/ ? 1 : 0;
    add('translate_response', chr($from | 0x02 * !$from | 0x08)
        . chr(0x05) . $seed{$f});
    add('translate_response', chr($from | 0x04) . chr(0x01) . $seed{$f});
    add('translate_response', chr($from | 0x06) . chr(0x86) . $seed{$f});
}

for my $f (@oa_sse, @an_sse) {
    my $from = $f =~ /^an_/ ? 1 : 0;
    add('translate_stream', chr(0x00) . chr($from | 0x26) . $seed{$f});
    add('translate_stream', chr(0x87) . chr($from | 0x20 | 2 * $from)
        . $seed{$f});
    add('translate_stream', chr(0x09) . chr($from | 0x02 * !$from | 0x04)
        . $seed{$f});
}

my $key = 'sk-tr-' . 'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcd';
add('key', "Bearer $key");
add('key', "bearer   $key");
add('key', $key);
add('key', 'Basic dXNlcjpwYXNz');

add('money', $_) for ('0.15', '$3.5', '12.000000001', '5', '0',
                      '9223372036.854775807', '$0.000000001',
                      "\x01\x02\x03\x04\x05\x06\x07\x08\x09");

for my $t (sort keys %corpus) {
    remove_tree("$dir/corpus/$t");
    make_path("$dir/corpus/$t");

    for my $bytes (@{ $corpus{$t} }) {
        open(my $fh, '>:raw', "$dir/corpus/$t/" . sha1_hex($bytes))
            or die "$t: $!\n";
        print $fh $bytes;
        close($fh);
    }
}
