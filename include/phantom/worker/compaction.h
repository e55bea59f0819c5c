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
 *	  Shared state: one slot per worker, protected by a spinlock.  The
 *	  launcher claims a free slot (STARTING, dboid set) before registering
 *	  the worker; the worker writes its pid into the slot when it starts
 *	  (RUNNING) and marks it DONE with its result when it exits
 *	  (before_shmem_exit); the launcher reads the result and frees the slot.
 *	  So a database has at most one worker.  A slot whose worker never
 *	  started is reclaimed by the launcher (through its handle, or after
 *	  PH_COMPACTION_START_TIMEOUT when the launcher restarted and lost the
 *	  handle).  A database without the phantom access method is skipped for
 *	  PH_COMPACTION_SKIP_ROUNDS rounds.
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

/* Rounds a database without phantom is left alone. */
#define PH_COMPACTION_SKIP_ROUNDS	6

typedef enum PhSlotState
{
	PH_SLOT_FREE = 0,
	PH_SLOT_STARTING,			/* claimed by the launcher */
	PH_SLOT_RUNNING,			/* the worker has started */
	PH_SLOT_DONE				/* the worker exited; result fields valid */
} PhSlotState;

typedef struct PhWorkerSlot
{
	PhSlotState state;
	Oid			dboid;			/* database of the worker (not FREE) */
	pid_t		pid;			/* RUNNING: the worker's pid */
	TimestampTz claimed;		/* when the launcher claimed the slot */
	bool		no_phantom;		/* DONE: the database has no phantom AM */
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
