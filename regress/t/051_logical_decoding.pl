#
# 051_logical_decoding.pl: logical decoding (test_decoding) and logical
# replication (publication/subscription) see the changes of phantom tables
# exactly as they see heap's.  The same workload runs on tables of the AM
# under test (schema a) and on heap tables (schema h) of the same server;
# the two decoded change streams must be identical once the schema name is
# replaced: inserts, multi-row and COPY (multi-insert) inserts, COPY FREEZE,
# HOT and non-HOT updates, updates that move a row to another page, key
# updates, deletes, REPLICA IDENTITY DEFAULT / FULL / USING INDEX /
# NOTHING, TOASTed values (inline-compressed and out of line, in new rows,
# in old keys, unchanged in updates), ON CONFLICT (also a race that makes
# the loser super-delete its speculative tuple), aborted transactions and
# subtransactions, prepared transactions, TRUNCATE, VACUUM FULL / CLUSTER /
# ALTER TABLE rewrites (which decode to nothing), cold (compacted) rows,
# changes in another database and changes with a replication origin
# (only-local filter).  logical_decoding_work_mem is tiny, so transactions
# spill to disk.  A standby replays it all with wal_consistency_checking.
# Then a publication of tables of the AM under test replicates (streaming
# large transactions) to a subscriber whose tables use the AM under test
# and heap.
#
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin, "$FindBin::RealBin/..";
use Digest::MD5 qw(md5_hex);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PhantomTest;

# a streaming standby checks every replayed record of the AM under test
# against page images (the logical-decoding data must not disturb redo)
my $rmgrs = test_am() eq 'phantom' ? 'phantom' : 'heap,heap2';
my $node = phantom_node('pub', allows_streaming => 'logical',
	conf => "logical_decoding_work_mem = '64kB'\nmax_replication_slots = 10\nwal_keep_size = '1GB'\n"
	  . "wal_consistency_checking = '$rmgrs'\n");
$node->start;
create_phantom($node);
$node->safe_psql('postgres', 'CREATE EXTENSION pg_walinspect');
my $start_lsn = $node->lsn('insert');
$node->backup('b1');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'b1', has_streaming => 1);
$standby->start;
$node->safe_psql('postgres', 'CREATE DATABASE other');
create_phantom($node, 'other');

# __S__ is the schema, __U__ "USING heap" for schema h
my $ddl = q{
CREATE SCHEMA __S__;
CREATE TABLE __S__.x (id int PRIMARY KEY, v text, big text) __U__;
CREATE TABLE __S__.f (id int PRIMARY KEY, v text, big text) __U__;
ALTER TABLE __S__.f REPLICA IDENTITY FULL;
CREATE TABLE __S__.u (id int NOT NULL, k text NOT NULL, v text) __U__;
CREATE UNIQUE INDEX ON __S__.u (k);
ALTER TABLE __S__.u REPLICA IDENTITY USING INDEX u_k_idx;
CREATE TABLE __S__.nk (id int, v text) __U__;
CREATE TABLE __S__.nothing (id int PRIMARY KEY, v text) __U__;
ALTER TABLE __S__.nothing REPLICA IDENTITY NOTHING;
CREATE TABLE __S__.c (id int PRIMARY KEY, v text, big text) __U__;
CREATE UNLOGGED TABLE __S__.unlogged (id int) __U__;
-- gate() holds an inserter at its second call (the index insertion after
-- the speculative insertion) while gate.wait is on, until lock 4242 is free
CREATE FUNCTION __S__.gate(text) RETURNS text IMMUTABLE LANGUAGE plpgsql AS $$
DECLARE
	n int := coalesce(nullif(current_setting('gate.calls', true), ''), '0')::int + 1;
BEGIN
	PERFORM set_config('gate.calls', n::text, false);
	IF n = 2 AND current_setting('gate.wait', true) = 'on' THEN
		PERFORM pg_advisory_lock_shared(4242);
	END IF;
	RETURN $1;
END $$;
CREATE TABLE __S__.sc (key text, v text) __U__;
CREATE UNIQUE INDEX ON __S__.sc (__S__.gate(key));
};

# an incompressible value of n bytes (stored out of line when long)
sub noise
{
	my ($n, $seed) = @_;
	my $s = '';
	$s .= md5_hex("$seed-" . length($s)) while length($s) < $n;
	return substr($s, 0, $n);
}

