#!/usr/bin/perl

# (C) tokenroute authors

# Tests for a large catalog: the shared cooldown table has a node per
# model, so its zone is sized by the number of models (a fixed 64 KB held
# about 800: more failed nginx's start with "ngx_slab_alloc() failed").
# nginx starts with thousands of models, serves them, keeps a model's
# cooldown across a reload that keeps the ids, and reloads into a catalog
# of another size.

###############################################################################

use warnings;
use strict;

use Test::More;

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

# N models on the mock; "many/cool" answers 429 with retry-after 30 and
# cools, then falls back to many/1
sub catalog {
	my ($n) = @_;

	return "tokenroute_model many/cool provider=mockai "
		. "upstream_model=gpt-error-429-ra30 input_price=1 output_price=1 "
		. "fallback=many/1;\n"
		. join('', map { "tokenroute_model many/$_ provider=mockai "
			. "upstream_model=gpt-many-$_ input_price=1 output_price=1;\n" }
			1 .. $n);
}

$t->start_gateway(http => catalog(2000));

my $key = $t->create_key(account => 'many');

is($t->chat($key->{raw}, model => 'many/2000')->{status}, 200,
	'2,000 models: the last one served');

my $r = $t->chat($key->{raw}, model => 'many/cool');
is($r->{status}, 200, 'a 429 falls back');

my $mock = () = grep { ($_->{json}{model} // '') =~ /error-429/ } $t->mock_requests();
is($mock, 1, 'the cooling model asked once');

$t->chat($key->{raw}, model => 'many/cool');
$mock = () = grep { ($_->{json}{model} // '') =~ /error-429/ } $t->mock_requests();
is($mock, 1, 'then cooled: not asked again');

# a reload with the same ids keeps the table, and the cooldown

$t->write_nginx_conf(($t->default_conf())[0] . catalog(2000),
	($t->default_conf())[1]);
$t->reload_nginx();

$t->chat($key->{raw}, model => 'many/cool');
$mock = () = grep { ($_->{json}{model} // '') =~ /error-429/ } $t->mock_requests();
is($mock, 1, 'reload, same ids: still cooled');

# a reload into twice as many models

$t->write_nginx_conf(($t->default_conf())[0] . catalog(2500),
	($t->default_conf())[1]);
$t->reload_nginx();

is($t->chat($key->{raw}, model => 'many/2500')->{status}, 200,
	'reload to 2,500 models: the last one served');

unlike($t->error_log(), qr/ngx_slab_alloc\(\) failed/,
	'no slab allocation failed');

done_testing();

###############################################################################
