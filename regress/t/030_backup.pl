#
# 030_backup.pl: PostgreSQL's backup tools give identical phantom tables:
# pg_dump -Fc | pg_restore into a new database (tables stay phantom tables),
# and pg_basebackup + WAL replay from the archive of changes made after the
# backup (including VACUUM FREEZE + compaction).
#
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin, "$FindBin::RealBin/..";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PhantomTest;

my $node = phantom_node('main', allows_streaming => 1, has_archiving => 1);
$node->start;
create_phantom($node);
$node->safe_psql('postgres', q{
	CREATE TABLE b (id int PRIMARY KEY, grp int, v text, big text);
	CREATE INDEX b_grp ON b (grp);
	INSERT INTO b SELECT i, i % 13, md5(i::text),
	       CASE WHEN i % 100 = 0 THEN repeat(md5(i::text), 500) END
	  FROM generate_series(1, 4000) i;
	DELETE FROM b WHERE id % 9 = 0;
	UPDATE b SET v = 'upd' WHERE id % 4 = 0;
	CREATE TABLE p (k int, d text) PARTITION BY RANGE (k);
	CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (1000);
	CREATE TABLE p2 PARTITION OF p FOR VALUES FROM (1000) TO (2000);
	INSERT INTO p SELECT i, 'p' || i FROM generate_series(0, 1999) i;
	CREATE MATERIALIZED VIEW mv AS SELECT grp, count(*) AS n FROM b GROUP BY grp;
});
$node->safe_psql('postgres', compact_sql('b'));
$node->safe_psql('postgres', q{UPDATE b SET grp = grp + 1 WHERE id % 10 = 1; REFRESH MATERIALIZED VIEW mv;});

my @queries = (
	q{SELECT count(*), sum(id), sum(grp), md5(string_agg(id || v || coalesce(md5(big), ''), ',' ORDER BY id)) FROM b},
	q{SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*), sum(id) FROM b WHERE grp = 5},
	q{SELECT count(*), md5(string_agg(k || d, ',' ORDER BY k)) FROM p},
	q{SELECT md5(string_agg(grp || ':' || n, ',' ORDER BY grp)) FROM mv},
);
my $am_check = q{SELECT string_agg(c.relname || '=' || (a.amname = current_setting('default_table_access_method')), ',' ORDER BY c.relname)
	FROM pg_class c JOIN pg_am a ON a.oid = c.relam
	WHERE c.relname IN ('b', 'p1', 'p2', 'mv')};

# pg_dump / pg_restore
my $dump = $node->basedir . '/dump.fc';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump -Fc');
# into an empty database: the dump creates schema phantom and the extension
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump ],
	'pg_restore');
for my $q (@queries)
{
	is($node->safe_psql('restored', $q), $node->safe_psql('postgres', $q), "restored = original: $q");
}
is($node->safe_psql('restored', $am_check), 'b=true,mv=true,p1=true,p2=true',
	'restored tables use the AM under test');
# a plain-format dump of one table restores into a database with the extension
my $sql = $node->basedir . '/dump.sql';
$node->command_ok([ 'pg_dump', '-f', $sql, '-t', 'b', '-d', $node->connstr('postgres') ], 'pg_dump plain');
$node->safe_psql('postgres', 'CREATE DATABASE restored2');
create_phantom($node, 'restored2');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $sql, '-d', $node->connstr('restored2') ],
	'plain dump restored with psql');
is($node->safe_psql('restored2', $queries[0]), $node->safe_psql('postgres', $queries[0]),
	'plain restore = original');

# pg_basebackup, then changes, then replay of the archived WAL
$node->backup('bb');
$node->safe_psql('postgres', q{
	INSERT INTO b SELECT i, i % 13, 'after backup', NULL FROM generate_series(4001, 5000) i;
	UPDATE b SET v = 'after backup' WHERE id % 5 = 0;
	DELETE FROM b WHERE id % 11 = 0;
	VACUUM b;
	TRUNCATE p2;
	INSERT INTO p SELECT i, 'again' FROM generate_series(1000, 1100) i;
	REFRESH MATERIALIZED VIEW mv;
});
$node->safe_psql('postgres', compact_sql('b'));
$node->safe_psql('postgres', q{UPDATE b SET big = 'x' WHERE id % 100 = 0; SELECT pg_switch_wal();});
$node->poll_query_until('postgres',
	q{SELECT last_archived_wal IS NOT NULL AND last_archived_wal >= pg_walfile_name(pg_current_wal_lsn() - 1) FROM pg_stat_archiver})
  or die 'WAL archiving timed out';

my $restored = PostgreSQL::Test::Cluster->new('restored');
$restored->init_from_backup($node, 'bb', has_restoring => 1);
$restored->append_conf('postgresql.conf', "recovery_target_action = 'promote'\n");
# archive recovery to the end of the archive, then promotion
unlink($restored->data_dir . '/standby.signal');
open my $fh, '>', $restored->data_dir . '/recovery.signal' or die $!;
close $fh;
$restored->start;
$restored->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'recovery did not finish';
for my $q (@queries)
{
	is($restored->safe_psql('postgres', $q), $node->safe_psql('postgres', $q),
		"basebackup + WAL replay = original: $q");
}
is($restored->safe_psql('postgres', $am_check), 'b=true,mv=true,p1=true,p2=true',
	'tables of the restored cluster use the AM under test');
$restored->safe_psql('postgres', q{INSERT INTO b VALUES (-1, 0, 'restored cluster', NULL)});
is($restored->safe_psql('postgres', 'SELECT v FROM b WHERE id = -1'), 'restored cluster',
	'the restored cluster takes writes');
ok(!$restored->log_contains('PANIC|TRAP'), 'no PANIC during replay');

$restored->stop;
$node->stop;
done_testing();
