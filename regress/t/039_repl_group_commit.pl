#
# 039_repl_group_commit.pl: group commit of the raft commit path.
#
# Eight pgbench clients insert rows into a phantom table on the leader of a
# three-node cluster, one row per transaction.  Every acknowledged row must
# be on every node exactly once (the table has no key, so an entry applied
# twice would show as a duplicate), the three nodes must agree, and the
# raft worker must really batch: on the leader more than one entry per
# fsync of the raft log and more than one proposal per batch
# (phantom.raft_status() counters), and the followers likewise persist more
# than one entry per fsync.  Then single commits still work (a lone client
# gets batches of one) and the one-round-trip answer keeps the ledger row
# (index, term) equal to the entry's.
#
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin, "$FindBin::RealBin/..";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use PhantomTest;
use RaftTest;

my @names = qw(g1 g2 g3);
my %n = map { $_ => raft_node($_, 'group-commit-secret') } @names;
$n{g1}->safe_psql('postgres', 'SELECT phantom.cluster_create()');
for my $name (qw(g2 g3))
{
	my $ci = $n{$name}->connstr('postgres') =~ s/'/''/gr;
	$n{g1}->safe_psql('postgres',
		"SELECT phantom.node_add('$name', '$ci', '$raft_addr{$name}')");
}
my $L = $n{g1};
$L->safe_psql('postgres', 'CREATE TABLE gc (tag bigint NOT NULL, client int NOT NULL) USING phantom');
ok(defined poll(10, sub { q1($n{g3}, q{SELECT count(*) FROM pg_class WHERE relname = 'gc'}) eq '1' }),
	'table created on every node');

my $counters = 'SELECT log_syncs, log_entries, proposals, proposal_batches FROM phantom.raft_status()';
my %before = map { $_ => [ split /\|/, q1($n{$_}, $counters) ] } @names;

my $clients = 8;
my $per_client = 60;
my $dir = $PostgreSQL::Test::Utils::tmp_check;
my $script = "$dir/gc.sql";
open(my $fh, '>', $script) or die "could not write $script: $!";
print $fh "\\set tag random(1, 9000000000000000000)\n";
print $fh "INSERT INTO gc (tag, client) VALUES (:tag, :client_id);\n";
close($fh);
my ($out, $err) = ('', '');
my $ok = IPC::Run::run(
	[ 'pgbench', '-n', '-c', $clients, '-j', $clients, '-t', $per_client,
	  '-f', $script, '-h', $L->host, '-p', $L->port, 'postgres' ],
	'>', \$out, '2>', \$err, IPC::Run::timeout(300));
my $expected = $clients * $per_client;
like($out, qr{number of transactions actually processed: $expected/$expected},
	"pgbench: $clients clients committed $expected transactions")
  or diag("pgbench stdout:\n$out\nstderr:\n$err");
diag(join(' ', grep { /tps|latency average/ } split /\n/, $out));

my $content = q{SELECT count(*) || ':' || count(DISTINCT tag) || ':' || coalesce(sum(tag % 1000003), 0) FROM gc};
my $want = q1($L, $content);
my ($count) = split /:/, $want;
is($count, $expected, 'the leader has every acknowledged row');
like($want, qr/^$expected:$expected:/, 'no row twice on the leader');
for my $name (qw(g2 g3))
{
	ok(defined poll(30, sub { q1($n{$name}, $content) eq $want }),
		"$name has every row exactly once, like the leader")
	  or diag("$name: " . q1($n{$name}, $content) . " leader: $want");
}

my %after = map { $_ => [ split /\|/, q1($n{$_}, $counters) ] } @names;
my @d = map { $after{g1}[$_] - $before{g1}[$_] } 0 .. 3;
diag(sprintf('leader: %d entries in %d log fsyncs (%.2f per fsync), %d proposals in %d batches',
		$d[1], $d[0], $d[0] ? $d[1] / $d[0] : 0, $d[2], $d[3]));
ok($d[2] >= $expected, 'the leader proposed every transaction');
ok($d[0] > 0 && $d[1] / $d[0] > 1.0, 'group commit on the leader: more than one entry per raft log fsync');
ok($d[3] > 0 && $d[2] / $d[3] > 1.0, 'more than one proposal per batch');
for my $name (qw(g2 g3))
{
	my @f = map { $after{$name}[$_] - $before{$name}[$_] } 0 .. 1;
	diag(sprintf('%s: %d entries in %d log fsyncs', $name, $f[1], $f[0]));
	ok($f[0] > 0 && $f[1] / $f[0] > 1.0, "$name persists more than one entry per fsync");
}

# a lone commit: answered once committed, ledger row = the entry
$L->safe_psql('postgres', 'INSERT INTO gc VALUES (1, 0)');
my $last = q1($L, 'SELECT max(index) FROM phantom.applied');
my $term = q1($L, 'SELECT term FROM phantom.raft_status()');
is(q1($L, "SELECT term FROM phantom.applied WHERE index = $last"), $term,
	'a single commit records its entry with the current term');
ok(defined poll(10, sub { q1($n{g2}, "SELECT count(*) FROM phantom.applied WHERE index = $last") eq '1' }),
	'and a follower applied it');

done_testing();
