#
# 031_raft_restart.pl: the raft group survives kill -9 of every node.
#
# Covers: a three-node group is killed (stop 'immediate') all at once and
# restarted; the durable logs bring back the same membership (three voters,
# address book with conninfos), a leader is elected again, the commit index
# is not lower than before the crash; a follower killed while the others go
# on (membership change committed meanwhile) catches up; a change of
# phantom.raft_election_timeout by reload is taken (the group keeps or
# re-elects a leader); management calls on a follower get the leader's
# name in the hint.  Every wait is bounded.
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


# leader_of(nodes): name of the node all given nodes agree leads, or undef.
sub leader_of
{
	my @st = map { status($_) } @_;
	my %leaders = map { ((split /\|/)[1] // '') => 1 } @st;
	my @l = keys %leaders;
	return undef if @l != 1 || $l[0] eq '';
	return (grep { /^leader\|/ } @st) ? $l[0] : undef;
}

my %nodes = map { $_ => raft_node($_, 'restart-secret') } qw(r1 r2 r3);
my @all = @nodes{qw(r1 r2 r3)};

$nodes{r1}->safe_psql('postgres', 'SELECT phantom.cluster_create()');
for my $name (qw(r2 r3))
{
	my $ci = $nodes{$name}->connstr('postgres') =~ s/'/''/gr;
	$nodes{r1}->safe_psql('postgres',
		"SELECT phantom.node_add('$name', '$ci', '$raft_addr{$name}')");
}
ok(defined poll(20, sub { defined leader_of(@all) }), 'three-node group has a leader');
my $commit_before = (split /\|/, status($nodes{r1}))[2];
my $book_before = q1($nodes{r1},
	"SELECT string_agg(name || ' ' || role || ' ' || conninfo || ' ' || raft_address, ',' ORDER BY name) FROM phantom.nodes");

# --- every node killed at once -------------------------------------------------
$_->stop('immediate') for @all;
$_->start for @all;
my $t = poll(30, sub { defined leader_of(@all) });
ok(defined $t, 'after kill -9 of all nodes a leader is elected again');
diag(sprintf("full restart: leader after %.2f s", $t // -1));
for my $name (qw(r1 r2 r3))
{
	ok( defined poll(
			20,
			sub {
				q1($nodes{$name},
					"SELECT string_agg(name || ' ' || role || ' ' || conninfo || ' ' || raft_address, ',' ORDER BY name) FROM phantom.nodes"
				) eq $book_before;
			}),
		"$name: membership and address book survived the crash");
}
my $commit_after = (split /\|/, status($nodes{leader_of(@all) // 'r1'}))[2] // 0;
cmp_ok($commit_after, '>=', $commit_before, "commit index did not go back ($commit_before -> $commit_after)");

# --- a follower misses a membership change ---------------------------------------
my $leader_name = leader_of(@all);
my $leader = $nodes{$leader_name};
my ($victim) = grep { $_ ne $leader_name } qw(r1 r2 r3);
my ($third) = grep { $_ ne $leader_name && $_ ne $victim } qw(r1 r2 r3);
$nodes{$victim}->stop('immediate');
like(
	scalar(($nodes{$third}->psql('postgres', "SELECT phantom.node_remove('$victim')"))[2]),
	qr/HINT:.*node "$leader_name"/, 'follower names the leader in its hint');
my $extra = raft_node('r4', 'restart-secret');
my $ci4 = $extra->connstr('postgres') =~ s/'/''/gr;
$leader->safe_psql('postgres', "SELECT phantom.node_add('r4', '$ci4', '$raft_addr{r4}')");
$nodes{$victim}->start;
ok( defined poll(
		30,
		sub {
			my $lc = (split /\|/, status($leader))[2] // 'x';
			status($nodes{$victim}) eq "follower|$leader_name|$lc"
			  && q1($nodes{$victim}, "SELECT count(*) FROM phantom.nodes WHERE role = 'voter'") eq '4';
		}),
	'restarted follower caught up with the change it missed (4 voters)');

# --- election timeout changed by reload ------------------------------------------
for my $n (@all, $extra)
{
	$n->append_conf('postgresql.conf', "phantom.raft_election_timeout = 600");
	$n->reload;
}
ok(defined poll(20, sub { defined leader_of(@all, $extra) }),
	'after reloading a new election timeout the group has a leader');
is(q1($leader, 'SHOW phantom.raft_election_timeout'), '600ms', 'new timeout active');

$_->stop for (@all, $extra);
done_testing();
