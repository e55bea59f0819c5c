/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The compaction launcher: a static background worker that starts one
 *	  dynamic compaction worker (compactor.c) per database, and the shared
 *	  memory the two share (see include/phantom/worker/compaction.h).
 *
 *	  The launcher connects to no database (it reads only the shared
 *	  catalog pg_database).  Every phantom.compaction_naptime it lists the
 *	  databases that accept connections and are not templates (a worker
 *	  connected to a template would make CREATE DATABASE fail), and starts
 *	  workers for those without one, at most PH_COMPACTION_MAX_WORKERS at a
 *	  time, taking the databases round-robin so that none starves.  With
 *	  phantom.compaction off it only sleeps.
 *
 *	  Signals: SIGTERM and SIGHUP set a flag and the latch
 *	  (postmaster/interrupt.c handlers); worker state changes wake the
 *	  latch through SIGUSR1.  The launcher is restarted by the postmaster
 *	  if it crashes; it runs only on a primary (BgWorkerStart_RecoveryFinished),
 *	  since compaction writes WAL.
 *
 *	  Locking: slots are read and written under ph_worker_shared->mutex,
 *	  held only to copy or set a few fields.
 *
 * src/worker/launcher.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "phantom/phantom.h"
#include "phantom/worker/compaction.h"

PhWorkerShared *ph_worker_shared = NULL;

/* Launcher-local: handles of the workers it started, by slot. */
static BackgroundWorkerHandle *slot_handles[PH_COMPACTION_MAX_WORKERS];

/* The database after which the next round starts (round-robin). */
static Oid	last_dboid = InvalidOid;

/* Whether the lack of a background worker slot was reported already. */
static bool no_slot_reported = false;

/*
 * phantom_worker_init registers the launcher; called from _PG_init while
 * shared_preload_libraries is processed.
 */
void
phantom_worker_init(void)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 10;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "phantom");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "phantom_launcher_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "phantom compaction launcher");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "phantom compaction launcher");
	bgw.bgw_main_arg = (Datum) 0;
	bgw.bgw_notify_pid = 0;
	RegisterBackgroundWorker(&bgw);
}

/*
 * phantom_worker_shmem_request reserves the worker slots.
 */
void
phantom_worker_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(PhWorkerShared)));
}

/*
 * phantom_worker_shmem_startup creates (or, in EXEC_BACKEND builds,
 * attaches to) the worker slots.
 */
