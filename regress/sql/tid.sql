--
-- tid: ctid values, TID scans and TID range scans.  Phantom assigns TIDs by
-- heap's page packing, so from one session the ctids are heap's.
--
CREATE SCHEMA tid;
SET search_path = tid, public;

CREATE TABLE t (id int, pad text);
INSERT INTO t SELECT i, repeat('x', 100) FROM generate_series(1, 300) i;
SELECT ctid, id FROM t WHERE id IN (1, 2, 60, 61, 62, 300) ORDER BY id;
SELECT (ctid::text::point)[0] AS blk, count(*), min(id), max(id) FROM t GROUP BY 1 ORDER BY 1;
-- TID scans
EXPLAIN (COSTS OFF) SELECT id FROM t WHERE ctid = '(1,1)';
SELECT id FROM t WHERE ctid = '(1,1)';
SELECT id FROM t WHERE ctid = ANY (ARRAY['(0,1)', '(2,3)', '(4,0)', '(99,1)']::tid[]) ORDER BY id;
SELECT id FROM t WHERE ctid = '(0,500)';
SELECT id FROM t WHERE ctid = (SELECT ctid FROM t WHERE id = 150);
-- TID range scans (PostgreSQL 14+)
EXPLAIN (COSTS OFF) SELECT id FROM t WHERE ctid > '(1,5)' AND ctid < '(2,3)';
SELECT ctid, id FROM t WHERE ctid > '(1,60)' AND ctid < '(2,3)' ORDER BY ctid;
SELECT count(*), min(id), max(id) FROM t WHERE ctid >= '(3,0)';
SELECT count(*) FROM t WHERE ctid < '(0,0)';
SELECT count(*) FROM t WHERE ctid >= '(1000,1)';
-- a backward TID range scan through a cursor
BEGIN;
DECLARE c SCROLL CURSOR FOR SELECT ctid, id FROM t WHERE ctid BETWEEN '(2,1)' AND '(2,5)';
FETCH ALL FROM c;
FETCH BACKWARD ALL FROM c;
COMMIT;
-- an update gives the row a new ctid (same page when it fits: fillfactor)
CREATE TABLE u (id int, v int) WITH (fillfactor = 50);
INSERT INTO u SELECT i, 0 FROM generate_series(1, 20) i;
SELECT ctid, id FROM u WHERE id IN (1, 20) ORDER BY id;
UPDATE u SET v = 1 WHERE id = 1 RETURNING ctid, id, v;
UPDATE u SET v = 2 WHERE id = 1 RETURNING ctid, id, v;
SELECT ctid, id, v FROM u WHERE id = 1;
SELECT id FROM u WHERE ctid = '(0,1)';
-- deleted rows are not returned by TID scans
DELETE FROM u WHERE id = 2;
SELECT id FROM u WHERE ctid = '(0,2)';
-- a join on ctid (TID scan on the inner side)
SELECT a.id FROM u a JOIN u b ON a.ctid = b.ctid WHERE a.id <= 3 ORDER BY 1;
-- CLUSTER packs rows in index order from page 0 (ctids of the rows after
-- the first depend on how many dead versions concurrent sessions keep alive,
-- so only the order is shown)
CREATE INDEX u_v ON u (v DESC, id);
CLUSTER u USING u_v;
SELECT id, v FROM u ORDER BY ctid LIMIT 4;
SELECT ctid FROM u WHERE v = 2;
-- the cold tier: TIDs do not change when pages go cold
VACUUM (FREEZE) t, u;
CALL compact_all();
SELECT ctid, id FROM t WHERE id IN (1, 2, 60, 61, 62, 300) ORDER BY id;
SELECT id FROM t WHERE ctid = '(1,1)';
SELECT ctid, id FROM t WHERE ctid > '(1,60)' AND ctid < '(2,3)' ORDER BY ctid;
SELECT count(*), min(id), max(id) FROM t WHERE ctid >= '(3,0)';
SELECT id, v FROM u ORDER BY ctid LIMIT 4;
SELECT ctid FROM u WHERE v = 2;
-- updating a cold row: the new version gets a new TID, the old one is gone
UPDATE t SET pad = 'y' WHERE id = 61;
SELECT id FROM t WHERE ctid = (SELECT ctid FROM t WHERE id = 61);
SELECT count(*) FROM t WHERE ctid = '(1,1)' AND id = 61;
SELECT count(*) FROM t;
DROP SCHEMA tid CASCADE;
