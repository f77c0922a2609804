package TokenRoute::KeyCheck;

# (C) tokenroute authors

# The requests that only have their key checked (README "Keys"): GET
# /v1/models, GET /v1/models/{id}, count_tokens, a body refused once the
# key is known; shared by t/key_rules.t (the admission script's verdicts)
# and t/lease_keycheck.t (the same verdicts from the lease zone).
#
#   get(T, KEY, PATH)          GET PATH with KEY's raw key as a bearer token
#   post(T, KEY, PATH, BODY)   POST BODY (JSON) to PATH with KEY's raw key
#                              as x-api-key
#   msg(MODEL)                 an Anthropic Messages body for MODEL
#   ids(R)                     the sorted model ids of a /v1/models answer
#                              ([] if it is not one)

###############################################################################

use warnings;
use strict;

use Exporter qw(import);

our @EXPORT_OK = qw(get post msg ids);

###############################################################################

sub get {
	my ($t, $key, $path) = @_;
	return $t->http(method => 'GET', path => $path,
		headers => { Authorization => "Bearer $key->{raw}" });
}

sub post {
	my ($t, $key, $path, $body) = @_;
	return $t->http(method => 'POST', path => $path,
		headers => { 'x-api-key' => $key->{raw},
			'content-type' => 'application/json' },
		body => $body);
}

sub msg {
	my ($model) = @_;
	return { model => $model, max_tokens => 50,
		messages => [ { role => 'user', content => 'Hi' } ] };
}

sub ids {
	my ($r) = @_;
	my $d = ref $r->{json} eq 'HASH' ? $r->{json}{data} : undef;
	return [ sort map { $_->{id} } @{ ref $d eq 'ARRAY' ? $d : [] } ];
}

1;
