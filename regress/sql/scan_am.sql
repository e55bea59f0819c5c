--
-- scan_am: the scan-side callbacks of the table AM on a multi-page table:
-- direction changes across page boundaries, lossy bitmap pages, HOT chains
-- seen through every access path, pruning and VACUUM statistics, index
-- builds (plain and CONCURRENTLY) checked with amcheck, CLUSTER in index
-- order.  AM-agnostic: the expected output comes from heap.
--
CREATE SCHEMA scan_am;
SET search_path = scan_am, public;
SET max_parallel_workers_per_gather = 0;
CREATE EXTENSION IF NOT EXISTS amcheck;

-- fillfactor 10: about 8 rows per page, so 1500 pages (lossy bitmaps)
CREATE TABLE s (id int PRIMARY KEY, grp int, pad text)
  WITH (fillfactor = 10, autovacuum_enabled = off);
INSERT INTO s SELECT i, i % 10, repeat('p', 60) FROM generate_series(1, 12000) i;
CREATE INDEX s_grp ON s (grp);
VACUUM ANALYZE s;
SELECT relpages > 1200 AS multi_page, relallvisible = relpages AS all_visible
  FROM pg_class WHERE relname = 's';

-- a scroll cursor crossing page boundaries in both directions
BEGIN;
DECLARE c SCROLL CURSOR FOR SELECT id FROM s;
FETCH 2 FROM c;
FETCH ABSOLUTE 100 FROM c;
FETCH ABSOLUTE 9 FROM c;
FETCH ABSOLUTE 8 FROM c;
FETCH ABSOLUTE 9 FROM c;
FETCH BACKWARD 3 FROM c;
FETCH RELATIVE 250 FROM c;
FETCH RELATIVE -251 FROM c;
FETCH LAST FROM c;
FETCH ABSOLUTE -9 FROM c;
FETCH NEXT FROM c;
FETCH LAST FROM c;
FETCH NEXT FROM c;
FETCH PRIOR FROM c;
FETCH BACKWARD 2 FROM c;
MOVE BACKWARD ALL IN c;
FETCH PRIOR FROM c;
FETCH NEXT FROM c;
CLOSE c;
COMMIT;

-- bitmap heap scans, exact and lossy
SET enable_seqscan = off;
SET enable_indexscan = off;
SET enable_indexonlyscan = off;
SELECT count(*), sum(id) FROM s WHERE grp = 3;
SET work_mem = '64kB';
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT count(*) FROM s WHERE grp < 5 AND id > 0;
SELECT count(*), sum(id) FROM s WHERE grp < 5 AND id > 0;
RESET work_mem;
RESET enable_seqscan;
RESET enable_indexscan;
RESET enable_indexonlyscan;

-- HOT updates (grp and id untouched), then every access path
UPDATE s SET pad = 'h1' WHERE id % 4 = 0;
UPDATE s SET pad = 'h2' WHERE id % 8 = 0;
UPDATE s SET grp = grp + 100 WHERE id % 100 = 0;
DELETE FROM s WHERE id % 7 = 0;
SELECT count(*), sum(id), sum(grp), count(*) FILTER (WHERE pad = 'h2') FROM s;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT id, grp, pad FROM s WHERE id IN (8, 12, 14, 100, 5000) ORDER BY id;
SELECT count(*), sum(id) FROM s WHERE grp = 100;
SET enable_indexscan = off;
SET enable_bitmapscan = on;
SELECT id, grp, pad FROM s WHERE id IN (8, 12, 14, 100, 5000) ORDER BY id;
SELECT count(*), sum(id) FROM s WHERE grp = 100;
RESET enable_seqscan;
RESET enable_indexscan;
RESET enable_bitmapscan;
SELECT count(*) FROM s WHERE ctid >= '(10,1)' AND ctid < '(20,1)';
BEGIN;
DECLARE t SCROLL CURSOR FOR SELECT ctid, id FROM s WHERE ctid > '(30,2)' AND ctid <= '(31,3)';
FETCH ALL FROM t;
FETCH BACKWARD ALL FROM t;
COMMIT;
-- change direction in the middle of a TID range spanning several pages
BEGIN;
DECLARE t2 SCROLL CURSOR FOR SELECT ctid, id FROM s WHERE ctid >= '(40,1)' AND ctid <= '(43,3)';
MOVE FORWARD 20 IN t2;
MOVE BACKWARD 4 IN t2;
FETCH BACKWARD 1 FROM t2;
MOVE BACKWARD ALL IN t2;
FETCH FORWARD 1 FROM t2;
MOVE FORWARD ALL IN t2;
FETCH BACKWARD 1 FROM t2;
FETCH ABSOLUTE 12 FROM t2;
FETCH RELATIVE -9 FROM t2;
FETCH RELATIVE 12 FROM t2;
COMMIT;

