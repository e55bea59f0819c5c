#
# 020_storage_recovery.pl: phantom's page layer and WAL records survive a
# crash and replay on a streaming standby, with every record checked by
# wal_consistency_checking = 'phantom'.
#
# Covers: lazy metapage, new vblocks and map pages, inserts, multi-inserts
# (COPY) and COPY FREEZE (VM set in the insert record), same-page and
# cross-page updates, deletes, pruning, VACUUM (FREEZE) and VM bits,
# compaction (hot -> cold, free list) and thaw (cold -> hot, full image),
# temporary and unlogged tables.  The standby must return the same rows and
# the same visibility-map bits as the primary; after an immediate stop
# (no shutdown checkpoint) the primary must come back with every committed
# row.
#
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin, "$FindBin::RealBin/..";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PhantomTest;

if (test_am() ne 'phantom')
{
	plan skip_all => 'tests phantom storage only';
}

my $conf = qq{
wal_consistency_checking = 'phantom'
autovacuum = off
phantom.compaction = off
fsync = on
};
my $primary = phantom_node('primary', allows_streaming => 1, conf => $conf);
$primary->start;
create_phantom($primary);
$primary->safe_psql('postgres', 'CREATE EXTENSION pg_visibility');

$primary->backup('b1');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b1', has_streaming => 1);
$standby->start;

# One workload touching every record type.
$primary->safe_psql(
	'postgres', q{
CREATE TABLE st (id int PRIMARY KEY, v text);
INSERT INTO st SELECT g, 'v' || g FROM generate_series(1, 6000) g;
UPDATE st SET v = v || 'x' WHERE id % 10 = 0;
UPDATE st SET v = repeat('y', 300) WHERE id % 97 = 0;
DELETE FROM st WHERE id % 7 = 0;
});
$primary->safe_psql('postgres', 'VACUUM st');
$primary->safe_psql('postgres', 'VACUUM (FREEZE) st');
my $moved = $primary->safe_psql('postgres', "SELECT phantom.compact('st')");
ok($moved > 0, "compaction moved $moved vblocks to cold runs");
$primary->safe_psql(
	'postgres', q{
UPDATE st SET v = 'thawed' WHERE id IN (1, 2000, 4000);
DELETE FROM st WHERE id = 3000;
INSERT INTO st SELECT g, 'w' FROM generate_series(6001, 7000) g;
BEGIN;
CREATE TABLE cf (id int);
COPY cf FROM PROGRAM 'seq 1 3000' WITH (FORMAT csv, FREEZE);
COMMIT;
CREATE UNLOGGED TABLE ul (id int);
INSERT INTO ul SELECT generate_series(1, 500);
});
my ($ret, $out, $err) = $primary->psql('postgres', q{
CREATE TEMP TABLE tt (id int);
INSERT INTO tt SELECT generate_series(1, 1000);
UPDATE tt SET id = id + 1;
SELECT count(*), sum(id) FROM tt;
});
is($out, '1000|501500', 'temporary table works (local buffers, no WAL)');

my $rows = q{SELECT count(*), sum(id), sum(length(v)) FROM st};
my $vm = q{SELECT string_agg(all_visible::int::text || all_frozen::int::text, '' ORDER BY blkno) FROM pg_visibility_map('st')};
my $cf = q{SELECT count(*), sum(id) FROM cf};
my $cfvm = q{SELECT count(*) FILTER (WHERE all_visible AND all_frozen) > 0 FROM pg_visibility_map('cf')};

my $want_rows = $primary->safe_psql('postgres', $rows);
my $want_vm = $primary->safe_psql('postgres', $vm);
my $want_cf = $primary->safe_psql('postgres', $cf);
is($primary->safe_psql('postgres', $cfvm), 't', 'COPY FREEZE set VM bits');
is($want_cf, '3000|4501500', 'COPY FREEZE rows');

$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $rows), $want_rows, 'standby: same rows');
is($standby->safe_psql('postgres', $vm), $want_vm, 'standby: same VM bits');
is($standby->safe_psql('postgres', $cf), $want_cf, 'standby: COPY FREEZE rows');
is($standby->safe_psql('postgres',
	'SET enable_seqscan = off; SELECT count(*) FROM st WHERE id > 0'),
	$primary->safe_psql('postgres', 'SELECT count(*) FROM st'),
	'standby: index scan agrees');

# Crash: no shutdown checkpoint, so everything since the last checkpoint
# is replayed (and consistency-checked) at restart.
$primary->stop('immediate');
$primary->start;
is($primary->safe_psql('postgres', $rows), $want_rows, 'after crash: same rows');
is($primary->safe_psql('postgres', $vm), $want_vm, 'after crash: same VM bits');
is($primary->safe_psql('postgres', $cf), $want_cf, 'after crash: COPY FREEZE rows');
is($primary->safe_psql('postgres', 'SELECT count(*) FROM ul'), '0',
	'after crash: unlogged table is empty');
$primary->safe_psql('postgres', 'INSERT INTO ul VALUES (1)');
is($primary->safe_psql('postgres', 'SELECT count(*) FROM ul'), '1',
	'after crash: unlogged table takes rows again');
ok(!$primary->log_contains('inconsistent page found'),
	'no inconsistent page during crash recovery');

# The standby follows the restarted primary.
$primary->safe_psql('postgres', "UPDATE st SET v = 'again' WHERE id = 5");
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $rows),
	$primary->safe_psql('postgres', $rows), 'standby: in sync after restart');
ok(!$standby->log_contains('inconsistent page found'),
	'no inconsistent page on the standby');

$standby->stop;
$primary->stop;
done_testing();
