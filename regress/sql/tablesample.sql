--
-- tablesample: SYSTEM and BERNOULLI sampling with REPEATABLE seeds give the
-- same rows as heap (same page packing), also after compaction
--
CREATE SCHEMA tsample;
SET search_path = tsample, public;

-- one session fills the table, so its rows sit on pages exactly like heap's
CREATE TABLE ts (id int, pad text) WITH (fillfactor = 10);
INSERT INTO ts SELECT i, repeat('p', 50) FROM generate_series(1, 1000) i;
SELECT count(*) FROM ts TABLESAMPLE SYSTEM (100);
SELECT id FROM ts TABLESAMPLE SYSTEM (10) REPEATABLE (42) ORDER BY id;
SELECT id FROM ts TABLESAMPLE BERNOULLI (3) REPEATABLE (7) ORDER BY id;
SELECT count(*), sum(id) FROM ts TABLESAMPLE SYSTEM (50) REPEATABLE (1);
SELECT count(*), sum(id) FROM ts TABLESAMPLE BERNOULLI (50) REPEATABLE (1);
SELECT count(*) FROM ts TABLESAMPLE SYSTEM (0);
EXPLAIN (COSTS OFF) SELECT id FROM ts TABLESAMPLE SYSTEM (10) REPEATABLE (42);
-- sampling skips deleted rows
DELETE FROM ts WHERE id % 2 = 0;
SELECT id FROM ts TABLESAMPLE SYSTEM (10) REPEATABLE (42) ORDER BY id;
SELECT count(*), sum(id) FROM ts TABLESAMPLE BERNOULLI (50) REPEATABLE (1);
-- a bad argument
SELECT count(*) FROM ts TABLESAMPLE SYSTEM (-1);
SELECT count(*) FROM ts TABLESAMPLE BERNOULLI (200);
-- the cold tier
VACUUM (FREEZE) ts;
CALL compact_all();
SELECT id FROM ts TABLESAMPLE SYSTEM (10) REPEATABLE (42) ORDER BY id;
SELECT id FROM ts TABLESAMPLE BERNOULLI (3) REPEATABLE (7) ORDER BY id;
SELECT count(*), sum(id) FROM ts TABLESAMPLE SYSTEM (50) REPEATABLE (1);
SELECT count(*), sum(id) FROM ts TABLESAMPLE BERNOULLI (50) REPEATABLE (1);
DROP SCHEMA tsample CASCADE;
