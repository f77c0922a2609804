#!/usr/bin/perl

# (C) tokenroute authors

# Leases (README "Leases"), their bounds under review: failed requests
# aggregated are counted as failed, every one.

###############################################################################

use warnings;
use strict;

use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

$t->start_gateway(http => <<'EOF');
tokenroute_lease zone=lease:1m slice=50 max_age=500ms flush=1s ttl=2s;
tokenroute_model openai/used provider=mockai upstream_model=gpt-usage-100-20 input_price=1 output_price=5;
tokenroute_model openai/err provider=mockai upstream_model=gpt-error-500 input_price=1 output_price=5;
EOF

# the lease records of a key hash in tr:rsvd: outstanding amounts
sub leases {
	my ($kh) = @_;
	my %r = @{ $t->redis('HGETALL', 'tr:rsvd') || [] };
	return map { (split / /, $r{$_})[1] }
		grep { $r{$_} =~ /^$kh \d+ \S+ \S+ - - - -$/ } keys %r;
}

sub chat {
	my ($raw, $model, @h) = @_;
	return $t->http(method => 'POST', path => '/v1/chat/completions',
		headers => [ Authorization => "Bearer $raw", @h ],
		body => { model => $model // 'openai/used', max_tokens => 50,
			messages => [ { role => 'user', content => 'Hi' } ] },
		timeout => 15)->{status};
}

sub utc_hour {
	my @g = gmtime(time());
	return sprintf('%04d%02d%02d%02d', $g[5] + 1900, $g[4] + 1, $g[3],
		$g[2]);
}

sub reserved { $t->redis('HGET', $_[0], 'reserved') // 0 }

###############################################################################

# failed requests admitted from a lease: each counts as failed once its
# aggregate is flushed (an aggregate's fail field is a count, not a flag)

{
	my $k = $t->create_key(name => 'fails', account => 'facct');
	my $kh = $t->key_hash($k->{raw});

	is(chat($k->{raw}), 200, 'fails: first request served');
	ok($t->wait_until(3, sub { (leases($kh))[0] }), 'fails: a lease');

	my @st = map { chat($k->{raw}, 'openai/err') } 1 .. 4;
	is(scalar(grep { $_ >= 500 } @st), 4, 'fails: 4 requests failed');

	my $f = "facct||$k->{id}|openai/err|";
	ok($t->wait_until(4, sub {
		my %u = %{ $t->redis_hash('tr:u:h:' . utc_hour()) };
		($u{$f . 'fail'} // 0) + ($u{$f . 'req'} // 0) >= 4
	}), 'fails: flushed');
	my %u = %{ $t->redis_hash('tr:u:h:' . utc_hour()) };
	is($u{$f . 'fail'}, 4, 'fails: usage counts 4 failed');
	is($u{$f . 'req'} // 0, 0, 'fails: and no request charged');
}

done_testing();
