/*-------------------------------------------------------------------------
 *
 * compaction.h
 *	  Background compaction: the launcher (src/worker/launcher.c) and the
 *	  per-database compaction worker (src/worker/compactor.c).
 *
 *	  The launcher, a static background worker, wakes up every
 *	  phantom.compaction_naptime, lists the databases that accept
 *	  connections and starts a dynamic compaction worker for those that
 *	  have none, at most PH_COMPACTION_MAX_WORKERS at a time.  A worker
 *	  compacts the phantom tables of its database that it can lock without
 *	  waiting and exits.
 *
 *	  Shared state: one slot per running worker, protected by a spinlock.
 *	  The launcher claims a slot (dboid set, pid 0) before registering the
 *	  worker; the worker writes its pid into the slot when it starts and
 *	  clears the slot when it exits (before_shmem_exit), so a database has
 *	  at most one worker.  A slot whose worker never started is reclaimed by
 *	  the launcher (through its handle, or after PH_COMPACTION_START_TIMEOUT
 *	  when the launcher restarted and lost the handle).
 *
 * include/phantom/worker/compaction.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHANTOM_WORKER_COMPACTION_H
#define PHANTOM_WORKER_COMPACTION_H

#include "datatype/timestamp.h"
#include "postmaster/bgworker.h"
#include "storage/spin.h"

/* Compaction workers running at once (each one also uses a bgworker slot). */
#define PH_COMPACTION_MAX_WORKERS	2

/* Seconds after which a slot whose worker never started is reclaimed. */
#define PH_COMPACTION_START_TIMEOUT 60

typedef struct PhWorkerSlot
{
	Oid			dboid;			/* InvalidOid: slot free */
	pid_t		pid;			/* 0 until the worker has started */
	TimestampTz claimed;		/* when the launcher claimed the slot */
} PhWorkerSlot;

typedef struct PhWorkerShared
{
	slock_t		mutex;
	PhWorkerSlot slots[PH_COMPACTION_MAX_WORKERS];
} PhWorkerShared;

extern PhWorkerShared *ph_worker_shared;

/* Entry points named in BackgroundWorker.bgw_function_name. */
extern PGDLLEXPORT void phantom_launcher_main(Datum main_arg);
extern PGDLLEXPORT void phantom_compactor_main(Datum main_arg);

#endif							/* PHANTOM_WORKER_COMPACTION_H */
