#
# 010_crash.pl: kill -9 of the whole server (postmaster and every backend at
# once) while several sessions insert, update and delete rows of a phantom
# table and another one runs VACUUM and CHECKPOINT.  After each restart
# every acknowledged change is there, no rolled-back one is, the indexes
# agree with the table (index, bitmap and sequential scans, amcheck), and
# the table takes writes again.  A few rounds, bounded in time.
#
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin, "$FindBin::RealBin/..";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PhantomTest;

my $rounds = $ENV{PHANTOM_CRASH_ROUNDS} // 3;
my $maint = "VACUUM t;\nCHECKPOINT;\n";
$maint .= compact_sql('t') if ($ENV{PHANTOM_CRASH_COMPACT} // 0);
my $name = ($ENV{PHANTOM_CRASH_COMPACT} // 0) ? 'crash_compact' : 'crash';

my $node = phantom_node($name, conf => "fsync = on\nrestart_after_crash = on\n");
$node->start;
create_phantom($node);
$node->safe_psql('postgres', q{
	CREATE EXTENSION amcheck;
	CREATE TABLE t (id int PRIMARY KEY, v int, pad text);
	CREATE INDEX t_v ON t (v);
	INSERT INTO t SELECT -i, 0, 'seed' FROM generate_series(1, 2000) i;
});
is($node->safe_psql('postgres', q{
	SELECT a.amname = current_setting('default_table_access_method')
	  FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.oid = 't'::regclass}),
	't', 'the table uses the AM under test (' . test_am() . ')');

# index_agreement: the same rows through every access path, and amcheck
sub index_agreement
{
	my ($round) = @_;
	my $q = q{SELECT count(*) || ':' || coalesce(sum(id::bigint), 0) || ':' || coalesce(sum(v::bigint), 0) FROM t WHERE id > -1000000 AND v > -1000000};
	my $seq = $node->safe_psql('postgres',
		"SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off; $q");
	my $idx = $node->safe_psql('postgres',
		"SET enable_seqscan = off; SET enable_bitmapscan = off; $q");
	my $bmp = $node->safe_psql('postgres',
		"SET enable_seqscan = off; SET enable_indexscan = off; $q");
	my $ios = $node->safe_psql('postgres',
		"SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*) || ':' || coalesce(sum(id::bigint), 0) FROM t WHERE id > -1000000");
	my $ios_seq = $node->safe_psql('postgres',
		"SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off; SELECT count(*) || ':' || coalesce(sum(id::bigint), 0) FROM t WHERE id > -1000000");
	is($idx, $seq, "round $round: index scan = seq scan ($seq)");
	is($bmp, $seq, "round $round: bitmap scan = seq scan");
	is($ios, $ios_seq, "round $round: index-only scan = seq scan");
	my ($ret, $out, $err) = $node->psql('postgres', q{
		SELECT bt_index_check(indexrelid, true) FROM pg_index WHERE indrelid = 't'::regclass});
	is($ret, 0, "round $round: amcheck bt_index_check(heapallindexed) passes")
	  or diag $err;
}

my $start = time();
for my $round (1 .. $rounds)
{
	my $w = start_writers($node, 't', $round * 10000000, 3, $maint);
	# let the writers run for a while, then kill everything at once
	my $acked_before = 0;
	for (1 .. 60)
	{
		select(undef, undef, undef, 0.1);
		last if time() - $start > 100;
	}
	kill9_server($node);
	my @bad = stop_writers($w);
	is(scalar(@bad), 0, "round $round: maintenance ran without errors") or diag join("\n", @bad);

	$node->start;
	my ($problems, $acked) = check_writers($node, 't', $w);
	cmp_ok($acked, '>', 0, "round $round: the writers got acknowledgements ($acked)");
	is($problems, 0, "round $round: every acknowledged change survived the crash");
	index_agreement($round);
	is($node->safe_psql('postgres', qq{
		INSERT INTO t VALUES (-9000000 - $round, 1, 'after') RETURNING v}), '1',
		"round $round: the table takes writes after recovery");
	last if time() - $start > 100;
}

ok($node->log_contains('database system was not properly shut down|database system was interrupted'),
	'the server went through crash recovery');
$node->stop;
done_testing();
