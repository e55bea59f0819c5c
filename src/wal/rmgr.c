/*-------------------------------------------------------------------------
 *
 * rmgr.c
 *	  Registration of phantom's custom WAL resource manager.
 *
 *	  RegisterCustomRmgr only works while shared_preload_libraries is being
 *	  processed (the postmaster and every process forked from it, startup
 *	  process included, must know the rmgr before redo begins); _PG_init
 *	  refuses other ways of loading phantom, so this always runs there.
 *
 * src/wal/rmgr.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog_internal.h"

#include "phantom/phantom.h"
#include "phantom/wal/wal.h"

static RmgrData phantom_rmgr = {
	.rm_name = PHANTOM_RMGR_NAME,
	.rm_redo = phantom_redo,
	.rm_desc = phantom_desc,
	.rm_identify = phantom_identify,
	.rm_startup = NULL,
	.rm_cleanup = NULL,
	.rm_mask = phantom_mask,
	.rm_decode = phantom_decode,
};

/*
 * phantom_wal_init registers the resource manager; called from _PG_init.
 */
void
phantom_wal_init(void)
{
	RegisterCustomRmgr(PHANTOM_RMGR_ID, &phantom_rmgr);
}
