--
-- tablespace: ALTER TABLE / INDEX SET TABLESPACE copies the table's storage
-- (hot and cold pages, unlogged init fork), CREATE TABLE in a tablespace
--
CREATE SCHEMA tablespace;
SET search_path = tablespace, public;
SET allow_in_place_tablespaces = on;
CREATE TABLESPACE regress_tblspc LOCATION '';

CREATE TABLE ts (id int PRIMARY KEY, v text);
INSERT INTO ts SELECT i, md5(i::text) FROM generate_series(1, 3000) i;
DELETE FROM ts WHERE id % 10 = 0;
CREATE VIEW ts_sum AS SELECT count(*) AS n, sum(id) AS s, md5(string_agg(v, ',' ORDER BY id)) AS h FROM ts;
SELECT * FROM ts_sum;
ALTER TABLE ts SET TABLESPACE regress_tblspc;
SELECT * FROM ts_sum;
SET enable_seqscan = off;
SELECT id, v FROM ts WHERE id IN (5, 10, 2999) ORDER BY id;
RESET enable_seqscan;
ALTER INDEX ts_pkey SET TABLESPACE regress_tblspc;
UPDATE ts SET v = 'moved' WHERE id % 7 = 0;
SELECT * FROM ts_sum;
-- compacted pages are copied too
VACUUM (FREEZE) ts;
CALL compact_all();
ALTER TABLE ts SET TABLESPACE pg_default;
SELECT * FROM ts_sum;
UPDATE ts SET v = 'after' WHERE id < 5;
SELECT * FROM ts_sum;
-- an unlogged table and a table created in the tablespace
CREATE UNLOGGED TABLE tsu (a int);
INSERT INTO tsu SELECT generate_series(1, 100);
ALTER TABLE tsu SET TABLESPACE regress_tblspc;
SELECT count(*), sum(a) FROM tsu;
CREATE TABLE tsn (a int) TABLESPACE regress_tblspc;
INSERT INTO tsn VALUES (1), (2);
SELECT is_default_am('tsn'), (SELECT spcname FROM pg_tablespace WHERE oid = reltablespace)
  FROM pg_class WHERE oid = 'tsn'::regclass;
-- rolled back
BEGIN;
ALTER TABLE tsn SET TABLESPACE pg_default;
INSERT INTO tsn VALUES (3);
ROLLBACK;
SELECT * FROM tsn ORDER BY a;
ALTER TABLE ALL IN TABLESPACE regress_tblspc SET TABLESPACE pg_default;
SELECT * FROM tsn ORDER BY a;
DROP SCHEMA tablespace CASCADE;
DROP TABLESPACE regress_tblspc;
