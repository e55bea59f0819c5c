/*-------------------------------------------------------------------------
 *
 * prune.c
 *	  Pruning of hot phantom pages: dead tuples and dead members of HOT
 *	  chains are removed, a chain's root line pointer is redirected to its
 *	  first surviving member or marked LP_DEAD when the whole chain is dead
 *	  (index entries may still point at it; VACUUM frees it after index
 *	  cleanup).  The decisions follow heap's rules (README.HOT); the page
 *	  change and its WAL record are ph_wal_prune's, which applies
 *	  heap_page_prune_execute() so primary and redo agree.
 *
 *	  Locking: pruning needs a cleanup lock (exclusive lock and the only
 *	  pin), so no scan holds a pointer into the page while tuples move.
 *	  Pruning never crosses vblocks: HOT chains are same-page.
 *
 * src/mvcc/prune.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/heapam_xlog.h"
#include "access/htup_details.h"
#include "access/transam.h"
#include "access/xlog.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "phantom/mvcc/prune.h"
#include "phantom/mvcc/visibility.h"
#include "phantom/wal/wal.h"

/* Work area of one page prune. */
typedef struct PhPruneState
{
	Relation	rel;
	GlobalVisState *vistest;
	Buffer		buf;
	BlockNumber vblock;

	TransactionId new_prune_xid;	/* oldest xid that may prune later */
	TransactionId latest_removed;	/* conflict horizon for standbys */

	int			nredirected;
	int			ndead;
	int			nunused;
	OffsetNumber redirected[MaxHeapTuplesPerPage * 2];
	OffsetNumber nowdead[MaxHeapTuplesPerPage];
	OffsetNumber nowunused[MaxHeapTuplesPerPage];

	/* items already decided, and each normal tuple's HTSV_Result or -1 */
	bool		marked[MaxHeapTuplesPerPage + 1];
	int8		htsv[MaxHeapTuplesPerPage + 1];
} PhPruneState;

/*
 * The tuple's state at the pruning horizon: RECENTLY_DEAD becomes DEAD
 * when the deleter is older than every snapshot (GlobalVisState).
 */
static HTSV_Result
ph_prune_tuple_state(PhPruneState *ps, HeapTuple tup)
{
	TransactionId dead_after = InvalidTransactionId;
	HTSV_Result res;

	res = ph_tuple_satisfies_vacuum_horizon(tup, ps->buf, &dead_after);
	if (res == HEAPTUPLE_RECENTLY_DEAD &&
		GlobalVisTestIsRemovableXid(ps->vistest, dead_after))
		res = HEAPTUPLE_DEAD;
	return res;
}

static void
ph_prune_note_prunable(PhPruneState *ps, TransactionId xid)
{
	if (!TransactionIdIsValid(ps->new_prune_xid) ||
		TransactionIdPrecedes(xid, ps->new_prune_xid))
		ps->new_prune_xid = xid;
}

static void
ph_prune_redirect(PhPruneState *ps, OffsetNumber from, OffsetNumber to)
{
	ps->redirected[ps->nredirected * 2] = from;
	ps->redirected[ps->nredirected * 2 + 1] = to;
	ps->nredirected++;
	ps->marked[from] = true;
	ps->marked[to] = true;
}

static void
ph_prune_dead(PhPruneState *ps, OffsetNumber off)
{
	ps->nowdead[ps->ndead++] = off;
	ps->marked[off] = true;
}

static void
ph_prune_unused(PhPruneState *ps, OffsetNumber off)
{
	ps->nowunused[ps->nunused++] = off;
	ps->marked[off] = true;
}

/*
 * Decide about the HOT chain starting at root.  Returns the number of
 * tuples it removes.
 *
 * Members are followed while each one's xmin is its predecessor's update
 * xid.  The chain can be shortened up to its last DEAD member (walking
 * past RECENTLY_DEAD members, which may precede a DEAD one, but not past
 * anything live): the removed members become LP_UNUSED, and the root is
 * redirected to the member after the last dead one, or set LP_DEAD when
 * nothing survives.  A heap-only tuple is never a root; one that is dead
 * and not HOT-updated (an aborted HOT update) is freed on its own.
 */
