#!/usr/bin/perl

# Writes the seed corpora t/fuzz/corpus/<target>/ from the samples in
# t/fuzz/seed/ (answers of t/lib/mock_provider.pl, the bench fixtures and
# a few written by hand), each behind the leading bytes its target reads
# (see the target's header comment).  Run it after changing a sample or a
# target's input layout; the corpora are committed.

use strict;
use warnings;

use Cwd qw(abs_path);
use Digest::SHA qw(sha1_hex);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use lib dirname(abs_path(__FILE__)) . '/../lib';
use TokenRoute::EventStream qw(es_message es_chunk es_exception);

my $dir = dirname(abs_path(__FILE__));
my %seed;

opendir(my $dh, "$dir/seed") or die "$dir/seed: $!\n";
for my $f (sort grep { !/^\./ } readdir $dh) {
    open(my $fh, '<:raw', "$dir/seed/$f") or die "$f: $!\n";
    local $/;
    $seed{$f} = <$fh>;
}

my @oa_sse = grep { /^oa_.*\.sse$/ } sort keys %seed;
my @an_sse = grep { /^an_.*\.sse$/ } sort keys %seed;
my @oa_json = grep { /^oa_(?!.*req).*\.json$/ } sort keys %seed;
my @an_json = grep { /^an_(?!.*req).*\.json$/ } sort keys %seed;
my @req = grep { /req\.json$/ } sort keys %seed;
my %corpus;

sub add {
    my ($target, $bytes) = @_;
    push @{ $corpus{$target} }, $bytes;
}

# a whole stream's events' data lines, for the one-event modes
sub datas {
    my ($s) = @_;
    return map { /^data: ?(.*)$/ ? $1 : () } split /\r\n|\r|\n/, $s;
}

for my $f (@oa_sse, @an_sse, 'mixed_lines.sse') {
    add('sse', chr(0x00) . chr(0x00) . $seed{$f});
    add('sse', chr(0x83) . chr(0x10) . $seed{$f});
}

for my $f (@oa_json) {
    add('usage', chr(0x05) . chr(0x00) . $seed{$f});
    # learned, then itself with other numbers after the NUL
    (my $o = $seed{$f}) =~ tr/0-9/3-90-2/;
    add('usage', chr(0x05) . chr(0x06) . $seed{$f} . "\0" . $o);
}
for my $f (@an_json) {
    add('usage', chr(0x05) . chr(0x01) . $seed{$f});
    (my $o = $seed{$f}) =~ tr/0-9/3-90-2/;
    add('usage', chr(0x05) . chr(0x07) . $seed{$f} . "\0" . $o);
}
for my $f (@oa_sse) {
    add('usage', chr(0x03) . chr(0x04) . $seed{$f});
    my @d = datas($seed{$f});
    add('usage', chr(0x07) . chr(0x02) . $d[$_]) for (0, 1, -1, -2);
}
for my $f (@an_sse) {
    add('usage', chr(0x00) . chr(0x05) . $seed{$f});
    my @d = datas($seed{$f});
    add('usage', chr(0x07) . chr(0x03 | ($_ << 3)) . $d[$_ % @d])
        for (1 .. 5);
}

for my $f (@req, @oa_json, @an_json) {
    add('json_tree', chr($_) . $seed{$f}) for (0x00, 0x01, 0x06);
}
for my $f (@an_sse, @oa_sse) {
    my @d = datas($seed{$f});
    add('json_tree', chr(0x00) . $d[$_ % @d]) for (0, 1, -1);
}

for my $f (@req) {
    add('request', chr($_) . $seed{$f}) for (0x00, 0x0f, 0x0e);
    add('translate_request', chr($_) . $seed{$f})
        for (0x00, 0x02, 0x05, 0x07, 0x36, 0x53);
}

for my $f (@oa_json, @an_json, 'err_html.json') {
    my $from = $f =~ /^an_/ ? 1 : 0;
    add('translate_response', chr($from | 0x02 * !$from | 0x08)
        . chr(0x05) . $seed{$f});
    add('translate_response', chr($from | 0x04) . chr(0x01) . $seed{$f});
    add('translate_response', chr($from | 0x06) . chr(0x86) . $seed{$f});
}

for my $f (@oa_sse, @an_sse) {
    my $from = $f =~ /^an_/ ? 1 : 0;
    add('translate_stream', chr(0x00) . chr($from | 0x26) . $seed{$f});
    add('translate_stream', chr(0x87) . chr($from | 0x20 | 2 * $from)
        . $seed{$f});
    add('translate_stream', chr(0x09) . chr($from | 0x02 * !$from | 0x04)
        . $seed{$f});
}

