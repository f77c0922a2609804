#!/usr/bin/perl

# (C) tokenroute authors

# Provider TLS (issue 9, README "Provider TLS"): the gateway verifies the
# provider's certificate, for the name of the provider url's host, before
# it sends the provider key.
#
# The mock provider sits behind TLS front ends, server blocks of the
# gateway's own nginx, with certificates made here by the openssl CLI:
#   good       mock.test, signed by the test CA
#   self       mock.test, self-signed
#   impostor   impostor.test, self-signed
#   wrongname  impostor.test, signed by the test CA
# Every provider is url=https://mock.test:PORT/v1 with an upstream{} block
# at 127.0.0.1:PORT, so the name checked is mock.test.
#
#   1. the default configuration (Debian's CA bundle): every front end
#      fails with 502 provider_failed, the mock sees no request
#   2. a server that trusts the system CAs plus the test CA (README's
#      recipe): good answers 200 (its front end got SNI mock.test);
#      self, impostor and wrongname fail with 502 and reach nothing; a
#      chain whose first provider fails verification falls back
#   3. verification off in a "tokenroute on" location: "nginx -t" fails
#      with an [emerg] naming the fix; with
#      "tokenroute_insecure_provider_tls on" nginx starts, logs a [warn],
#      and the self-signed provider answers

###############################################################################

use warnings;
use strict;

use JSON::PP;
use POSIX qw(:sys_wait_h);
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

plan(skip_all => 'no openssl CLI')
	unless system('openssl version >/dev/null 2>&1') == 0;

my $d = $t->testdir;

# Certificates.  EC keys: fast to make.

sub openssl {
	my (@args) = @_;
	my $out = `openssl @args 2>&1`;
	die "openssl @args: $out" if $?;
}

my $EC = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';

openssl("req -x509 $EC -keyout $d/ca.key -out $d/ca.pem -days 2"
	. " -subj '/CN=tokenroute test CA'"
	. " -addext basicConstraints=critical,CA:TRUE"
	. " -addext keyUsage=critical,keyCertSign,cRLSign");

for my $c ([ good => 'mock.test' ], [ wrongname => 'impostor.test' ]) {
	my ($name, $cn) = @$c;
	$t->_write("$d/$name.ext", "subjectAltName=DNS:$cn\n"
		. "basicConstraints=CA:FALSE\n"
		. "extendedKeyUsage=serverAuth\n", 0644);
	openssl("req $EC -keyout $d/$name.key -out $d/$name.csr"
		. " -subj '/CN=$cn'");
	openssl("x509 -req -in $d/$name.csr -CA $d/ca.pem -CAkey $d/ca.key"
		. " -CAcreateserial -days 2 -extfile $d/$name.ext"
		. " -out $d/$name.pem");
}

for my $c ([ self => 'mock.test' ], [ impostor => 'impostor.test' ]) {
	my ($name, $cn) = @$c;
	openssl("req -x509 $EC -keyout $d/$name.key -out $d/$name.pem"
		. " -days 2 -subj '/CN=$cn' -addext subjectAltName=DNS:$cn");
}

chmod 0644, glob("$d/*.key");

# README's recipe for a private CA: the system CAs plus the test CA

my $system = TokenRoute::Test::_slurp('/etc/ssl/certs/ca-certificates.crt')
	// die "no /etc/ssl/certs/ca-certificates.crt\n";
$t->_write("$d/bundle.pem", $system . TokenRoute::Test::_slurp("$d/ca.pem"),
	0644);

my @FRONTS = qw(good self impostor wrongname);

# the TLS front ends (the main gateway only) and their logs of requests

my $fronts = "log_format tls_front '\$ssl_server_name';\n"
	. join '', map { <<"EOF" } @FRONTS;
server {
    listen 127.0.0.1:%%PORT_$_%% ssl;
    server_name mock.test;
    ssl_certificate %%TESTDIR%%/$_.pem;
    ssl_certificate_key %%TESTDIR%%/$_.key;
    access_log %%TESTDIR%%/front_$_.log tls_front;
    location / {
        proxy_pass http://127.0.0.1:%%MOCK_PORT%%;
    }
}
EOF

# one OpenAI-type and one Anthropic-type provider per front end

