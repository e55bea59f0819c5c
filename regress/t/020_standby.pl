#
# 020_standby.pl: a streaming hot standby of a primary with phantom tables
# returns the same query results as the primary after DML, VACUUM, VACUUM
# FREEZE + compaction, index builds, TRUNCATE and ALTER TABLE rewrites, through
# sequential, index, bitmap and index-only scans; queries on the standby run
# while the primary keeps changing.
#
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin, "$FindBin::RealBin/..";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PhantomTest;

my $primary = phantom_node('primary', allows_streaming => 1);
$primary->start;
create_phantom($primary);
$primary->safe_psql('postgres', q{
	CREATE TABLE s (id int PRIMARY KEY, grp int, v text);
	CREATE INDEX s_grp ON s (grp);
	INSERT INTO s SELECT i, i % 20, md5(i::text) FROM generate_series(1, 5000) i;
	CREATE UNLOGGED TABLE u (a int);
	INSERT INTO u VALUES (1);
});
$primary->backup('b1');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b1', has_streaming => 1);
# a standby query in conflict with replay is cancelled after 2s, not 30s
$standby->append_conf('postgresql.conf', "max_standby_streaming_delay = 2s\n");
$standby->start;
$primary->wait_for_catchup($standby);

my @queries = (
	q{SELECT count(*), sum(id), count(DISTINCT v), sum(grp) FROM s},
	q{SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*), sum(id) FROM s WHERE grp = 7},
	q{SET enable_seqscan = off; SET enable_indexscan = off; SELECT count(*), sum(id) FROM s WHERE grp IN (3, 4)},
	q{SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*), sum(id) FROM s WHERE id BETWEEN 100 AND 4000},
	q{SELECT md5(string_agg(id || ':' || grp || ':' || v, ',' ORDER BY id)) FROM s},
	q{SELECT ctid, id FROM s WHERE id % 500 = 0 ORDER BY id},
);
sub check
{
	my ($what) = @_;
	$primary->wait_for_catchup($standby);
	note "checking after $what";
	compare_nodes($primary, $standby, 'postgres', @queries);
}

check('the base backup');

$primary->safe_psql('postgres', q{
	UPDATE s SET v = 'upd' WHERE id % 3 = 0;
	UPDATE s SET grp = grp + 100 WHERE id % 11 = 0;
	DELETE FROM s WHERE id % 7 = 0;
	INSERT INTO s SELECT i, i % 20, 'new' FROM generate_series(5001, 6000) i;
});
check('DML');

$primary->safe_psql('postgres', 'VACUUM s');
check('VACUUM');
is($standby->safe_psql('postgres',
	q{SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*) FROM s WHERE id > 0}),
	$primary->safe_psql('postgres', q{SELECT count(*) FROM s}),
	'index-only scan on the standby after VACUUM (visibility map replayed)');

$primary->safe_psql('postgres', compact_sql('s'));
check('VACUUM FREEZE and compaction');

$primary->safe_psql('postgres', q{
	UPDATE s SET v = 'cold-upd' WHERE id % 10 = 1;
	DELETE FROM s WHERE id % 10 = 2;
	CREATE INDEX s_v ON s (v);
});
check('changes of compacted rows and an index build');

# a long query on the standby while the primary changes and vacuums
my $bg = $standby->background_psql('postgres');
$bg->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
my $before = $bg->query_safe('SELECT count(*), sum(id) FROM s');
$primary->safe_psql('postgres', q{DELETE FROM s WHERE id % 10 = 3; VACUUM s;});
$primary->wait_for_catchup($standby);
my $during = eval { $bg->query_safe('SELECT count(*), sum(id) FROM s') };
if (defined $during)
{
	is($during, $before, 'a standby snapshot keeps its rows while the primary vacuums');
}
else
{
	# the standby cancels (or terminates) the query after
	# max_standby_streaming_delay: fine, if that is what happened
	ok($standby->log_contains('conflict with recovery'),
		'or is cancelled by a recovery conflict, cleanly') or diag $@;
}
eval { $bg->quit; };
check('DELETE + VACUUM under a standby query');

$primary->safe_psql('postgres', q{
	ALTER TABLE s ALTER COLUMN v TYPE varchar(100);
	VACUUM FULL s;
	CLUSTER s USING s_pkey;
});
check('ALTER TABLE rewrite, VACUUM FULL, CLUSTER');

$primary->safe_psql('postgres', q{
	BEGIN; TRUNCATE s; INSERT INTO s VALUES (1, 1, 'after truncate'); COMMIT;
});
check('TRUNCATE');

# an unlogged table is empty-but-usable on the standby after promotion
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM u'), '0',
	'unlogged table is empty on the promoted standby');
$standby->safe_psql('postgres', q{INSERT INTO u VALUES (2); INSERT INTO s VALUES (2, 2, 'promoted')});
is($standby->safe_psql('postgres', 'SELECT count(*) FROM s'), '2', 'the promoted standby takes writes');

ok(!$standby->log_contains('PANIC|FATAL:  inconsistent|TRAP'), 'no PANIC or assertion failure on the standby');
$standby->stop;
$primary->stop;
done_testing();