# COPY data: rows of c, every third one with an out-of-line value, so
# that one multi_insert call spans several pages and several records
my $copy_rows = join('', map {
	"$_\tcopy$_\t" . ($_ % 3 == 0 ? noise(3000, $_) : '\N') . "\n"
} 1 .. 400);
my $freeze_rows = join('', map { "$_\tfrozen$_\t\\N\n" } 1 .. 300);

my $dml = qq{
CHECKPOINT;
INSERT INTO __S__.x VALUES (1, 'one', NULL), (2, 'two', NULL), (3, 'three', repeat('t', 5000));
INSERT INTO __S__.x SELECT i, 'row' || i, NULL FROM generate_series(10, 60) i;
UPDATE __S__.x SET v = 'uno' WHERE id = 1;
UPDATE __S__.x SET id = 20000 WHERE id = 2;
UPDATE __S__.x SET v = v || repeat('+', 400) WHERE id BETWEEN 10 AND 40;
DELETE FROM __S__.x WHERE id = 11;
INSERT INTO __S__.x VALUES (4, 'out of line', '@{[ noise(6000, 'x4') ]}');
UPDATE __S__.x SET v = 'toast unchanged' WHERE id = 4;
UPDATE __S__.x SET big = '@{[ noise(5000, 'x4b') ]}' WHERE id = 4;
UPDATE __S__.x SET id = 5 WHERE id = 4;
DELETE FROM __S__.x WHERE id = 5;
BEGIN; INSERT INTO __S__.x VALUES (6, 'rolled back', NULL); UPDATE __S__.x SET v = 'rb' WHERE id = 1; DELETE FROM __S__.x WHERE id = 3; ROLLBACK;
BEGIN;
INSERT INTO __S__.x VALUES (7, 'sub', NULL);
SAVEPOINT a; INSERT INTO __S__.x VALUES (8, 'undone', NULL); UPDATE __S__.x SET v = 'undone' WHERE id = 7; ROLLBACK TO a;
SAVEPOINT b; INSERT INTO __S__.x VALUES (9, 'kept', repeat('k', 3000)); RELEASE b;
UPDATE __S__.x SET v = 'after savepoints' WHERE id = 7;
COMMIT;
INSERT INTO __S__.x VALUES (1, 'conflict', NULL) ON CONFLICT (id) DO UPDATE SET v = 'upserted';
INSERT INTO __S__.x VALUES (1, 'ignored', NULL) ON CONFLICT DO NOTHING;
INSERT INTO __S__.x VALUES (100, 'spec new', NULL) ON CONFLICT DO NOTHING;
INSERT INTO __S__.x VALUES (101, 'spec toast', '@{[ noise(4000, 's101') ]}') ON CONFLICT (id) DO UPDATE SET v = 'never';
INSERT INTO __S__.x VALUES (101, 'again', NULL), (102, 'fresh', NULL) ON CONFLICT (id) DO UPDATE SET v = excluded.v || ' upserted';

INSERT INTO __S__.f VALUES (1, 'one', NULL), (2, 'two', '@{[ noise(4000, 'f2') ]}'), (3, 'three', repeat('c', 8000));
UPDATE __S__.f SET v = 'uno' WHERE id = 1;
UPDATE __S__.f SET v = 'dos' WHERE id = 2;
UPDATE __S__.f SET id = 30 WHERE id = 3;
DELETE FROM __S__.f WHERE id = 2;
DELETE FROM __S__.f WHERE id = 1;

INSERT INTO __S__.u VALUES (1, 'k1', 'v1'), (2, '@{[ noise(2000, 'uk2') ]}', '@{[ noise(3000, 'uv2') ]}');
UPDATE __S__.u SET v = 'v1 changed' WHERE id = 1;
UPDATE __S__.u SET k = 'k1 changed' WHERE id = 1;
UPDATE __S__.u SET v = 'v2 changed' WHERE id = 2;
DELETE FROM __S__.u WHERE id = 2;

INSERT INTO __S__.nk VALUES (1, 'a'), (2, 'b');
UPDATE __S__.nk SET v = 'c' WHERE id = 1;
DELETE FROM __S__.nk WHERE id = 2;
INSERT INTO __S__.nothing VALUES (1, 'a');
UPDATE __S__.nothing SET v = 'b';
DELETE FROM __S__.nothing;
INSERT INTO __S__.unlogged VALUES (1);
UPDATE __S__.unlogged SET id = 2;

COPY __S__.c FROM stdin;
$copy_rows\\.
CHECKPOINT;
UPDATE __S__.c SET v = 'copied and changed' WHERE id % 50 = 0;
BEGIN;
TRUNCATE __S__.c;
COPY __S__.c FROM stdin WITH (FREEZE);
$freeze_rows\\.
COMMIT;

VACUUM FULL __S__.f;
CLUSTER __S__.x USING x_pkey;
ALTER TABLE __S__.u ALTER COLUMN v TYPE varchar(10000);
UPDATE __S__.f SET v = 'after VACUUM FULL' WHERE id = 30;
UPDATE __S__.u SET v = 'after rewrite' WHERE id = 1;
@{[ compact_sql('__S__.x') ]}
CHECKPOINT;
UPDATE __S__.x SET v = 'cold row updated' WHERE id = 50;
DELETE FROM __S__.x WHERE id = 51;
INSERT INTO __S__.x VALUES (52, 'dup', NULL) ON CONFLICT (id) DO UPDATE SET v = 'cold upsert';

BEGIN; INSERT INTO __S__.x VALUES (400, 'prepared', NULL); UPDATE __S__.x SET v = 'prepared update' WHERE id = 1; PREPARE TRANSACTION 'p___S__';
COMMIT PREPARED 'p___S__';
BEGIN; INSERT INTO __S__.x VALUES (401, 'prepared, rolled back', NULL); PREPARE TRANSACTION 'q___S__';
ROLLBACK PREPARED 'q___S__';
SELECT pg_replication_origin_session_setup('origin___S__');
INSERT INTO __S__.x VALUES (300, 'from an origin', NULL);
SELECT pg_replication_origin_session_reset();
TRUNCATE __S__.nk;
};

