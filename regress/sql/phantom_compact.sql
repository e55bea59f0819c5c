--
-- phantom_compact: phantom.compact() on a phantom table, and its bad
-- arguments, each a clear error.  Phantom's own API, so the expected output
-- is written by hand (the heap baseline skips phantom_* tests).  Errors are
-- shown as SQLSTATE plus whether the message names the object, so the
-- wording stays the owner's choice.
--
CREATE SCHEMA phantom_compact;
SET search_path = phantom_compact, public;

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

CREATE TABLE ph (id int, v text) USING phantom;
INSERT INTO ph SELECT i, md5(i::text) FROM generate_series(1, 3000) i;
-- compaction may settle (freeze) rows itself or leave that to VACUUM: the
-- pages move with the first call that finds them settled
SELECT phantom.compact('ph') AS first_call \gset
VACUUM (FREEZE) ph;
SELECT :first_call + phantom.compact('ph') > 0 AS moved_pages;
SELECT phantom.compact('ph') AS nothing_left;
SELECT count(*), sum(id), md5(string_agg(v, '' ORDER BY id)) = (SELECT md5(string_agg(md5(i::text), '' ORDER BY i)) FROM generate_series(1, 3000) i) AS same FROM ph;
-- an empty phantom table
CREATE TABLE ph_empty (a int) USING phantom;
SELECT phantom.compact('ph_empty');
-- NULL: an error (22004) with a hint, not a silent NULL
SELECT phantom.compact(NULL);
-- not a phantom table: a heap table, a view, an index, a sequence, a
-- partitioned table (all: wrong object type, naming the relation)
CREATE TABLE heap_tbl (a int) USING heap;
CREATE VIEW a_view AS SELECT 1 AS a;
CREATE INDEX ph_idx ON ph (id);
CREATE SEQUENCE a_seq;
CREATE TABLE part_tbl (a int) PARTITION BY RANGE (a);
SELECT try('SELECT phantom.compact(''heap_tbl'')', 'heap_tbl');
SELECT try('SELECT phantom.compact(''a_view'')', 'a_view');
SELECT try('SELECT phantom.compact(''ph_idx'')', 'ph_idx');
SELECT try('SELECT phantom.compact(''a_seq'')', 'a_seq');
SELECT try('SELECT phantom.compact(''part_tbl'')', 'part_tbl');
-- a relation that does not exist, and one by an unused OID
SELECT try('SELECT phantom.compact(''no_such_table'')', 'no_such_table');
SELECT try('SELECT phantom.compact(4000000000::oid)', '4000000000');
-- the free tail is cut after compaction, but not while this session's own
-- query still scans the table (its pins and block numbers must stay)
CREATE TABLE sq (id int, t text) USING phantom;
INSERT INTO sq SELECT g, 'row ' || g FROM generate_series(1, 20000) g;
SELECT phantom.compact('sq') > 0 AS compacted, count(*) FROM (SELECT * FROM sq LIMIT 1) s;
SELECT free_pages > 0 AS tail_kept FROM phantom_internal.storage_info('sq');
SELECT phantom.compact('sq') >= 0 AS compacted_again;
SELECT free_pages, physical_pages = 1 + map_pages + run_pages + hot_vblocks AS packed
  FROM phantom_internal.storage_info('sq');
SELECT count(*), sum(id) FROM sq;
-- rows of an asynchronous commit are compacted at once, before the commit
-- record is flushed: the freeze record follows it in the WAL
CREATE TABLE ac (id int, t text) USING phantom;
SET synchronous_commit = off;
INSERT INTO ac SELECT g, 'async ' || g FROM generate_series(1, 5000) g;
SELECT phantom.compact('ac') > 0 AS compacted_async;
RESET synchronous_commit;
SELECT count(*), sum(id) FROM ac;
-- not allowed to PUBLIC
CREATE ROLE regress_phantom_nobody;
GRANT USAGE ON SCHEMA phantom_compact TO regress_phantom_nobody;
SET ROLE regress_phantom_nobody;
SELECT try('SELECT phantom.compact(''phantom_compact.ph'')', 'permission denied');
RESET ROLE;
DROP SCHEMA phantom_compact CASCADE;
DROP ROLE regress_phantom_nobody;
