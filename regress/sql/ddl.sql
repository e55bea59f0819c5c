--
-- ddl: creating, altering and dropping tables of the AM under test
--
CREATE SCHEMA ddl;
SET search_path = ddl, public;

CREATE TABLE t (a int PRIMARY KEY, b text NOT NULL DEFAULT 'x', c numeric(10,2));
SELECT is_default_am('t');
\d+ t
INSERT INTO t VALUES (1, 'one', 1.5), (2, 'two', 2.5), (3, DEFAULT, NULL);
-- columns: add (with and without default), drop, rename, change type
ALTER TABLE t ADD COLUMN d int;
ALTER TABLE t ADD COLUMN e text DEFAULT 'e-default';
ALTER TABLE t ADD COLUMN f timestamptz DEFAULT '2020-01-01 00:00:00+00' NOT NULL;
SELECT * FROM t ORDER BY a;
ALTER TABLE t DROP COLUMN d;
ALTER TABLE t RENAME COLUMN e TO e2;
ALTER TABLE t ALTER COLUMN c TYPE float8;       -- rewrites the table
ALTER TABLE t ALTER COLUMN b SET DEFAULT 'y';
INSERT INTO t (a) VALUES (4);
SELECT * FROM t ORDER BY a;
\d t
-- rename and move
ALTER TABLE t RENAME TO t2;
CREATE SCHEMA ddl_other;
ALTER TABLE t2 SET SCHEMA ddl_other;
SELECT * FROM ddl_other.t2 ORDER BY a;
ALTER TABLE ddl_other.t2 SET SCHEMA ddl;
ALTER TABLE t2 RENAME TO t;
DROP SCHEMA ddl_other;
-- identity and generated columns
CREATE TABLE g (id int GENERATED ALWAYS AS IDENTITY, x int,
                y int GENERATED ALWAYS AS (x * 2) STORED);
INSERT INTO g (x) SELECT i FROM generate_series(1, 5) i;
UPDATE g SET x = x + 10 WHERE id = 3;
SELECT * FROM g ORDER BY id;
INSERT INTO g (id, x) VALUES (100, 1);
-- CREATE TABLE AS, SELECT INTO, LIKE, materialized view, inheritance
CREATE TABLE ctas AS SELECT i, repeat('z', i) AS s FROM generate_series(1, 10) i;
SELECT is_default_am('ctas');
SELECT i INTO sel_into FROM generate_series(1, 3) i;
SELECT is_default_am('sel_into');
CREATE TABLE liked (LIKE t INCLUDING ALL);
\d liked
CREATE MATERIALIZED VIEW mv AS SELECT i, i * i AS sq FROM ctas WHERE i % 2 = 0;
SELECT is_default_am('mv');
SELECT * FROM mv ORDER BY i;
INSERT INTO ctas VALUES (12, 'twelve');
REFRESH MATERIALIZED VIEW mv;
SELECT * FROM mv ORDER BY i;
CREATE TABLE parent (a int, b text);
CREATE TABLE child (c int) INHERITS (parent);
INSERT INTO parent VALUES (1, 'p');
INSERT INTO child VALUES (2, 'c', 3);
SELECT tableoid::regclass, * FROM parent ORDER BY a;
SELECT * FROM ONLY parent ORDER BY a;
-- storage parameters: heap's reloptions are valid for every table AM
CREATE TABLE ff (a int, b text) WITH (fillfactor = 50, autovacuum_enabled = off);
SELECT reloptions FROM pg_class WHERE oid = 'ff'::regclass;
ALTER TABLE ff SET (fillfactor = 70, toast_tuple_target = 256);
ALTER TABLE ff RESET (autovacuum_enabled);
SELECT reloptions FROM pg_class WHERE oid = 'ff'::regclass;
INSERT INTO ff SELECT i, md5(i::text) FROM generate_series(1, 200) i;
SELECT count(*), min(a), max(a) FROM ff;
-- invalid reloptions: clear errors
CREATE TABLE bad1 (a int) WITH (fillfactor = 5);
CREATE TABLE bad2 (a int) WITH (no_such_option = 1);
CREATE TABLE bad3 (a int) WITH (fillfactor = 'abc');
ALTER TABLE ff SET (fillfactor = 101);
ALTER TABLE ff SET (phantom.nothing = 1);
-- an unknown access method
CREATE TABLE bad4 (a int) USING no_such_am;
SET default_table_access_method = no_such_am;
-- the cold tier: settle, compact, look again
VACUUM (FREEZE) t, g, ctas, sel_into, mv, parent, child, ff;
CALL compact_all();
SELECT * FROM t ORDER BY a;
SELECT * FROM g ORDER BY id;
SELECT * FROM mv ORDER BY i;
SELECT tableoid::regclass, * FROM parent ORDER BY a;
SELECT count(*), min(a), max(a), sum(length(b)) FROM ff;
-- DDL on compacted tables
ALTER TABLE t ADD COLUMN z int DEFAULT 7;
ALTER TABLE t ALTER COLUMN c TYPE numeric;
UPDATE t SET z = a * 10 WHERE a > 2;
SELECT * FROM t ORDER BY a;
ALTER TABLE ff ALTER COLUMN a TYPE bigint;
SELECT count(*), min(a), max(a) FROM ff;
-- dropping
DROP TABLE ff;
DROP MATERIALIZED VIEW mv;
DROP TABLE parent CASCADE;
SELECT relname FROM pg_class WHERE relnamespace = 'ddl'::regnamespace
   AND relkind IN ('r', 'm') ORDER BY 1;
DROP SCHEMA ddl CASCADE;
