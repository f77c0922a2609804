#!/usr/bin/perl

# (C) tokenroute authors

# conf.d/tokenroute_proxy.conf sends the Host and the provider's headers
# in one line, "proxy_set_header Host $tokenroute_upstream_host_headers;"
# (the value carries the other header lines), instead of one
# proxy_set_header per header.  Differential test: the same requests
# through a location that has the one-line-per-header form (the conf
# with that line replaced by the lines its comment lists) and proxy_pass
# $tokenroute_upstream$tokenroute_upstream_uri, through one with the
# Content-Type line of $tokenroute_upstream_headers and proxy_pass
# $tokenroute_upstream_url (the form before), and through the standard
# one (proxy_pass $tokenroute_proxy_pass: no URI when it is the
# client's); the providers must receive the same request line (also for
# a client URI with arguments or escapes), header lines in the same
# order, and body, for every provider type: OpenAI, Anthropic (default and client
# anthropic-version, one and two anthropic-beta headers), Azure, Bedrock
# (signed, with and without a session token; with an API key), a
# translated request, a fallback.

###############################################################################

use warnings;
use strict;

use Test::More;

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = TokenRoute::Test->new();
my $d = $t->testdir;

sub write_file {
	my ($name, $text) = @_;
	open my $fh, '>', "$d/$name" or die "$d/$name: $!";
	print $fh $text;
	close $fh;
}

# the slow form: each header on its own line, as the conf's comment says

open my $fh, '<', $t->repo . '/conf.d/tokenroute_proxy.conf' or die $!;
my $conf = do { local $/; <$fh> };
close $fh;

