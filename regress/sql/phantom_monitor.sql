--
-- phantom_monitor: phantom.verify(), phantom.stat_tables and
-- phantom.stat_compaction.  Phantom's own API, so the expected output is
-- written by hand (the heap baseline skips phantom_* tests).  Only
-- deterministic values are printed: check names and ok flags (not their
-- details, which carry counts), booleans instead of sizes.  Background
-- compaction may move pages at any time, so no hot/cold count is printed
-- as a number.
--
CREATE SCHEMA phantom_monitor;
SET search_path = phantom_monitor, public;

CREATE FUNCTION try(stmt text, name text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
	res text;
BEGIN
	EXECUTE stmt INTO res;
	RETURN 'ok: ' || coalesce(res, 'NULL');
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
	RETURN 'ERROR ' || st || CASE WHEN position(name IN msg) > 0 THEN ' (names ' || name || ')'
	                              ELSE ' (message: ' || msg || ')' END;
END $$;

-- all checks pass, and the number of problems is zero
CREATE FUNCTION verify_ok(rel regclass, idx boolean DEFAULT true) RETURNS TABLE (check_name text, ok boolean)
LANGUAGE sql AS $$ SELECT check_name, ok FROM phantom.verify(rel, idx) $$;

CREATE TABLE ph (id int PRIMARY KEY, v text, w int) USING phantom;
CREATE INDEX ph_v ON ph (v);
CREATE INDEX ph_w_part ON ph (w) WHERE w % 2 = 0;
-- hash indexes cannot list their entries: skipped (ok, with a note)
CREATE INDEX ph_hash ON ph USING hash (w);
INSERT INTO ph SELECT i, repeat(md5(i::text), 4), i FROM generate_series(1, 3000) i;

-- hot table
SELECT * FROM verify_ok('ph');
SELECT name, vblocks > 0 AS has_vblocks, vblocks = hot_pages + cold_vblocks AS tiers_add_up,
       map_pages, bytes_on_disk > 0 AS has_bytes, dead_items IS NOT NULL AS dead_counted,
       last_compaction
  FROM phantom.stat_tables WHERE schema = 'phantom_monitor' ORDER BY name;

-- after compaction: cold frames, cold invariant, VM bits
VACUUM (FREEZE) ph;
SELECT phantom.compact('ph') >= 0 AS compacted;
SELECT * FROM verify_ok('ph');
SELECT name, cold_vblocks > 0 AS has_cold, run_pages > 0 AS has_runs,
       compression_ratio > 1 AS compressed,
       uncompressed_bytes = cold_vblocks * 8192 AS uncompressed_estimate,
       vblocks = hot_pages + cold_vblocks AS tiers_add_up
  FROM phantom.stat_tables WHERE schema = 'phantom_monitor' ORDER BY name;
-- the same, through storage_info
SELECT s.cold_vblocks = i.cold_vblocks AND s.run_pages = i.run_pages AND s.vblocks = i.nvblocks AS same_as_storage_info
  FROM phantom.stat_tables s, phantom_internal.storage_info('ph') i
 WHERE s.schema = 'phantom_monitor' AND s.name = 'ph';

-- after thawing some vblocks (update, delete) and more inserts
UPDATE ph SET v = 'updated' WHERE id % 500 = 0;
DELETE FROM ph WHERE id BETWEEN 1000 AND 1100;
INSERT INTO ph SELECT i, md5(i::text), i FROM generate_series(3001, 3200) i;
SELECT * FROM verify_ok('ph');
SELECT name, hot_pages > 0 AS has_hot, vblocks = hot_pages + cold_vblocks AS tiers_add_up
  FROM phantom.stat_tables WHERE schema = 'phantom_monitor' ORDER BY name;
-- after VACUUM (free pages get reused, dead run pages retired by compaction)
VACUUM ph;
SELECT phantom.compact('ph') >= 0 AS compacted;
SELECT * FROM verify_ok('ph');
-- with amcheck installed, btree indexes are checked by bt_index_check
-- (heapallindexed); created in this schema, so that it goes away with it
-- unless another test installed it already
CREATE EXTENSION IF NOT EXISTS amcheck SCHEMA phantom_monitor;
SELECT check_name, ok, check_name NOT LIKE 'index ph\_%' OR check_name = 'index ph_hash'
       OR detail LIKE 'amcheck%' AS amcheck_used
  FROM phantom.verify('ph');
-- without the index checks
SELECT * FROM verify_ok('ph', false);
SELECT count(*) FROM phantom.verify('ph', NULL);

-- a materialized view, an empty table, a table emptied by TRUNCATE, a
-- temporary table
CREATE MATERIALIZED VIEW ph_mv USING phantom AS SELECT id, v FROM ph WHERE id < 500;
CREATE UNIQUE INDEX ph_mv_id ON ph_mv (id);
SELECT bool_and(ok) FROM phantom.verify('ph_mv');
CREATE TABLE ph_empty (a int) USING phantom;
SELECT * FROM verify_ok('ph_empty');
CREATE TABLE ph_trunc (a int) USING phantom;
INSERT INTO ph_trunc SELECT generate_series(1, 1000);
TRUNCATE ph_trunc;
SELECT bool_and(ok) FROM phantom.verify('ph_trunc');
CREATE TEMP TABLE ph_temp (a int PRIMARY KEY) USING phantom;
INSERT INTO ph_temp SELECT generate_series(1, 1000);
SELECT bool_and(ok) FROM phantom.verify('ph_temp');
SELECT name, vblocks, hot_pages, cold_vblocks, run_pages, compression_ratio
  FROM phantom.stat_tables WHERE schema = 'phantom_monitor' AND name NOT IN ('ph', 'ph_mv') ORDER BY name;

-- bad arguments: NULL, not a phantom table, not a table, no such relation
SELECT try('SELECT count(*) FROM phantom.verify(NULL)', 'null');
SELECT try('SELECT nvblocks FROM phantom_internal.storage_info(NULL)', 'null');
SELECT try('SELECT vblocks FROM phantom_internal.table_stats(NULL)', 'null');
CREATE TABLE heap_tbl (a int) USING heap;
CREATE VIEW a_view AS SELECT 1 AS a;
CREATE SEQUENCE a_seq;
CREATE TABLE part_tbl (a int) PARTITION BY RANGE (a);
SELECT try('SELECT count(*) FROM phantom.verify(''heap_tbl'')', 'heap_tbl');
SELECT try('SELECT count(*) FROM phantom.verify(''a_view'')', 'a_view');
SELECT try('SELECT count(*) FROM phantom.verify(''ph_v'')', 'ph_v');
SELECT try('SELECT count(*) FROM phantom.verify(''a_seq'')', 'a_seq');
SELECT try('SELECT count(*) FROM phantom.verify(''part_tbl'')', 'part_tbl');
SELECT try('SELECT count(*) FROM phantom.verify(''no_such_table'')', 'no_such_table');
SELECT try('SELECT count(*) FROM phantom.verify(4000000000::oid)', '4000000000');
-- heap tables do not appear in stat_tables
SELECT count(*) FROM phantom.stat_tables WHERE schema = 'phantom_monitor' AND name = 'heap_tbl';

-- permissions: schema phantom needs USAGE (not granted to PUBLIC); verify
-- is not granted to PUBLIC and needs table ownership; the views are
-- readable by everyone with USAGE on schema phantom
CREATE ROLE regress_phantom_monitor_nobody;
GRANT USAGE ON SCHEMA phantom_monitor TO regress_phantom_monitor_nobody;
GRANT USAGE ON SCHEMA phantom TO regress_phantom_monitor_nobody;
SET ROLE regress_phantom_monitor_nobody;
SELECT try('SELECT count(*) FROM phantom.verify(''phantom_monitor.ph'')', 'permission denied for function verify');
RESET ROLE;
GRANT EXECUTE ON FUNCTION phantom.verify(regclass, boolean) TO regress_phantom_monitor_nobody;
SET ROLE regress_phantom_monitor_nobody;
SELECT try('SELECT count(*) FROM phantom.verify(''phantom_monitor.ph'')', 'must be owner');
SELECT count(*) > 0 AS sees_stats FROM phantom.stat_tables WHERE schema = 'phantom_monitor';
SELECT count(*) >= 0 AS sees_workers FROM phantom.stat_compaction;
RESET ROLE;
REVOKE EXECUTE ON FUNCTION phantom.verify(regclass, boolean) FROM regress_phantom_monitor_nobody;
REVOKE USAGE ON SCHEMA phantom FROM regress_phantom_monitor_nobody;

-- compaction workers: at most two slots, states from a fixed set
SELECT count(*) <= 2 AS few, bool_and(state IN ('starting', 'running', 'done')) IS NOT FALSE AS known_states
  FROM phantom.stat_compaction;

DO $$ BEGIN
	IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'amcheck'
	           AND extnamespace = 'phantom_monitor'::regnamespace) THEN
		DROP EXTENSION amcheck;
	END IF;
END $$;
DROP SCHEMA phantom_monitor CASCADE;
DROP ROLE regress_phantom_monitor_nobody;
