/*-------------------------------------------------------------------------
 *
 * vacuum.c
 *	  VACUUM of phantom tables (relation_vacuum).
 *
 *	  Lazy VACUUM in heap's shape, over vblocks:
 *	  1. For each hot vblock not skipped by the visibility map: take a
 *	     cleanup lock, prune it (src/mvcc/prune.c), freeze what is older
 *	     than the freeze cutoffs (heap_prepare_freeze_tuple +
 *	     ph_wal_freeze), collect its LP_DEAD items as (vblock, offset)
 *	     TIDs, and set its VM bits when every tuple is visible to all
 *	     (ph_wal_set_visible).
 *	  2. When the dead-TID array is full and at the end: index_bulk_delete
 *	     on every index with those TIDs, then turn the LP_DEAD items into
 *	     LP_UNUSED (ph_wal_prune with nowunused) and re-check VM bits.
 *	     Without indexes, step 1 frees them at once.
 *	  3. index_vacuum_cleanup, vac_update_relstats (relpages = vblocks,
 *	     reltuples, relallvisible, and relfrozenxid / relminmxid advanced
 *	     to what was actually seen, only when no page that may hold
 *	     unfrozen xids was skipped), pgstat_report_vacuum.
 *
 *	  Cold vblocks hold only frozen, all-visible tuples without xmax and
 *	  are never visited.  VACUUM holds ShareUpdateExclusiveLock, so neither
 *	  compaction nor another VACUUM runs meanwhile: a hot vblock stays hot
 *	  until we are done (a concurrent thaw only makes cold vblocks hot, and
 *	  the xids it writes are newer than our OldestXmin).
 *
 *	  Truncation, unless the table's vacuum_truncate is off: trailing empty
 *	  vblocks are dropped as heap drops trailing empty pages
 *	  (ph_vac_truncate_tail: heap's thresholds and lock dance, then
 *	  ph_truncate_vblocks in src/lsm/shrink.c), and the physical tail of
 *	  the file is given back by ph_try_shrink (src/lsm/shrink.c), both
 *	  under a conditional AccessExclusiveLock.  When VACUUM left the table
 *	  without any tuple, the whole fork goes instead
 *	  (ph_vac_truncate_if_empty), as heap's truncation of trailing empty
 *	  pages would give everything back.
 *
 *	  Free space map: the FSM fork is indexed by vblock, like the VM.  As
 *	  heap, each hot vblock's free space (PageGetHeapFreeSpace) is recorded
 *	  once its page is pruned and its dead items freed: after the first
 *	  pass, or after the second heap pass for pages whose LP_DEAD items
 *	  wait for index vacuuming; FreeSpaceMapVacuum propagates it to the
 *	  upper FSM levels at the end.  FSM calls are made with no buffer
 *	  content lock held (they may take the relation extension lock).
 *	  ph_get_insert_buffer (src/lsm/lanes.c) uses it for new tuples.
 *
 * src/tableam/vacuum.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/heapam_xlog.h"
#include "access/htup_details.h"
#include "access/multixact.h"
#include "access/transam.h"
#include "access/visibilitymap.h"
#include "access/xact.h"
#include "commands/dbcommands.h"
#include "commands/progress.h"
#include "commands/vacuum.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/autovacuum.h"
#include "storage/bufmgr.h"
#include "storage/freespace.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "phantom/lsm/run.h"
#include "phantom/lsm/storage.h"
#include "phantom/mvcc/prune.h"
#include "phantom/mvcc/visibility.h"
#include "phantom/tableam/ddl.h"
#include "phantom/wal/wal.h"

/* as heap's VACUUM_TRUNCATE_LOCK_WAIT_INTERVAL / _TIMEOUT */
#define PH_VAC_TRUNCATE_LOCK_WAIT_MS		50
#define PH_VAC_TRUNCATE_LOCK_TIMEOUT_MS		5000

typedef struct PhVacState
{
	Relation	rel;
	Relation   *indrels;
	int			nindexes;
	IndexBulkDeleteResult **indstats;
	BufferAccessStrategy bstrategy;
	bool		verbose;
	bool		aggressive;		/* must scan every page with unfrozen xids */
	bool		skipwithvm;		/* may skip pages by their VM bits */
	bool		do_index_vacuuming;
	bool		consider_bypass;	/* INDEX_CLEANUP auto */
	bool		bypassed;		/* index vacuuming was skipped */
	bool		do_index_cleanup;

	TransactionId OldestXmin;
	MultiXactId OldestMxact;
	TransactionId FreezeLimit;
	MultiXactId MultiXactCutoff;
	GlobalVisState *vistest;

	/* what relfrozenxid / relminmxid can become, lowered as we go */
	TransactionId NewRelfrozenXid;
	MultiXactId NewRelminMxid;
	bool		skipped_unfrozen;	/* a skipped page may hold old xids */

	/* dead item TIDs waiting for index vacuuming, in TID order */
	ItemPointerData *dead;
	int			ndead;
	int			maxdead;
	int			num_index_scans;

	Buffer		vmbuffer;

	/* counters */
	BlockNumber rel_pages;
	BlockNumber scanned_pages;
	BlockNumber cold_pages;
	BlockNumber frozen_skipped;
	BlockNumber allvis_skipped;
	BlockNumber pin_skipped;
	BlockNumber vm_set_pages;
	bool		truncated;		/* an empty table's fork was given back */
	BlockNumber nonempty_pages; /* 1 + last vblock seen with tuples */
	BlockNumber removed_pages;	/* trailing vblocks truncated */
	double		live_tuples;
	double		recently_dead;
	double		missed_dead;	/* dead, left unpruned on pinned pages */
	double		tuples_deleted;
	double		tuples_frozen;
	double		lpdead_items;
	BlockNumber lpdead_item_pages;	/* pages with LP_DEAD items */
	double		lpdead_freed;
} PhVacState;

