/*-------------------------------------------------------------------------
 *
 * handler.c
 *	  phantom's TableAmRoutine (phantom_methods), the SQL handler that
 *	  returns it, and phantom.compact(regclass).
 *
 *	  The callbacks live in the files named in the comments below; each
 *	  file's header says where phantom differs from heap.  The routine is a
 *	  static const struct, so "is this a phantom table?" is a pointer
 *	  comparison with rd_tableam.
 *
 * src/tableam/handler.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heaptoast.h"
#include "access/tableam.h"
#include "access/table.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "phantom/lsm/run.h"
#include "phantom/tableam/ddl.h"
#include "phantom/tableam/index.h"
#include "phantom/tableam/scan.h"
#include "phantom/tableam/tableam.h"

PG_FUNCTION_INFO_V1(phantom_tableam_handler);
PG_FUNCTION_INFO_V1(phantom_compact);

/* Phantom tuples are heap tuples; hot ones live in shared buffers. */
static const TupleTableSlotOps *
phantom_slot_callbacks(Relation rel)
{
	return &TTSOpsBufferHeapTuple;
}

static const TableAmRoutine phantom_methods = {
	.type = T_TableAmRoutine,

	.slot_callbacks = phantom_slot_callbacks,

	/* src/tableam/scan.c */
	.scan_begin = phantom_scan_begin,
	.scan_end = phantom_scan_end,
	.scan_rescan = phantom_scan_rescan,
	.scan_getnextslot = phantom_scan_getnextslot,
	.scan_set_tidrange = phantom_scan_set_tidrange,
	.scan_getnextslot_tidrange = phantom_scan_getnextslot_tidrange,
	.parallelscan_estimate = phantom_parallelscan_estimate,
	.parallelscan_initialize = phantom_parallelscan_initialize,
	.parallelscan_reinitialize = phantom_parallelscan_reinitialize,

	/* src/tableam/index.c */
	.index_fetch_begin = phantom_index_fetch_begin,
	.index_fetch_reset = phantom_index_fetch_reset,
	.index_fetch_end = phantom_index_fetch_end,
	.index_fetch_tuple = phantom_index_fetch_tuple,

	/* src/tableam/fetch.c */
	.tuple_fetch_row_version = phantom_tuple_fetch_row_version,
	.tuple_tid_valid = phantom_tuple_tid_valid,
	.tuple_get_latest_tid = phantom_tuple_get_latest_tid,
	.tuple_satisfies_snapshot = phantom_tuple_satisfies_snapshot,
	.index_delete_tuples = phantom_index_delete_tuples,

	/* src/tableam/modify.c */
	.tuple_insert = phantom_tuple_insert,
	.tuple_insert_speculative = phantom_tuple_insert_speculative,
	.tuple_complete_speculative = phantom_tuple_complete_speculative,
	.multi_insert = phantom_multi_insert,
	.tuple_delete = phantom_tuple_delete,
	.tuple_update = phantom_tuple_update,
	.tuple_lock = phantom_tuple_lock,
	.finish_bulk_insert = phantom_finish_bulk_insert,

	/* src/tableam/ddl.c, src/tableam/vacuum.c */
	.relation_set_new_filenode = phantom_relation_set_new_filenode,
	.relation_nontransactional_truncate = phantom_relation_nontransactional_truncate,
	.relation_copy_data = phantom_relation_copy_data,
	.relation_copy_for_cluster = phantom_relation_copy_for_cluster,
	.relation_vacuum = phantom_relation_vacuum,

	/* src/tableam/scan.c: ANALYZE */
	.scan_analyze_next_block = phantom_scan_analyze_next_block,
	.scan_analyze_next_tuple = phantom_scan_analyze_next_tuple,

	/* src/tableam/index.c */
	.index_build_range_scan = phantom_index_build_range_scan,
	.index_validate_scan = phantom_index_validate_scan,

	/* src/tableam/ddl.c */
	.relation_size = phantom_relation_size,
	.relation_needs_toast_table = phantom_relation_needs_toast_table,
	.relation_toast_am = phantom_relation_toast_am,
	.relation_fetch_toast_slice = heap_fetch_toast_slice,
	.relation_estimate_size = phantom_relation_estimate_size,

	/* src/tableam/scan.c */
	.scan_bitmap_next_block = phantom_scan_bitmap_next_block,
	.scan_bitmap_next_tuple = phantom_scan_bitmap_next_tuple,
	.scan_sample_next_block = phantom_scan_sample_next_block,
	.scan_sample_next_tuple = phantom_scan_sample_next_tuple,
};

