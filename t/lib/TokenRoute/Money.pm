package TokenRoute::Money;

# (C) tokenroute authors

# Exact money arithmetic for the tests, in integer nano-USD (Math::BigInt;
# no floating point), following README "Money": prices are USD per million
# tokens, every part of a cost is rounded up to the next nano-USD.
#
#   usd_nano('0.333333')          333333000 (nano-USD per million tokens)
#   nano_usd(1234)                '0.000001234' (9 decimals, for --limit)
#   part(TOKENS, PRICE_NUSD)      ceil(TOKENS * PRICE / 1e6)
#   cost(in => UNCACHED, cached => N, write => N, write_1h => N, out => N,
#        price => P, cached_price => P (default price), out_price => P,
#        write_price => P, write_1h_price => P)
#                                 the sum of the five parts, each rounded
#                                 up; 5-minute cache writes (write) at
#                                 write_price, default 1.25 x price; 1-hour
#                                 ones (write_1h) at write_1h_price,
#                                 default 2 x price
#   reserve(bytes => N, max_tokens => N, price => P, out_price => P,
#           anthropic => 0|1, bytes_per_token => 1, cached_price => P,
#           write_price => P, write_1h_price => P)
#                                 the admission bound of README "The
#                                 reservation rule": input at the dearest
#                                 rate (Anthropic: a cache write's)
#   utc_day(TIME), utc_hour(TIME) 'YYYYMMDD', 'YYYYMMDDHH'
#
# Amounts are returned as decimal strings: compare them with "eq".

###############################################################################

use warnings;
use strict;

use Exporter qw(import);
use Math::BigInt;
use POSIX qw(strftime);

our @EXPORT_OK = qw(usd_nano nano_usd part cost reserve utc_day utc_hour
	ceil_div);

###############################################################################

sub _big { Math::BigInt->new("$_[0]") }

sub ceil_div {
	my ($a, $b) = @_;

	my ($q, $r) = _big($a)->bdiv(_big($b));
	$q->binc() unless $r->is_zero();
	return $q;
}

sub usd_nano {
	my ($usd) = @_;

	$usd =~ /^(\d+)(?:\.(\d{1,9}))?$/ or die "usd_nano: bad amount '$usd'\n";
	my $frac = ($2 // '') . ('0' x (9 - length($2 // '')));

	return _big($1)->bmul(1_000_000_000)->badd($frac + 0)->bstr();
}

sub nano_usd {
	my ($nusd) = @_;

	my $n = _big($nusd);
	my $sign = $n->is_neg() ? '-' : '';
	$n->babs();
	my ($q, $r) = $n->copy()->bdiv(1_000_000_000);

	return sprintf '%s%s.%09d', $sign, $q->bstr(), $r->numify();
}

sub part {
	my ($tokens, $price) = @_;
	return ceil_div(_big($tokens)->bmul(_big($price)), 1_000_000)->bstr();
}

sub cost {
	my (%a) = @_;

	my $p = $a{price} // die "cost: price\n";
	my $cp = $a{cached_price} // $p;
	my $op = $a{out_price} // die "cost: out_price\n";

	my $c = _big(part($a{in} // 0, $p));
	$c->badd(part($a{cached} // 0, $cp));
	$c->badd(defined $a{write_price} ? part($a{write} // 0, $a{write_price})
		: ceil_div(_big($a{write} // 0)->bmul(_big($p))->bmul(5),
			4_000_000));
	$c->badd(part($a{write_1h} // 0, $a{write_1h_price} // 2 * $p));
	$c->badd(part($a{out} // 0, $op));

	return $c->bstr();
}

sub reserve {
	my (%a) = @_;

	my $bpt = $a{bytes_per_token} // 1;
	my $input = ceil_div($a{bytes}, $bpt);

	# the dearest price per million input tokens, rounded up
	my @p = ($a{price}, $a{cached_price} // 0);
	push @p, $a{write_price} // ceil_div(_big($a{price})->bmul(5), 4),
		$a{write_1h_price} // _big($a{price})->bmul(2)
		if $a{anthropic};
	my ($max) = sort { _big($b)->bcmp(_big($a)) } @p;

	my $in = _big(part($input, $max));

	return $in->badd(part($a{max_tokens} // 4096, $a{out_price}))->bstr();
}

sub utc_day { strftime('%Y%m%d', gmtime($_[0] // time())) }
sub utc_hour { strftime('%Y%m%d%H', gmtime($_[0] // time())) }

###############################################################################

1;
