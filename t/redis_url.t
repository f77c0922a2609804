#!/usr/bin/perl

# (C) tokenroute authors

# Tests for "Redis URLs" (README): tokenroute_redis and the CLI's
# --redis / TOKENROUTE_REDIS read redis://USER:PASSWORD@HOST:PORT/DB the
# same way (one parser, src/tokenroute_redis_url.c): a key the CLI makes
# through the URL is served by the gateway configured with the same URL
# (here through "tokenroute_redis env=VAR"), and the spend lands in that
# database.  rediss:// is refused by both, with the same reason.

###############################################################################

use warnings;
use strict;

use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();
my $d = $t->testdir();

# only the ACL user "tr" (password "p@ss:/x") may use this Redis

my $P = $t->port('redis');
$t->_release_port('redis');
$t->_spawn('redis', "$d/redis.log", {}, 'redis-server', '--port', $P,
	'--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
	'--dir', $d, '--user', 'default', 'off',
	'--user', 'tr', 'on', '>p@ss:/x', '~*', '&*', '+@all');

my $URL = "redis://tr:p%40ss%3A%2Fx\@127.0.0.1:$P/3";

# one command as the user "tr", in database 3

sub rcmd {
	my (@cmd) = @_;

	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $P,
		Proto => 'tcp', Timeout => 2) or return undef;

	my $req = '';
	for my $c ([ 'AUTH', 'tr', 'p@ss:/x' ], [ 'SELECT', 3 ], \@cmd) {
		$req .= '*' . @$c . "\r\n";
		$req .= '$' . length($_) . "\r\n$_\r\n" for @$c;
	}
	print $s $req;

	my ($buf, $deadline, $reply) = ('', time() + 3);
	for (1 .. 3) {
		$reply = TokenRoute::Test::_resp_read($s, \$buf, $deadline);
		return undef if ref $reply eq 'HASH';
	}
	close $s;

	return $reply;
}

