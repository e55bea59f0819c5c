--
-- cursors: SCROLL cursors fetched forward, backward and absolutely, WITH
-- HOLD, FOR UPDATE with WHERE CURRENT OF
--
CREATE SCHEMA cursors;
SET search_path = cursors, public;

CREATE TABLE cu (id int, v text);
INSERT INTO cu SELECT i, 'v' || i FROM generate_series(1, 1000) i;

CREATE FUNCTION exercise(c refcursor) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	FETCH LAST FROM c INTO r; RETURN NEXT 'last ' || r.id;
	FETCH PRIOR FROM c INTO r; RETURN NEXT 'back ' || r.id;
	FETCH ABSOLUTE 500 FROM c INTO r; RETURN NEXT 'abs500 ' || r.id;
	FETCH RELATIVE -10 FROM c INTO r; RETURN NEXT 'rel-10 ' || r.id;
	FETCH FIRST FROM c INTO r; RETURN NEXT 'first ' || r.id;
	FETCH PRIOR FROM c INTO r; RETURN NEXT 'prior ' || coalesce(r.id::text, 'none');
	FETCH NEXT FROM c INTO r; RETURN NEXT 'next ' || r.id;
	MOVE FORWARD ALL IN c;
	FETCH PRIOR FROM c INTO r; RETURN NEXT 'back-from-end ' || r.id;
END $$;

-- a plain seq scan (no ORDER BY) scrolled both ways: the order is the
-- table's order and must be the same in both directions
BEGIN;
DECLARE c SCROLL CURSOR FOR SELECT id FROM cu WHERE id % 7 = 0;
FETCH 3 FROM c;
FETCH BACKWARD 2 FROM c;
SELECT * FROM exercise('c');
CLOSE c;
COMMIT;
-- backward fetch of a full scan
BEGIN;
DECLARE f SCROLL CURSOR FOR SELECT id, v FROM cu;
MOVE FORWARD ALL IN f;
FETCH BACKWARD 5 FROM f;
FETCH ABSOLUTE 1 FROM f;
FETCH FORWARD 3 FROM f;
COMMIT;
-- an ordered cursor over an index
CREATE INDEX cu_id ON cu (id);
SET enable_seqscan = off;
BEGIN;
DECLARE ci SCROLL CURSOR FOR SELECT id FROM cu WHERE id BETWEEN 100 AND 200 ORDER BY id;
SELECT * FROM exercise('ci');
COMMIT;
RESET enable_seqscan;
-- WITH HOLD survives the commit
BEGIN;
DECLARE h SCROLL CURSOR WITH HOLD FOR SELECT id, v FROM cu WHERE id > 990 ORDER BY id;
COMMIT;
UPDATE cu SET v = 'changed' WHERE id > 990;
FETCH 3 FROM h;
FETCH BACKWARD 2 FROM h;
CLOSE h;
-- FOR UPDATE cursor with WHERE CURRENT OF
BEGIN;
DECLARE u CURSOR FOR SELECT id, v FROM cu WHERE id IN (3, 4, 5) ORDER BY id FOR UPDATE;
FETCH 1 FROM u;
UPDATE cu SET v = 'current' WHERE CURRENT OF u RETURNING *;
FETCH 1 FROM u;
DELETE FROM cu WHERE CURRENT OF u RETURNING *;
COMMIT;
SELECT * FROM cu WHERE id BETWEEN 2 AND 6 ORDER BY id;
-- a simple updatable cursor without FOR UPDATE
BEGIN;
DECLARE s CURSOR FOR SELECT id, v FROM cu WHERE id = 10;
FETCH 1 FROM s;
UPDATE cu SET v = 'cur10' WHERE CURRENT OF s RETURNING *;
COMMIT;
-- a cursor sees its snapshot while the table changes
BEGIN;
DECLARE snap SCROLL CURSOR FOR SELECT id, v FROM cu WHERE id <= 12 ORDER BY id;
UPDATE cu SET v = 'later' WHERE id <= 12;
FETCH ALL FROM snap;
FETCH BACKWARD ALL FROM snap;
COMMIT;
-- the cold tier: scroll over compacted pages, and a cursor open across
-- the compaction
VACUUM (FREEZE) cu;
BEGIN;
DECLARE across SCROLL CURSOR FOR SELECT id, v FROM cu WHERE id % 100 = 0;
FETCH 2 FROM across;
CALL compact_all();
FETCH 2 FROM across;
FETCH BACKWARD 3 FROM across;
COMMIT;
CALL compact_all();
BEGIN;
-- (rows never updated, so their order is the insertion order)
DECLARE c SCROLL CURSOR FOR SELECT id FROM cu WHERE id % 7 = 0 AND id BETWEEN 13 AND 990;
SELECT * FROM exercise('c');
DECLARE f SCROLL CURSOR FOR SELECT id, v FROM cu WHERE id BETWEEN 13 AND 990;
MOVE FORWARD ALL IN f;
FETCH BACKWARD 5 FROM f;
FETCH ABSOLUTE 1 FROM f;
COMMIT;
BEGIN;
DECLARE u CURSOR FOR SELECT id, v FROM cu WHERE id IN (20, 21) ORDER BY id FOR UPDATE;
FETCH 1 FROM u;
UPDATE cu SET v = 'cold-current' WHERE CURRENT OF u RETURNING *;
COMMIT;
SELECT * FROM cu WHERE id BETWEEN 19 AND 22 ORDER BY id;
DROP SCHEMA cursors CASCADE;
