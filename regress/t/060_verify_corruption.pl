#
# 060_verify_corruption.pl: phantom.verify() on damaged storage.
#
# Covers: a clean table (hot, then compacted) verifies with every check ok;
# a byte flipped inside a cold frame (run page) on disk is reported as an
# ok = false row of check "cold frames" naming the vblock and the run page,
# and so is a columnar frame whose header lost its columnar flag (outside
# the zstd checksum);
# a block-map entry overwritten on disk with an out-of-range block is
# reported as an ok = false row of check "block map" naming the vblock and
# the bad physical block; index checks are skipped on damaged storage; a
# cleared line pointer of a hot page shows as a dangling entry of the
# primary key (built-in index check, amcheck not installed; without data
# checksums only); frame and map damage are tested with
# and without data checksums (with them, the buffer manager's refusal of a
# damaged page becomes the row); the server stays up and undamaged tables
# still verify clean.
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
	plan skip_all => 'tests phantom.verify only';
}

# run_scenario(checksums): the whole test on a fresh node, with or without
# data checksums (with them the buffer manager rejects the damaged pages
# first, and verify reports its error).
sub run_scenario
{
	my ($checksums) = @_;
	my $name = $checksums ? 'checksums' : 'no checksums';
	my $node = phantom_node(
		$checksums ? "verify_sums" : "verify_plain", ($checksums ? (extra => ['--data-checksums']) : ()),
		conf => q{
	autovacuum = off
	phantom.compaction = off
	});
	$node->start;
	create_phantom($node);

	# $bad_rows->(table): the ok = false rows of phantom.verify(table), one per line
	my $bad_rows = sub {
		my ($table) = @_;
		return $node->safe_psql('postgres',
			"SELECT check_name || ': ' || detail FROM phantom.verify('$table') WHERE NOT ok");
	};

	foreach my $t (qw(t_run t_map t_clean))
	{
		$node->safe_psql('postgres', qq{
	CREATE TABLE $t (id int PRIMARY KEY, v text);
	INSERT INTO $t SELECT i, repeat(md5(i::text), 3) FROM generate_series(1, 5000) i;
	});
		is($bad_rows->($t), '', "$name, $t: hot table verifies clean");
		$node->safe_psql('postgres', "VACUUM (FREEZE) $t");
		ok($node->safe_psql('postgres', "SELECT phantom.compact('$t')") > 0,
			"$name, $t: compacted");
		is($bad_rows->($t), '', "$name, $t: compacted table verifies clean");
	}
	# t_flag: issue 3's narrow rows, stored as columnar frames
	$node->safe_psql('postgres', q{
CREATE TABLE t_flag (id bigint, v int, t text);
INSERT INTO t_flag SELECT g, hashint8(g), substr(md5(g::text) || md5((-g)::text), 1, 40)
  FROM generate_series(1, 5000) g;
VACUUM (FREEZE) t_flag;
});
	ok($node->safe_psql('postgres', "SELECT phantom.compact('t_flag')") > 0,
		"$name, t_flag: compacted");
	is($bad_rows->('t_flag'), '', "$name, t_flag: compacted table verifies clean");
	# t_idx stays hot: a damaged line pointer shows in its index check
	$node->safe_psql('postgres', q{
CREATE TABLE t_idx (id int PRIMARY KEY, v text);
INSERT INTO t_idx SELECT i, md5(i::text) FROM generate_series(1, 1000) i;
});
	is($bad_rows->('t_idx'), '', "$name: t_idx: verifies clean");
	# t_map keeps a few hot vblocks (thawed by an update)
	$node->safe_psql('postgres', "UPDATE t_map SET v = 'x' WHERE id % 1000 = 0");
	is($bad_rows->('t_map'), '', "$name: t_map: after thaw verifies clean");

	my %path;
	foreach my $t (qw(t_run t_map t_idx t_flag))
	{
		$path{$t} = $node->safe_psql('postgres',
			"SELECT current_setting('data_directory') || '/' || pg_relation_filepath('$t')");
	}
	$node->stop;

	# Flip bytes in the middle of the compressed data of the first frame of
	# the first run page of t_run.
	my $damaged_vblock;
	my $damaged_run;
	{
		my $p = $path{t_run};
		open(my $fh, '+<:raw', $p) or die "open $p: $!";
		my $size = -s $p;
		for (my $blk = 1; $blk * 8192 < $size; $blk++)
		{
			my $page;
			seek($fh, $blk * 8192, 0);
			read($fh, $page, 8192) == 8192 or last;
			my ($lower, $upper, $special) = unpack('v3', substr($page, 12, 6));
			next if $special >= 8192;
			next if unpack('v', substr($page, $special, 2)) != 0x5003;    # PH_KIND_RUN
			my $lp = unpack('V', substr($page, 24, 4));
			my ($off, $len) = ($lp & 0x7fff, $lp >> 17);
			seek($fh, $blk * 8192 + $off + 12 + int($len / 2), 0);
			print $fh "\xde\xad\xbe\xef";
			$damaged_vblock = unpack('V', substr($page, $off, 4));
			$damaged_run = $blk;
			last;
		}
		close($fh);
	}
	ok(defined $damaged_vblock,
		"damaged the frame of vblock $damaged_vblock in run page $damaged_run");

	# Clear the columnar flag (PH_FRAME_COLUMNAR, bit 1 of the uint16 at
	# offset 10 of the frame header) of the first frame of t_flag's first
	# run page: the frame header lies outside the zstd checksum, so only the
	# decoder's own checks can catch it.
	my ($flag_vblock, $flag_run, $flag_flags);
	{
		my $p = $path{t_flag};
		open(my $fh, '+<:raw', $p) or die "open $p: $!";
		my $size = -s $p;
		for (my $blk = 1; $blk * 8192 < $size; $blk++)
		{
			my $page;
			seek($fh, $blk * 8192, 0);
			read($fh, $page, 8192) == 8192 or last;
			my ($lower, $upper, $special) = unpack('v3', substr($page, 12, 6));
			next if $special >= 8192;
			next if unpack('v', substr($page, $special, 2)) != 0x5003;    # PH_KIND_RUN
			my $lp = unpack('V', substr($page, 24, 4));
			my $off = $lp & 0x7fff;
			$flag_vblock = unpack('V', substr($page, $off, 4));
			$flag_flags = unpack('v', substr($page, $off + 10, 2));
			$flag_run = $blk;
			seek($fh, $blk * 8192 + $off + 10, 0);
			print $fh pack('v', $flag_flags & ~2);
			last;
		}
		close($fh);
	}
	ok(defined $flag_vblock && ($flag_flags & 2),
		"cleared the columnar flag of the frame of vblock $flag_vblock in run page $flag_run");

	# Overwrite the map entry of vblock 3 of t_map with a block far beyond the
	# end of the file.  The metapage (block 0) lists the map pages: the page
	# header (24 bytes), then magic, version, nvblocks, free_head, nfree,
	# nmappages (4 bytes each), lanes[64], two uint64 compaction counters,
	# mappages[].
	my $mapblk;
	{
		my $p = $path{t_map};
		open(my $fh, '+<:raw', $p) or die "open $p: $!";
		my $meta;
		read($fh, $meta, 8192) == 8192 or die "short read";
		$mapblk = unpack('V', substr($meta, 24 + 24 + 64 * 4 + 16, 4));
		seek($fh, $mapblk * 8192 + 24 + 3 * 4, 0);
		print $fh pack('V', 0x7ffffff0);
		close($fh);
	}
	ok($mapblk > 0, "damaged entry of vblock 3 in map page $mapblk");

	# Mark line pointer 1 of vblock 0 of t_idx unused: the page stays a
	# valid heap page, but the primary key's entry for (0,1) now points to
	# nothing.  (Without data checksums only: with them the page is refused.)
	my $idxblk;
	if (!$checksums)
	{
		my $p = $path{t_idx};
		open(my $fh, '+<:raw', $p) or die "open $p: $!";
		my ($meta, $map);
		read($fh, $meta, 8192) == 8192 or die "short read";
		my $mb = unpack('V', substr($meta, 24 + 24 + 64 * 4 + 16, 4));
		seek($fh, $mb * 8192, 0);
		read($fh, $map, 8192) == 8192 or die "short read";
		$idxblk = unpack('V', substr($map, 24, 4));    # hot: physical block
		seek($fh, $idxblk * 8192 + 24, 0);
		print $fh pack('V', 0);
		close($fh);
		ok($idxblk > 0 && $idxblk < 0x80000000,
			"$name: cleared line pointer 1 of vblock 0 (physical block $idxblk)");
	}
	$node->start;

	my $bad = $bad_rows->('t_run');
	if ($checksums)
	{
		# the buffer manager refuses the page: its error becomes the row
		like($bad,
			qr/^cold frames: vblock $damaged_vblock: run page: physical block $damaged_run cannot be read: invalid page in block $damaged_run /m,
			"$name: damaged run page: reported, naming vblock and run page");
	}
	else
	{
		# the zstd frame checksum catches the damage
		like($bad, qr/^cold frames: vblock $damaged_vblock \(run page $damaged_run\): /m,
			"$name: damaged frame: reported, naming vblock and run page");
	}
	like($bad, qr/^cold frames: 1 problems$/m, "$name: damaged frame: summary row");
	like($bad, qr/^indexes: not checked/m, "$name: damaged frame: indexes not checked");
	unlike($bad, qr/^(hot pages|block map|free list)/m, "$name: damaged frame: nothing else reported");

	$bad = $bad_rows->('t_flag');
	if ($checksums)
	{
		like($bad,
			qr/^cold frames: vblock $flag_vblock: run page: physical block $flag_run cannot be read: invalid page in block $flag_run /m,
			"$name: columnar flag cleared: run page refused, naming vblock and run page");
	}
	else
	{
		like($bad, qr/^cold frames: vblock $flag_vblock \(run page $flag_run\): frame header says /m,
			"$name: columnar flag cleared: reported, naming vblock and run page");
		my ($r, $o, $e) = $node->psql('postgres', 'SELECT count(*) FROM t_flag');
		like($e, qr/ERROR:  could not read block $flag_vblock of relation "t_flag": invalid frame header in cold run page $flag_run/,
			"$name: columnar flag cleared: reading the table gives the corruption error");
	}
	like($bad, qr/^cold frames: 1 problems$/m, "$name: columnar flag cleared: summary row");

	$bad = $bad_rows->('t_map');
	if ($checksums)
	{
		like($bad,
			qr/^block map: map page 0 \(vblocks 0 to \d+\): physical block $mapblk cannot be read: invalid page/m,
			"$name: damaged map page: reported, naming the map page");
	}
	else
	{
		like($bad,
			qr/^block map: vblock 3 maps to invalid physical block 2147483632 /m,
			"$name: damaged map entry: reported, naming vblock and physical block");
	}
	like($bad, qr/^indexes: not checked/m, "$name: damaged map entry: indexes not checked");

	# without the index checks, and through a failing read of the table itself
	my ($ret, $out, $err) = $node->psql('postgres',
		"SELECT count(*) FROM phantom.verify('t_run', false) WHERE NOT ok");
	is($ret, 0, "$name: verify without index checks works on damaged storage");
	is($out, '2', "$name: detail row and summary row");

	if (!$checksums)
	{
		$bad = $bad_rows->('t_idx');
		like($bad,
			qr/^index t_idx_pkey: index entry points to \(0,1\): unused or missing line pointer$/m,
			"$name: dangling index entry: reported, naming the TID");
		like($bad, qr/^index t_idx_pkey: 1 problems$/m,
			"$name: dangling index entry: summary row");
		unlike($bad, qr/^(metapage|block map|page references|hot pages|cold|visibility|free)/m,
			"$name: dangling index entry: storage checks pass");
	}

	# the statistics view survives damaged tables (NULLs and a WARNING for
	# a table whose map cannot be read)
	($ret, $out, $err) = $node->psql('postgres',
		"SELECT string_agg(name || ':' || coalesce(vblocks::text, 'null'), ',' ORDER BY name) FROM phantom.stat_tables");
	is($ret, 0, "$name: stat_tables works with damaged tables");
	like($out, qr/t_clean:\d+/, "$name: stat_tables has the undamaged table");
	if ($checksums)
	{
		like($out, qr/t_map:null/, "$name: stat_tables: NULLs for the unreadable map");
		like($err, qr/WARNING:  no storage statistics for phantom table "t_map"/,
			"$name: stat_tables: WARNING for the unreadable map");
	}

	is($bad_rows->('t_clean'), '', "$name: an undamaged table still verifies clean");
	is($node->safe_psql('postgres', 'SELECT 1'), '1', "$name: the server is still up");

	$node->stop;
	return;
}

run_scenario(0);
run_scenario(1);
done_testing();
