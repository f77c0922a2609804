package TokenRoute::Test;

# (C) tokenroute authors

# Test harness for tokenroute, in the style of nginx-tests: every test file
# starts its own nginx, Redis and mock provider on 127.0.0.1, in its own
# temporary directory, and asserts on raw HTTP exchanges.
#
# Environment:
#   TOKENROUTE_BUILD     build dir with ngx_http_tokenroute_module.so and
#                        the tokenroute CLI (default: <repo>/build)
#   NGINX                nginx binary (default: /usr/sbin/nginx)
#   TOKENROUTE_SANITIZE  1: the module and CLI were built with ASan/UBSan
#   TOKENROUTE_TEST_LEAVE 1: keep the temporary directory
#   TOKENROUTE_TEST_LEASE 1: every gateway runs with leases on
#                        (tokenroute_lease), unless its test sets its own
#
# Teardown (when done_testing() runs, or at exit) stops every process the
# harness started and adds these tests: error.log has no [alert], [emerg]
# or sanitizer lines (when nginx was started), and no sanitizer report
# files exist.  Use done_testing(), not a fixed plan.
#
# Methods:
#   new(needs => [qw(nginx module redis cli)])   skip_all when one is missing
#   port(NAME), testdir, build_dir, repo
#   start_redis, stop_redis, redis_port, redis(@cmd),
#       start_redis_replica(NAME), redis_at(PORT, @cmd)
#   start_mock(delay => S, idle_timeout => S, name => 'mock',
#       host => '::1', port => N (default: port(NAME)),
#       script => PATH (another mock, e.g. t/lib/mock_azure.pl,
#       mock_bedrock.pl), args => [...] (more options for it)), stop_mock,
#       mock_requests(NAME), clear_mock_requests(NAME), mock_aborts(NAME),
#       mock_outage(NAME, SUBSTRING => STATUS, ...)
#   default_conf, write_nginx_conf(HTTP, SERVER), start_nginx, reload_nginx,
#       stop_nginx, nginx_pid, workers, error_log
#   start_gateway(http => EXTRA, server => EXTRA, mock => {OPTS}),
#       start_admin_gateway(...): with /admin/ and an admin key (returned)
#   chat(RAW, model => M, timeout => S), served_in(RAW, TIMEOUT)
#   nginx_check(http => EXTRA, server => EXTRA, edit => SUB): nginx -t
#       of default_conf() + extras: { rc, out }
#   start_nginx_instance(NAME, http => EXTRA, server => EXTRA): one more
#       nginx with default_conf() + extras, on port(NAME), in testdir/NAME,
#       sharing Redis and the mock; stop_nginx_instance(NAME),
#       error_log(NAME)
#   redis_hash(KEY)  HGETALL as a hashref
#   wait_until(TIMEOUT, SUB)  polls SUB every 50 ms; its last value
#   cli(@args), cli_raw(@args), create_key(name, models, expires, limit,
#       account), key_hash(RAW)
#   http(method, path, headers, body, timeout, port, raw),
#       http_stream(...) (adds start, events, sse), http_keepalive(\%req, ...)
#   http_parallel(\%req, ...)  sends every request at once (one connection
#       each), then reads all responses; each has sent and done times
#   http_start(%req) -> handle (request sent, nothing read), then
#       http_finish(HANDLE, timeout => S) -> response as http_stream(), or
#       http_read_events(HANDLE, N, timeout => S) -> the first N SSE events
#       (raw text), then http_abort(HANDLE) closes the connection
#   error_ok(RES, 'openai'|'anthropic', status, type, secrets, name)
#   allow_log(REGEX)  error.log lines matching it are not counted by the
#       teardown's alert check (an [alert] the test expects)
#   $t->{nginx_env} = { NAME => VALUE }  set before start_gateway: more
#       environment for nginx (not with TOKENROUTE_SANITIZE's LD_PRELOAD)
#   json_members(TEXT)   (a function) the members of a JSON object as written

###############################################################################

use warnings;
use strict;

use Config;
use Cwd qw(abs_path);
use Digest::SHA qw(sha256_hex);
use Errno qw(EINTR EAGAIN);
use File::Basename qw(dirname);
use File::Path qw(rmtree);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use IO::Socket::IP;
use IPC::Open3 qw(open3);
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Scalar::Util qw(weaken);
use Symbol qw(gensym);
use Test::More;
use Test2::API qw(test2_add_callback_testing_done);
use Time::HiRes qw(time sleep);

###############################################################################

our $REPO = abs_path(dirname(__FILE__) . '/../../..');
our $MOCK = "$REPO/t/lib/mock_provider.pl";

our $OPENAI_KEY = 'sk-mock-openai-PROVIDERKEY';
our $ANTHROPIC_KEY = 'sk-mock-anthropic-PROVIDERKEY';

my @live;

test2_add_callback_testing_done(sub {
	for my $t (grep { defined } @live) {
		$t->teardown(1);
	}
});

END {
	for my $t (grep { defined } @live) {
		$t->stop_all() if $t->{owner} == $$;
	}
}

###############################################################################

sub new {
	my ($class, %opts) = @_;

	my $self = bless {
		owner => $$,
		ports => {},
		port_socks => {},
		procs => {},
		nginx_started => 0,
		torn_down => 0,
	}, $class;

	my $build = $ENV{TOKENROUTE_BUILD} || "$REPO/build";
	$self->{build} = abs_path($build) // $build;
	# not $ENV{NGINX}: nginx reads that one as inherited listening sockets
	$self->{nginx} = $ENV{TOKENROUTE_NGINX} || '/usr/sbin/nginx';
	delete $ENV{NGINX};
	$self->{module} = "$self->{build}/ngx_http_tokenroute_module.so";
	$self->{cli} = "$self->{build}/tokenroute";
	$self->{sanitize} = $ENV{TOKENROUTE_SANITIZE} ? 1 : 0;

	my $needs = $opts{needs} || [qw(nginx module redis cli)];
	for my $need (@$needs) {
		my $why = $self->_missing($need);
		plan(skip_all => $why) if defined $why;
	}

	if ($self->{sanitize}) {
		my $asan = `gcc -print-file-name=libasan.so 2>/dev/null`;
		chomp $asan;
		plan(skip_all => 'TOKENROUTE_SANITIZE=1 but libasan.so not found')
			unless $asan && $asan =~ m{/} && -e $asan;
		$self->{libasan} = $asan;
	}

	$self->{dir} = tempdir('tokenroute-XXXXXXXX', DIR => '/tmp',
		CLEANUP => 0);

	# nginx workers run as "nobody" when the master is root: they must be
	# able to write sanitizer reports and temp files in here
	chmod 01777, $self->{dir};

	$self->_write("$self->{dir}/openai.key", "$OPENAI_KEY\n", 0600);

	diag("TOKENROUTE_TEST_LEAVE: test directory is $self->{dir}")
		if $ENV{TOKENROUTE_TEST_LEAVE};

	push @live, $self;
	weaken($live[-1]);

	# an interrupted test still stops what it started (END blocks run)
	for my $sig (qw(INT TERM HUP)) {
		$SIG{$sig} = sub { exit 128 + ($sig eq 'INT' ? 2
			: $sig eq 'TERM' ? 15 : 1) }
			if !defined $SIG{$sig} || $SIG{$sig} eq 'DEFAULT'
				|| $SIG{$sig} eq '';
	}

	return $self;
}

