--
-- indexes: btree, hash, gin, gist, spgist and brin, used by index scans,
-- bitmap scans and index-only scans (plans forced with enable_*)
--
CREATE SCHEMA indexes;
SET search_path = indexes, public;

CREATE TABLE ix (id int, k int, t text, arr int[], p point, r int4range, ts tsvector, pad text);
INSERT INTO ix
SELECT i, i % 97, 'key' || (i % 500), ARRAY[i % 10, i % 7], point(i % 100, i / 100),
       int4range(i, i + (i % 5) + 1), to_tsvector('simple', 'w' || (i % 13) || ' v' || (i % 29)),
       repeat('.', i % 40)
  FROM generate_series(1, 5000) i;
CREATE INDEX ix_bt ON ix (id);
CREATE INDEX ix_bt2 ON ix (k, id);
CREATE INDEX ix_hash ON ix USING hash (t);
CREATE INDEX ix_gin ON ix USING gin (arr);
CREATE INDEX ix_gin_ts ON ix USING gin (ts);
CREATE INDEX ix_gist ON ix USING gist (p);
CREATE INDEX ix_gist_r ON ix USING gist (r);
CREATE INDEX ix_spgist ON ix USING spgist (t);
CREATE INDEX ix_brin ON ix USING brin ((id + 0)) WITH (pages_per_range = 2);
CREATE UNIQUE INDEX ix_expr ON ix (lower(t), id);
CREATE INDEX ix_part ON ix (k) WHERE k < 10;
ANALYZE ix;

-- the queries, run under each plan shape (EXECUTE plans them afresh under
-- the current enable_* settings)
CREATE FUNCTION run_queries() RETURNS TABLE (q text, res text) LANGUAGE plpgsql AS $$
DECLARE
	sql text;
BEGIN
	FOR q, sql IN VALUES
		('btree eq', $q$SELECT string_agg(id::text, ',' ORDER BY id) FROM ix WHERE id IN (7, 4000, 4999)$q$),
		('btree range', $q$SELECT count(*) || '/' || sum(id) FROM ix WHERE id BETWEEN 100 AND 1200$q$),
		('btree 2col', $q$SELECT count(*) || '/' || sum(id) FROM ix WHERE k = 5 AND id > 1000$q$),
		('hash', $q$SELECT count(*) || '/' || sum(id) FROM ix WHERE t = 'key42'$q$),
		('gin arr', $q$SELECT count(*) || '/' || sum(id) FROM ix WHERE arr @> ARRAY[3, 4]$q$),
		('gin ts', $q$SELECT count(*) || '/' || sum(id) FROM ix WHERE ts @@ 'w3 & v7'::tsquery$q$),
		('gist point', $q$SELECT count(*) || '/' || sum(id) FROM ix WHERE p <@ box '((10,10),(20,20))'$q$),
		('gist range', $q$SELECT count(*) || '/' || sum(id) FROM ix WHERE r && int4range(2000, 2010)$q$),
		('spgist prefix', $q$SELECT count(*) || '/' || sum(id) FROM ix WHERE t ^@ 'key49'$q$),
		('brin', $q$SELECT count(*) || '/' || sum(id) FROM ix WHERE id + 0 BETWEEN 3000 AND 3100$q$),
		('expr', $q$SELECT count(*) || '/' || sum(id) FROM ix WHERE lower(t) = 'key7'$q$),
		('partial', $q$SELECT count(*) || '/' || sum(id) FROM ix WHERE k < 10 AND k > 7$q$),
		('knn', $q$SELECT string_agg(id::text, ',') FROM (SELECT id FROM ix ORDER BY p <-> point '(50.2, 25.1)' LIMIT 5) s$q$)
	LOOP
		EXECUTE sql INTO res;
		RETURN NEXT;
	END LOOP;
END $$;

SET enable_seqscan = off;
SET enable_bitmapscan = off;
SET enable_indexonlyscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM ix WHERE id BETWEEN 100 AND 1200;
EXPLAIN (COSTS OFF) SELECT * FROM ix WHERE t = 'key42';
EXPLAIN (COSTS OFF) SELECT * FROM ix WHERE p <@ box '((10,10),(20,20))';
EXPLAIN (COSTS OFF) SELECT id FROM ix ORDER BY p <-> point '(50.2, 25.1)' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT * FROM ix WHERE t ^@ 'key49';
SELECT * FROM run_queries();
-- backward index scan
SELECT id FROM ix WHERE id < 10 ORDER BY id DESC;
SELECT id, k FROM ix WHERE k = 3 ORDER BY k DESC, id DESC LIMIT 5;

SET enable_indexscan = off;
SET enable_bitmapscan = on;
EXPLAIN (COSTS OFF) SELECT * FROM ix WHERE arr @> ARRAY[3, 4];
EXPLAIN (COSTS OFF) SELECT * FROM ix WHERE id + 0 BETWEEN 3000 AND 3100;
EXPLAIN (COSTS OFF) SELECT * FROM ix WHERE ts @@ 'w3 & v7'::tsquery;
EXPLAIN (COSTS OFF) SELECT * FROM ix WHERE r && int4range(2000, 2010);
EXPLAIN (COSTS OFF) SELECT * FROM ix WHERE k = 5 OR t = 'key42';
SELECT * FROM run_queries() WHERE q <> 'knn';
SELECT count(*), sum(id) FROM ix WHERE k = 5 OR t = 'key42';
-- a lossy bitmap (tiny work_mem)
SET work_mem = '64kB';
SELECT count(*), sum(id) FROM ix WHERE id > 10 AND k < 50;
RESET work_mem;

