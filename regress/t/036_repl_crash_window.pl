#
# 036_repl_crash_window.pl: the leader is killed -9 between the raft commit
# of a transaction's entry and its local commit, before the transaction's
# WAL reached the disk (wal_writer_delay = 10s, nothing else commits).
# The entry is committed in the cluster, so it must be applied everywhere,
# including on the restarted ex-leader: its apply worker must not take the
# xid of the dead transaction (never WAL-logged, so above
# latestCompletedXid after recovery, which TransactionIdIsInProgress
# reports as running) for a transaction of its own still in flight.  Two
# rounds: the ex-leader restarts as a follower, then it is made leader
# again and must accept writes.
#
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin, "$FindBin::RealBin/..";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use IPC::Run;
use PhantomTest;
use RaftTest;

my @names = qw(w1 w2 w3);
my %n = map { $_ => raft_node($_, 'window-secret', "wal_writer_delay = 10s\n") } @names;
my @all = @n{@names};
raft_cluster(\%n, 'w1', qw(w2 w3));

sub leader { return raft_leader(\%n) }

my $content = q{SELECT count(*) || ':' || coalesce(sum(v), 0) || ':' || (SELECT count(*) || '/' || max(index) FROM phantom.applied) FROM t};

sub converged
{
	my ($what) = @_;
	my $last;
	my $ok = poll(30, sub {
		my @h = map { q1($n{$_}, $content, 5) } @names;
		$last = join(' / ', @h);
		return !grep { $_ eq '' || $_ ne $h[0] } @h;
	});
	ok(defined $ok, "$what: all nodes have the same rows and ledger") or diag($last);
}

$n{w1}->safe_psql('postgres', 'CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 1)');
converged('start');

my $id = 10;
for my $round (1 .. 2)
{
	my $lname;
	poll(15, sub { $lname = leader(); defined $lname });
	ok(defined $lname, "round $round: a leader");
	my $L = $n{$lname};
	# make the WAL of everything so far durable, so only the paused
	# transaction's records can be lost
	$L->safe_psql('postgres', 'CHECKPOINT');
	my $last0 = q1($L, 'SELECT last_index FROM phantom.raft_status()');
	$id++;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-d', $L->connstr('postgres'), '-c',
		  "SET phantom.debug_pause_after_raft_commit = 20000; INSERT INTO t VALUES ($id, $id)" ],
		'>', \$out, '2>', \$err);
	# the entry is committed in raft once another node's raft log has it
	my $other = (grep { $_ ne $lname } @names)[0];
	my $t = poll(10, sub {
		my $last = q1($L, 'SELECT last_index FROM phantom.raft_status()');
		return $last > $last0 &&
		  q1($n{$other}, 'SELECT commit_index FROM phantom.raft_status()') >= $last &&
		  q1($L, q{SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Extension' AND query LIKE '%INSERT INTO t%'}) eq '1' });
	ok(defined $t, "round $round: the entry of id $id is committed in raft, its transaction paused before the local commit");
	kill9_server($L);
	$h->finish;
	ok(defined poll(20, sub { $L->start(fail_ok => 1) }), "round $round: $lname restarted");
	converged("round $round: after the restart of $lname");
	is(q1($L, "SELECT v FROM t WHERE id = $id"), $id, "round $round: $lname applied the entry of its dead transaction");
	unlike(slurp_file($L->logfile), qr/PANIC|terminated by signal 11/, "round $round: no crash on $lname");

	# the restarted node can lead again and accept writes
	if (leader() ne $lname)
	{
		$n{leader()}->safe_psql('postgres', "SELECT phantom.leader_transfer('$lname')");
	}
	ok(defined poll(15, sub { (leader() // '') eq $lname }), "round $round: $lname leads again");
	my $wrote = poll(15, sub {
		$L->psql('postgres', "INSERT INTO t VALUES (" . (100 + $round) . ", 0)") == 0 });
	ok(defined $wrote, "round $round: $lname accepts writes as the leader");
	converged("round $round: after a write on $lname");
}

$_->stop('immediate') for @all;
done_testing();
