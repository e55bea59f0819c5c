/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  Compaction launcher background worker.
 *	  PLACEHOLDER: owned by the compaction work.
 *
 * src/worker/launcher.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "phantom/phantom.h"

void
phantom_worker_init(void)
{
}

void
phantom_worker_shmem_request(void)
{
}

void
phantom_worker_shmem_startup(void)
{
}
