--
-- stats: the cumulative statistics of a table (pg_stat_user_tables,
-- pg_statio counters excluded) count inserts, updates, HOT updates,
-- deletes, live and dead rows, scans and vacuums like heap.  Run it alone:
-- opportunistic pruning (which lowers n_dead_tup) needs no concurrent
-- snapshots.
--
CREATE SCHEMA stats;
SET search_path = stats, public;

CREATE TABLE st (id int PRIMARY KEY, k int, v text) WITH (fillfactor = 60, autovacuum_enabled = off);
CREATE INDEX st_k ON st (k);
CREATE VIEW st_stats AS
	SELECT seq_scan > 0 AS seq_scanned, idx_scan > 0 AS idx_scanned, n_tup_ins, n_tup_upd,
	       n_tup_del, n_tup_hot_upd, n_live_tup, n_dead_tup, n_mod_since_analyze,
	       n_ins_since_vacuum, vacuum_count, analyze_count
	  FROM pg_stat_user_tables WHERE relid = 'st'::regclass;
INSERT INTO st SELECT i, i, 'v' || i FROM generate_series(1, 1000) i;
SELECT pg_stat_force_next_flush();
SELECT * FROM st_stats;
UPDATE st SET v = v || 'x' WHERE id % 4 = 0;       -- no indexed column: HOT when it fits
UPDATE st SET k = k + 1 WHERE id % 10 = 1;          -- indexed column: never HOT
DELETE FROM st WHERE id % 9 = 0;
BEGIN; INSERT INTO st VALUES (5000, 0, 'aborted'); ROLLBACK;
SELECT count(*) FROM st;
SET enable_seqscan = off;
SELECT count(*) FROM st WHERE id = 5;
RESET enable_seqscan;
SELECT pg_stat_force_next_flush();
SELECT * FROM st_stats;
VACUUM st;
ANALYZE st;
SELECT pg_stat_force_next_flush();
SELECT * FROM st_stats;
-- the cold tier
VACUUM (FREEZE) st;
CALL compact_all();
UPDATE st SET v = 'cold' WHERE id % 4 = 1;
DELETE FROM st WHERE id % 9 = 1;
SELECT pg_stat_force_next_flush();
SELECT n_tup_ins, n_tup_upd, n_tup_del, n_live_tup, n_dead_tup FROM st_stats;
DROP SCHEMA stats CASCADE;
