--
-- placement: where new rows and new row versions go, seen through ctid,
-- from one session: phantom packs pages like heap, and reuses the space
-- freed by VACUUM (heap: free space map) for inserts and for updates that
-- do not fit on their page.  Run it alone (VACUUM must be able to free).
--
CREATE SCHEMA placement;
SET search_path = placement, public;

CREATE TABLE pl (id int, pad text) WITH (autovacuum_enabled = off);
INSERT INTO pl SELECT i, repeat('x', 200) FROM generate_series(1, 200) i;
SELECT (ctid::text::point)[0] AS blk, count(*) FROM pl GROUP BY 1 ORDER BY 1;
-- free most of page 1, then insert: heap reuses page 1 (FSM)
DELETE FROM pl WHERE id BETWEEN 40 AND 70;
VACUUM pl;
INSERT INTO pl SELECT i, repeat('y', 200) FROM generate_series(1001, 1010) i;
SELECT ctid, id FROM pl WHERE id > 1000 ORDER BY id;
-- an update that does not fit on its full page goes to a page with space
UPDATE pl SET pad = repeat('z', 1000) WHERE id = 1;
SELECT ctid, id FROM pl WHERE id = 1;
UPDATE pl SET pad = repeat('w', 1000) WHERE id = 200;
SELECT ctid, id FROM pl WHERE id = 200;
SELECT (ctid::text::point)[0] AS blk, count(*) FROM pl GROUP BY 1 ORDER BY 1;
DROP SCHEMA placement CASCADE;
