--
-- vm: the visibility map: index-only scans fetch no rows from the table
-- after VACUUM, exactly the rows of changed pages after changes, none
-- again after the next VACUUM, and none over compacted pages.  Run it
-- alone: VACUUM sets all-visible only when no snapshot is older.
--
CREATE SCHEMA vm;
SET search_path = vm, public;

-- (fillfactor: updates stay on their page, so only the VM is tested here;
-- where rows go when they do not fit is the placement test's subject)
CREATE TABLE vmt (id int PRIMARY KEY, v int) WITH (autovacuum_enabled = off, fillfactor = 90);
INSERT INTO vmt SELECT i, i FROM generate_series(1, 5000) i;
VACUUM vmt;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT id FROM vmt WHERE id <= 1000;
SELECT count(*), sum(id) FROM vmt WHERE id <= 1000;
-- a change clears the page's bit: its rows are fetched again
UPDATE vmt SET v = -v WHERE id = 500;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT id FROM vmt WHERE id <= 1000;
DELETE FROM vmt WHERE id = 2000;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT id FROM vmt WHERE id <= 3000;
SELECT count(*), sum(id) FROM vmt WHERE id <= 3000;
VACUUM vmt;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT id FROM vmt WHERE id <= 3000;
SELECT count(*), sum(id) FROM vmt WHERE id <= 3000;
-- relallvisible counts all-visible pages like heap
SELECT relallvisible = relpages AS all_visible FROM pg_class WHERE oid = 'vmt'::regclass;
-- the cold tier
VACUUM (FREEZE) vmt;
CALL compact_all();
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT id FROM vmt WHERE id <= 3000;
UPDATE vmt SET v = 0 WHERE id = 10;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT id FROM vmt WHERE id <= 1000;
VACUUM vmt;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT id FROM vmt WHERE id <= 1000;
SELECT count(*), sum(id), sum(v) FROM vmt;
-- a row lock on an all-frozen page clears only its all-frozen bit: the
-- page stays all-visible (too small for background compaction)
CREATE EXTENSION pg_visibility SCHEMA vm;
CREATE TABLE vml (id int, v int) WITH (autovacuum_enabled = off);
INSERT INTO vml SELECT i, i FROM generate_series(1, 500) i;
VACUUM (FREEZE) vml;
SELECT blkno, all_visible, all_frozen FROM pg_visibility_map('vml') ORDER BY blkno;
SELECT id FROM vml WHERE id = 1 FOR UPDATE;
SELECT id FROM vml WHERE id = 499 FOR KEY SHARE;
SELECT blkno, all_visible, all_frozen FROM pg_visibility_map('vml') ORDER BY blkno;
SELECT count(*), sum(id) FROM vml;
-- a delete clears both
DELETE FROM vml WHERE id = 2;
SELECT blkno, all_visible, all_frozen FROM pg_visibility_map('vml') ORDER BY blkno;
VACUUM (FREEZE) vml;
SELECT blkno, all_visible, all_frozen FROM pg_visibility_map('vml') ORDER BY blkno;
DROP SCHEMA vm CASCADE;