SET enable_bitmapscan = off;
SET enable_indexscan = on;
SET enable_indexonlyscan = on;
VACUUM ix;
EXPLAIN (COSTS OFF) SELECT id FROM ix WHERE id BETWEEN 100 AND 1200;
EXPLAIN (COSTS OFF) SELECT k, id FROM ix WHERE k = 5;
SELECT count(*), sum(id) FROM ix WHERE id BETWEEN 100 AND 1200;
SELECT count(*), sum(id) FROM ix WHERE k = 5;
-- index-only scan on rows changed after VACUUM (not all-visible any more)
UPDATE ix SET k = k WHERE id % 100 = 0;
DELETE FROM ix WHERE id % 250 = 0;
SELECT count(*), sum(id) FROM ix WHERE id BETWEEN 100 AND 1200;
SELECT count(*), sum(id) FROM ix WHERE k = 5;

-- changes under every index: updates of indexed and non-indexed columns
RESET enable_seqscan; RESET enable_bitmapscan; RESET enable_indexscan; RESET enable_indexonlyscan;
UPDATE ix SET pad = pad || '!' WHERE id % 3 = 0;                 -- no indexed column
UPDATE ix SET t = 'key42' WHERE id BETWEEN 10 AND 20;            -- hash key
UPDATE ix SET arr = ARRAY[3, 4] WHERE id BETWEEN 30 AND 40;       -- gin key
UPDATE ix SET p = point(15, 15) WHERE id BETWEEN 50 AND 60;       -- gist/spgist key
UPDATE ix SET id = id + 10000 WHERE id BETWEEN 3000 AND 3010;     -- btree/brin key
DELETE FROM ix WHERE id BETWEEN 3050 AND 3060;
CREATE TEMP TABLE seq_results AS SELECT * FROM run_queries();
SET enable_seqscan = off; SET enable_bitmapscan = off;
SELECT q, res FROM run_queries() EXCEPT SELECT q, res FROM seq_results;   -- index scans agree
SET enable_indexscan = off; SET enable_bitmapscan = on;
SELECT q, res FROM run_queries() WHERE q <> 'knn'
EXCEPT SELECT q, res FROM seq_results;                                    -- bitmap scans agree
RESET enable_seqscan; RESET enable_bitmapscan; RESET enable_indexscan;
SELECT * FROM seq_results;

-- the cold tier: the same plans and results over compacted pages
VACUUM (FREEZE) ix;
CALL compact_all();
SELECT q, res FROM run_queries() EXCEPT SELECT q, res FROM seq_results;
SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;
SELECT q, res FROM run_queries() EXCEPT SELECT q, res FROM seq_results;
SET enable_indexscan = off; SET enable_bitmapscan = on;
SELECT q, res FROM run_queries() WHERE q <> 'knn' EXCEPT SELECT q, res FROM seq_results;
SET enable_bitmapscan = off; SET enable_indexscan = on; SET enable_indexonlyscan = on;
EXPLAIN (COSTS OFF) SELECT k, id FROM ix WHERE k = 5;
SELECT count(*), sum(id) FROM ix WHERE k = 5;
RESET enable_seqscan; RESET enable_bitmapscan; RESET enable_indexscan; RESET enable_indexonlyscan;
-- modify cold rows, then every access path again
UPDATE ix SET k = k + 1 WHERE id % 10 = 1;
DELETE FROM ix WHERE id % 10 = 2;
TRUNCATE seq_results;
INSERT INTO seq_results SELECT * FROM run_queries();
SET enable_seqscan = off; SET enable_bitmapscan = off;
SELECT q, res FROM run_queries() EXCEPT SELECT q, res FROM seq_results;
SET enable_indexscan = off; SET enable_bitmapscan = on;
SELECT q, res FROM run_queries() WHERE q <> 'knn' EXCEPT SELECT q, res FROM seq_results;
RESET enable_seqscan; RESET enable_bitmapscan; RESET enable_indexscan;
SELECT * FROM seq_results;
-- index builds over cold pages, REINDEX, CONCURRENTLY
CREATE INDEX ix_late ON ix (k, t);
CREATE INDEX CONCURRENTLY ix_conc ON ix USING hash (k);
REINDEX TABLE ix;
REINDEX INDEX CONCURRENTLY ix_bt;
SET enable_seqscan = off; SET enable_bitmapscan = off;
SELECT count(*), sum(id) FROM ix WHERE k = 6 AND t > 'key1';
SELECT count(*), sum(id) FROM ix WHERE k = 6;
RESET enable_seqscan; RESET enable_bitmapscan;
SELECT count(*), sum(id) FROM ix WHERE k = 6;
-- a unique index build finds duplicates
CREATE UNIQUE INDEX ix_dup ON ix (k) WHERE k = 5;
DROP SCHEMA indexes CASCADE;
