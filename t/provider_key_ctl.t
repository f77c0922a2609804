#!/usr/bin/perl

# (C) tokenroute authors

# A provider credential that holds a control character (a CR or LF from
# an environment variable, an inner line of a key file, a session token)
# is refused when the configuration is read: $tokenroute_upstream_headers
# joins the provider's header lines with CRLFs, so such a value would end
# its header early and inject others (or the end of the headers) into
# every request sent upstream.

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

sub check {
	my ($provider) = @_;

	return $t->nginx_check(http => "upstream x_up { server 127.0.0.1:1; }\n"
		. "$provider upstream=x_up;\n");
}

sub write_file {
	my ($name, $text) = @_;

	open my $fh, '>', "$d/$name" or die $!;
	binmode $fh;
	print $fh $text;
	close $fh;

	return "$d/$name";
}

my $oai = 'tokenroute_provider x type=openai url=https://api.openai.com/v1';
my $ant = 'tokenroute_provider x type=anthropic '
	. 'url=https://api.anthropic.com/v1';
my $az = 'tokenroute_provider x type=azure '
	. 'url=https://x.openai.azure.com/openai api_version=2024-06-01';
my $br = 'tokenroute_provider x type=bedrock '
	. 'url=https://bedrock-runtime.eu-west-3.amazonaws.com region=eu-west-3';

# controls: the same configurations with clean values pass

$ENV{TR_TEST_CTL_KEY} = 'sk-clean-key';
my $r = check("$oai key_env=TR_TEST_CTL_KEY");
is($r->{rc}, 0, 'a clean key_env passes') or diag($r->{out});

my $f = write_file('clean.key', "sk-clean-key\n");
$r = check("$ant key_file=$f");
is($r->{rc}, 0, 'a clean key_file (trailing newline) passes')
	or diag($r->{out});

$ENV{AWS_ACCESS_KEY_ID} = 'AKIDEXAMPLE';
$ENV{AWS_SECRET_ACCESS_KEY} = 'secret/Key+1';
$ENV{AWS_SESSION_TOKEN} = 'token-1';
$r = check($br);
is($r->{rc}, 0, 'clean AWS credentials pass') or diag($r->{out});

# the same with a control character

my @bad = (
	[ 'key_env with CRLF and a header', "sk-a\r\nX-Injected: 1",
		"$oai key_env=TR_TEST_CTL_KEY" ],
	[ 'key_env with a trailing LF', "sk-a\n",
		"$ant key_env=TR_TEST_CTL_KEY" ],
	[ 'key_env with a CR', "sk-a\rb", "$az key_env=TR_TEST_CTL_KEY" ],
	[ 'key_env with a TAB', "sk-a\tb", "$oai key_env=TR_TEST_CTL_KEY" ],
);

for my $b (@bad) {
	my ($name, $value, $conf) = @$b;

	$ENV{TR_TEST_CTL_KEY} = $value;
	$r = check($conf);
	isnt($r->{rc}, 0, "$name: refused");
	like($r->{out}, qr/control character/, "$name: says why")
		or diag($r->{out});
}

$f = write_file('two.key', "sk-a\nX-Injected: 1\n");
$r = check("$oai key_file=$f");
isnt($r->{rc}, 0, 'a key_file of two lines: refused');
like($r->{out}, qr/control character/, 'a key_file of two lines: says why')
	or diag($r->{out});

$ENV{AWS_SESSION_TOKEN} = "token-1\r\nX-Injected: 1";
$r = check($br);
isnt($r->{rc}, 0, 'AWS_SESSION_TOKEN with CRLF: refused');
like($r->{out}, qr/control character/, 'AWS_SESSION_TOKEN: says why')
	or diag($r->{out});

$ENV{AWS_SESSION_TOKEN} = 'token-1';
$ENV{AWS_ACCESS_KEY_ID} = "AKID\nEXAMPLE";
$r = check($br);
isnt($r->{rc}, 0, 'AWS_ACCESS_KEY_ID with LF: refused');
like($r->{out}, qr/control character/, 'AWS_ACCESS_KEY_ID: says why')
	or diag($r->{out});

$ENV{AWS_ACCESS_KEY_ID} = 'AKIDEXAMPLE';
$f = write_file('aws_credentials', "[default]\n"
	. "aws_access_key_id = AKIDEXAMPLE\n"
	. "aws_secret_access_key = secret/Key+1\n"
	. "aws_session_token = tok\rX-Injected: 1\n");
$r = check("$br credentials_file=$f");
isnt($r->{rc}, 0, 'a credentials file token with a CR: refused');
like($r->{out}, qr/control character/, 'credentials file: says why')
	or diag($r->{out});

delete @ENV{qw(AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
	TR_TEST_CTL_KEY)};

done_testing();
