#!/usr/bin/perl

# (C) tokenroute authors

# Mock of Claude on Google Vertex AI for the tokenroute test suite: the
# OAuth2 token endpoint of a service account and the rawPredict and
# streamRawPredict endpoints, checking what the real ones check.  Records
# every request as one JSON line.
#
# usage: mock_vertex.pl --port P --record FILE --pubkey PEM --email E
#                       --control FILE --state DIR
#
# POST /token (the key file's token_uri): a form with grant_type
#   urn:ietf:params:oauth:grant-type:jwt-bearer and assertion, an RS256
#   JWT whose signature is verified with the service account's public key
#   (openssl dgst -sha256 -verify), whose claims are iss = E, scope =
#   cloud-platform, aud = this endpoint's URL, iat within 60 s of now and
#   exp = iat + 3600.  Answers {"access_token","expires_in","token_type"}
#   or, as Google does, 400 {"error":"invalid_grant", ...}.
#   The control file (KEY=VALUE lines, read at each request) sets:
#     expires_in=N   the tokens' lifetime (default 3599)
#     status=N       the token endpoint answers N (a 503 outage) instead
#     delay=S        the token endpoint waits S seconds first
#     describe=TEXT  the token endpoint answers 400 invalid_grant with
#                    error_description TEXT (%XX-decoded: a newline too)
# POST /v1/projects/P/locations/L/publishers/anthropic/models/M:rawPredict
#   (or :streamRawPredict): "Authorization: Bearer T" with a token this
#   mock issued, not expired and not listed in STATE/revoked (else 401
#   UNAUTHENTICATED, Google's error shape); a JSON body with anthropic_version "vertex-2023-10-16", no
#   "model", "stream" true exactly on :streamRawPredict (else 400 in
#   Anthropic's error shape, as Vertex relays it).  Answers Anthropic's
#   message, or its event stream.  Switches in M:
#     usage-IN-OUT   usage reports IN input and OUT output tokens
#     error-NNN      status NNN with Google's error
#                    {"error":{"code","message","status"}}
#     garray-NNN     the same error inside a JSON array, [{"error":...}]

use warnings;
use strict;

use Fcntl qw(:flock);
use File::Temp qw(tempfile);
use Getopt::Long;
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use POSIX qw(:sys_wait_h);

my ($port, $record, $pubkey, $email, $control, $state);
my $host = '127.0.0.1';

GetOptions('port=i' => \$port, 'record=s' => \$record,
	'pubkey=s' => \$pubkey, 'email=s' => \$email,
	'control=s' => \$control, 'state=s' => \$state, 'host=s' => \$host)
	or die "usage\n";

my $js = JSON::PP->new->canonical;

$SIG{CHLD} = sub { 1 while waitpid(-1, WNOHANG) > 0 };

my $srv = IO::Socket::INET->new(LocalAddr => $host, LocalPort => $port,
	Listen => 128, ReuseAddr => 1) or die "listen: $!\n";

while (1) {
	my $c = $srv->accept() or next;
	my $pid = fork();
	if (!defined $pid) { close $c; next; }
	if ($pid == 0) {
		close $srv;
		eval { serve($c) };
		print STDERR "mock_vertex: $@" if $@;
		close $c;
		exit 0;
	}
	close $c;
}

sub slurp {
	my ($f) = @_;
	open my $fh, '<', $f or return undef;
	local $/;
	my $s = <$fh>;
	return $s;
}

sub controls {
	my %c;
	for my $l (split /\n/, slurp($control) // '') {
		$c{$1} = $2 if $l =~ /^(\w+)=(.*)$/;
	}
	return \%c;
}

sub append {
	my ($file, $line) = @_;
	open my $fh, '>>', $file or die "$file: $!\n";
	flock($fh, LOCK_EX);
	print $fh $line;
	close $fh;
}

sub serve {
	my ($c) = @_;

	local $/ = "\r\n";
	my $line = <$c> // return;
	my ($method, $path) = $line =~ /^(\S+) (\S+)/ or return;

	my %h;
	while (my $l = <$c>) {
		last if $l eq "\r\n";
		$l =~ s/\r\n$//;
		my ($k, $v) = split /:\s*/, $l, 2;
		$h{lc $k} = $v;
	}

	my $body = '';
	if (my $len = $h{'content-length'}) {
		read($c, $body, $len);
	}

	if ($path eq '/__health') {
		return reply($c, 200, 'text/plain', 'ok');
	}

	my $kind = $path eq '/token' ? 'token' : 'predict';

	append($record, $js->encode({ kind => $kind, method => $method,
		path => $path, headers => \%h, body => $body, time => time() })
		. "\n");

	return token($c, \%h, $body) if $kind eq 'token';
	return predict($c, $path, \%h, $body);
}

