package TokenRoute::Prom;

# (C) tokenroute authors

# A strict reader of the Prometheus text exposition format 0.0.4, for the
# tests of tokenroute_metrics.  parse(TEXT) returns ($samples, \@errors):
# $samples maps "name{a=\"x\",b=\"y\"}" (labels sorted by name) to the
# number; @errors lists every way the text breaks the format:
#
#   - a line that is not "# HELP", "# TYPE", a comment or a sample
#   - a metric or label name, a label value escape or a number that is
#     not valid; a repeated label; a repeated series
#   - HELP or TYPE given twice, or after the family's first sample; a
#     sample whose family has no TYPE; a family's samples not together
#   - a counter that is negative or not named *_total
#   - a histogram series (per label set but "le") without _sum, _count or
#     a bucket le="+Inf"; buckets not in increasing "le" order or whose
#     counts decrease; le="+Inf" not equal to _count
#
# value($samples, NAME, LABEL => VALUE, ...) is a series' value (0 when
# absent); family($samples, NAME) the series of a metric name.

use warnings;
use strict;

use Exporter qw(import);

our @EXPORT_OK = qw(parse value key family);

my $NAME = qr/[a-zA-Z_:][a-zA-Z0-9_:]*/;
my $LABEL = qr/[a-zA-Z_][a-zA-Z0-9_]*/;
my $NUMBER = qr/[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?
	|[+-]?Inf|NaN/x;

sub key {
	my ($name, %l) = @_;
	return $name unless %l;
	return $name . '{' . join(',', map {
		my $v = $l{$_};
		$v =~ s/\\/\\\\/g;
		$v =~ s/"/\\"/g;
		$v =~ s/\n/\\n/g;
		"$_=\"$v\"";
	} sort keys %l) . '}';
}

sub num {
	my ($s) = @_;
	return 9**9**9 if $s =~ /^\+?Inf$/;
	return -9**9**9 if $s eq '-Inf';
	return $s + 0;
}

sub parse {
	my ($text) = @_;

	my (%help, %type, %samples, %seen_family, @errors);
	my $current = '';
	my %hist;       # family => { labelkey-without-le => { ... } }
	my $n = 0;

	push @errors, 'no final newline' if length $text && $text !~ /\n\z/;

	for my $line (split /\n/, $text) {
		$n++;

		next if $line eq '';

		if ($line =~ /^# HELP ($NAME) (.*)$/) {
			push @errors, "line $n: HELP $1 twice" if $help{$1}++;
			push @errors, "line $n: HELP $1 after its samples"
				if $seen_family{$1};
			next;
		}

		if ($line =~ /^# TYPE ($NAME) (counter|gauge|histogram|summary|untyped)$/) {
			push @errors, "line $n: TYPE $1 twice" if $type{$1};
			push @errors, "line $n: TYPE $1 after its samples"
				if $seen_family{$1};
			$type{$1} = $2;
			next;
		}

		if ($line =~ /^# (?:HELP|TYPE)/) {
			push @errors, "line $n: malformed: $line";
			next;
		}

		next if $line =~ /^#/;

		unless ($line =~ /^($NAME)(?:\{(.*)\})? ($NUMBER)(?: -?[0-9]+)?$/) {
			push @errors, "line $n: not a sample: $line";
			next;
		}

		my ($name, $labels, $value) = ($1, $2, $3);
		my %l;

		if (defined $labels) {
			my $rest = $labels;
			while (length $rest) {
				unless ($rest =~ s/^($LABEL)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)//) {
					push @errors, "line $n: bad labels: {$labels}";
					last;
				}
				my ($k, $v, $comma) = ($1, $2, $3);
				$v =~ s/\\(.)/$1 eq 'n' ? "\n" : $1/ge;
				push @errors, "line $n: label $k twice" if exists $l{$k};
				$l{$k} = $v;
				push @errors, "line $n: trailing comma" if $comma && !length $rest;
			}
		}

		my $family = $name;
		if ($name =~ /^(.*)_(bucket|sum|count)$/ && ($type{$1} // '') eq 'histogram') {
			$family = $1;
		}

		push @errors, "line $n: $name has no TYPE" unless $type{$family};

		if ($family ne $current) {
			push @errors, "line $n: samples of $family not together"
				if $seen_family{$family};
			$current = $family;
			$seen_family{$family} = 1;
		}

		my $k = key($name, %l);
		push @errors, "line $n: series $k twice" if exists $samples{$k};
		$samples{$k} = num($value);

		my $t = $type{$family} // '';

		if ($t eq 'counter') {
			push @errors, "line $n: counter $name not *_total"
				unless $name =~ /_total$/;
			push @errors, "line $n: counter $k negative"
				if num($value) < 0;
		}

		if ($t eq 'histogram') {
			my %base = %l;
			my $le = delete $base{le};
			my $h = $hist{$family}{ key('', %base) } //= { buckets => [] };

			if ($name eq "${family}_bucket") {
				if (!defined $le) {
					push @errors, "line $n: bucket without le";
				} else {
					push @{ $h->{buckets} }, [ $le, num($value) ];
				}
			} elsif ($name eq "${family}_sum") {
				$h->{sum} = num($value);
			} elsif ($name eq "${family}_count") {
				$h->{count} = num($value);
			}
		}
	}

	for my $family (sort keys %hist) {
		for my $base (sort keys %{ $hist{$family} }) {
			my $h = $hist{$family}{$base};
			my $what = "$family$base";
			my @b = @{ $h->{buckets} };

			push @errors, "$what: no _sum" unless defined $h->{sum};
			push @errors, "$what: no _count" unless defined $h->{count};
			push @errors, "$what: no buckets", next unless @b;
			push @errors, "$what: last bucket not le=\"+Inf\""
				unless $b[-1][0] eq '+Inf';

			for my $i (1 .. $#b) {
				push @errors, "$what: le $b[$i][0] not above $b[$i-1][0]"
					unless $b[$i][0] !~ /^$NUMBER$/ ? 0
						: num($b[$i][0]) > num($b[$i-1][0]);
				push @errors, "$what: bucket le=$b[$i][0] below the one before"
					if $b[$i][1] < $b[$i-1][1];
			}

			push @errors, "$what: le=\"+Inf\" $b[-1][1] != _count "
				. ($h->{count} // 'none')
				if defined $h->{count} && $b[-1][1] != $h->{count};
		}
	}

	return (\%samples, \@errors);
}

sub value {
	my ($samples, $name, %l) = @_;
	return $samples->{ key($name, %l) } // 0;
}

sub family {
	my ($samples, $name) = @_;
	return map { $_ => $samples->{$_} }
		grep { /^\Q$name\E(\{|$)/ } keys %$samples;
}

1;
