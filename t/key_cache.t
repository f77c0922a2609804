#!/usr/bin/perl

# (C) tokenroute authors

# Tests for the worker's cache of key hashes: a key found in it skips the
# check of its characters (it passed it before it was cached), so a key
# falling in the slot of a cached one (same length, same last two bytes)
# must still be checked in full: a malformed one is refused as malformed,
# a well-formed unknown one as unknown, and neither evicts the good one.
# Keys too short for a slot (empty, one character) are malformed.

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
$t->start_gateway();

my $key = $t->create_key(name => 'key-cache');
my $raw = $key->{raw};

my $code = sub {
	my ($res) = @_;
	my $j = $res->{json};
	return ref $j eq 'HASH' && ref $j->{error} eq 'HASH'
		? ($j->{error}{code} // $j->{error}{type} // '') : '';
};

my $message = sub {
	my ($res) = @_;
	my $j = $res->{json};
	return ref $j eq 'HASH' && ref $j->{error} eq 'HASH'
		? ($j->{error}{message} // '') : '';
};

is($t->chat($raw)->{status}, 200, 'the key is served (now cached)');

# the same slot: same length, same last two bytes, one byte changed

my $mid = int(length($raw) / 2);

for my $bad ('!', ' ', "\x7f", '.', '+', '/', '=') {
	my $k = $raw;
	substr($k, $mid, 1) = $bad;

	my $res = $t->chat($k);
	is($res->{status}, 401, sprintf('byte 0x%02x in the cached slot: 401',
		ord $bad));
	like($message->($res), qr/Malformed API key/,
		sprintf('byte 0x%02x: malformed', ord $bad));
}

my $other = $raw;
substr($other, $mid, 1) = substr($raw, $mid, 1) eq 'A' ? 'B' : 'A';

my $res = $t->chat($other);
is($res->{status}, 401, 'well-formed key in the cached slot: 401');
unlike($message->($res), qr/Malformed/, 'not malformed: unknown');
is($code->($res), 'invalid_api_key', 'invalid_api_key');

# the prefix changed, in the cached slot
(my $prefix = $raw) =~ s/^sk-tr-/sk-tx-/;
$res = $t->chat($prefix);
is($res->{status}, 401, 'other prefix in the cached slot: 401');
like($message->($res), qr/Malformed API key/, 'other prefix: malformed');

# too short for a slot
for my $short ('', 'A', 'sk') {
	$res = $t->http(method => 'POST', path => '/v1/chat/completions',
		headers => [ 'x-api-key' => $short ],
		body => { model => 'openai/gpt-4o-mini', max_tokens => 50,
			messages => [ { role => 'user', content => 'Hi' } ] });
	is($res->{status}, 401, "x-api-key \"$short\": 401");
}

is($t->chat($raw)->{status}, 200, 'the key is still served');
is($t->chat($raw)->{status}, 200, 'and again');

$t->nginx_check();

done_testing();

###############################################################################