sub reply {
	my ($c, $status, $type, $body, @extra) = @_;
	print $c "HTTP/1.1 $status X\r\nContent-Type: $type\r\n"
		. "Content-Length: " . length($body) . "\r\n"
		. join('', map { "$_\r\n" } @extra)
		. "Connection: close\r\n\r\n$body";
}

sub b64url {
	my ($s) = @_;
	$s =~ tr/-_/+\//;
	$s .= '=' x ((4 - length($s) % 4) % 4);
	return decode_base64($s);
}

sub grant_error {
	my ($c, $desc) = @_;
	reply($c, 400, 'application/json; charset=utf-8',
		$js->encode({ error => 'invalid_grant',
			error_description => $desc }));
}

sub token {
	my ($c, $h, $body) = @_;

	my $ctl = controls();
	sleep($ctl->{delay}) if $ctl->{delay};

	if (my $s = $ctl->{status}) {
		return reply($c, $s, 'text/html', "<html>$s outage</html>");
	}

	if (defined(my $d = $ctl->{describe})) {
		$d =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge;
		return grant_error($c, $d);
	}

	my %f = map { my ($k, $v) = split /=/, $_, 2;
		$v //= ''; $v =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge;
		($k => $v) } split /&/, $body;

	return reply($c, 400, 'application/json', $js->encode({
		error => 'unsupported_grant_type',
		error_description => 'Invalid grant_type: ' . ($f{grant_type} // '')
	})) unless ($f{grant_type} // '') eq
		'urn:ietf:params:oauth:grant-type:jwt-bearer'
		&& ($h->{'content-type'} // '') eq
			'application/x-www-form-urlencoded';

	my ($hd, $cl, $sig) = split /\./, $f{assertion} // '';
	return grant_error($c, 'Invalid JWT: not three parts')
		unless defined $sig && $f{assertion} =~ /^[\w-]+\.[\w-]+\.[\w-]+$/;

	my $head = eval { decode_json(b64url($hd)) } // {};
	return grant_error($c, 'Invalid JWT header')
		unless ($head->{alg} // '') eq 'RS256';

	my ($dfh, $dname) = tempfile(DIR => $state);
	print $dfh "$hd.$cl";
	close $dfh;
	my ($sfh, $sname) = tempfile(DIR => $state);
	print $sfh b64url($sig);
	close $sfh;

	my $out = `openssl dgst -sha256 -verify '$pubkey' -signature '$sname' '$dname' 2>&1`;
	unlink $dname, $sname;

	return grant_error($c, 'Invalid JWT Signature.')
		unless $out =~ /Verified OK/;

	my $claims = eval { decode_json(b64url($cl)) } // {};
	my $now = time();
	my $aud = "http://$h->{host}/token";

	return grant_error($c, 'Invalid JWT: claims: ' . b64url($cl))
		unless ($claims->{iss} // '') eq $email
		&& ($claims->{scope} // '') eq
			'https://www.googleapis.com/auth/cloud-platform'
		&& ($claims->{aud} // '') eq $aud;

	return grant_error($c, 'Invalid JWT: Token must be a short-lived '
		. 'token (60 minutes) and in a reasonable timeframe. Check your '
		. 'iat and exp values in the JWT claim.')
		unless abs(($claims->{iat} // 0) - $now) <= 60
		&& ($claims->{exp} // 0) == ($claims->{iat} // 0) + 3600;

	my $life = $ctl->{expires_in} // 3599;
	my $tok = sprintf('ya29.mock.%08x%08x', int(rand(2**32)),
		int(rand(2**32)));

	append("$state/tokens", "$tok " . ($now + $life) . "\n");

	reply($c, 200, 'application/json; charset=utf-8', $js->encode({
		access_token => $tok, expires_in => $life + 0,
		token_type => 'Bearer' }));
}

sub google_error {
	my ($c, $code, $status, $msg, $array) = @_;
	my $e = { error => { code => $code + 0, message => $msg,
		status => $status } };
	reply($c, $code, 'application/json; charset=UTF-8',
		$js->encode($array ? [ $e ] : $e));
}

sub anthropic_error {
	my ($c, $msg) = @_;
	reply($c, 400, 'application/json', $js->encode({ type => 'error',
		error => { type => 'invalid_request_error', message => $msg } }));
}

sub predict {
	my ($c, $path, $h, $body) = @_;

	my ($model, $method) = $path =~ m{^/v1/projects/[^/]+/locations/[^/]+/publishers/anthropic/models/([^/:]+):(rawPredict|streamRawPredict)$}
		or return google_error($c, 404, 'NOT_FOUND',
			"The requested URL $path was not found on this server.");

	my ($tok) = ($h->{authorization} // '') =~ /^Bearer (\S+)$/;
	my %valid;
	for (split /\n/, slurp("$state/tokens") // '') {
		my ($t, $exp) = split / /;
		$valid{$t} = $exp;
	}

	my %revoked = map { $_ => 1 } split /\n/, slurp("$state/revoked") // '';

	return google_error($c, 401, 'UNAUTHENTICATED', 'Request had '
		. 'invalid authentication credentials. Expected OAuth 2 access '
		. 'token, login cookie or other valid authentication credential.')
		unless defined $tok && $valid{$tok} && $valid{$tok} > time()
			&& !$revoked{$tok};

	my $req = eval { decode_json($body) };
	return anthropic_error($c, 'invalid JSON') unless ref $req eq 'HASH';
	return anthropic_error($c, 'anthropic_version: must be '
		. 'vertex-2023-10-16') unless ($req->{anthropic_version} // '')
		eq 'vertex-2023-10-16';
	return anthropic_error($c, 'model: Extra inputs are not permitted')
		if exists $req->{model};

	my $stream = $req->{stream} ? 1 : 0;
	return anthropic_error($c, "stream: $method expects "
		. ($method eq 'rawPredict' ? 'no stream' : 'stream: true'))
		unless $stream == ($method eq 'streamRawPredict' ? 1 : 0);

	if ($model =~ /(error|garray)-(\d{3})/) {
		my %st = (400 => 'INVALID_ARGUMENT', 403 => 'PERMISSION_DENIED',
			404 => 'NOT_FOUND', 429 => 'RESOURCE_EXHAUSTED',
			500 => 'INTERNAL', 503 => 'UNAVAILABLE');
		my $msg = $2 == 429 ? 'Quota exceeded for aiplatform.googleapis.com'
			. '/online_prediction_requests_per_base_model with base '
			. "model: anthropic-$model. Please submit a quota increase "
			. 'request.' : "Vertex says $2";
		return google_error($c, $2, $st{$2} // 'UNKNOWN', $msg,
			$1 eq 'garray');
	}

	my ($in, $out) = $model =~ /usage-(\d+)-(\d+)/ ? ($1, $2) : (12, 5);
	my $text = 'Hello from Vertex';
	my $id = 'msg_vrtx_01' . int(rand(1e9));
	(my $served = $model) =~ s/\@.*//;

	if (!$stream) {
		return reply($c, 200, 'application/json', $js->encode({
			id => $id, type => 'message', role => 'assistant',
			model => $served,
			content => [ { type => 'text', text => $text } ],
			stop_reason => 'end_turn', stop_sequence => undef,
			usage => { input_tokens => $in + 0,
				output_tokens => $out + 0 } }));
	}

	my @ev = (
		[ message_start => { type => 'message_start', message => {
			id => $id, type => 'message', role => 'assistant',
			model => $served, content => [], stop_reason => undef,
			stop_sequence => undef, usage => {
				input_tokens => $in + 0, output_tokens => 1 } } } ],
		[ ping => { type => 'ping' } ],
		[ content_block_start => { type => 'content_block_start',
			index => 0, content_block => { type => 'text',
				text => '' } } ],
		[ content_block_delta => { type => 'content_block_delta',
			index => 0, delta => { type => 'text_delta',
				text => $text } } ],
		[ content_block_stop => { type => 'content_block_stop',
			index => 0 } ],
		[ message_delta => { type => 'message_delta', delta => {
			stop_reason => 'end_turn', stop_sequence => undef },
			usage => { output_tokens => $out + 0 } } ],
		[ message_stop => { type => 'message_stop' } ],
	);

	my $sse = join '', map { "event: $_->[0]\ndata: "
		. $js->encode($_->[1]) . "\n\n" } @ev;

	reply($c, 200, 'text/event-stream; charset=utf-8', $sse);
}
