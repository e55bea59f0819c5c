/*-------------------------------------------------------------------------
 *
 * rmgr.c
 *	  Registration of phantom's custom WAL resource manager.
 *	  PLACEHOLDER: owned by the storage/WAL work; replaced by the real
 *	  registration.
 *
 * src/wal/rmgr.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "phantom/phantom.h"

void
phantom_wal_init(void)
{
}
