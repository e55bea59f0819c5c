#
# 040_wal_consistency.pl: wal_consistency_checking = 'phantom' (phantom's
# custom WAL resource manager) on a primary with a streaming standby; the
# standby compares every replayed phantom record's page with the full-page
# image from the primary (masked by rm_mask).  A workload of inserts,
# updates (same-page and cross-page), deletes, row locks, aborts, VACUUM,
# VACUUM FREEZE + compaction, TRUNCATE and unlogged tables must replay with
# no "inconsistent page" FATAL, and the standby must agree with the primary.
#
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin, "$FindBin::RealBin/..";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PhantomTest;

# 'phantom' names the custom rmgr; on heap (PHANTOM_TEST_AM=heap) check heap's
my $rmgrs = test_am() eq 'phantom' ? 'phantom' : 'heap,heap2';
my $primary = phantom_node('primary', allows_streaming => 1,
	conf => "wal_consistency_checking = '$rmgrs'\nwal_keep_size = '1GB'\n");
$primary->start;
create_phantom($primary);
is($primary->safe_psql('postgres', 'SHOW wal_consistency_checking'), $rmgrs,
	"wal_consistency_checking = '$rmgrs' is accepted");
$primary->safe_psql('postgres', 'CREATE EXTENSION pg_walinspect');
my $start_lsn = $primary->lsn('insert');
$primary->backup('b1');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b1', has_streaming => 1);
$standby->start;

$primary->safe_psql('postgres', q{
	CREATE TABLE w (id int PRIMARY KEY, n int, v text) WITH (fillfactor = 80);
	CREATE INDEX w_n ON w (n);
	INSERT INTO w SELECT i, i % 17, md5(i::text) FROM generate_series(1, 3000) i;
	UPDATE w SET v = v || 'x' WHERE id % 3 = 0;                       -- same page (HOT)
	UPDATE w SET n = n + 1 WHERE id % 5 = 0;                          -- index key
	UPDATE w SET v = repeat(v, 40) WHERE id % 50 = 0;                 -- grows: other page
	DELETE FROM w WHERE id % 7 = 0;
	BEGIN; INSERT INTO w VALUES (100000, 0, 'aborted'); UPDATE w SET n = -1 WHERE id < 100; ROLLBACK;
	BEGIN; SELECT id FROM w WHERE id < 50 FOR UPDATE; COMMIT;
	BEGIN; SELECT id FROM w WHERE id < 50 FOR KEY SHARE; SAVEPOINT a; SELECT id FROM w WHERE id < 20 FOR SHARE; COMMIT;
	INSERT INTO w VALUES (1, 0, 'dup') ON CONFLICT (id) DO UPDATE SET v = 'upserted';
	INSERT INTO w VALUES (100001, 0, 'new') ON CONFLICT DO NOTHING;
	COPY w FROM PROGRAM 'seq 200001 202000 | sed "s/$/\t1\tcopied/"';
	VACUUM w;
});
$primary->safe_psql('postgres', compact_sql('w'));
$primary->safe_psql('postgres', q{
	UPDATE w SET v = 'cold update' WHERE id % 10 = 1;
	DELETE FROM w WHERE id % 10 = 2;
	SELECT id FROM w WHERE id % 10 = 3 FOR UPDATE;
	VACUUM (FREEZE) w;
	CREATE TEMP TABLE tmp AS SELECT * FROM w;
	CREATE UNLOGGED TABLE ul AS SELECT * FROM w WHERE id < 1000;
	UPDATE ul SET n = 0;
	CREATE TABLE tr AS SELECT * FROM w WHERE id < 500;
	TRUNCATE tr;
	INSERT INTO tr VALUES (1, 1, 'after truncate');
	ALTER TABLE w ALTER COLUMN v TYPE varchar(2000);
	CLUSTER w USING w_pkey;
});
$primary->safe_psql('postgres', compact_sql('w'));
$primary->safe_psql('postgres', q{UPDATE w SET n = n + 1 WHERE id % 4 = 0; CHECKPOINT;});
$primary->safe_psql('postgres', q{UPDATE w SET n = n + 1 WHERE id % 4 = 0;});

# then concurrent writers (three insertion lanes at once) with VACUUM
# FREEZE + compaction in a loop, for a few seconds
$primary->safe_psql('postgres', q{CREATE TABLE cw (id int PRIMARY KEY, v int, pad text)});
my $w = start_writers($primary, 'cw', 0, 3, "VACUUM cw;\n" . compact_sql('cw'));
sleep 6;
kill_writers($w);
cmp_ok($primary->safe_psql('postgres', 'SELECT count(*) FROM cw'), '>', 100,
	'the concurrent writers wrote rows');

