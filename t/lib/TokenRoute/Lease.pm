package TokenRoute::Lease;

# (C) tokenroute authors

# The lease tests' shared setup (README "Leases").
#
#   lease_gateway(T, zone => SIZE, models => TEXT, http => MORE,
#                 server => MORE)
#                        starts T's gateway with leases on (zone=lease:SIZE,
#                        default 1m; slice=50 max_age=10s flush=200ms
#                        ttl=40s) and the models TEXT (tokenroute_model
#                        lines; default openai/used: the mock's
#                        gpt-usage-100-20, prices 1 and 5), MORE added
#   used_chat(T, RAW)    the status of a chat request to openai/used
#   evalsha_calls(T)     how many scripts Redis has run (INFO commandstats)

###############################################################################

use warnings;
use strict;

use Exporter qw(import);

our @EXPORT_OK = qw(lease_gateway used_chat evalsha_calls);

###############################################################################

my $USED = 'tokenroute_model openai/used provider=mockai'
	. " upstream_model=gpt-usage-100-20 input_price=1 output_price=5;\n";

sub lease_gateway {
	my ($t, %o) = @_;
	my $zone = $o{zone} // '1m';

	return $t->start_gateway(
		http => "tokenroute_lease zone=lease:$zone slice=50 max_age=10s"
			. " flush=200ms ttl=40s;\n" . ($o{models} // $USED)
			. ($o{http} // ''),
		server => $o{server});
}

sub used_chat {
	my ($t, $raw) = @_;
	return $t->chat($raw, model => 'openai/used')->{status};
}

sub evalsha_calls {
	my ($t) = @_;
	my $info = $t->redis('INFO', 'commandstats');
	return $info =~ /cmdstat_evalsha:calls=(\d+)/ ? $1 : 0;
}

1;
