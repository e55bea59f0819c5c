/* phantom--0.1.sql: install script of the phantom extension, version 0.1 */

\echo Use "CREATE EXTENSION phantom" to load this file. \quit

/*
 * Internal objects live in phantom_internal, which PUBLIC cannot use;
 * the user-facing API lives in schema phantom (created from the control
 * file).
 */
CREATE SCHEMA phantom_internal;
REVOKE ALL ON SCHEMA phantom_internal FROM PUBLIC;

CREATE FUNCTION phantom_internal.tableam_handler(internal)
RETURNS table_am_handler
AS 'MODULE_PATHNAME', 'phantom_tableam_handler'
LANGUAGE C STRICT;

CREATE ACCESS METHOD phantom TYPE TABLE
HANDLER phantom_internal.tableam_handler;
COMMENT ON ACCESS METHOD phantom IS
'phantom: LSM-tree table storage (hot heap-format pages, zstd-compressed cold runs)';

CREATE FUNCTION phantom.compact(rel regclass)
RETURNS bigint
AS 'MODULE_PATHNAME', 'phantom_compact'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION phantom.compact(regclass) IS
'moves the settled hot pages of a phantom table into compressed cold runs; returns the number of pages moved';
REVOKE ALL ON FUNCTION phantom.compact(regclass) FROM PUBLIC;

CREATE FUNCTION phantom_internal.storage_info(rel regclass,
	OUT nvblocks bigint, OUT hot_vblocks bigint, OUT cold_vblocks bigint,
	OUT run_pages bigint, OUT map_pages integer, OUT free_pages bigint,
	OUT physical_pages bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'phantom_storage_info'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION phantom_internal.storage_info(regclass) IS
'physical state of a phantom table: virtual blocks hot and cold, run, map and free pages, pages in the main fork';
REVOKE ALL ON FUNCTION phantom_internal.storage_info(regclass) FROM PUBLIC;

CREATE FUNCTION phantom_internal.cold_cache_stats(OUT hits bigint,
	OUT misses bigint, OUT images integer)
RETURNS record
AS 'MODULE_PATHNAME', 'phantom_cold_cache_stats'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION phantom_internal.cold_cache_stats() IS
'this backend''s cold-image cache: images served from it, images decompressed, images held';

/*
 * Raft replication group (src/replication/, docs/replication.md).  The
 * management functions and the views are for superusers and the role
 * phantom_admin (created here if missing; roles are cluster-wide).
 */
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'phantom_admin') THEN
		CREATE ROLE phantom_admin NOLOGIN;
	END IF;
END
$$;

