--
-- dml: INSERT, UPDATE, DELETE, MERGE, with RETURNING
--
CREATE SCHEMA dml;
SET search_path = dml, public;

CREATE TABLE acct (id int PRIMARY KEY, owner text, balance numeric NOT NULL DEFAULT 0,
                   note text);
INSERT INTO acct VALUES (1, 'ann', 100), (2, 'bob', 200) RETURNING *;
WITH ins AS (INSERT INTO acct (id, owner) SELECT i, 'user' || i FROM generate_series(3, 1000) i
  RETURNING id)
SELECT count(*), sum(id) FROM ins;
INSERT INTO acct (id, owner, balance) VALUES (1001, 'zed', 5) RETURNING id, balance * 2 AS dbl;
UPDATE acct SET balance = balance + 10 WHERE id <= 3 RETURNING id, owner, balance;
UPDATE acct SET note = 'even' WHERE id % 2 = 0;
WITH upd AS (UPDATE acct SET balance = id WHERE id > 3 RETURNING balance)
SELECT count(*), sum(balance) FROM upd;
DELETE FROM acct WHERE id BETWEEN 500 AND 509 RETURNING id, note;
SELECT count(*), sum(balance), count(note) FROM acct;
-- update the same rows many times (long version chains on a page)
DO $$
BEGIN
	FOR i IN 1..50 LOOP
		UPDATE acct SET balance = balance + 1 WHERE id IN (1, 2, 3);
	END LOOP;
END $$;
SELECT id, balance FROM acct WHERE id <= 3 ORDER BY id;
-- update that changes the key
UPDATE acct SET id = id + 10000 WHERE id IN (998, 999) RETURNING id;
-- UPDATE ... FROM, DELETE ... USING, writable CTEs
CREATE TABLE adj (id int, delta numeric);
INSERT INTO adj VALUES (1, 1), (2, -2), (4, 4), (77777, 7);
UPDATE acct a SET balance = a.balance + adj.delta FROM adj WHERE a.id = adj.id
  RETURNING a.id, a.balance;
DELETE FROM acct a USING adj WHERE a.id = adj.id AND adj.delta < 0 RETURNING a.id;
WITH moved AS (DELETE FROM acct WHERE id > 990 RETURNING *),
     ins AS (INSERT INTO adj SELECT id, balance FROM moved RETURNING *)
SELECT * FROM ins ORDER BY id;
WITH u AS (UPDATE acct SET note = 'cte' WHERE id BETWEEN 10 AND 12 RETURNING id)
SELECT array_agg(id ORDER BY id) FROM u;
-- MERGE (PostgreSQL 15)
MERGE INTO acct a USING adj s ON a.id = s.id
  WHEN MATCHED AND s.delta > 3 THEN UPDATE SET balance = a.balance + s.delta
  WHEN MATCHED THEN DELETE
  WHEN NOT MATCHED THEN INSERT (id, owner, balance) VALUES (s.id, 'merged', s.delta);
SELECT * FROM acct WHERE owner = 'merged' OR id IN (1, 2, 4) ORDER BY id;
-- NULLs, wide rows, many columns
CREATE TABLE wide (a int, b int, c int, d text, e text, f int[], g jsonb, h bool);
INSERT INTO wide VALUES (1, NULL, 3, NULL, 'e', '{1,2,3}', '{"k": [1, 2]}', true),
                        (2, 2, NULL, 'd', NULL, NULL, NULL, NULL);
UPDATE wide SET b = 20, g = g || '{"x": 1}' WHERE a = 1 RETURNING *;
UPDATE wide SET d = NULL, e = repeat('w', 500) WHERE a = 2 RETURNING a, d, length(e);
-- deleting everything and inserting again
CREATE TABLE churn (k int, v text);
INSERT INTO churn SELECT i, md5(i::text) FROM generate_series(1, 2000) i;
DELETE FROM churn WHERE k % 3 = 0;
UPDATE churn SET v = upper(v) WHERE k % 3 = 1;
SELECT count(*), count(DISTINCT v), sum(k) FROM churn;
-- the cold tier: settle, compact, look again, modify cold rows
VACUUM (FREEZE) acct, adj, wide, churn;
CALL compact_all();
SELECT count(*), sum(balance), count(note) FROM acct;
SELECT * FROM acct WHERE owner = 'merged' OR id IN (1, 2, 4) ORDER BY id;
SELECT * FROM wide ORDER BY a;
SELECT count(*), count(DISTINCT v), sum(k) FROM churn;
UPDATE acct SET balance = balance * 2 WHERE id BETWEEN 100 AND 105 RETURNING id, balance;
DELETE FROM acct WHERE id BETWEEN 200 AND 204 RETURNING id;
INSERT INTO acct VALUES (5000, 'late', 1) RETURNING *;
UPDATE churn SET v = 'cold-' || k WHERE k <= 5 RETURNING k, v;
DELETE FROM churn WHERE k > 1990 RETURNING k;
SELECT count(*), sum(balance), count(note) FROM acct;
SELECT count(*), count(DISTINCT v), sum(k) FROM churn;
SELECT k, v FROM churn WHERE k <= 7 ORDER BY k;
-- again, after a second compaction
VACUUM (FREEZE) acct, churn;
CALL compact_all();
SELECT count(*), sum(balance), count(note) FROM acct;
SELECT k, v FROM churn WHERE k <= 7 ORDER BY k;
DROP SCHEMA dml CASCADE;