void
phantom_worker_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	ph_worker_shared = ShmemInitStruct("phantom compaction workers",
									   sizeof(PhWorkerShared), &found);
	if (!found)
	{
		memset(ph_worker_shared, 0, sizeof(PhWorkerShared));
		SpinLockInit(&ph_worker_shared->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Launcher-local: databases without phantom, left alone until a time. */
#define PH_SKIP_ENTRIES 64
typedef struct PhSkipEntry
{
	Oid			dboid;
	TimestampTz until;
} PhSkipEntry;
static PhSkipEntry skip_dbs[PH_SKIP_ENTRIES];
static int	skip_next = 0;

/*
 * skip_db remembers that dboid has no phantom access method, so that the
 * next PH_COMPACTION_SKIP_ROUNDS rounds start no worker there.
 */
static void
skip_db(Oid dboid, TimestampTz now)
{
	TimestampTz until = TimestampTzPlusMilliseconds(now,
													(int64) PH_COMPACTION_SKIP_ROUNDS *
													phantom_compaction_naptime * 1000);
	int			i;

	for (i = 0; i < PH_SKIP_ENTRIES; i++)
		if (skip_dbs[i].dboid == dboid)
		{
			skip_dbs[i].until = until;
			return;
		}
	skip_dbs[skip_next].dboid = dboid;
	skip_dbs[skip_next].until = until;
	skip_next = (skip_next + 1) % PH_SKIP_ENTRIES;
}

static bool
db_skipped(Oid dboid, TimestampTz now)
{
	int			i;

	for (i = 0; i < PH_SKIP_ENTRIES; i++)
		if (skip_dbs[i].dboid == dboid)
			return skip_dbs[i].until > now;
	return false;
}

/*
 * reap_slots frees the slots of workers that are done (remembering the
 * databases without phantom) and of workers that stopped without marking
 * their slot: they never started (the handle says stopped), or they were
 * claimed long ago by a previous incarnation of the launcher, which lost
 * the handle.  Returns the number of slots in use afterwards.
 */
static int
reap_slots(void)
{
	TimestampTz now = GetCurrentTimestamp();
	int			inuse = 0;
	int			i;

	for (i = 0; i < PH_COMPACTION_MAX_WORKERS; i++)
	{
		bool		stopped = false;
		bool		no_phantom = false;
		Oid			dboid = InvalidOid;
		pid_t		pid;
		PhWorkerSlot *slot = &ph_worker_shared->slots[i];

		if (slot_handles[i] != NULL &&
			GetBackgroundWorkerPid(slot_handles[i], &pid) == BGWH_STOPPED)
		{
			stopped = true;
			pfree(slot_handles[i]);
			slot_handles[i] = NULL;
		}

		SpinLockAcquire(&ph_worker_shared->mutex);
		switch (slot->state)
		{
			case PH_SLOT_DONE:
				no_phantom = slot->no_phantom;
				dboid = slot->dboid;
				slot->state = PH_SLOT_FREE;
				break;
			case PH_SLOT_STARTING:
			case PH_SLOT_RUNNING:
				if (stopped ||
					(slot_handles[i] == NULL &&
					 TimestampDifferenceExceeds(slot->claimed, now,
												PH_COMPACTION_START_TIMEOUT * 1000)))
					slot->state = PH_SLOT_FREE;
				break;
			case PH_SLOT_FREE:
				break;
		}
		if (slot->state != PH_SLOT_FREE)
			inuse++;
		SpinLockRelease(&ph_worker_shared->mutex);

		if (no_phantom)
			skip_db(dboid, now);
	}
	return inuse;
}

/*
 * start_worker claims a free slot for dboid and registers a dynamic
 * compaction worker for it.  Returns false if no slot is free, the
 * database already has a worker, or no background worker slot is left.
 */
static bool
start_worker(Oid dboid)
{
	BackgroundWorker bgw;
	int			slotno = -1;
	int			i;
	MemoryContext oldcxt;
	BackgroundWorkerHandle *handle;

	SpinLockAcquire(&ph_worker_shared->mutex);
	for (i = 0; i < PH_COMPACTION_MAX_WORKERS; i++)
	{
		PhWorkerSlot *slot = &ph_worker_shared->slots[i];

		if (slot->state != PH_SLOT_FREE && slot->dboid == dboid)
		{
			slotno = -1;
			break;
		}
		if (slotno < 0 && slot->state == PH_SLOT_FREE)
			slotno = i;
	}
	if (slotno >= 0)
	{
		PhWorkerSlot *slot = &ph_worker_shared->slots[slotno];

		slot->state = PH_SLOT_STARTING;
		slot->dboid = dboid;
		slot->pid = 0;
		slot->claimed = GetCurrentTimestamp();
		slot->no_phantom = false;
	}
	SpinLockRelease(&ph_worker_shared->mutex);
	if (slotno < 0)
		return false;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "phantom");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "phantom_compactor_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "phantom compaction worker for database %u", dboid);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "phantom compaction worker");
	bgw.bgw_main_arg = Int32GetDatum(slotno);
	memcpy(bgw.bgw_extra, &dboid, sizeof(Oid));
	bgw.bgw_notify_pid = MyProcPid;

	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	if (!RegisterDynamicBackgroundWorker(&bgw, &handle))
	{
		MemoryContextSwitchTo(oldcxt);
		SpinLockAcquire(&ph_worker_shared->mutex);
		ph_worker_shared->slots[slotno].state = PH_SLOT_FREE;
		SpinLockRelease(&ph_worker_shared->mutex);
		if (!no_slot_reported)
			ereport(LOG,
					(errmsg("phantom: could not start a compaction worker for database %u", dboid),
					 errdetail("All background worker slots are in use; compaction waits for one."),
					 errhint("Raise max_worker_processes.")));
		no_slot_reported = true;
		return false;
	}
	no_slot_reported = false;
	MemoryContextSwitchTo(oldcxt);
	if (slot_handles[slotno] != NULL)
		pfree(slot_handles[slotno]);
	slot_handles[slotno] = handle;
	return true;
}

/*
 * list_databases returns the oids of the databases a worker may connect
 * to, sorted, in the current memory context.
 */
static Oid *
list_databases(int *ndbs)
{
	MemoryContext cxt = CurrentMemoryContext;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	int			n = 0;
	int			cap = 16;
	Oid		   *dbs = palloc(cap * sizeof(Oid));

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();

	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (!db->datallowconn || db->datistemplate)
			continue;
		if (n == cap)
		{
			cap *= 2;
			dbs = repalloc(dbs, cap * sizeof(Oid));
		}
		dbs[n++] = db->oid;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);

	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);

	qsort(dbs, n, sizeof(Oid), oid_cmp);
	*ndbs = n;
	return dbs;
}

/*
 * launch_round starts workers for the databases that have none, beginning
 * after the database the previous round stopped at.
 */
static void
launch_round(MemoryContext roundcxt)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(roundcxt);
	Oid		   *dbs;
	int			ndbs;
	int			start = 0;
	int			i;

	if (reap_slots() >= PH_COMPACTION_MAX_WORKERS)
		goto out;

	dbs = list_databases(&ndbs);
	while (start < ndbs && dbs[start] <= last_dboid)
		start++;
	for (i = 0; i < ndbs; i++)
	{
		Oid			dboid = dbs[(start + i) % ndbs];

		if (reap_slots() >= PH_COMPACTION_MAX_WORKERS)
			break;
		if (db_skipped(dboid, GetCurrentTimestamp()))
			continue;
		if (start_worker(dboid))
			last_dboid = dboid;
	}

out:
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(roundcxt);
}

/*
 * phantom_launcher_main is the launcher's main loop.
 */
void
phantom_launcher_main(Datum main_arg)
{
	MemoryContext roundcxt;
	TimestampTz last_round = 0;

	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("phantom compaction launcher");

	roundcxt = AllocSetContextCreate(TopMemoryContext,
									 "phantom launcher round",
									 ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		long		naptime_ms = phantom_compaction_naptime * 1000L;
		TimestampTz now;
		long		wait_ms;

		CHECK_FOR_INTERRUPTS();
		if (ShutdownRequestPending)
			break;
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		now = GetCurrentTimestamp();
		if (TimestampDifferenceExceeds(last_round, now, naptime_ms))
		{
			if (phantom_compaction_enabled)
				launch_round(roundcxt);
			else
				(void) reap_slots();
			last_round = now;
		}

		wait_ms = naptime_ms -
			TimestampDifferenceMilliseconds(last_round, GetCurrentTimestamp());
		if (wait_ms < 1)
			wait_ms = 1;
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}

	/*
	 * Exit code 1 makes the postmaster start the launcher again after
	 * bgw_restart_time (as for a crash): terminating it is no way to turn
	 * compaction off, phantom.compaction is.  At shutdown nothing restarts.
	 */
	proc_exit(1);
}
