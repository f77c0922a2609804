#!/usr/bin/perl

# (C) tokenroute authors

# The files the image ships, checked against what they promise: the
# tokenroute_json access log against README's variables table, the
# Anthropic provider file's chain (Haiku 4.5, then Sonnet 4.5) loaded by
# the module, docker-compose.yml's fleet (read by a parser of the YAML it
# may use, and by yq when there is one).

###############################################################################

use warnings;
use strict;

use Test::More;
use File::Basename qw(dirname);
use File::Path qw(make_path);
use JSON::PP;

use lib dirname(__FILE__) . '/lib';
use TokenRoute::Test;
use TokenRoute::Image qw(slurp dockerfile);

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new(needs => [qw(nginx module)]);
my $repo = $t->repo;
my $dir = $t->testdir;
my $json = JSON::PP->new->utf8;

# the gateway's port, as the image has it
my ($env_port) = join(' ', map { $_->{args} }
	grep { $_->{op} eq 'ENV' } dockerfile()) =~ /TOKENROUTE_PORT=(\d+)/;

###############################################################################

# The access log: tokenroute_json logs README's $tokenroute_* variables,
# but the ones its comment lists as not logged.

{
	my $readme = slurp("$repo/README.md") // '';
	my %readme = map { $_ => 1 } $readme =~ /^\| `\$(tokenroute_\w+)` \|/mg;
	my $log = slurp("$repo/conf.d/tokenroute_log.conf") // '';
	my ($fmt) = $log =~ /^(log_format tokenroute_json escape=json .*?;)$/ms;
	ok($fmt, 'log_format tokenroute_json escape=json');
	my %logged = map { $_ => 1 } ($fmt // '') =~ /\$(tokenroute_\w+)/g;
	my ($not) = $log =~ /logged .*?but these:\n((?:#.*\n)+)/;
	my %not = map { $_ => 1 } ($not // '') =~ /\$(tokenroute_\w+)/g;

	ok(keys %readme > 20, 'README lists the variables');
	my @unknown = grep { !$readme{$_} } sort keys(%logged), keys(%not);
	ok(!@unknown, 'every variable the log names is in README')
		or diag("@unknown");
	my @left = grep { !$logged{$_} && !$not{$_} } sort keys %readme;
	ok(!@left, 'every README variable is logged or said not to be')
		or diag("@left");
	ok(!$logged{tokenroute_provider_authorization}
		&& !$logged{tokenroute_provider_api_key}
		&& !$logged{tokenroute_azure_api_key},
		'no provider credential in the log');

	my $conf_row = ($readme =~ /^\| `tokenroute_log\.conf` \|(.*)$/m)[0];
	like($conf_row // '', qr/tokenroute_json/,
		'README\'s conf.d table names tokenroute_json');
}

###############################################################################

# The Anthropic provider file: the seed's chain.

{
	my $text = slurp("$repo/conf.d/provider-anthropic.conf") // '';
	my %models;
	while ($text =~ /^tokenroute_model\s+(\S+)\s+([^;]*);/mg) {
		$models{$1} = $2;
	}
	like($models{'anthropic/claude-haiku-4-5'} // '',
		qr/\bfallback=anthropic\/claude-sonnet-4-5(?:\s|$)/,
		'Haiku 4.5 falls back to Sonnet 4.5');
	ok(exists $models{'anthropic/claude-sonnet-4-5'}, 'Sonnet 4.5 declared');
	unlike($models{'anthropic/claude-sonnet-4-5'} // '', qr/fallback=/,
		'Sonnet 4.5 is the end of the chain');
}

###############################################################################

# the file loads (its upstream's host made local: no DNS in tests)

{
	my $text = slurp("$repo/conf.d/provider-anthropic.conf") // '';
	$text =~ s/\bserver\s+api\.anthropic\.com:443;/server 127.0.0.1:1;/;
	my $d = "$dir/anthropic";
	make_path($d);
	open my $fh, '>', "$d/provider.conf" or die;
	print $fh $text;
	close $fh;
	my $module = $t->build_dir . '/ngx_http_tokenroute_module.so';
	open $fh, '>', "$d/nginx.conf" or die;
	print $fh <<"EOF";
load_module $module;
pid $d/nginx.pid;
error_log stderr;
events { }
http {
    tokenroute_redis 127.0.0.1:1;
    include $d/provider.conf;
}
EOF
	close $fh;
	my $nenv = $t->_nginx_env;
	local @ENV{ keys %$nenv } = values %$nenv;
	local $ENV{ANTHROPIC_API_KEY} = 'sk-ant-test';
	my $out = `$t->{nginx} -t -p $d/ -c $d/nginx.conf 2>&1`;
	SKIP: {
		skip 'its upstream needs DNS', 1
			if $out =~ /host not found/;
		is($?, 0, 'provider-anthropic.conf loads with the module')
			or diag($out);
	}
}

###############################################################################

# docker-compose.yml, read by a parser of the YAML it may use: block
# mappings and sequences, scalars plain or quoted, flow sequences of
# quoted strings.

sub yaml_scalar {
	my ($v) = @_;
	return $json->decode($v) if $v =~ /^\[.*\]$/;
	return $1 if $v =~ /^"(.*)"$/ || $v =~ /^'(.*)'$/;
	return $v;
}

sub yaml_block {
	my ($lines, $i, $indent) = @_;

	my $node;
	while ($$i < @$lines) {
		my ($ind, $text) = @{ $lines->[$$i] };
		last if $ind < $indent;
		die "line $lines->[$$i][2]: unexpected indentation\n"
			if $ind > $indent;

		if ($text =~ /^- (.*)$/) {
			die "line $lines->[$$i][2]: a list in a mapping\n"
				if ref $node eq 'HASH';
			$node //= [];
			$$i++;
			push @$node, yaml_scalar($1);

		} elsif ($text =~ /^([\w.-]+):(?:\s+(.*))?$/) {
			die "line $lines->[$$i][2]: a mapping in a list\n"
				if ref $node eq 'ARRAY';
			$node //= {};
			my ($k, $v) = ($1, $2);
			die "line $lines->[$$i][2]: duplicate key $k\n"
				if exists $node->{$k};
			$$i++;
			if (defined $v && $v ne '') {
				$node->{$k} = yaml_scalar($v);
			} elsif ($$i < @$lines && $lines->[$$i][0] > $indent) {
				$node->{$k} = yaml_block($lines, $i, $lines->[$$i][0]);
			} else {
				$node->{$k} = undef;
			}

		} else {
			die "line $lines->[$$i][2]: not understood: $text\n";
		}
	}

	return $node;
}

{
	my $text = slurp("$repo/docker-compose.yml") // '';
	my (@lines, $n);
	for (split /\n/, $text) {
		$n++;
		next if /^\s*(?:#.*)?$/;
		die "docker-compose.yml:$n: a tab\n" if /\t/;
		/^( *)(.*?)\s*$/;
		push @lines, [ length $1, $2, $n ];
	}
	my $i = 0;
	my $c = eval { yaml_block(\@lines, \$i, 0) };
	ok($c && $i == @lines, 'docker-compose.yml parses') or diag($@);
	$c ||= {};

	my $s = $c->{services} || {};
	ok($s->{redis} && ($s->{redis}{image} // '') =~ /^redis:/,
		'compose: a redis service');
	ok($s->{redis}{healthcheck}, 'compose: redis has a healthcheck');

	my @gw = grep { ($s->{$_}{build} // '') eq '.' } sort keys %$s;
	ok(@gw >= 2, 'compose: two gateways built from this Dockerfile ('
		. "@gw)");

	my %host;
	for my $g (@gw) {
		my $svc = $s->{$g};
		my %env = map { /^(\w+)(?:=(.*))?$/ ? ($1 => $2) : () }
			@{ $svc->{environment} || [] };
		is($env{TOKENROUTE_REDIS}, 'redis:6379', "$g: TOKENROUTE_REDIS");
		ok(exists $env{$_} && !defined $env{$_}, "$g: $_ from the shell")
			for qw(OPENAI_API_KEY ANTHROPIC_API_KEY GEMINI_API_KEY);
		is($svc->{depends_on}{redis}{condition}, 'service_healthy',
			"$g: starts once redis is healthy");
		like(join(' ', @{ $svc->{healthcheck}{test} || [] }),
			qr{curl .*http://127\.0\.0\.1:$env_port/health},
			"$g: healthcheck on /health");
		ok($svc->{stop_grace_period}, "$g: a grace period for streams");
		for (@{ $svc->{ports} || [] }) {
			my ($h, $p) = /^(\d+):(\d+)$/ or next;
			is($p, $env_port, "$g: publishes the gateway's port");
			ok(!$host{$h}++, "$g: host port $h its own");
		}
	}

	# the same document as a YAML parser reads it, when one is here
	SKIP: {
		my $yq = `yq . '$repo/docker-compose.yml' 2>/dev/null`;
		skip 'no working yq here', 1 unless $? == 0 && $yq =~ /^\{/;
		is_deeply($c, $json->decode($yq), 'yq reads the same document');
	}

	SKIP: {
		skip 'no "docker compose" here', 1
			unless system('docker compose version >/dev/null 2>&1') == 0;
		is(system("docker compose -f '$repo/docker-compose.yml' config -q"
			. ' >/dev/null 2>&1'), 0, 'docker compose config');
	}
}


done_testing();

###############################################################################