/* The routine, for code that needs to recognise or call phantom. */
const TableAmRoutine *
phantom_get_routine(void)
{
	return &phantom_methods;
}

/* Is rel stored by phantom? */
bool
phantom_relation_is_phantom(Relation rel)
{
	return rel->rd_tableam == &phantom_methods;
}

/* SQL: the table access method handler. */
Datum
phantom_tableam_handler(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(&phantom_methods);
}

/*
 * phantom_table_arg returns argument argno of a SQL function (named
 * caller) that takes a phantom table as regclass.  Such functions are not
 * STRICT, so that a NULL table is an error (22004) with a hint instead of
 * a silent NULL result.
 */
Oid
phantom_table_arg(FunctionCallInfo fcinfo, int argno, const char *caller)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table must not be null"),
				 errhint("Pass the name of a phantom table, e.g. %s('my_table').",
						 caller)));
	return PG_GETARG_OID(argno);
}

/*
 * phantom_table_open opens relid with lockmode for the SQL function named
 * caller, after the checks every phantom function taking a table makes: the
 * relation exists, is a table or materialized view, belongs to the current
 * user (checked before locking, so that nobody can block a table he cannot
 * use), uses the phantom access method and is not another session's
 * temporary table.  Each failure is an ERROR with an errcode and a hint.
 */
Relation
phantom_table_open(Oid relid, LOCKMODE lockmode, const char *caller)
{
	Relation	rel;
	char		relkind = get_rel_relkind(relid);

	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid),
				 errhint("Pass the name of an existing phantom table.")));
	if (relkind != RELKIND_RELATION && relkind != RELKIND_MATVIEW)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", get_rel_name(relid)),
				 errhint("%s works on tables and materialized views that use the phantom access method.",
						 caller)));
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, get_relkind_objtype(relkind),
					   get_rel_name(relid));

	rel = table_open(relid, lockmode);

	if (!phantom_relation_is_phantom(rel))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("table \"%s\" does not use the phantom access method",
						RelationGetRelationName(rel)),
				 errhint("%s works on phantom tables; ALTER TABLE %s SET ACCESS METHOD phantom converts one.",
						 caller, quote_identifier(RelationGetRelationName(rel)))));
	if (RELATION_IS_OTHER_TEMP(rel))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot access temporary tables of other sessions"),
				 errhint("Call %s in the session that created the table.", caller)));
	return rel;
}

/*
 * SQL: phantom.compact(regclass) moves the settled hot vblocks of a
 * phantom table into compressed cold runs and returns how many it moved.
 * Only the table's owner may compact it.  ShareUpdateExclusiveLock keeps
 * VACUUM, DDL and other compactions away while reads and writes go on.
 * Afterwards the free tail of the file is cut (ph_try_shrink: a
 * conditional AccessExclusiveLock, waiting at most 5 s like VACUUM's
 * truncation, then skipped).
 */
Datum
phantom_compact(PG_FUNCTION_ARGS)
{
	Relation	rel;
	int64		moved;

	rel = phantom_table_open(phantom_table_arg(fcinfo, 0, "phantom.compact"),
							 ShareUpdateExclusiveLock, "phantom.compact");
	moved = ph_compact_relation(rel);
	ph_try_shrink(rel, 1, 5000);

	/* keep the lock until the end of the transaction */
	table_close(rel, NoLock);

	PG_RETURN_INT64(moved);
}
