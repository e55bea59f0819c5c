--
-- alter_am: ALTER TABLE ... SET ACCESS METHOD from the AM under test to heap
-- and back, keeping rows, indexes, toast, constraints and triggers
--
CREATE SCHEMA alter_am;
SET search_path = alter_am, public;

CREATE TABLE a (id int PRIMARY KEY, v text, big text, CHECK (id > 0));
CREATE INDEX a_v ON a (v);
INSERT INTO a SELECT i, 'v' || (i % 100), CASE WHEN i % 500 = 0 THEN repeat(md5(i::text), 300) END
  FROM generate_series(1, 3000) i;
DELETE FROM a WHERE id % 9 = 0;
UPDATE a SET v = 'changed' WHERE id % 11 = 0;
CREATE VIEW summary AS
	SELECT count(*) AS n, sum(id) AS s, count(DISTINCT v) AS nv, sum(length(big)) AS lb,
	       md5(string_agg(id || v, ',' ORDER BY id)) AS h
	  FROM a;
SELECT is_default_am('a');
SELECT * FROM summary;
-- to heap
ALTER TABLE a SET ACCESS METHOD heap;
SELECT amname FROM pg_class c JOIN pg_am m ON m.oid = c.relam WHERE c.oid = 'a'::regclass;
SELECT * FROM summary;
SET enable_seqscan = off;
SELECT id, v FROM a WHERE v = 'changed' AND id < 60 ORDER BY id;
RESET enable_seqscan;
INSERT INTO a VALUES (-1, 'neg');
-- back to the AM under test (the name comes from the setting, so the
-- statement is the same text in both runs)
SELECT format('ALTER TABLE a SET ACCESS METHOD %I', current_setting('default_table_access_method')) AS stmt
\gset
:stmt;
SELECT is_default_am('a');
SELECT * FROM summary;
SET enable_seqscan = off;
SELECT id, v FROM a WHERE v = 'changed' AND id < 60 ORDER BY id;
RESET enable_seqscan;
INSERT INTO a VALUES (3001, 'new');
-- combined with another rewrite in one ALTER TABLE
ALTER TABLE a ADD COLUMN extra int DEFAULT 1;
ALTER TABLE a SET ACCESS METHOD heap, ALTER COLUMN extra TYPE bigint;
SELECT * FROM summary;
:stmt;
SELECT is_default_am('a');
SELECT * FROM summary;
-- in a transaction that rolls back
BEGIN;
ALTER TABLE a SET ACCESS METHOD heap;
UPDATE a SET v = 'in heap' WHERE id = 1;
ROLLBACK;
SELECT is_default_am('a');
SELECT id, v FROM a WHERE id = 1;
-- a heap table with triggers converted to the AM under test
CREATE TABLE h (id int, v text) USING heap;
CREATE TABLE h_log (what text);
CREATE FUNCTION h_trg() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO h_log VALUES (TG_OP || ' ' || NEW.id); RETURN NEW; END $$;
CREATE TRIGGER h_ai AFTER INSERT OR UPDATE ON h FOR EACH ROW EXECUTE FUNCTION h_trg();
INSERT INTO h SELECT i, 'h' || i FROM generate_series(1, 100) i;
SELECT format('ALTER TABLE h SET ACCESS METHOD %I', current_setting('default_table_access_method')) AS stmt2
\gset
:stmt2;
SELECT is_default_am('h');
UPDATE h SET v = 'after' WHERE id = 5;
SELECT count(*), sum(id) FROM h;
SELECT count(*) FROM h_log;
-- the cold tier: compacted rows converted to heap and back
VACUUM (FREEZE) a, h;
CALL compact_all();
SELECT * FROM summary;
ALTER TABLE a SET ACCESS METHOD heap;
SELECT * FROM summary;
:stmt;
SELECT * FROM summary;
-- a partitioned table's partitions
CREATE TABLE pt (k int) PARTITION BY RANGE (k);
CREATE TABLE pt1 PARTITION OF pt FOR VALUES FROM (0) TO (100);
INSERT INTO pt SELECT generate_series(0, 99);
ALTER TABLE pt1 SET ACCESS METHOD heap;
SELECT count(*), sum(k) FROM pt;
DROP SCHEMA alter_am CASCADE;
