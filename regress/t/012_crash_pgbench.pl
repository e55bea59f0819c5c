#
# 012_crash_pgbench.pl: pgbench on phantom tables (pgbench -i with
# default_table_access_method = phantom) while the whole server is killed
# with SIGKILL, several rounds, with VACUUM, VACUUM (FREEZE),
# phantom.compact() and CHECKPOINT running meanwhile and the background
# compactor busy.  After each recovery:
#   - every transaction pgbench acknowledged is there: the custom script
#     appends a row with a per-client sequence number to ack_log in each
#     transaction, and pgbench's transaction log (-l, one line per
#     committed transaction, written by the client) says how many each
#     client got acknowledged; at most the one in flight at the crash may
#     be there beyond that;
#   - the TPC-B sums agree (accounts = tellers = branches = history), the
#     history has one row per ack_log row, and the churn table (insert +
#     delete of the row three transactions back) holds exactly the last
#     three rows of each client;
#   - amcheck's bt_index_check(heapallindexed) passes on every index,
#     phantom.verify() is clean, index scans agree with seq scans.
# PHANTOM_TEST_AM=heap runs the same against heap (checks the test);
# PHANTOM_CRASH_ROUNDS sets the number of rounds (default 5; the loop also
# stops after about 50 s).  Found: compaction moved rows with an aborted
# (hinted) xmax cold unfrozen (regress test aborted_xmax).
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

my $rounds = $ENV{PHANTOM_CRASH_ROUNDS} // 5;
my $phantom = test_am() eq 'phantom';
my $node = phantom_node('pgbench', conf => qq{
fsync = on
restart_after_crash = on
autovacuum_naptime = 1
max_connections = 30
phantom.compaction_naptime = 1
phantom.compaction_min_pages = 1
});
$node->start;
create_phantom($node);
$node->safe_psql('postgres', 'CREATE EXTENSION amcheck');
$node->command_ok([ 'pgbench', '-i', '-q', '-s', '1', $node->connstr('postgres') ],
	'pgbench -i');
$node->safe_psql('postgres', q{
CREATE TABLE ack_log (id bigint PRIMARY KEY, round int, client int, seq int);
CREATE TABLE churn (id bigint PRIMARY KEY, pad text);
});
is($node->safe_psql('postgres', q{
	SELECT string_agg(c.relname || ':' || a.amname, ',' ORDER BY c.relname)
	FROM pg_class c JOIN pg_am a ON a.oid = c.relam
	WHERE c.relname IN ('pgbench_accounts', 'pgbench_branches', 'pgbench_tellers',
	                    'pgbench_history', 'ack_log', 'churn')}),
	join(',', map { "$_:" . test_am() } qw(ack_log churn pgbench_accounts
		pgbench_branches pgbench_history pgbench_tellers)),
	'every table uses the AM under test');
my @tables = qw(pgbench_accounts pgbench_branches pgbench_tellers pgbench_history ack_log churn);

my $dir = PostgreSQL::Test::Utils::tempdir();
my $script = "$dir/tx.sql";
open my $fh, '>', $script or die $!;
print $fh <<'EOF';
\set seq :seq + 1
\set aid random(1, 100000)
\set tid random(1, 10)
\set delta random(-5000, 5000)
\set id :round * 1000000000000 + :client_id * 1000000000 + :seq
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;
UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = 1;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, 1, :aid, :delta, CURRENT_TIMESTAMP);
INSERT INTO ack_log VALUES (:id, :round, :client_id, :seq);
INSERT INTO churn VALUES (:id, repeat('c', 100 + :seq % 300));
DELETE FROM churn WHERE id = :id - 3;
END;
EOF
close $fh;

# maintenance while pgbench runs
my $maint = "$dir/maint.sql";
open $fh, '>', $maint or die $!;
for my $i (1 .. 500)
{
	print $fh "VACUUM pgbench_accounts, churn;\n";
	print $fh "VACUUM (FREEZE) ack_log, pgbench_history;\n" if $i % 2 == 0;
	if ($phantom)
	{
		print $fh "SELECT phantom.compact('$_');\n" for qw(ack_log pgbench_history pgbench_accounts churn);
	}
	print $fh "CHECKPOINT;\n" if $i % 3 == 0;
	print $fh "SELECT pg_sleep(0.2);\n";
}
close $fh;