# spec_race(schema): two sessions insert the same key into sc with ON
# CONFLICT DO NOTHING; both pass the conflict pre-check and insert their
# speculative tuple before either inserts its index entry, so the loser
# super-deletes its tuple (decoded as a speculative abort: nothing shows)
sub spec_race
{
	my ($s) = @_;
	my ($o, $e) = ('', '');
	my $gatekeeper = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
		  "SET application_name = 'gatekeeper'; SELECT pg_advisory_lock(4242); SELECT pg_sleep(300)" ],
		'>', \$o, '2>', \$e);
	$node->poll_query_until('postgres', q{
		SELECT count(*) = 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND granted})
	  or die 'gatekeeper did not take its lock';
	my @inserters = map {
		IPC::Run::start(
			[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
			  "SET gate.wait = 'on'; INSERT INTO $s.sc VALUES ('k', 'same') ON CONFLICT DO NOTHING" ],
			'>', \$o, '2>', \$e)
	} 1 .. 2;
	$node->poll_query_until('postgres', q{
		SELECT count(*) = 2 FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted})
	  or die 'the inserters did not reach the gate';
	$node->safe_psql('postgres',
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'gatekeeper'");
	$_->finish for @inserters;
	eval { $gatekeeper->finish; };
	return;
}

my %stream;
$node->safe_psql('postgres',
	"SELECT pg_create_logical_replication_slot('s', 'test_decoding')");
for my $s ('a', 'h')
{
	my $u = $s eq 'h' ? 'USING heap' : '';
	(my $d = $ddl) =~ s/__S__/$s/g;
	$d =~ s/__U__/$u/g;
	$node->safe_psql('postgres', $d);
	$node->safe_psql('postgres', "SELECT pg_replication_origin_create('origin_$s')");
	# DDL decodes to nothing; start after it
	$node->safe_psql('postgres',
		"SELECT count(*) FROM pg_logical_slot_get_changes('s', NULL, NULL)");

	(my $w = $dml) =~ s/__S__/$s/g;
	$node->safe_psql('postgres', $w);
	spec_race($s);
	# a change in another database is not in this database's stream
	$node->safe_psql('other',
		"CREATE TABLE IF NOT EXISTS o (id int); INSERT INTO o VALUES (1)");

	my $opts = q{'include-xids', '0', 'skip-empty-xacts', '1'};
	$stream{"$s local"} = $node->safe_psql('postgres',
		"SELECT data FROM pg_logical_slot_peek_changes('s', NULL, NULL, $opts, 'only-local', '1')");
	$stream{$s} = $node->safe_psql('postgres',
		"SELECT data FROM pg_logical_slot_get_changes('s', NULL, NULL, $opts)");
}
is($node->safe_psql('postgres', q{
	SELECT string_agg(DISTINCT n.nspname || '=' || am.amname, ',')
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	  JOIN pg_am am ON am.oid = c.relam
	 WHERE n.nspname IN ('a', 'h') AND c.relkind = 'r'}),
	'a=' . test_am() . ',h=heap',
	'the tables of a use ' . test_am() . ', those of h heap');

