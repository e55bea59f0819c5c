#
# 021_shrink.pl: after compaction the free tail of a phantom table's main
# fork is cut (src/lsm/shrink.c), so pg_relation_size shows the
# compression; the moves and the truncation replay on a streaming standby
# and after a crash, with every record checked by wal_consistency_checking.
#
# Covers: a 200k-row narrow table (< 0.5x heap after phantom.compact), a
# table with several map pages (map pages moved too), thaws and inserts
# after the shrink (pages reused, file grows again), VACUUM cutting the
# tail, vacuum_truncate = off, phantom.verify on primary, standby and
# after the crash.
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
max_wal_size = '2GB'
checkpoint_timeout = '1h'
max_prepared_transactions = 2
};
my $primary = phantom_node('primary', allows_streaming => 1, conf => $conf);
$primary->start;
create_phantom($primary);

$primary->backup('b1');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b1', has_streaming => 1);
$standby->start;

my $size = sub {
	my ($node, $rel) = @_;
	return $node->safe_psql('postgres', "SELECT pg_relation_size('$rel')");
};
my $verify = sub {
	my ($node, $rel) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM phantom.verify('$rel', true) WHERE NOT ok");
};

# Everything below is replayed at the crash at the end.
$primary->safe_psql('postgres', 'CHECKPOINT');
$primary->safe_psql(
	'postgres', q{
CREATE TABLE h (id int PRIMARY KEY, v int, t text) USING heap;
INSERT INTO h SELECT g, g % 100, 'row ' || g FROM generate_series(1, 200000) g;
CREATE TABLE p (id int PRIMARY KEY, v int, t text) USING phantom;
INSERT INTO p SELECT * FROM h;
CREATE TABLE m (id int PRIMARY KEY, t text) USING phantom WITH (fillfactor = 10);
INSERT INTO m SELECT g, 'm' || g FROM generate_series(1, 80000) g;
CREATE TABLE nt (id int) USING phantom WITH (vacuum_truncate = off);
INSERT INTO nt SELECT generate_series(1, 50000);
});

my $hsize = $size->($primary, 'h');
my $psize0 = $size->($primary, 'p');
ok($psize0 >= $hsize * 0.9, "before compaction phantom is heap-sized ($psize0 vs $hsize)");
$primary->safe_psql('postgres', "SELECT phantom.compact('p')");
my $psize = $size->($primary, 'p');
ok($psize < $hsize * 0.5,
	"after compaction pg_relation_size is < 0.5x heap ($psize vs $hsize)");
is($verify->($primary, 'p'), '0', 'verify passes after the shrink');
is($primary->safe_psql('postgres',
	'SELECT free_pages, physical_pages = run_pages + map_pages + hot_vblocks + 1 FROM phantom_internal.storage_info(\'p\')'),
	'0|t', 'no free page left, every page in use');

# Several map pages (fillfactor 10: ~4000 vblocks): map pages move too.
my $mmaps = $primary->safe_psql('postgres',
	"SELECT map_pages FROM phantom_internal.storage_info('m')");
ok($mmaps >= 2, "m has $mmaps map pages");
my $msize0 = $size->($primary, 'm');
$primary->safe_psql('postgres', "SELECT phantom.compact('m')");
my $msize = $size->($primary, 'm');
ok($msize < $msize0 / 4, "m shrank from $msize0 to $msize bytes");
is($verify->($primary, 'm'), '0', 'verify passes on m');

# Thaws after the shrink extend the file again.
$primary->safe_psql('postgres', "SELECT phantom.compact('nt')");
my $ntsize0 = $size->($primary, 'nt');
$primary->safe_psql('postgres', "UPDATE m SET t = t || 'x' WHERE id % 50 = 0");
my $mgrown = $size->($primary, 'm');
ok($mgrown > $msize, "thaws grow m again ($msize -> $mgrown)");

# Rows after all that, on the primary.
my $rows_p = q{SELECT count(*), sum(v), sum(length(t)) FROM p};
my $rows_m = q{SELECT count(*), sum(id), sum(length(t)) FROM m};
my $idx_p = q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	SELECT count(*), sum(v) FROM p WHERE id BETWEEN 1000 AND 150000};
my $bmp_m = q{SET enable_seqscan = off; SET enable_indexscan = off;
	SELECT count(*), sum(length(t)) FROM m WHERE id BETWEEN 100 AND 79000};
