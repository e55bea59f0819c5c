#
# 035_raft_propose.pl: the backend -> raft commit path building block.
#
# phantom_internal.raft_propose(payload, timeout_ms) proposes an opaque
# note entry from a backend (payload in DSM), waits until it is committed
# and returns its index.  Covers: commit on the leader and replication to
# every node (commit indexes reach it), a 1 MB payload, refusal on a
# follower with the leader's name in the hint (nothing proposed), a leader
# that cannot reach a majority: SQLSTATE 40003 after the timeout; after
# kill -9 of the leader proposals work on the new one.  Measures the mean
# commit latency of 200 sequential proposals on 127.0.0.1 (diag).
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


my %n = map { $_ => raft_node($_, 'propose-secret') } qw(p1 p2 p3);
my @all = @n{qw(p1 p2 p3)};
$n{p1}->safe_psql('postgres', 'SELECT phantom.cluster_create()');
for my $name (qw(p2 p3))
{
	my $ci = $n{$name}->connstr('postgres') =~ s/'/''/gr;
	$n{p1}->safe_psql('postgres',
		"SELECT phantom.node_add('$name', '$ci', '$raft_addr{$name}')");
}

my $idx = q1($n{p1}, q{SELECT phantom_internal.raft_propose('\x01020304')});
ok($idx =~ /^\d+$/ && $idx > 0, "proposal committed at index $idx");
for my $name (qw(p2 p3))
{
	ok( defined poll(
			10, sub { (q1($n{$name}, 'SELECT commit_index FROM phantom.raft_status()') || 0) >= $idx }),
		"$name committed index $idx");
}
my $big = q1($n{p1}, q{SELECT phantom_internal.raft_propose(decode(repeat('ab', 1048576), 'hex'))});
ok($big =~ /^\d+$/ && $big > $idx, "1 MB payload committed at index $big");
ok( defined poll(
		10,
		sub { (q1($n{p3}, 'SELECT applied_index FROM phantom.raft_status()') || 0) >= $big }),
	'1 MB payload applied on a follower');

my ($rc, $out, $err) = $n{p2}->psql('postgres', q{SELECT phantom_internal.raft_propose('\x00')});
like($err, qr/not the leader.*\n.*HINT:.*node "p1"/s, 'follower refuses, hint names the leader');

# commit latency
my $t0 = time();
$n{p1}->safe_psql('postgres',
	q{DO $$ BEGIN FOR i IN 1..200 LOOP PERFORM phantom_internal.raft_propose('\x00'); END LOOP; END $$});
my $per = (time() - $t0) / 200 * 1000;
diag(sprintf("commit latency: %.2f ms per proposal (200 sequential, 3 nodes, fsync on)", $per));
ok($per < 1000, 'proposals commit');

# a leader without a majority: outcome unknown after the timeout
$n{p2}->stop('immediate');
$n{p3}->stop('immediate');
($rc, $out, $err) = $n{p1}->psql('postgres',
	q{SELECT phantom_internal.raft_propose('\x00', 1500)}, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  (40003: raft entry \d+ was not committed within 1500 ms|PH010: this node is not the leader)/,
	'no majority: 40003 (or not leader once check-quorum stepped down)');
$n{p2}->start;
$n{p3}->start;

# kill -9 of the leader, proposals on the new leader
ok(defined poll(20, sub { grep { q1($_, 'SELECT role FROM phantom.raft_status()') eq 'leader' } @all }),
	'a leader again');
$n{p1}->stop('immediate');
my $leader;
ok( defined poll(
		20,
		sub {
			($leader) = grep { q1($n{$_}, 'SELECT role FROM phantom.raft_status()') eq 'leader' } qw(p2 p3);
			defined $leader;
		}),
	'new leader after kill -9');
$leader //= 'p2';
my $i2 = q1($n{$leader}, q{SELECT phantom_internal.raft_propose('\x05')});
ok($i2 =~ /^\d+$/ && $i2 > $big, "proposal on the new leader $leader committed at $i2");
$n{p1}->start;
ok( defined poll(
		20, sub { (q1($n{p1}, 'SELECT commit_index FROM phantom.raft_status()') || 0) >= $i2 }),
	'restarted node has the entry committed');

$_->stop for @all;
done_testing();