# run-page rewrite: random updates leave run pages partly dead, the next
# compaction moves their live frames (SHRINK run rewrite records) and counts
# its bytes (COUNTERS records)
$primary->safe_psql('postgres', q{
	CREATE TABLE rr (a int PRIMARY KEY, b int, c text);
	INSERT INTO rr SELECT g, g % 100, repeat('r', 15 + g % 21) || g FROM generate_series(1, 20000) g;
});
$primary->safe_psql('postgres', compact_sql('rr'));
$primary->safe_psql('postgres', q{
	SELECT setseed(0.75);
	UPDATE rr SET b = b + 1 WHERE a IN (SELECT (random() * 19999)::int + 1 FROM generate_series(1, 300));
});
$primary->safe_psql('postgres', "SET phantom.compaction_run_rewrite_ratio = 0.9;\n" . compact_sql('rr'))
  if test_am() eq 'phantom';
$primary->wait_for_catchup($standby);

# the workload wrote records of the rmgr under test, with page images to check
my $am_rmgr = test_am() eq 'phantom' ? 'phantom' : 'Heap';
my $stats = $primary->safe_psql('postgres', qq{
	SELECT count > 0 AND fpi_size > 0 FROM pg_get_wal_stats('$start_lsn', pg_current_wal_flush_lsn())
	 WHERE "resource_manager/record_type" = '$am_rmgr'});
is($stats, 't', "the workload wrote $am_rmgr WAL records with page images");
if (test_am() eq 'phantom')
{
	# thaws log the compressed frame and redo rebuilds the page from it
	cmp_ok($primary->safe_psql('postgres', qq{
		SELECT count(*) FROM pg_get_wal_records_info('$start_lsn', pg_current_wal_flush_lsn())
		 WHERE resource_manager = 'phantom' AND record_type = 'THAW'}),
		'>', 0, 'the workload thawed cold vblocks (checked on replay)');
	cmp_ok($primary->safe_psql('postgres', qq{
		SELECT count(*) FROM pg_get_wal_records_info('$start_lsn', pg_current_wal_flush_lsn())
		 WHERE resource_manager = 'phantom' AND record_type = 'SHRINK' AND description LIKE 'run rewrite%'}),
		'>', 0, 'compaction rewrote sparse run pages (checked on replay)');
	cmp_ok($primary->safe_psql('postgres', qq{
		SELECT count(*) FROM pg_get_wal_records_info('$start_lsn', pg_current_wal_flush_lsn())
		 WHERE resource_manager = 'phantom' AND record_type = 'COUNTERS'}),
		'>', 0, 'compaction logged its byte counters (checked on replay)');
	is($standby->safe_psql('postgres', q{
		SELECT compaction_written_bytes FROM phantom.stat_tables WHERE name = 'rr'}),
		$primary->safe_psql('postgres', q{
		SELECT compaction_written_bytes FROM phantom.stat_tables WHERE name = 'rr'}),
		'the standby replays the compaction counters');
}
is($primary->safe_psql('postgres', qq{
	SELECT count(*) FROM pg_get_wal_records_info('$start_lsn', pg_current_wal_flush_lsn())
	 WHERE resource_manager = 'phantom' AND description LIKE '%logical%'}), '0',
	'at wal_level = replica no record carries logical-decoding data');

compare_nodes($primary, $standby, 'postgres',
	q{SELECT count(*), sum(id), sum(n), md5(string_agg(id || ':' || n || ':' || v, ',' ORDER BY id)) FROM w},
	q{SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*), sum(id) FROM w WHERE n = 3},
	q{SELECT count(*) FROM tr},
	q{SELECT count(*), sum(b), md5(string_agg(a || ':' || b || ':' || c, ',' ORDER BY a)) FROM rr},
	q{SELECT count(*), sum(id::bigint), sum(v::bigint), md5(string_agg(id || ':' || v, ',' ORDER BY id)) FROM cw},
	q{SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*), sum(id::bigint) FROM cw WHERE id > 0});
ok(!$standby->log_contains('inconsistent page found'), 'no inconsistent page found during replay');
ok(!$standby->log_contains('PANIC|TRAP|startup process .* terminated|FATAL:  .*(redo|replay|page)'),
	'no FATAL or PANIC of the startup process on the standby');
ok(!$primary->log_contains('PANIC|TRAP'), 'no PANIC on the primary');
$standby->stop;
$primary->stop;
done_testing();
