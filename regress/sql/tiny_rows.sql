--
-- tiny_rows: rows so small that a page holds MaxHeapTuplesPerPage (291) of
-- them: ctids, TID scans, bitmap scans and deletes at the offset limit
--
CREATE SCHEMA tiny_rows;
SET search_path = tiny_rows, public;

-- zero-column rows: 24-byte tuples, 291 per page as in heap
CREATE TABLE z ();
INSERT INTO z SELECT FROM generate_series(1, 1000);
SELECT count(*) FROM z;
SELECT (ctid::text::point)[0] AS blk, count(*), max((ctid::text::point)[1]) AS max_off
  FROM z GROUP BY 1 ORDER BY 1;
SELECT count(*) FROM z WHERE ctid = '(0,291)';
SELECT count(*) FROM z WHERE ctid = '(0,292)';
SELECT count(*) FROM z WHERE ctid >= '(1,290)' AND ctid <= '(2,2)';
DELETE FROM z WHERE ctid = '(1,291)';
SELECT count(*) FROM z;
-- a one-byte column with an index: bitmap scans over full pages
CREATE TABLE b (f bool) WITH (autovacuum_enabled = off);
INSERT INTO b SELECT i % 3 = 0 FROM generate_series(1, 3000) i;
CREATE INDEX b_f ON b (f);
SELECT (ctid::text::point)[0] AS blk, count(*) FROM b GROUP BY 1 ORDER BY 1 LIMIT 3;
SET enable_seqscan = off; SET enable_indexscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM b WHERE f;
SELECT count(*) FROM b WHERE f;
RESET enable_seqscan; RESET enable_indexscan;
-- the cold tier
VACUUM (FREEZE) z, b;
CALL compact_all();
SELECT count(*) FROM z WHERE ctid >= '(1,290)' AND ctid <= '(2,2)';
SELECT (ctid::text::point)[0] AS blk, count(*), max((ctid::text::point)[1]) AS max_off
  FROM z GROUP BY 1 ORDER BY 1;
SET enable_seqscan = off; SET enable_indexscan = off;
SELECT count(*) FROM b WHERE f;
RESET enable_seqscan; RESET enable_indexscan;
DELETE FROM b WHERE ctid = '(0,1)';
SELECT count(*) FROM b;
DROP SCHEMA tiny_rows CASCADE;