my ($lines) = $conf =~ /((?:^#     proxy_set_header [^\n]*\n)+)/m;
ok($lines && ($lines =~ tr/\n//) == 9, 'the conf lists the nine lines');
$lines =~ s/^#     //mg;

my $fast = 'proxy_set_header Host $tokenroute_upstream_host_headers;';
my $old = $conf;
ok($old =~ s/^\Q$fast\E\n/$lines/m, 'the conf has the one line');
ok($old =~ s/^proxy_pass \$tokenroute_proxy_pass;$/proxy_pass \$tokenroute_upstream\$tokenroute_upstream_uri;/m,
	'the conf passes $tokenroute_proxy_pass');
$old =~ s/^error_page [^\n]*\n//mg;
write_file('old_proxy.conf', $old);

# the form of round three: Host, then the headers after Content-Type
my $mid = $conf;
$mid =~ s/^\Q$fast\E\n/proxy_set_header Host \$tokenroute_upstream_host;
proxy_set_header Content-Type \$tokenroute_upstream_headers;
/m;
$mid =~ s/^proxy_pass [^\n]*$/proxy_pass \$tokenroute_upstream_url;/m;
$mid =~ s/^error_page [^\n]*\n//mg;
write_file('mid_proxy.conf', $mid);

write_file('bedrock.keys', <<'EOF');
AKIDENVEXAMPLE1 envSecret/Key+1
AKIDFILEEXAMPLE fileSecret/Key+2 FwoGZXIvYXdzEXAMPLE//token+/=
bearer ABSKQmVkcm9ja0FQSUtleS1example
EOF

write_file('aws_credentials', <<'EOF');
[profile prod]
aws_access_key_id = AKIDFILEEXAMPLE
aws_secret_access_key = fileSecret/Key+2
aws_session_token = FwoGZXIvYXdzEXAMPLE//token+/=
EOF

write_file('bedrock_api.key', "ABSKQmVkcm9ja0FQSUtleS1example\n");
write_file('azure.key', "azmock0123456789abcdef0123456789ab\n");

$ENV{AWS_ACCESS_KEY_ID} = 'AKIDENVEXAMPLE1';
$ENV{AWS_SECRET_ACCESS_KEY} = 'envSecret/Key+1';
delete $ENV{AWS_SESSION_TOKEN};

$t->start_mock(name => 'bedrock', script => 't/lib/mock_bedrock.pl',
	args => ['--keys', "$d/bedrock.keys", '--region', 'eu-west-3']);
$t->start_mock(name => 'azure', script => $t->repo . '/t/lib/mock_azure.pl');

my $p = 'input_price=1 output_price=1';

$t->start_gateway(http => <<"EOF", server => <<'EOF');
tokenroute_provider brenv type=bedrock url=http://127.0.0.1:%%PORT_bedrock%% region=eu-west-3;
tokenroute_provider brfile type=bedrock url=http://127.0.0.1:%%PORT_bedrock%% region=eu-west-3 credentials_file=%%TESTDIR%%/aws_credentials profile=prod;
tokenroute_provider brkey type=bedrock url=http://127.0.0.1:%%PORT_bedrock%% region=eu-west-3 key_file=%%TESTDIR%%/bedrock_api.key;
tokenroute_provider azdep type=azure url=http://127.0.0.1:%%PORT_azure%%/openai api_version=2024-10-21 key_file=%%TESTDIR%%/azure.key;
tokenroute_model br/env provider=brenv upstream_model=anthropic.claude-usage-20-10-v1:0 $p;
tokenroute_model br/file provider=brfile upstream_model=eu.anthropic.claude-usage-7-3-v1:0 $p;
tokenroute_model br/key provider=brkey upstream_model=anthropic.claude-usage-5-2-v1:0 $p;
tokenroute_model azure/gpt-4o provider=azdep upstream_model=gpt-4o-prod $p;
tokenroute_model azure/busy provider=azdep upstream_model=gpt-4o-error-429 $p fallback=openai/gpt-4o-mini;
log_format urls '\$tokenroute_upstream_url|\$tokenroute_upstream\$tokenroute_upstream_uri';
access_log %%TESTDIR%%/urls.log urls;
EOF
location /old/v1/ {
    tokenroute on;
    include %%TESTDIR%%/old_proxy.conf;
}
location /mid/v1/ {
    tokenroute on;
    include %%TESTDIR%%/mid_proxy.conf;
}
EOF

my $key = $t->create_key(name => 'headers');

# the same request through both locations: the header lines each received

sub both {
	my ($mock, $path, $model, @headers) = @_;

	my @got;

	for my $prefix ('', '/old', '/mid') {
		$t->clear_mock_requests($mock);

		my $res = $t->http(method => 'POST', path => "$prefix$path",
			headers => [ 'Authorization' => "Bearer $key->{raw}",
				@headers ],
			body => { model => $model, max_tokens => 16,
				messages => [ { role => 'user', content => 'hi' } ] });

		my @reqs = $t->mock_requests($mock);
		push @got, { status => $res->{status}, req => $reqs[-1] };
	}

	return @got;
}

# header lines as received, the per-attempt SigV4 values (time) masked

sub lines {
	my ($req) = @_;

	return 'none' unless $req;

	if ($req->{header_list}) {
		return join "\n", map {
			my ($n, $v) = @$_;
			$v = 'SIGNED' if lc $n eq 'authorization'
				&& $v =~ /^AWS4-HMAC-SHA256 /;
			$v = 'DATE' if lc $n eq 'x-amz-date';
			"$n: $v";
		} @{ $req->{header_list} };
	}

	# mock_azure.pl records names and values only
	my $h = $req->{headers};
	return join "\n", map { "$_: $h->{$_}" } sort keys %$h;
}

# the request line and the body

sub head {
	my ($req) = @_;
	return 'none' unless $req;
	return join ' ', map { $_ // '-' } @$req{qw(method path version)};
}

sub body {
	my ($req) = @_;
	return 'none' unless $req;
	return $req->{body} // '-';
}

my @cases = (
	[ 'openai', 'mock', '/v1/chat/completions', 'openai/gpt-4o-mini' ],
	[ 'openai, arguments in the URI', 'mock', '/v1/chat/completions?a=1',
		'openai/gpt-4o-mini' ],
	[ 'openai, an escape in the URI', 'mock', '/v1/chat/%63ompletions',
		'openai/gpt-4o-mini' ],
	[ 'openai, an empty query', 'mock', '/v1/chat/completions?',
		'openai/gpt-4o-mini' ],
	[ 'openai, a client anthropic-beta (not sent)', 'mock',
		'/v1/chat/completions', 'openai/gpt-4o-mini',
		'anthropic-beta' => 'x-1' ],
	[ 'anthropic, default version', 'mock', '/v1/messages',
		'anthropic/claude-haiku-4-5' ],
	[ 'anthropic, client version and one beta', 'mock', '/v1/messages',
		'anthropic/claude-haiku-4-5', 'anthropic-version' => '2023-01-01',
		'anthropic-beta' => 'prompt-caching-2024-07-31' ],
	[ 'anthropic, two betas', 'mock', '/v1/messages',
		'anthropic/claude-haiku-4-5', 'anthropic-beta' => 'a-1',
		'anthropic-beta' => 'b-2' ],
	[ 'openai client to anthropic', 'mock', '/v1/chat/completions',
		'anthropic/claude-haiku-4-5', 'anthropic-beta' => 'c-3' ],
	[ 'azure', 'azure', '/v1/chat/completions', 'azure/gpt-4o' ],
	[ 'azure, then openai', 'mock', '/v1/chat/completions', 'azure/busy' ],
	[ 'bedrock, signed', 'bedrock', '/v1/messages', 'br/env' ],
	[ 'bedrock, signed with a session token', 'bedrock', '/v1/messages',
		'br/file', 'anthropic-beta' => 'd-4' ],
	[ 'bedrock, an API key', 'bedrock', '/v1/messages', 'br/key' ],
);

for my $c (@cases) {
	my ($name, $mock, $path, $model, @headers) = @$c;

	my ($new, $old, $mid) = both($mock, $path, $model, @headers);

	is($new->{status}, 200, "$name: 200");
	is($old->{status}, 200, "$name: 200 the slow way");
	is($mid->{status}, 200, "$name: 200 round three's way");
	ok($new->{req}, "$name: the provider was asked");
	is(lines($new->{req}), lines($old->{req}),
		"$name: the same header lines");
	is(lines($mid->{req}), lines($old->{req}),
		"$name: the same header lines as round three's");
	is(head($new->{req}), head($old->{req}), "$name: the same request line");
	is(body($new->{req}), body($old->{req}), "$name: the same body");
	is(body($mid->{req}), body($old->{req}),
		"$name: the same body as round three's");
}

# the values themselves, once: not only the same as the slow way

my ($new) = both('mock', '/v1/messages', 'anthropic/claude-haiku-4-5',
	'anthropic-beta' => 'a-1', 'anthropic-beta' => 'b-2');
my $re = qr/^Host: [^\n]+\nContent-Type: application\/json\n/
	. qr/x-api-key: [^\n]+\nanthropic-version: [^\n]+\n/
	. qr/anthropic-beta: a-1,b-2\nContent-Length: \d+$/;
like(lines($new->{req}), qr/$re/, 'anthropic: the lines in order');

($new) = both('bedrock', '/v1/messages', 'br/file');
$re = qr/^Host: [^\n]+\nContent-Type: application\/json\n/
	. qr/Authorization: SIGNED\nx-amz-date: DATE\n/
	. qr/x-amz-security-token: FwoGZXIvYXdzEXAMPLE\/\/token\+\/=\n/
	. qr/Content-Length: \d+$/;
like(lines($new->{req}), qr/$re/, 'bedrock: the lines in order');

# $tokenroute_upstream_url (proxy_pass) is the two variables it joins,
# whichever way the URI was made (route.c, Azure, Bedrock, a fallback)

my @urls = do {
	open my $fh, '<', "$d/urls.log" or die "urls.log: $!";
	map { chomp; [ split /\|/, $_, -1 ] } <$fh>;
};
my @bad = grep { $_->[0] ne $_->[1] } @urls;
my %kinds = map { ($_->[0] =~ m{^(\w+://[^/]+)}) => 1 } @urls;
ok(@urls >= 2 * @cases, 'urls logged: ' . scalar @urls);
ok(!@bad, 'upstream_url is upstream and upstream_uri: '
	. join(' ', map { "$_->[0] != $_->[1]" } @bad));
ok(keys %kinds >= 3, 'of the providers: ' . join(' ', sort keys %kinds));

done_testing();
