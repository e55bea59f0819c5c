--
-- temp_unlogged: temporary tables (local buffers, ON COMMIT actions) and
-- unlogged tables, SET LOGGED / UNLOGGED
--
CREATE SCHEMA temp_unlogged;
SET search_path = temp_unlogged, public;

CREATE TEMP TABLE tmp (id int PRIMARY KEY, v text);
SELECT is_default_am('tmp');
INSERT INTO tmp SELECT i, md5(i::text) FROM generate_series(1, 3000) i;
UPDATE tmp SET v = 'u' WHERE id % 10 = 0;
DELETE FROM tmp WHERE id % 10 = 1;
SELECT count(*), count(DISTINCT v), sum(id) FROM tmp;
SET enable_seqscan = off;
SELECT id, v FROM tmp WHERE id BETWEEN 9 AND 12 ORDER BY id;
RESET enable_seqscan;
-- more temp rows than temp_buffers-sized local buffers hold
CREATE TEMP TABLE tmp_big (id int, pad text);
INSERT INTO tmp_big SELECT i, repeat('x', 200) FROM generate_series(1, 20000) i;
SELECT count(*), sum(id) FROM tmp_big;
-- ON COMMIT DELETE ROWS / DROP
CREATE TEMP TABLE tmp_del (a int) ON COMMIT DELETE ROWS;
BEGIN;
INSERT INTO tmp_del VALUES (1), (2);
SELECT count(*) FROM tmp_del;
COMMIT;
SELECT count(*) FROM tmp_del;
BEGIN;
CREATE TEMP TABLE tmp_drop (a int) ON COMMIT DROP;
INSERT INTO tmp_drop VALUES (1);
COMMIT;
SELECT * FROM tmp_drop;
-- a temp table rolled back
BEGIN;
CREATE TEMP TABLE tmp_rb (a int);
INSERT INTO tmp_rb VALUES (1);
ROLLBACK;
SELECT * FROM tmp_rb;
-- unlogged tables
CREATE UNLOGGED TABLE ul (id int PRIMARY KEY, v text);
SELECT is_default_am('ul'), relpersistence FROM pg_class WHERE oid = 'ul'::regclass;
INSERT INTO ul SELECT i, 'v' || i FROM generate_series(1, 2000) i;
UPDATE ul SET v = 'w' WHERE id % 7 = 0;
SELECT count(*), count(DISTINCT v), sum(id) FROM ul;
ALTER TABLE ul SET LOGGED;
SELECT relpersistence FROM pg_class WHERE oid = 'ul'::regclass;
SELECT count(*), count(DISTINCT v), sum(id) FROM ul;
ALTER TABLE ul SET UNLOGGED;
SELECT relpersistence FROM pg_class WHERE oid = 'ul'::regclass;
INSERT INTO ul VALUES (5000, 'after');
SELECT count(*), sum(id) FROM ul;
CREATE TABLE logged (a int);
INSERT INTO logged VALUES (1), (2);
ALTER TABLE logged SET UNLOGGED;
SELECT * FROM logged ORDER BY a;
-- the cold tier (temp tables are compacted through the session's temp schema)
VACUUM (FREEZE) tmp, tmp_big, ul, logged;
CALL compact_all();
SELECT count(*), count(DISTINCT v), sum(id) FROM tmp;
SELECT count(*), sum(id) FROM tmp_big;
SELECT count(*), count(DISTINCT v), sum(id) FROM ul;
UPDATE tmp SET v = 'cold' WHERE id <= 5;
DELETE FROM tmp_big WHERE id > 19990;
UPDATE ul SET v = 'cold' WHERE id <= 5;
SELECT id, v FROM tmp WHERE id <= 6 ORDER BY id;
SELECT count(*), sum(id) FROM tmp_big;
SELECT id, v FROM ul WHERE id <= 6 ORDER BY id;
TRUNCATE tmp, ul;
SELECT count(*) FROM tmp;
SELECT count(*) FROM ul;
INSERT INTO ul VALUES (1, 'again');
SELECT * FROM ul;
DROP TABLE tmp, tmp_big;
DROP SCHEMA temp_unlogged CASCADE;