# long values by their md5, so that a failure reads well but every byte
# is still compared
sub lines
{
	my ($text, $s) = @_;
	$text =~ s/^table $s\./table S./mg;
	return [ map { s/'([^']{60,})'/"'md5:" . md5_hex($1) . "'"/ger }
		  split /\n/, $text ];
}
my @heap = @{ lines($stream{h}, 'h') };
my @am = @{ lines($stream{a}, 'a') };

# the heap stream shows what must be there (checks the test itself)
my %want = (
	'inserts' => qr/^table S\.x: INSERT: id\[integer\]:1 v\[text\]:'one'/,
	'HOT update' => qr/^table S\.x: UPDATE: id\[integer\]:1 v\[text\]:'uno'/,
	'key update with old key' => qr/^table S\.x: UPDATE: old-key: id\[integer\]:2 new-tuple: id\[integer\]:20000/,
	'delete with key' => qr/^table S\.x: DELETE: id\[integer\]:11$/,
	'unchanged TOAST value' => qr/^table S\.x: UPDATE: id\[integer\]:4 v\[text\]:'toast unchanged' big\[text\]:unchanged-toast-datum/,
	'out-of-line value reassembled' => qr/^table S\.x: INSERT: id\[integer\]:4 v\[text\]:'out of line' big\[text\]:'md5:/,
	'speculative insert confirmed' => qr/^table S\.x: INSERT: id\[integer\]:100 v\[text\]:'spec new'/,
	'ON CONFLICT update' => qr/^table S\.x: UPDATE: id\[integer\]:101 v\[text\]:'again upserted'/,
	'old tuple of REPLICA IDENTITY FULL' => qr/^table S\.f: DELETE: id\[integer\]:2 v\[text\]:'dos' big\[text\]:'md5:/,
	'old key USING INDEX' => qr/^table S\.u: UPDATE: old-key: k\[text\]:'k1' new-tuple:/,
	'COPY rows with out-of-line values' => qr/^table S\.c: INSERT: id\[integer\]:399 v\[text\]:'copy399' big\[text\]:'md5:/,
	'COPY FREEZE rows' => qr/^table S\.c: INSERT: id\[integer\]:300 v\[text\]:'frozen300'/,
	'TRUNCATE' => qr/^table S\.nk: TRUNCATE/,
	'update of a cold row' => qr/^table S\.x: UPDATE: id\[integer\]:50 v\[text\]:'cold row updated'/,
	'change after a table rewrite' => qr/^table S\.u: UPDATE: id\[integer\]:1 k\[text\]:'k1 changed' v\[character varying\]:'after rewrite'/,
	'change with an origin' => qr/^table S\.x: INSERT: id\[integer\]:300/,
	'committed prepared transaction' => qr/^table S\.x: INSERT: id\[integer\]:400 v\[text\]:'prepared'/,
	'the winner of a speculative insertion race' => qr/^table S\.sc: INSERT: key\[text\]:'k' v\[text\]:'same'$/,
);
for my $what (sort keys %want)
{
	ok((grep { $_ =~ $want{$what} } @heap), "heap stream has: $what");
}
ok(!(grep { /undone|rolled back|'rb'|unlogged|pg_temp|S\.o\b|table public\.o/ } @heap),
	'heap stream: nothing of aborted work, unlogged tables, rewrites or the other database');
ok(!(grep { /unchanged-toast-datum/ && /INSERT/ } @heap),
	'heap stream: every inserted TOAST value is reassembled');

is(scalar(grep { /^table S\.sc:/ } @heap), 1,
	'heap stream: one row of the speculative insertion race');
