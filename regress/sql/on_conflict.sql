--
-- on_conflict: INSERT ... ON CONFLICT DO NOTHING / DO UPDATE (speculative
-- insertion), arbiters, EXCLUDED, WHERE clauses
--
CREATE SCHEMA on_conflict;
SET search_path = on_conflict, public;

CREATE TABLE oc (k int PRIMARY KEY, v text, n int DEFAULT 0, u text UNIQUE);
INSERT INTO oc VALUES (1, 'a', 0, 'ua'), (2, 'b', 0, 'ub');
INSERT INTO oc VALUES (1, 'dup') ON CONFLICT DO NOTHING RETURNING *;
INSERT INTO oc VALUES (3, 'c') ON CONFLICT DO NOTHING RETURNING *;
INSERT INTO oc VALUES (1, 'x'), (4, 'd'), (2, 'y') ON CONFLICT (k) DO NOTHING RETURNING *;
INSERT INTO oc VALUES (1, 'upd') ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v, n = oc.n + 1 RETURNING *;
INSERT INTO oc VALUES (1, 'upd2'), (5, 'e') ON CONFLICT (k)
  DO UPDATE SET v = oc.v || '+' || EXCLUDED.v, n = oc.n + 1 RETURNING *;
-- a WHERE on the update: no update, no row returned
INSERT INTO oc VALUES (2, 'never') ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v WHERE oc.n > 100 RETURNING *;
-- the arbiter by constraint name, and a conflict on the other unique key
INSERT INTO oc VALUES (6, 'f', 0, 'ua') ON CONFLICT ON CONSTRAINT oc_u_key DO UPDATE SET n = oc.n + 10 RETURNING *;
INSERT INTO oc VALUES (7, 'g', 0, 'ua') ON CONFLICT (k) DO NOTHING;
-- affecting a row twice in one command is an error
INSERT INTO oc VALUES (8, 'h'), (8, 'i') ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v;
-- xmin of the updated row through the system column
INSERT INTO oc VALUES (3, 'c2') ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v
  RETURNING k, v, xmin = txid_current()::text::xid AS updated_by_me;
SELECT * FROM oc ORDER BY k;
-- a partial unique index as arbiter, and an expression index
CREATE TABLE ocp (id int, k text, active bool);
CREATE UNIQUE INDEX ocp_active ON ocp (k) WHERE active;
CREATE UNIQUE INDEX ocp_lower ON ocp (lower(k), id);
INSERT INTO ocp VALUES (1, 'A', true), (2, 'A', false);
INSERT INTO ocp VALUES (3, 'A', true) ON CONFLICT (k) WHERE active DO UPDATE SET id = EXCLUDED.id RETURNING *;
INSERT INTO ocp VALUES (3, 'a', false) ON CONFLICT (lower(k), id) DO NOTHING RETURNING *;
INSERT INTO ocp VALUES (3, 'b', false) ON CONFLICT (lower(k), id) DO NOTHING RETURNING *;
SELECT * FROM ocp ORDER BY id, k;
-- a conflict with a row inserted earlier in the same transaction, and
-- with a row deleted in the same transaction
BEGIN;
INSERT INTO oc VALUES (20, 'tx');
INSERT INTO oc VALUES (20, 'tx2') ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v RETURNING k, v;
DELETE FROM oc WHERE k = 20;
INSERT INTO oc VALUES (20, 'tx3') ON CONFLICT (k) DO UPDATE SET v = 'wrong' RETURNING k, v;
COMMIT;
-- many upserts (a counter table)
CREATE TABLE counts (word text PRIMARY KEY, cnt int);
INSERT INTO counts SELECT 'w' || (i % 37), 1 FROM generate_series(1, 2000) i
  ON CONFLICT (word) DO NOTHING;
DO $$
BEGIN
	FOR i IN 1..2000 LOOP
		INSERT INTO counts VALUES ('w' || (i % 41), 1)
		  ON CONFLICT (word) DO UPDATE SET cnt = counts.cnt + 1;
	END LOOP;
END $$;
SELECT count(*), sum(cnt), max(cnt) FROM counts;
-- the cold tier: conflicts with compacted rows
VACUUM (FREEZE) oc, ocp, counts;
CALL compact_all();
INSERT INTO oc VALUES (1, 'cold') ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v, n = oc.n + 1 RETURNING *;
INSERT INTO oc VALUES (2, 'cold') ON CONFLICT DO NOTHING RETURNING *;
INSERT INTO oc VALUES (30, 'new') ON CONFLICT DO NOTHING RETURNING *;
INSERT INTO counts SELECT 'w' || i, 1 FROM generate_series(0, 50) i
  ON CONFLICT (word) DO UPDATE SET cnt = counts.cnt + 100;
SELECT count(*), sum(cnt), max(cnt) FROM counts;
SELECT * FROM oc ORDER BY k;
DROP SCHEMA on_conflict CASCADE;