sub _missing {
	my ($self, $need) = @_;

	if ($need eq 'nginx') {
		return "nginx binary $self->{nginx} not found (set NGINX)"
			unless -x $self->{nginx};

	} elsif ($need eq 'module') {
		return "$self->{module} not built (make module, or set "
			. "TOKENROUTE_BUILD)" unless -f $self->{module};

	} elsif ($need eq 'cli') {
		return "$self->{cli} not built (make cli, or set TOKENROUTE_BUILD)"
			unless -x $self->{cli};

	} elsif ($need eq 'redis') {
		return 'redis-server not found in PATH (apt-get install '
			. 'redis-server)' unless _which('redis-server');

	} else {
		die "TokenRoute::Test: unknown requirement '$need'\n";
	}

	return undef;
}

sub _which {
	my ($prog) = @_;
	for my $d (split /:/, $ENV{PATH} // '') {
		return "$d/$prog" if -x "$d/$prog";
	}
	return undef;
}

sub testdir { $_[0]->{dir} }
sub repo { $REPO }
sub build_dir { $_[0]->{build} }

sub _write {
	my ($self, $file, $content, $mode) = @_;

	open my $fh, '>', $file or die "cannot write $file: $!\n";
	binmode $fh;
	print $fh $content;
	close $fh or die "cannot write $file: $!\n";
	chmod $mode, $file if defined $mode;
}

sub _slurp {
	my ($file) = @_;

	open my $fh, '<', $file or return undef;
	binmode $fh;
	local $/;
	my $content = <$fh>;
	close $fh;
	return $content // '';
}

###############################################################################

# Ports: a port is reserved by keeping a listening socket on it until the
# service that uses it starts.

sub port {
	my ($self, $name) = @_;

	return $self->{ports}{$name} if exists $self->{ports}{$name};

	my %used = map { $_ => 1 } values %{ $self->{ports} };

	for (1 .. 100) {
		my $s = IO::Socket::INET->new(
			LocalAddr => '127.0.0.1',
			LocalPort => 0,
			Proto => 'tcp',
			Listen => 1,
			ReuseAddr => 1,
		) or die "cannot allocate a port: $!\n";

		my $p = $s->sockport();
		next if $used{$p};

		$self->{ports}{$name} = $p;
		$self->{port_socks}{$name} = $s;
		return $p;
	}

	die "cannot allocate a port for $name\n";
}

sub _release_port {
	my ($self, $name) = @_;
	my $s = delete $self->{port_socks}{$name};
	close $s if $s;
}

sub _release_all_ports {
	my ($self) = @_;
	$self->_release_port($_) for keys %{ $self->{port_socks} };
}

sub _wait_port {
	my ($port, $timeout) = @_;

	my $deadline = time() + $timeout;

	while (time() < $deadline) {
		my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
			PeerPort => $port, Proto => 'tcp', Timeout => 1);
		if ($s) {
			close $s;
			return 1;
		}
		sleep 0.05;
	}

	return 0;
}

###############################################################################

# Processes.

sub _spawn {
	my ($self, $name, $log, $env, @cmd) = @_;

	my $pid = fork();
	die "fork: $!\n" unless defined $pid;

	if ($pid == 0) {
		_die_with_parent();
		open STDIN, '<', '/dev/null';
		open STDOUT, '>>', $log;
		open STDERR, '>&', \*STDOUT;
		$ENV{$_} = $env->{$_} for keys %$env;
		{ no warnings q(exec); exec { $cmd[0] } @cmd; }
		print STDERR "exec $cmd[0]: $!\n";
		POSIX::_exit(127);
	}

	$self->{procs}{$name} = $pid;
	return $pid;
}

# Linux: the child gets SIGTERM when the test process dies, even by
# SIGKILL, so no nginx, Redis or mock outlives an interrupted test.

sub _die_with_parent {
	return unless $^O eq 'linux' && $Config{archname} =~ /^x86_64/;
	syscall(157, 1, 15);    # prctl(PR_SET_PDEATHSIG, SIGTERM)
}

sub _stop_proc {
	my ($self, $name, $sig, $grace) = @_;

	my $pid = delete $self->{procs}{$name} or return;

	kill $sig, $pid;
	return if _reap($pid, $grace // 5);

	kill 'TERM', $pid;
	return if _reap($pid, 5);

	kill 'KILL', $pid;
	_reap($pid, 5);
}

sub _reap {
	my ($pid, $timeout) = @_;

	my $deadline = time() + $timeout;
	while (time() < $deadline) {
		my $r = waitpid($pid, WNOHANG);
		return 1 if $r == $pid || $r == -1;
		sleep 0.02;
	}
	return 0;
}

sub _alive {
	my ($self, $name) = @_;
	my $pid = $self->{procs}{$name} or return 0;
	return waitpid($pid, WNOHANG) == 0;
}

sub stop_all {
	my ($self) = @_;

	return unless $self->{owner} == $$;

	$self->stop_nginx() if $self->{procs}{nginx};
	for my $name (keys %{ $self->{instances} || {} }) {
		$self->stop_nginx_instance($name) if $self->{procs}{$name};
	}
	for my $name (keys %{ $self->{procs} }) {
		$self->_stop_proc($name, 'TERM');
	}
	$self->_release_all_ports();
}

###############################################################################

# Redis.

sub redis_port { $_[0]->port('redis') }

sub start_redis {
	my ($self) = @_;

	die "redis already running\n" if $self->{procs}{redis};

	my $port = $self->port('redis');
	$self->_release_port('redis');

	my $pid = $self->_spawn('redis', "$self->{dir}/redis.log", {},
		'redis-server', '--port', $port, '--bind', '127.0.0.1',
		'--save', '', '--appendonly', 'no', '--dir', $self->{dir});

	my $deadline = time() + 5;
	while (time() < $deadline) {
		my $pong = eval { $self->redis('PING') };
		return $self if defined $pong && $pong eq 'PONG';

		if (waitpid($pid, WNOHANG) == $pid) {
			delete $self->{procs}{redis};
			last;
		}
		sleep 0.05;
	}

	my $log = _slurp("$self->{dir}/redis.log") // '';
	die "redis-server did not start on port $port:\n$log\n";
}

sub stop_redis {
	my ($self) = @_;
	$self->_stop_proc('redis', 'TERM');
}

sub redis {
	my ($self, @cmd) = @_;

	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
		PeerPort => $self->port('redis'), Proto => 'tcp', Timeout => 2)
		or die "redis: cannot connect to 127.0.0.1:"
			. $self->port('redis') . ": $!\n";

	my $req = '*' . scalar(@cmd) . "\r\n";
	for my $arg (@cmd) {
		$arg = '' unless defined $arg;
		utf8::encode($arg) if utf8::is_utf8($arg);
		$req .= '$' . length($arg) . "\r\n$arg\r\n";
	}

	my $deadline = time() + 5;
	_write_all($s, $req, $deadline) or die "redis: write failed\n";

	my $buf = '';
	my $reply = _resp_read($s, \$buf, $deadline);
	close $s;

	die "redis: $reply->{error}\n" if ref $reply eq 'HASH';

	return $reply;
}

# A replica of the test's Redis (replica of port(redis)) on port(NAME),
# in testdir/NAME; returns its port once its link to the master is up
# (undef if not within 10 s).

