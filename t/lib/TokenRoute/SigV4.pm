package TokenRoute::SigV4;

# (C) tokenroute authors

# AWS Signature Version 4, written from AWS's specification ("Create a
# signed AWS API request", IAM User Guide) for the test suite's mocks:
# the server's side, which recomputes a request's signature from what it
# received and says why it does not match.  Independent of the gateway's C
# (src/tokenroute_sigv4.c); core Perl and Digest::SHA only.
#
#   verify(method => M, path => RAW_PATH, query => RAW_QUERY,
#          headers => [[name, value], ...] as received, body => BYTES,
#          now => EPOCH, region => R, service => S,
#          secret_for => sub { (SECRET, TOKEN) for an access key id, or () })
#     -> (1) or (0, exception type, message) in AWS's words
#   sign(same, access_key => A, secret_key => K, amz_date => D,
#        token => T): the Authorization value (to test verify() itself)

use strict;
use warnings;

use Digest::SHA qw(sha256_hex hmac_sha256 hmac_sha256_hex);
use Time::Local qw(timegm);

sub uri_encode {
	my ($s, $keep_slash) = @_;
	my $safe = $keep_slash ? 'A-Za-z0-9\-._~\/' : 'A-Za-z0-9\-._~';
	$s =~ s/([^$safe])/sprintf('%%%02X', ord $1)/ge;
	return $s;
}

sub uri_decode {
	my ($s) = @_;
	$s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
	return $s;
}

# every path segment encoded once more, as services other than S3 do
sub canonical_path {
	my ($path) = @_;
	return '/' if $path eq '';
	return join '/', map { uri_encode($_) } split m{/}, $path, -1;
}

sub canonical_query {
	my ($query) = @_;
	my @p;
	for my $kv (grep { length } split /&/, $query // '') {
		my ($k, $v) = split /=/, $kv, 2;
		push @p, [uri_encode(uri_decode($k)), uri_encode(uri_decode($v // ''))];
	}
	return join '&', map { "$_->[0]=$_->[1]" }
		sort { $a->[0] cmp $b->[0] || $a->[1] cmp $b->[1] } @p;
}

sub canonical_request {
	my (%r) = @_;
	my @names = @{ $r{signed} };
	my %vals;
	for my $h (@{ $r{headers} }) {
		my $v = $h->[1];
		$v =~ s/^\s+|\s+$//g;
		$v =~ s/\s+/ /g;
		push @{ $vals{lc $h->[0]} }, $v;
	}
	my $text = "$r{method}\n" . canonical_path($r{path}) . "\n"
		. canonical_query($r{query}) . "\n";
	$text .= "$_:" . join(',', @{ $vals{$_} || [] }) . "\n" for @names;
	$text .= "\n" . join(';', @names) . "\n" . sha256_hex($r{body} // '');
	return $text;
}

sub string_to_sign {
	my ($amz_date, $scope, $creq) = @_;
	return "AWS4-HMAC-SHA256\n$amz_date\n$scope\n" . sha256_hex($creq);
}

sub signature {
	my ($secret, $date, $region, $service, $sts) = @_;
	my $k = hmac_sha256($date, "AWS4$secret");
	$k = hmac_sha256($region, $k);
	$k = hmac_sha256($service, $k);
	$k = hmac_sha256('aws4_request', $k);
	return hmac_sha256_hex($sts, $k);
}

sub sign {
	my (%r) = @_;
	my @h = @{ $r{headers} };
	push @h, ['X-Amz-Date', $r{amz_date}];
	push @h, ['X-Amz-Security-Token', $r{token}] if defined $r{token};
	my %seen;
	my @names = sort grep { !$seen{$_}++ } map { lc $_->[0] } @h;
	my $creq = canonical_request(%r, headers => \@h, signed => \@names);
	my $date = substr $r{amz_date}, 0, 8;
	my $scope = "$date/$r{region}/$r{service}/aws4_request";
	my $sig = signature($r{secret_key}, $date, $r{region}, $r{service},
		string_to_sign($r{amz_date}, $scope, $creq));
	return "AWS4-HMAC-SHA256 Credential=$r{access_key}/$scope, "
		. "SignedHeaders=" . join(';', @names) . ", Signature=$sig";
}

sub _header {
	my ($headers, $name) = @_;
	my @v = map { $_->[1] } grep { lc $_->[0] eq $name } @$headers;
	return @v ? join(',', @v) : undef;
}

sub _epoch {
	my ($d) = @_;
	my ($Y, $m, $D, $H, $M, $S) =
		$d =~ /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/ or return;
	return timegm($S, $M, $H, $D, $m - 1, $Y);
}

sub verify {
	my (%r) = @_;
	my $h = $r{headers};

	my $auth = _header($h, 'authorization');
	return (0, 'MissingAuthenticationTokenException',
		'Missing Authentication Token') unless defined $auth;

	my ($ak, $date, $region, $service, $signed, $sig) = $auth =~
		m{^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})$}
		or return (0, 'IncompleteSignatureException',
			'Authorization header requires \'Credential\', '
			. '\'SignedHeaders\' and \'Signature\' parameters.');

	my ($secret, $token) = $r{secret_for}->($ak);
	return (0, 'UnrecognizedClientException',
		'The security token included in the request is invalid.')
		unless defined $secret;

	return (0, 'InvalidSignatureException',
		"Credential should be scoped to a valid region. ")
		unless $region eq $r{region};
	return (0, 'InvalidSignatureException',
		"Credential should be scoped to correct service: '$r{service}'. ")
		unless $service eq $r{service};

	my @names = split /;/, $signed;
	my %names = map { $_ => 1 } @names;
	return (0, 'InvalidSignatureException',
		'Signed headers must be sorted lowercase names that include '
		. 'host and x-amz-date.')
		unless $names{host} && $names{'x-amz-date'}
			&& join(';', sort @names) eq $signed
			&& !grep { /[A-Z]/ } @names;

	my $amz_date = _header($h, 'x-amz-date') // '';
	my $t = _epoch($amz_date);
	return (0, 'IncompleteSignatureException',
		"Date must be in ISO-8601 'basic format'. Got '$amz_date'.")
		unless defined $t;
	return (0, 'InvalidSignatureException',
		'Credential should be scoped to a valid date.')
		unless substr($amz_date, 0, 8) eq $date;
	if (abs($r{now} - $t) > 300) {
		my @n = gmtime $r{now};
		my $now = sprintf '%04d%02d%02dT%02d%02d%02dZ', $n[5] + 1900,
			$n[4] + 1, @n[3, 2, 1, 0];
		return (0, 'InvalidSignatureException',
			"Signature expired: $amz_date is now earlier than "
			. "$now ($now - 5 min.)") if $t < $r{now};
		return (0, 'InvalidSignatureException',
			"Signature not yet current: $amz_date is still later than "
			. "$now ($now + 5 min.)");
	}

	if (defined $token) {
		my $sent = _header($h, 'x-amz-security-token');
		return (0, 'UnrecognizedClientException',
			'The security token included in the request is invalid.')
			unless defined $sent && $sent eq $token
				&& $names{'x-amz-security-token'};
	}

	my $creq = canonical_request(%r, signed => \@names);
	my $want = signature($secret, $date, $region, $service,
		string_to_sign($amz_date, "$date/$region/$service/aws4_request",
			$creq));

	return (0, 'InvalidSignatureException',
		'The request signature we calculated does not match the signature '
		. 'you provided. Check your AWS Secret Access Key and signing '
		. 'method. Consult the service documentation for details.')
		unless $want eq $sig;

	return (1);
}

1;
