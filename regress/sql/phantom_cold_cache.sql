--
-- phantom_cold_cache: the per-backend cache of decompressed cold images
-- (phantom.cold_cache_size, src/lsm/run.c).  Index lookups of cold rows are
-- served from it the second time; sequential scans neither fill it nor
-- evict from it; after a thaw and a new compaction (run pages retired and
-- reused, also in a temporary table whose pages carry no LSN) it never
-- returns a stale image.  Hand-written expected output (phantom_* test).
--
CREATE SCHEMA phantom_cold_cache;
SET search_path = phantom_cold_cache, public;
SET enable_seqscan = off;
SET enable_bitmapscan = off;

CREATE TABLE cc (id int PRIMARY KEY, v int, t text) USING phantom;
INSERT INTO cc SELECT g, g, 'row ' || g FROM generate_series(1, 5000) g;
SELECT phantom.compact('cc') >= 0 AS compacted;
SELECT cold_vblocks >= hot_vblocks * 10 AS mostly_cold FROM phantom_internal.storage_info('cc');

CREATE FUNCTION delta(OUT hits bigint, OUT misses bigint) LANGUAGE plpgsql AS $$
DECLARE
	h0 bigint;
	m0 bigint;
BEGIN
	SELECT s.hits, s.misses INTO h0, m0 FROM phantom_internal.cold_cache_stats() s;
	PERFORM v FROM cc WHERE id = 10;
	PERFORM v FROM cc WHERE id = 4000;
	PERFORM v FROM cc WHERE id = 11;
	SELECT s.hits - h0, s.misses - m0 INTO hits, misses FROM phantom_internal.cold_cache_stats() s;
END $$;

-- first visit decompresses, later visits of the same vblocks hit
SELECT * FROM delta();
SELECT * FROM delta();
SELECT v, t FROM cc WHERE id IN (10, 4000) ORDER BY id;

-- a sequential scan stores nothing
SET enable_seqscan = on;
SELECT images AS before_scan FROM phantom_internal.cold_cache_stats() \gset
SELECT count(*), sum(v) FROM cc;
SELECT images = :before_scan AS scan_stored_nothing FROM phantom_internal.cold_cache_stats();
SET enable_seqscan = off;

-- thaw, recompact: the cached images are stale and must not be used
UPDATE cc SET v = -v WHERE id IN (10, 4000);
VACUUM cc;
SELECT phantom.compact('cc') >= 0 AS compacted;
SELECT cold_vblocks >= hot_vblocks * 10 AS mostly_cold FROM phantom_internal.storage_info('cc');
SELECT v, t FROM cc WHERE id IN (10, 4000, 11) ORDER BY id;

-- off: nothing cached, still correct
SET phantom.cold_cache_size = 0;
SELECT hits FROM delta();
SELECT images FROM phantom_internal.cold_cache_stats();
RESET phantom.cold_cache_size;

-- a temporary table writes no LSN: validity rests on the frame bytes
CREATE TEMP TABLE tc (id int PRIMARY KEY, v int) USING phantom;
INSERT INTO tc SELECT g, g FROM generate_series(1, 3000) g;
SELECT phantom.compact('tc') > 0 AS compacted;
SELECT v FROM tc WHERE id = 7;
SELECT v FROM tc WHERE id = 7;
UPDATE tc SET v = 700 WHERE id = 7;
VACUUM tc;
SELECT phantom.compact('tc') > 0 AS compacted;
SELECT v FROM tc WHERE id = 7;
SELECT count(*), sum(v) FROM tc;

DROP SCHEMA phantom_cold_cache CASCADE;
