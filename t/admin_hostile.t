#!/usr/bin/perl

# (C) tokenroute authors

# The admin API and the control scripts against a hostile client: bytes
# that are not UTF-8 in a name, a reason or a model id (from the CLI,
# from a JSON escape, or already in Redis) never make a document that is
# not valid JSON; odd paths, bodies and credentials are refused.

###############################################################################

use warnings;
use strict;

use Test::More;
use Encode qw(decode FB_CROAK);
use JSON::PP;

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();
$t->start_gateway(server => <<'EOF2');
location /admin/ {
    tokenroute_admin;
}
EOF2

my ($rc, $out, $err) = $t->cli('admin-keys', 'create', '--name', 'ops',
	'--json');
my $ops = eval { decode_json($out) } // {};

sub api {
	my ($method, $path, $body, %a) = @_;
	my $res = $t->http(method => $method, path => "/admin/$path",
		headers => { Authorization => "Bearer $ops->{raw}" },
		body => $body, %a);
	$res->{json} = eval { decode_json($res->{body}) };
	return $res;
}

# valid UTF-8 and JSON, whatever the status
sub valid_json {
	my ($text) = @_;
	my $copy = $text;
	return 0 unless eval { decode('UTF-8', $copy, FB_CROAK); 1 };
	return eval { JSON::PP->new->utf8->decode($text); 1 } ? 1 : 0;
}

###############################################################################

# names, reasons and model ids that are not UTF-8

($rc, $out, $err) = $t->cli('keys', 'create', '--name', "bad\xff\xfe",
	'--json');
is($rc, 2, 'keys create: a name not UTF-8, exit 2') or diag("$out$err");

($rc, $out, $err) = $t->cli('keys', 'create', '--name', 'm',
	'--models', "gpt\xc3", '--json');
is($rc, 2, 'keys create: a model id not UTF-8, exit 2') or diag("$out$err");

($rc, $out, $err) = $t->cli('credit', 'add', '--account', 'default',
	'--amount', '1', '--reason', "top\xe2\x82", '--json');
is($rc, 2, 'credit add: a reason not UTF-8, exit 2') or diag("$out$err");

my $res = api('POST', 'keys', undef,
	body => '{"name":"lone \udc00 surrogate"}');
is($res->{status}, 400, 'a lone surrogate in a name: 400')
	or diag($res->{raw});
ok(valid_json($res->{body}), 'its error is valid JSON');

# a record written before the check (an older CLI, by hand): still JSON

my $k = $t->create_key(name => 'plain');
$t->redis("HSET", "tr:key:" . $t->key_hash($k->{raw}), 'name', "old\xff name",
	'models', "m\xe9,ok");
$res = api('GET', 'keys');
is($res->{status}, 200, 'keys list') or diag($res->{raw});
ok(valid_json($res->{body}), 'keys list: valid JSON with a stored '
	. 'name not UTF-8');
$res = api('GET', "keys/$k->{id}");
ok(valid_json($res->{body}), 'keys show: valid JSON');
like($res->{json}{name} // '', qr/^old\x{fffd} name$/,
	'the bad byte shown as U+FFFD');

done_testing();
