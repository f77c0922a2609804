#!/usr/bin/perl

# (C) tokenroute authors

# The gateway mounted under any location prefix (README "Configuration"):
# an endpoint is what the URI ends with, so /llm/v1/chat/completions,
# /llm/v1/messages, /llm/v1/messages/count_tokens, /llm/v1/models and
# /llm/v1/models/{id} (ids with slashes) work as under /v1/; an endpoint
# with nothing before it, or a path that ends with no endpoint, is not one.

###############################################################################

use warnings;
use strict;

use JSON::PP;
use Test::More;

use lib 't/lib';
use TokenRoute::Test;

select STDERR; $| = 1;
select STDOUT; $| = 1;

###############################################################################

my $t = TokenRoute::Test->new();

$t->start_gateway(server => <<'EOF2');
location /llm/ {
    tokenroute on;
    include %%REPO%%/conf.d/tokenroute_proxy.conf;
}

location /team/a/gw/ {
    tokenroute on;
    include %%REPO%%/conf.d/tokenroute_proxy.conf;
}
EOF2

my $key = $t->create_key(name => 'mount');

sub call {
	my ($method, $path, $body, %h) = @_;
	my $res = $t->http(method => $method, path => $path,
		headers => { Authorization => "Bearer $key->{raw}",
			'x-api-key' => $key->{raw},
			'anthropic-version' => '2023-06-01',
			'Content-Type' => 'application/json', %h },
		body => $body);
	$res->{json} = eval { decode_json($res->{body}) };
	return $res;
}

my $chat = { model => 'openai/gpt-4o-mini',
	messages => [ { role => 'user', content => 'Hi' } ] };
my $msg = { model => 'anthropic/claude-haiku-4-5', max_tokens => 20,
	messages => [ { role => 'user', content => 'Hi' } ] };

for my $prefix ('/llm', '/team/a/gw') {
	my $res = call('POST', "$prefix/v1/chat/completions", $chat);
	is($res->{status}, 200, "$prefix/v1/chat/completions")
		or diag($res->{body});
	is($res->{json}{object}, 'chat.completion', 'an OpenAI answer');

	$res = call('POST', "$prefix/v1/messages", $msg);
	is($res->{status}, 200, "$prefix/v1/messages") or diag($res->{body});
	is($res->{json}{type}, 'message', 'an Anthropic answer');

	$res = call('POST', "$prefix/v1/messages/count_tokens",
		{ model => $msg->{model}, messages => $msg->{messages} });
	is($res->{status}, 200, "$prefix/v1/messages/count_tokens")
		or diag($res->{body});

	$res = call('GET', "$prefix/v1/models");
	is($res->{status}, 200, "$prefix/v1/models");
	ok(scalar(grep { $_->{id} eq 'anthropic/claude-haiku-4-5' }
		@{ $res->{json}{data} || [] }), 'the catalog');

	$res = call('GET', "$prefix/v1/models/anthropic/claude-haiku-4-5");
	is($res->{status}, 200, "$prefix/v1/models/{id with a slash}")
		or diag($res->{body});
	is($res->{json}{id}, 'anthropic/claude-haiku-4-5', 'the model');

	$res = call('POST', "$prefix/v1/chat/completions/", $chat);
	is($res->{status}, 200, 'a trailing slash is tolerated');

	$res = call('POST', "$prefix/v1/chat/complete", $chat);
	is($res->{status}, 404, "$prefix/v1/chat/complete: no such endpoint");
}

my $res = call('POST', '/llm/chat/completions', $chat);
is($res->{status}, 200,
	'the version segment is not required: the URI ends with the endpoint');

done_testing();
