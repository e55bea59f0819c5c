/*-------------------------------------------------------------------------
 *
 * run.h
 *	  Cold runs (src/lsm/run.c) and compaction (src/lsm/compact.c).
 *
 *	  A run page is a standard page (PageHeader, PhantomSpecial of kind
 *	  PH_KIND_RUN) whose items are zstd frames, one per vblock: a small frame
 *	  header (vblock, the page's hole) followed by the compressed image of
 *	  the hot page with its hole [pd_lower, pd_upper) removed.  Run pages are
 *	  immutable once written.  Only settled vblocks go cold: every item is
 *	  unused, a redirect, or a frozen tuple with an invalid xmax.
 *
 * include/phantom/lsm/run.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHANTOM_LSM_RUN_H
#define PHANTOM_LSM_RUN_H

#include "storage/block.h"
#include "storage/bufpage.h"
#include "utils/rel.h"

/*
 * ph_run_read_vblock decompresses the image of vblock from run page runblk
 * into dest (BLCKSZ bytes).  A damaged frame raises ERROR with
 * ERRCODE_DATA_CORRUPTED naming the relation and block.
 */
extern void ph_run_read_vblock(Relation rel, BlockNumber runblk,
							   BlockNumber vblock, Page dest);

/*
 * ph_compact_relation moves the settled hot vblocks of rel into new cold
 * runs and returns how many it moved.  The caller holds at least
 * ShareUpdateExclusiveLock on rel.
 */
extern int64 ph_compact_relation(Relation rel);

#endif							/* PHANTOM_LSM_RUN_H */
