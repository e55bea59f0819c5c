/*-------------------------------------------------------------------------
 *
 * phantom.c
 *	  Entry point of the phantom extension: _PG_init checks that the
 *	  library is preloaded, defines the GUCs, registers the custom WAL
 *	  resource manager and the background workers, and chains the shared
 *	  memory hooks of every subsystem.
 *
 *	  Phantom writes its own WAL records and runs background workers, both
 *	  of which exist only when the library is loaded at postmaster start,
 *	  so loading it any other way is refused with a hint.
 *
 * src/phantom.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"

#include "phantom/phantom.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/*
 * phantom_shmem_request asks for the shared memory of every subsystem.
 */
static void
phantom_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	phantom_worker_shmem_request();
	phantom_replication_shmem_request();
}

/*
 * phantom_shmem_startup attaches to (or creates) the shared memory of every
 * subsystem.
 */
static void
phantom_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	phantom_worker_shmem_startup();
	phantom_replication_shmem_startup();
}

/*
 * _PG_init refuses to run outside shared_preload_libraries: the custom WAL
 * resource manager must be registered before recovery starts, and shared
 * memory and background workers can only be set up by the postmaster.
 */
void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_PHANTOM_NOT_PRELOADED),
				 errmsg("phantom must be loaded via shared_preload_libraries"),
				 errdetail("Phantom registers a WAL resource manager, shared memory and background workers, which is possible only at server start."),
				 errhint("Add \"phantom\" to shared_preload_libraries in postgresql.conf and restart the server.")));

	phantom_guc_init();
	phantom_wal_init();
	phantom_worker_init();
	phantom_catalogcheck_init();
	phantom_contribguard_init();
	phantom_replication_init();

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = phantom_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = phantom_shmem_startup;
}
