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
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION phantom.compact(regclass) IS
'moves the settled hot pages of a phantom table into compressed cold runs; returns the number of pages moved';
REVOKE ALL ON FUNCTION phantom.compact(regclass) FROM PUBLIC;

CREATE FUNCTION phantom_internal.storage_info(rel regclass,
	OUT nvblocks bigint, OUT hot_vblocks bigint, OUT cold_vblocks bigint,
	OUT run_pages bigint, OUT map_pages integer, OUT free_pages bigint,
	OUT physical_pages bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'phantom_storage_info'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION phantom_internal.storage_info(regclass) IS
'physical state of a phantom table: virtual blocks hot and cold, run, map and free pages, pages in the main fork';
REVOKE ALL ON FUNCTION phantom_internal.storage_info(regclass) FROM PUBLIC;

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
	OUT last_index bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'phantom_raft_status'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION phantom.raft_status() IS
'raft state of this node: term, role, leader name, commit/applied/last log index';

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
