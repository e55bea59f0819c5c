--
-- phantom_run_rewrite: compaction rewrites run pages whose live fraction
-- fell below phantom.compaction_run_rewrite_ratio (src/lsm/compact.c).
-- Random updates of 1% of the rows thaw many cold vblocks and leave their
-- frames dead in partly live run pages; without rewriting, a second
-- compaction grows the run pages by a third, with it the file shrinks back.
-- The counters of phantom.stat_tables give the write amplification.
-- Hand-written expected output (phantom_* test); only robust comparisons.
--
CREATE SCHEMA phantom_run_rewrite;
SET search_path = phantom_run_rewrite, public;

CREATE FUNCTION load(tbl regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('INSERT INTO %s SELECT g, g %% 100, repeat(''x'', 15 + g %% 21) || g, g * 1.5 FROM generate_series(1, 30000) g', tbl);
END $$;

CREATE FUNCTION churn(tbl regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM setseed(0.25);
	EXECUTE format('UPDATE %s SET b = b + 1 WHERE a IN (SELECT (random() * 29999)::int + 1 FROM generate_series(1, 300))', tbl);
END $$;

CREATE TABLE norw (a int PRIMARY KEY, b int, c text, d numeric) USING phantom;
CREATE TABLE rw (a int PRIMARY KEY, b int, c text, d numeric) USING phantom;
SELECT load('norw'), load('rw');
-- (>= 0: a background compaction after a timed checkpoint may come first)
SELECT phantom.compact('norw') >= 0 AS norw_compacted, phantom.compact('rw') >= 0 AS rw_compacted;
CREATE TEMP TABLE before AS
  SELECT name, run_pages, bytes_on_disk, compacted_bytes, compaction_written_bytes
  FROM phantom.stat_tables WHERE schema = 'phantom_run_rewrite';

-- counters after one compaction: written = run pages, amplification > 1
SELECT name, compacted_bytes > 0 AS counted,
       compaction_written_bytes = run_pages * 8192 AS written_is_run_pages,
       write_amplification > 1 AND write_amplification < 2 AS wa_sane
  FROM phantom.stat_tables WHERE schema = 'phantom_run_rewrite' ORDER BY name;

SELECT churn('norw'), churn('rw');
VACUUM norw, rw;

SET phantom.compaction_run_rewrite_ratio = 0;
SELECT phantom.compact('norw') > 0 AS norw_recompacted;
SET phantom.compaction_run_rewrite_ratio = 0.9;
SELECT phantom.compact('rw') > 0 AS rw_recompacted;
RESET phantom.compaction_run_rewrite_ratio;

-- without rewriting the run pages grow by a half at least; with it they
-- stay within 15 % of before and the file follows (36 run pages of ~8
-- columnar frames each: the partly filled last pages of the rewrite and of
-- the recompacted thawed vblocks weigh ~10 %)
SELECT s.name,
       s.run_pages > b.run_pages * 1.5 AS grew,
       s.run_pages <= b.run_pages * 1.15 AS kept,
       s.bytes_on_disk <= b.bytes_on_disk * 1.15 AS file_kept,
       s.compaction_written_bytes > b.compaction_written_bytes AS wrote_more
  FROM phantom.stat_tables s JOIN before b USING (name)
  WHERE s.schema = 'phantom_run_rewrite' ORDER BY s.name;
-- the rewrites show as a higher write amplification
SELECT (SELECT write_amplification FROM phantom.stat_tables WHERE schema = 'phantom_run_rewrite' AND name = 'rw') >
       (SELECT write_amplification FROM phantom.stat_tables WHERE schema = 'phantom_run_rewrite' AND name = 'norw') AS rewrites_counted;

-- same rows in both, storage consistent
SELECT (SELECT count(*) FROM rw) AS n, (SELECT sum(b) FROM rw) = (SELECT sum(b) FROM norw) AS same_sum,
       (SELECT count(*) FROM rw r JOIN norw n USING (a) WHERE r.c = n.c AND r.b = n.b) AS same_rows;
SET enable_seqscan = off;
SELECT count(*) FROM rw WHERE a BETWEEN 1000 AND 1999 AND c LIKE 'x%';
RESET enable_seqscan;
SELECT check_name, ok FROM phantom.verify('rw') WHERE NOT ok OR check_name = 'cold frames';

-- a second compaction with nothing new does not rewrite again
CREATE TEMP TABLE after1 AS
  SELECT compaction_written_bytes FROM phantom.stat_tables WHERE schema = 'phantom_run_rewrite' AND name = 'rw';
SET phantom.compaction_run_rewrite_ratio = 0.9;
SELECT phantom.compact('rw') AS moved_again;
SELECT s.compaction_written_bytes = a.compaction_written_bytes AS stable
  FROM phantom.stat_tables s, after1 a WHERE s.schema = 'phantom_run_rewrite' AND s.name = 'rw';
RESET phantom.compaction_run_rewrite_ratio;

-- bad values are refused
SET phantom.compaction_run_rewrite_ratio = 1.5;

DROP SCHEMA phantom_run_rewrite CASCADE;
