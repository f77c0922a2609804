#!/usr/bin/perl

# (C) tokenroute authors

# Tests for nginx -t and nginx -s in a shell that lacks the variables the
# configuration reads with key_env= / password_env=: the master read them
# when it started; the tester warns and passes, the signaller ignores them,
# and the running master reloads and quits as asked.

###############################################################################

use warnings;
use strict;

use POSIX qw(:sys_wait_h);
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

# a second provider whose key comes from a variable only nginx's start
# environment has (password_env= is read by the same code)
$ENV{TOKENROUTE_TEST_OPENAI_KEY} = 'sk-env-openai-KEY';

$t->start_gateway(http => <<'EOF');
tokenroute_provider envai type=openai url=http://127.0.0.1:%%MOCK_PORT%%/v1 key_env=TOKENROUTE_TEST_OPENAI_KEY;
tokenroute_model test/envai provider=envai upstream_model=gpt-env input_price=1 output_price=1;
EOF

my $d = $t->testdir();
my $master = $t->nginx_pid();
my $key = $t->create_key(name => 'signals');

sub gateway_ok {
	my ($name) = @_;

	my $res = $t->http(method => 'POST', path => '/v1/messages',
		headers => { 'x-api-key' => $key->{raw} },
		body => { model => 'anthropic/claude-haiku-4-5', max_tokens => 8,
			messages => [ { role => 'user', content => 'hi' } ] });

	is($res->{status}, 200, "$name: the gateway answers with the provider key")
		or diag(substr($res->{raw} // '', 0, 1000));
}

# nginx -... with the harness's environment minus the key variables

sub nginx_cmd {
	my (@args) = @_;

	my $env = $t->_nginx_env();
	delete $env->{TOKENROUTE_TEST_ANTHROPIC_KEY};

	my $out = "$d/cmd.out";

	my $pid = fork();
	die "fork: $!\n" unless defined $pid;

	if ($pid == 0) {
		delete $ENV{TOKENROUTE_TEST_ANTHROPIC_KEY};
		delete $ENV{TOKENROUTE_TEST_OPENAI_KEY};
		$ENV{$_} = $env->{$_} for keys %$env;
		open STDIN, '<', '/dev/null';
		open STDOUT, '>', $out;
		open STDERR, '>&', \*STDOUT;
		my $nginx = $ENV{TOKENROUTE_NGINX} || '/usr/sbin/nginx';
		{ no warnings qw(exec); exec { $nginx } $nginx, '-p', "$d/",
			'-c', "$d/nginx.conf", '-e', "$d/error.log", @args; }
		POSIX::_exit(127);
	}

	waitpid($pid, 0);
	my $rc = $? >> 8;

	open my $fh, '<', $out or die "$out: $!\n";
	local $/;
	my $text = <$fh> // '';

	return ($rc, $text);
}

###############################################################################

gateway_ok('started');

# nginx -t: a warning for each missing variable, and the test passes

my ($rc, $out) = nginx_cmd('-t');
is($rc, 0, 'nginx -t without the variables: exit 0') or diag($out);
like($out, qr/\[warn\].*TOKENROUTE_TEST_ANTHROPIC_KEY/,
	'nginx -t: warns about the missing variable');
unlike($out, qr/\[emerg\]/, 'nginx -t: no emerg') or diag($out);
like($out, qr/test is successful/, 'nginx -t: successful');

# nginx -s reload: new workers, which still have the provider key

my %old = map { $_ => 1 } $t->workers();

($rc, $out) = nginx_cmd('-s', 'reload');
is($rc, 0, 'nginx -s reload without the variables: exit 0') or diag($out);
unlike($out, qr/\[emerg\]|\[warn\]/, 'nginx -s reload: silent') or diag($out);

my $reloaded = $t->wait_until(10, sub {
	my @w = $t->workers();
	@w && !grep { $old{$_} } @w;
});
ok($reloaded, 'nginx -s reload: the master started new workers');

# the probe port may lag the new workers by a moment
$t->wait_until(5, sub {
	my $r = $t->http(method => 'GET', path => '/__probe', timeout => 1);
	$r->{status};
});

gateway_ok('reloaded');

# the provider that reads TOKENROUTE_TEST_OPENAI_KEY still has its key

$t->clear_mock_requests();

my $res = $t->http(method => 'POST', path => '/v1/chat/completions',
	headers => { Authorization => "Bearer $key->{raw}" },
	body => { model => 'test/envai',
		messages => [ { role => 'user', content => 'hi' } ] });

is($res->{status}, 200, 'key_env provider after the reload: 200');
my @reqs = $t->mock_requests();
is($reqs[0]{headers}{authorization}, 'Bearer sk-env-openai-KEY',
	'key_env provider after the reload: the key read at start');

# nginx -s quit: the master exits

($rc, $out) = nginx_cmd('-s', 'quit');
is($rc, 0, 'nginx -s quit without the variables: exit 0') or diag($out);

my $gone = $t->wait_until(10, sub { waitpid($master, WNOHANG) == $master });
ok($gone, 'nginx -s quit: the master exited');

delete $t->{procs}{nginx} if $gone;

done_testing();
