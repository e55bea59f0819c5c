--
-- partition: range, list and hash partitioned tables whose partitions use
-- the AM under test (and one explicit heap partition), row movement,
-- pruning, attach/detach, partition-wise unique keys
--
CREATE SCHEMA partition;
SET search_path = partition, public;

CREATE TABLE pr (id int, d date, v text, PRIMARY KEY (id, d)) PARTITION BY RANGE (d);
CREATE TABLE pr_2020 PARTITION OF pr FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');
CREATE TABLE pr_2021 PARTITION OF pr FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');
CREATE TABLE pr_heap PARTITION OF pr FOR VALUES FROM ('2022-01-01') TO ('2023-01-01') USING heap;
CREATE TABLE pr_def PARTITION OF pr DEFAULT;
SELECT c.relname, CASE WHEN c.relname = 'pr_heap' THEN a.amname = 'heap' ELSE is_default_am(c.oid) END AS am_ok
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_am a ON a.oid = c.relam
 WHERE i.inhparent = 'pr'::regclass ORDER BY 1;
INSERT INTO pr SELECT i, date '2020-01-01' + i, 'v' || i FROM generate_series(1, 1200) i;
SELECT tableoid::regclass, count(*), min(d), max(d) FROM pr GROUP BY 1 ORDER BY 1;
-- row movement between partitions (phantom -> heap -> phantom -> default)
UPDATE pr SET d = d + 365 WHERE id % 100 = 0 RETURNING tableoid::regclass, id, d;
UPDATE pr SET d = '2030-01-01' WHERE id = 5 RETURNING tableoid::regclass, id, d;
DELETE FROM pr WHERE id BETWEEN 10 AND 19;
SELECT tableoid::regclass, count(*), sum(id) FROM pr GROUP BY 1 ORDER BY 1;
-- pruning
EXPLAIN (COSTS OFF) SELECT * FROM pr WHERE d = '2021-06-01';
SELECT * FROM pr WHERE d = '2021-06-01';
-- list and hash partitioning, sub-partitions
CREATE TABLE pl (k text, n int) PARTITION BY LIST (k);
CREATE TABLE pl_ab PARTITION OF pl FOR VALUES IN ('a', 'b');
CREATE TABLE pl_c PARTITION OF pl FOR VALUES IN ('c') PARTITION BY HASH (n);
CREATE TABLE pl_c0 PARTITION OF pl_c FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE pl_c1 PARTITION OF pl_c FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO pl SELECT chr(97 + i % 3), i FROM generate_series(1, 300) i;
INSERT INTO pl VALUES ('z', 1);
SELECT tableoid::regclass, count(*), sum(n) FROM pl GROUP BY 1 ORDER BY 1;
UPDATE pl SET k = 'c' WHERE k = 'a' AND n < 20;
SELECT tableoid::regclass, count(*), sum(n) FROM pl GROUP BY 1 ORDER BY 1;
-- attach and detach
CREATE TABLE pr_2023 (LIKE pr);
INSERT INTO pr_2023 VALUES (5000, '2050-05-05', 'attached');
ALTER TABLE pr ATTACH PARTITION pr_2023 FOR VALUES FROM ('2050-01-01') TO ('2051-01-01');
SELECT * FROM pr WHERE d >= '2050-01-01' AND d < '2051-01-01';
ALTER TABLE pr DETACH PARTITION pr_2020;
SELECT count(*) FROM pr;
SELECT count(*) FROM pr_2020;
ALTER TABLE pr ATTACH PARTITION pr_2020 FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');
-- a unique key across partitions
INSERT INTO pr VALUES (1, '2020-01-02', 'dup');
-- ON CONFLICT through the partitioned table
INSERT INTO pr VALUES (1, '2020-01-02', 'upserted') ON CONFLICT (id, d) DO UPDATE SET v = EXCLUDED.v
  RETURNING tableoid::regclass, *;
-- foreign key to a partitioned table
CREATE TABLE ref (id int, d date, FOREIGN KEY (id, d) REFERENCES pr ON DELETE CASCADE);
INSERT INTO ref VALUES (2, '2020-01-03'), (3, '2020-01-04');
DELETE FROM pr WHERE id = 2;
SELECT * FROM ref ORDER BY id;
-- COPY into the partitioned table routes rows
COPY pr FROM STDIN;
7001	2020-07-01	copied
7002	2021-07-01	copied
7003	2022-07-01	copied
7004	2040-07-01	copied
\.
SELECT tableoid::regclass, * FROM pr WHERE v = 'copied' ORDER BY id;
-- the cold tier
VACUUM (FREEZE) pr, pl, ref;
CALL compact_all();
SELECT tableoid::regclass, count(*), sum(id) FROM pr GROUP BY 1 ORDER BY 1;
SELECT tableoid::regclass, count(*), sum(n) FROM pl GROUP BY 1 ORDER BY 1;
UPDATE pr SET d = d + 365 WHERE id % 100 = 1 AND d < '2021-01-01';
UPDATE pl SET k = 'b' WHERE k = 'c' AND n % 10 = 0;
DELETE FROM pr WHERE id = 3;
SELECT tableoid::regclass, count(*), sum(id) FROM pr GROUP BY 1 ORDER BY 1;
SELECT tableoid::regclass, count(*), sum(n) FROM pl GROUP BY 1 ORDER BY 1;
SELECT * FROM ref ORDER BY id;
DROP SCHEMA partition CASCADE;