-- index builds over HOT chains
CREATE INDEX s_pad ON s (pad);
CREATE INDEX CONCURRENTLY s_pad_grp ON s (pad, grp);
SELECT bt_index_check('s_pkey', true), bt_index_check('s_grp', true),
       bt_index_check('s_pad', true), bt_index_check('s_pad_grp', true);
SET enable_seqscan = off;
SELECT count(*) FROM s WHERE pad = 'h1';
SELECT count(*) FROM s WHERE pad = 'h2' AND grp = 100;
RESET enable_seqscan;

-- VACUUM prunes and frees dead items, then the VM allows index-only scans
VACUUM s;
SELECT relallvisible = relpages AS all_visible, reltuples
  FROM pg_class WHERE relname = 's';
SELECT bt_index_check('s_pkey', true), bt_index_check('s_pad', true);
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT count(*) FROM s WHERE id < 3000;
SELECT count(*) FROM s WHERE id < 3000;
-- ANALYZE counts what is left
ANALYZE s;
SELECT reltuples FROM pg_class WHERE relname = 's';

-- the same reads on the cold tier (compact_all is a no-op on heap)
VACUUM (FREEZE) s;
CALL compact_all();
BEGIN;
DECLARE c2 SCROLL CURSOR FOR SELECT id, pad FROM s;
FETCH 2 FROM c2;
FETCH ABSOLUTE 1000 FROM c2;
FETCH BACKWARD 2 FROM c2;
FETCH LAST FROM c2;
FETCH PRIOR FROM c2;
COMMIT;
SELECT count(*), sum(id), sum(grp) FROM s;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT id, grp, pad FROM s WHERE id IN (8, 12, 14, 100, 5000) ORDER BY id;
EXPLAIN (COSTS OFF) SELECT count(*) FROM s WHERE id < 3000;
SELECT count(*) FROM s WHERE id < 3000;
SET enable_indexscan = off;
SET enable_bitmapscan = on;
SET work_mem = '64kB';
SELECT count(*), sum(id) FROM s WHERE grp < 5 AND id > 0;
RESET work_mem;
RESET enable_seqscan;
RESET enable_indexscan;
RESET enable_bitmapscan;
SELECT count(*) FROM s WHERE ctid >= '(10,1)' AND ctid < '(20,1)';
SELECT count(*) FROM s TABLESAMPLE SYSTEM (100);
CREATE INDEX s_id_grp ON s (id, grp);
SELECT bt_index_check('s_pkey', true), bt_index_check('s_id_grp', true);
-- writes thaw cold pages; reads and indexes stay right
UPDATE s SET pad = 'c1' WHERE id % 500 = 1;
DELETE FROM s WHERE id % 500 = 2;
SELECT count(*), sum(id), count(*) FILTER (WHERE pad = 'c1') FROM s;
SET enable_seqscan = off;
SELECT id, pad FROM s WHERE id IN (501, 502, 1001) ORDER BY id;
RESET enable_seqscan;
VACUUM s;
SELECT bt_index_check('s_pkey', true), bt_index_check('s_pad', true);

-- CLUSTER in index order, then TID order follows the index
CLUSTER s USING s_grp;
SELECT count(*) AS out_of_order
  FROM (SELECT grp, lag(grp) OVER (ORDER BY ctid) AS prev FROM s) x WHERE grp < prev;
SELECT bt_index_check('s_pkey', true), bt_index_check('s_grp', true);
SELECT count(*), sum(id), sum(grp) FROM s;

DROP SCHEMA scan_am CASCADE;