static int
ph_prune_chain(PhPruneState *ps, Page page, OffsetNumber root)
{
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	ItemId		rootlp = PageGetItemId(page, root);
	OffsetNumber chain[MaxHeapTuplesPerPage];
	int			nchain = 0;
	OffsetNumber off = root;
	OffsetNumber latest_dead = InvalidOffsetNumber;
	TransactionId prior_xmax = InvalidTransactionId;
	int			ndeleted = 0;

	if (ItemIdIsNormal(rootlp))
	{
		HeapTupleHeader htup = (HeapTupleHeader) PageGetItem(page, rootlp);

		if (HeapTupleHeaderIsHeapOnly(htup))
		{
			if (ps->htsv[root] == HEAPTUPLE_DEAD &&
				!HeapTupleHeaderIsHotUpdated(htup))
			{
				ph_prune_unused(ps, root);
				HeapTupleHeaderAdvanceLatestRemovedXid(htup,
													   &ps->latest_removed);
				ndeleted++;
			}
			return ndeleted;
		}
	}

	for (;;)
	{
		ItemId		lp;
		HeapTupleHeader htup;
		bool		dead = false;
		bool		recently_dead = false;

		if (off < FirstOffsetNumber || off > maxoff || ps->marked[off])
			break;
		lp = PageGetItemId(page, off);
		if (!ItemIdIsUsed(lp))
			break;
		if (ItemIdIsRedirected(lp))
		{
			/* only the root may redirect */
			if (nchain > 0)
				break;
			chain[nchain++] = off;
			off = ItemIdGetRedirect(lp);
			continue;
		}
		if (ItemIdIsDead(lp))
			break;

		htup = (HeapTupleHeader) PageGetItem(page, lp);
		if (TransactionIdIsValid(prior_xmax) &&
			!TransactionIdEquals(HeapTupleHeaderGetXmin(htup), prior_xmax))
			break;

		chain[nchain++] = off;

		switch ((HTSV_Result) ps->htsv[off])
		{
			case HEAPTUPLE_DEAD:
				dead = true;
				break;
			case HEAPTUPLE_RECENTLY_DEAD:
				recently_dead = true;
				ph_prune_note_prunable(ps, HeapTupleHeaderGetUpdateXid(htup));
				break;
			case HEAPTUPLE_DELETE_IN_PROGRESS:
				ph_prune_note_prunable(ps, HeapTupleHeaderGetUpdateXid(htup));
				break;
			case HEAPTUPLE_LIVE:
			case HEAPTUPLE_INSERT_IN_PROGRESS:
				break;
			default:
				elog(ERROR, "unexpected HeapTupleSatisfiesVacuum result");
				break;
		}

		if (dead)
		{
			latest_dead = off;
			HeapTupleHeaderAdvanceLatestRemovedXid(htup, &ps->latest_removed);
		}
		else if (!recently_dead)
			break;

		if (!HeapTupleHeaderIsHotUpdated(htup))
			break;
		off = ItemPointerGetOffsetNumber(&htup->t_ctid);
		prior_xmax = HeapTupleHeaderGetUpdateXid(htup);
	}

	if (OffsetNumberIsValid(latest_dead))
	{
		int			i;

		/* members after the root, up to and including the last dead one */
		for (i = 1; i < nchain && chain[i - 1] != latest_dead; i++)
		{
			ph_prune_unused(ps, chain[i]);
			ndeleted++;
		}
		if (ItemIdIsNormal(rootlp))
			ndeleted++;
		if (i >= nchain)
			ph_prune_dead(ps, root);
		else
			ph_prune_redirect(ps, root, chain[i]);
	}
	else if (nchain < 2 && ItemIdIsRedirected(rootlp))
	{
		/* a redirect whose target was freed already */
		ph_prune_dead(ps, root);
	}

	return ndeleted;
}

/*
 * ph_page_prune: see include/phantom/mvcc/prune.h.  Returns the number of
 * tuples removed.
 */
