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
