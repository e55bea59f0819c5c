/*-------------------------------------------------------------------------
 *
 * compactor.c
 *	  The per-database compaction worker, started by the launcher
 *	  (launcher.c) with its slot number as argument and its database oid in
 *	  bgw_extra.
 *
 *	  It marks its slot with its pid (and clears it on exit, whatever the
 *	  exit), connects to the database, leaves at once if the phantom access
 *	  method does not exist there, and otherwise lists the phantom tables
 *	  and materialized views (temporary ones belong to other sessions) and
 *	  for each one, in its own transaction:
 *	    - ConditionalLockRelationOid(ShareUpdateExclusiveLock): a table
 *	      being vacuumed, compacted or altered is skipped, never waited for;
 *	    - skips it unless ph_compact_candidates reaches
 *	      phantom.compaction_min_pages;
 *	    - ph_compact_relation_older with the redo pointer of the last
 *	      checkpoint: only pages unchanged for a checkpoint cycle go cold
 *	      (a page still being updated would be thawed right back);
 *	    - ph_try_shrink without waiting: the free tail of the file is cut
 *	      when a conditional AccessExclusiveLock is free and heap's
 *	      truncation threshold is met.
 *	  An error in one table is logged and the worker goes on with the next
 *	  one.  Then it exits; the launcher starts it again next round.
 *
 *	  Signals: SIGTERM is die() (sets the pending flags and the latch;
 *	  CHECK_FOR_INTERRUPTS inside compaction ends the worker cleanly);
 *	  SIGHUP sets a flag and the latch, and the configuration is reloaded
 *	  between tables, so phantom.compaction = off stops the worker after
 *	  the current table.
 *
 * src/worker/compactor.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_class.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "phantom/lsm/run.h"
#include "phantom/phantom.h"
#include "phantom/worker/compaction.h"

/* Set when the database has no phantom access method. */
static bool no_phantom = false;

/*
 * release_slot marks this worker's slot DONE on exit, with its result,
 * if it still holds it.
 */
static void
release_slot(int code, Datum arg)
{
	int			slotno = DatumGetInt32(arg);
	PhWorkerSlot *slot = &ph_worker_shared->slots[slotno];

	SpinLockAcquire(&ph_worker_shared->mutex);
	if (slot->state == PH_SLOT_RUNNING && slot->pid == MyProcPid)
	{
		slot->state = PH_SLOT_DONE;
		slot->pid = 0;
		slot->no_phantom = no_phantom;
	}
	SpinLockRelease(&ph_worker_shared->mutex);
}

/*
 * list_phantom_tables returns the oids of the permanent and unlogged
 * tables and materialized views of access method amoid (in the current
 * memory context; called inside a transaction).
 */
static List *
list_phantom_tables(Oid amoid)
{
	List	   *oids = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	rel = table_open(RelationRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_class c = (Form_pg_class) GETSTRUCT(tup);

		if (c->relam != amoid ||
			(c->relkind != RELKIND_RELATION && c->relkind != RELKIND_MATVIEW) ||
			c->relpersistence == RELPERSISTENCE_TEMP)
			continue;
		oids = lappend_oid(oids, c->oid);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return oids;
}

/*
 * compact_table compacts one table if it can be locked without waiting,
 * still exists, is still a phantom table and has enough candidates.
 * Runs inside the caller's transaction.
 */
static void
compact_table(Oid relid, Oid amoid)
{
	Relation	rel;
	int64		moved;

	if (!ConditionalLockRelationOid(relid, ShareUpdateExclusiveLock))
	{
		elog(DEBUG1, "phantom: compaction skips busy relation %u", relid);
		return;
	}
	rel = try_relation_open(relid, NoLock);
	if (rel == NULL)
		return;
	if (rel->rd_rel->relam != amoid || RELATION_IS_OTHER_TEMP(rel))
	{
		relation_close(rel, NoLock);
		return;
	}

	pgstat_report_activity(STATE_RUNNING, RelationGetRelationName(rel));
	if (ph_compact_candidates(rel, phantom_compaction_min_pages) >=
		(BlockNumber) phantom_compaction_min_pages)
	{
		moved = ph_compact_relation_older(rel, GetRedoRecPtr());
		if (moved > 0)
			ereport(DEBUG1,
					(errmsg("phantom: compacted %lld blocks of table \"%s\"",
							(long long) moved, RelationGetRelationName(rel))));
	}
	/* cut the free tail if worth it; never wait for the lock */
	ph_try_shrink(rel, ph_shrink_min_gain(rel), 0);
	relation_close(rel, NoLock);
}

/*
 * compact_database runs over the phantom tables of the connected database,
 * one transaction per table.
 */
static void
compact_database(void)
{
	MemoryContext workcxt;
	MemoryContext oldcxt;
	Oid			amoid;
	List	   *oids;
	ListCell   *lc;

	workcxt = AllocSetContextCreate(TopMemoryContext, "phantom compaction worker",
									ALLOCSET_DEFAULT_SIZES);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	amoid = get_am_oid("phantom", true);
	no_phantom = !OidIsValid(amoid);
	oldcxt = MemoryContextSwitchTo(workcxt);
	oids = OidIsValid(amoid) ? list_phantom_tables(amoid) : NIL;
	MemoryContextSwitchTo(oldcxt);
	PopActiveSnapshot();
	CommitTransactionCommand();

	foreach(lc, oids)
	{
		Oid			relid = lfirst_oid(lc);

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (!phantom_compaction_enabled)
			break;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PG_TRY();
		{
			compact_table(relid, amoid);
			CommitTransactionCommand();
		}
		PG_CATCH();
		{
			/* log the error, roll back, and go on with the next table */
			HOLD_INTERRUPTS();
			MemoryContextSwitchTo(workcxt);
			EmitErrorReport();
			FlushErrorState();
			AbortOutOfAnyTransaction();
			RESUME_INTERRUPTS();
		}
		PG_END_TRY();
		pgstat_report_activity(STATE_IDLE, NULL);
	}

	MemoryContextDelete(workcxt);
}

/*
 * phantom_compactor_main is the worker's entry point.
 */
void
phantom_compactor_main(Datum main_arg)
{
	int			slotno = DatumGetInt32(main_arg);
	Oid			dboid;
	bool		mine = false;

	memcpy(&dboid, MyBgworkerEntry->bgw_extra, sizeof(Oid));

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	if (slotno < 0 || slotno >= PH_COMPACTION_MAX_WORKERS)
		elog(ERROR, "invalid phantom compaction worker slot %d", slotno);
	before_shmem_exit(release_slot, Int32GetDatum(slotno));
	SpinLockAcquire(&ph_worker_shared->mutex);
	if (ph_worker_shared->slots[slotno].state == PH_SLOT_STARTING &&
		ph_worker_shared->slots[slotno].dboid == dboid)
	{
		ph_worker_shared->slots[slotno].state = PH_SLOT_RUNNING;
		ph_worker_shared->slots[slotno].pid = MyProcPid;
		mine = true;
	}
	SpinLockRelease(&ph_worker_shared->mutex);
	if (!mine)
		proc_exit(0);			/* the launcher reclaimed the slot already */

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("phantom compaction worker");

	if (phantom_compaction_enabled)
		compact_database();

	proc_exit(0);
}
