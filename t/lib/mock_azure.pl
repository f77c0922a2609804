#!/usr/bin/perl

# (C) tokenroute authors

# Mock Azure OpenAI resource for the tokenroute test suite: checks what the
# real service checks (the path, api-version, the api-key header) and
# answers the way it does, with its content filter annotations.  Records
# every request as one JSON line, as t/lib/mock_provider.pl does (so
# TokenRoute::Test's mock_requests() reads it).
#
# usage: mock_azure.pl --port P --record FILE [--host H] [--aborts FILE]
#                      [--delay S] [--idle-timeout S]
#
# Routes (POST; anything else: 404 {"error":{"code":"404","message":
# "Resource not found"}}, as Azure answers an unknown path):
#   /openai/deployments/{deployment}/chat/completions?api-version=V
#   /openai/deployments/{deployment}/embeddings?api-version=V
#       V must be one of @VERSIONS (a dated GA or preview version);
#       missing or another: 404 "Resource not found" (Azure's answer)
#   /openai/v1/chat/completions, /openai/v1/embeddings
#       the deployment is the body's "model"; api-version optional, one of
#       "preview", "latest" when given (else 400 as Azure words it)
# Every route needs "api-key: $KEY" (below): else 401 with Azure's words
# ("Access denied due to invalid subscription key or wrong API endpoint").
# An Authorization header is recorded (the tests check none arrives).
#
# Switches, by the deployment name (substring):
#   missing        404 DeploymentNotFound
#   error-429      429, "retry-after: 1", Azure's rate limit message
#   error-NNN      status NNN, {"error":{"code":"NNN","message":...}}
#   filter-prompt  400 content_filter with innererror
#                  ResponsibleAIPolicyViolation (the prompt was filtered)
#   filter-output  200, finish_reason "content_filter", the choice's
#                  content_filter_results with violence filtered (stream:
#                  "Hello", then the finish chunk with them)
#   usage-IN-OUT   usage reports IN prompt and OUT completion tokens
#                  (default: ceil(body bytes / 4) and 3)
# Embeddings: three numbers, as float32s in base64 when the request's
# encoding_format is "base64" (the OpenAI SDKs' default), else a list.
# Streams: the first chunk has "choices": [] and prompt_filter_results
# (id, model and object empty), then a role chunk, one chunk per text piece
# ("Hello", " from", " azure") with content_filter_results, the
# finish_reason chunk, the usage chunk only when the request's
# stream_options.include_usage is true ("choices": []), then [DONE].
# GET /__health answers 200 "ok" and is not recorded.

###############################################################################

use warnings;
use strict;

use Fcntl qw(:flock);
use Getopt::Long;
use IO::Select;
use IO::Socket::IP;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use POSIX qw(:sys_wait_h ceil);
use Time::HiRes qw(time sleep);

###############################################################################

our $KEY = 'azmock0123456789abcdef0123456789ab';
our @VERSIONS = qw(2024-02-01 2024-06-01 2024-10-21 2025-01-01-preview
	2025-04-01-preview);

my ($port, $record, $aborts);
my $host = '127.0.0.1';
my $delay = 0.02;
my $idle_timeout = 120;

GetOptions(
	'host=s' => \$host,
	'port=i' => \$port,
	'record=s' => \$record,
	'aborts=s' => \$aborts,
	'delay=f' => \$delay,
	'idle-timeout=f' => \$idle_timeout,
) or die "usage: $0 --port P --record FILE\n";

die "usage: $0 --port P --record FILE\n"
	unless defined $port && defined $record;

$SIG{PIPE} = 'IGNORE';

my $json = JSON::PP->new->canonical;
my $json_rec = JSON::PP->new->canonical->ascii;

my $listen = IO::Socket::IP->new(
	LocalHost => $host,
	LocalService => $port,
	Proto => 'tcp',
	Listen => 128,
	ReuseAddr => 1,
) or die "mock_azure: cannot listen on $host:$port: $!\n";

my %children;
my $parent = $$;