/* A TID as one ordered integer: vblock in the high bits, offset low. */
static inline uint64
ph_vac_tid_key(ItemPointer tid)
{
	return ((uint64) ItemPointerGetBlockNumberNoCheck(tid) << 16) |
		ItemPointerGetOffsetNumberNoCheck(tid);
}

/*
 * index_bulk_delete callback: is this index entry's TID being removed?
 * Called once per index entry, so it is kept cheap: a range check, then a
 * binary search over the sorted dead TIDs with inline comparisons.
 */
static bool
ph_vac_tid_reaped(ItemPointer itemptr, void *state)
{
	PhVacState *vs = (PhVacState *) state;
	uint64		key = ph_vac_tid_key(itemptr);
	int			lo = 0;
	int			hi = vs->ndead - 1;

	if (vs->ndead == 0 ||
		key < ph_vac_tid_key(&vs->dead[0]) ||
		key > ph_vac_tid_key(&vs->dead[hi]))
		return false;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		uint64		cur = ph_vac_tid_key(&vs->dead[mid]);

		if (cur == key)
			return true;
		if (cur < key)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

/*
 * Is every tuple on the page visible to everyone?  Also reports the
 * newest xmin (the standby conflict horizon of a VM bit) and whether
 * every tuple is frozen.  The page is locked by the caller.
 */
static bool
ph_vac_page_all_visible(PhVacState *vs, Buffer buf, BlockNumber vblock,
						TransactionId *cutoff, bool *all_frozen)
{
	Page		page = BufferGetPage(buf);
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);

	*cutoff = InvalidTransactionId;
	*all_frozen = true;

	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
	{
		ItemId		lp = PageGetItemId(page, off);
		HeapTupleData tup;
		TransactionId xmin;

		if (!ItemIdIsUsed(lp) || ItemIdIsRedirected(lp))
			continue;
		if (ItemIdIsDead(lp))
			return false;

		tup.t_data = (HeapTupleHeader) PageGetItem(page, lp);
		tup.t_len = ItemIdGetLength(lp);
		tup.t_tableOid = RelationGetRelid(vs->rel);
		ItemPointerSet(&tup.t_self, vblock, off);

		if (ph_tuple_satisfies_vacuum(&tup, vs->OldestXmin, buf) != HEAPTUPLE_LIVE)
			return false;
		if (!HeapTupleHeaderXminCommitted(tup.t_data))
			return false;
		xmin = HeapTupleHeaderGetXmin(tup.t_data);
		if (!TransactionIdPrecedes(xmin, vs->OldestXmin))
			return false;
		if (TransactionIdIsNormal(xmin) &&
			(!TransactionIdIsValid(*cutoff) ||
			 TransactionIdFollows(xmin, *cutoff)))
			*cutoff = xmin;
		if (*all_frozen && heap_tuple_needs_eventual_freeze(tup.t_data))
			*all_frozen = false;
	}
	return true;
}

/* Set the page's VM bits if they are not set as wanted already. */
static void
ph_vac_set_vm(PhVacState *vs, Buffer buf, BlockNumber vblock,
			  TransactionId cutoff, bool all_frozen)
{
	uint8		want = VISIBILITYMAP_ALL_VISIBLE;
	uint8		have;

	if (all_frozen)
		want |= VISIBILITYMAP_ALL_FROZEN;
	have = visibilitymap_get_status(vs->rel, vblock, &vs->vmbuffer);
	if ((have & want) == want && PageIsAllVisible(BufferGetPage(buf)))
		return;
	ph_wal_set_visible(vs->rel, buf, vblock, cutoff, want);
	vs->vm_set_pages++;
}

/*
 * A page that is not all-visible must not say it is, neither in its header
 * nor in the VM (index-only scans trust the VM bit).  Only a bug or a
 * crash between two unlogged changes can leave them set; like heap, warn
 * and clear them (the clear is a hint-like change, not WAL-logged).
 */
static void
ph_vac_repair_vm(PhVacState *vs, Buffer buf, BlockNumber vblock,
				 bool has_dead_items)
{
	Page		page = BufferGetPage(buf);
	uint8		vmstatus;

	vmstatus = visibilitymap_get_status(vs->rel, vblock, &vs->vmbuffer);
	if (vmstatus != 0 && !PageIsAllVisible(page))
	{
		elog(WARNING, "page is not marked all-visible but visibility map bit is set in relation \"%s\" page %u",
			 RelationGetRelationName(vs->rel), vblock);
		ph_vm_clear(vs->rel, vblock, VISIBILITYMAP_VALID_BITS);
	}
	else if (PageIsAllVisible(page) && has_dead_items)
	{
		elog(WARNING, "page containing LP_DEAD items is marked as all-visible in relation \"%s\" page %u",
			 RelationGetRelationName(vs->rel), vblock);
		PageClearAllVisible(page);
		MarkBufferDirty(buf);
		ph_vm_clear(vs->rel, vblock, VISIBILITYMAP_VALID_BITS);
	}
}

/*
 * First pass over one hot vblock, under a cleanup lock: prune, freeze,
 * count, collect (or, without indexes, free) LP_DEAD items, set VM bits.
 * Returns true if LP_DEAD items of the page wait for index vacuuming (its
 * free space is then recorded by the second heap pass, as heap does).
 */
