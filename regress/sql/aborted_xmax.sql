--
-- aborted_xmax: a frozen row that an aborted DELETE / UPDATE / row lock
-- left with an (aborted) xmax.  Compaction must clear that xid before the
-- page goes cold (or is marked all-frozen): relfrozenxid moves past it
-- afterwards, and the VACUUM after the next change of the page failed
-- with "found xmax ... from before relfrozenxid" (found by
-- regress/t/012_crash_pgbench.pl).  Run alone: freezing the aborted xid
-- needs no older snapshot.
--
CREATE SCHEMA aborted_xmax;
SET search_path = aborted_xmax, public;

CREATE TABLE ax (id int PRIMARY KEY, v int) WITH (autovacuum_enabled = off);
INSERT INTO ax SELECT g, 0 FROM generate_series(1, 2000) g;
VACUUM (FREEZE) ax;
-- aborted xmax on frozen rows: delete, update, row lock
BEGIN; DELETE FROM ax WHERE id = 5; ROLLBACK;
BEGIN; UPDATE ax SET v = 9 WHERE id = 700; ROLLBACK;
BEGIN; SELECT id FROM ax WHERE id = 1500 FOR UPDATE; ROLLBACK;
SELECT count(*), sum(v) FROM ax;		-- sets the xmax-invalid hints
-- filler rows push the insertion lane past the old pages, then go
INSERT INTO ax SELECT g, 0 FROM generate_series(2001, 3000) g;
DELETE FROM ax WHERE id > 2000;
VACUUM ax;
CALL compact_all();
VACUUM (FREEZE) ax;				-- relfrozenxid moves on
-- a change of each page that held an aborted xmax, then VACUUM
UPDATE ax SET v = 1 WHERE id IN (6, 701, 1501);
VACUUM ax;
VACUUM (FREEZE) ax;
SELECT count(*), sum(v) FROM ax;
SELECT id, v FROM ax WHERE id IN (5, 6, 700, 701, 1500, 1501) ORDER BY id;

DROP SCHEMA aborted_xmax CASCADE;
