#
# 032_raft_disk_full.pl: a leader whose raft log cannot be written.
#
# phantom.raft_debug_fail_writes (testing only) makes every write and
# fsync of the raft log fail with ENOSPC.  Covers: the leader's next
# proposal fails to persist -> WARNING, the node drops out (stops leading
# and voting) without crashing the server; the calling backend gets a
# clean error (outcome unknown: the leader's append may have reached the
# others before its own write failed, then both agree on it); the two
# others elect a new leader; raft_status() on the
# broken node reports the log error; once writes work again the node
# rejoins as follower and catches up.  Every wait is bounded.
#
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin, "$FindBin::RealBin/..";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use PhantomTest;
use RaftTest;


my ($d1, $d2, $d3) = map { raft_node($_, 'disk-secret') } qw(d1 d2 d3);
$d1->safe_psql('postgres', 'SELECT phantom.cluster_create()');
for my $n ([ 'd2', $d2 ], [ 'd3', $d3 ])
{
	my $ci = $n->[1]->connstr('postgres') =~ s/'/''/gr;
	$d1->safe_psql('postgres',
		"SELECT phantom.node_add('$n->[0]', '$ci', '$raft_addr{$n->[0]}')");
}
is(q1($d1, 'SELECT role FROM phantom.raft_status()'), 'leader', 'd1 leads');

# the disk of d1 "fills up"
$d1->append_conf('postgresql.conf', 'phantom.raft_debug_fail_writes = on');
$d1->reload;
ok(defined poll(10, sub { slurp_file($d1->logfile) =~ /injected write failures on/ }),
	'fault injection active');
my ($rc, $out, $err) = $d1->psql('postgres',
	"SET phantom.node_add_timeout = '2s'; SELECT phantom.node_add('ghost', 'host=nowhere', '127.0.0.1:1')");
isnt($rc, 0, 'a proposal on the broken leader fails');
like($err, qr/ERROR:  (this node lost the leadership|the phantom raft log is not available|this node is not the leader)/,
	"clean error for the caller: " . (split /\n/, $err)[0]);
ok(slurp_file($d1->logfile) =~ /WARNING:  phantom raft: could not (append to|sync) the raft log/,
	'the log failure is a WARNING');
my $t = poll(
	20,
	sub {
		my $s2 = status($d2);
		my $s3 = status($d3);
		return ($s2 =~ /^leader\|d2\|/ && $s3 =~ /^follower\|d2\|/)
		  || ($s3 =~ /^leader\|d3\|/ && $s2 =~ /^follower\|d3\|/);
	});
ok(defined $t, 'the two others elect a new leader');
diag(sprintf("new leader %.2f s after the failed write", $t // -1));
is(q1($d1, 'SELECT 1'), '1', 'the server of the broken node is up (no crash)');
unlike(status($d1), qr/^leader/, 'the broken node does not lead');
# The leader sends its appends before its own write (Raft thesis 10.2.1),
# so the proposal whose write failed may have reached the others and be
# committed by the new leader: its outcome is unknown (as the error said),
# but the two must agree on it.
my $ghost = q{SELECT count(*) FROM phantom.nodes WHERE name = 'ghost'};
ok( defined poll(
		10,
		sub {
			my ($g2, $g3) = (q1($d2, $ghost), q1($d3, $ghost));
			return $g2 ne '' && $g2 eq $g3 && $g2 =~ /^[01]$/;
		}),
	'the others agree on the outcome of the failed proposal');

# the disk is freed again
$d1->append_conf('postgresql.conf', 'phantom.raft_debug_fail_writes = off');
$d1->reload;
ok( defined poll(
		30,
		sub {
			my ($l) = grep { status($_) =~ /^leader\|/ } ($d2, $d3);
			return 0 unless $l;
			my ($role, $leader, $lc) = split /\|/, status($l);
			return status($d1) eq "follower|$leader|$lc";
		}),
	'd1 rejoins as follower and catches up once writes work again');
ok(slurp_file($d1->logfile) !~ /terminated by signal|PANIC/, 'nothing crashed');

$_->stop for ($d1, $d2, $d3);
done_testing();