static bool
ph_vac_scan_page(PhVacState *vs, Buffer buf, BlockNumber vblock)
{
	Relation	rel = vs->rel;
	Page		page = BufferGetPage(buf);
	PhPruneResult pr;
	xl_heap_freeze_tuple frozen[MaxHeapTuplesPerPage];
	OffsetNumber deadoffs[MaxHeapTuplesPerPage];
	int			nfrozen;
	int			ndeadhere;
	bool		all_visible;
	bool		all_frozen;
	TransactionId cutoff;
	double		live;
	double		recently_dead;
	int			retries = 0;

retry:
	vs->tuples_deleted += ph_page_prune(rel, buf, vblock, vs->vistest, &pr);

	nfrozen = 0;
	ndeadhere = 0;
	all_visible = true;
	all_frozen = true;
	cutoff = InvalidTransactionId;
	live = 0;
	recently_dead = 0;

	for (OffsetNumber off = FirstOffsetNumber;
		 off <= PageGetMaxOffsetNumber(page); off++)
	{
		ItemId		lp = PageGetItemId(page, off);
		HeapTupleData tup;
		HTSV_Result res;
		bool		totally_frozen;

		if (!ItemIdIsUsed(lp) || ItemIdIsRedirected(lp))
			continue;
		if (ItemIdIsDead(lp))
		{
			deadoffs[ndeadhere++] = off;
			continue;
		}

		tup.t_data = (HeapTupleHeader) PageGetItem(page, lp);
		tup.t_len = ItemIdGetLength(lp);
		tup.t_tableOid = RelationGetRelid(rel);
		ItemPointerSet(&tup.t_self, vblock, off);

		res = (HTSV_Result) pr.htsv[off];
		if (pr.htsv[off] < 0)
			res = ph_tuple_satisfies_vacuum(&tup, vs->OldestXmin, buf);

		/*
		 * A tuple pruning left in place that is dead now (its inserter
		 * aborted meanwhile) must not be frozen: prune again.
		 */
		if (res == HEAPTUPLE_DEAD)
		{
			if (++retries < 10)
				goto retry;
			all_visible = false;
			continue;
		}

		switch (res)
		{
			case HEAPTUPLE_LIVE:
				live += 1;
				if (all_visible)
				{
					TransactionId xmin = HeapTupleHeaderGetXmin(tup.t_data);

					if (!HeapTupleHeaderXminCommitted(tup.t_data) ||
						!TransactionIdPrecedes(xmin, vs->OldestXmin))
						all_visible = false;
					else if (TransactionIdIsNormal(xmin) &&
							 (!TransactionIdIsValid(cutoff) ||
							  TransactionIdFollows(xmin, cutoff)))
						cutoff = xmin;
				}
				break;
			case HEAPTUPLE_RECENTLY_DEAD:
				recently_dead += 1;
				all_visible = false;
				break;
			case HEAPTUPLE_INSERT_IN_PROGRESS:
				/* the inserter counts it when it commits */
				all_visible = false;
				break;
			case HEAPTUPLE_DELETE_IN_PROGRESS:
				live += 1;
				all_visible = false;
				break;
			default:
				elog(ERROR, "unexpected HeapTupleSatisfiesVacuum result");
				break;
		}

		if (heap_prepare_freeze_tuple(tup.t_data,
									  rel->rd_rel->relfrozenxid,
									  rel->rd_rel->relminmxid,
									  vs->FreezeLimit, vs->MultiXactCutoff,
									  &frozen[nfrozen], &totally_frozen,
									  &vs->NewRelfrozenXid,
									  &vs->NewRelminMxid))
			frozen[nfrozen++].offset = off;
		if (!totally_frozen)
			all_frozen = false;
	}

	vs->live_tuples += live;
	vs->recently_dead += recently_dead;

	if (nfrozen > 0)
	{
		ph_wal_freeze(rel, buf, vblock, vs->FreezeLimit, frozen, nfrozen);
		vs->tuples_frozen += nfrozen;
	}

	vs->lpdead_items += ndeadhere;
	if (ndeadhere > 0)
		vs->lpdead_item_pages++;
	if (ndeadhere > 0 && vs->nindexes == 0)
	{
		/* no index can point at them: free them now */
		ph_wal_prune(rel, buf, vblock, InvalidTransactionId,
					 NULL, 0, NULL, 0, deadoffs, ndeadhere);
		vs->lpdead_freed += ndeadhere;
		ndeadhere = 0;
	}
	else if (ndeadhere > 0 && vs->do_index_vacuuming)
	{
		for (int i = 0; i < ndeadhere; i++)
		{
			/* ItemPointerSet evaluates its pointer argument repeatedly */
			ItemPointerSet(&vs->dead[vs->ndead], vblock, deadoffs[i]);
			vs->ndead++;
		}
		pgstat_progress_update_param(PROGRESS_VACUUM_NUM_DEAD_TUPLES,
									 vs->ndead);
	}

	/* items still LP_DEAD keep the page from being all-visible */
	if (all_visible && ndeadhere == 0)
		ph_vac_set_vm(vs, buf, vblock, cutoff, all_frozen);
	else
		ph_vac_repair_vm(vs, buf, vblock, ndeadhere > 0);

	return ndeadhere > 0 && vs->do_index_vacuuming;
}

/*
 * Second heap pass: turn the collected LP_DEAD items, which no index
 * points at any more, into LP_UNUSED, and set VM bits where the page has
 * become all-visible.  Pruning compacts the page, hence the cleanup lock,
 * taken only if nobody else pins the page.
 */
static void
ph_vac_heap_pass(PhVacState *vs)
{
	int			i = 0;
	BlockNumber done = 0;

	pgstat_progress_update_param(PROGRESS_VACUUM_PHASE,
								 PROGRESS_VACUUM_PHASE_VACUUM_HEAP);

	while (i < vs->ndead)
	{
		BlockNumber vblock = ItemPointerGetBlockNumber(&vs->dead[i]);
		OffsetNumber offs[MaxHeapTuplesPerPage];
		int			n = 0;
		PhPage		pg;
		TransactionId cutoff;
		bool		all_frozen;
		Size		freespace;

		while (i < vs->ndead &&
			   ItemPointerGetBlockNumber(&vs->dead[i]) == vblock)
		{
			offs[n++] = ItemPointerGetOffsetNumber(&vs->dead[i]);
			i++;
		}

		vacuum_delay_point();

		if (!ph_page_open_strategy(vs->rel, vblock, &pg, vs->bstrategy))
			continue;
		if (pg.cold)
		{
			/* cannot happen: compaction waits for our lock */
			ph_page_close(&pg);
			continue;
		}

		/*
		 * Freeing compacts the page, so it needs the cleanup lock; do not
		 * wait for it (a parked cursor may pin the page for long).  The
		 * items simply stay LP_DEAD: no index points at them any more,
		 * and the next VACUUM frees them.
		 */
		if (!ConditionalLockBufferForCleanup(pg.buf))
		{
			ph_page_close(&pg);
			continue;
		}
		ph_wal_prune(vs->rel, pg.buf, vblock, InvalidTransactionId,
					 NULL, 0, NULL, 0, offs, n);
		vs->lpdead_freed += n;
		if (ph_vac_page_all_visible(vs, pg.buf, vblock, &cutoff, &all_frozen))
			ph_vac_set_vm(vs, pg.buf, vblock, cutoff, all_frozen);
		freespace = PageGetHeapFreeSpace(BufferGetPage(pg.buf));
		LockBuffer(pg.buf, BUFFER_LOCK_UNLOCK);
		ph_page_close(&pg);
		RecordPageWithFreeSpace(vs->rel, vblock, freespace);

		pgstat_progress_update_param(PROGRESS_VACUUM_HEAP_BLKS_VACUUMED,
									 ++done);
	}
}