my $key = 'sk-tr-' . 'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcd';
add('key', "Bearer $key");
add('key', "bearer   $key");
add('key', $key);
add('key', 'Basic dXNlcjpwYXNz');

add('money', $_) for ('0.15', '$3.5', '12.000000001', '5', '0',
                      '9223372036.854775807', '$0.000000001',
                      "\x01\x02\x03\x04\x05\x06\x07\x08\x09");

# the usage report: flags, now (2026-11-20T15:30:00Z), the query, replies
my $now = pack('V', 1795188600 - 1767225600);
my $hash = '0123456789abcdef' x 4;
my $bucket = join('', map { "$_\n" } 'A',
    'acme|support|key_0123456789abcdef|gpt-4o|req', '3',
    'acme|support|key_0123456789abcdef|gpt-4o|in', '1200',
    'acme|support|key_0123456789abcdef|gpt-4o|out', '340',
    'acme|support|key_0123456789abcdef|gpt-4o|cached', '1024',
    'acme|support|key_0123456789abcdef|gpt-4o|cost', '1500000',
    'acme|support|key_0123456789abcdef|gpt-4o|est', '1',
    'acme||key_fedcba9876543210|claude-sonnet-4|cost', '-250',
    'acme||key_fedcba9876543210|claude-sonnet-4|fail', '2',
    'acme|key_00000000000000aa|gpt-4o-mini|unbilled', '9223372036854775807',
    'acme|key_00000000000000aa|gpt-4o-mini|clamped', '1',
    'beta|ops|key_00000000000000bb|o3|req', '12x',
    'beta|ops|key_00000000000000bb|o3|newmetric', '5',
    'beta|ops,"x"|key_00000000000000bb|o3|req', '1',
    '.');

add('report', "\x00$now\n" . $bucket);
# replies last to first: the last bucket's, 19 more, then EXISTS, SISMEMBER
add('report', "\x01${now}by=tenant\nformat=csv\nmonth=2026-11\n"
    . "account=acme\n\n$bucket" . ("\n" x 19) . "I0\nI1\n");
add('report', "\x00${now}by=key\nsince=2026-11-18T10:00Z\n"
    . "until=2026-11-20\nformat=table\n\n$bucket\n\n\nS$hash\nN\n"
    . "S$hash\nSops agent\n");
add('report', "\x00${now}by=hour\nsince=24h\nkey=key_0123456789abcdef\n"
    . "\nI0\n$bucket");
add('report', "\x00${now}by=day\nsince=2026-11-01\n"
    . "until=2026-11-10T00:00:00Z\naccount=acme\ntenant=support\n"
    . "format=json\n\nI1\nI1\nI0\nI1\n$bucket");
add('report', "\x02${now}by=account\n\n$bucket" . "A\n~\n:5\n.\n"
    . "EWRONGTYPE Operation against a key holding the wrong kind\nX\n");
add('report', "\x00${now}since=2w\nformat=xml\n\n");
add('report', "\x00${now}foo=bar\n\n");
add('report', "\x00${now}month=2026-02\nsince=1d\n\n");

add('admin', "GET\n/keys/key_0123456789abcdef/\nlimit\n");
add('admin', "POST\naccounts/acme/tenants\n\n{\"name\":\"support\","
    . "\"limit\":\"5.00\",\"period\":\"month\",\"rpm\":60,"
    . "\"models\":[\"gpt-4o\",\"claude\"],\"x\":null,\"y\":true}");
add('admin', "PATCH\n//accounts/acme/tenants/support\naccount\n"
    . "{\"limit\":null,\"tpm\":1e5,\"z\":false,\"a\":{\"b\":1},\"c\":[1]}");
add('admin', "GET\nusage\nsince\n");
add('admin', "DELETE\nkeys//x\ncursor\n");
add('admin', "PUT\nadmin-keys/adm_0123456789abcdef/revoke\n\n");

my $admin = 'sk-tr-admin-' . 'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcde';
add('secret', "\x2b{\"id\":\"adm_0123456789abcdef\",\"name\":\"ops\","
    . "\"prefix\":\"sk-tr-admin-AbCdEf\"}");
add('secret', "\x31 { } ");
add('secret', "\x37\n{\"raw\":\"old\",\"id\":\"key_0123456789abcdef\"}\n");
add('secret', "\x01[1]");
add('secret', $admin);

