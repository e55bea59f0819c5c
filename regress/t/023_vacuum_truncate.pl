#
# 023_vacuum_truncate.pl: VACUUM gives back the trailing empty vblocks of a
# phantom table that keeps rows, as heap's lazy_truncate_heap gives back
# trailing empty pages (src/tableam/vacuum.c ph_vac_truncate_tail,
# src/lsm/shrink.c ph_truncate_vblocks, XLOG_PH_VTRUNCATE + core's
# XLOG_SMGR_TRUNCATE for the VM and FSM).  A heap twin of each table gets
# the same statements: relpages, the VM fork and the rows must match heap's.
# A streaming standby and crash recovery replay it all under
# wal_consistency_checking.
#
# Covers: delete of the upper half + VACUUM (relpages halved like heap,
# file cut by the shrink, index scans), a table whose cold part stops the
# truncation, a truncation below the threshold (not done, as heap),
# vacuum_truncate = off, a conflicting lock (truncation gives up after 5 s,
# as heap), inserts after the truncation (vblocks re-created, pages reused),
# phantom.verify on the primary and after the crash (it cannot run on a
# standby), storage_info on the standby.
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
wal_keep_size = '4GB'
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

my $q = sub { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); };
my $relpages = sub {
	my ($node, $rel) = @_;
	return $q->($node, "SELECT relpages FROM pg_class WHERE relname = '$rel'");
};
my $verify = sub {
	my ($node, $rel) = @_;
	return $q->($node, "SELECT count(*) FROM phantom.verify('$rel', true) WHERE NOT ok");
};
my $rows = 'SELECT count(*), sum(id), sum(length(t)), max(ctid) FROM %s';
my $idx = 'SELECT sum(id) FROM (SELECT id FROM %s WHERE id BETWEEN 1000 AND 29000 ORDER BY id) s';

# Everything below is replayed at the crash at the end.
$q->($primary, 'CHECKPOINT');
for my $am ('phantom', 'heap')
{
	my $s = $am eq 'heap' ? 'h' : 'p';
	$q->($primary, qq{
CREATE TABLE ${s}1 (id int PRIMARY KEY, t text) USING $am;
INSERT INTO ${s}1 SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g;
CREATE TABLE ${s}3 (id int PRIMARY KEY, t text) USING $am;
INSERT INTO ${s}3 SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g;
CREATE TABLE ${s}4 (id int PRIMARY KEY, t text) USING $am WITH (vacuum_truncate = off);
INSERT INTO ${s}4 SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g;
VACUUM ${s}1, ${s}3, ${s}4;
});
}

# 1. The upper half goes: heap's relpages, smaller file, same rows.
my $size0 = $q->($primary, "SELECT pg_relation_size('p1')");
my $vm0 = $q->($primary, "SELECT pg_relation_size('p1', 'vm')");
$q->($primary, 'DELETE FROM p1 WHERE id > 10000; DELETE FROM h1 WHERE id > 10000; VACUUM p1, h1');
is($relpages->($primary, 'p1'), $relpages->($primary, 'h1'), 'p1: relpages after the truncation = heap');
ok($relpages->($primary, 'p1') < 200, 'p1: about half of the vblocks went');
is($q->($primary, "SELECT pg_relation_size('p1') < $size0 * 0.6"), 't',
	'p1: the file was cut too');
is($q->($primary, "SELECT pg_relation_size('p1', 'vm')"),
	$q->($primary, "SELECT pg_relation_size('h1', 'vm')"), 'p1: VM fork cut like heap\'s');
is($q->($primary, sprintf($rows, 'p1')), $q->($primary, sprintf($rows, 'h1')), 'p1: same rows as heap');
is($q->($primary, sprintf($idx, 'p1')), $q->($primary, sprintf($idx, 'h1')), 'p1: index scan = heap');
is($verify->($primary, 'p1'), '0', 'p1: verify passes after the truncation');