/* One index's bulk deletion of the collected TIDs. */
static void
ph_vac_indexes(PhVacState *vs)
{
	pgstat_progress_update_param(PROGRESS_VACUUM_PHASE,
								 PROGRESS_VACUUM_PHASE_VACUUM_INDEX);

	for (int i = 0; i < vs->nindexes; i++)
	{
		IndexVacuumInfo ivinfo;

		ivinfo.index = vs->indrels[i];
		ivinfo.analyze_only = false;
		ivinfo.report_progress = false;
		ivinfo.estimated_count = true;
		ivinfo.message_level = vs->verbose ? INFO : DEBUG2;
		ivinfo.num_heap_tuples = vs->rel->rd_rel->reltuples;
		ivinfo.strategy = vs->bstrategy;

		vs->indstats[i] = index_bulk_delete(&ivinfo, vs->indstats[i],
											ph_vac_tid_reaped, vs);
	}
}

/* Index vacuuming and the second heap pass for the collected TIDs. */
static void
ph_vac_cycle(PhVacState *vs)
{
	if (vs->ndead == 0)
		return;
	ph_vac_indexes(vs);
	ph_vac_heap_pass(vs);
	vs->num_index_scans++;
	pgstat_progress_update_param(PROGRESS_VACUUM_NUM_INDEX_VACUUMS,
								 vs->num_index_scans);
	vs->ndead = 0;
	pgstat_progress_update_param(PROGRESS_VACUUM_PHASE,
								 PROGRESS_VACUUM_PHASE_SCAN_HEAP);
}

/*
 * PageHasLpDead: whether LP_DEAD items of the page wait for the second
 * heap pass (only with indexes; without, nothing frees them here).
 */
static bool
PageHasLpDead(Page page, int nindexes)
{
	if (nindexes == 0)
		return false;
	for (OffsetNumber off = FirstOffsetNumber;
		 off <= PageGetMaxOffsetNumber(page); off++)
	{
		if (ItemIdIsDead(PageGetItemId(page, off)))
			return true;
	}
	return false;
}

/*
 * ph_vac_scan_noprune looks at a hot page whose cleanup lock another
 * backend's pin denies us, under a share lock, the way heap's
 * lazy_scan_noprune does: it counts live, recently dead and "missed dead"
 * tuples (dead, but not removable without pruning), queues LP_DEAD items
 * for index vacuuming, and lowers NewRelfrozenXid / NewRelminMxid to what
 * the page still holds.  Returns false (and changes nothing) when an
 * aggressive VACUUM finds a tuple it must freeze: the caller then waits
 * for the cleanup lock and scans the page normally.
 */
static bool
ph_vac_scan_noprune(PhVacState *vs, Buffer buf, BlockNumber vblock)
{
	Relation	rel = vs->rel;
	Page		page = BufferGetPage(buf);
	TransactionId NewRelfrozenXid = vs->NewRelfrozenXid;
	MultiXactId NewRelminMxid = vs->NewRelminMxid;
	OffsetNumber deadoffs[MaxHeapTuplesPerPage];
	int			ndeadhere = 0;
	double		live = 0;
	double		recently_dead = 0;
	double		missed_dead = 0;

	for (OffsetNumber off = FirstOffsetNumber;
		 off <= PageGetMaxOffsetNumber(page); off++)
	{
		ItemId		lp = PageGetItemId(page, off);
		HeapTupleData tup;

		if (!ItemIdIsUsed(lp) || ItemIdIsRedirected(lp))
			continue;
		if (ItemIdIsDead(lp))
		{
			deadoffs[ndeadhere++] = off;
			continue;
		}

		tup.t_data = (HeapTupleHeader) PageGetItem(page, lp);
		tup.t_len = ItemIdGetLength(lp);
		tup.t_tableOid = RelationGetRelid(rel);
		ItemPointerSet(&tup.t_self, vblock, off);

		if (heap_tuple_would_freeze(tup.t_data, vs->FreezeLimit,
									vs->MultiXactCutoff,
									&NewRelfrozenXid, &NewRelminMxid) &&
			vs->aggressive)
			return false;

		switch (ph_tuple_satisfies_vacuum(&tup, vs->OldestXmin, buf))
		{
			case HEAPTUPLE_DELETE_IN_PROGRESS:
			case HEAPTUPLE_LIVE:
				live += 1;
				break;
			case HEAPTUPLE_DEAD:
				missed_dead += 1;
				break;
			case HEAPTUPLE_RECENTLY_DEAD:
				recently_dead += 1;
				break;
			case HEAPTUPLE_INSERT_IN_PROGRESS:
				/* the inserter counts it when it commits */
				break;
			default:
				elog(ERROR, "unexpected HeapTupleSatisfiesVacuum result");
				break;
		}
	}

	vs->NewRelfrozenXid = NewRelfrozenXid;
	vs->NewRelminMxid = NewRelminMxid;

	if (vs->nindexes == 0)
		missed_dead += ndeadhere;	/* freed by a later VACUUM */
	else if (ndeadhere > 0)
	{
		vs->lpdead_item_pages++;
		vs->lpdead_items += ndeadhere;
		if (vs->do_index_vacuuming)
		{
			for (int i = 0; i < ndeadhere; i++)
			{
				ItemPointerSet(&vs->dead[vs->ndead], vblock, deadoffs[i]);
				vs->ndead++;
			}
			pgstat_progress_update_param(PROGRESS_VACUUM_NUM_DEAD_TUPLES,
										 vs->ndead);
		}
	}

	vs->live_tuples += live;
	vs->recently_dead += recently_dead;
	vs->missed_dead += missed_dead;
	return true;
}

