--
-- savepoints: subtransactions that insert, update, delete and roll back,
-- also over compacted rows
--
CREATE SCHEMA savepoints;
SET search_path = savepoints, public;

CREATE TABLE sp (id int PRIMARY KEY, v int);
INSERT INTO sp SELECT i, i FROM generate_series(1, 100) i;
BEGIN;
UPDATE sp SET v = v + 1000 WHERE id <= 10;
SAVEPOINT a;
DELETE FROM sp WHERE id <= 5;
INSERT INTO sp VALUES (101, 101);
SAVEPOINT b;
UPDATE sp SET v = -1 WHERE id BETWEEN 6 AND 8;
SELECT id, v FROM sp WHERE id <= 10 OR id > 100 ORDER BY id;
ROLLBACK TO b;
SELECT id, v FROM sp WHERE id <= 10 OR id > 100 ORDER BY id;
ROLLBACK TO a;
SELECT id, v FROM sp WHERE id <= 10 OR id > 100 ORDER BY id;
UPDATE sp SET v = v + 1 WHERE id = 1;
RELEASE a;
COMMIT;
SELECT id, v FROM sp WHERE id <= 10 OR id > 100 ORDER BY id;
-- the same row updated in nested subtransactions
BEGIN;
SAVEPOINT s1;
UPDATE sp SET v = 1 WHERE id = 50;
SAVEPOINT s2;
UPDATE sp SET v = 2 WHERE id = 50;
SAVEPOINT s3;
UPDATE sp SET v = 3 WHERE id = 50;
ROLLBACK TO s3;
SELECT v FROM sp WHERE id = 50;
RELEASE s2;
SELECT v FROM sp WHERE id = 50;
ROLLBACK TO s1;
SELECT v FROM sp WHERE id = 50;
COMMIT;
SELECT v FROM sp WHERE id = 50;
-- a unique violation inside a subtransaction, then retry
BEGIN;
SAVEPOINT x;
INSERT INTO sp VALUES (1, 0);
ROLLBACK TO x;
INSERT INTO sp VALUES (102, 0);
COMMIT;
-- many subtransactions (subxid overflow) in a PL/pgSQL loop with exceptions
DO $$
BEGIN
	FOR i IN 200..300 LOOP
		BEGIN
			INSERT INTO sp VALUES (i, i);
			IF i % 3 = 0 THEN RAISE EXCEPTION 'undo %', i; END IF;
		EXCEPTION WHEN raise_exception THEN
			NULL;
		END;
	END LOOP;
END $$;
SELECT count(*), sum(id), sum(v) FROM sp;
-- lock in a subtransaction, roll it back, update in the parent
BEGIN;
SAVEPOINT l;
SELECT id FROM sp WHERE id = 60 FOR UPDATE;
ROLLBACK TO l;
UPDATE sp SET v = 600 WHERE id = 60;
COMMIT;
SELECT v FROM sp WHERE id = 60;
-- the cold tier
VACUUM (FREEZE) sp;
CALL compact_all();
SELECT count(*), sum(id), sum(v) FROM sp;
BEGIN;
UPDATE sp SET v = 0 WHERE id BETWEEN 20 AND 29;
SAVEPOINT c;
DELETE FROM sp WHERE id BETWEEN 30 AND 39;
UPDATE sp SET v = 7 WHERE id BETWEEN 40 AND 44;
ROLLBACK TO c;
DELETE FROM sp WHERE id = 45;
COMMIT;
SELECT count(*), sum(id), sum(v) FROM sp;
SELECT id, v FROM sp WHERE id BETWEEN 19 AND 46 ORDER BY id;
DROP SCHEMA savepoints CASCADE;
