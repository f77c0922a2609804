package TokenRoute::Sentinel;

# (C) tokenroute authors

# The Sentinel setup t/sentinel.t and t/inval_sentinel.t share: a master
# (the test's Redis), a replica following it and a real sentinel
# (redis-server --sentinel, quorum 1, master "trm", down after 500 ms) on
# ports of their own, and the gateway's default configuration with
# tokenroute_redis pointed at the sentinel.
#
#   my ($M, $R, $S) = start_sentinel($t);    # two ok() checks
#   my ($http, $server) = sentinel_conf($t, $S);

use warnings;
use strict;

use Exporter qw(import);
use Test::More;

our @EXPORT_OK = qw(start_sentinel sentinel_conf);

sub start_sentinel {
	my ($t) = @_;
	my $d = $t->testdir();

	$t->start_redis();
	my $M = $t->redis_port();

	my $R = $t->start_redis_replica('replica');
	ok($R, 'the replica follows the master');

	my $S = $t->port('sentinel');
	$t->_release_port('sentinel');
	open my $fh, '>', "$d/sentinel.conf" or die "$d/sentinel.conf: $!\n";
	print $fh <<"EOF";
port $S
bind 127.0.0.1
dir $d
sentinel monitor trm 127.0.0.1 $M 1
sentinel down-after-milliseconds trm 500
sentinel failover-timeout trm 3000
sentinel parallel-syncs trm 1
EOF
	close $fh;
	$t->_spawn('sentinel', "$d/sentinel.log", {}, 'redis-server',
		"$d/sentinel.conf", '--sentinel');

	ok($t->wait_until(15, sub {
		my $r = eval { $t->redis_at($S, 'SENTINEL', 'replicas', 'trm') };
		ref $r eq 'ARRAY' && @$r == 1
	}), 'the sentinel knows the master and its replica');

	return ($M, $R, $S);
}

sub sentinel_conf {
	my ($t, $S) = @_;

	my ($http, $server) = $t->default_conf();
	$http =~ s/^tokenroute_redis .*$/tokenroute_redis sentinel=127.0.0.1:$S master=trm timeout=1s connect_timeout=1s;/m
		or die "no tokenroute_redis line in default_conf\n";

	return ($http, $server);
}

1;