int
ph_page_prune(Relation rel, Buffer buf, BlockNumber vblock,
			  GlobalVisState *vistest, PhPruneResult *res)
{
	Page		page = BufferGetPage(buf);
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	PhPruneState *ps;
	int			ndeleted = 0;

	ps = palloc(sizeof(PhPruneState));
	ps->rel = rel;
	ps->vistest = vistest;
	ps->buf = buf;
	ps->vblock = vblock;
	ps->new_prune_xid = InvalidTransactionId;
	ps->latest_removed = InvalidTransactionId;
	ps->nredirected = ps->ndead = ps->nunused = 0;
	memset(ps->marked, 0, sizeof(ps->marked));

	/* the state of every tuple first: chains are then decided consistently */
	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
	{
		ItemId		lp = PageGetItemId(page, off);
		HeapTupleData tup;

		ps->htsv[off] = -1;
		if (!ItemIdIsNormal(lp))
			continue;
		tup.t_data = (HeapTupleHeader) PageGetItem(page, lp);
		tup.t_len = ItemIdGetLength(lp);
		tup.t_tableOid = RelationGetRelid(rel);
		ItemPointerSet(&tup.t_self, vblock, off);
		ps->htsv[off] = ph_prune_tuple_state(ps, &tup);
	}

	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
	{
		ItemId		lp = PageGetItemId(page, off);

		if (ps->marked[off] || !ItemIdIsUsed(lp) || ItemIdIsDead(lp))
			continue;
		ndeleted += ph_prune_chain(ps, page, off);
	}

	if (ps->nredirected > 0 || ps->ndead > 0 || ps->nunused > 0)
	{
		ph_wal_prune(rel, buf, vblock, ps->latest_removed,
					 ps->redirected, ps->nredirected,
					 ps->nowdead, ps->ndead,
					 ps->nowunused, ps->nunused);
		/* hints, not logged (masked in consistency checks) */
		((PageHeader) page)->pd_prune_xid = ps->new_prune_xid;
		PageClearFull(page);
		MarkBufferDirty(buf);
	}
	else if (((PageHeader) page)->pd_prune_xid != ps->new_prune_xid ||
			 PageIsFull(page))
	{
		((PageHeader) page)->pd_prune_xid = ps->new_prune_xid;
		PageClearFull(page);
		MarkBufferDirtyHint(buf, true);
	}

	if (res != NULL)
	{
		res->ndeleted = ndeleted;
		res->nnewlpdead = ps->ndead;
		/* items freed or turned into redirects / dead are no tuples now */
		for (int i = 0; i < ps->nunused; i++)
			ps->htsv[ps->nowunused[i]] = -1;
		for (int i = 0; i < ps->ndead; i++)
			ps->htsv[ps->nowdead[i]] = -1;
		for (int i = 0; i < ps->nredirected; i++)
			ps->htsv[ps->redirected[i * 2]] = -1;
		memcpy(res->htsv, ps->htsv, sizeof(ps->htsv));
	}

	pfree(ps);
	return ndeleted;
}

/*
 * ph_page_prune_opt: prune when the page says some deleter may be old
 * enough (pd_prune_xid), the page is short of room (full, or less free
 * space than fillfactor leaves, at least 10%), and the cleanup lock is
 * free.  Never waits; pruning is an optimisation here.
 */
void
ph_page_prune_opt(Relation rel, Buffer buf, BlockNumber vblock)
{
	Page		page = BufferGetPage(buf);
	TransactionId prune_xid;
	GlobalVisState *vistest;
	Size		minfree;

	/* a standby must not change pages (its redo does) */
	if (RecoveryInProgress())
		return;

	prune_xid = ((PageHeader) page)->pd_prune_xid;
	if (!TransactionIdIsValid(prune_xid))
		return;
	vistest = GlobalVisTestFor(rel);
	if (!GlobalVisTestIsRemovableXid(vistest, prune_xid))
		return;

	minfree = RelationGetTargetPageFreeSpace(rel, HEAP_DEFAULT_FILLFACTOR);
	minfree = Max(minfree, BLCKSZ / 10);
	if (!PageIsFull(page) && PageGetHeapFreeSpace(page) >= minfree)
		return;

	if (!ConditionalLockBufferForCleanup(buf))
		return;
	/* check again under the lock */
	if (PageIsFull(page) || PageGetHeapFreeSpace(page) < minfree)
	{
		PhPruneResult res;

		ph_page_prune(rel, buf, vblock, vistest, &res);

		/*
		 * Tell pgstats about the tuples that are gone for good, like heap:
		 * items only turned LP_DEAD still need VACUUM, which counts them.
		 */
		if (res.ndeleted > res.nnewlpdead)
			pgstat_update_heap_dead_tuples(rel, res.ndeleted - res.nnewlpdead);
	}
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);
}
