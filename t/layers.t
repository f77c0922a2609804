#!/usr/bin/perl

# (C) tokenroute authors

# The house's floors, read from the sources: no cycle in the call graph
# of the nginx-facing files (a file calls down, never back up), and the
# three layers (pure files and the CLI include no nginx header; only the
# Redis clients (the worker's connection, the invalidation subscriber) and
# their adapter touch hiredis's async API, only the
# adapter its event-loop hooks); each file's functions are declared in
# the header next to it, and included by the files calling them.  "make
# graph" prints the graph.
#
# The graph: file A -> file B when A names a non-static function defined
# in B (a call, or a handler set), comments and strings left out.

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

sub slurp {
	my ($path) = @_;
	open my $fh, '<', $path or die "cannot read $path: $!\n";
	local $/;
	return scalar <$fh>;
}

# the C text without comments, string and character literals
sub code_of {
	my ($path) = @_;
	my $c = slurp($path);

	$c =~ s{ (/\*.*?\*/) | (//[^\n]*) | ("(?:[^"\\\n]|\\.)*")
		| ('(?:[^'\\\n]|\\.)*') }
	{
		defined $1 ? join('', $1 =~ /(\n)/g) : defined $2 ? '' : '""'
	}gsex;

	return $c;
}

sub short { my $n = basename(shift); $n =~ s/^ngx_http_tokenroute_//;
	$n =~ s/\.c$//; return $n; }

my @files = (sort(glob("$repo/src/ngx_http_tokenroute_*.c")),
	"$repo/ngx_http_tokenroute_module.c");

my (%code, %defined_in);

for my $f (@files) {
	my $c = $code{$f} = code_of($f);

	# a definition: the name at the start of a line, its type on the
	# line before (nginx style); static ones are the file's own
	while ($c =~ /^([^\n]*)\n(ngx_http_tokenroute_\w+)\(/mg) {
		next if $1 =~ /\bstatic\b/ || $1 =~ /[;{}]\s*$/;
		$defined_in{$2} = $f;
	}
}

my %edges;

for my $f (@files) {
	my %names = map { $_ => 1 } $code{$f} =~ /\b(ngx_http_tokenroute_\w+)\b/g;

	for my $name (keys %names) {
		my $to = $defined_in{$name};
		next unless defined $to && $to ne $f;
		push @{$edges{short($f)}{short($to)}}, $name;
	}
}

my @nodes = map { short($_) } @files;

if ($ENV{TOKENROUTE_GRAPH}) {
	for my $from (sort keys %edges) {
		print "$from -> ", join(', ', map {
			my $to = $_;
			"$to (" . join(' ', sort map { my $n = $_;
				$n =~ s/^ngx_http_tokenroute_//; $n }
				@{$edges{$from}{$to}}) . ")"
		} sort keys %{$edges{$from}}), "\n";
	}
}

# strongly connected components (Tarjan): each of more than one file is
# a cycle

my ($index, @stack, %on, %idx, %low, @sccs) = (0);

sub strong {
	my ($v) = @_;

	$idx{$v} = $low{$v} = $index++;
	push @stack, $v;
	$on{$v} = 1;

	for my $w (sort keys %{$edges{$v} || {}}) {
		if (!defined $idx{$w}) {
			strong($w);
			$low{$v} = $low{$w} if $low{$w} < $low{$v};

		} elsif ($on{$w}) {
			$low{$v} = $idx{$w} if $idx{$w} < $low{$v};
		}
	}

	return if $low{$v} != $idx{$v};

	my @scc;
	my $w;
	do {
		$w = pop @stack;
		delete $on{$w};
		push @scc, $w;
	} while ($w ne $v);

	push @sccs, [ sort @scc ] if @scc > 1;
}

for my $v (@nodes) {
	strong($v) unless defined $idx{$v};
}

ok(scalar(keys %defined_in) > 50, 'non-static functions found')
	or diag(scalar(keys %defined_in) . ' found');
ok(scalar(keys %edges) > 10, 'calls between files found');

for my $scc (@sccs) {
	my %in = map { $_ => 1 } @$scc;
	my @arrows;

	for my $from (@$scc) {
		for my $to (sort keys %{$edges{$from}}) {
			next unless $in{$to};
			push @arrows, "$from -> $to ("
				. join(' ', sort @{$edges{$from}{$to}}) . ")";
		}
	}

	diag("a cycle through " . join(', ', @$scc) . ":\n  "
		. join("\n  ", @arrows));
}

is(scalar(@sccs), 0, 'no cycle in the call graph of src/ngx_http_*.c');

# the floors, when there is no cycle: a file is one floor above the
# highest file it calls

if ($ENV{TOKENROUTE_GRAPH} && !@sccs) {
	my %floor;
	my $floor;
	$floor = sub {
		my ($v) = @_;
		return $floor{$v} //= do {
			my $f = 0;
			for my $w (keys %{$edges{$v} || {}}) {
				my $g = $floor->($w) + 1;
				$f = $g if $g > $f;
			}
			$f;
		};
	};

	my %at;
	push @{$at{$floor->($_)}}, $_ for @nodes;

	print "\nfloors, top down:\n";
	print "  $_: @{[ sort @{$at{$_}} ]}\n" for sort { $b <=> $a } keys %at;
}

# the headers: each file's functions are declared in the header next to
# it (the filters, the demo provider, the Redis client and the directives
# share one per family), and a file includes the header of each file it
# calls, not through another header

my %family = (held => 'filter', rewrite => 'filter', sse_gate => 'filter',
	stream_cut => 'filter', demo_answer => 'demo', demo_stream => 'demo',
	redis_adapter => 'redis', redis_sentinel => 'redis',
	redis_conf => 'conf');

sub header_of { my $f = short(shift); return $family{$f} // $f; }

my %declared_in;

for my $h (glob("$repo/src/ngx_http_tokenroute_*.h")) {
	my $c = code_of($h);
	my $b = basename($h);
	$b =~ s/^ngx_http_tokenroute_//;
	$b =~ s/\.h$//;

	while ($c =~ /^(?!static|\s)[a-z][^;{}#]*?\b(ngx_http_tokenroute_\w+)\(/mg) {
		next unless defined $defined_in{$1};
		$declared_in{$1} = $b;
	}
}

my @misplaced = grep { $declared_in{$_} ne header_of($defined_in{$_}) }
	sort keys %declared_in;
is("@misplaced", '', "functions declared in their own file's header")
	or diag(join "\n", map { "$_: in $declared_in{$_}.h" } @misplaced);

for my $f (@files) {
	my %inc = map { $_ => 1 }
		slurp($f) =~ /^#include "ngx_http_tokenroute_(\w+)\.h"/mg;
	my @missing;

	for my $to (sort keys %{$edges{short($f)} || {}}) {
		for my $name (@{$edges{short($f)}{$to}}) {
			my $h = $declared_in{$name};
			push @missing, "$h.h ($name)" if !defined $h || !$inc{$h};
		}
	}

	is("@missing", '', basename($f) . ' includes the headers of what it calls');
}

# the layers

my @pure = (glob("$repo/src/tokenroute_*.[ch]"), glob("$repo/src/cli/*.[ch]"));

ok(@pure > 10, 'pure and CLI files found');

for my $f (@pure) {
	my @inc = slurp($f) =~ /^\s*#\s*include\s*[<"]((?:ngx_|ngx\/)[^>"]*)/mg;
	is("@inc", '', 'no nginx header in ' . basename($f));
}

my @async;
my @hooks;

for my $f (glob("$repo/src/*.[ch]"), glob("$repo/src/cli/*.[ch]"),
	"$repo/ngx_http_tokenroute_module.c")
{
	my $c = code_of($f);
	my $b = basename($f);

	# the context type is named in the client's header: not a call
	push @async, $b if $c =~ /\bredisAsync(?!Context\b)\w+/;
	push @hooks, $b if $c =~ /\bredisAsyncHandle\w+|\bev\.(add|del)\w+/;
}

is(join(' ', sort @async), 'ngx_http_tokenroute_inval.c '
	. 'ngx_http_tokenroute_redis.c '
	. 'ngx_http_tokenroute_redis_adapter.c '
	. 'ngx_http_tokenroute_redis_sentinel.c',
	'only the Redis client (with its sentinel questions), the invalidation '
	. 'subscriber and the adapter call the async API');
is("@hooks", 'ngx_http_tokenroute_redis_adapter.c',
	'only the adapter drives hiredis from the event loop');

done_testing();

###############################################################################