is($node->safe_psql('postgres', 'SELECT count(*) FROM a.sc') . ','
	  . $node->safe_psql('postgres', 'SELECT count(*) FROM h.sc'), '1,1',
	'one row each after the race');
if (test_am() eq 'phantom')
{
	cmp_ok($node->safe_psql('postgres', qq{
		SELECT count(*) FROM pg_get_wal_records_info('$start_lsn', pg_current_wal_flush_lsn())
		 WHERE resource_manager = 'phantom' AND description LIKE '%super_delete%'}), '>=', 1,
		'the race super-deleted a speculative tuple');
}
is(scalar(@am), scalar(@heap), 'the streams have the same number of lines ('
	  . scalar(@heap) . ')');
is_deeply(\@am, \@heap, 'the decoded change stream equals heap\'s');

my @heap_local = @{ lines($stream{'h local'}, 'h') };
my @am_local = @{ lines($stream{'a local'}, 'a') };
ok(!(grep { /S\.x: INSERT: id\[integer\]:300 / } @heap_local)
	  && @heap_local == @heap - 3,
	'only-local filters out the change with an origin (its whole transaction)')
  or diag scalar(@heap_local) . ' lines with only-local, ' . scalar(@heap) . ' without';
is_deeply(\@am_local, \@heap_local, 'the only-local stream equals heap\'s');

# the records carry their decoding data (pg_walinspect shows "logical")
# and replay consistently on the standby
if (test_am() eq 'phantom')
{
	is($node->safe_psql('postgres', qq{
		SELECT string_agg(DISTINCT record_type, ',' ORDER BY record_type)
		  FROM pg_get_wal_records_info('$start_lsn', pg_current_wal_flush_lsn())
		 WHERE resource_manager = 'phantom' AND description LIKE '%logical%'}),
		'INSERT,MULTI_INSERT,SET_HEADERS,UPDATE',
		'insert, multi-insert, header-change and update records say "logical"');
}
$node->wait_for_catchup($standby);
compare_nodes($node, $standby, 'postgres',
	map { "SELECT count(*), md5(string_agg(t::text, ',' ORDER BY t::text)) FROM $_ t" }
	  qw(a.x a.f a.u a.c h.x h.c));
ok(!$standby->log_contains('inconsistent page found'),
	'no inconsistent page found during replay');
$standby->stop;

# user catalog tables are read with historic snapshots by output plugins;
# phantom does not log what that needs, so it refuses the reloption
if (test_am() eq 'phantom')
{
	my ($ret, $out, $err) = $node->psql('postgres',
		'CREATE TABLE a.uc (id int) WITH (user_catalog_table = true)');
	like($err, qr/ERROR:  phantom table "uc" cannot be a user catalog table\n.*DETAIL: .*historic snapshots.*\n.*HINT: .*USING heap/,
		'CREATE TABLE ... WITH (user_catalog_table = true) is refused with a hint');
	($ret, $out, $err) = $node->psql('postgres',
		'ALTER TABLE a.x SET (user_catalog_table = true)');
	like($err, qr/phantom table "x" cannot be a user catalog table/,
		'ALTER TABLE ... SET (user_catalog_table = true) is refused');
	is($node->safe_psql('postgres', q{
		ALTER TABLE a.x SET (user_catalog_table = false);
		CREATE TABLE h.uc (id int) USING heap WITH (user_catalog_table = true);
		SELECT count(*) FROM pg_class WHERE relname = 'uc'}), '1',
		'user_catalog_table = false on phantom and true on heap are accepted');
}

