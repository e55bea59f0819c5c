#
# RaftTest.pm: helpers shared by phantom's Raft TAP tests (regress/t/03*_raft_*.pl).
#
#   use PhantomTest; use RaftTest;
#   my $n1 = raft_node('n1', 'secret');          # started, extension created
#   my $t = poll(10, sub { ... });               # seconds it took, or undef
#   signal_server($n1, 'STOP');                  # freeze the whole server
#
# raft_node picks a free raft port on 127.0.0.1 and remembers the node's raft
# address in %raft_addr (exported), as phantom.node_add needs it.
#
package RaftTest;

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use Time::HiRes qw(time usleep);
use Exporter 'import';
use PhantomTest;

our %raft_addr;
our @EXPORT = qw(%raft_addr raft_node raft_cluster raft_leader poll q1 status signal_server);

# raft_node(name, secret[, extra_conf[, query_timeout]]) starts a node
# configured as raft member name, with compaction off so that the tests'
# timing is the raft worker's alone.
sub raft_node
{
	my ($name, $secret, $extra) = @_;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	$raft_addr{$name} = "127.0.0.1:$port";
	my $node = phantom_node(
		$name, conf => qq{
phantom.node_name = '$name'
phantom.raft_listen = '127.0.0.1:$port'
phantom.cluster_secret = '$secret'
phantom.compaction = off
} . ($extra // ''));
	$node->start;
	create_phantom($node);
	return $node;
}

# raft_cluster(\%nodes, first, others...) makes nodes{first} bootstrap a
# cluster and add the others as voters (raft_node() nodes).
sub raft_cluster
{
	my ($n, $first, @others) = @_;
	$n->{$first}->safe_psql('postgres', 'SELECT phantom.cluster_create()');
	for my $name (@others)
	{
		my $ci = $n->{$name}->connstr('postgres') =~ s/'/''/gr;
		$n->{$first}->safe_psql('postgres',
			"SELECT phantom.node_add('$name', '$ci', '$raft_addr{$name}')");
	}
}

# raft_leader(\%nodes): the name of the running node that says it leads,
# or undef.
sub raft_leader
{
	my ($n) = @_;
	for my $name (sort keys %$n)
	{
		next unless $n->{$name}->{_pid};
		return $name
		  if q1($n->{$name}, 'SELECT role FROM phantom.raft_status()', 5) eq 'leader';
	}
	return undef;
}

# poll(timeout, code) calls code every 50 ms until it returns true; returns
# the seconds it took, or undef when timeout seconds passed first.
sub poll
{
	my ($timeout, $code) = @_;
	my $start = time();
	while (time() - $start < $timeout)
	{
		return time() - $start if $code->();
		usleep(50_000);
	}
	return undef;
}

# q1(node, sql[, timeout]) returns the output of sql, or '' if it failed.
sub q1
{
	my ($node, $sql, $timeout) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', $sql, timeout => $timeout // 30);
	return $rc == 0 ? $out : '';
}

# status(node): "role|leader|commit_index" from phantom.raft_status().
sub status
{
	return q1($_[0], 'SELECT role, leader, commit_index FROM phantom.raft_status()');
}

# signal_server(node, sig) sends sig (STOP, CONT, ...) to the postmaster
# and every child of it: SIGSTOP freezes the whole server (a hung machine:
# no connection is closed), SIGCONT thaws it.  The postmaster is stopped
# first (it forks no child after that) and continued last.
sub signal_server
{
	my ($node, $sig) = @_;
	my $pm = $node->{_pid};
	die "node is not running" unless defined $pm;
	kill $sig, $pm if $sig ne 'CONT';
	my @children = grep { /^\d+$/ } split /\s+/, `ps -o pid= --ppid $pm`;
	kill $sig, @children if @children;
	kill $sig, $pm if $sig eq 'CONT';
	return;
}

1;