$SIG{TERM} = $SIG{INT} = sub {
	exit 0 unless $$ == $parent;
	kill 'TERM', keys %children;
	exit 0;
};

for (;;) {
	while ((my $pid = waitpid(-1, WNOHANG)) > 0) {
		delete $children{$pid};
	}

	next unless IO::Select->new($listen)->can_read(0.5);
	my $c = $listen->accept() or next;

	my $pid = fork();
	next unless defined $pid;

	if ($pid == 0) {
		$SIG{TERM} = $SIG{INT} = 'DEFAULT';
		close $listen;
		my $buf = '';
		while (my $req = read_request($c, \$buf)) {
			respond($c, $req) or last;
		}
		POSIX::_exit(0);
	}

	$children{$pid} = 1;
	close $c;
}

###############################################################################

sub fill {
	my ($c, $bufref, $timeout) = @_;

	return 0 unless $timeout > 0 && IO::Select->new($c)->can_read($timeout);
	return sysread($c, $$bufref, 65536, length $$bufref);
}

sub read_request {
	my ($c, $bufref) = @_;

	my $deadline = time() + $idle_timeout;

	while ($$bufref !~ /\r?\n\r?\n/) {
		return undef unless fill($c, $bufref, $deadline - time());
	}

	$$bufref =~ s/^(.*?)\r?\n\r?\n//s;
	my @lines = split /\r?\n/, $1;

	my ($method, $path, $version) =
		shift(@lines) =~ m{^(\S+) (\S+) HTTP/(\d\.\d)$} or return undef;

	my %headers;
	for my $line (@lines) {
		my ($name, $value) = $line =~ /^([^:\s]+):[ \t]*(.*?)[ \t]*$/
			or return undef;
		$headers{lc $name} = $value;
	}

	my $len = $headers{'content-length'} // 0;
	return undef unless $len =~ /^\d+$/;

	$deadline = time() + 30;
	while (length $$bufref < $len) {
		return undef unless fill($c, $bufref, $deadline - time());
	}

	my $body = substr($$bufref, 0, $len, '');

	return { time => time(), method => $method, path => $path,
		version => $version, headers => \%headers, body => $body };
}

