/*-------------------------------------------------------------------------
 *
 * catalogcheck.c
 *	  Refuses user_catalog_table = true on phantom tables.
 *
 *	  A user catalog table is one that logical decoding output plugins may
 *	  read with a historic snapshot while decoding.  Heap supports that by
 *	  logging, for such tables, the command ids of every change
 *	  (XLOG_HEAP2_NEW_CID) and by the snapshot builder treating their
 *	  writers as catalog-modifying transactions.  Phantom logs neither, so
 *	  a plugin would read wrong rows from a phantom user catalog table; the
 *	  reloption is refused instead, whichever way it would arrive: CREATE
 *	  TABLE ... WITH, ALTER TABLE ... SET, or a rewrite into phantom (ALTER
 *	  TABLE ... SET ACCESS METHOD) of a table that has it.
 *
 *	  PostgreSQL 15 parses the reloptions of every table AM with heap's
 *	  parser, so the check runs in the object access hook, after the
 *	  pg_class row is written (read with SnapshotSelf: it is not yet
 *	  visible to the catalog snapshot).
 *
 * src/tableam/catalogcheck.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/reloptions.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "commands/defrem.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "phantom/phantom.h"

static object_access_hook_type prev_object_access_hook = NULL;

/*
 * ph_check_user_catalog raises an error if relation relid is a phantom
 * table with user_catalog_table = true.
 */
static void
ph_check_user_catalog(Oid relid)
{
	Relation	pgclass;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	Form_pg_class form;
	Datum		reloptions;
	bool		isnull;
	StdRdOptions *opts;
	Oid			phantom_am;

	phantom_am = get_table_am_oid("phantom", true);
	if (!OidIsValid(phantom_am))
		return;

	pgclass = table_open(RelationRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_class_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(pgclass, ClassOidIndexId, true, SnapshotSelf,
							  1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		form = (Form_pg_class) GETSTRUCT(tup);
		if (form->relam == phantom_am &&
			(form->relkind == RELKIND_RELATION ||
			 form->relkind == RELKIND_MATVIEW))
		{
			reloptions = heap_getattr(tup, Anum_pg_class_reloptions,
									  RelationGetDescr(pgclass), &isnull);
			if (!isnull)
			{
				opts = (StdRdOptions *) heap_reloptions(form->relkind,
														reloptions, false);
				if (opts != NULL && opts->user_catalog_table)
					ereport(ERROR,
							(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							 errmsg("phantom table \"%s\" cannot be a user catalog table",
									NameStr(form->relname)),
							 errdetail("Logical decoding reads user catalog tables with historic snapshots, which phantom tables do not support."),
							 errhint("Create the table USING heap, or leave user_catalog_table unset.")));
			}
		}
	}
	systable_endscan(scan);
	table_close(pgclass, AccessShareLock);
}

static void
ph_object_access(ObjectAccessType access, Oid classId, Oid objectId,
				 int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);
	if (classId == RelationRelationId && subId == 0 &&
		(access == OAT_POST_CREATE || access == OAT_POST_ALTER))
		ph_check_user_catalog(objectId);
}

/*
 * phantom_catalogcheck_init installs the hook; called from _PG_init.
 */
void
phantom_catalogcheck_init(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = ph_object_access;
}