my $providers = join '', map { <<"EOF" } @FRONTS;
upstream tls_$_ {
    server 127.0.0.1:%%PORT_$_%%;
}
tokenroute_provider tls-$_-ai type=openai url=https://mock.test:%%PORT_$_%%/v1 key_file=%%TESTDIR%%/openai.key upstream=tls_$_;
tokenroute_provider tls-$_-ant type=anthropic url=https://mock.test:%%PORT_$_%%/v1 key_env=TOKENROUTE_TEST_ANTHROPIC_KEY upstream=tls_$_;
tokenroute_model tls/$_-ai provider=tls-$_-ai upstream_model=gpt-tls-$_ input_price=1 output_price=1;
tokenroute_model tls/$_-ant provider=tls-$_-ant upstream_model=claude-tls-$_ input_price=1 output_price=1;
EOF
$providers .= <<'EOF';
tokenroute_model tls/self-fb provider=tls-self-ai upstream_model=gpt-tls-self input_price=1 output_price=1 fallback=tls/good-ai;
EOF

$t->start_gateway(http => $fronts . $providers);

$t->start_nginx_instance('trusting', http => $providers,
	server => "proxy_ssl_trusted_certificate %%TESTDIR%%/bundle.pem;\n");

my $key = $t->create_key(name => 'tls');

my @secrets = ($TokenRoute::Test::OPENAI_KEY,
	$TokenRoute::Test::ANTHROPIC_KEY, $key->{raw});

###############################################################################

# Helpers.

sub call {
	my ($shape, $model, %o) = @_;

	my $openai = $shape eq 'openai';

	return $t->http(method => 'POST',
		path => $openai ? '/v1/chat/completions' : '/v1/messages',
		port => $o{port},
		headers => $openai
			? [ Authorization => "Bearer $key->{raw}" ]
			: [ 'x-api-key' => $key->{raw},
				'anthropic-version' => '2023-06-01' ],
		body => { model => $model, max_tokens => 100,
			messages => [ { role => 'user', content => 'tls' } ] });
}

# requests the mock received for an upstream model id