ok($t->wait_until(5, sub { (rcmd('PING') // '') eq 'PONG' }),
	'Redis with an ACL user');

###############################################################################

# 1. the CLI through the URL: user, %-decoded password, database 3

my ($code, $out, $err) = $t->cli_raw('--redis', $URL, 'keys', 'create',
	'--name', 'url-key', '--json');
is($code, 0, 'CLI: keys create through redis://user:password@host/db')
	or diag($err);
my $key = eval { JSON::PP->new->decode($out) } || {};
my $KH = 'tr:key:' . $t->key_hash($key->{raw} // '');

is(rcmd('HGET', $KH, 'id'), $key->{id}, 'the key is in database 3');
rcmd('HINCRBY', 'tr:acct:default', 'credit', 1000 * 1_000_000_000);

###############################################################################

# 2. the gateway, given the same URL through tokenroute_redis env=VAR

my ($http, $server) = $t->default_conf();
$http =~ s/^tokenroute_redis .*$/tokenroute_redis env=TOKENROUTE_TEST_REDIS timeout=1s;/m
	or die "no tokenroute_redis line in default_conf\n";

$ENV{TOKENROUTE_TEST_REDIS} = $URL;
$t->start_mock();
$t->write_nginx_conf($http, $server);
$t->start_nginx();

my $r = $t->http(method => 'POST', path => '/v1/chat/completions',
	headers => [ Authorization => "Bearer $key->{raw}" ],
	body => { model => 'openai/gpt-4o-mini', max_tokens => 50,
		messages => [ { role => 'user', content => 'url' } ] },
	timeout => 5);
is($r->{status}, 200, 'gateway: the key found through the same URL')
	or diag(substr($r->{raw} // '', 0, 300));

ok($t->wait_until(3, sub { (rcmd('HGET', $KH, 'spent') // 0) > 0 }),
	'gateway: the spend written to database 3');

unlike($t->error_log(), qr/p\@ss|p%40ss/, 'the password is not logged');

###############################################################################

# 3. rediss:// and other mistakes: refused at load, and by the CLI


sub nginx_t {
	my ($directive) = @_;
	my $r = $t->nginx_check(edit => sub {
		(my $c = shift) =~ s/^\s*tokenroute_redis .*$/$directive/m
			or die "no tokenroute_redis line\n";
		return $c;
	});
	return ($r->{rc}, $r->{out});
}

my ($rc, $msg) = nginx_t("tokenroute_redis redis://tr:pw\@127.0.0.1:$P/3;");
is($rc, 0, 'nginx -t: a redis:// URL') or diag($msg);

($rc, $msg) = nginx_t("tokenroute_redis rediss://tr:s3cret\@127.0.0.1:$P;");
isnt($rc, 0, 'nginx -t: rediss:// refused');
like($msg, qr/invalid Redis URL: rediss:\/\/ \(TLS to Redis\) is not supported/,
	'nginx -t: and says why');
unlike($msg, qr/s3cret/, 'nginx -t: without the password');

($rc, $msg) = nginx_t('tokenroute_redis sentinel=127.0.0.1:26379;');
isnt($rc, 0, 'nginx -t: sentinel= without master=');
like($msg, qr/needs "master=NAME"/, 'nginx -t: says what is missing');

($rc, $msg) = nginx_t('tokenroute_redis redis-sentinel://127.0.0.1:1;');
like($msg, qr/needs \/MASTER/, 'nginx -t: a sentinel URL without /MASTER');

($code, $out, $err) = $t->cli_raw('--redis', "rediss://tr:s3cret\@127.0.0.1:$P",
	'keys', 'list');
isnt($code, 0, 'CLI: rediss:// refused');
like($err, qr/rediss:\/\/ \(TLS to Redis\) is not supported/,
	'CLI: the same reason');
unlike($err, qr/s3cret/, 'CLI: without the password');

# HOST:PORT read by the same rules as tokenroute_redis's: a bad one is a
# usage error (exit 2) that names it, and nothing is sent
for my $bad ('127.0.0.1:99999', '127.0.0.1:', '[::1', 'a b:6379',
	'host:6379/0')
{
	($code, $out, $err) = $t->cli_raw('--redis', $bad, 'keys', 'list');
	is($code, 2, "CLI --redis '$bad': exit 2");
	like($err, qr/bad Redis address '\Q$bad\E'/, "... and it names it");
}

# 4. a string with a password that is not read as a URL: what follows its
# last '@' is shown, never the password; an unknown parameter by its name

for my $spec ('redis:/:s3cret@h:1', "tr:s3cret\@127.0.0.1:$P",
	'redis//:s3cret@h')
{
	(my $shown = $spec) =~ s/^.*\@/***\@/;

	($rc, $msg) = nginx_t("tokenroute_redis $spec;");
	isnt($rc, 0, "nginx -t: '$shown' refused");
	like($msg, qr/invalid Redis address "\Q$shown\E"/, '... says what');
	unlike($msg, qr/s3cret/, '... without the password');

	local $ENV{TOKENROUTE_TEST_BAD} = $spec;
	($rc, $msg) = nginx_t('tokenroute_redis env=TOKENROUTE_TEST_BAD;');
	isnt($rc, 0, "nginx -t: '$shown' through env= refused");
	like($msg, qr/invalid Redis address "\Q$shown\E"/, '... says what');
	unlike($msg, qr/s3cret/, '... without the password');

	($code, $out, $err) = $t->cli_raw('--redis', $spec, 'keys', 'list');
	is($code, 2, "CLI '$shown': exit 2");
	like($err, qr/bad Redis address '\Q$shown\E'/, '... says what');
	unlike($err, qr/s3cret/, '... without the password');

}

($rc, $msg) = nginx_t('tokenroute_redis sentinel=:s3cret@127.0.0.1:1 '
	. 'master=m;');
like($msg, qr/invalid sentinel address "\*\*\*\@127\.0\.0\.1:1"/,
	'nginx -t: a sentinel address with a password, redacted');
unlike($msg, qr/s3cret/, '... without the password');

for my $p ('pasword=s3cret', 'sentinel_pass=s3cret', 'passwd=s3cret') {
	(my $name = $p) =~ s/=.*//;
	($rc, $msg) = nginx_t("tokenroute_redis 127.0.0.1:$P $p;");
	isnt($rc, 0, "nginx -t: '$name=' refused");
	like($msg, qr/invalid parameter "\Q$name\E"/, '... named');
	unlike($msg, qr/s3cret/, '... without its value');
}

($rc, $msg) = nginx_t("tokenroute_redis 127.0.0.1:$P db=:s3cret\@x;");
like($msg, qr/invalid parameter "db=\*\*\*\@x"/, 'nginx -t: db= with an @');
unlike($msg, qr/s3cret/, '... redacted');

($rc, $msg) = nginx_t("tokenroute_redis 127.0.0.1:$P db=x;");
like($msg, qr/invalid parameter "db=x"/, 'nginx -t: a plain bad value shown');

done_testing();

###############################################################################
