--
-- modify_edge: corner cases of tuple_update / tuple_delete / tuple_lock in
-- one session: rows changed twice by one command (UPDATE ... FROM), rows
-- changed by a trigger of the command that is changing them
-- (TM_SelfModified), lock + update + delete + reinsert in one transaction,
-- WHERE CURRENT OF, MERGE, ON CONFLICT with savepoints, exclusion and
-- deferred unique constraints (dirty-snapshot checks), generated columns,
-- cmin/cmax of rows changed in the same transaction.  Run on the hot tier,
-- then again after the rows were compacted into cold runs.
--
CREATE SCHEMA modify_edge;
SET search_path = modify_edge, public;

CREATE TABLE a (id int PRIMARY KEY, v int);
CREATE TABLE src (id int, d int);
INSERT INTO src VALUES (1, 1), (1, 2), (2, 5);

CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE a SET v = v + 100 WHERE id = NEW.id; RETURN NEW; END $$;
CREATE FUNCTION del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN DELETE FROM a WHERE id = OLD.id; RETURN NEW; END $$;



INSERT INTO a SELECT g, 0 FROM generate_series(1, 6) g;
-- a target row joined twice is updated once
UPDATE a SET v = v + src.d FROM src WHERE a.id = src.id;
SELECT * FROM a ORDER BY id;
-- a BEFORE trigger that updates / deletes the row being updated
CREATE TRIGGER bu BEFORE UPDATE ON a FOR EACH ROW WHEN (NEW.v = 42) EXECUTE FUNCTION bump();
UPDATE a SET v = 42 WHERE id = 3;
DROP TRIGGER bu ON a;
CREATE TRIGGER bd BEFORE UPDATE ON a FOR EACH ROW WHEN (NEW.v = 43) EXECUTE FUNCTION del();
UPDATE a SET v = 43 WHERE id = 4;
DROP TRIGGER bd ON a;
SELECT * FROM a ORDER BY id;
-- update, lock, update, delete, reinsert in one transaction
BEGIN;
UPDATE a SET v = 7 WHERE id = 5;
SELECT * FROM a WHERE id = 5 FOR UPDATE;
SELECT * FROM a WHERE id = 5 FOR KEY SHARE;
UPDATE a SET v = 8 WHERE id = 5;
DELETE FROM a WHERE id = 5;
INSERT INTO a VALUES (5, 9);
SELECT * FROM a WHERE id = 5;
COMMIT;
-- WHERE CURRENT OF
BEGIN;
DECLARE c CURSOR FOR SELECT * FROM a WHERE id >= 2 ORDER BY id FOR UPDATE;
FETCH c;
UPDATE a SET v = -1 WHERE CURRENT OF c;
FETCH c;
DELETE FROM a WHERE CURRENT OF c;
COMMIT;
SELECT * FROM a ORDER BY id;
-- MERGE
MERGE INTO a USING (VALUES (1, 10), (2, 20), (7, 70)) s(id, d) ON a.id = s.id
WHEN MATCHED AND s.d > 15 THEN DELETE
WHEN MATCHED THEN UPDATE SET v = a.v + s.d
WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.d);
SELECT * FROM a ORDER BY id;
-- ON CONFLICT inside savepoints
BEGIN;
INSERT INTO a VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET v = a.v + 1;
SAVEPOINT s;
INSERT INTO a VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET v = a.v + 1;
SELECT * FROM a WHERE id = 1 FOR SHARE;
ROLLBACK TO s;
INSERT INTO a VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET v = a.v + 10 RETURNING *;
COMMIT;
-- exclusion constraint and deferred unique constraint
CREATE TABLE ex (lo int, hi int, EXCLUDE USING gist (int4range(lo, hi) WITH &&));
INSERT INTO ex VALUES (1, 5), (5, 9);
INSERT INTO ex VALUES (3, 6);
INSERT INTO ex VALUES (3, 6) ON CONFLICT DO NOTHING;
UPDATE ex SET lo = 10, hi = 12 WHERE lo = 1;
SELECT * FROM ex ORDER BY lo;
CREATE TABLE du (id int UNIQUE DEFERRABLE INITIALLY DEFERRED);
INSERT INTO du VALUES (1), (2);
BEGIN; UPDATE du SET id = id + 1; COMMIT;
SELECT * FROM du ORDER BY id;
BEGIN; INSERT INTO du VALUES (2); COMMIT;
-- generated columns and identity
CREATE TABLE g (id int GENERATED ALWAYS AS IDENTITY, a int, b int GENERATED ALWAYS AS (a * 2) STORED);
INSERT INTO g (a) VALUES (1), (2) RETURNING *;
UPDATE g SET a = a + 1 RETURNING *;
-- cmin/cmax of a row inserted and updated by the same transaction
BEGIN;
INSERT INTO g (a) VALUES (10);
UPDATE g SET a = 11 WHERE a = 10;
SELECT a, xmin = xmax AS same_xid, cmin, cmax FROM g WHERE a = 11;
COMMIT;

-- the cold tier: the same changes on compacted rows
VACUUM (FREEZE) a, ex, du, g;
CALL compact_all();
UPDATE a SET v = v + src.d FROM src WHERE a.id = src.id;
SELECT * FROM a ORDER BY id;
CREATE TRIGGER bu BEFORE UPDATE ON a FOR EACH ROW WHEN (NEW.v = 42) EXECUTE FUNCTION bump();
UPDATE a SET v = 42 WHERE id = 7;
DROP TRIGGER bu ON a;
BEGIN;
SELECT * FROM a WHERE id = 5 FOR UPDATE;
UPDATE a SET v = 8 WHERE id = 5;
DELETE FROM a WHERE id = 5;
INSERT INTO a VALUES (5, 90);
COMMIT;
VACUUM (FREEZE) a;
CALL compact_all();
BEGIN;
DECLARE c CURSOR FOR SELECT * FROM a ORDER BY id FOR UPDATE;
FETCH c;
UPDATE a SET v = -2 WHERE CURRENT OF c;
FETCH c;
DELETE FROM a WHERE CURRENT OF c;
COMMIT;
MERGE INTO a USING (VALUES (1, 10), (5, 20), (8, 80)) s(id, d) ON a.id = s.id
WHEN MATCHED AND s.d > 15 THEN DELETE
WHEN MATCHED THEN UPDATE SET v = a.v + s.d
WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.d);
SELECT * FROM a ORDER BY id;
UPDATE ex SET lo = 20, hi = 22 WHERE lo = 5;
INSERT INTO ex VALUES (21, 23);
SELECT * FROM ex ORDER BY lo;
BEGIN; UPDATE du SET id = id + 1; COMMIT;
SELECT * FROM du ORDER BY id;
UPDATE g SET a = a * 10 RETURNING *;

DROP SCHEMA modify_edge CASCADE;
