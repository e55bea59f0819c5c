--
-- visibility: what a statement sees of its own transaction's changes
-- (command ids): INSERT ... SELECT from the same table, the Halloween
-- problem, writable CTEs, volatile vs stable functions, cursors opened
-- before later changes, rows changed twice in one transaction
--
CREATE SCHEMA visibility;
SET search_path = visibility, public;

CREATE TABLE v (id int, n int, pad text);
INSERT INTO v SELECT i, i, repeat('p', 100) FROM generate_series(1, 500) i;
-- INSERT ... SELECT from the same table reads only the rows before it
INSERT INTO v SELECT id + 1000, n, pad FROM v;
SELECT count(*), sum(id) FROM v;
-- every row is updated once, even when the new version lands after it
-- in the scan (the Halloween problem)
UPDATE v SET n = n + 1, pad = pad || repeat('q', 200);
SELECT count(*), sum(n), min(length(pad)), max(length(pad)) FROM v;
-- a writable CTE and the main query see the table as it was
WITH d AS (DELETE FROM v WHERE id % 10 = 0 RETURNING id)
SELECT (SELECT count(*) FROM d) AS deleted, (SELECT count(*) FROM v) AS seen;
SELECT count(*) FROM v;
WITH u AS (UPDATE v SET n = -n WHERE id <= 5 RETURNING id, n)
SELECT u.id, u.n AS new_n, v.n AS old_n FROM u JOIN v USING (id) ORDER BY id;
-- a VOLATILE function sees the rows changed by earlier commands of the
-- transaction; during the UPDATE it sees the snapshot of its own query
CREATE FUNCTION cnt_neg() RETURNS bigint LANGUAGE sql VOLATILE AS
$$ SELECT count(*) FROM visibility.v WHERE n < 0 $$;
CREATE FUNCTION cnt_neg_stable() RETURNS bigint LANGUAGE sql STABLE AS
$$ SELECT count(*) FROM visibility.v WHERE n < 0 $$;
BEGIN;
UPDATE v SET n = -abs(n) WHERE id BETWEEN 6 AND 10;
SELECT cnt_neg(), cnt_neg_stable();
UPDATE v SET pad = 'seen ' || cnt_neg() || ' ' || cnt_neg_stable() WHERE id IN (11, 12, 13) RETURNING id, pad;
UPDATE v SET n = -abs(n) WHERE id = 14 RETURNING id, cnt_neg() AS volatile_during, cnt_neg_stable() AS stable_during;
COMMIT;
SELECT cnt_neg();
-- a cursor keeps the snapshot of its DECLARE inside the transaction
BEGIN;
DECLARE c CURSOR FOR SELECT id, n FROM v WHERE id BETWEEN 20 AND 25 ORDER BY id;
UPDATE v SET n = 0 WHERE id BETWEEN 20 AND 25;
DELETE FROM v WHERE id = 21;
INSERT INTO v VALUES (22, 999, 'dup id');
FETCH ALL FROM c;
SELECT id, n FROM v WHERE id BETWEEN 20 AND 25 ORDER BY id, n;
COMMIT;
-- a row updated many times and deleted in one transaction, then rolled back
BEGIN;
UPDATE v SET n = 1 WHERE id = 30;
UPDATE v SET n = 2 WHERE id = 30;
SAVEPOINT s;
UPDATE v SET n = 3 WHERE id = 30;
DELETE FROM v WHERE id = 30;
SELECT count(*) FROM v WHERE id = 30;
ROLLBACK TO s;
SELECT n FROM v WHERE id = 30;
ROLLBACK;
SELECT n FROM v WHERE id = 30;
-- an UPDATE whose subquery reads the same table
UPDATE v SET n = (SELECT max(n) FROM v) WHERE id = 31 RETURNING n;
WITH d AS (DELETE FROM v WHERE n = (SELECT max(n) FROM v) RETURNING id)
SELECT id FROM d ORDER BY id;
SELECT count(*), sum(n) FROM v;
-- the cold tier, and the same statements over compacted rows
VACUUM (FREEZE) v;
CALL compact_all();
INSERT INTO v SELECT id + 100000, n, 'copy' FROM v WHERE id < 100;
UPDATE v SET n = n + 1, pad = pad || repeat('r', 300) WHERE id < 200;
WITH d AS (DELETE FROM v WHERE id % 10 = 1 RETURNING id)
SELECT (SELECT count(*) FROM d) AS deleted, (SELECT count(*) FROM v) AS seen;
BEGIN;
DECLARE c CURSOR FOR SELECT id, n FROM v WHERE id BETWEEN 40 AND 44 ORDER BY id;
UPDATE v SET n = 0 WHERE id BETWEEN 40 AND 44;
FETCH ALL FROM c;
COMMIT;
SELECT count(*), sum(n), sum(length(pad)) FROM v;
DROP SCHEMA visibility CASCADE;