# consistency checks after a recovery; returns nothing, runs tests
sub check_state
{
	my ($round, $acked) = @_;
	my $q = sub { return $node->safe_psql('postgres', $_[0]); };

	# every acknowledged transaction of this round is there
	my $missing = 0;
	my $beyond = 0;
	for my $c (sort keys %$acked)
	{
		my $n = $acked->{$c};
		my ($have, $max) = split /\|/, $q->(qq{
			SELECT count(*) FILTER (WHERE seq <= $n), coalesce(max(seq), 0)
			FROM ack_log WHERE round = $round AND client = $c});
		$missing += $n - $have;
		$beyond++ if $max > $n + 1;
	}
	is($missing, 0, "round $round: every acknowledged transaction survived");
	is($beyond, 0, "round $round: nothing beyond the transaction in flight");

	is($q->(q{SELECT (SELECT sum(abalance) FROM pgbench_accounts) || ' ' ||
		(SELECT sum(tbalance) FROM pgbench_tellers) || ' ' ||
		(SELECT sum(bbalance) FROM pgbench_branches) || ' ' ||
		(SELECT coalesce(sum(delta), 0) FROM pgbench_history)}) =~ /^(-?\d+) \1 \1 \1$/ ? 1 : 0,
		1, "round $round: accounts = tellers = branches = history sums");
	is($q->('SELECT (SELECT count(*) FROM pgbench_history) = (SELECT count(*) FROM ack_log)'),
		't', "round $round: one history row per ack_log row");
	is($q->(q{
		WITH a AS (SELECT round, client, max(seq) AS m,
		                  round::bigint * 1000000000000 + client::bigint * 1000000000 AS base
		           FROM ack_log GROUP BY 1, 2)
		SELECT (SELECT count(*) FROM churn) = (SELECT coalesce(sum(least(m, 3)), 0) FROM a)
		   AND NOT EXISTS (SELECT 1 FROM a WHERE
		       (SELECT count(*) FROM churn c
		         WHERE c.id BETWEEN a.base + greatest(a.m - 2, 1) AND a.base + a.m) <> least(a.m, 3))}),
		't', "round $round: churn holds the last three rows of each client");
	is($q->('SELECT count(*) FROM pgbench_accounts'), '100000', "round $round: 100000 accounts");

	# the indexes agree with the tables
	my $agg = 'SELECT count(*), sum(aid), sum(abalance) FROM pgbench_accounts WHERE aid > 0';
	my $seq = $q->("SET enable_indexscan = off; SET enable_bitmapscan = off; $agg");
	is($q->("SET enable_seqscan = off; SET enable_bitmapscan = off; $agg"), $seq,
		"round $round: accounts index scan = seq scan");
	is($q->("SET enable_seqscan = off; SET enable_indexscan = off; $agg"), $seq,
		"round $round: accounts bitmap scan = seq scan");
	my $ack = 'SELECT count(*), sum(id) FROM ack_log WHERE id > 0';
	is($q->("SET enable_seqscan = off; SET enable_bitmapscan = off; $ack"),
		$q->("SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off; $ack"),
		"round $round: ack_log index scan = seq scan");
	my ($ret, $out, $err) = $node->psql('postgres', q{
		SELECT count(bt_index_check(i.indexrelid, true))
		FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
		WHERE c.relname IN ('pgbench_accounts', 'pgbench_branches', 'pgbench_tellers', 'ack_log', 'churn')});
	is($ret, 0, "round $round: bt_index_check(heapallindexed) on every index") or diag $err;
	if ($phantom)
	{
		my $bad = $q->(q{SELECT string_agg(t || ': ' || v.check_name || ' ' || v.detail, ' / ')
			FROM unnest(ARRAY['} . join("','", @tables) . q{']) t,
			     phantom.verify(t::regclass) v WHERE NOT v.ok});
		is($bad, '', "round $round: phantom.verify clean on every table");
	}
}

my $start = time();
my $cold = 0;
for my $round (1 .. $rounds)
{
	my $prefix = "$dir/r$round";
	my ($pout, $perr, $mout, $merr) = ('', '', '', '');
	my $pgb = IPC::Run::start(
		[ 'pgbench', '-n', '-c', '4', '-j', '2', '-T', '60', '-f', $script,
		  '-D', 'seq=0', '-D', "round=$round", '-l', "--log-prefix=$prefix",
		  $node->connstr('postgres') ],
		'>', \$pout, '2>', \$perr);
	my $mh = IPC::Run::start(
		[ 'psql', '-X', '-qAt', '-d', $node->connstr('postgres'), '-f', $maint ],
		'>', \$mout, '2>', \$merr);
	# let it run, then kill the whole server
	select(undef, undef, undef, 2 + rand(2));
	$cold = $node->safe_psql('postgres', 'SELECT coalesce(sum(cold_vblocks), 0) FROM phantom.stat_tables')
	  if $phantom;

	kill9_server($node);
	eval { $pgb->finish; };
	eval { $mh->finish; };
	my @bad = grep { /ERROR|PANIC/ && !/terminat|connection|server closed|shutdown|recovery mode/ }
	  split /\n/, $merr;
	is(scalar(@bad), 0, "round $round: maintenance ran without errors") or diag join("\n", @bad);

	# acknowledged transactions per client, from pgbench's own log
	my %acked;
	for my $f (glob("$prefix.*"))
	{
		open my $lf, '<', $f or die $!;
		while (<$lf>)
		{
			$acked{$1}++ if /^(\d+) \d+ /;
		}
		close $lf;
	}
	my $total = 0;
	$total += $_ for values %acked;
	cmp_ok($total, '>', 0, "round $round: pgbench got $total transactions acknowledged");
	note "round $round: cold vblocks before the crash: $cold";

	$node->start;
	note "round $round: ack_log rows: "
	  . $node->safe_psql('postgres', "SELECT count(*) FROM ack_log WHERE round = $round")
	  . "; pgbench: " . join(' / ', grep { /processed/ } split /\n/, $pout);
	check_state($round, \%acked);
	last if time() - $start > 50;
}
ok(!$phantom || $cold > 0, "the compactor moved vblocks cold meanwhile ($cold)");
ok($node->log_contains('database system was not properly shut down|database system was interrupted'),
	'the server went through crash recovery');
$node->stop;
done_testing();
