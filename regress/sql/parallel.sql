--
-- parallel: parallel sequential scans, parallel bitmap heap scans,
-- parallel aggregates and a parallel index build (plans forced)
--
CREATE SCHEMA parallel;
SET search_path = parallel, public;

CREATE TABLE pa (id int, grp int, v text);
INSERT INTO pa SELECT i, i % 13, md5(i::text) FROM generate_series(1, 30000) i;
DELETE FROM pa WHERE id % 17 = 0;
ANALYZE pa;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET min_parallel_index_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF) SELECT count(*), sum(id) FROM pa;
SELECT count(*), sum(id) FROM pa;
SELECT grp, count(*), sum(id), min(v), max(v) FROM pa GROUP BY grp ORDER BY grp;
SELECT id, v FROM pa WHERE v LIKE 'fff%' ORDER BY id;
SET parallel_leader_participation = on;
SELECT count(*), sum(id) FROM pa WHERE grp = 3;
-- parallel bitmap heap scan
CREATE INDEX pa_grp ON pa (grp);
SET enable_seqscan = off;
SET enable_indexscan = off;
EXPLAIN (COSTS OFF) SELECT count(*), sum(id) FROM pa WHERE grp IN (1, 2);
SELECT count(*), sum(id) FROM pa WHERE grp IN (1, 2);
RESET enable_seqscan; RESET enable_indexscan;
-- parallel index build
SET max_parallel_maintenance_workers = 2;
SET maintenance_work_mem = '64MB';
CREATE INDEX pa_id ON pa (id);
SET enable_seqscan = off; SET enable_bitmapscan = off;
SELECT count(*), sum(id) FROM pa WHERE id BETWEEN 1000 AND 2000;
RESET enable_seqscan; RESET enable_bitmapscan;
-- a parallel scan after updates spread rows over new pages
UPDATE pa SET v = 'moved' WHERE id % 5 = 0;
SELECT count(*), count(*) FILTER (WHERE v = 'moved'), sum(id) FROM pa;
-- the cold tier
VACUUM (FREEZE) pa;
CALL compact_all();
EXPLAIN (COSTS OFF) SELECT count(*), sum(id) FROM pa;
SELECT count(*), count(*) FILTER (WHERE v = 'moved'), sum(id) FROM pa;
SELECT grp, count(*), sum(id), min(v), max(v) FROM pa GROUP BY grp ORDER BY grp;
SET enable_seqscan = off; SET enable_indexscan = off;
SELECT count(*), sum(id) FROM pa WHERE grp IN (1, 2);
RESET enable_seqscan; RESET enable_indexscan;
UPDATE pa SET v = 'cold' WHERE id % 7 = 0;
SELECT count(*), count(*) FILTER (WHERE v = 'cold'), sum(id) FROM pa;
DROP SCHEMA parallel CASCADE;
