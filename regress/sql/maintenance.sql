--
-- maintenance: VACUUM (plain, FREEZE, VERBOSE-free, DISABLE_PAGE_SKIPPING),
-- ANALYZE, VACUUM FULL, CLUSTER, TRUNCATE (in transactions, RESTART
-- IDENTITY, CASCADE)
--
CREATE SCHEMA maintenance;
SET search_path = maintenance, public;

CREATE TABLE m (id serial PRIMARY KEY, grp int, v text);
CREATE INDEX m_grp ON m (grp);
INSERT INTO m (grp, v) SELECT i % 10, md5(i::text) FROM generate_series(1, 5000) i;
DELETE FROM m WHERE id % 4 = 0;
UPDATE m SET v = 'updated' WHERE id % 4 = 1;
VACUUM m;
VACUUM (ANALYZE) m;
SELECT reltuples FROM pg_class WHERE oid = 'm'::regclass;
SELECT attname, null_frac, n_distinct FROM pg_stats
 WHERE schemaname = 'maintenance' AND tablename = 'm' AND attname IN ('grp', 'id') ORDER BY 1;
SELECT count(*), sum(id), count(DISTINCT v) FROM m;
-- the freed space is reused: inserting again keeps everything consistent
INSERT INTO m (grp, v) SELECT i % 10, 'again' FROM generate_series(1, 1000) i;
SET enable_seqscan = off;
SELECT count(*), sum(id) FROM m WHERE grp = 3;
RESET enable_seqscan;
SELECT count(*), sum(id) FROM m WHERE grp = 3;
VACUUM (FREEZE, DISABLE_PAGE_SKIPPING) m;
VACUUM (INDEX_CLEANUP off, TRUNCATE off) m;
VACUUM (PROCESS_TOAST false) m;
-- relfrozenxid advances with FREEZE
CREATE TABLE fz (a int);
INSERT INTO fz SELECT generate_series(1, 100);
SELECT age(relfrozenxid) >= 0 AS has_frozenxid, relminmxid <> '0' AS has_minmxid
  FROM pg_class WHERE oid = 'fz'::regclass;
VACUUM (FREEZE) fz;
SELECT age(relfrozenxid) <= age((SELECT relfrozenxid FROM pg_class WHERE oid = 'm'::regclass))
  AS advanced FROM pg_class WHERE oid = 'fz'::regclass;
-- ANALYZE alone, and on a column list
ANALYZE m;
ANALYZE m (grp);
SELECT reltuples FROM pg_class WHERE oid = 'm'::regclass;
-- VACUUM FULL and CLUSTER rewrite the table
VACUUM FULL m;
SELECT count(*), sum(id), count(DISTINCT v) FROM m;
SELECT is_default_am('m');
CLUSTER m USING m_grp;
SELECT count(*), sum(id), count(DISTINCT v) FROM m;
SELECT grp, count(*) FROM m GROUP BY grp ORDER BY grp;
SET enable_seqscan = off;
SELECT count(*), sum(id) FROM m WHERE grp = 3;
SELECT id, grp FROM m WHERE id BETWEEN 1 AND 6 ORDER BY id;
RESET enable_seqscan;
CLUSTER m;
SELECT count(*) FROM m;
-- TRUNCATE, in a transaction that rolls back and one that commits
BEGIN;
TRUNCATE m;
SELECT count(*) FROM m;
ROLLBACK;
SELECT count(*) FROM m;
BEGIN;
TRUNCATE m RESTART IDENTITY;
INSERT INTO m (grp, v) VALUES (1, 'first after truncate');
COMMIT;
SELECT * FROM m;
-- TRUNCATE of a table created in the same transaction
BEGIN;
CREATE TABLE tt (a int);
INSERT INTO tt VALUES (1);
TRUNCATE tt;
INSERT INTO tt VALUES (2);
COMMIT;
SELECT * FROM tt;
-- TRUNCATE ... CASCADE through a foreign key
CREATE TABLE tp (id int PRIMARY KEY);
CREATE TABLE tc (pid int REFERENCES tp);
INSERT INTO tp VALUES (1), (2);
INSERT INTO tc VALUES (1);
TRUNCATE tp;
TRUNCATE tp CASCADE;
SELECT (SELECT count(*) FROM tp) AS tp, (SELECT count(*) FROM tc) AS tc;
-- the cold tier, then maintenance over compacted pages
INSERT INTO m (grp, v) SELECT i % 10, md5(i::text) FROM generate_series(1, 3000) i;
VACUUM (FREEZE) m, fz, tt, tp, tc;
CALL compact_all();
SELECT count(*), sum(id), count(DISTINCT v) FROM m;
DELETE FROM m WHERE id % 3 = 0;
UPDATE m SET v = 'x' WHERE id % 3 = 1;
VACUUM m;
ANALYZE m;
SELECT reltuples FROM pg_class WHERE oid = 'm'::regclass;
SELECT count(*), sum(id), count(DISTINCT v) FROM m;
CALL compact_all();
VACUUM FULL m;
SELECT count(*), sum(id), count(DISTINCT v) FROM m;
VACUUM (FREEZE) m;
CALL compact_all();
CLUSTER m USING m_pkey;
SET enable_seqscan = off;
SELECT count(*), sum(id) FROM m WHERE grp = 3;
RESET enable_seqscan;
TRUNCATE m;
SELECT count(*) FROM m;
DROP SCHEMA maintenance CASCADE;