sub start_redis_replica {
	my ($self, $name) = @_;

	my $port = $self->port($name);
	my $dir = "$self->{dir}/$name";

	$self->_release_port($name);
	mkdir $dir;
	$self->_spawn($name, "$dir.log", {}, 'redis-server',
		'--port', $port, '--bind', '127.0.0.1', '--save', '',
		'--appendonly', 'no', '--dir', $dir,
		'--replicaof', '127.0.0.1', $self->redis_port());

	return $self->wait_until(10, sub {
		(eval { $self->redis_at($port, 'INFO', 'replication') } // '')
			=~ /master_link_status:up/
	}) ? $port : undef;
}

# A command to another Redis (a replica, a sentinel) on 127.0.0.1:PORT.

sub redis_at {
	my ($self, $port, @cmd) = @_;
	local $self->{ports}{redis} = $port;
	return $self->redis(@cmd);
}

sub redis_hash {
	my ($self, $key) = @_;
	my $r = $self->redis('HGETALL', $key) || [];
	return { @$r };
}

# Polls $sub every 50 ms until it returns true or $timeout seconds have
# passed; returns its last value.

sub wait_until {
	my ($self, $timeout, $sub) = @_;

	my $deadline = time() + $timeout;
	my $v;

	for (;;) {
		$v = $sub->();
		return $v if $v || time() >= $deadline;
		sleep 0.05;
	}
}

sub _resp_line {
	my ($s, $bufref, $deadline) = @_;

	while ((my $i = index($$bufref, "\r\n")) < 0) {
		_fill($s, $bufref, $deadline) or die "redis: connection closed\n";
	}

	my $i = index($$bufref, "\r\n");
	my $line = substr($$bufref, 0, $i);
	substr($$bufref, 0, $i + 2) = '';
	return $line;
}

sub _resp_read {
	my ($s, $bufref, $deadline) = @_;

	my $line = _resp_line($s, $bufref, $deadline);
	my ($type, $rest) = (substr($line, 0, 1), substr($line, 1));

	return $rest if $type eq '+';
	return $rest + 0 if $type eq ':';
	return { error => $rest } if $type eq '-';

	if ($type eq '$') {
		return undef if $rest < 0;
		while (length $$bufref < $rest + 2) {
			_fill($s, $bufref, $deadline)
				or die "redis: connection closed\n";
		}
		my $v = substr($$bufref, 0, $rest);
		substr($$bufref, 0, $rest + 2) = '';
		return $v;
	}

	if ($type eq '*') {
		return undef if $rest < 0;
		my @a;
		for (1 .. $rest) {
			my $v = _resp_read($s, $bufref, $deadline);
			die "redis: $v->{error}\n" if ref $v eq 'HASH';
			push @a, $v;
		}
		return \@a;
	}

	die "redis: unexpected reply line '$line'\n";
}

###############################################################################

# Mock provider.

sub start_mock {
	my ($self, %opts) = @_;

	my $name = delete $opts{name} // 'mock';
	die "$name already running\n" if $self->{procs}{$name};

	my $host = delete $opts{host} // '127.0.0.1';
	my $port = delete $opts{port} // $self->port($name);
	my $script = delete $opts{script} // $MOCK;
	$self->_release_port($name);

	my @args = ('--port', $port, '--record', "$self->{dir}/$name.jsonl",
		'--aborts', "$self->{dir}/$name.aborts.jsonl", '--host', $host);
	push @args, '--delay', delete $opts{delay} if defined $opts{delay};
	push @args, '--idle-timeout', delete $opts{idle_timeout}
		if defined $opts{idle_timeout};
	push @args, @{ delete $opts{args} } if $opts{args};
	die "start_mock: unknown options: @{[ keys %opts ]}\n" if %opts;

	my $pid = $self->_spawn($name, "$self->{dir}/$name.log", {},
		$^X, $script, @args);

	my $deadline = time() + 5;
	while (time() < $deadline) {
		my $r = _http_raw($host, $port,
			"GET /__health HTTP/1.1\r\nHost: mock\r\n"
			. "Connection: close\r\n\r\n", 2);
		return $self if ($r->{status} // 0) == 200;

		if (waitpid($pid, WNOHANG) == $pid) {
			delete $self->{procs}{$name};
			last;
		}
		sleep 0.05;
	}

	my $log = _slurp("$self->{dir}/$name.log") // '';
	die "mock provider did not start on port $port:\n$log\n";
}

sub stop_mock {
	my ($self, $name) = @_;
	$self->_stop_proc($name // 'mock', 'TERM');
}

sub mock_requests {
	my ($self, $name) = @_;

	my $file = "$self->{dir}/" . ($name // 'mock') . '.jsonl';
	my $content = _slurp($file) // '';

	my $js = JSON::PP->new;
	my @reqs;

	for my $line (split /\n/, $content) {
		my $r = $js->decode($line);
		$r->{json} = _decode_json($r->{body});
		push @reqs, $r;
	}

	return @reqs;
}

# Outages switched on at run time: mock_outage(NAME, SUBSTRING => STATUS,
# ...) makes the mock's models whose id contains SUBSTRING answer STATUS
# ("429 30": with retry-after: 30); with no pairs, every outage ends.

sub mock_outage {
	my ($self, $name, %outages) = @_;

	$self->_write("$self->{dir}/$name.jsonl.outages",
		join('', map { "$_ $outages{$_}\n" } sort keys %outages));

	return $self;
}

# Streams the mock did not finish: the peer closed them, or a write failed.

sub mock_aborts {
	my ($self, $name) = @_;

	my $file = "$self->{dir}/" . ($name // 'mock') . '.aborts.jsonl';
	my $content = _slurp($file) // '';
	my $js = JSON::PP->new;

	return map { $js->decode($_) } split /\n/, $content;
}

sub clear_mock_requests {
	my ($self, $name) = @_;

	my $file = "$self->{dir}/" . ($name // 'mock') . '.jsonl';
	truncate $file, 0 if -e $file;
}

sub _decode_json {
	my ($bytes) = @_;
	return undef unless defined $bytes && length $bytes;
	return eval { JSON::PP->new->utf8->allow_nonref->decode($bytes) };
}

###############################################################################

# nginx.

sub _expand {
	my ($self, $text) = @_;

	$text =~ s/%%REDIS_PORT%%/$self->port('redis')/ge;
	$text =~ s/%%MOCK_PORT%%/$self->port('mock')/ge;
	$text =~ s/%%PORT_(\w+)%%/$self->port($1)/ge;
	$text =~ s/%%TESTDIR%%/$self->{dir}/g;
	$text =~ s/%%REPO%%/$REPO/g;

	return $text;
}

sub default_conf {
	my ($self) = @_;

	my $http = <<'EOF';
tokenroute_redis 127.0.0.1:%%REDIS_PORT%% timeout=1s connect_timeout=1s;
tokenroute_provider mockai type=openai url=http://127.0.0.1:%%MOCK_PORT%%/v1 key_file=%%TESTDIR%%/openai.key;
tokenroute_provider mockant type=anthropic url=http://127.0.0.1:%%MOCK_PORT%%/v1 key_env=TOKENROUTE_TEST_ANTHROPIC_KEY;
tokenroute_model openai/gpt-4o-mini provider=mockai upstream_model=gpt-4o-mini-2024-07-18 input_price=0.15 output_price=0.60;
tokenroute_model anthropic/claude-haiku-4-5 provider=mockant upstream_model=claude-haiku-4-5-20251001 input_price=1 output_price=5;
tokenroute_model anthropic/claude-sonnet-4-5 provider=mockant upstream_model=claude-sonnet-4-5 input_price=3 output_price=15;
EOF

	my $server = <<'EOF';
location /v1/ {
    tokenroute on;
    include %%REPO%%/conf.d/tokenroute_proxy.conf;
    # tests only: the mock's x-mock-* switches (no client header goes on)
    proxy_set_header x-mock-wait $http_x_mock_wait;
    proxy_set_header x-mock-delay $http_x_mock_delay;
    proxy_set_header x-mock-inflight $http_x_mock_inflight;
}
location @tokenroute_fallback {
    tokenroute on;
    include %%REPO%%/conf.d/tokenroute_proxy.conf;
    # tests only: the mock's x-mock-* switches (no client header goes on)
    proxy_set_header x-mock-wait $http_x_mock_wait;
    proxy_set_header x-mock-delay $http_x_mock_delay;
    proxy_set_header x-mock-inflight $http_x_mock_inflight;
}
include %%REPO%%/conf.d/tokenroute_server.conf;
EOF

	return ($http, $server);
}

sub write_nginx_conf {
	my ($self, $http, $server) = @_;

	$self->_write("$self->{dir}/nginx.conf",
		$self->_nginx_conf_text($self->{dir}, $self->port('http'),
			$http, $server));

	return $self;
}

sub _nginx_conf_text {
	my ($self, $d, $port, $http, $server) = @_;

	$http = $self->_expand($http // '');
	$server = $self->_expand($server // '');

	$http .= "tokenroute_lease zone=tokenroute_test_lease:1m;\n"
		if $ENV{TOKENROUTE_TEST_LEASE} && $http =~ /tokenroute_redis/
			&& $http !~ /tokenroute_lease/;

	s/^/        /mg for $server;
	s/^/    /mg for $http;

	return <<"EOF";
load_module $self->{module};

env TOKENROUTE_TEST_ANTHROPIC_KEY;

daemon off;
master_process on;
worker_processes 1;

error_log $d/error.log debug;
pid $d/nginx.pid;

events {
    worker_connections 1024;
}

http {
    access_log $d/access.log;

    client_body_temp_path $d/client_body_temp;
    proxy_temp_path $d/proxy_temp;
    fastcgi_temp_path $d/fastcgi_temp;
    uwsgi_temp_path $d/uwsgi_temp;
    scgi_temp_path $d/scgi_temp;

    include $REPO/conf.d/tokenroute_tls.conf;

$http
    server {
        listen 127.0.0.1:$port;
        server_name localhost;

$server
    }
}
EOF
}

sub _nginx_env {
	my ($self) = @_;

	my %env = (TOKENROUTE_TEST_ANTHROPIC_KEY => $ANTHROPIC_KEY);

	# a test's own (e.g. LD_PRELOAD of a failure shim: t/lease_nomem.t)
	%env = (%env, %{ $self->{nginx_env} }) if $self->{nginx_env};

	if ($self->{sanitize}) {
		$env{LD_PRELOAD} = $self->{libasan};
		$env{ASAN_OPTIONS} = "detect_leaks=0:log_path=$self->{dir}/asan";
		$env{UBSAN_OPTIONS} =
			"print_stacktrace=1:log_path=$self->{dir}/ubsan";
	}

	return \%env;
}

sub start_nginx {
	my ($self) = @_;

	die "nginx already running\n" if $self->{procs}{nginx};

	my $d = $self->{dir};
	die "start_nginx: write_nginx_conf first\n" unless -f "$d/nginx.conf";

	$self->_release_all_ports();
	unlink "$d/nginx.pid";

	$self->{nginx_started} = 1;

	my $pid = $self->_spawn('nginx', "$d/nginx.stderr", $self->_nginx_env,
		$self->{nginx}, '-p', "$d/", '-c', "$d/nginx.conf",
		'-e', "$d/error.log");

	my $deadline = time() + 5;
	my $ok = 0;

	while (time() < $deadline) {
		if (waitpid($pid, WNOHANG) != 0) {
			delete $self->{procs}{nginx};
			last;
		}
		# the master listens before its workers exist: tests that
		# look at the worker processes need them there
		if (-s "$d/nginx.pid" && _wait_port($self->port('http'), 0.2)
			&& $self->workers())
		{
			$ok = 1;
			last;
		}
		sleep 0.05;
	}

	return $self if $ok;

	diag("nginx failed to start; error.log:\n"
		. (_slurp("$d/error.log") // '(none)')
		. "\nstderr:\n" . (_slurp("$d/nginx.stderr") // '(none)'));
	$self->stop_nginx();
	BAIL_OUT("nginx failed to start");
}

sub nginx_pid { $_[0]->{procs}{nginx} }

# Worker processes: the children of the master.

sub workers {
	my ($self) = @_;

	my $master = $self->{procs}{nginx} or return ();
	my @pids;

	opendir my $dh, '/proc' or return ();
	for my $p (grep { /^\d+$/ } readdir $dh) {
		my $stat = _slurp("/proc/$p/stat") or next;
		$stat =~ /\)\s+\S+\s+(\d+)/ or next;
		push @pids, $p + 0 if $1 == $master;
	}
	closedir $dh;

	@pids = sort { $a <=> $b } @pids;
	return @pids;
}

sub reload_nginx {
	my ($self) = @_;

	my $master = $self->{procs}{nginx} or die "nginx is not running\n";
	my %old = map { $_ => 1 } $self->workers();

	$self->_release_all_ports();
	kill 'HUP', $master;

	my $deadline = time() + 10;
	my $new = 0;

	while (time() < $deadline) {
		my @w = $self->workers();
		$new = grep { !$old{$_} } @w;
		last if $new && !grep { $old{$_} } @w;
		sleep 0.05;
	}

	if (!$new) {
		diag("no new worker after reload; error.log:\n"
			. (_slurp("$self->{dir}/error.log") // ''));
		die "nginx reload failed\n";
	}

	$deadline = time() + 5;
	while (time() < $deadline) {
		my $r = _http_raw('127.0.0.1', $self->port('http'),
			"GET /__tokenroute_test_probe HTTP/1.0\r\n\r\n", 2);
		return $self if $r->{status};
		sleep 0.05;
	}

	die "nginx does not answer after reload\n";
}

sub stop_nginx {
	my ($self) = @_;

	my $master = $self->{procs}{nginx} or return;
	my @workers = $self->workers();

	$self->_stop_proc('nginx', 'QUIT', 5);

	# a master killed hard leaves its workers behind
	for my $w (@workers) {
		my $cmd = _slurp("/proc/$w/cmdline") // '';
		kill 'KILL', $w if $cmd =~ /^nginx: worker/;
	}
}

sub error_log {
	my ($self, $name) = @_;
	my $d = defined $name ? "$self->{dir}/$name" : $self->{dir};
	return _slurp("$d/error.log") // '';
}

# Another nginx with the module, in its own prefix testdir/NAME and on
# port(NAME), with the same Redis and mock provider as the main one.

# nginx -t of default_conf() + extras (http => EXTRA, server => EXTRA;
# edit => SUB gets the whole file's text and returns the text to test) in
# a directory of its own: { rc => exit status, out => what nginx printed }.

sub nginx_check {
	my ($self, %o) = @_;

	my $cd = "$self->{dir}/check" . ++$self->{check_no};
	mkdir $cd;
	chmod 01777, $cd;

	my ($http, $server) = $self->default_conf();
	$http .= $o{http} // '';
	$server .= $o{server} // '';

	my $conf = $self->_nginx_conf_text($cd, $self->port('check'), $http,
		$server);
	$conf = $o{edit}->($conf) if $o{edit};
	$self->_write("$cd/nginx.conf", $conf, 0644);

	my $pid = fork();
	die "fork: $!\n" unless defined $pid;

	if ($pid == 0) {
		open STDIN, '<', '/dev/null';
		open STDOUT, '>', "$cd/nginx.stderr";
		open STDERR, '>&', \*STDOUT;
		my $env = $self->_nginx_env;
		$ENV{$_} = $env->{$_} for keys %$env;
		{ no warnings q(exec);
			exec { $self->{nginx} } $self->{nginx}, '-t', '-q', '-p',
			"$cd/", '-c', "$cd/nginx.conf", '-e', "$cd/error.log"; }
		POSIX::_exit(127);
	}

	waitpid($pid, 0);

	return { rc => $? >> 8, out => (_slurp("$cd/nginx.stderr") // '') };
}

sub start_nginx_instance {
	my ($self, $name, %opts) = @_;

	die "$name already running\n" if $self->{procs}{$name};

	my $d = "$self->{dir}/$name";
	mkdir $d unless -d $d;
	chmod 01777, $d;

	my ($http, $server) = $self->default_conf();
	$http .= $opts{http} if defined $opts{http};
	$server .= $opts{server} if defined $opts{server};

	my $port = $self->port($name);
	$self->_write("$d/nginx.conf",
		$self->_nginx_conf_text($d, $port, $http, $server));

	$self->_release_port($name);
	unlink "$d/nginx.pid";

	$self->{instances}{$name} = $d;

	my $pid = $self->_spawn($name, "$d/nginx.stderr", $self->_nginx_env,
		$self->{nginx}, '-p', "$d/", '-c', "$d/nginx.conf",
		'-e', "$d/error.log");

	my $deadline = time() + 5;

	while (time() < $deadline) {
		if (waitpid($pid, WNOHANG) != 0) {
			delete $self->{procs}{$name};
			last;
		}
		return $self if -s "$d/nginx.pid" && _wait_port($port, 0.2);
		sleep 0.05;
	}

	diag("nginx $name failed to start; error.log:\n"
		. (_slurp("$d/error.log") // '(none)')
		. "\nstderr:\n" . (_slurp("$d/nginx.stderr") // '(none)'));
	$self->stop_nginx_instance($name);
	BAIL_OUT("nginx $name failed to start");
}

sub stop_nginx_instance {
	my ($self, $name) = @_;

	my $master = $self->{procs}{$name} or return;

	my @workers;
	if (opendir my $dh, '/proc') {
		for my $p (grep { /^\d+$/ } readdir $dh) {
			my $stat = _slurp("/proc/$p/stat") or next;
			$stat =~ /\)\s+\S+\s+(\d+)/ or next;
			push @workers, $p + 0 if $1 == $master;
		}
		closedir $dh;
	}

	$self->_stop_proc($name, 'QUIT', 5);

	for my $w (@workers) {
		my $cmd = _slurp("/proc/$w/cmdline") // '';
		kill 'KILL', $w if $cmd =~ /^nginx: worker/;
	}
}

# The standard gateway: Redis, the mock provider and nginx with
# default_conf(); "http" and "server" are appended to the default blocks.

sub start_gateway {
	my ($self, %opts) = @_;

	my ($http, $server) = $self->default_conf();
	$http .= $opts{http} if defined $opts{http};
	$server .= $opts{server} if defined $opts{server};

	$self->start_redis() unless $self->{procs}{redis};
	$self->start_mock(%{ $opts{mock} || {} }) unless $self->{procs}{mock};
	$self->write_nginx_conf($http, $server);
	$self->start_nginx();

	return $self;
}

###############################################################################

# The standard gateway with the admin API at /admin/ (tokenroute_admin)
# and an admin key made by the CLI ("ops"): returns the key's document
# (raw, id, ...).  Options as start_gateway().

sub start_admin_gateway {
	my ($self, %opts) = @_;

	$self->start_gateway(%opts, server => "location /admin/ {\n"
		. "    tokenroute_admin;\n}\n" . ($opts{server} // ''));

	my ($code, $out, $err) = $self->cli('admin-keys', 'create', '--name',
		'ops', '--json');
	die "tokenroute admin-keys create: exit $code: $err\n" unless $code == 0;

	return JSON::PP->new->utf8->decode($out);
}

###############################################################################

# A chat completion with the raw key RAW (model => M, default
# openai/gpt-4o-mini; timeout => S, default 5), as http() answers it.

sub chat {
	my ($self, $raw, %o) = @_;

	return $self->http(method => 'POST', path => '/v1/chat/completions',
		headers => [ Authorization => "Bearer $raw" ],
		body => { model => $o{model} // 'openai/gpt-4o-mini',
			max_tokens => 50,
			messages => [ { role => 'user', content => 'Hi' } ] },
		timeout => $o{timeout} // 5);
}

# Seconds until chat(RAW) is served (200), asked every 100 ms; undef when
# it is not within TIMEOUT (10 s).

sub served_in {
	my ($self, $raw, $timeout) = @_;

	my $t0 = time();
	while (time() - $t0 < ($timeout // 10)) {
		return time() - $t0 if $self->chat($raw)->{status} == 200;
		sleep 0.1;
	}

	return undef;
}

###############################################################################

# CLI.

sub cli {
	my ($self, @args) = @_;
	return $self->cli_raw('--redis', '127.0.0.1:' . $self->port('redis'),
		@args);
}

sub cli_raw {
	my ($self, @args) = @_;

	my %env;
	if ($self->{sanitize}) {
		$env{ASAN_OPTIONS} = "log_path=$self->{dir}/asan";
		$env{UBSAN_OPTIONS} =
			"print_stacktrace=1:log_path=$self->{dir}/ubsan";
	}

	local @ENV{ keys %env } = values %env;
	local $ENV{TOKENROUTE_REDIS};
	local $ENV{TOKENROUTE_REDIS_PASSWORD};
	local $ENV{TOKENROUTE_REDIS_DB};
	delete @ENV{qw(TOKENROUTE_REDIS TOKENROUTE_REDIS_PASSWORD
		TOKENROUTE_REDIS_DB)};

	my ($in, $out, $err) = (undef, undef, gensym);
	my $pid = open3($in, $out, $err, $self->{cli}, @args);
	close $in;

	my %buf = (out => '', err => '');
	my $sel = IO::Select->new($out, $err);
	my $deadline = time() + 20;

	while ($sel->count && time() < $deadline) {
		for my $fh ($sel->can_read($deadline - time())) {
			my $which = $fh == $out ? 'out' : 'err';
			my $n = sysread($fh, $buf{$which}, 65536, length $buf{$which});
			$sel->remove($fh) unless $n;
		}
	}

	if ($sel->count) {
		kill 'KILL', $pid;
		waitpid($pid, 0);
		return (-1, $buf{out}, $buf{err} . "\n[killed: timeout]");
	}

	waitpid($pid, 0);
	my $code = $? & 127 ? 128 + ($? & 127) : $? >> 8;

	return ($code, $buf{out}, $buf{err});
}

sub create_key {
	my ($self, %opts) = @_;

	my $name = $opts{name} // 'test-key-' . ++$self->{key_no};
	my @args = ('keys', 'create', '--name', $name, '--json');

	for my $o (qw(models expires limit account tenant period)) {
		next unless defined $opts{$o};
		my $v = ref $opts{$o} eq 'ARRAY' ? join(',', @{ $opts{$o} })
			: $opts{$o};
		push @args, "--$o", $v;
	}

	# an account other than "default" must exist (issue 11): listed
	$self->redis('SADD', 'tr:accts', $opts{account})
		if defined $opts{account};

	my ($code, $out, $err) = $self->cli(@args);
	die "tokenroute @args: exit $code: $err\n" unless $code == 0;

	my $key = eval { JSON::PP->new->utf8->decode($out) }
		or die "tokenroute @args: bad JSON: $out\n";

	# prepaid credit: unless told otherwise, the account can pay (once)
	my $account = $key->{account};
	my $fund = $opts{fund} // 1000;
	if ($fund && !$self->{funded}{$account}++) {
		$self->redis('HINCRBY', "tr:acct:$account", 'credit',
			$fund * 1_000_000_000);
		$self->redis('SADD', 'tr:accts', $account);
	}

	return $key;
}

# The text a script of src/lua/ runs as, as src/lua/embed.sh joins it for
# the module and the CLI: the admission behind period.lua, a control
# script (ctl_*) behind period.lua and the prelude ctl_lib.lua.
sub script_text {
	my ($self, $name) = @_;
	my @pre = $name =~ /^(admission|lease)$/ ? ('period', 'keyrules')
		: $name eq 'ctl_lib' || $name eq 'keyrules' ? ('period')
		: $name =~ /^ctl_/ ? ('period', 'ctl_lib') : ();
	return join '', map {
		_slurp("$REPO/src/lua/$_.lua")
			// die "cannot read src/lua/$_.lua\n" } @pre, $name;
}

sub key_hash { sha256_hex($_[1]) }

# A request's settlement ran: its reservation record is gone (settlement
# deletes it once; that is what makes a replay a no-op).  Meaningful only
# for a request that was admitted.

sub settled {
	my ($self, $rid) = @_;

	return 0 if $self->redis('HEXISTS', 'tr:rsvd', $rid);
	return 0 if defined $self->redis('ZSCORE', 'tr:rsv', $rid);
	return 1;
}

###############################################################################

# HTTP client.

sub _fill {
	my ($s, $bufref, $deadline) = @_;

	for (;;) {
		my $left = $deadline - time();
		return 0 if $left <= 0;
		next unless IO::Select->new($s)->can_read($left);
		my $n = sysread($s, $$bufref, 65536, length $$bufref);
		next if !defined $n && ($! == EINTR || $! == EAGAIN);
		return $n || 0;
	}
}

sub _write_all {
	my ($s, $data, $deadline) = @_;

	local $SIG{PIPE} = 'IGNORE';

	while (length $data) {
		return 0 if time() > $deadline;
		next unless IO::Select->new($s)->can_write($deadline - time());
		my $n = syswrite($s, $data, 65536);
		next if !defined $n && ($! == EINTR || $! == EAGAIN);
		return 0 unless $n;
		substr($data, 0, $n) = '';
	}

	return 1;
}

sub _build_request {
	my ($self, %a) = @_;

	return $a{raw} if defined $a{raw};

	my $method = $a{method} // 'GET';
	my $path = $a{path} // '/';
	my $body = $a{body};

	my @h;
	my $hdrs = $a{headers} // {};
	if (ref $hdrs eq 'ARRAY') {
		for (my $i = 0; $i < @$hdrs; $i += 2) {
			push @h, [ $hdrs->[$i], $hdrs->[$i + 1] ];
		}

	} else {
		push @h, [ $_, $hdrs->{$_} ] for sort keys %$hdrs;
	}

	my %have = map { lc $_->[0] => 1 } @h;

	if (ref $body) {
		$body = JSON::PP->new->canonical->utf8->encode($body);
		push @h, [ 'Content-Type', 'application/json' ]
			unless $have{'content-type'};
	}

	my $req = "$method $path HTTP/1.1\r\n";
	$req .= "Host: 127.0.0.1:" . ($a{port} // $self->port('http')) . "\r\n"
		unless $have{host};
	$req .= "Connection: close\r\n"
		unless $have{connection} || $a{keepalive};
	$req .= "$_->[0]: $_->[1]\r\n" for @h;
	$req .= 'Content-Length: ' . length($body) . "\r\n"
		if defined $body && !$have{'content-length'}
			&& !$have{'transfer-encoding'};
	$req .= "\r\n";
	$req .= $body if defined $body;

	return $req;
}

# Sends a request and reads one response.  $on_body, when given, is called
# with each piece of (de-chunked) body data as it arrives.

sub _exchange {
	my ($s, $req, $deadline, $bufref, $on_body, $method) = @_;

	my $res = { status => 0, headers => {}, body => '', raw => '' };

	# write the request while watching for an early response (413 etc.)
	{
		local $SIG{PIPE} = 'IGNORE';
		my $data = $req;
		my $sel = IO::Select->new($s);

		WRITE: while (length $data && time() < $deadline) {
			my ($r, $w) = IO::Select->select($sel, $sel, undef,
				$deadline - time());

			if ($r && @$r) {
				my $n = sysread($s, $$bufref, 65536, length $$bufref);
				last WRITE if defined $n && $n == 0;
				last WRITE if !defined $n && $! != EINTR && $! != EAGAIN;
			}

			next unless $w && @$w;
			my $n = syswrite($s, $data, 65536);
			next if !defined $n && ($! == EINTR || $! == EAGAIN);
			last unless $n;
			substr($data, 0, $n) = '';
		}

		$res->{write_incomplete} = length($data) ? 1 : 0;
	}

	my $rawstart = length $$bufref;

	while ($$bufref !~ /\r\n\r\n/) {
		if (!_fill($s, $bufref, $deadline)) {
			$res->{raw} = $$bufref;
			$res->{error} = time() >= $deadline
				? 'timeout waiting for response headers'
				: 'connection closed before response headers';
			$$bufref = '';
			return $res;
		}
	}

	$$bufref =~ s/^(.*?\r\n)\r\n//s;
	my $head = $1;
	$res->{raw} = "$head\r\n";

	my @lines = split /\r\n/, $head;
	my $status_line = shift @lines;
	($res->{status}) = $status_line =~ m{^HTTP/\d\.\d (\d{3})}
		or do {
			$res->{error} = "bad status line: $status_line";
			$res->{status} = 0;
			return $res;
		};
	$res->{status} += 0;

	for (@lines) {
		my ($n, $v) = /^([^:]+):\s*(.*?)\s*$/ or next;
		$n = lc $n;
		$res->{headers}{$n} = exists $res->{headers}{$n}
			? "$res->{headers}{$n}, $v" : $v;
	}

	my $h = $res->{headers};
	my $body = '';
	my $emit = sub {
		$body .= $_[0];
		$on_body->($_[0]) if $on_body && length $_[0];
	};

	if (($method // '') eq 'HEAD' || $res->{status} == 204
		|| $res->{status} == 304 || $res->{status} < 200)
	{
		# no body

	} elsif (($h->{'transfer-encoding'} // '') =~ /chunked/i) {
		my $size;    # of the chunk being read, undef between chunks

		CHUNKS: for (;;) {
			if (!defined $size) {
				while ($$bufref !~ /\r\n/) {
					_fill($s, $bufref, $deadline) or last CHUNKS;
				}
				$$bufref =~ s/^([^\r]*)\r\n//;
				my $line = $1;
				$res->{raw} .= "$line\r\n";
				if ($line !~ /^([0-9a-fA-F]+)/) {
					$res->{error} = "bad chunk size line: $line";
					last;
				}
				$size = hex $1;

				if ($size == 0) {
					while ($$bufref !~ /\r\n\r\n/ && $$bufref !~ /^\r\n/) {
						_fill($s, $bufref, $deadline) or last CHUNKS;
					}
					$$bufref =~ s/^((?:.*?\r\n)??\r\n)//s;
					$res->{raw} .= $1;
					$res->{complete} = 1;
					last;
				}
			}

			# hand over partial chunk data as soon as it arrives
			while ($size > 0) {
				if (length $$bufref == 0) {
					_fill($s, $bufref, $deadline) or last CHUNKS;
				}
				my $piece = substr($$bufref, 0, $size);
				substr($$bufref, 0, length $piece) = '';
				$res->{raw} .= $piece;
				$size -= length $piece;
				$emit->($piece);
			}

			while (length $$bufref < 2) {
				_fill($s, $bufref, $deadline) or last CHUNKS;
			}
			$res->{raw} .= substr($$bufref, 0, 2, '');
			$size = undef;
		}

		$res->{error} //= time() >= $deadline
			? 'timeout reading chunked body'
			: 'connection closed inside chunked body'
			unless $res->{complete};

	} elsif (defined $h->{'content-length'}) {
		my $len = $h->{'content-length'};

		while ($len > 0) {
			if (length $$bufref == 0) {
				_fill($s, $bufref, $deadline) or last;
			}
			my $piece = substr($$bufref, 0, $len);
			substr($$bufref, 0, length $piece) = '';
			$len -= length $piece;
			$res->{raw} .= $piece;
			$emit->($piece);
		}

		if ($len > 0) {
			$res->{error} = time() >= $deadline
				? 'timeout reading body'
				: 'connection closed inside body';

		} else {
			$res->{complete} = 1;
		}

	} else {
		for (;;) {
			if (length $$bufref) {
				my $piece = $$bufref;
				$$bufref = '';
				$res->{raw} .= $piece;
				$emit->($piece);
			}
			last unless _fill($s, $bufref, $deadline);
		}

		if (time() >= $deadline) {
			$res->{error} = 'timeout reading body';

		} else {
			$res->{complete} = 1;
		}
	}

	$res->{body} = $body;
	$res->{json} = _decode_json($body);

	return $res;
}

sub _connect {
	my ($self, $timeout, $port) = @_;

	return IO::Socket::INET->new(PeerAddr => '127.0.0.1',
		PeerPort => $port // $self->port('http'), Proto => 'tcp',
		Timeout => $timeout);
}

sub http {
	my ($self, %a) = @_;

	my $timeout = $a{timeout} // 10;
	my $deadline = time() + $timeout;

	my $s = $self->_connect($timeout, $a{port})
		or return { status => 0, headers => {}, body => '', raw => '',
			error => "connect: $!" };

	my $buf = '';
	my $res = _exchange($s, $self->_build_request(%a), $deadline, \$buf,
		$a{on_body}, $a{method});
	close $s;

	return $res;
}

sub http_stream {
	my ($self, %a) = @_;

	my @events;
	my $start = time();

	my $res = $self->http(%a, on_body => sub {
		push @events, [ time(), $_[0] ];
	});

	$res->{start} = $start;
	$res->{events} = \@events;
	$res->{sse} = _parse_sse(\@events);

	return $res;
}

# SSE events of a stream, each with the arrival time of the piece of data
# that completed it: { time, event, data, raw }.

sub _parse_sse {
	my ($pieces) = @_;

	my @out;
	my $acc = '';

	for my $p (@$pieces) {
		$acc .= $p->[1];

		while ($acc =~ s/^(.*?)(?:\r\n\r\n|\n\n|\r\r)//s) {
			my $raw = $1;
			my ($event, @data);

			for my $line (split /\r\n|\n|\r/, $raw) {
				next if $line =~ /^:/;
				my ($f, $v) = $line =~ /^([^:]*)(?::\s?(.*))?$/;
				$v //= '';
				if ($f eq 'event') {
					$event = $v;

				} elsif ($f eq 'data') {
					push @data, $v;
				}
			}

			push @out, {
				time => $p->[0],
				event => $event,
				data => @data ? join("\n", @data) : undef,
				raw => $raw,
			};
		}
	}

	return \@out;
}

# Several requests on one client connection (HTTP/1.1 keep-alive); each
# element of @reqs is a hashref of http() arguments.  Returns the list of
# responses (shorter when the connection broke).

sub http_keepalive {
	my ($self, @reqs) = @_;

	my $s = $self->_connect(10, $reqs[0] && $reqs[0]{port})
		or return ({ status => 0, error => "connect: $!" });

	my $buf = '';
	my @res;

	for my $i (0 .. $#reqs) {
		my %a = %{ $reqs[$i] };
		my $r = _exchange($s,
			$self->_build_request(%a, keepalive => 1),
			time() + ($a{timeout} // 10), \$buf, undef, $a{method});
		push @res, $r;
		last if $r->{error} || !$r->{status};
	}

	close $s;
	return @res;
}

# All requests are written first, each on its own connection, then every
# response is read; each response has "sent" (when its request was
# written) and "done" (when its connection closed) times.

sub http_parallel {
	my ($self, @reqs) = @_;

	my $timeout = 30;
	$timeout = $_->{timeout} > $timeout ? $_->{timeout} : $timeout
		for grep { defined $_->{timeout} } @reqs;
	my $deadline = time() + $timeout;

	my @c;

	for my $a (@reqs) {
		my $s = $self->_connect(5, $a->{port});
		my $c = { a => $a, s => $s, buf => '', open => $s ? 1 : 0 };

		if ($s) {
			_write_all($s, $self->_build_request(%$a), $deadline)
				or $c->{write_error} = 1;
			$c->{sent} = time();
		}

		push @c, $c;
	}

	my $sel = IO::Select->new(map { $_->{s} } grep { $_->{open} } @c);
	my %by = map { fileno($_->{s}) => $_ } grep { $_->{open} } @c;

	while ($sel->count && time() < $deadline) {
		for my $s ($sel->can_read($deadline - time())) {
			my $c = $by{ fileno $s };
			my $n = sysread($s, $c->{buf}, 65536, length $c->{buf});
			next if !defined $n && ($! == EINTR || $! == EAGAIN);
			if (!$n) {
				$c->{done} = time();
				$sel->remove($s);
			}
		}
	}

	my @res;

	for my $c (@c) {
		if (!$c->{s}) {
			push @res, { status => 0, headers => {}, body => '', raw => '',
				error => 'connect failed' };
			next;
		}

		# the whole response is in the buffer: parse it from there
		my $res = _exchange($c->{s}, '', time() + 0.5, \$c->{buf}, undef,
			$c->{a}{method});
		close $c->{s};

		$res->{sent} = $c->{sent};
		$res->{done} = $c->{done};
		$res->{error} //= 'timeout' unless defined $c->{done};
		push @res, $res;
	}

	return @res;
}

sub http_start {
	my ($self, %a) = @_;

	my $timeout = $a{timeout} // 10;
	my $s = $self->_connect($timeout, $a{port})
		or return { error => "connect: $!" };

	_write_all($s, $self->_build_request(%a), time() + $timeout)
		or return { error => 'write failed', s => $s };

	return { s => $s, a => \%a, start => time(), buf => '' };
}

sub http_finish {
	my ($self, $h, %o) = @_;

	return { status => 0, error => $h->{error} } unless $h->{s};

	my @events;
	my $res = _exchange($h->{s}, '', time() + ($o{timeout} // 10),
		\$h->{buf}, sub { push @events, [ time(), $_[0] ] },
		$h->{a}{method});
	close $h->{s};
	delete $h->{s};

	$res->{start} = $h->{start};
	$res->{events} = \@events;
	$res->{sse} = _parse_sse(\@events);

	return $res;
}

# Reads the response head and the first $n SSE events (counted by their
# blank-line ends in the raw data); returns (status, raw text read), the
# connection stays open.

sub http_read_events {
	my ($self, $h, $n, %o) = @_;

	return (0, '') unless $h->{s};

	my $deadline = time() + ($o{timeout} // 10);

	for (;;) {
		my $raw = $h->{buf};
		my $i = index($raw, "\r\n\r\n");
		if ($i >= 0) {
			my $body = substr($raw, $i + 4);
			my $count = () = $body =~ /\n\n/g;
			if ($count >= $n) {
				my ($status) = $raw =~ m{^HTTP/\d\.\d (\d{3})};
				return ($status // 0, $raw);
			}
		}
		last unless _fill($h->{s}, \$h->{buf}, $deadline);
	}

	my ($status) = $h->{buf} =~ m{^HTTP/\d\.\d (\d{3})};
	return ($status // 0, $h->{buf});
}

sub http_abort {
	my ($self, $h) = @_;
	close $h->{s} if $h->{s};
	delete $h->{s};
}

sub _http_raw {
	my ($host, $port, $req, $timeout) = @_;

	my $s = IO::Socket::IP->new(PeerHost => $host, PeerPort => $port,
		Proto => 'tcp', Timeout => $timeout)
		or return { status => 0, error => "connect: $!" };

	my $buf = '';
	my $res = _exchange($s, $req, time() + $timeout, \$buf);
	close $s;
	return $res;
}

# Asserts, as one subtest, that a response is a JSON error in the given
# API shape:
#   openai     {"error":{"message":..,"type":..,"param":..,"code":..}}
#   anthropic  {"type":"error","error":{"type":..,"message":..}}
# Options: status, type (the error type; default: any non-empty string),
# secrets (strings the whole response must not contain).

sub error_ok {
	my ($self, $res, $shape, %e) = @_;

	my $name = $e{name} // "$shape error $e{status}";

	return subtest $name => sub {
		is($res->{status}, $e{status}, 'status')
			or diag("response: " . substr($res->{raw} // '', 0, 2000)
				. ($res->{error} ? "\nclient error: $res->{error}" : ''));
		like($res->{headers}{'content-type'} // '', qr{^application/json},
			'content type');

		my $j = $res->{json};
		my $err;

		if ($shape eq 'openai') {
			ok(ref $j eq 'HASH' && ref $j->{error} eq 'HASH',
				'body is {"error":{...}}')
				or diag("body: " . substr($res->{body} // '', 0, 2000));
			$err = ref $j eq 'HASH' && ref $j->{error} eq 'HASH'
				? $j->{error} : {};
			ok(exists $err->{code}, 'error.code present');

		} else {
			ok(ref $j eq 'HASH' && ($j->{type} // '') eq 'error'
				&& ref $j->{error} eq 'HASH',
				'body is {"type":"error","error":{...}}')
				or diag("body: " . substr($res->{body} // '', 0, 2000));
			$err = ref $j eq 'HASH' && ref $j->{error} eq 'HASH'
				? $j->{error} : {};
		}

		ok(defined $err->{message} && !ref $err->{message}
			&& length $err->{message}, 'error.message is a string');

		if (defined $e{type}) {
			is($err->{type}, $e{type}, 'error.type');

		} else {
			ok(defined $err->{type} && !ref $err->{type}
				&& length $err->{type}, 'error.type is a string');
		}

		for my $secret (@{ $e{secrets} || [] }) {
			ok(index($res->{raw} // '', $secret) < 0,
				'response does not contain ' . substr($secret, 0, 12)
				. '...');
		}
	};
}

# The members of a JSON object as written: a list of [name, raw value
# text], in order, so a test can check that a value was passed on byte for
# byte.  Dies on text that is not a JSON object.

sub json_members {
	my ($text) = @_;

	my $n = length $text;
	my $i = 0;

	my $ws = sub {
		$i++ while $i < $n && substr($text, $i, 1) =~ /[ \t\r\n]/;
	};

	my $string = sub {
		my $start = $i++;
		while ($i < $n) {
			my $c = substr($text, $i++, 1);
			if ($c eq '\\') {
				$i++;

			} elsif ($c eq '"') {
				return substr($text, $start, $i - $start);
			}
		}
		die "json_members: unterminated string\n";
	};

	my $value = sub {
		$ws->();
		my $start = $i;
		my $c = substr($text, $i, 1);

		if ($c eq '"') {
			$string->();

		} elsif ($c eq '{' || $c eq '[') {
			my $depth = 0;
			while ($i < $n) {
				$c = substr($text, $i, 1);
				if ($c eq '"') {
					$string->();
					next;
				}
				$i++;
				$depth++ if $c eq '{' || $c eq '[';
				$depth-- if $c eq '}' || $c eq ']';
				last if $depth == 0;
			}
			die "json_members: unbalanced value\n" if $depth;

		} else {
			$i++ while $i < $n && substr($text, $i, 1) !~ /[,}\]\s]/;
		}

		die "json_members: missing value\n" if $i == $start;
		return substr($text, $start, $i - $start);
	};

	my $js = JSON::PP->new->allow_nonref;
	my @members;

	$ws->();
	die "json_members: not an object\n" unless substr($text, $i++, 1) eq '{';
	$ws->();

	if (substr($text, $i, 1) eq '}') {
		$i++;

	} else {
		for (;;) {
			$ws->();
			die "json_members: expected a name\n"
				unless substr($text, $i, 1) eq '"';
			my $name = $js->decode($string->());
			$ws->();
			die "json_members: expected ':'\n"
				unless substr($text, $i++, 1) eq ':';
			push @members, [ $name, $value->() ];
			$ws->();
			my $c = substr($text, $i++, 1);
			last if $c eq '}';
			die "json_members: expected ',' or '}'\n" unless $c eq ',';
		}
	}

	$ws->();
	die "json_members: trailing data\n" if $i < $n;

	return @members;
}

###############################################################################

# Teardown.

sub teardown {
	my ($self, $with_tests) = @_;

	return unless $self->{owner} == $$;
	return if $self->{torn_down}++;

	$self->stop_all();

	if ($with_tests) {
		$self->_check_logs();
	}

	if ($ENV{TOKENROUTE_TEST_LEAVE}) {
		diag("TOKENROUTE_TEST_LEAVE: left $self->{dir}");

	} else {
		rmtree($self->{dir});
	}
}

sub allow_log {
	my ($self, $re) = @_;
	push @{ $self->{allow_log} }, $re;
}

sub _check_logs {
	my ($self) = @_;

	my $d = $self->{dir};

	if ($self->{nginx_started} || %{ $self->{instances} || {} }) {
		my $log = (_slurp("$d/error.log") // '')
			. (_slurp("$d/nginx.stderr") // '');
		for my $i (sort values %{ $self->{instances} || {} }) {
			$log .= (_slurp("$i/error.log") // '')
				. (_slurp("$i/nginx.stderr") // '');
		}
		my @allow = @{ $self->{allow_log} || [] };
		my @bad = grep {
			my $l = $_;
			$l =~ /\[(?:alert|emerg)\]|AddressSanitizer|runtime error/
				&& !grep { $l =~ $_ } @allow
		} split /\n/, $log;

		ok(!@bad, 'error.log has no alert, emerg or sanitizer lines')
			or diag(join("\n", @bad[0 .. ($#bad > 30 ? 30 : $#bad)]));
	}

	my @reports;
	if (opendir(my $dh, $d)) {
		@reports = sort grep { /^(?:asan|ubsan)\./ } readdir $dh;
		closedir $dh;
	}
	for my $name (sort keys %{ $self->{instances} || {} }) {
		if (opendir(my $dh, "$d/$name")) {
			push @reports, map { "$name/$_" }
				sort grep { /^(?:asan|ubsan)\./ } readdir $dh;
			closedir $dh;
		}
	}

	ok(!@reports, 'no sanitizer reports')
		or diag(join "\n", map { "$_:\n" . (_slurp("$d/$_") // '') }
			@reports);
}

sub DESTROY {
	my ($self) = @_;

	return unless $self->{owner} == $$;
	return if $self->{torn_down};

	my $hub = eval { Test2::API::test2_stack()->top };
	my $can_test = ${^GLOBAL_PHASE} ne 'DESTRUCT' && $hub && !$hub->ended;

	$self->teardown($can_test);
}

###############################################################################

1;