CREATE FUNCTION phantom.cluster_create(conninfo text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'phantom_cluster_create'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phantom.cluster_create(text) IS
'bootstraps a one-node raft group on this node and returns its node id; conninfo defaults to host/port of this server';

CREATE FUNCTION phantom.node_add(name text, conninfo text, raft_address text)
RETURNS void
AS 'MODULE_PATHNAME', 'phantom_node_add'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION phantom.node_add(text, text, text) IS
'leader only: adds a node as a learner, waits until it caught up and makes it a voter';

CREATE FUNCTION phantom.node_remove(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'phantom_node_remove'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION phantom.node_remove(text) IS
'leader only: removes a node from the raft group';

CREATE FUNCTION phantom.leader_transfer(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'phantom_leader_transfer'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION phantom.leader_transfer(text) IS
'leader only: hands the leadership to the named voter and waits until it leads';

CREATE FUNCTION phantom.raft_status(OUT term bigint, OUT role text,
	OUT leader text, OUT commit_index bigint, OUT applied_index bigint,
	OUT last_index bigint, OUT log_syncs bigint, OUT log_entries bigint,
	OUT proposals bigint, OUT proposal_batches bigint,
	OUT tables_applied bigint, OUT table_snapshot text)
RETURNS record
AS 'MODULE_PATHNAME', 'phantom_raft_status'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION phantom.raft_status() IS
'raft state of this node: term, role, leader name, commit/applied/last log index, group commit counters, index up to which the tables are applied, state of the last table snapshot';

CREATE FUNCTION phantom.raft_nodes(OUT name text, OUT conninfo text,
	OUT raft_address text, OUT role text, OUT is_leader boolean,
	OUT match_index bigint, OUT last_contact timestamptz, OUT state text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'phantom_raft_nodes'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION phantom.raft_nodes() IS
'members of the raft group as this node sees them (backs the view phantom.nodes)';

CREATE VIEW phantom.nodes AS SELECT * FROM phantom.raft_nodes();
COMMENT ON VIEW phantom.nodes IS
'members of the raft group: role voter/learner, leader, replication progress (leader only), last contact, state';

REVOKE ALL ON FUNCTION phantom.cluster_create(text), phantom.node_add(text, text, text),
	phantom.node_remove(text), phantom.leader_transfer(text), phantom.raft_status(),
	phantom.raft_nodes() FROM PUBLIC;
REVOKE ALL ON phantom.nodes FROM PUBLIC;
GRANT EXECUTE ON FUNCTION phantom.cluster_create(text), phantom.node_add(text, text, text),
	phantom.node_remove(text), phantom.leader_transfer(text), phantom.raft_status(),
	phantom.raft_nodes() TO phantom_admin;
GRANT SELECT ON phantom.nodes TO phantom_admin;

/*
 * The applied ledger of the replication group: one row per TXN raft entry
 * this node has applied to its tables, inserted in the same transaction as
 * the changes (by the committing backend on the leader, by the apply
 * worker elsewhere).  Identical on every node once caught up.
 */
CREATE TABLE phantom.applied (
	index	bigint PRIMARY KEY,		-- raft log index of the TXN entry
	term	bigint NOT NULL,		-- its raft term
	origin	bigint NOT NULL,		-- raft node id of the node that wrote it
	xid		bigint NOT NULL,		-- transaction id on the origin node
	applied_at timestamptz NOT NULL DEFAULT now()
) USING heap;
COMMENT ON TABLE phantom.applied IS
	'Raft entries of table changes this node has applied (the replication ledger).';
REVOKE ALL ON phantom.applied FROM PUBLIC;
GRANT SELECT ON phantom.applied TO phantom_admin;

/*
 * The definition of a phantom table as statements, for table snapshots
 * (src/replication/snapshot.c): the leader's definition creates a table a
 * catching-up node lacks, and the same function run on both sides tells
 * whether a local table differs.  Names are schema-qualified (search_path
 * is pg_catalog while it runs).  is_fk: foreign keys and triggers, run
 * after every table exists.  Not included: grants, owner, trigger enable
 * states, storage parameters.
 */
CREATE FUNCTION phantom_internal.table_ddl(rel regclass, OUT ord integer,
	OUT is_fk boolean, OUT stmt text)
RETURNS SETOF record
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog
AS $fn$
DECLARE
	q text;
	ident "char";
	cols text := '';
	r record;
BEGIN
	SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relreplident
	  INTO q, ident
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.oid = rel;
	ord := 1;
	is_fk := false;
	stmt := (SELECT format('CREATE SCHEMA IF NOT EXISTS %I', n.nspname)
			   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			  WHERE c.oid = rel);
	RETURN NEXT;
	-- sequences of serial columns (identity sequences come with the column)
	FOR r IN SELECT s.oid::regclass::text AS seq, format_type(sq.seqtypid, NULL) AS typ,
					sq.seqincrement, sq.seqmin, sq.seqmax, sq.seqstart, sq.seqcache,
					sq.seqcycle
			   FROM pg_depend d
			   JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
			   JOIN pg_sequence sq ON sq.seqrelid = s.oid
			  WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
				AND d.refobjid = rel AND d.deptype = 'a'
			  ORDER BY s.oid::regclass::text COLLATE "C"
	LOOP
		stmt := format('CREATE SEQUENCE IF NOT EXISTS %s AS %s INCREMENT BY %s MINVALUE %s MAXVALUE %s START WITH %s CACHE %s %s',
					   r.seq, r.typ, r.seqincrement, r.seqmin, r.seqmax, r.seqstart,
					   r.seqcache, CASE WHEN r.seqcycle THEN 'CYCLE' ELSE 'NO CYCLE' END);
		ord := ord + 1;
		RETURN NEXT;
	END LOOP;
	FOR r IN SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS typ, a.attnotnull,
					a.attidentity, a.attgenerated, pg_get_expr(ad.adbin, ad.adrelid) AS def,
					(SELECT quote_ident(cn.nspname) || '.' || quote_ident(co.collname)
					   FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace
					  WHERE co.oid = a.attcollation AND a.attcollation <> t.typcollation) AS coll
			   FROM pg_attribute a
			   JOIN pg_type t ON t.oid = a.atttypid
			   LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
			  WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
			  ORDER BY a.attnum
	LOOP
		cols := cols || CASE WHEN cols = '' THEN '' ELSE ', ' END
			|| quote_ident(r.attname) || ' ' || r.typ
			|| coalesce(' COLLATE ' || r.coll, '')
			|| CASE WHEN r.attgenerated = 's' THEN ' GENERATED ALWAYS AS (' || r.def || ') STORED'
					WHEN r.def IS NOT NULL THEN ' DEFAULT ' || r.def ELSE '' END
			|| CASE r.attidentity WHEN 'a' THEN ' GENERATED ALWAYS AS IDENTITY'
					WHEN 'd' THEN ' GENERATED BY DEFAULT AS IDENTITY' ELSE '' END
			|| CASE WHEN r.attnotnull THEN ' NOT NULL' ELSE '' END;
	END LOOP;
	stmt := format('CREATE TABLE %s (%s) USING phantom', q, cols);
	ord := ord + 1;
	RETURN NEXT;
	FOR r IN SELECT conname, contype, pg_get_constraintdef(oid) AS def
			   FROM pg_constraint WHERE conrelid = rel
			  ORDER BY contype = 'f', conname COLLATE "C"
	LOOP
		stmt := format('ALTER TABLE %s ADD CONSTRAINT %s %s', q, quote_ident(r.conname), r.def);
		is_fk := r.contype = 'f';
		ord := ord + 1;
		RETURN NEXT;
	END LOOP;
	is_fk := false;
	FOR r IN SELECT pg_get_indexdef(i.indexrelid) AS def
			   FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
			  WHERE i.indrelid = rel
				AND NOT EXISTS (SELECT 1 FROM pg_constraint c
								 WHERE c.conindid = i.indexrelid AND c.conrelid = rel
								   AND c.contype IN ('p', 'u', 'x'))
			  ORDER BY ic.relname COLLATE "C"
	LOOP
		stmt := r.def;
		ord := ord + 1;
		RETURN NEXT;
	END LOOP;
	stmt := CASE ident
		WHEN 'f' THEN format('ALTER TABLE %s REPLICA IDENTITY FULL', q)
		WHEN 'n' THEN format('ALTER TABLE %s REPLICA IDENTITY NOTHING', q)
		WHEN 'i' THEN (SELECT format('ALTER TABLE %s REPLICA IDENTITY USING INDEX %s', q, quote_ident(ic.relname))
						 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
						WHERE i.indrelid = rel AND i.indisreplident)
		END;
	IF stmt IS NOT NULL THEN
		ord := ord + 1;
		RETURN NEXT;
	END IF;
	IF (SELECT relrowsecurity FROM pg_class WHERE oid = rel) THEN
		stmt := format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', q);
		ord := ord + 1;
		RETURN NEXT;
	END IF;
	IF (SELECT relforcerowsecurity FROM pg_class WHERE oid = rel) THEN
		stmt := format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', q);
		ord := ord + 1;
		RETURN NEXT;
	END IF;
	FOR r IN SELECT p.policyname, p.permissive, p.cmd, p.qual, p.with_check,
					(SELECT string_agg(CASE WHEN x = 'public' THEN 'PUBLIC' ELSE quote_ident(x) END, ', ')
					   FROM unnest(p.roles) x) AS roles
			   FROM pg_policies p JOIN pg_class c ON c.relname = p.tablename
			   JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = p.schemaname
			  WHERE c.oid = rel ORDER BY p.policyname COLLATE "C"
	LOOP
		stmt := format('CREATE POLICY %I ON %s AS %s FOR %s TO %s%s%s', r.policyname, q,
					   r.permissive, r.cmd, r.roles, coalesce(' USING (' || r.qual || ')', ''),
					   coalesce(' WITH CHECK (' || r.with_check || ')', ''));
		ord := ord + 1;
		RETURN NEXT;
	END LOOP;
	stmt := (SELECT format('COMMENT ON TABLE %s IS %L', q, d.description)
			   FROM pg_description d
			  WHERE d.objoid = rel AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0);
	IF stmt IS NOT NULL THEN
		ord := ord + 1;
		RETURN NEXT;
	END IF;
	FOR r IN SELECT format('COMMENT ON COLUMN %s.%I IS %L', q, a.attname, d.description) AS c
			   FROM pg_description d
			   JOIN pg_attribute a ON a.attrelid = rel AND a.attnum = d.objsubid
			  WHERE d.objoid = rel AND d.classoid = 'pg_class'::regclass AND d.objsubid > 0
			  ORDER BY a.attnum
	LOOP
		stmt := r.c;
		ord := ord + 1;
		RETURN NEXT;
	END LOOP;
	-- triggers run functions: with the foreign keys, after every table
	is_fk := true;
	FOR r IN SELECT pg_get_triggerdef(t.oid) AS def
			   FROM pg_trigger t WHERE t.tgrelid = rel AND NOT t.tgisinternal
			  ORDER BY t.tgname COLLATE "C"
	LOOP
		stmt := r.def;
		ord := ord + 1;
		RETURN NEXT;
	END LOOP;
	is_fk := false;
	FOR r IN SELECT s.oid::regclass::text AS seq, a.attname
			   FROM pg_depend d
			   JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
			   JOIN pg_attribute a ON a.attrelid = rel AND a.attnum = d.refobjsubid
			  WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
				AND d.refobjid = rel AND d.deptype = 'a'
			  ORDER BY s.oid::regclass::text COLLATE "C"
	LOOP
		stmt := format('ALTER SEQUENCE %s OWNED BY %s.%s', r.seq, q, quote_ident(r.attname));
		ord := ord + 1;
		RETURN NEXT;
	END LOOP;
END
$fn$;
COMMENT ON FUNCTION phantom_internal.table_ddl(regclass) IS
'definition of a phantom table as statements (table snapshots of the replication group)';
REVOKE ALL ON FUNCTION phantom_internal.table_ddl(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION phantom_internal.table_ddl(regclass) TO phantom_admin;

/* Monitoring and verification (src/monitor/, docs/operations.md) */
CREATE FUNCTION phantom.verify(rel regclass, check_indexes boolean DEFAULT true)
RETURNS TABLE (check_name text, ok boolean, detail text)
AS 'MODULE_PATHNAME', 'phantom_verify'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION phantom.verify(regclass, boolean) IS
'checks the physical structure of a phantom table (metapage, block map, hot pages, cold frames, free list, visibility map) and optionally its indexes; one row per problem and one summary row per check';
REVOKE ALL ON FUNCTION phantom.verify(regclass, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION phantom.verify(regclass, boolean) TO phantom_admin;

CREATE FUNCTION phantom_internal.table_stats(rel regclass,
	OUT vblocks bigint, OUT hot_pages bigint, OUT cold_vblocks bigint,
	OUT run_pages bigint, OUT free_pages bigint, OUT map_pages bigint,
	OUT bytes_on_disk bigint, OUT uncompressed_bytes bigint,
	OUT compression_ratio double precision, OUT dead_items bigint,
	OUT compacted_bytes bigint, OUT compaction_written_bytes bigint,
	OUT write_amplification double precision)
RETURNS record
AS 'MODULE_PATHNAME', 'phantom_stat_tables'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE VIEW phantom.stat_tables AS
SELECT c.oid AS relid, n.nspname AS schema, c.relname AS name,
       s.vblocks, s.hot_pages, s.cold_vblocks, s.run_pages, s.free_pages,
       s.map_pages, s.bytes_on_disk, s.uncompressed_bytes, s.compression_ratio,
       s.dead_items, NULL::timestamptz AS last_compaction,
       s.compacted_bytes, s.compaction_written_bytes, s.write_amplification
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_am a ON a.oid = c.relam AND a.amname = 'phantom'
CROSS JOIN LATERAL phantom_internal.table_stats(c.oid) s
WHERE c.relkind IN ('r', 'm') AND NOT pg_catalog.pg_is_other_temp_schema(c.relnamespace);
COMMENT ON VIEW phantom.stat_tables IS
'storage statistics of every phantom table of the current database';
GRANT SELECT ON phantom.stat_tables TO PUBLIC;

CREATE FUNCTION phantom_internal.compaction_workers(
	OUT slot integer, OUT state text, OUT datid oid, OUT pid integer,
	OUT started_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'phantom_stat_compaction'
LANGUAGE C STRICT VOLATILE;

CREATE VIEW phantom.stat_compaction AS
SELECT w.slot, w.datid, d.datname, w.pid, w.state, w.started_at
FROM phantom_internal.compaction_workers() w
LEFT JOIN pg_catalog.pg_database d ON d.oid = w.datid;
COMMENT ON VIEW phantom.stat_compaction IS
'background compaction workers: one row per worker slot in use';
GRANT SELECT ON phantom.stat_compaction TO PUBLIC;

CREATE FUNCTION phantom_internal.raft_propose(payload bytea, timeout_ms integer DEFAULT 10000)
RETURNS bigint
AS 'MODULE_PATHNAME', 'phantom_raft_propose'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION phantom_internal.raft_propose(bytea, integer) IS
'leader only: replicates an opaque note entry through the raft log and waits until it is committed; returns its index (tests, commit-path measurements)';
REVOKE ALL ON FUNCTION phantom_internal.raft_propose(bytea, integer) FROM PUBLIC;