sub mock_count {
	my ($upstream) = @_;
	return scalar grep { ($_->{json} ? $_->{json}{model} // '' : '')
		eq $upstream } $t->mock_requests();
}

sub front_count {
	my ($front) = @_;
	my $log = TokenRoute::Test::_slurp("$d/front_$front.log") // '';
	return scalar(() = $log =~ /\n/g);
}

sub refused_ok {
	my ($name, $front, %o) = @_;

	my $before = front_count($front);

	for my $shape (qw(openai anthropic)) {
		my $suffix = $shape eq 'openai' ? 'ai' : 'ant';
		my $upstream = ($shape eq 'openai' ? 'gpt' : 'claude')
			. "-tls-$front";
		my $before_mock = mock_count($upstream);
		my $res = call($shape, "tls/$front-$suffix", port => $o{port});

		$t->error_ok($res, $shape, status => 502,
			type => $shape eq 'openai' ? 'server_error' : 'api_error',
			secrets => \@secrets, name => "$name: $shape 502");

		if ($shape eq 'openai') {
			is($res->{json}{error}{code} // '', 'provider_failed',
				"$name: code provider_failed");
		}

		is(mock_count($upstream), $before_mock,
			"$name: $shape: the mock saw nothing");
	}

	is(front_count($front), $before,
		"$name: the front end served no request");
}

sub served_ok {
	my ($name, $front, %o) = @_;

	for my $shape (qw(openai anthropic)) {
		my $suffix = $shape eq 'openai' ? 'ai' : 'ant';
		my $upstream = ($shape eq 'openai' ? 'gpt' : 'claude')
			. "-tls-$front";
		my $before = mock_count($upstream);
		my $logged = front_count($front);
		my $res = call($shape, "tls/$front-$suffix", port => $o{port});

		is($res->{status}, 200, "$name: $shape 200")
			or diag(substr($res->{raw} // '', 0, 2000));
		is(mock_count($upstream), $before + 1,
			"$name: $shape: the mock got the request");

		# the front end logs after it answered: wait, so that a later
		# refused_ok() does not count this request
		ok($t->wait_until(5, sub { front_count($front) > $logged }),
			"$name: $shape: the front end logged it");
	}
}

# "nginx -t" on the harness's configuration text, edited, in its own
# directory (its [emerg] must not reach the logs the harness checks)

sub nginx_check { return $t->nginx_check(@_) }

###############################################################################

# 1. The default configuration: Debian's CA bundle trusts none of them.

for my $front (@FRONTS) {
	refused_ok("default, $front", $front);
}

# 2. A server block that trusts the test CA.

served_ok('trusting, good', 'good', port => $t->port('trusting'));

is(TokenRoute::Test::_slurp("$d/front_good.log"), "mock.test\n" x 2,
	'trusting, good: SNI sent mock.test');

for my $front (qw(self impostor wrongname)) {
	refused_ok("trusting, $front", $front, port => $t->port('trusting'));
}

# A certificate that fails is a failed attempt: the chain goes on.

{
	my ($self0, $good0) = (mock_count('gpt-tls-self'),
		mock_count('gpt-tls-good'));
	my $res = call('openai', 'tls/self-fb', port => $t->port('trusting'));

	is($res->{status}, 200, 'trusting, self-fb: 200 by the fallback')
		or diag(substr($res->{raw} // '', 0, 2000));
	is($res->{headers}{'x-tokenroute-model'}, 'tls/good-ai',
		'trusting, self-fb: served by tls/good-ai');
	is($res->{headers}{'x-tokenroute-attempts'}, 2,
		'trusting, self-fb: 2 attempts');
	is(mock_count('gpt-tls-self'), $self0,
		'trusting, self-fb: the self-signed provider got nothing');
	is(mock_count('gpt-tls-good'), $good0 + 1,
		'trusting, self-fb: the good one got the request');
}

# What nginx logged: the verification failures, at error level.

like($t->error_log('trusting'),
	qr/upstream SSL certificate (?:verify error|does not match)/,
	'trusting: error.log says why');

like($t->error_log('trusting'),
	qr/upstream SSL certificate does not match "mock\.test"/,
	'trusting: wrongname fails on the name mock.test');

# 3. Verification off.

my $r = nginx_check();
is($r->{rc}, 0, 'nginx -t: the harness configuration is valid')
	or diag($r->{out});

$r = nginx_check(edit => sub {
	$_[0] =~ s{^\s*include \S+/tokenroute_tls\.conf;\n}{}mr });
isnt($r->{rc}, 0, 'nginx -t: no tokenroute_tls.conf fails');
like($r->{out}, qr/\[emerg\].*tokenroute_tls\.conf/,
	'nginx -t: the emerg names tokenroute_tls.conf')
	or diag($r->{out});

$r = nginx_check(server => "proxy_ssl_verify off;\n");
isnt($r->{rc}, 0, 'nginx -t: proxy_ssl_verify off fails');
like($r->{out}, qr/\[emerg\].*tokenroute_insecure_provider_tls/,
	'nginx -t: the emerg names tokenroute_insecure_provider_tls')
	or diag($r->{out});

$r = nginx_check(server => "location /other/ {\n    tokenroute on;\n"
	. "    proxy_ssl_verify off;\n"
	. "    include %%REPO%%/conf.d/tokenroute_proxy.conf;\n}\n");
isnt($r->{rc}, 0, 'nginx -t: one more location without verification fails');
like($r->{out}, qr/\[emerg\].*"\/other\/"/, 'nginx -t: the emerg names it')
	or diag($r->{out});

$r = nginx_check(server => "proxy_ssl_verify off;\n"
	. "tokenroute_insecure_provider_tls on;\n");
is($r->{rc}, 0, 'nginx -t: with tokenroute_insecure_provider_tls on')
	or diag($r->{out});

$r = nginx_check(http => "tokenroute_insecure_provider_tls on;\n",
	edit => sub {
		$_[0] =~ s{^\s*include \S+/tokenroute_tls\.conf;\n}{}mr });
is($r->{rc}, 0, 'nginx -t: tokenroute_insecure_provider_tls on in http')
	or diag($r->{out});
like($r->{out}, qr/\[warn\].*not verified/, 'nginx -t: it warns')
	or diag($r->{out});

$t->start_nginx_instance('insecure', http => $providers,
	server => "proxy_ssl_verify off;\n"
		. "tokenroute_insecure_provider_tls on;\n");

like($t->error_log('insecure'),
	qr/\[warn\].*provider certificates are not verified.*impostor/,
	'insecure: nginx warns at start');

# at every configuration load: a reload warns again

{
	my $warns = sub { scalar(() = $t->error_log('insecure')
		=~ /\[warn\].*provider certificates are not verified/g) };
	my $n = $warns->();
	kill 'HUP', $t->{procs}{insecure};
	ok($t->wait_until(5, sub { $warns->() > $n }),
		'insecure: the reload warns again');
}

served_ok('insecure, self', 'self', port => $t->port('insecure'));
served_ok('insecure, impostor', 'impostor', port => $t->port('insecure'));

# the insecure setting is its own server's: the default still refuses

refused_ok('default again, self', 'self');

done_testing();

###############################################################################
