/*-------------------------------------------------------------------------
 *
 * prune.h
 *	  Pruning of hot phantom pages (src/mvcc/prune.c): removal of dead
 *	  tuples and HOT-chain members, redirecting chain roots, as heap's
 *	  pruning does, logged through ph_wal_prune.
 *
 * include/phantom/mvcc/prune.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHANTOM_MVCC_PRUNE_H
#define PHANTOM_MVCC_PRUNE_H

#include "access/heapam.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/*
 * Result of pruning one page.  htsv[] holds, for every normal tuple left
 * on the page, its HTSV_Result at the pruning horizon (-1 for items that
 * are not normal tuples), so VACUUM needs no second visibility pass.
 */
typedef struct PhPruneResult
{
	int			ndeleted;		/* tuples removed (not counting redirects) */
	int			nnewlpdead;		/* items newly marked LP_DEAD */
	int8		htsv[MaxHeapTuplesPerPage + 1];
} PhPruneResult;

/*
 * ph_page_prune prunes the hot page in buf (vblock vblock), which the
 * caller holds with a cleanup lock.  res may be NULL.
 */
extern int	ph_page_prune(Relation rel, Buffer buf, BlockNumber vblock,
						  GlobalVisState *vistest, PhPruneResult *res);

/*
 * ph_page_prune_opt prunes the hot page in buf (pinned, not locked) if it
 * looks worth it and a cleanup lock is available at once; for scans and
 * updates.
 */
extern void ph_page_prune_opt(Relation rel, Buffer buf, BlockNumber vblock);

#endif							/* PHANTOM_MVCC_PRUNE_H */
