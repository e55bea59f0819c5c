#
# 034_raft_snapshot.pl: log compaction and snapshots.
#
# With phantom.raft_compact_entries = 2 the raft worker takes a snapshot
# (its address book) every two applied entries and compacts its durable
# log.  Covers: nodes added later get the group by InstallSnapshot (their
# address book comes from the snapshot); three voters and one leader on
# every node; after kill -9 of every node the workers restore from the
# snapshot + remaining entries (same membership, a leader again);
# membership changes after the restart still work.  Every wait is bounded.
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


my $members_sql =
  "SELECT string_agg(name || ' ' || role || ' ' || raft_address, ',' ORDER BY name) || ' leaders=' || count(*) FILTER (WHERE is_leader) FROM phantom.nodes";

my %n = map { $_ => raft_node($_, 'snap-secret', "phantom.raft_compact_entries = 2\n") } qw(s1 s2 s3);
my @all = @n{qw(s1 s2 s3)};
$n{s1}->safe_psql('postgres', 'SELECT phantom.cluster_create()');
for my $name (qw(s2 s3))
{
	my $ci = $n{$name}->connstr('postgres') =~ s/'/''/gr;
	$n{s1}->safe_psql('postgres',
		"SELECT phantom.node_add('$name', '$ci', '$raft_addr{$name}')");
}
my $want = "s1 voter $raft_addr{s1},s2 voter $raft_addr{s2},s3 voter $raft_addr{s3} leaders=1";
for my $name (qw(s1 s2 s3))
{
	ok(defined poll(20, sub { q1($n{$name}, $members_sql) eq $want }),
		"$name sees the three voters and one leader");
}
like(slurp_file($n{s1}->logfile), qr/phantom raft: log compacted up to index \d+/,
	'the leader compacted its log');
for my $name (qw(s2 s3))
{
	like(slurp_file($n{$name}->logfile),
		qr/phantom raft: installed a snapshot at index \d+ from the leader/,
		"$name got the group by snapshot");
}

# crash everything: restore from snapshot + entries
$_->stop('immediate') for @all;
$_->start for @all;
for my $name (qw(s1 s2 s3))
{
	ok(defined poll(30, sub { q1($n{$name}, $members_sql) eq $want }),
		"$name: membership restored from the snapshot after kill -9");
}

# membership changes still work after the restart
my ($leader) = grep { q1($n{$_}, 'SELECT role FROM phantom.raft_status()') eq 'leader' } qw(s1 s2 s3);
ok(defined $leader, 'a leader after the restart');
my ($gone) = grep { $_ ne ($leader // '') } qw(s1 s2 s3);
$n{$leader // 's1'}->safe_psql('postgres', "SELECT phantom.node_remove('$gone')");
my @rest = grep { $_ ne $gone } qw(s1 s2 s3);
for my $name (@rest)
{
	ok( defined poll(
			20,
			sub {
				q1($n{$name}, "SELECT count(*) FROM phantom.nodes WHERE role = 'voter'") eq '2';
			}),
		"$name sees two voters after node_remove('$gone')");
}
ok(!grep({ slurp_file($_->logfile) =~ /terminated by signal|PANIC/ } @all), 'nothing crashed');

$_->stop for @all;
done_testing();
