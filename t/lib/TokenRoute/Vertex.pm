package TokenRoute::Vertex;

# (C) tokenroute authors

# The Vertex AI mock (t/lib/mock_vertex.pl) for a test: a service
# account's key made with openssl (key file in Google's JSON layout, its
# public half for the mock), the mock started on port(NAME), its control
# file and its records.
#
#   my $v = TokenRoute::Vertex->new($t, name => 'vertex');
#   $v->make_key('sa.json') -> the key file's path (a new key each call;
#       the mock verifies with the newest); make_key(FILE, unknown => 1):
#       a key the mock does not know
#   $v->start; $v->control(expires_in => 303, status => 503, delay => 1)
#   $v->requests('token'|'predict') -> the recorded requests
#   $v->revoke_all: the tokens issued so far are refused (401)

use warnings;
use strict;

use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);

my $MOCK = TokenRoute::Test->repo() . '/t/lib/mock_vertex.pl';

sub new {
	my ($class, $t, %o) = @_;

	my $self = bless { t => $t, name => $o{name} // 'vertex',
		email => $o{email} // 'gateway@tr-test.iam.gserviceaccount.com',
	}, $class;

	my $d = $t->testdir . "/$self->{name}";
	mkdir $d;
	$self->{dir} = $d;
	$self->control();

	return $self;
}

sub port { $_[0]{t}->port($_[0]{name}) }
sub email { $_[0]{email} }

sub make_key {
	my ($self, $file, %o) = @_;

	my $d = $self->{dir};
	system("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
		. "-out $d/key.pem 2>/dev/null") == 0 or die "openssl genpkey\n";

	unless ($o{unknown}) {
		system("openssl pkey -in $d/key.pem -pubout -out $d/pub.pem.new "
			. "2>/dev/null") == 0 or die "openssl pkey\n";
		rename "$d/pub.pem.new", "$d/pub.pem" or die "rename: $!\n";
	}

	open my $fh, '<', "$d/key.pem" or die "$d/key.pem: $!\n";
	my $pem = do { local $/; <$fh> };
	close $fh;

	my $path = $self->{t}->testdir . "/$file";
	open $fh, '>', $path or die "$path: $!\n";
	print $fh JSON::PP->new->canonical->pretty->encode({
		type => 'service_account',
		project_id => 'tr-test',
		private_key_id => 'k' . int(rand(1e9)),
		private_key => $pem,
		client_email => $self->{email},
		client_id => '100000000000000000001',
		auth_uri => 'https://accounts.google.com/o/oauth2/auth',
		token_uri => 'http://127.0.0.1:' . $self->port . '/token',
	});
	close $fh;

	return $path;
}

sub start {
	my ($self) = @_;

	my $t = $self->{t};
	my $d = $self->{dir};

	$t->_release_port($self->{name});
	$t->_spawn($self->{name}, "$d/mock.log", {}, $^X, $MOCK,
		'--port', $self->port, '--record', "$d/requests.jsonl",
		'--pubkey', "$d/pub.pem", '--email', $self->{email},
		'--control', "$d/control", '--state', $d);

	my $deadline = time() + 5;
	while (time() < $deadline) {
		my $r = $t->http(path => '/__health', port => $self->port,
			timeout => 1);
		return $self if ($r->{status} // 0) == 200;
		sleep 0.05;
	}

	die "mock_vertex did not start\n";
}

sub control {
	my ($self, %c) = @_;

	open my $fh, '>', "$self->{dir}/control.new" or die "control: $!\n";
	print $fh map { "$_=$c{$_}\n" } sort keys %c;
	close $fh;
	rename "$self->{dir}/control.new", "$self->{dir}/control"
		or die "rename: $!\n";
}

# the tokens issued so far become invalid (a 401 for them)
sub revoke_all {
	my ($self) = @_;

	open my $in, '<', "$self->{dir}/tokens" or return;
	my @t = map { (split / /)[0] } <$in>;
	close $in;

	open my $out, '>', "$self->{dir}/revoked" or die "revoked: $!\n";
	print $out map { "$_\n" } @t;
	close $out;
}

sub requests {
	my ($self, $kind) = @_;

	open my $fh, '<', "$self->{dir}/requests.jsonl" or return ();
	my @r = map { JSON::PP->new->decode($_) } <$fh>;
	close $fh;

	for (@r) {
		$_->{json} = eval { JSON::PP->new->decode($_->{body}) };
	}

	return grep { !defined $kind || $_->{kind} eq $kind } @r;
}

1;
