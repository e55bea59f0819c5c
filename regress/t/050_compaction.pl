#
# 050_compaction.pl: background compaction and damaged cold runs.
#
# Covers: the launcher runs; per-database workers compact phantom tables
# only once their pages have been left alone for a checkpoint cycle (page
# LSN before the last checkpoint's redo pointer); phantom.compaction = off
# stops background compaction (SIGHUP); databases without the extension
# are harmless; rows are the same before and after (seq and index scans);
# a run page damaged on disk gives a clear ERROR (SQLSTATE XX001 naming
# the relation) on the damaged block only, never a crash.
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
	plan skip_all => 'tests phantom compaction only';
}

my $node = phantom_node(
	'compaction', conf => q{
autovacuum = off
phantom.compaction = on
phantom.compaction_naptime = 1
phantom.compaction_min_pages = 1
});
$node->start;
create_phantom($node);
$node->safe_psql('postgres', 'CREATE DATABASE other');

# cold_vblocks(table): cold vblocks of table, from storage_info.
sub cold_vblocks
{
	my ($table) = @_;
	return $node->safe_psql('postgres',
		"SELECT cold_vblocks FROM phantom_internal.storage_info('$table')");
}

# wait_cold(table): polls until table has cold vblocks (60 s at most);
# returns their number.
sub wait_cold
{
	my ($table) = @_;
	my $start = time();
	while (!deadline_passed($start, 60))
	{
		my $n = cold_vblocks($table);
		return $n if $n > 0;
		sleep(1);
	}
	return 0;
}

is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'phantom compaction launcher'"
	),
	'1',
	'the compaction launcher runs');

$node->safe_psql(
	'postgres', q{
CREATE TABLE bg (id int PRIMARY KEY, v text);
INSERT INTO bg SELECT g, repeat('v' || g, 8) FROM generate_series(1, 20000) g;
});
my $rows = q{SELECT count(*), sum(id), md5(string_agg(v, ',' ORDER BY id)) FROM bg};
my $before = $node->safe_psql('postgres', $rows);

# Pages written after the last checkpoint stay hot.
sleep(4);
is(cold_vblocks('bg'), '0', 'no background compaction of pages written since the last checkpoint');

# After a checkpoint, the worker moves them.
$node->safe_psql('postgres', 'CHECKPOINT');
my $cold = wait_cold('bg');
ok($cold > 0, "background compaction moved $cold vblocks after a checkpoint");
is($node->safe_psql('postgres', $rows), $before, 'same rows after background compaction (seq scan)');
is( $node->safe_psql(
		'postgres',
		"SET enable_seqscan = off; SET enable_bitmapscan = off; $rows"),
	$before,
	'same rows after background compaction (index scan)');

# phantom.compaction = off stops it.
$node->safe_psql('postgres',
	'ALTER SYSTEM SET phantom.compaction = off; SELECT pg_reload_conf()');
$node->safe_psql(
	'postgres', q{
CREATE TABLE bg2 (id int, v text);
INSERT INTO bg2 SELECT g, 'w' || g FROM generate_series(1, 20000) g;
CHECKPOINT;
});
sleep(4);
is(cold_vblocks('bg2'), '0', 'phantom.compaction = off: no background compaction');
ok($node->safe_psql('postgres', "SELECT phantom.compact('bg2')") > 0,
	'phantom.compact() works with background compaction off');

# Damage a run page of bg on disk: only its blocks fail, with XX001.
my $path = $node->safe_psql('postgres',
	"SELECT current_setting('data_directory') || '/' || pg_relation_filepath('bg')");
$node->stop;
open(my $fh, '+<:raw', $path) or die "open $path: $!";
my $size = -s $path;
my $damaged;
for (my $blk = 1; $blk * 8192 < $size; $blk++)
{
	my $page;
	seek($fh, $blk * 8192, 0);
	read($fh, $page, 8192) == 8192 or last;
	my ($lower, $upper, $special) = unpack('v3', substr($page, 12, 6));
	next if $special >= 8192;
	next if unpack('v', substr($page, $special, 2)) != 0x5003;    # PH_KIND_RUN
	# flip bytes in the middle of the first frame's compressed data
	my $lp = unpack('V', substr($page, 24, 4));
	my ($off, $len) = ($lp & 0x7fff, $lp >> 17);
	my $pos = $blk * 8192 + $off + 12 + int($len / 2);
	seek($fh, $pos, 0);
	print $fh "\xde\xad\xbe\xef";
	$damaged = unpack('V', substr($page, $off, 4));                # its vblock
	last;
}
close($fh);
ok(defined $damaged, "damaged the frame of vblock $damaged");
$node->start;

my ($ret, $out, $err) = $node->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT count(*) FROM bg WHERE ctid >= '($damaged,0)' AND ctid < '("
	  . ($damaged + 1) . ",0)'");
isnt($ret, 0, 'reading the damaged block fails');
like($err, qr/XX001/, 'with SQLSTATE XX001 (data corrupted)');
like($err, qr/relation "bg"/, 'naming the relation');
($ret, $out, $err) = $node->psql('postgres',
	"SELECT count(*) > 0 FROM bg WHERE ctid >= '(" . ($damaged + 1) . ",0)'");
is($out, 't', 'other blocks remain readable');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is still up');

$node->stop;
done_testing();
