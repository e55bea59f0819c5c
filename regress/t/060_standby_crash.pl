#
# 060_standby_crash.pl: kill -9 of a hot standby (all its processes) while
# it replays a primary's concurrent writers, VACUUM and compaction, twice;
# after each restart it resumes replay from its last restartpoint (records
# replayed again over pages that may already carry them), catches up, and
# returns the primary's results through every access path.
#
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin, "$FindBin::RealBin/..";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PhantomTest;

my $primary = phantom_node('primary', allows_streaming => 1,
	conf => "wal_keep_size = '1GB'\ncheckpoint_timeout = 30s\n");
$primary->start;
create_phantom($primary);
$primary->safe_psql('postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, v int, pad text);
	CREATE INDEX t_v ON t (v);
	INSERT INTO t SELECT -i, 0, 'seed' FROM generate_series(1, 3000) i;
});
$primary->backup('b1');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b1', has_streaming => 1);
# frequent restartpoints, so that a crash replays over flushed pages
$standby->append_conf('postgresql.conf', "checkpoint_timeout = 30s\n");
$standby->start;

my $w = start_writers($primary, 't', 0, 3,
	"VACUUM t;\nCHECKPOINT;\n" . compact_sql('t'));
for my $round (1 .. 2)
{
	sleep 3;
	$standby->safe_psql('postgres', 'CHECKPOINT');    # a restartpoint
	sleep 1;
	kill9_server($standby);
	$standby->start;
	ok(1, "round $round: the standby restarted after kill -9");
}
sleep 2;
kill_writers($w);
$primary->wait_for_catchup($standby);

compare_nodes($primary, $standby, 'postgres',
	q{SELECT count(*), sum(id::bigint), sum(v::bigint), md5(string_agg(id || ':' || v || ':' || length(pad), ',' ORDER BY id)) FROM t},
	q{SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*), sum(id::bigint) FROM t WHERE id > -1000000},
	q{SET enable_seqscan = off; SET enable_indexscan = off; SELECT count(*), sum(id::bigint) FROM t WHERE v > 100},
	q{SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*) FROM t WHERE v BETWEEN 1 AND 1000});
cmp_ok($primary->safe_psql('postgres', 'SELECT count(*) FROM t WHERE id > 0'), '>', 100,
	'the writers wrote rows during the standby crashes');
ok(!$standby->log_contains('PANIC|TRAP|FATAL:  .*(redo|replay|page|invalid)'),
	'no PANIC or replay failure on the standby');
$standby->stop;
$primary->stop;
done_testing();
