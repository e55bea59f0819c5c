--
-- Contrib functions that read a table's pages (not through the table AM),
-- on a table whose AM is default_table_access_method.  The output must be
-- heap's, or (phantom) a clear error for the heap-only functions.
--
CREATE EXTENSION pg_prewarm;
CREATE EXTENSION pgrowlocks;
CREATE EXTENSION pageinspect;
CREATE EXTENSION pg_visibility;
CREATE EXTENSION pgstattuple;
CREATE EXTENSION pg_surgery;
CREATE EXTENSION amcheck;
CREATE EXTENSION pg_freespacemap;

CREATE TABLE sf (id int PRIMARY KEY, v text);
INSERT INTO sf SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g;
VACUUM (FREEZE) sf;
-- phantom: move the settled pages to the cold tier (nothing for heap)
DO $$
BEGIN
    IF (SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam
        WHERE c.oid = 'sf'::regclass) = 'phantom' THEN
        PERFORM phantom.compact('sf');
    END IF;
END $$;
-- a few hot pages again
UPDATE sf SET v = 'updated' WHERE id % 1000 = 0;
DELETE FROM sf WHERE id BETWEEN 19901 AND 20000;
VACUUM sf;

SELECT pg_relation_size('sf') / current_setting('block_size')::int AS pages;
SELECT count(*), sum(id) FROM sf;

-- pg_prewarm: every mode, whole table and a range
SELECT pg_prewarm('sf') > 0 AS prewarmed;
SELECT pg_prewarm('sf', 'read') > 0 AS read;
SELECT pg_prewarm('sf', 'prefetch') >= 0 AS prefetched;
SELECT pg_prewarm('sf', 'buffer', 'main', 3, 5) AS range;
SELECT pg_prewarm('sf', 'buffer', 'main', 0, 100000);
SELECT pg_prewarm('sf', 'buffer', 'vm') >= 0 AS vm;
SELECT count(*), sum(id) FROM sf;

-- pgrowlocks: heap-only
BEGIN;
SELECT id FROM sf WHERE id IN (5, 6) ORDER BY id FOR UPDATE;
SELECT locked_row, locker = txid_current()::text::xid AS mine, multi, modes
FROM pgrowlocks('sf') ORDER BY locked_row;
COMMIT;

-- visibility map
SELECT * FROM pg_visibility_map_summary('sf');
SELECT all_visible, all_frozen, count(*) FROM pg_visibility_map('sf')
GROUP BY 1, 2 ORDER BY 1, 2;
SELECT * FROM pg_check_frozen('sf');
SELECT * FROM pg_check_visible('sf');
SELECT all_visible, all_frozen, pd_all_visible FROM pg_visibility('sf', 0);
SELECT all_visible, pd_all_visible, count(*) FROM pg_visibility('sf')
GROUP BY 1, 2 ORDER BY 1, 2;

-- free space map
SELECT count(*) > 0 AS has_blocks FROM pg_freespace('sf');

-- amcheck
SELECT bt_index_check('sf_pkey', true);
SELECT bt_index_parent_check('sf_pkey', true);
SELECT * FROM verify_heapam('sf');

-- pageinspect's heap functions on a block of the table
SELECT count(*) > 0 AS items FROM heap_page_items(get_raw_page('sf', 1));
SELECT count(*) FROM heap_page_item_attrs(get_raw_page('sf', 1), 'sf'::regclass)
WHERE t_attrs IS NOT NULL;
SELECT count(*) FROM tuple_data_split('sf'::regclass, '\x01000000'::bytea, 0::int2, 1::int2, NULL);

-- pgstattuple
SELECT tuple_count, dead_tuple_count FROM pgstattuple('sf');
SELECT tuple_count FROM pgstattuple_approx('sf');

-- pg_surgery
SELECT heap_force_freeze('sf'::regclass, ARRAY['(1,1)']::tid[]);
SELECT heap_force_kill('sf'::regclass, ARRAY['(1,2)']::tid[]);
SELECT count(*), sum(id) FROM sf;

DROP TABLE sf;