/*
 * ph_vac_page_has_tuples: does the page keep a tuple (or a redirect)?
 * LP_DEAD items go in the second pass, so they do not count, as in heap's
 * hastup.
 */
static bool
ph_vac_page_has_tuples(Page page)
{
	for (OffsetNumber off = FirstOffsetNumber;
		 off <= PageGetMaxOffsetNumber(page); off++)
	{
		ItemId		lp = PageGetItemId(page, off);

		if (ItemIdIsUsed(lp) && !ItemIdIsDead(lp))
			return true;
	}
	return false;
}

/*
 * Visit one vblock in the first pass, unless the visibility map, its
 * coldness or a busy pin lets (or makes) us skip it.
 */
static void
ph_vac_visit(PhVacState *vs, BlockNumber vblock)
{
	PhMapEntry	entry = ph_map_get(vs->rel, vblock);
	uint8		vmstatus;
	PhPage		pg;
	bool		hasdead;

	if (entry == PH_MAP_NONE)
		return;
	if (PhMapIsCold(entry))
	{
		vs->cold_pages++;
		vs->nonempty_pages = vblock + 1;
		return;
	}

	vmstatus = visibilitymap_get_status(vs->rel, vblock, &vs->vmbuffer);
	if (vs->skipwithvm)
	{
		if (vmstatus & VISIBILITYMAP_ALL_FROZEN)
		{
			vs->frozen_skipped++;
			return;
		}
		if ((vmstatus & VISIBILITYMAP_ALL_VISIBLE) && !vs->aggressive)
		{
			vs->allvis_skipped++;
			vs->skipped_unfrozen = true;
			return;
		}
	}

	if (!ph_page_open_strategy(vs->rel, vblock, &pg, vs->bstrategy))
		return;
	if (pg.cold)
	{
		ph_page_close(&pg);
		vs->cold_pages++;
		vs->nonempty_pages = vblock + 1;
		return;
	}

	vs->scanned_pages++;
	if (!ConditionalLockBufferForCleanup(pg.buf))
	{
		/*
		 * Someone holds a pin (a cursor, say).  Waiting may be long: as
		 * heap, look at the page under a share lock without pruning or
		 * freezing, which counts its tuples and dead items; only an
		 * aggressive VACUUM that finds xids it must freeze waits for the
		 * cleanup lock.
		 */
		LockBuffer(pg.buf, BUFFER_LOCK_SHARE);
		if (ph_vac_scan_noprune(vs, pg.buf, vblock))
		{
			Page		page = BufferGetPage(pg.buf);
			bool		record = !PageHasLpDead(page, vs->nindexes);
			Size		freespace = PageGetHeapFreeSpace(page);

			if (ph_vac_page_has_tuples(page))
				vs->nonempty_pages = vblock + 1;

			LockBuffer(pg.buf, BUFFER_LOCK_UNLOCK);
			ph_page_close(&pg);
			vs->pin_skipped++;
			if (record)
				RecordPageWithFreeSpace(vs->rel, vblock, freespace);
			return;
		}
		LockBuffer(pg.buf, BUFFER_LOCK_UNLOCK);
		LockBufferForCleanup(pg.buf);
	}

	hasdead = ph_vac_scan_page(vs, pg.buf, vblock);
	if (ph_vac_page_has_tuples(BufferGetPage(pg.buf)))
		vs->nonempty_pages = vblock + 1;
	if (hasdead)
	{
		/* recorded by the second heap pass, once its dead items are freed */
		LockBuffer(pg.buf, BUFFER_LOCK_UNLOCK);
		ph_page_close(&pg);
	}
	else
	{
		Size		freespace = PageGetHeapFreeSpace(BufferGetPage(pg.buf));

		LockBuffer(pg.buf, BUFFER_LOCK_UNLOCK);
		ph_page_close(&pg);
		RecordPageWithFreeSpace(vs->rel, vblock, freespace);
	}
}

/*
 * ph_vac_lock_for_truncate takes AccessExclusiveLock as lazy_truncate_heap
 * does: conditionally, retrying every VACUUM_TRUNCATE_LOCK_WAIT_INTERVAL,
 * giving up after VACUUM_TRUNCATE_LOCK_TIMEOUT (never queueing behind or
 * in front of other sessions).
 */
static bool
ph_vac_lock_for_truncate(Relation rel)
{
	int			lock_retry = 0;

	while (!ConditionalLockRelation(rel, AccessExclusiveLock))
	{
		CHECK_FOR_INTERRUPTS();
		if (++lock_retry > (PH_VAC_TRUNCATE_LOCK_TIMEOUT_MS /
							PH_VAC_TRUNCATE_LOCK_WAIT_MS))
		{
			ereport(DEBUG1,
					(errmsg("\"%s\": stopping truncate due to conflicting lock request",
							RelationGetRelationName(rel))));
			return false;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 PH_VAC_TRUNCATE_LOCK_WAIT_MS,
						 WAIT_EVENT_VACUUM_TRUNCATE);
		ResetLatch(MyLatch);
	}
	return true;
}