# redis_url: the first byte picks the function (0 URL, 1 a sentinel's
# answer "HOST\nPORT[\nCIDRS]", 2 what is shown, 3 HOST:PORT)
add('redis_url', "\x00redis://tr:pw\@127.0.0.1:6379/2");
add('redis_url', "\x00redis-sentinel://10.0.0.1:26379,[::1]:26380/mymaster/1");
add('redis_url', "\x00rediss://h");
add('redis_url', "\x01127.0.0.1\n6379");
add('redis_url', "\x01::1\n6380\n::1/128,10.0.0.0/8");
add('redis_url', "\x010.0.0.0\n6379");
add('redis_url', "\x02redis://:s3cret\@h:1");
add('redis_url', "\x03[::1]:6379");

# vertex: the first byte picks the function (0 the token endpoint's
# answer, 1 a key file, 2 a request body)
add('vertex', "\x00{\"access_token\":\"ya29.c.b0A\",\"expires_in\":3599,\"token_type\":\"Bearer\"}");
add('vertex', "\x00{\"error\":\"invalid_grant\",\"error_description\":\"Invalid JWT Signature.\"}");
add('vertex', "\x01{\"type\":\"service_account\",\"client_email\":\"a\@p.iam.gserviceaccount.com\",\"private_key\":\"-----BEGIN PRIVATE KEY-----\\nSECRET\\n-----END PRIVATE KEY-----\\n\",\"token_uri\":\"https://oauth2.googleapis.com/token\"}");
add('vertex', "\x02{\"model\":\"m\",\"max_tokens\":16,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

# bedrock: the first byte picks the mode (0 body: a beta length byte, the
# beta, the body; 1 credentials: a profile length byte, the profile, the
# file; 2 SigV4: path NUL query NUL host)
for my $f (@req) {
    add('bedrock', "\x00\x00$seed{$f}");
}
add('bedrock', "\x00\x21tools-2024-04-04, pdfs-2024-09-25{\"model\":\"m\","
    . "\"stream\":true,\"max_tokens\":5,\"messages\":[]}");
add('bedrock', "\x01\x04prod[default]\naws_access_key_id=A\n"
    . "aws_secret_access_key=B\n[profile prod]\r\naws_access_key_id = C\r\n"
    . "aws_secret_access_key = D\r\naws_session_token = E\r\n");
add('bedrock', "\x02/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke"
    . "\x00a=1&b=%41&c\x00bedrock-runtime.us-east-1.amazonaws.com");
add('bedrock', "\x02/./a/../b//c/\x00\x00h  x\ty ");

# eventstream: split seed, max_message / 16, then a Bedrock body: the
# Anthropic streams' events as chunks; one with an exception mid-stream;
# every header type (AWS's all_headers vector, re-encoded)
for my $f (@an_sse) {
    my $body = join('', map { es_chunk($_) } datas($seed{$f}));
    add('eventstream', chr(0x00) . chr(0x00) . $body);
    add('eventstream', chr(0x85) . chr(0x00) . $body);
    add('eventstream', chr(0x07) . chr(0x10) . $body);
}
add('eventstream', chr(0x03) . chr(0x00)
    . es_chunk('{"type":"message_start","message":{"usage":'
               . '{"input_tokens":3,"output_tokens":1}}}')
    . es_exception('throttlingException', 'Too many tokens, "slow" down')
    . es_message([[':message-type', 'error'], [':error-code', 'Internal'],
                  [':error-message', 'failed']], ''));
add('eventstream', chr(0x01) . chr(0x00)
    . es_message([['event-type', 'int32', 40972],
                  ['content-type', 'application/json'],
                  ['bool false', 'false', undef], ['bool true', 'true', undef],
                  ['byte', 'byte', -49],
                  ['byte buf', 'bytes', "I'm a little teapot!"],
                  ['timestamp', 'timestamp', 8675309],
                  ['int16', 'int16', 42], ['int64', 'int64', 42424242],
                  ['uuid', 'uuid', pack('C*', 1 .. 16)]], "{'foo':'bar'}"));

for my $t (sort keys %corpus) {
    remove_tree("$dir/corpus/$t");
    make_path("$dir/corpus/$t");

    for my $bytes (@{ $corpus{$t} }) {
        open(my $fh, '>:raw', "$dir/corpus/$t/" . sha1_hex($bytes))
            or die "$t: $!\n";
        print $fh $bytes;
        close($fh);
    }
}
