#
# 030_raft_cluster.pl: a three-node phantom raft group on 127.0.0.1.
#
# Covers: cluster_create on n1, node_add of n2 and n3 (learner -> caught up
# -> voter); phantom.nodes shows three voters and one leader on every node;
# commit indexes converge; kill -9 of the leader -> the two others elect a
# new leader (failover time measured and printed with diag); the old
# leader restarts, rejoins as follower and catches up; leader_transfer;
# node_remove; a node with a wrong phantom.cluster_secret cannot join
# (node_add fails with a clear error, the failed authentication is
# logged); argument errors (unknown node, duplicate name, bad address, not
# leader, already in a cluster, not configured).  Every wait is bounded.
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

my $secret = 'raft-test-secret';

# sql_error(node, sql): stderr of a statement expected to fail.
sub sql_error
{
	my ($node, $sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', $sql, timeout => 60);
	return $rc == 0 ? '' : $err;
}

my %nodes;
$nodes{$_} = raft_node($_, $secret) for qw(n1 n2 n3);
my ($n1, $n2, $n3) = @nodes{qw(n1 n2 n3)};

# --- bootstrap and membership -------------------------------------------
like(sql_error($n2, "SELECT phantom.node_add('n3', 'host=x', '127.0.0.1:1')"),
	qr/not the leader.*\n.*HINT:.*cluster_create/s,
	'node_add outside a cluster: not leader, hint to cluster_create');
my $id = q1($n1, 'SELECT phantom.cluster_create()');
ok($id =~ /^-?\d+$/, "cluster_create returns the node id ($id)");
is(q1($n1, 'SELECT role, leader FROM phantom.raft_status()'), 'leader|n1',
	'n1 leads the one-node group');
like(sql_error($n1, 'SELECT phantom.cluster_create()'), qr/already part of a phantom cluster/,
	'cluster_create twice is refused');

like(sql_error($n1, "SELECT phantom.node_add('n2', 'host=x', 'nohostport')"),
	qr/invalid raft address "nohostport"/, 'bad raft address');
like(sql_error($n1, "SELECT phantom.node_add('bad name', 'host=x', '127.0.0.1:5')"),
	qr/invalid node name/, 'bad node name');
like(sql_error($n1, "SELECT phantom.node_remove('nosuch')"),
	qr/node "nosuch" is not a member/, 'unknown node');

for my $name (qw(n2 n3))
{
	my $ci = $nodes{$name}->connstr('postgres') =~ s/'/''/gr;
	my $t0 = time();
	$n1->safe_psql('postgres',
		"SELECT phantom.node_add('$name', '$ci', '$raft_addr{$name}')");
	diag(sprintf("node_add('%s') took %.2f s", $name, time() - $t0));
}
like(sql_error($n1, "SELECT phantom.node_add('n2', 'host=x', '127.0.0.1:9')"),
	qr/node "n2" is already a member/, 'duplicate name');

for my $name (qw(n1 n2 n3))
{
	ok( defined poll(
			20,
			sub {
				q1($nodes{$name},
					"SELECT count(*) FILTER (WHERE role = 'voter') || '/' || count(*) FILTER (WHERE is_leader) FROM phantom.nodes"
				) eq '3/1';
			}),
		"$name sees 3 voters and one leader");
}
ok( defined poll(
		20,
		sub {
			my @s = map { status($_) } ($n1, $n2, $n3);
			my @c = map { (split /\|/)[2] // '' } @s;
			return $c[0] ne '' && $c[0] eq $c[1] && $c[1] eq $c[2];
		}),
	'commit indexes converge');
like(sql_error($n2, "SELECT phantom.node_remove('n3')"),
	qr/not the leader.*\n.*HINT:.*node "n1"/s, 'follower refuses, hint names the leader');

# --- failover --------------------------------------------------------------
$n1->stop('immediate');
my $newleader;
my $elapsed = poll(
	20,
	sub {
		for my $n ($n2, $n3)
		{
			my $s = status($n);
			if ($s =~ /^leader\|(n[23])\|/)
			{
				$newleader = $1;
				return 1;
			}
		}
		return 0;
	});
ok(defined $elapsed, 'a new leader is elected after kill -9 of the leader');
diag(sprintf("failover: new leader %s elected %.2f s after kill -9 of n1",
		$newleader // 'none', $elapsed // -1));
my $leader = $nodes{$newleader // 'n2'};

$n1->start;
ok( defined poll(
		30,
		sub {
			my $l = status($leader);
			my $s = status($n1);
			my ($lc) = (split /\|/, $l)[2];
			return defined $lc && $s eq "follower|$newleader|$lc";
		}),
	'old leader rejoins as follower and catches up');

# --- leader transfer --------------------------------------------------------
my $t0 = time();
$leader->safe_psql('postgres', "SELECT phantom.leader_transfer('n1')");
diag(sprintf("leader_transfer to n1 took %.2f s", time() - $t0));
is(q1($n1, 'SELECT role, leader FROM phantom.raft_status()'), 'leader|n1',
	'leader_transfer made n1 the leader');

# --- node removal ------------------------------------------------------------
like(sql_error($n1, "SELECT phantom.node_remove('n1')"), qr/leader cannot remove itself/,
	'the leader cannot remove itself');
$n1->safe_psql('postgres', "SELECT phantom.node_remove('n3')");
ok( defined poll(
		20,
		sub {
			q1($n1, "SELECT string_agg(name || ':' || role, ',' ORDER BY name) FROM phantom.nodes") eq
			  'n1:voter,n2:voter'
			  && q1($n2, "SELECT string_agg(name || ':' || role, ',' ORDER BY name) FROM phantom.nodes") eq
			  'n1:voter,n2:voter';
		}),
	'node_remove: n1 and n2 see two voters');

# --- wrong secret -------------------------------------------------------------
my $n4 = raft_node('n4', 'not-the-secret');
my $ci4 = $n4->connstr('postgres') =~ s/'/''/gr;
my $err = sql_error($n1,
	"SET phantom.node_add_timeout = '4s'; SELECT phantom.node_add('n4', '$ci4', '$raft_addr{n4}')");
like($err, qr/node "n4" did not catch up within 4000 ms/, 'node with a wrong secret cannot join');
like($err, qr/cluster_secret/, 'the hint mentions the cluster secret');
ok( defined poll(
		10,
		sub {
			slurp_file($n1->logfile) =~ /peer at 127\.0\.0\.1:\d+ \(node "n4"\) failed authentication/;
		}),
	'the leader logs the failed authentication with the peer address');
ok(slurp_file($n4->logfile) =~ /failed authentication/, 'the stranger logs it too');
is(q1($n1, "SELECT count(*) FROM phantom.nodes WHERE name = 'n4'"), '0',
	'the failed node was taken out again');
is(q1($n1, 'SELECT role FROM phantom.raft_status()'), 'leader', 'n1 still leads');

# --- not configured ------------------------------------------------------------
my $plain = phantom_node('plain');
$plain->start;
create_phantom($plain);
like(sql_error($plain, 'SELECT * FROM phantom.raft_status()'),
	qr/not configured as a phantom raft node.*\n.*HINT:.*phantom\.node_name/s,
	'not configured: error with hint');
$plain->stop;

$_->stop for ($n1, $n2, $n3, $n4);
done_testing();
