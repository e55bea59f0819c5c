--
-- setup: helpers every later test may use (runs right after extension)
--
-- Tests create their tables WITHOUT "USING": the access method comes from
-- default_table_access_method (phantom in regress/phantom.conf, heap in
-- scripts/regress-baseline.sh), so the expected output, produced on heap,
-- is what a phantom table must give.
--
-- the AM under test exists in this database
SELECT count(*) FROM pg_am
 WHERE amname = current_setting('default_table_access_method');
-- compact_all(schema) moves the settled pages of every phantom table of the
-- schema (default: the current one) and of the session's temporary schema
-- into cold runs.  Tables of other access methods are left alone, so the
-- call is a no-op on the heap baseline and the output stays identical.  The
-- number of pages moved is left in the setting regress.compacted (SHOW it
-- when debugging; tests never print it; it says "unsupported" when this
-- build of phantom cannot compact yet).  Each test uses its own schema so
-- that compact_all never waits for the locks of a concurrent test.
CREATE PROCEDURE public.compact_all(nsp name DEFAULT current_schema())
LANGUAGE plpgsql AS $$
DECLARE
	r regclass;
	moved bigint := 0;
BEGIN
	FOR r IN
		SELECT c.oid::regclass
		  FROM pg_class c JOIN pg_am a ON a.oid = c.relam
		 WHERE a.amname = 'phantom' AND c.relkind IN ('r', 'm')
		   AND (c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = nsp)
				OR c.relnamespace = pg_my_temp_schema())
		 ORDER BY c.oid
	LOOP
		moved := moved + phantom.compact(r);
	END LOOP;
	PERFORM set_config('regress.compacted', moved::text, false);
	EXCEPTION WHEN feature_not_supported THEN
		-- a build of phantom whose compaction is not written yet: the tests
		-- still check the hot tier
		PERFORM set_config('regress.compacted', 'unsupported: ' || SQLERRM, false);
END
$$;
-- is_default_am(rel) tells whether rel uses the access method under test,
-- without printing the AM's name
CREATE FUNCTION public.is_default_am(rel regclass) RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT a.amname = current_setting('default_table_access_method')
	  FROM pg_class c JOIN pg_am a ON a.oid = c.relam
	 WHERE c.oid = rel
$$;
-- a quick self-check of the helpers (no table: tables are checked by the
-- tests that create them)
CALL compact_all();
SELECT is_default_am('pg_class') IS NOT NULL;
