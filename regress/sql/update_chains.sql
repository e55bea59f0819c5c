--
-- update_chains: many versions of the same rows (same-page and cross-page
-- updates, with and without indexed columns changing), pruned by later
-- statements and VACUUM, read through every access path
--
CREATE SCHEMA update_chains;
SET search_path = update_chains, public;

CREATE TABLE uc (id int PRIMARY KEY, k int, v int, pad text) WITH (fillfactor = 70);
CREATE INDEX uc_k ON uc (k);
INSERT INTO uc SELECT i, i, 0, repeat('.', 50) FROM generate_series(1, 2000) i;
-- non-indexed column: same-page (HOT) updates when they fit
DO $$
BEGIN
	FOR i IN 1..30 LOOP
		UPDATE uc SET v = v + 1 WHERE id % 10 = 0;
	END LOOP;
END $$;
-- indexed column changes
UPDATE uc SET k = k + 100000 WHERE id % 10 = 1;
UPDATE uc SET k = k - 100000 WHERE id % 10 = 1 AND id % 20 = 1;
-- rows that grow (no longer fit on their page)
UPDATE uc SET pad = repeat('#', 1500) WHERE id % 100 = 5;
UPDATE uc SET v = -1 WHERE id % 100 = 5;
CREATE VIEW check_all AS
	SELECT count(*) AS n, sum(v) AS sv, sum(k::bigint) AS sk, sum(length(pad)) AS sp FROM uc;
CREATE FUNCTION paths() RETURNS TABLE (path text, n bigint, sv bigint, sk numeric) LANGUAGE plpgsql AS $$
BEGIN
	SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off;
	RETURN QUERY EXECUTE 'SELECT ''index k'', count(*), sum(v), sum(k::bigint) FROM uc WHERE k > 0';
	RETURN QUERY EXECUTE 'SELECT ''index id'', count(*), sum(v), sum(k::bigint) FROM uc WHERE id > 0';
	SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = on;
	RETURN QUERY EXECUTE 'SELECT ''bitmap k'', count(*), sum(v), sum(k::bigint) FROM uc WHERE k > 0';
	SET LOCAL enable_seqscan = on; SET LOCAL enable_bitmapscan = off;
	RETURN QUERY EXECUTE 'SELECT ''seq'', count(*), sum(v), sum(k::bigint) FROM uc';
END $$;
SELECT * FROM check_all;
SELECT * FROM paths();
SELECT id, k, v, length(pad) FROM uc WHERE id IN (10, 11, 21, 105, 2000) ORDER BY id;
-- lookups by the old and new values of an updated indexed column
SET enable_seqscan = off;
SELECT id, k FROM uc WHERE k IN (11, 100011, 21, 100021) ORDER BY id;
RESET enable_seqscan;
-- an update chain inside one transaction, and rolled back versions
BEGIN;
UPDATE uc SET v = 100 WHERE id = 1;
UPDATE uc SET v = 200, k = 7 WHERE id = 1;
UPDATE uc SET v = 300 WHERE id = 1;
SELECT id, k, v FROM uc WHERE id = 1;
ROLLBACK;
SELECT id, k, v FROM uc WHERE id = 1;
-- VACUUM, then keep updating the pruned pages
VACUUM uc;
UPDATE uc SET v = v + 1 WHERE id % 10 = 0;
UPDATE uc SET k = k + 1 WHERE id % 10 = 2;
SELECT * FROM check_all;
SELECT * FROM paths();
-- the cold tier, and updates of cold rows
VACUUM (FREEZE) uc;
CALL compact_all();
SELECT * FROM check_all;
SELECT * FROM paths();
UPDATE uc SET v = v + 1000 WHERE id % 10 = 0;
UPDATE uc SET k = -k WHERE id % 10 = 3;
DELETE FROM uc WHERE id % 10 = 4;
SELECT * FROM check_all;
SELECT * FROM paths();
VACUUM uc;
SELECT * FROM paths();
SELECT id, k, v, length(pad) FROM uc WHERE id IN (10, 11, 13, 14, 21, 105, 2000) ORDER BY id;
DROP SCHEMA update_chains CASCADE;
