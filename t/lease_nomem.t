#!/usr/bin/perl

# (C) tokenroute authors

# Leases (README "Leases", "Errors"): when the key check answered from
# the lease zone cannot allocate the verdict's copy, the answer is 500
# internal_error, the gateway's own failure, not 503 key_store_unavailable
# (Redis was not even asked).  The allocation is made to fail by a malloc
# shim (t/lib/fail_malloc.c, LD_PRELOAD): with small request pools and a
# catalog of 700 models the key check's copy (the key's id, account and
# tenant, and a byte a model) is larger than a pool's small allocations,
# so it is a malloc of its own, of a size nothing else of the request
# asks for.

###############################################################################

use warnings;
use strict;

use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;
use TokenRoute::KeyCheck qw(get);
use TokenRoute::Lease qw(lease_gateway used_chat);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

# before the harness: its teardown adds tests
plan(skip_all => 'a malloc shim cannot stand beside the sanitizer')
	if $ENV{TOKENROUTE_SANITIZE};

my $t = TokenRoute::Test->new();

my $dir = $t->testdir;
my $flag = "$dir/fail-malloc";
my $models = 700;

$t->start_redis();

my $k = $t->create_key(name => 'nomem');
my $kh = $t->key_hash($k->{raw});

# the copy's size: the catalog is ours, openai/used and the 3 defaults
my $size = $models + 4 + length($k->{id}) + length($k->{account} // '')
	+ length($k->{tenant} // '');

system('cc', '-shared', '-fPIC', '-O2', '-Wall', '-Werror',
	"-DFAIL_MIN=$size", "-DFAIL_MAX=$size", "-DFAIL_FLAG=\"$flag\"",
	'-o', "$dir/fail_malloc.so", $t->repo . '/t/lib/fail_malloc.c') == 0
	or die "cannot build the malloc shim\n";

$t->{nginx_env} = { LD_PRELOAD => "$dir/fail_malloc.so" };

lease_gateway($t, http => "request_pool_size 512;\n" . join('', map {
	"tokenroute_model nomem/m$_ provider=mockai upstream_model=gpt-ok"
	. " input_price=1 output_price=1 listed=off;\n" } 1 .. $models));

$t->allow_log(qr/malloc\($size\) failed/);

###############################################################################

# the pub/sub subscriber marks every record stale when it connects (what
# it missed is unknown): the entry is made after it, or the key checks
# below would ask Redis
ok($t->wait_until(5, sub { $t->error_log =~ /subscribed to "tr:inval"/ }),
	'the worker subscribed to key changes');

is(used_chat($t, $k->{raw}), 200, 'a chat request: the entry made');
ok($t->wait_until(3, sub {
	my %r = @{ $t->redis('HGETALL', 'tr:rsvd') || [] };
	grep { /^$kh / } values %r }), 'its lease held');

my $r = get($t, $k, '/v1/models');
is($r->{status}, 200, 'models, from the zone: 200');

open(my $fh, '>', $flag) or die "$flag: $!\n";
close $fh;

$r = get($t, $k, '/v1/models');
unlink $flag;

is($r->{status}, 500, 'models, the allocation failing: 500');
isnt(($r->{json} || {})->{error}{code} // '', 'key_store_unavailable',
	'not the key store');
like($t->error_log, qr/malloc\($size\) failed/, 'the failure was the shim\'s');

is(get($t, $k, '/v1/models')->{status}, 200, 'models, then: 200 again');

done_testing();