my %want;
$want{$_} = $primary->safe_psql('postgres', $_) for ($rows_p, $rows_m, $idx_p, $bmp_m);
is($want{$rows_p}, '200000|9900000|' . $primary->safe_psql('postgres',
	'SELECT sum(length(t)) FROM h'), 'p has the rows of h');

# The standby replays moves and truncation.
$primary->wait_for_catchup($standby);
for my $q ($rows_p, $rows_m, $idx_p, $bmp_m)
{
	is($standby->safe_psql('postgres', $q), $want{$q}, "standby: $q");
}
is($size->($standby, 'p'), $size->($primary, 'p'), 'standby: p has the same size');
is($size->($standby, 'm'), $size->($primary, 'm'), 'standby: m has the same size');
# (phantom.verify takes a ShareLock, impossible during recovery)
my $info = q{SELECT * FROM phantom_internal.storage_info('%s')};
for my $t ('p', 'm')
{
	is($standby->safe_psql('postgres', sprintf($info, $t)),
		$primary->safe_psql('postgres', sprintf($info, $t)),
		"standby: same storage_info for $t");
}

# A lock held elsewhere makes the shrink give up after 5 s (compaction
# then leaves its freed pages on the free list); VACUUM cuts them later,
# unless the table says vacuum_truncate = off.
$primary->safe_psql('postgres', q{
BEGIN; LOCK m, nt IN ACCESS SHARE MODE; PREPARE TRANSACTION 'hold';
});
$primary->safe_psql('postgres', q{
UPDATE nt SET id = -id WHERE id % 50 = 0;
SELECT phantom.compact('m'); SELECT phantom.compact('nt');
});
my $mheld = $size->($primary, 'm');
my $ntheld = $size->($primary, 'nt');
ok($mheld >= $mgrown, "a conflicting lock keeps m at $mheld bytes");
ok($ntheld > $ntsize0, "thaws grew nt to $ntheld bytes");
$primary->safe_psql('postgres', "COMMIT PREPARED 'hold'");
$primary->safe_psql('postgres', 'VACUUM m');
$primary->safe_psql('postgres', 'VACUUM nt');
ok($size->($primary, 'm') < $mheld, 'VACUUM cut m');
is($size->($primary, 'nt'), $ntheld, 'vacuum_truncate = off: VACUUM left nt alone');
is($verify->($primary, 'm'), '0', 'verify passes on m after VACUUM');
$want{$rows_m} = $primary->safe_psql('postgres', $rows_m);
$want{$bmp_m} = $primary->safe_psql('postgres', $bmp_m);
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $rows_m), $want{$rows_m}, 'standby: m after VACUUM');
is($standby->safe_psql('postgres', $bmp_m), $want{$bmp_m}, 'standby: bitmap scan on m');
is($size->($standby, 'm'), $size->($primary, 'm'), 'standby: m has the same size');

# Crash: replays everything since the checkpoint, including the
# truncations of files already cut.
my $psize_before = $size->($primary, 'p');
$primary->stop('immediate');
$primary->start;
for my $q ($rows_p, $rows_m, $idx_p, $bmp_m)
{
	is($primary->safe_psql('postgres', $q), $want{$q}, "after crash: $q");
}
is($size->($primary, 'p'), $psize_before, 'after crash: p keeps its size');
ok($size->($primary, 'p') < $hsize * 0.5, 'after crash: still < 0.5x heap');
is($verify->($primary, 'p'), '0', 'after crash: verify passes on p');
is($verify->($primary, 'm'), '0', 'after crash: verify passes on m');
ok(!$primary->log_contains('inconsistent page found'),
	'no inconsistent page during crash recovery');

# Writes after the crash, followed by the standby.
$primary->safe_psql('postgres',
	"INSERT INTO p SELECT g, 1, 'new' FROM generate_series(200001, 210000) g; SELECT phantom.compact('p')");
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $rows_p), $primary->safe_psql('postgres', $rows_p),
	'standby: in sync after restart');
is($standby->safe_psql('postgres', sprintf($info, 'p')),
	$primary->safe_psql('postgres', sprintf($info, 'p')),
	'standby: same storage_info after restart');
ok(!$standby->log_contains('inconsistent page found'),
	'no inconsistent page on the standby');

$standby->stop;
$primary->stop;
done_testing();
