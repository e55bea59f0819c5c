--
-- pgsuite: behaviours PostgreSQL's own regression suite showed to differ
-- from heap (scripts/pg-suite.sh); one block per fix.
--
CREATE SCHEMA pgsuite;
SET search_path = pgsuite, public;

-- A large row in a table with a low fillfactor: heap treats a nearly empty
-- page as empty, so the row goes on the first page (PG's insert test).
CREATE TABLE big_ff (a int, b text) WITH (fillfactor = 10);
INSERT INTO big_ff VALUES (1, NULL);
INSERT INTO big_ff VALUES (2, repeat('a', 1000));
INSERT INTO big_ff VALUES (3, repeat('a', 8000));
INSERT INTO big_ff VALUES (4, repeat('a', 8126));
SELECT a, length(b), ctid FROM big_ff ORDER BY a;
UPDATE big_ff SET b = repeat('b', 8100) WHERE a = 2;
SELECT a, length(b) FROM big_ff ORDER BY a;
DROP TABLE big_ff;

-- VACUUM (PARALLEL n) of a temporary table with two indexes warns that it
-- cannot run in parallel (PG's vacuum test).
CREATE TEMPORARY TABLE tmp_par (a int PRIMARY KEY, b int);
CREATE INDEX tmp_par_b ON tmp_par (b);
INSERT INTO tmp_par SELECT i, i FROM generate_series(1, 100) i;
DELETE FROM tmp_par WHERE a % 2 = 0;
VACUUM (PARALLEL 1) tmp_par;
VACUUM (PARALLEL 0) tmp_par;
SELECT count(*) FROM tmp_par;
DROP TABLE tmp_par;

-- VACUUM gives the file of a table without rows back, unless truncation is
-- disabled (PG's vacuum and reloptions tests).
CREATE TABLE trunc_t (i int NOT NULL, j text) WITH (autovacuum_enabled = false);
INSERT INTO trunc_t VALUES (1, NULL), (NULL, NULL);
VACUUM (TRUNCATE false) trunc_t;
SELECT pg_relation_size('trunc_t') > 0 AS has_pages;
VACUUM trunc_t;
SELECT pg_relation_size('trunc_t') = 0 AS empty_file;
INSERT INTO trunc_t SELECT i, 'x' FROM generate_series(1, 500) i;
CREATE INDEX trunc_t_i ON trunc_t (i);
DELETE FROM trunc_t;
ALTER TABLE trunc_t SET (vacuum_truncate = false);
VACUUM trunc_t;
SELECT pg_relation_size('trunc_t') > 0 AS has_pages;
ALTER TABLE trunc_t RESET (vacuum_truncate);
VACUUM trunc_t;
SELECT pg_relation_size('trunc_t') = 0 AS empty_file;
-- the table is usable afterwards, and an index scan finds the new rows
INSERT INTO trunc_t SELECT i, 'y' FROM generate_series(1, 300) i;
SET enable_seqscan = off;
SELECT count(*), min(j), max(ctid) FROM trunc_t WHERE i > 0;
RESET enable_seqscan;
-- rows left: nothing is given back
DELETE FROM trunc_t WHERE i > 1;
VACUUM trunc_t;
SELECT pg_relation_size('trunc_t') > 0 AS has_pages, count(*) FROM trunc_t;
DROP TABLE trunc_t;

DROP SCHEMA pgsuite CASCADE;
