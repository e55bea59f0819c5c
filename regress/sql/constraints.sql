--
-- constraints: NOT NULL, CHECK, UNIQUE, PRIMARY KEY, FOREIGN KEY (actions,
-- deferrable), EXCLUDE, deferred unique checks
--
CREATE SCHEMA constraints;
SET search_path = constraints, public;

CREATE TABLE pk (id int PRIMARY KEY, code text UNIQUE, qty int NOT NULL CHECK (qty >= 0));
INSERT INTO pk VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 3);
INSERT INTO pk VALUES (1, 'z', 0);
INSERT INTO pk VALUES (4, 'a', 0);
INSERT INTO pk VALUES (5, 'e', NULL);
INSERT INTO pk VALUES (6, 'f', -1);
UPDATE pk SET id = 2 WHERE id = 1;
UPDATE pk SET qty = -5 WHERE id = 3;
-- swapping keys in one statement fails (non-deferrable: checked row by row)
UPDATE pk SET id = 4 - id WHERE id IN (1, 3);
SELECT * FROM pk ORDER BY id;
-- a key deleted and reinserted in one transaction
BEGIN;
DELETE FROM pk WHERE id = 2;
INSERT INTO pk VALUES (2, 'b2', 20);
COMMIT;
-- unique violation after an update that kept the key in an older version
UPDATE pk SET qty = qty + 1 WHERE id = 2;
INSERT INTO pk VALUES (2, 'dup', 0);
SELECT * FROM pk ORDER BY id;
-- deferrable unique
CREATE TABLE du (id int UNIQUE DEFERRABLE INITIALLY DEFERRED);
INSERT INTO du VALUES (1), (2), (3);
BEGIN;
UPDATE du SET id = id + 1;
COMMIT;
SELECT * FROM du ORDER BY id;
BEGIN;
INSERT INTO du VALUES (2);
COMMIT;
-- foreign keys
CREATE TABLE fk (id int PRIMARY KEY, pk_id int REFERENCES pk (id) ON DELETE CASCADE ON UPDATE CASCADE,
                 code text REFERENCES pk (code) ON DELETE SET NULL,
                 other int);
INSERT INTO fk VALUES (10, 1, 'a'), (11, 2, 'b2'), (12, 3, 'c'), (13, NULL, NULL);
INSERT INTO fk VALUES (14, 99, NULL);
INSERT INTO fk VALUES (15, NULL, 'nope');
UPDATE pk SET id = 30 WHERE id = 3;
DELETE FROM pk WHERE id = 1;
UPDATE pk SET code = 'B' WHERE id = 2;
DELETE FROM pk WHERE code = 'B';
SELECT * FROM fk ORDER BY id;
-- restrict / no action, deferred
CREATE TABLE parent (id int PRIMARY KEY);
CREATE TABLE child (pid int REFERENCES parent ON DELETE RESTRICT);
CREATE TABLE child2 (pid int REFERENCES parent DEFERRABLE INITIALLY DEFERRED);
INSERT INTO parent SELECT generate_series(1, 5);
INSERT INTO child VALUES (1), (2);
DELETE FROM parent WHERE id = 1;
BEGIN;
INSERT INTO child2 VALUES (42);
INSERT INTO parent VALUES (42);
COMMIT;
BEGIN;
INSERT INTO child2 VALUES (43);
COMMIT;
-- the referenced row updated (non-key column) concurrently with the FK check in
-- the same transaction
ALTER TABLE parent ADD COLUMN note text;
BEGIN;
UPDATE parent SET note = 'x' WHERE id = 2;
INSERT INTO child VALUES (2);
DELETE FROM parent WHERE id = 2;
ROLLBACK;
SELECT * FROM child ORDER BY pid;
-- adding constraints validates existing rows
CREATE TABLE later (a int, b int);
INSERT INTO later VALUES (1, 1), (2, NULL), (3, 3), (3, 4);
ALTER TABLE later ADD CONSTRAINT later_b CHECK (b > 0);
ALTER TABLE later ALTER COLUMN b SET NOT NULL;
ALTER TABLE later ADD PRIMARY KEY (a);
ALTER TABLE later ADD CONSTRAINT later_fk FOREIGN KEY (a) REFERENCES parent (id);
ALTER TABLE later ADD CONSTRAINT later_fk2 FOREIGN KEY (b) REFERENCES parent (id) NOT VALID;
ALTER TABLE later VALIDATE CONSTRAINT later_fk2;
DELETE FROM later WHERE a = 3 AND b = 4;
ALTER TABLE later ADD PRIMARY KEY (a);
-- exclusion constraints
CREATE TABLE booking (room int, during tsrange, c circle,
                      EXCLUDE USING gist (c WITH &&));
INSERT INTO booking VALUES (1, '[2020-01-01 10:00, 2020-01-01 11:00)', '<(0,0),1>');
INSERT INTO booking VALUES (1, '[2020-01-01 10:30, 2020-01-01 12:00)', '<(5,5),1>');
INSERT INTO booking VALUES (2, '[2020-01-01 10:00, 2020-01-01 11:00)', '<(1,1),1>');
UPDATE booking SET c = '<(10,10),1>' WHERE room = 1 AND c ~= '<(5,5),1>';
INSERT INTO booking VALUES (3, NULL, '<(5,5),1>');
CREATE TABLE excl2 (r int4range, EXCLUDE USING gist (r WITH &&) DEFERRABLE INITIALLY DEFERRED);
INSERT INTO excl2 VALUES ('[1,5)'), ('[5,10)');
BEGIN;
UPDATE excl2 SET r = '[3,7)' WHERE r = '[1,5)';
UPDATE excl2 SET r = '[7,12)' WHERE r = '[5,10)';
COMMIT;
BEGIN;
INSERT INTO excl2 VALUES ('[8,9)');
COMMIT;
SELECT * FROM excl2 ORDER BY r;
SELECT room, c FROM booking ORDER BY room, c::text;
-- the cold tier: constraints checked against compacted rows
VACUUM (FREEZE) pk, fk, parent, child, child2, later, booking, excl2, du;
CALL compact_all();
INSERT INTO pk VALUES (2, 'again', 0);
INSERT INTO pk VALUES (7, 'c', 0);
INSERT INTO fk VALUES (20, 2, 'c');
INSERT INTO fk VALUES (21, 77, NULL);
DELETE FROM parent WHERE id = 2;
INSERT INTO booking VALUES (4, NULL, '<(10,10),0.5>');
INSERT INTO booking VALUES (4, NULL, '<(20,20),0.5>');
INSERT INTO excl2 VALUES ('[11,20)');
INSERT INTO du VALUES (3);
UPDATE pk SET id = 300 WHERE id = 30;
DELETE FROM pk WHERE id = 2;
SELECT * FROM pk ORDER BY id;
SELECT * FROM fk ORDER BY id;
SELECT room, c FROM booking ORDER BY room, c::text;
DROP SCHEMA constraints CASCADE;