# Inserts re-create the dropped vblocks on reused pages.
$q->($primary, "INSERT INTO p1 SELECT g, 'again' FROM generate_series(10001, 15000) g;
	INSERT INTO h1 SELECT g, 'again' FROM generate_series(10001, 15000) g");
is($q->($primary, 'SELECT count(*), sum(id) FROM p1 WHERE id > 10000'), '5000|62502500',
	'p1: rows inserted after the truncation');
is($q->($primary, q{SELECT count(*) FROM p1 WHERE ctid > '(200,0)' AND id <= 10000}), '0',
	'p1: old rows stayed below the truncation point');
is($verify->($primary, 'p1'), '0', 'p1: verify passes after the inserts');

# 2. A cold part stops the truncation: only the hot tail after it goes.
$q->($primary, qq{
CREATE TABLE p2 (id int PRIMARY KEY, t text) USING phantom;
INSERT INTO p2 SELECT g, repeat('x', 100) FROM generate_series(1, 10000) g;
INSERT INTO p2 SELECT g, repeat('y', 100) FROM generate_series(10001, 13000) g;
DELETE FROM p2 WHERE id > 10000;
VACUUM (FREEZE) p2;
});
# the deleted rows' pages are the lane's tail: compaction leaves the
# insertion pages alone; what goes cold is the settled front
$q->($primary, "SELECT phantom.compact('p2')");
$q->($primary, "INSERT INTO p2 SELECT g, repeat('z', 100) FROM generate_series(13001, 28000) g");
my $cold = $q->($primary, "SELECT cold_vblocks > 0 FROM phantom.stat_tables WHERE name = 'p2'");
is($cold, 't', 'p2: has cold vblocks');
my $vblocks = sub {
	my ($node, $rel) = @_;
	return $q->($node, "SELECT vblocks FROM phantom.stat_tables WHERE name = '$rel'");
};
my $p2before = $vblocks->($primary, 'p2');
$q->($primary, 'DELETE FROM p2 WHERE id > 13000; VACUUM p2');
my $p2after = $vblocks->($primary, 'p2');
is($relpages->($primary, 'p2'), $p2after, 'p2: relpages = vblocks left');
ok($p2after < $p2before, "p2: hot tail truncated ($p2before -> $p2after vblocks)");
is($q->($primary, 'SELECT count(*), sum(id) FROM p2'), '10000|50005000', 'p2: rows kept');
is($verify->($primary, 'p2'), '0', 'p2: verify passes');

# 3. Below the threshold (less than 1000 vblocks and 1/16 of them): not
# truncated, as heap.
my $p3full = $relpages->($primary, 'p3');
$q->($primary, 'DELETE FROM p3 WHERE id > 19500; DELETE FROM h3 WHERE id > 19500; VACUUM p3, h3');
is($relpages->($primary, 'p3'), $relpages->($primary, 'h3'), 'p3: small tail kept like heap');
is($relpages->($primary, 'p3'), $p3full, 'p3: still every vblock');

# 4. vacuum_truncate = off.
$q->($primary, 'DELETE FROM p4 WHERE id > 5000; DELETE FROM h4 WHERE id > 5000; VACUUM p4, h4');
is($relpages->($primary, 'p4'), $relpages->($primary, 'h4'), 'p4: vacuum_truncate = off keeps vblocks like heap');

# 5. A conflicting lock: the truncation gives up after 5 s, as heap's.
$q->($primary, q{
BEGIN; LOCK p3 IN ACCESS SHARE MODE; PREPARE TRANSACTION 'hold';
});
$q->($primary, 'DELETE FROM p3 WHERE id > 5000; VACUUM p3');
is($relpages->($primary, 'p3'), $p3full, 'p3: a held lock stops the truncation');
$q->($primary, "COMMIT PREPARED 'hold'");
$q->($primary, 'VACUUM p3; DELETE FROM h3 WHERE id > 5000; VACUUM h3');
is($relpages->($primary, 'p3'), $relpages->($primary, 'h3'), 'p3: truncated by the next VACUUM like heap');
is($verify->($primary, 'p3'), '0', 'p3: verify passes');

# Standby: same rows, same storage.
my @checks;
for my $t ('p1', 'p2', 'p3', 'p4')
{
	push @checks, sprintf($rows, $t), sprintf($idx, $t),
	  "SELECT relpages FROM pg_class WHERE relname = '$t'",
	  "SELECT pg_relation_size('$t'), pg_relation_size('$t', 'vm'), pg_relation_size('$t', 'fsm')",
	  "SELECT * FROM phantom_internal.storage_info('$t')";
}
my %want = map { $_ => $q->($primary, $_) } @checks;
$primary->wait_for_catchup($standby);
for my $c (@checks)
{
	is($q->($standby, $c), $want{$c}, "standby: $c");
}

# Crash: replays everything since the checkpoint.
$primary->stop('immediate');
$primary->start;
for my $c (@checks)
{
	next if $c =~ /pg_relation_size/;	# the FSM is not WAL-logged
	is($q->($primary, $c), $want{$c}, "after crash: $c");
}
is($verify->($primary, $_), '0', "after crash: verify passes on $_") for ('p1', 'p2', 'p3', 'p4');
ok(!$primary->log_contains('inconsistent page found'),
	'no inconsistent page during crash recovery');
ok(!$standby->log_contains('inconsistent page found'),
	'no inconsistent page on the standby');

# Writes after the crash, followed by the standby.
$q->($primary, "INSERT INTO p1 SELECT g, 'post' FROM generate_series(15001, 16000) g");
$primary->wait_for_catchup($standby);
is($q->($standby, sprintf($rows, 'p1')), $q->($primary, sprintf($rows, 'p1')),
	'standby: in sync after the restart');

$standby->stop;
$primary->stop;
done_testing();