# ---- logical replication round trip ----
$node->safe_psql('postgres', "SELECT pg_drop_replication_slot('s')");
my $sub = phantom_node('sub');
$sub->start;
create_phantom($sub);
# x, f, u: same AM on the subscriber; y (REPLICA IDENTITY FULL) and z:
# heap targets of tables of the AM under test
my $tables = q{
CREATE TABLE a.x (id int PRIMARY KEY, v text, big text) __U__;
CREATE TABLE a.f (id int PRIMARY KEY, v text, big text) __U__;
CREATE TABLE a.y (id int, v text, big text) __V__;
CREATE TABLE a.z (id int PRIMARY KEY, v text) __V__;
};
$node->safe_psql('postgres', q{
	DROP SCHEMA a CASCADE; CREATE SCHEMA a;
} . ($tables =~ s/__U__|__V__//gr) . q{
	ALTER TABLE a.f REPLICA IDENTITY FULL;
	ALTER TABLE a.y REPLICA IDENTITY FULL;
	INSERT INTO a.x SELECT i, 'initial' || i, CASE WHEN i % 10 = 0 THEN repeat('i', 3000) END FROM generate_series(1, 200) i;
	INSERT INTO a.f SELECT i, 'initial' || i, NULL FROM generate_series(1, 50) i;
	INSERT INTO a.y SELECT i, 'initial' || i, NULL FROM generate_series(1, 50) i;
	INSERT INTO a.z SELECT i, 'initial' || i FROM generate_series(1, 50) i;
	CREATE PUBLICATION p FOR TABLE a.x, a.f, a.y, a.z;
});
$sub->safe_psql('postgres', q{
	CREATE SCHEMA a;
} . ($tables =~ s/__U__//gr =~ s/__V__/USING heap/gr) . q{
	ALTER TABLE a.y REPLICA IDENTITY FULL;
});
is($sub->safe_psql('postgres', q{
	SELECT string_agg(c.relname || '=' || am.amname, ',' ORDER BY c.relname)
	  FROM pg_class c JOIN pg_am am ON am.oid = c.relam
	 WHERE c.relnamespace = 'a'::regnamespace AND c.relkind = 'r'}),
	'f=' . test_am() . ',x=' . test_am() . ',y=heap,z=heap',
	'subscriber tables: x and f use ' . test_am() . ', y and z heap');
$sub->safe_psql('postgres',
	"CREATE SUBSCRIPTION sb CONNECTION '" . $node->connstr
	  . " dbname=postgres' PUBLICATION p WITH (streaming = on)");
$sub->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM pg_subscription_rel WHERE srsubstate NOT IN ('r', 's')})
  or die 'initial table synchronisation did not finish';
$node->wait_for_catchup('sb');

$node->safe_psql('postgres', qq{
	INSERT INTO a.x VALUES (1000, 'after subscribe', '@{[ noise(5000, 'r1') ]}');
	UPDATE a.x SET v = 'changed' WHERE id BETWEEN 1 AND 30;
	UPDATE a.x SET id = id + 5000 WHERE id BETWEEN 31 AND 35;
	UPDATE a.x SET big = repeat('n', 4000) WHERE id = 40;
	DELETE FROM a.x WHERE id BETWEEN 100 AND 120;
	INSERT INTO a.x VALUES (1, 'x', NULL), (1001, 'new', NULL)
		ON CONFLICT (id) DO UPDATE SET v = 'upserted';
	BEGIN; INSERT INTO a.x VALUES (1002, 'rolled back', NULL); ROLLBACK;
	UPDATE a.f SET v = 'full' WHERE id < 10;
	DELETE FROM a.f WHERE id > 40;
	UPDATE a.y SET v = 'full heap' WHERE id < 10;
	DELETE FROM a.y WHERE id > 40;
	INSERT INTO a.z SELECT i, 'more' FROM generate_series(51, 80) i;
	UPDATE a.z SET v = 'z changed' WHERE id % 3 = 0;
	DELETE FROM a.z WHERE id % 7 = 0;
	-- larger than logical_decoding_work_mem: streamed while in progress
	BEGIN;
	INSERT INTO a.x SELECT i, 'streamed', CASE WHEN i % 50 = 0 THEN repeat(md5(i::text), 100) END
	  FROM generate_series(20001, 23000) i;
	UPDATE a.x SET v = 'streamed too' WHERE id BETWEEN 1 AND 100;
	DELETE FROM a.x WHERE id BETWEEN 20001 AND 20100;
	COMMIT;
});
$node->wait_for_catchup('sb');
ok($node->poll_query_until('postgres', q{
	SELECT stream_txns > 0 FROM pg_stat_replication_slots WHERE slot_name = 'sb'}),
	'the large transaction was streamed');
for my $t ('x', 'f', 'y', 'z')
{
	my $q = "SELECT count(*), md5(string_agg(t::text, ',' ORDER BY t::text)) FROM a.$t t";
	is($sub->safe_psql('postgres', $q), $node->safe_psql('postgres', $q),
		"the subscriber's a.$t equals the publisher's");
}

$sub->safe_psql('postgres', 'DROP SUBSCRIPTION sb');
$sub->stop;
$node->stop;
done_testing();