/*
 * ph_vac_truncate_tail drops trailing empty vblocks of a table that keeps
 * rows, as heap's lazy_truncate_heap drops trailing empty pages: only when
 * at least REL_TRUNCATE_MINIMUM (1000) or 1/16 of the vblocks may go
 * (should_attempt_truncation), with truncation enabled and no
 * old_snapshot_threshold, under a conditional AccessExclusiveLock.  Under
 * the lock, the tail is re-read backwards (count_nondeletable_pages): the
 * table must not have grown, a vblock is empty when it is unallocated or a
 * hot page without a used line pointer (cold vblocks hold rows), and a
 * session waiting for the lock stops the scan (what was verified so far
 * is still truncated, every 32 vblocks).  ph_truncate_vblocks
 * (src/lsm/shrink.c) then lowers nvblocks, frees the pages and cuts the VM
 * and FSM.  Unlike heap, one attempt: a VACUUM interrupted by a lock
 * waiter leaves the rest to the next VACUUM.
 */
static void
ph_vac_truncate_tail(PhVacState *vs, struct VacuumParams *params)
{
	Relation	rel = vs->rel;
	BlockNumber orig = vs->rel_pages;
	BlockNumber possibly_freeable;
	BlockNumber target;
	BlockNumber result;
	instr_time	start;

	if (params->truncate == VACOPTVALUE_DISABLED || old_snapshot_threshold >= 0)
		return;
	possibly_freeable = orig - Min(vs->nonempty_pages, orig);
	if (possibly_freeable == 0 ||
		(possibly_freeable < 1000 && possibly_freeable < orig / 16))
		return;
	if (!ph_vac_lock_for_truncate(rel))
		return;

	if (ph_nvblocks(rel) != orig)
	{
		/* extended meanwhile: the new vblocks are in use, as heap */
		UnlockRelation(rel, AccessExclusiveLock);
		return;
	}

	INSTR_TIME_SET_CURRENT(start);
	target = orig;
	while (target > vs->nonempty_pages)
	{
		BlockNumber vblock = target - 1;
		PhMapEntry	entry;
		bool		empty = true;

		if ((orig - target) % 32 == 0 && target != orig)
		{
			instr_time	now;

			INSTR_TIME_SET_CURRENT(now);
			INSTR_TIME_SUBTRACT(now, start);
			if (INSTR_TIME_GET_MILLISEC(now) >= 20)
			{
				if (LockHasWaitersRelation(rel, AccessExclusiveLock))
				{
					ereport(vs->verbose ? INFO : DEBUG2,
							(errmsg("table \"%s\": suspending truncate due to conflicting lock request",
									RelationGetRelationName(rel))));
					break;
				}
				INSTR_TIME_SET_CURRENT(start);
			}
		}
		CHECK_FOR_INTERRUPTS();

		entry = ph_map_get(rel, vblock);
		if (PhMapIsCold(entry))
			break;
		if (entry != PH_MAP_NONE)
		{
			PhPage		pg;

			if (!ph_page_open_strategy(rel, vblock, &pg, vs->bstrategy))
				empty = true;
			else if (pg.cold)
			{
				ph_page_close(&pg);
				break;
			}
			else
			{
				Page		page = BufferGetPage(pg.buf);

				LockBuffer(pg.buf, BUFFER_LOCK_SHARE);
				for (OffsetNumber off = FirstOffsetNumber;
					 off <= PageGetMaxOffsetNumber(page) && empty; off++)
				{
					if (ItemIdIsUsed(PageGetItemId(page, off)))
						empty = false;
				}
				LockBuffer(pg.buf, BUFFER_LOCK_UNLOCK);
				ph_page_close(&pg);
			}
		}
		if (!empty)
			break;
		target--;
	}

	result = orig;
	if (target < orig)
		result = ph_truncate_vblocks(rel, target);
	UnlockRelation(rel, AccessExclusiveLock);

	if (result < orig)
	{
		vs->removed_pages = orig - result;
		vs->rel_pages = result;
		ereport(vs->verbose ? INFO : DEBUG2,
				(errmsg("table \"%s\": truncated %u to %u pages",
						RelationGetRelationName(rel), orig, result)));
	}
}

/*
 * ph_vac_truncate_if_empty gives the whole main fork back (and the FSM and
 * VM with it) when VACUUM left the table without a single tuple, which is
 * what heap's truncation of trailing empty pages amounts to for an empty
 * table (pg_relation_size 0 afterwards).  Tables with rows keep their
 * vblocks: trailing vblocks are not truncated, their pages are recycled by
 * compaction.  As heap, only with truncation enabled (VACUUM option /
 * vacuum_truncate reloption), without old_snapshot_threshold, and when
 * AccessExclusiveLock comes within VACUUM_TRUNCATE_LOCK_TIMEOUT; the lock
 * makes sure nobody inserts meanwhile, and the smgr invalidation of the
 * truncation resets every backend's cached insertion state (ph_cache).
 * Returns true if the relation was truncated.
 */
static bool
ph_vac_truncate_if_empty(PhVacState *vs, struct VacuumParams *params)
{
	Relation	rel = vs->rel;
	BlockNumber nvblocks;
	bool		empty = true;

	if (params->truncate != VACOPTVALUE_ENABLED || old_snapshot_threshold >= 0 ||
		vs->rel_pages == 0 || vs->cold_pages > 0 ||
		vs->live_tuples + vs->recently_dead + vs->missed_dead > 0 ||
		RelationGetNumberOfBlocks(rel) == 0)
		return false;

	if (!ph_vac_lock_for_truncate(rel))
		return false;

	/* under the lock: every vblock hot and without a used line pointer */
	nvblocks = ph_nvblocks(rel);
	for (BlockNumber vblock = 0; vblock < nvblocks && empty; vblock++)
	{
		PhMapEntry	entry = ph_map_get(rel, vblock);
		PhPage		pg;

		if (entry == PH_MAP_NONE)
			continue;
		if (PhMapIsCold(entry) || !ph_page_open(rel, vblock, &pg))
		{
			empty = false;
			break;
		}
		if (pg.cold)
			empty = false;
		else
		{
			Page		page = BufferGetPage(pg.buf);

			LockBuffer(pg.buf, BUFFER_LOCK_SHARE);
			for (OffsetNumber off = FirstOffsetNumber;
				 off <= PageGetMaxOffsetNumber(page); off++)
			{
				if (ItemIdIsUsed(PageGetItemId(page, off)))
				{
					empty = false;
					break;
				}
			}
			LockBuffer(pg.buf, BUFFER_LOCK_UNLOCK);
		}
		ph_page_close(&pg);
	}

	if (empty)
		phantom_relation_nontransactional_truncate(rel);
	UnlockRelation(rel, AccessExclusiveLock);
	return empty;
}

