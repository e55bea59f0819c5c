--
-- toast: large values, compressed inline, compressed external, external
-- uncompressed, updates and deletes of toasted rows
--
CREATE SCHEMA toast;
SET search_path = toast, public;

-- a non-compressible string of n characters
CREATE FUNCTION rnd(n int, seed int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT string_agg(md5((seed * 100000 + i)::text), '')
	  FROM generate_series(1, (n + 31) / 32) i
$$;

CREATE TABLE tt (id int PRIMARY KEY, plain_c text, ext text, js jsonb, arr int[], b bytea);
ALTER TABLE tt ALTER COLUMN ext SET STORAGE EXTERNAL;
INSERT INTO tt (id, plain_c) VALUES (1, repeat('a', 5000));            -- compressed inline
INSERT INTO tt (id, plain_c) VALUES (2, repeat('abc', 200000));        -- compressed, external
INSERT INTO tt (id, plain_c) VALUES (3, rnd(10000, 3));                -- external, uncompressed
INSERT INTO tt (id, ext) VALUES (4, repeat('e', 10000));               -- external, no compression
INSERT INTO tt (id, js, arr, b) VALUES (5,
	(SELECT jsonb_agg(jsonb_build_object('k', i, 'v', md5(i::text))) FROM generate_series(1, 500) i),
	(SELECT array_agg(i) FROM generate_series(1, 20000) i),
	decode(rnd(6000, 5), 'hex'));
INSERT INTO tt (id, plain_c) VALUES (6, 'small');
SELECT id, length(plain_c), md5(plain_c), length(ext), md5(ext),
       jsonb_array_length(js), array_length(arr, 1), length(b), md5(b)
  FROM tt ORDER BY id;
SELECT id, pg_column_compression(plain_c) AS c1, pg_column_compression(ext) AS c2,
       pg_column_size(plain_c) AS s1, pg_column_size(ext) AS s2
  FROM tt ORDER BY id;
-- lz4 and pglz per column
CREATE TABLE tc (id int, p text COMPRESSION pglz, l text COMPRESSION lz4);
INSERT INTO tc SELECT i, repeat('p' || i, 3000), repeat('l' || i, 3000) FROM generate_series(1, 5) i;
SELECT id, pg_column_compression(p), pg_column_compression(l), length(p), length(l)
  FROM tc ORDER BY id;
-- updates: toasted column unchanged, changed, set to NULL, grown, shrunk
UPDATE tt SET js = '{"small": true}' WHERE id = 2;
UPDATE tt SET plain_c = plain_c || 'tail' WHERE id = 2;
UPDATE tt SET plain_c = NULL WHERE id = 3;
UPDATE tt SET ext = ext || ext WHERE id = 4;
UPDATE tt SET plain_c = rnd(20000, 6) WHERE id = 6;
UPDATE tt SET arr = arr[1:10] WHERE id = 5;
SELECT id, length(plain_c), md5(plain_c), length(ext), md5(ext),
       js::text = '{"small": true}' AS small_js, array_length(arr, 1)
  FROM tt ORDER BY id;
-- substring of external values fetches slices
SELECT id, substr(ext, 9990, 20), substr(plain_c, 100, 8) FROM tt WHERE id IN (2, 4) ORDER BY id;
-- a deleted toasted row, rolled back and committed
BEGIN;
DELETE FROM tt WHERE id = 1;
ROLLBACK;
DELETE FROM tt WHERE id = 5;
SELECT id, length(plain_c) FROM tt ORDER BY id;
-- the toast table is a heap table, whatever the table's AM
SELECT count(*) FROM pg_class c JOIN pg_class t ON t.oid = c.reltoastrelid
 JOIN pg_am a ON a.oid = t.relam
 WHERE c.oid = 'tt'::regclass AND a.amname = 'heap';
-- many toasted rows
CREATE TABLE manyt (id int, v text);
INSERT INTO manyt SELECT i, rnd(3000, i) FROM generate_series(1, 200) i;
SELECT count(*), sum(length(v)), md5(string_agg(md5(v), '' ORDER BY id)) FROM manyt;
-- the cold tier
VACUUM (FREEZE) tt, tc, manyt;
CALL compact_all();
SELECT id, length(plain_c), md5(plain_c), length(ext), md5(ext),
       js::text = '{"small": true}' AS small_js, array_length(arr, 1)
  FROM tt ORDER BY id;
SELECT id, pg_column_compression(plain_c) AS c1, pg_column_compression(ext) AS c2
  FROM tt ORDER BY id;
SELECT id, md5(p), md5(l) FROM tc ORDER BY id;
SELECT count(*), sum(length(v)), md5(string_agg(md5(v), '' ORDER BY id)) FROM manyt;
-- modify toasted cold rows
UPDATE manyt SET v = v || 'x' WHERE id % 50 = 0;
UPDATE manyt SET id = id + 1000 WHERE id % 50 = 1;
DELETE FROM manyt WHERE id % 50 = 2;
UPDATE tt SET ext = 'short' WHERE id = 4;
SELECT count(*), sum(length(v)), md5(string_agg(md5(v), '' ORDER BY id)) FROM manyt;
SELECT id, length(ext), md5(ext) FROM tt ORDER BY id;
VACUUM tt, manyt;
SELECT count(*), sum(length(v)) FROM manyt;
DROP SCHEMA toast CASCADE;
