package TokenRoute::EventStream;

# (C) tokenroute authors

# AWS's event-stream framing (application/vnd.amazon.eventstream), written
# from the spec in core Perl, for the Bedrock mock and the fuzz seeds:
#
#   es_message(\@headers, $payload)   one message: prelude (total length,
#       headers length, CRC32 of those 8 bytes), headers, payload, CRC32
#       of all before.  @headers holds [NAME, VALUE] (a string, type 7)
#       or [NAME, TYPE, VALUE] with TYPE one of: true, false, byte,
#       int16, int32, int64, bytes, string, timestamp, uuid (16 bytes).
#   es_chunk($event_json)             a Bedrock InvokeModelWithResponseStream
#       chunk: :event-type chunk, :content-type application/json,
#       :message-type event, payload {"bytes":"BASE64","p":"..."} (Bedrock
#       pads with "p" so sizes say little about the text).
#   es_exception($name, $message)     a stream exception (:message-type
#       exception, :exception-type NAME, payload {"message": ...}).
#   es_decode($bytes)                 the messages back, checked (string
#       and bytes headers only): a list of
#       { headers => {NAME => VALUE}, payload => BYTES }; dies if malformed.

use strict;
use warnings;

use Compress::Zlib qw(crc32);
use Exporter qw(import);
use JSON::PP ();
use MIME::Base64 qw(encode_base64 decode_base64);

our @EXPORT_OK = qw(es_message es_chunk es_exception es_decode);

my %TYPE = (true => 0, false => 1, byte => 2, int16 => 3, int32 => 4,
            int64 => 5, bytes => 6, string => 7, timestamp => 8, uuid => 9);

sub es_message {
    my ($headers, $payload) = @_;
    my $h = '';

    for my $hd (@$headers) {
        my ($name, $type, $value) = @$hd == 2 ? ($hd->[0], 'string', $hd->[1])
                                              : @$hd;
        my $t = $TYPE{$type};
        die "unknown header type $type\n" unless defined $t;

        $h .= pack('C/a* C', $name, $t);

        if ($type eq 'byte') {
            $h .= pack('c', $value);
        } elsif ($type eq 'int16') {
            $h .= pack('s>', $value);
        } elsif ($type eq 'int32') {
            $h .= pack('l>', $value);
        } elsif ($type eq 'int64' || $type eq 'timestamp') {
            $h .= pack('q>', $value);
        } elsif ($type eq 'bytes' || $type eq 'string') {
            $h .= pack('n/a*', $value);
        } elsif ($type eq 'uuid') {
            die "a uuid is 16 bytes\n" unless length($value) == 16;
            $h .= $value;
        }
    }

    my $prelude = pack('N N', 16 + length($h) + length($payload), length($h));
    my $m = $prelude . pack('N', crc32($prelude)) . $h . $payload;

    return $m . pack('N', crc32($m));
}

sub es_chunk {
    my ($event) = @_;
    my $b64 = encode_base64($event, '');
    my $pad = substr('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ',
                     0, 1 + length($event) % 40);

    return es_message([[':event-type', 'chunk'],
                       [':content-type', 'application/json'],
                       [':message-type', 'event']],
                      "{\"bytes\":\"$b64\",\"p\":\"$pad\"}");
}

sub es_exception {
    my ($name, $message) = @_;

    return es_message([[':exception-type', $name],
                       [':content-type', 'application/json'],
                       [':message-type', 'exception']],
                      JSON::PP->new->canonical->encode({message => $message}));
}

sub es_decode {
    my ($bytes) = @_;
    my @out;

    while (length $bytes) {
        die "short prelude\n" if length($bytes) < 12;
        my ($total, $hlen, $pcrc) = unpack('N N N', $bytes);
        die "prelude CRC\n" unless crc32(substr($bytes, 0, 8)) == $pcrc;
        die "short message\n" if length($bytes) < $total;
        my $m = substr($bytes, 0, $total, '');
        die "message CRC\n"
            unless crc32(substr($m, 0, -4)) == unpack('N', substr($m, -4));

        my $h = substr($m, 12, $hlen);
        my %headers;

        while (length $h) {
            my ($name, $t) = unpack('C/a* C', $h);
            substr($h, 0, 2 + length($name), '');
            die "header type $t\n" unless $t == 7 || $t == 6;
            my $v = unpack('n/a*', $h);
            substr($h, 0, 2 + length($v), '');
            $headers{$name} = $v;
        }

        push @out, { headers => \%headers,
                     payload => substr($m, 12 + $hlen, -4) };
    }

    return @out;
}

1;
