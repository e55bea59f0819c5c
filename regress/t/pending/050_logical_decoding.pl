#
# 050_logical_decoding.pl: logical decoding (test_decoding) and logical
# replication (publication/subscription) see the changes of phantom tables
# exactly as they see heap's: the same DML on a heap table and on a table
# of the AM under test decodes to the same change stream, and a subscriber
# receives the same rows.
#
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin, "$FindBin::RealBin/..";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PhantomTest;

my $node = phantom_node('pub', allows_streaming => 'logical');
$node->start;
create_phantom($node);

# the same workload on table x of the AM under test and on heap table x
# in schema h: only the schema name differs in the decoded stream
my $ddl = q{
	CREATE TABLE %s.x (id int PRIMARY KEY, v text, big text) %s;
	ALTER TABLE %s.x REPLICA IDENTITY FULL;
};
my $dml = q{
	INSERT INTO %1$s.x VALUES (1, 'one', NULL), (2, 'two', NULL), (3, 'three', repeat('t', 5000));
	UPDATE %1$s.x SET v = 'uno' WHERE id = 1;
	UPDATE %1$s.x SET id = 20 WHERE id = 2;
	DELETE FROM %1$s.x WHERE id = 3;
	BEGIN; INSERT INTO %1$s.x VALUES (4, 'rolled back', NULL); ROLLBACK;
	BEGIN; INSERT INTO %1$s.x VALUES (5, 'sub', NULL); SAVEPOINT a; INSERT INTO %1$s.x VALUES (6, 'undone', NULL); ROLLBACK TO a; COMMIT;
	INSERT INTO %1$s.x VALUES (1, 'conflict', NULL) ON CONFLICT (id) DO UPDATE SET v = 'upserted';
	TRUNCATE %1$s.x;
	INSERT INTO %1$s.x SELECT i, 'bulk' || i, NULL FROM generate_series(100, 110) i;
};
$node->safe_psql('postgres', q{
	CREATE SCHEMA a; CREATE SCHEMA h;
} . sprintf($ddl, 'a', '', 'a') . sprintf($ddl, 'h', 'USING heap', 'h'));
is($node->safe_psql('postgres', q{
	SELECT string_agg(n.nspname || '=' || am.amname, ',' ORDER BY n.nspname)
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am am ON am.oid = c.relam
	 WHERE c.relname = 'x'}), 'a=' . test_am() . ',h=heap', 'x is a ' . test_am() . ' table in a, heap in h');

$node->safe_psql('postgres',
	q{SELECT pg_create_logical_replication_slot('s', 'test_decoding')});
$node->safe_psql('postgres', sprintf($dml, 'a'));
my $am_stream = $node->safe_psql('postgres',
	q{SELECT data FROM pg_logical_slot_get_changes('s', NULL, NULL, 'include-xids', '0', 'skip-empty-xacts', '1')});
$node->safe_psql('postgres', sprintf($dml, 'h'));
my $heap_stream = $node->safe_psql('postgres',
	q{SELECT data FROM pg_logical_slot_get_changes('s', NULL, NULL, 'include-xids', '0', 'skip-empty-xacts', '1')});
$heap_stream =~ s/\bh\.x\b/a.x/g;
like($heap_stream, qr/INSERT: id\[integer\]:1/, 'heap changes are decoded');
# compare line by line, long values shortened, so a failure reads well
my @am = map { s/'(.{20}).{40,}'/'$1...'/gr } split /\n/, $am_stream;
my @heap = map { s/'(.{20}).{40,}'/'$1...'/gr } split /\n/, $heap_stream;
is_deeply(\@am, \@heap, 'the decoded change stream equals heap\'s');

# logical replication to a subscriber whose tables use the AM under test
my $sub = phantom_node('sub');
$sub->start;
create_phantom($sub);
$sub->safe_psql('postgres', q{CREATE SCHEMA a;} . sprintf($ddl, 'a', '', 'a'));
$node->safe_psql('postgres', q{CREATE PUBLICATION p FOR TABLE a.x});
$sub->safe_psql('postgres',
	"CREATE SUBSCRIPTION sb CONNECTION '" . $node->connstr . " dbname=postgres' PUBLICATION p");
$node->wait_for_catchup('sb');
$node->safe_psql('postgres', q{
	INSERT INTO a.x VALUES (200, 'after subscribe', repeat('s', 3000));
	UPDATE a.x SET v = 'changed' WHERE id = 100;
	DELETE FROM a.x WHERE id = 101;
});
$node->wait_for_catchup('sb');
my $q = q{SELECT md5(string_agg(id || ':' || v || ':' || coalesce(md5(big), ''), ',' ORDER BY id)) FROM a.x};
is($sub->safe_psql('postgres', $q), $node->safe_psql('postgres', $q),
	'the subscriber has the publisher\'s rows');

$sub->stop;
$node->stop;
done_testing();