/* INFO report of VACUUM VERBOSE. */
static void
ph_vac_report(PhVacState *vs, double new_live_tuples, bool frozenxid_updated,
			  bool minmulti_updated)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf,
					 "vblocks: %u total, %u scanned, %u cold, %u skipped all-frozen, %u skipped all-visible, %u pinned (not pruned)\n",
					 vs->rel_pages, vs->scanned_pages, vs->cold_pages,
					 vs->frozen_skipped, vs->allvis_skipped, vs->pin_skipped);
	appendStringInfo(&buf,
					 "tuples: %.0f removed, %.0f remain, %.0f are dead but not yet removable, %.0f frozen\n",
					 vs->tuples_deleted, new_live_tuples, vs->recently_dead,
					 vs->tuples_frozen);
	appendStringInfo(&buf,
					 "dead item identifiers: %.0f found on %u pages, %.0f freed, index scans: %d%s\n",
					 vs->lpdead_items, vs->lpdead_item_pages, vs->lpdead_freed,
					 vs->num_index_scans,
					 vs->bypassed ? " (bypassed: too few dead items)" : "");
	appendStringInfo(&buf, "pages newly set all-visible: %u%s\n",
					 vs->vm_set_pages,
					 vs->truncated ? ", relation truncated (empty)" : "");
	appendStringInfo(&buf, "removable cutoff: %u, new relfrozenxid: %s, new relminmxid: %s",
					 vs->OldestXmin,
					 frozenxid_updated ? psprintf("%u", vs->NewRelfrozenXid) : "unchanged",
					 minmulti_updated ? psprintf("%u", vs->NewRelminMxid) : "unchanged");

	ereport(INFO,
			(errmsg("finished vacuuming \"%s.%s.%s\"",
					get_database_name(MyDatabaseId),
					get_namespace_name(RelationGetNamespace(vs->rel)),
					RelationGetRelationName(vs->rel)),
			 errdetail_internal("%s", buf.data)));
	pfree(buf.data);
}

/* Index cleanup and index statistics at the end of VACUUM. */
static void
ph_vac_cleanup_indexes(PhVacState *vs, double new_live_tuples)
{
	pgstat_progress_update_param(PROGRESS_VACUUM_PHASE,
								 PROGRESS_VACUUM_PHASE_INDEX_CLEANUP);

	for (int i = 0; i < vs->nindexes; i++)
	{
		IndexVacuumInfo ivinfo;
		IndexBulkDeleteResult *istat;

		ivinfo.index = vs->indrels[i];
		ivinfo.analyze_only = false;
		ivinfo.report_progress = false;
		ivinfo.estimated_count = (vs->scanned_pages < vs->rel_pages);
		ivinfo.message_level = vs->verbose ? INFO : DEBUG2;
		ivinfo.num_heap_tuples = new_live_tuples;
		ivinfo.strategy = vs->bstrategy;

		istat = index_vacuum_cleanup(&ivinfo, vs->indstats[i]);
		vs->indstats[i] = istat;
		if (istat == NULL)
			continue;

		if (!istat->estimated_count)
			vac_update_relstats(vs->indrels[i], istat->num_pages,
								istat->num_index_tuples, 0, false,
								InvalidTransactionId, InvalidMultiXactId,
								NULL, NULL, false);
		if (vs->verbose)
			ereport(INFO,
					(errmsg("index \"%s\": %u pages, %.0f index entries, %.0f removed",
							RelationGetRelationName(vs->indrels[i]),
							istat->num_pages, istat->num_index_tuples,
							istat->tuples_removed)));
	}
}

