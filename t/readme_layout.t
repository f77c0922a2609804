#!/usr/bin/perl

# (C) tokenroute authors

# README's layout table against the tree: every path its first column
# names exists (a row for a removed file fails), and every source file
# (src/*.c, src/lua/*.lua, the pure headers the module and the CLI share)
# has a row: its own path, a glob ("src/lua/*.lua"), a directory
# ("src/cli/"), or a suffix written after another path of the same row
# ("`src/tokenroute_skim.c`, `..._skim_*.c`").

###############################################################################

use warnings;
use strict;

use Test::More;
use File::Basename qw/ basename dirname /;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $repo = dirname(dirname(__FILE__));
$repo = '.' if $repo eq '';

open my $fh, '<', "$repo/README.md" or die "cannot read README.md: $!\n";
my @readme = <$fh>;
close $fh;

# the table: from its header row to the first line that is not a row

my (@rows, $in);

for (@readme) {
	if (/^\| path \| what \|/) {
		$in = 1;
		next;
	}

	next unless $in;
	last unless /^\|/;
	next if /^\|---/;

	my ($first) = /^\|([^|]*)\|/;
	push @rows, [ $first =~ /`([^`]+)`/g ];
}

ok(@rows > 40, 'the layout table has its rows (' . @rows . ')');

# each path a row names exists; "..._x_*.c" is read as a suffix of the
# names in the directory of the row's first path

my (@exact, @globs, @dirs, @suffixes);

for my $row (@rows) {
	my $dir = dirname($row->[0]);

	for my $p (@$row) {
		if ($p =~ /^\.\.\.(.*)$/) {
			my $re = quotemeta($1) =~ s/\\\*/.*/gr;
			my @hit = grep { basename($_) =~ /$re$/ }
				glob("$repo/$dir/*");
			ok(@hit, "layout: $p (in $dir/) names files that exist");
			push @suffixes, [ $dir, qr/$re$/ ];

		} elsif ($p =~ m{/$}) {
			ok(-d "$repo/$p", "layout: directory $p exists");
			push @dirs, $p;

		} elsif ($p =~ /\*/) {
			my @hit = glob("$repo/$p");
			ok(@hit, "layout: $p names files that exist");
			push @globs, $p;

		} else {
			ok(-e "$repo/$p", "layout: $p exists");
			push @exact, $p;
		}
	}
}

# every source file has a row

sub covered {
	my ($path) = @_;

	return 1 if grep { $_ eq $path } @exact;
	return 1 if grep { index($path, $_) == 0 } @dirs;

	for my $g (@globs) {
		return 1 if grep { $_ eq "$repo/$path" } glob("$repo/$g");
	}

	for my $s (@suffixes) {
		return 1 if dirname($path) eq $s->[0]
			&& basename($path) =~ $s->[1];
	}

	return 0;
}

my @sources = map { s{^\Q$repo\E/}{}r }
	glob("$repo/src/*.c"), glob("$repo/src/lua/*"),
	glob("$repo/src/cli/*"), glob("$repo/src/tokenroute_*.h"),
	"$repo/config", "$repo/ngx_http_tokenroute_module.c";

# a pure header is described with its .c, where it has one
for my $f (@sources) {
	next if $f =~ /\.h$/ && -e "$repo/" . ($f =~ s/\.h$/.c/r);
	ok(covered($f), "layout: $f has a row");
}

done_testing();

###############################################################################
