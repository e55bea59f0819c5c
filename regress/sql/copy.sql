--
-- copy: COPY FROM STDIN and COPY TO STDOUT in text, csv and binary-free forms
--
CREATE SCHEMA copy;
SET search_path = copy, public;

CREATE TABLE c (id int, name text, amount numeric, tags text[], d date);
COPY c FROM STDIN;
1	alpha	1.5	{a,b}	2020-01-01
2	beta	\N	{}	2020-02-29
3	gamma	-3	{"x y"}	\N
4	tab\there	0	\N	1999-12-31
\.
COPY c (id, name) FROM STDIN WITH (FORMAT csv, HEADER true);
id,name
5,"quoted, comma"
6,""
7,
\.
COPY c TO STDOUT;
COPY (SELECT * FROM c ORDER BY id DESC) TO STDOUT WITH (FORMAT csv, HEADER true);
COPY c (id, amount) TO STDOUT WITH (FORMAT text, DELIMITER '|', NULL 'NULL');
-- a bad row aborts the whole COPY
COPY c (id, name) FROM STDIN;
8	ok
nine	bad
\.
SELECT count(*) FROM c;
-- many rows through multi-insert (several pages, with an index)
CREATE TABLE big (k int PRIMARY KEY, v text);
COPY big (k) FROM PROGRAM 'seq 1 5000';
SELECT count(*), sum(k), count(v) FROM big;
UPDATE big SET v = 'v' || k WHERE k % 100 = 0;
-- COPY FREEZE into a table created in the same transaction
BEGIN;
CREATE TABLE frozen (a int, b text);
COPY frozen FROM STDIN WITH (FREEZE);
1	one
2	two
3	three
\.
SELECT * FROM frozen ORDER BY a;
COMMIT;
SELECT * FROM frozen ORDER BY a;
-- COPY into a table with a trigger and a check constraint
CREATE TABLE checked (a int CHECK (a > 0), b text);
CREATE FUNCTION checked_trg() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN NEW.b := coalesce(NEW.b, 'filled'); RETURN NEW; END $$;
CREATE TRIGGER checked_bi BEFORE INSERT ON checked FOR EACH ROW EXECUTE FUNCTION checked_trg();
COPY checked FROM STDIN;
1	\N
2	given
\.
COPY checked FROM STDIN;
-1	neg
\.
COPY checked TO STDOUT;
-- the cold tier
VACUUM (FREEZE) c, big, frozen, checked;
CALL compact_all();
COPY (SELECT * FROM c ORDER BY id) TO STDOUT;
SELECT count(*), sum(k), count(v) FROM big;
COPY (SELECT * FROM big WHERE k % 1000 = 0 ORDER BY k) TO STDOUT WITH (FORMAT csv);
COPY frozen TO STDOUT;
COPY big FROM STDIN;
5001	after
5002	compact
\.
SELECT * FROM big WHERE k > 4999 ORDER BY k;
DROP SCHEMA copy CASCADE;
