--
-- triggers: row and statement, BEFORE/AFTER/INSTEAD OF, WHEN, transition
-- tables, triggers that modify or suppress rows
--
CREATE SCHEMA triggers;
SET search_path = triggers, public;

CREATE TABLE tg (id int PRIMARY KEY, v text, n int DEFAULT 0);
CREATE TABLE tg_log (seq serial, what text);

CREATE FUNCTION log_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO tg_log (what) VALUES (format('%s %s %s %s: old=%s new=%s', TG_WHEN, TG_LEVEL, TG_OP,
		TG_NAME, CASE WHEN TG_OP <> 'INSERT' THEN OLD::text END,
		CASE WHEN TG_OP <> 'DELETE' THEN NEW::text END));
	IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
	RETURN NEW;
END $$;
CREATE FUNCTION log_stmt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO tg_log (what) VALUES (format('%s %s %s %s', TG_WHEN, TG_LEVEL, TG_OP, TG_NAME));
	RETURN NULL;
END $$;
CREATE FUNCTION fix_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.v = 'skip' THEN RETURN NULL; END IF;        -- suppress the row
	NEW.n := NEW.n + 1;                                -- modify the row
	NEW.v := upper(NEW.v);
	RETURN NEW;
END $$;
CREATE FUNCTION show_transition() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	o_txt text; n_txt text;
BEGIN
	IF TG_OP IN ('UPDATE', 'DELETE') THEN
		SELECT string_agg(id || ':' || v || ':' || n, ' ' ORDER BY id) INTO o_txt FROM old_rows;
	END IF;
	IF TG_OP IN ('UPDATE', 'INSERT') THEN
		SELECT string_agg(id || ':' || v || ':' || n, ' ' ORDER BY id) INTO n_txt FROM new_rows;
	END IF;
	INSERT INTO tg_log (what) VALUES (format('transition %s old={%s} new={%s}', TG_OP, o_txt, n_txt));
	RETURN NULL;
END $$;

CREATE TRIGGER a_before_row BEFORE INSERT OR UPDATE ON tg FOR EACH ROW EXECUTE FUNCTION fix_row();
CREATE TRIGGER b_before_row_log BEFORE INSERT OR UPDATE OR DELETE ON tg FOR EACH ROW EXECUTE FUNCTION log_row();
CREATE TRIGGER after_row AFTER INSERT OR UPDATE OR DELETE ON tg FOR EACH ROW EXECUTE FUNCTION log_row();
CREATE TRIGGER after_row_when AFTER UPDATE ON tg FOR EACH ROW
	WHEN (OLD.v IS DISTINCT FROM NEW.v) EXECUTE FUNCTION log_row();
CREATE TRIGGER before_stmt BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON tg FOR EACH STATEMENT EXECUTE FUNCTION log_stmt();
CREATE TRIGGER after_stmt AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tg FOR EACH STATEMENT EXECUTE FUNCTION log_stmt();
CREATE TRIGGER tr_ins AFTER INSERT ON tg REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION show_transition();
CREATE TRIGGER tr_upd AFTER UPDATE ON tg REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION show_transition();
CREATE TRIGGER tr_del AFTER DELETE ON tg REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION show_transition();

INSERT INTO tg (id, v) VALUES (1, 'a'), (2, 'skip'), (3, 'c') RETURNING *;
UPDATE tg SET v = 'x' WHERE id = 1 RETURNING *;
UPDATE tg SET n = n + 10 RETURNING *;
UPDATE tg SET v = 'skip' WHERE id = 3 RETURNING *;
DELETE FROM tg WHERE id = 3 RETURNING *;
SELECT * FROM tg ORDER BY id;
SELECT seq, what FROM tg_log ORDER BY seq;
TRUNCATE tg_log;
-- deferred constraint triggers fire at commit and see the final rows
CREATE FUNCTION check_sum() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF (SELECT sum(n) FROM tg) > 100 THEN
		RAISE EXCEPTION 'sum of n too large: %', (SELECT sum(n) FROM tg);
	END IF;
	INSERT INTO tg_log (what) VALUES ('constraint trigger ok for ' || NEW.id);
	RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER ctg AFTER INSERT OR UPDATE ON tg DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION check_sum();
BEGIN;
INSERT INTO tg (id, v, n) VALUES (4, 'd', 50);
UPDATE tg SET n = 1 WHERE id = 4;
COMMIT;
BEGIN;
INSERT INTO tg (id, v, n) VALUES (5, 'e', 500);
COMMIT;
SELECT id, v, n FROM tg ORDER BY id;
SELECT what FROM tg_log ORDER BY seq;
TRUNCATE tg_log;
-- an AFTER trigger that reads the table sees the rows of its statement
CREATE TABLE counter (id int, cnt int);
CREATE FUNCTION count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO counter VALUES (NEW.id, (SELECT count(*) FROM tg));
	RETURN NULL;
END $$;
CREATE TRIGGER cnt AFTER INSERT ON tg FOR EACH ROW EXECUTE FUNCTION count_rows();
INSERT INTO tg (id, v) SELECT i, 'bulk' FROM generate_series(10, 14) i;
SELECT * FROM counter ORDER BY id;
-- INSTEAD OF on a view
CREATE VIEW tgv AS SELECT id, v FROM tg;
CREATE FUNCTION tgv_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO tg (id, v, n) VALUES (NEW.id, NEW.v || '-via-view', 0);
	RETURN NEW;
END $$;
CREATE TRIGGER tgv_io INSTEAD OF INSERT ON tgv FOR EACH ROW EXECUTE FUNCTION tgv_ins();
INSERT INTO tgv VALUES (20, 'v');
SELECT id, v FROM tg WHERE id = 20;
-- the cold tier: triggers on updates and deletes of compacted rows
DROP TRIGGER cnt ON tg;
TRUNCATE tg_log;
VACUUM (FREEZE) tg, tg_log, counter;
CALL compact_all();
UPDATE tg SET v = 'cold' WHERE id IN (10, 11) RETURNING *;
DELETE FROM tg WHERE id = 12 RETURNING *;
SELECT seq > 0 AS ok, what FROM tg_log ORDER BY seq;
SELECT * FROM tg ORDER BY id;
DROP SCHEMA triggers CASCADE;
