--
-- prepared_xacts: two-phase commit of inserts, updates, deletes and row
-- locks; COMMIT PREPARED and ROLLBACK PREPARED
--
CREATE SCHEMA prepared_xacts;
SET search_path = prepared_xacts, public;

CREATE TABLE px (id int PRIMARY KEY, v text);
INSERT INTO px SELECT i, 'v' || i FROM generate_series(1, 10) i;

BEGIN;
INSERT INTO px VALUES (11, 'prepared insert');
UPDATE px SET v = 'prepared update' WHERE id = 1;
DELETE FROM px WHERE id = 2;
PREPARE TRANSACTION 'regress_px_commit';
BEGIN;
INSERT INTO px VALUES (12, 'rolled back insert');
UPDATE px SET v = 'rolled back update' WHERE id = 3;
DELETE FROM px WHERE id = 4;
PREPARE TRANSACTION 'regress_px_rollback';
SELECT gid FROM pg_prepared_xacts WHERE gid LIKE 'regress_px_%' ORDER BY gid;
-- the prepared changes are invisible until committed
SELECT * FROM px ORDER BY id;
-- rows held by a prepared transaction cannot be changed (NOWAIT: no hang)
SELECT * FROM px WHERE id = 1 FOR UPDATE NOWAIT;
SELECT * FROM px WHERE id IN (5, 6) ORDER BY id FOR UPDATE SKIP LOCKED;
SET lock_timeout = '100ms';
UPDATE px SET v = 'blocked' WHERE id = 3;
INSERT INTO px VALUES (11, 'conflict');
RESET lock_timeout;
COMMIT PREPARED 'regress_px_commit';
ROLLBACK PREPARED 'regress_px_rollback';
SELECT * FROM px ORDER BY id;
-- row locks survive PREPARE
BEGIN;
SELECT id FROM px WHERE id = 5 FOR SHARE;
SELECT id FROM px WHERE id = 6 FOR KEY SHARE;
PREPARE TRANSACTION 'regress_px_locks';
SELECT id FROM px WHERE id = 5 FOR SHARE NOWAIT;
UPDATE px SET v = 'no key update' WHERE id = 6;   -- compatible with KEY SHARE
SELECT id FROM px WHERE id = 5 FOR UPDATE NOWAIT;
COMMIT PREPARED 'regress_px_locks';
SELECT id FROM px WHERE id = 5 FOR UPDATE NOWAIT;
-- the cold tier (no prepared transaction holds a lock on px while compacting)
VACUUM (FREEZE) px;
CALL compact_all();
SELECT * FROM px ORDER BY id;
BEGIN;
UPDATE px SET v = 'cold prepared' WHERE id = 7;
DELETE FROM px WHERE id = 8;
PREPARE TRANSACTION 'regress_px_cold';
SELECT * FROM px WHERE id IN (7, 8) ORDER BY id;
COMMIT PREPARED 'regress_px_cold';
SELECT * FROM px ORDER BY id;
SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE 'regress_px_%';
DROP SCHEMA prepared_xacts CASCADE;