void
phantom_relation_vacuum(Relation rel, struct VacuumParams *params,
						BufferAccessStrategy bstrategy)
{
	PhVacState *vs = palloc0(sizeof(PhVacState));
	int			work_mem_kb;
	Size		maxdead;
	double		new_live_tuples;
	BlockNumber new_allvisible;
	bool		frozenxid_updated = false;
	bool		minmulti_updated = false;
	TransactionId new_frozenxid;
	MultiXactId new_minmulti;

	pgstat_progress_start_command(PROGRESS_COMMAND_VACUUM,
								  RelationGetRelid(rel));

	vs->rel = rel;
	vs->bstrategy = bstrategy;
	vs->verbose = (params->options & VACOPT_VERBOSE) != 0;
	vs->vmbuffer = InvalidBuffer;

	vs->aggressive = vacuum_set_xid_limits(rel,
										   params->freeze_min_age,
										   params->freeze_table_age,
										   params->multixact_freeze_min_age,
										   params->multixact_freeze_table_age,
										   &vs->OldestXmin, &vs->OldestMxact,
										   &vs->FreezeLimit,
										   &vs->MultiXactCutoff);
	vs->skipwithvm = true;
	if (params->options & VACOPT_DISABLE_PAGE_SKIPPING)
	{
		vs->aggressive = true;
		vs->skipwithvm = false;
	}
	vs->vistest = GlobalVisTestFor(rel);
	vs->NewRelfrozenXid = vs->OldestXmin;
	vs->NewRelminMxid = vs->OldestMxact;

	vac_open_indexes(rel, RowExclusiveLock, &vs->nindexes, &vs->indrels);
	vs->indstats = palloc0(sizeof(IndexBulkDeleteResult *) *
						   Max(vs->nindexes, 1));
	vs->do_index_cleanup = (params->index_cleanup != VACOPTVALUE_DISABLED);
	vs->do_index_vacuuming = vs->nindexes > 0 && vs->do_index_cleanup;
	vs->consider_bypass = (params->index_cleanup == VACOPTVALUE_AUTO);

	vs->rel_pages = ph_nvblocks(rel);

	/*
	 * Index vacuuming is never parallel here; like heap, say so when the
	 * user asked for workers on a temporary table (which no worker could
	 * read anyway).
	 */
	if (params->nworkers > 0 && vs->nindexes > 1 && vs->do_index_vacuuming &&
		RelationUsesLocalBuffers(rel))
		ereport(WARNING,
				(errmsg("disabling parallel option of vacuum on \"%s\" --- cannot vacuum temporary tables in parallel",
						RelationGetRelationName(rel))));

	/* room for dead TIDs: the memory VACUUM may use, at least one page */
	work_mem_kb = (IsAutoVacuumWorkerProcess() && autovacuum_work_mem != -1) ?
		autovacuum_work_mem : maintenance_work_mem;
	maxdead = (Size) work_mem_kb * 1024 / sizeof(ItemPointerData);
	maxdead = Min(maxdead, MaxAllocSize / sizeof(ItemPointerData));
	maxdead = Min(maxdead, (Size) vs->rel_pages * MaxHeapTuplesPerPage);
	maxdead = Max(maxdead, MaxHeapTuplesPerPage);
	vs->maxdead = (int) maxdead;
	if (vs->do_index_vacuuming)
		vs->dead = palloc(sizeof(ItemPointerData) * vs->maxdead);

	pgstat_progress_update_param(PROGRESS_VACUUM_PHASE,
								 PROGRESS_VACUUM_PHASE_SCAN_HEAP);
	pgstat_progress_update_param(PROGRESS_VACUUM_TOTAL_HEAP_BLKS,
								 vs->rel_pages);
	pgstat_progress_update_param(PROGRESS_VACUUM_MAX_DEAD_TUPLES,
								 vs->maxdead);

	for (BlockNumber vblock = 0; vblock < vs->rel_pages; vblock++)
	{
		vacuum_delay_point();

		if (vs->do_index_vacuuming &&
			vs->maxdead - vs->ndead < MaxHeapTuplesPerPage)
		{
			/* more than one pass: too many dead items to bypass */
			vs->consider_bypass = false;
			ph_vac_cycle(vs);
		}

		ph_vac_visit(vs, vblock);
		pgstat_progress_update_param(PROGRESS_VACUUM_HEAP_BLKS_SCANNED,
									 vblock + 1);
	}

	/*
	 * With INDEX_CLEANUP auto, a VACUUM that found almost no dead items (on
	 * less than 2% of the pages, in one pass) leaves them LP_DEAD and skips
	 * index vacuuming, as heap does: scanning every index for a handful of
	 * TIDs costs more than it frees.  Index cleanup still runs.
	 */
	if (vs->do_index_vacuuming && vs->consider_bypass &&
		vs->num_index_scans == 0 && vs->ndead > 0 &&
		vs->lpdead_item_pages < (double) vs->rel_pages * 0.02 &&
		vs->ndead < (int) ((32L * 1024L * 1024L) / sizeof(ItemPointerData)))
	{
		vs->bypassed = true;
		vs->ndead = 0;
	}
	if (vs->do_index_vacuuming)
		ph_vac_cycle(vs);

	/* make the recorded free space visible from the FSM's upper levels */
	FreeSpaceMapVacuumRange(rel, 0, vs->rel_pages);

	if (BufferIsValid(vs->vmbuffer))
	{
		ReleaseBuffer(vs->vmbuffer);
		vs->vmbuffer = InvalidBuffer;
	}

	if (ph_vac_truncate_if_empty(vs, params))
	{
		vs->truncated = true;
		vs->rel_pages = 0;
	}

	new_live_tuples = vac_estimate_reltuples(rel, vs->rel_pages,
											 vs->scanned_pages,
											 vs->live_tuples);

	if (vs->do_index_cleanup && vs->nindexes > 0)
		ph_vac_cleanup_indexes(vs, new_live_tuples);

	/*
	 * Drop trailing empty vblocks and give the free tail of the file back,
	 * as lazy_truncate_heap
	 */
	if (params->truncate != VACOPTVALUE_DISABLED && !vs->truncated)
	{
		pgstat_progress_update_param(PROGRESS_VACUUM_PHASE,
									 PROGRESS_VACUUM_PHASE_TRUNCATE);
		ph_vac_truncate_tail(vs, params);
		ph_try_shrink(rel, ph_shrink_min_gain(rel), 5000);
	}

	pgstat_progress_update_param(PROGRESS_VACUUM_PHASE,
								 PROGRESS_VACUUM_PHASE_FINAL_CLEANUP);

	visibilitymap_count(rel, &new_allvisible, NULL);
	if (new_allvisible > vs->rel_pages)
		new_allvisible = vs->rel_pages;

	/*
	 * relfrozenxid / relminmxid may move forward only if every page that
	 * may hold older xids was looked at.
	 */
	if (vs->skipped_unfrozen)
	{
		new_frozenxid = InvalidTransactionId;
		new_minmulti = InvalidMultiXactId;
	}
	else
	{
		new_frozenxid = vs->NewRelfrozenXid;
		new_minmulti = vs->NewRelminMxid;
	}

	vac_update_relstats(rel, vs->rel_pages, new_live_tuples, new_allvisible,
						vs->nindexes > 0, new_frozenxid, new_minmulti,
						&frozenxid_updated, &minmulti_updated, false);

	/* LP_DEAD items left behind (INDEX_CLEANUP off) are no tuples: as heap */
	pgstat_report_vacuum(RelationGetRelid(rel), rel->rd_rel->relisshared,
						 Max(new_live_tuples, 0),
						 vs->recently_dead + vs->missed_dead);

	if (vs->verbose)
		ph_vac_report(vs, new_live_tuples, frozenxid_updated,
					  minmulti_updated);

	for (int i = 0; i < vs->nindexes; i++)
	{
		if (vs->indstats[i])
			pfree(vs->indstats[i]);
	}
	vac_close_indexes(vs->nindexes, vs->indrels, NoLock);

	pgstat_progress_end_command();
}
