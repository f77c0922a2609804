# The benchmark's HTTP/1.1 keep-alive client, shared by bench/client.pl
# (bench/run's callgrind stage, /work/notes-style Ir counts) and
# bench/revoke.pl (revocation latency): one POST of a fixed body with a
# key, on one connection, each response read whole (Content-Length or
# chunked), reconnecting only when the server says "Connection: close".
# Core Perl only.
#
#   my $c = BenchClient->new(port => P, path => '/v1/...',
#                            body_file => F, key => K [, timeout => S]);
#   my ($status, $head) = $c->request;

package BenchClient;

use strict;
use warnings;
use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY);

sub new {
    my ($class, %o) = @_;

    open(my $fh, '<', $o{body_file}) or die "$o{body_file}: $!\n";
    binmode $fh;
    my $body = do { local $/; <$fh> };
    close $fh;

    my $self = bless {
        port => $o{port},
        timeout => $o{timeout} // 30,
        req => "POST $o{path} HTTP/1.1\r\n"
            . "Host: 127.0.0.1:$o{port}\r\n"
            . "Authorization: Bearer $o{key}\r\n"
            . "Content-Type: application/json\r\n"
            . "Content-Length: " . length($body) . "\r\n"
            . "\r\n" . $body,
    }, $class;

    $self->open_conn;
    return $self;
}

sub open_conn {
    my ($self) = @_;
    $self->{sock} = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                          PeerPort => $self->{port},
                                          Proto => 'tcp',
                                          Timeout => $self->{timeout})
        or die "connect 127.0.0.1:$self->{port}: $!\n";
    setsockopt($self->{sock}, IPPROTO_TCP, TCP_NODELAY, 1);
    $self->{buf} = '';
}

sub close_conn {
    my ($self) = @_;
    close $self->{sock} if $self->{sock};
    delete $self->{sock};
}

# reads until the buffer holds $want bytes, or matches $want (a regexp)
sub fill {
    my ($self, $want) = @_;
    my $buf = \$self->{buf};
    while (ref $want ? $$buf !~ $want : length($$buf) < $want) {
        my $got = sysread($self->{sock}, $$buf, 65536, length $$buf);
        die "read: " . (defined $got ? "connection closed" : $!) . "\n"
            unless $got;
    }
}

# one POST, its response read whole: (status, header block)
sub request {
    my ($self) = @_;
    my $req = $self->{req};
    my $buf = \$self->{buf};

    my $off = 0;
    while ($off < length $req) {
        my $w = syswrite($self->{sock}, $req, length($req) - $off, $off);
        die "write: $!\n" unless defined $w;
        $off += $w;
    }

    $self->fill(qr/\r\n\r\n/);
    $$buf =~ s/^(.*?)\r\n\r\n//s;
    my $head = $1;
    my ($status) = $head =~ m{^HTTP/1\.\d (\d+)};

    if ($head =~ /^content-length:\s*(\d+)/mi) {
        $self->fill($1);
        substr($$buf, 0, $1, '');

    } elsif ($head =~ /^transfer-encoding:\s*chunked/mi) {
        while (1) {
            $self->fill(qr/\r\n/);
            $$buf =~ s/^([0-9a-fA-F]+)[^\r]*\r\n//
                or die "bad chunk: " . substr($$buf, 0, 40) . "\n";
            my $n = hex $1;
            $self->fill($n + 2);
            substr($$buf, 0, $n + 2, '');
            last if $n == 0;
        }

    } else {
        die "response without length\n";
    }

    if ($head =~ /^connection:\s*close/mi) {
        $self->close_conn;
        $self->open_conn;
    }

    return ($status, $head);
}

1;