sub record {
	my ($req, $resp) = @_;

	my %r = %$req;
	$r{response} = { status => $resp->{status},
		body => $resp->{body} // join('', @{ $resp->{events} || [] }) };

	open my $fh, '>>', $record or die "mock_azure: $record: $!\n";
	flock($fh, LOCK_EX);
	syswrite($fh, $json_rec->encode(\%r) . "\n");
	close $fh;
}

sub write_all {
	my ($c, $data) = @_;

	while (length $data) {
		my $n = syswrite($c, $data) or return 0;
		substr($data, 0, $n) = '';
	}

	return 1;
}

###############################################################################

sub error {
	my ($status, $err, @headers) = @_;

	return { status => $status, body => $json->encode({ error => $err }),
		headers => \@headers };
}

sub not_found {
	return error(404, { code => '404', message => 'Resource not found' });
}

sub respond {
	my ($c, $req) = @_;

	my ($path, $query) = $req->{path} =~ /^([^?]*)(?:\?(.*))?$/s;
	my %q = map { /^([^=]*)=?(.*)$/s } split /&/, $query // '';

	if ($req->{method} eq 'GET' && $path eq '/__health') {
		return send_plain($c, { status => 200, body => 'ok',
			type => 'text/plain' });
	}

	my $resp = route($req, $path, \%q);

	record($req, $resp);

	return $resp->{events} ? send_stream($c, $resp) : send_plain($c, $resp);
}

sub route {
	my ($req, $path, $q) = @_;

	my $body = eval { $json->decode($req->{body}) };
	my ($dep, $op);

	return not_found() unless $req->{method} eq 'POST';

	if ($path =~ m{^/openai/deployments/([^/]+)/(chat/completions|embeddings)$})
	{
		($dep, $op) = ($1, $2);
		$dep =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;

		my $v = $q->{'api-version'};
		return not_found() unless defined $v && grep { $_ eq $v } @VERSIONS;

	} elsif ($path =~ m{^/openai/v1/(chat/completions|embeddings)$}) {
		$op = $1;

		my $v = $q->{'api-version'};
		return error(400, { code => 'BadRequest',
			message => 'API version not supported' })
			if defined $v && $v ne 'preview' && $v ne 'latest';

		$dep = ref $body eq 'HASH' ? $body->{model} : undef;

	} else {
		return not_found();
	}

	return error(401, { code => '401', message => 'Access denied due to '
		. 'invalid subscription key or wrong API endpoint. Make sure to '
		. 'provide a valid key for an active subscription and use a '
		. 'correct regional API endpoint for your resource.' })
		unless ($req->{headers}{'api-key'} // '') eq $KEY;

	return error(400, { code => 'BadRequest',
		message => "We could not parse the JSON body of your request." })
		unless ref $body eq 'HASH';

	return error(400, { code => 'BadRequest',
		message => 'model is required' }) unless defined $dep;

	return error(404, { code => 'DeploymentNotFound', message =>
		'The API deployment for this resource does not exist. If you '
		. 'created the deployment within the last 5 minutes, please wait '
		. 'a moment and try again.' }) if $dep =~ /missing/;

	if ($dep =~ /error-429/) {
		return error(429, { code => '429', message => 'Requests to the '
			. 'ChatCompletions_Create Operation under Azure OpenAI API '
			. 'version 2024-10-21 have exceeded token rate limit of your '
			. 'current OpenAI S0 pricing tier. Please retry after 1 second.'
			}, [ 'retry-after', 1 ], [ 'x-ratelimit-remaining-tokens', 0 ]);
	}

	return error($1, { code => $1, message => "Mock Azure error $1" })
		if $dep =~ /error-(\d{3})/;

	if ($dep =~ /filter-prompt/) {
		return error(400, {
			message => "The response was filtered due to the prompt "
				. "triggering Azure OpenAI's content management policy. "
				. "Please modify your prompt and retry.",
			type => undef, param => 'prompt', code => 'content_filter',
			status => 400,
			innererror => { code => 'ResponsibleAIPolicyViolation',
				content_filter_result => filters('violence') },
		});
	}

	my ($in, $out) = $dep =~ /usage-(\d+)-(\d+)/
		? ($1, $2) : (ceil(length($req->{body}) / 4), 3);

	return embeddings($body, $in) if $op eq 'embeddings';

	return $body->{stream} ? stream($body, $dep, $in, $out)
		: chat($dep, $in, $out);
}

sub filters {
	my ($filtered) = @_;

	return { map { $_ => { filtered => ($_ eq ($filtered // '')
			? JSON::PP::true : JSON::PP::false),
		severity => ($_ eq ($filtered // '') ? 'high' : 'safe') } }
		qw(hate self_harm sexual violence) };
}

sub usage {
	my ($in, $out) = @_;

	return { prompt_tokens => $in + 0, completion_tokens => $out + 0,
		total_tokens => $in + $out,
		prompt_tokens_details => { cached_tokens => 0, audio_tokens => 0 },
		completion_tokens_details => { reasoning_tokens => 0,
			audio_tokens => 0, accepted_prediction_tokens => 0,
			rejected_prediction_tokens => 0 } };
}

sub prompt_filter_results {
	return [ { prompt_index => 0, content_filter_results => {
		%{ filters() },
		jailbreak => { filtered => JSON::PP::false,
			detected => JSON::PP::false } } } ];
}

sub chat {
	my ($dep, $in, $out) = @_;

	my $filtered = $dep =~ /filter-output/;

	return { status => 200, type => 'application/json',
		body => $json->encode({
		id => 'chatcmpl-AZ' . int(rand(1e9)),
		object => 'chat.completion',
		created => time() | 0,
		model => 'gpt-4o-2024-11-20',
		system_fingerprint => 'fp_azmock',
		prompt_filter_results => prompt_filter_results(),
		choices => [ {
			index => 0,
			finish_reason => $filtered ? 'content_filter' : 'stop',
			logprobs => undef,
			message => { role => 'assistant', refusal => undef,
				content => $filtered ? 'Hello' : 'Hello from azure' },
			content_filter_results =>
				filters($filtered ? 'violence' : undef),
		} ],
		usage => usage($in, $out),
	}) };
}

sub stream {
	my ($body, $dep, $in, $out) = @_;

	my $id = 'chatcmpl-AZ' . int(rand(1e9));
	my $created = time() | 0;
	my %common = (id => $id, object => 'chat.completion.chunk',
		created => $created, model => 'gpt-4o-2024-11-20',
		system_fingerprint => 'fp_azmock');

	my @chunks = ({ choices => [], created => 0, id => '', model => '',
		object => '', prompt_filter_results => prompt_filter_results() });

	push @chunks, { %common, choices => [ { index => 0,
		finish_reason => undef, logprobs => undef,
		content_filter_results => {},
		delta => { role => 'assistant', content => '', refusal => undef },
	} ] };

	my $filtered = $dep =~ /filter-output/;

	for my $piece ($filtered ? ('Hello') : ('Hello', ' from', ' azure')) {
		push @chunks, { %common, choices => [ { index => 0,
			finish_reason => undef, logprobs => undef,
			content_filter_results => filters(),
			delta => { content => $piece } } ] };
	}

	push @chunks, { %common, choices => [ { index => 0,
		finish_reason => $filtered ? 'content_filter' : 'stop',
		logprobs => undef, delta => {},
		content_filter_results => $filtered ? filters('violence') : {} } ] };

	my $so = $body->{stream_options};
	push @chunks, { %common, choices => [], usage => usage($in, $out) }
		if ref $so eq 'HASH' && $so->{include_usage};

	return { status => 200, events => [
		(map { 'data: ' . $json->encode($_) . "\n\n" } @chunks),
		"data: [DONE]\n\n" ] };
}

sub embeddings {
	my ($body, $in) = @_;

	# as the service does: little-endian float32s in base64 when asked
	# (the OpenAI SDKs ask by default)
	my @v = (0.0023, -0.0093, 0.0158);
	my $e = ($body->{encoding_format} // '') eq 'base64'
		? encode_base64(pack('f<*', @v), '') : \@v;

	return { status => 200, type => 'application/json',
		body => $json->encode({ object => 'list',
		model => 'text-embedding-3-small',
		data => [ { object => 'embedding', index => 0,
			embedding => $e } ],
		usage => { prompt_tokens => $in + 0, total_tokens => $in + 0 },
	}) };
}

###############################################################################

my %reason;
BEGIN {
	%reason = (200 => 'OK', 400 => 'Bad Request', 401 => 'Unauthorized',
		404 => 'Not Found', 429 => 'Too Many Requests',
		500 => 'Internal Server Error', 503 => 'Service Unavailable');
}

sub send_plain {
	my ($c, $resp) = @_;

	my $h = "HTTP/1.1 $resp->{status} "
		. ($reason{$resp->{status}} // 'Unknown') . "\r\n"
		. 'Content-Type: ' . ($resp->{type} // 'application/json') . "\r\n"
		. 'Content-Length: ' . length($resp->{body}) . "\r\n"
		. "apim-request-id: 4d1d7c5e-mock\r\n"
		. "x-ms-region: Sweden Central\r\n";

	$h .= "$_->[0]: $_->[1]\r\n" for @{ $resp->{headers} || [] };

	return write_all($c, "$h\r\n$resp->{body}");
}

sub send_stream {
	my ($c, $resp) = @_;

	write_all($c, "HTTP/1.1 200 OK\r\n"
		. "Content-Type: text/event-stream; charset=utf-8\r\n"
		. "Transfer-Encoding: chunked\r\n"
		. "apim-request-id: 4d1d7c5e-mock\r\n\r\n") or return 0;

	for my $event (@{ $resp->{events} }) {
		sleep $delay;
		write_all($c, sprintf("%x\r\n%s\r\n", length $event, $event))
			or return 0;
	}

	return write_all($c, "0\r\n\r\n");
}
