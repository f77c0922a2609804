package TokenRoute::Pieces;

# (C) tokenroute authors

# What the tests of streams read in pieces share (t/sse_pieces.t,
# t/tap_pieces.t): models priced alike whose mock provider writes its
# stream a few bytes at a time (the upstream model id's switches, say
# "sse-pieces-N-usage-30-300"), a streamed request with a key of its own,
# and the check that it was charged exactly its 30 input and 300 output
# tokens.
#
#   my $p = TokenRoute::Pieces->new($t, account => 'pieces');
#   $p->model('p/ai-1', 'mockai', 'gpt-p-sse-pieces-1-usage-30-300')
#                         a tokenroute_model line at the shared prices
#   $p->stream($shape, $model, $usage, upstream => 1)
#                         POSTs a stream ('openai' or 'anthropic' client,
#                         include_usage if $usage): $t->http_stream()'s
#                         answer, with {key} and, with upstream, the mock's
#                         record of the provider request ({upstream})
#   $p->charged_ok($res, $model, $name)
#                         a subtest: settled, counted once, not estimated,
#                         the tokens and the cost exact

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Test::More;

use TokenRoute::Money qw(usd_nano cost utc_day);

###############################################################################

our ($IP, $OP) = ('0.25', '1.5');
our ($IN, $OUT) = (30, 300);

sub new {
	my ($class, $t, %opts) = @_;

	return bless { t => $t, account => $opts{account} // 'pieces',
		n => 0 }, $class;
}

sub model {
	my ($self, $name, $provider, $upstream) = @_;

	return "tokenroute_model $name provider=$provider "
		. "upstream_model=$upstream input_price=$IP output_price=$OP;\n";
}

sub stream {
	my ($self, $shape, $model, $usage, %opts) = @_;
	my $t = $self->{t};

	my $key = $t->create_key(account => $self->{account} . ++$self->{n});

	$t->clear_mock_requests() if $opts{upstream};

	my %h = $shape eq 'openai'
		? (Authorization => "Bearer $key->{raw}")
		: ('x-api-key' => $key->{raw}, 'anthropic-version' => '2023-06-01');

	my $res = $t->http_stream(method => 'POST',
		path => $shape eq 'openai' ? '/v1/chat/completions' : '/v1/messages',
		headers => \%h,
		body => { model => $model, stream => JSON::PP::true,
			max_tokens => 400,
			messages => [ { role => 'user', content => 'pieces' } ],
			($usage ? (stream_options =>
				{ include_usage => JSON::PP::true }) : ()) },
		timeout => 30);

	if ($opts{upstream}) {
		my @reqs = $t->mock_requests();
		$res->{upstream} = $reqs[0];
	}

	$res->{key} = $key;

	return $res;
}

sub charged_ok {
	my ($self, $res, $model, $name) = @_;
	my $t = $self->{t};

	my $key = $res->{key};
	my $rid = $res->{headers}{'x-tokenroute-request-id'} // '';
	my $settled = $t->wait_until(5, sub { $t->settled("$rid") });
	my $u = $t->redis_hash('tr:u:d:' . utc_day());
	my $p = "$key->{account}||$key->{id}|$model|";
	my %s = map { $_ => $u->{"$p$_"} // '0' } qw(req in out cost est);

	return subtest "$name: charged exactly" => sub {
		ok($settled, 'settled');
		is($s{req}, 1, 'the request counted');
		is($s{est}, 0, 'not estimated');
		is($s{in}, $IN, "in $IN");
		is($s{out}, $OUT, "out $OUT");
		is($s{cost}, cost(in => $IN, out => $OUT,
			price => usd_nano($IP), out_price => usd_nano($OP)), 'cost');
	};
}

###############################################################################

1;

###############################################################################
