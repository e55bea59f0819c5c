#
# 037_repl_compact.pl: raft log compaction and table replication.
#
# With phantom.raft_compact_entries = 5 on three nodes: a follower whose
# apply worker is blocked (a session holds an exclusive lock on the table)
# keeps the entries it has not applied to its tables in its log while the
# others compact, and converges once the lock is gone (no entry lost, no
# warning).  A follower that was down while the leader compacted past its
# position receives a raft snapshot (no table data) and catches up by a
# table snapshot from the leader (039 covers that in depth).
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

my @names = qw(c1 c2 c3);
my %n = map { $_ => raft_node($_, 'compact-secret', "phantom.raft_compact_entries = 5\n") } @names;
# the conninfos are what a catching-up node connects to the leader with
my $ci1 = $n{c1}->connstr('postgres') =~ s/'/''/gr;
$n{c1}->safe_psql('postgres', "SELECT phantom.cluster_create('$ci1')");
for my $name (qw(c2 c3))
{
	my $ci = $n{$name}->connstr('postgres') =~ s/'/''/gr;
	$n{c1}->safe_psql('postgres',
		"SELECT phantom.node_add('$name', '$ci', '$raft_addr{$name}')");
}
my $L = $n{c1};
my $content = q{SELECT count(*) || ':' || coalesce(sum(v), 0) || ':' || (SELECT count(*) FROM phantom.applied) FROM k};

$L->safe_psql('postgres', 'CREATE TABLE k (id int PRIMARY KEY, v int); INSERT INTO k VALUES (0, 0)');
ok(defined poll(10, sub { q1($n{c2}, $content) eq q1($L, $content) }), 'table replicated');

# c2's apply worker is blocked by a lock while 20 entries commit
my $dir = $PostgreSQL::Test::Utils::tmp_check;
my $locker = IPC::Run::start(
	[ 'psql', '-X', '-q', '-d', $n{c2}->connstr('postgres') . ' application_name=locker', '-c',
	  'BEGIN; LOCK TABLE k IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120); COMMIT;' ],
	'>', "$dir/locker.out", '2>&1');
ok(defined poll(20, sub { q1($n{c2}, q{SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'locker' AND l.mode = 'AccessExclusiveLock' AND l.granted}) eq '1' }),
	'a session on c2 holds an exclusive lock on the table');
$L->safe_psql('postgres', "INSERT INTO k VALUES ($_, $_)") for 1 .. 20;
ok(defined poll(15, sub { q1($n{c3}, $content) eq q1($L, $content) }), 'an unblocked follower keeps up (and compacts)');
isnt(q1($n{c2}, 'SELECT count(*) FROM phantom.applied'), q1($L, 'SELECT count(*) FROM phantom.applied'),
	'the blocked follower has not applied them yet');
# the lock goes when the test says so, not after a fixed time (a slow
# machine may need more than a few seconds for the 20 commits)
$n{c2}->safe_psql('postgres', q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'locker'});
$locker->finish;
ok(defined poll(15, sub { q1($n{c2}, $content) eq q1($L, $content) }),
	'the blocked follower applied every entry once the lock was gone');
unlike(slurp_file($n{c2}->logfile), qr/WARNING: .*(no longer in the log|snapshot skips)/,
	'its log kept the entries it had not applied (no warning)');

# c3 is down while the leader compacts past it
$n{c3}->stop('fast');
$L->safe_psql('postgres', "INSERT INTO k VALUES ($_, $_)") for 21 .. 40;
$n{c3}->start;
ok( defined poll(
		15, sub { slurp_file($n{c3}->logfile) =~ /the snapshot skips raft entries \d+ to \d+ that this node has not applied to its tables/ }),
	'a node that receives a snapshot beyond its tables says so');
ok(defined poll(30, sub { q1($n{c3}, $content) eq q1($L, $content) }),
	'it catches up by a table snapshot: same rows and ledger as the leader');
like(slurp_file($n{c3}->logfile), qr/phantom table snapshot from c\d at index \d+: 1 tables, \d+ rows/,
	'the table snapshot is logged');

$_->stop('immediate') for values %n;
done_testing();
