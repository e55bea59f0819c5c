/*-------------------------------------------------------------------------
 *
 * scan.c
 *	  Scans of phantom tables that walk vblocks: sequential scans (forward,
 *	  backward, synchronized, parallel, limited to a block range), TID
 *	  range scans, bitmap heap scans, TABLESAMPLE and ANALYZE.
 *
 *	  Every scan reads a vblock in "page mode": ph_scan_load opens the
 *	  vblock, takes the share lock of a hot page, decides the visibility of
 *	  each tuple (setting hint bits), remembers the visible offsets in
 *	  rs_vistuples and drops the lock.  The tuples are then returned one by
 *	  one while the hot page stays pinned: pruning needs a cleanup lock, so
 *	  no tuple can move under a pinned page, and the storage layer never
 *	  relocates a pinned hot page (include/phantom/lsm/storage.h).  Cold
 *	  vblocks are private, read-only images whose tuples are frozen and
 *	  visible to every snapshot; their tuples are copied into the slot.
 *
 *	  Unlike heap, phantom uses page mode for every snapshot type (heap
 *	  switches to tuple-at-a-time for non-MVCC snapshots); visibility is
 *	  then decided when the page is read rather than when the tuple is
 *	  returned, which no caller of those scans can tell apart.
 *
 *	  Block numbers here are always vblocks; rs_nblocks is read from the
 *	  metapage (ph_nvblocks) when the scan starts.
 *
 * src/tableam/scan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/relscan.h"
#include "access/syncscan.h"
#include "access/tableam.h"
#include "access/tsmapi.h"
#include "access/valid.h"
#include "access/visibilitymap.h"
#include "miscadmin.h"
#include "nodes/tidbitmap.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/predicate.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "phantom/lsm/storage.h"
#include "phantom/mvcc/prune.h"
#include "phantom/mvcc/visibility.h"
#include "phantom/tableam/index.h"
#include "phantom/tableam/scan.h"

/*
 * ph_store_tuple puts tuple, which lives on the opened vblock pg, into a
 * BufferHeapTupleTableSlot.  A hot tuple is stored by reference with a pin
 * of its own; a cold tuple lives in a private image that goes away with
 * the page, so it is copied (ExecStoreBufferHeapTuple needs a buffer).
 */
void
ph_store_tuple(HeapTuple tuple, const PhPage *pg, TupleTableSlot *slot)
{
	if (!pg->cold)
		ExecStoreBufferHeapTuple(tuple, slot, pg->buf);
	else
	{
		ExecForceStoreHeapTuple(tuple, slot, false);
		slot->tts_tid = tuple->t_self;
		slot->tts_tableOid = tuple->t_tableOid;
	}
}

/* Close the current vblock of the scan, if any. */
static void
ph_scan_release(PhScanDesc scan)
{
	if (scan->rs_haspage)
	{
		ph_page_close(&scan->rs_cpage);
		scan->rs_haspage = false;
	}
	scan->rs_ntuples = 0;
	scan->rs_cindex = 0;
	scan->rs_cmaxoff = InvalidOffsetNumber;
}

/*
 * ph_scan_open opens vblock for the scan (cold images go to the scan's
 * memory context) and returns false if the vblock holds nothing.
 */
static bool
ph_scan_open(PhScanDesc scan, BlockNumber vblock)
{
	MemoryContext oldcxt;
	bool		exists;

	ph_scan_release(scan);
	scan->rs_cblock = vblock;

	oldcxt = MemoryContextSwitchTo(scan->rs_cxt);
	exists = ph_page_open_strategy(scan->rs_base.rs_rd, vblock,
								   &scan->rs_cpage, scan->rs_strategy);
	MemoryContextSwitchTo(oldcxt);

	scan->rs_haspage = exists;
	return exists;
}

/* Make *tup describe the item at offnum of the scan's current vblock. */
static inline void
ph_scan_settuple(PhScanDesc scan, OffsetNumber offnum, HeapTuple tup)
{
	Page		page = scan->rs_cpage.page;
	ItemId		lp = PageGetItemId(page, offnum);

	tup->t_data = (HeapTupleHeader) PageGetItem(page, lp);
	tup->t_len = ItemIdGetLength(lp);
	tup->t_tableOid = RelationGetRelid(scan->rs_base.rs_rd);
	ItemPointerSet(&tup->t_self, scan->rs_cblock, offnum);
}

/*
 * ph_scan_load reads vblock in page mode: fills rs_vistuples with the
 * offsets of the tuples visible to the scan's snapshot that pass the scan
 * keys.  Hot pages are pruned opportunistically first, like heap does.
 */
static void
ph_scan_load(PhScanDesc scan, BlockNumber vblock)
{
	Relation	rel = scan->rs_base.rs_rd;
	Snapshot	snapshot = scan->rs_base.rs_snapshot;
	PhPage	   *pg = &scan->rs_cpage;
	Page		page;
	OffsetNumber maxoff;
	OffsetNumber off;
	bool		all_visible;
	int			n = 0;

	CHECK_FOR_INTERRUPTS();

	if (!ph_scan_open(scan, vblock))
		return;

	if (!pg->cold)
	{
		ph_page_prune_opt(rel, pg->buf, vblock);
		LockBuffer(pg->buf, BUFFER_LOCK_SHARE);
	}
	page = pg->page;
	maxoff = PageGetMaxOffsetNumber(page);

	/*
	 * Cold tuples are frozen and never deleted, and an all-visible hot page
	 * holds only tuples every MVCC snapshot sees (not so for a snapshot
	 * taken during recovery: the VM bit may be ahead of it).
	 */
	all_visible = snapshot->snapshot_type == SNAPSHOT_MVCC &&
		(pg->cold ||
		 (PageIsAllVisible(page) && !snapshot->takenDuringRecovery));

	for (off = FirstOffsetNumber; off <= maxoff; off = OffsetNumberNext(off))
	{
		ItemId		lp = PageGetItemId(page, off);
		HeapTupleData tup;
		bool		valid;

		if (!ItemIdIsNormal(lp))
			continue;
		ph_scan_settuple(scan, off, &tup);

		if (all_visible)
			valid = true;
		else
			valid = ph_tuple_visible(&tup, snapshot, pg->buf);

		HeapCheckForSerializableConflictOut(valid, rel, &tup, pg->buf,
											snapshot);

		if (valid && scan->rs_base.rs_nkeys > 0)
			HeapKeyTest(&tup, RelationGetDescr(rel), scan->rs_base.rs_nkeys,
						scan->rs_base.rs_key, valid);
		if (valid)
			scan->rs_vistuples[n++] = off;
	}

	if (!pg->cold)
		LockBuffer(pg->buf, BUFFER_LOCK_UNLOCK);

	scan->rs_ntuples = n;
	scan->rs_cmaxoff = maxoff;
}

/*
 * ph_initscan (re)sets the scan to its start, as heap's initscan does:
 * reads the number of vblocks, decides about synchronized scanning and
 * the start block.  keep_startblock keeps the start block of a rescan so
 * that rewinding a cursor returns the rows in the same order.
 */
static void
ph_initscan(PhScanDesc scan, ScanKey key, bool keep_startblock)
{
	Relation	rel = scan->rs_base.rs_rd;
	ParallelBlockTableScanDesc pbscan =
		(ParallelBlockTableScanDesc) scan->rs_base.rs_parallel;
	bool		big;
	bool		allow_sync;

	if (pbscan != NULL)
		scan->rs_nblocks = pbscan->phs_nblocks;
	else
		scan->rs_nblocks = ph_nvblocks(rel);

	/*
	 * A bulk-read buffer ring and synchronized scans only pay off on tables
	 * that do not fit in a quarter of shared buffers (heap's rule), and
	 * never on local buffers.  A rescan keeps its ring.
	 */
	big = !RelationUsesLocalBuffers(rel) &&
		scan->rs_nblocks > (BlockNumber) (NBuffers / 4);
	allow_sync = big && (scan->rs_base.rs_flags & SO_ALLOW_SYNC) != 0;
	if (big && (scan->rs_base.rs_flags & SO_ALLOW_STRAT) != 0)
	{
		if (scan->rs_strategy == NULL)
			scan->rs_strategy = GetAccessStrategy(BAS_BULKREAD);
	}
	else if (scan->rs_strategy != NULL)
	{
		FreeAccessStrategy(scan->rs_strategy);
		scan->rs_strategy = NULL;
	}

	if (pbscan != NULL)
	{
		if (pbscan->base.phs_syncscan)
			scan->rs_base.rs_flags |= SO_ALLOW_SYNC;
		else
			scan->rs_base.rs_flags &= ~SO_ALLOW_SYNC;
	}
	else if (keep_startblock)
	{
		if (allow_sync && synchronize_seqscans)
			scan->rs_base.rs_flags |= SO_ALLOW_SYNC;
		else
			scan->rs_base.rs_flags &= ~SO_ALLOW_SYNC;
	}
	else if (allow_sync && synchronize_seqscans)
	{
		scan->rs_base.rs_flags |= SO_ALLOW_SYNC;
		scan->rs_startblock = ss_get_location(rel, scan->rs_nblocks);
	}
	else
	{
		scan->rs_base.rs_flags &= ~SO_ALLOW_SYNC;
		scan->rs_startblock = 0;
	}

	scan->rs_numblocks = InvalidBlockNumber;
	scan->rs_inited = false;
	scan->rs_cblock = InvalidBlockNumber;
	ph_scan_release(scan);

	if (key != NULL && scan->rs_base.rs_nkeys > 0)
		memcpy(scan->rs_base.rs_key, key,
			   scan->rs_base.rs_nkeys * sizeof(ScanKeyData));

	if (scan->rs_base.rs_flags & SO_TYPE_SEQSCAN)
		pgstat_count_heap_scan(rel);
}

/*
 * ph_scan_setlimits restricts a scan that has not started to numblocks
 * vblocks from startblock (heap_setscanlimits).
 */
void
ph_scan_setlimits(TableScanDesc sscan, BlockNumber startblock,
				  BlockNumber numblocks)
{
	PhScanDesc	scan = (PhScanDesc) sscan;

	Assert(!scan->rs_inited);
	scan->rs_startblock = startblock;
	scan->rs_numblocks = numblocks;
}

TableScanDesc
phantom_scan_begin(Relation rel, Snapshot snapshot, int nkeys,
				   struct ScanKeyData *key, ParallelTableScanDesc pscan,
				   uint32 flags)
{
	PhScanDesc	scan;

	RelationIncrementReferenceCount(rel);

	scan = (PhScanDesc) palloc0(sizeof(PhScanDescData));
	scan->rs_base.rs_rd = rel;
	scan->rs_base.rs_snapshot = snapshot;
	scan->rs_base.rs_nkeys = nkeys;
	scan->rs_base.rs_flags = flags;
	scan->rs_base.rs_parallel = pscan;
	scan->rs_strategy = NULL;
	scan->rs_cxt = CurrentMemoryContext;
	scan->rs_cblock = InvalidBlockNumber;

	/*
	 * Seq and sample scans of a serializable transaction lock the whole
	 * relation: there is nothing finer to lock, and the lock must also
	 * conflict with later insertions.
	 */
	if (flags & (SO_TYPE_SEQSCAN | SO_TYPE_SAMPLESCAN))
		PredicateLockRelation(rel, snapshot);

	if (pscan != NULL)
		scan->rs_pworker = palloc0(sizeof(ParallelBlockTableScanWorkerData));

	if (nkeys > 0)
		scan->rs_base.rs_key = (ScanKey) palloc(sizeof(ScanKeyData) * nkeys);

	ph_initscan(scan, key, false);

	return (TableScanDesc) scan;
}

void
phantom_scan_rescan(TableScanDesc sscan, struct ScanKeyData *key,
					bool set_params, bool allow_strat, bool allow_sync,
					bool allow_pagemode)
{
	PhScanDesc	scan = (PhScanDesc) sscan;

	if (set_params)
	{
		if (allow_strat)
			sscan->rs_flags |= SO_ALLOW_STRAT;
		else
			sscan->rs_flags &= ~SO_ALLOW_STRAT;
		if (allow_sync)
			sscan->rs_flags |= SO_ALLOW_SYNC;
		else
			sscan->rs_flags &= ~SO_ALLOW_SYNC;
		if (allow_pagemode)
			sscan->rs_flags |= SO_ALLOW_PAGEMODE;
		else
			sscan->rs_flags &= ~SO_ALLOW_PAGEMODE;
	}

	ph_initscan(scan, key, true);
}

void
phantom_scan_end(TableScanDesc sscan)
{
	PhScanDesc	scan = (PhScanDesc) sscan;

	ph_scan_release(scan);
	RelationDecrementReferenceCount(sscan->rs_rd);

	if (sscan->rs_key)
		pfree(sscan->rs_key);
	if (scan->rs_strategy)
		FreeAccessStrategy(scan->rs_strategy);
	if (scan->rs_pworker)
		pfree(scan->rs_pworker);
	if (sscan->rs_flags & SO_TEMP_SNAPSHOT)
		UnregisterSnapshot(sscan->rs_snapshot);

	pfree(scan);
}

/*
 * ph_scan_first_block returns the vblock a scan in direction dir starts
 * at, or InvalidBlockNumber if there is nothing to scan.
 */
static BlockNumber
ph_scan_first_block(PhScanDesc scan, ScanDirection dir)
{
	Relation	rel = scan->rs_base.rs_rd;

	if (scan->rs_base.rs_parallel != NULL)
	{
		ParallelBlockTableScanDesc pbscan =
			(ParallelBlockTableScanDesc) scan->rs_base.rs_parallel;

		if (ScanDirectionIsBackward(dir))
			elog(ERROR, "backward parallel scans are not supported");
		table_block_parallelscan_startblock_init(rel, scan->rs_pworker,
												 pbscan);
		return table_block_parallelscan_nextpage(rel, scan->rs_pworker,
												 pbscan);
	}

	if (scan->rs_nblocks == 0 || scan->rs_numblocks == 0 ||
		scan->rs_startblock >= scan->rs_nblocks)
		return InvalidBlockNumber;

	if (ScanDirectionIsForward(dir))
		return scan->rs_startblock;

	/*
	 * A backward scan starts at the last block of its range.  It does not
	 * take part in synchronized scanning: it would only mislead forward
	 * scanners.
	 */
	scan->rs_base.rs_flags &= ~SO_ALLOW_SYNC;
	if (scan->rs_numblocks != InvalidBlockNumber)
		return Min(scan->rs_startblock + scan->rs_numblocks - 1,
				   scan->rs_nblocks - 1);
	if (scan->rs_startblock > 0)
		return scan->rs_startblock - 1;
	return scan->rs_nblocks - 1;
}

/*
 * ph_scan_next_block returns the vblock after block in direction dir, or
 * InvalidBlockNumber when the scan has covered its range.  A limited scan
 * (ph_scan_setlimits) covers rs_numblocks vblocks from rs_startblock, never
 * past the last vblock; an unlimited one covers every vblock from
 * rs_startblock on, wrapping around at the end (a synchronized scan may
 * start in the middle).  The range is not consumed as the scan advances,
 * so a cursor may change direction any number of times.
 */
static BlockNumber
ph_scan_next_block(PhScanDesc scan, ScanDirection dir, BlockNumber block)
{
	BlockNumber nblocks = scan->rs_nblocks;
	BlockNumber next;

	if (scan->rs_base.rs_parallel != NULL)
		return table_block_parallelscan_nextpage(scan->rs_base.rs_rd,
												 scan->rs_pworker,
												 (ParallelBlockTableScanDesc) scan->rs_base.rs_parallel);

	if (ScanDirectionIsBackward(dir))
	{
		/* the range ends at its first block */
		if (block == scan->rs_startblock)
			return InvalidBlockNumber;
		return block == 0 ? nblocks - 1 : block - 1;
	}

	if (scan->rs_numblocks != InvalidBlockNumber)
	{
		next = block + 1;
		if (next >= nblocks || next - scan->rs_startblock >= scan->rs_numblocks)
			return InvalidBlockNumber;
		return next;
	}

	next = (block + 1 >= nblocks) ? 0 : block + 1;

	/* report where we are even when finished: next scans start here */
	if (scan->rs_base.rs_flags & SO_ALLOW_SYNC)
		ss_report_location(scan->rs_base.rs_rd, next);

	return next == scan->rs_startblock ? InvalidBlockNumber : next;
}

/* End of scan: release the page, so that a new fetch restarts the scan. */
static void
ph_scan_finish(PhScanDesc scan)
{
	ph_scan_release(scan);
	scan->rs_cblock = InvalidBlockNumber;
	scan->rs_inited = false;
	scan->rs_ctup.t_data = NULL;
}

/*
 * ph_scan_next_tuple returns the next visible tuple in direction dir (in
 * scan->rs_ctup, pointing into the current vblock), or NULL at the end.
 * After the end, a fetch in the other direction starts over from that
 * end, as cursors expect.
 */
HeapTuple
ph_scan_next_tuple(PhScanDesc scan, ScanDirection dir)
{
	bool		forward = ScanDirectionIsForward(dir);
	BlockNumber block;
	int			idx;

	if (ScanDirectionIsNoMovement(dir))
	{
		/* refetch the current tuple */
		if (!scan->rs_inited || scan->rs_cindex < 0 ||
			scan->rs_cindex >= scan->rs_ntuples)
			return NULL;
		ph_scan_settuple(scan, scan->rs_vistuples[scan->rs_cindex],
						 &scan->rs_ctup);
		return &scan->rs_ctup;
	}

	if (!scan->rs_inited)
	{
		block = ph_scan_first_block(scan, dir);
		if (block == InvalidBlockNumber)
		{
			ph_scan_finish(scan);
			return NULL;
		}
		scan->rs_inited = true;
		ph_scan_load(scan, block);
		idx = forward ? 0 : scan->rs_ntuples - 1;
	}
	else
		idx = scan->rs_cindex + (forward ? 1 : -1);

	for (;;)
	{
		if (idx >= 0 && idx < scan->rs_ntuples)
		{
			scan->rs_cindex = idx;
			ph_scan_settuple(scan, scan->rs_vistuples[idx], &scan->rs_ctup);
			return &scan->rs_ctup;
		}

		block = ph_scan_next_block(scan, dir, scan->rs_cblock);
		if (block == InvalidBlockNumber)
		{
			ph_scan_finish(scan);
			return NULL;
		}
		ph_scan_load(scan, block);
		idx = forward ? 0 : scan->rs_ntuples - 1;
	}
}

bool
phantom_scan_getnextslot(TableScanDesc sscan, ScanDirection direction,
						 TupleTableSlot *slot)
{
	PhScanDesc	scan = (PhScanDesc) sscan;
	HeapTuple	tuple = ph_scan_next_tuple(scan, direction);

	if (tuple == NULL)
	{
		ExecClearTuple(slot);
		return false;
	}
	pgstat_count_heap_getnext(sscan->rs_rd);
	ph_store_tuple(tuple, &scan->rs_cpage, slot);
	return true;
}

/* ------------------------------------------------------------------------
 * TID range scans
 * ------------------------------------------------------------------------
 */

/*
 * Clamp [mintid, maxtid] to the TIDs that can exist and limit the scan to
 * the vblocks they span.
 */
void
phantom_scan_set_tidrange(TableScanDesc sscan, ItemPointer mintid,
						  ItemPointer maxtid)
{
	PhScanDesc	scan = (PhScanDesc) sscan;
	ItemPointerData lo;
	ItemPointerData hi;

	/* no vblocks, no tuples: the range does not matter */
	if (scan->rs_nblocks == 0)
		return;

	ItemPointerSet(&lo, 0, FirstOffsetNumber);
	ItemPointerSet(&hi, scan->rs_nblocks - 1, MaxOffsetNumber);
	if (ItemPointerCompare(mintid, &lo) > 0)
		ItemPointerCopy(mintid, &lo);
	if (ItemPointerCompare(maxtid, &hi) < 0)
		ItemPointerCopy(maxtid, &hi);

	if (ItemPointerCompare(&hi, &lo) < 0)
	{
		ph_scan_setlimits(sscan, 0, 0);
		return;
	}

	ph_scan_setlimits(sscan, ItemPointerGetBlockNumberNoCheck(&lo),
					  ItemPointerGetBlockNumberNoCheck(&hi) -
					  ItemPointerGetBlockNumberNoCheck(&lo) + 1);
	ItemPointerCopy(&lo, &sscan->rs_mintid);
	ItemPointerCopy(&hi, &sscan->rs_maxtid);
}

bool
phantom_scan_getnextslot_tidrange(TableScanDesc sscan, ScanDirection direction,
								  TupleTableSlot *slot)
{
	PhScanDesc	scan = (PhScanDesc) sscan;
	HeapTuple	tuple;

	for (;;)
	{
		tuple = ph_scan_next_tuple(scan, direction);
		if (tuple == NULL)
		{
			ExecClearTuple(slot);
			return false;
		}

		/*
		 * The first and last vblocks of the range may hold tuples outside
		 * it; once past the end in the scan's direction, stop.
		 */
		if (ItemPointerCompare(&tuple->t_self, &sscan->rs_mintid) < 0)
		{
			if (ScanDirectionIsBackward(direction))
			{
				ExecClearTuple(slot);
				return false;
			}
			continue;
		}
		if (ItemPointerCompare(&tuple->t_self, &sscan->rs_maxtid) > 0)
		{
			if (ScanDirectionIsForward(direction))
			{
				ExecClearTuple(slot);
				return false;
			}
			continue;
		}
		break;
	}

	pgstat_count_heap_getnext(sscan->rs_rd);
	ph_store_tuple(tuple, &scan->rs_cpage, slot);
	return true;
}

/* ------------------------------------------------------------------------
 * Parallel sequential scans: the generic block-based protocol works on
 * vblocks unchanged (its block count comes from relation_size).
 * ------------------------------------------------------------------------
 */

Size
phantom_parallelscan_estimate(Relation rel)
{
	return table_block_parallelscan_estimate(rel);
}

Size
phantom_parallelscan_initialize(Relation rel, ParallelTableScanDesc pscan)
{
	return table_block_parallelscan_initialize(rel, pscan);
}

void
phantom_parallelscan_reinitialize(Relation rel, ParallelTableScanDesc pscan)
{
	table_block_parallelscan_reinitialize(rel, pscan);
}

/* ------------------------------------------------------------------------
 * Bitmap heap scans
 * ------------------------------------------------------------------------
 */

/*
 * Read one vblock of the bitmap.  Exact entries are HOT chain roots (an
 * index points at the root of a chain), so each one is resolved with
 * ph_hot_search; lossy vblocks are checked tuple by tuple.  Returns false
 * if nothing on the vblock is visible.
 */
bool
phantom_scan_bitmap_next_block(TableScanDesc sscan,
							   struct TBMIterateResult *tbmres)
{
	PhScanDesc	scan = (PhScanDesc) sscan;
	Relation	rel = sscan->rs_rd;
	Snapshot	snapshot = sscan->rs_snapshot;
	BlockNumber block = tbmres->blockno;
	PhPage	   *pg = &scan->rs_cpage;
	int			n = 0;

	ph_scan_release(scan);

	/*
	 * vblocks added after the scan started hold nothing our snapshot can
	 * see (and the bitmap may come from an index that is newer).
	 */
	if (block >= scan->rs_nblocks)
		return false;
	if (!ph_scan_open(scan, block))
		return false;

	if (!pg->cold)
	{
		ph_page_prune_opt(rel, pg->buf, block);
		LockBuffer(pg->buf, BUFFER_LOCK_SHARE);
	}

	if (tbmres->ntuples >= 0)
	{
		for (int i = 0; i < tbmres->ntuples; i++)
		{
			ItemPointerData tid;
			HeapTupleData tup;

			ItemPointerSet(&tid, block, tbmres->offsets[i]);
			if (ph_hot_search(rel, pg, &tid, snapshot, &tup, NULL, true))
				scan->rs_vistuples[n++] = ItemPointerGetOffsetNumber(&tid);
		}
	}
	else
	{
		Page		page = pg->page;
		OffsetNumber maxoff = PageGetMaxOffsetNumber(page);

		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		{
			ItemId		lp = PageGetItemId(page, off);
			HeapTupleData tup;
			bool		valid;

			if (!ItemIdIsNormal(lp))
				continue;
			ph_scan_settuple(scan, off, &tup);
			valid = ph_tuple_visible(&tup, snapshot, pg->buf);
			if (valid)
			{
				scan->rs_vistuples[n++] = off;
				PredicateLockTID(rel, &tup.t_self, snapshot,
								 HeapTupleHeaderGetXmin(tup.t_data));
			}
			HeapCheckForSerializableConflictOut(valid, rel, &tup, pg->buf,
												snapshot);
		}
	}

	if (!pg->cold)
		LockBuffer(pg->buf, BUFFER_LOCK_UNLOCK);

	scan->rs_cindex = 0;
	scan->rs_ntuples = n;
	return n > 0;
}

bool
phantom_scan_bitmap_next_tuple(TableScanDesc sscan,
							   struct TBMIterateResult *tbmres,
							   TupleTableSlot *slot)
{
	PhScanDesc	scan = (PhScanDesc) sscan;

	if (scan->rs_cindex < 0 || scan->rs_cindex >= scan->rs_ntuples)
		return false;

	ph_scan_settuple(scan, scan->rs_vistuples[scan->rs_cindex],
					 &scan->rs_ctup);
	pgstat_count_heap_fetch(sscan->rs_rd);
	ph_store_tuple(&scan->rs_ctup, &scan->rs_cpage, slot);
	scan->rs_cindex++;
	return true;
}

/* ------------------------------------------------------------------------
 * TABLESAMPLE
 * ------------------------------------------------------------------------
 */

/*
 * Pick the next vblock to sample: the sampling method chooses (SYSTEM), or
 * the scan walks every vblock from its (possibly synchronized) start
 * (BERNOULLI).
 */
bool
phantom_scan_sample_next_block(TableScanDesc sscan,
							   struct SampleScanState *scanstate)
{
	PhScanDesc	scan = (PhScanDesc) sscan;
	TsmRoutine *tsm = scanstate->tsmroutine;
	BlockNumber block;

	if (scan->rs_nblocks == 0)
		return false;

	if (tsm->NextSampleBlock)
		block = tsm->NextSampleBlock(scanstate, scan->rs_nblocks);
	else if (!scan->rs_inited)
		block = scan->rs_startblock;
	else
	{
		block = scan->rs_cblock + 1;
		if (block >= scan->rs_nblocks)
			block = 0;

		/*
		 * Report before testing for the end, so that the position hint
		 * ends where this scan started.
		 */
		if (sscan->rs_flags & SO_ALLOW_SYNC)
			ss_report_location(sscan->rs_rd, block);
		if (block == scan->rs_startblock)
			block = InvalidBlockNumber;
	}

	if (!BlockNumberIsValid(block))
	{
		ph_scan_finish(scan);
		return false;
	}

	ph_scan_load(scan, block);
	scan->rs_cblock = block;
	scan->rs_inited = true;
	return true;
}

/* Binary search of offnum among the visible offsets of the current page. */
static bool
ph_scan_offset_visible(PhScanDesc scan, OffsetNumber offnum)
{
	int			lo = 0;
	int			hi = scan->rs_ntuples - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		OffsetNumber cur = scan->rs_vistuples[mid];

		if (cur == offnum)
			return true;
		if (cur < offnum)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

bool
phantom_scan_sample_next_tuple(TableScanDesc sscan,
							   struct SampleScanState *scanstate,
							   TupleTableSlot *slot)
{
	PhScanDesc	scan = (PhScanDesc) sscan;
	TsmRoutine *tsm = scanstate->tsmroutine;
	OffsetNumber maxoff = scan->rs_cmaxoff;

	for (;;)
	{
		OffsetNumber off;

		CHECK_FOR_INTERRUPTS();

		/* an empty vblock still goes through the method's tuple loop */
		off = tsm->NextSampleTuple(scanstate, scan->rs_cblock,
								   OffsetNumberIsValid(maxoff) ? maxoff : 0);
		if (!OffsetNumberIsValid(off))
			break;
		if (!scan->rs_haspage || !ph_scan_offset_visible(scan, off))
			continue;

		ph_scan_settuple(scan, off, &scan->rs_ctup);
		pgstat_count_heap_getnext(sscan->rs_rd);
		ph_store_tuple(&scan->rs_ctup, &scan->rs_cpage, slot);
		return true;
	}

	ExecClearTuple(slot);
	return false;
}

/* ------------------------------------------------------------------------
 * ANALYZE
 * ------------------------------------------------------------------------
 */

/*
 * Open the sampled vblock.  A hot page stays share-locked until
 * phantom_scan_analyze_next_tuple has looked at all its items, like heap.
 */
bool
phantom_scan_analyze_next_block(TableScanDesc sscan, BlockNumber blockno,
								BufferAccessStrategy bstrategy)
{
	PhScanDesc	scan = (PhScanDesc) sscan;

	/* ANALYZE's own ring for this vblock (the scan has none) */
	scan->rs_strategy = bstrategy;
	if (ph_scan_open(scan, blockno) && !scan->rs_cpage.cold)
		LockBuffer(scan->rs_cpage.buf, BUFFER_LOCK_SHARE);
	scan->rs_strategy = NULL;
	scan->rs_analyze_off = FirstOffsetNumber;
	return true;
}

/*
 * Return the next tuple of the vblock that ANALYZE should sample, counting
 * live and dead rows the way heap does: in-progress inserts count (and
 * are sampled) only when they are ours, in-progress deletes count as live
 * unless they are ours, dead line pointers count as dead.
 */
bool
phantom_scan_analyze_next_tuple(TableScanDesc sscan, TransactionId OldestXmin,
								double *liverows, double *deadrows,
								TupleTableSlot *slot)
{
	PhScanDesc	scan = (PhScanDesc) sscan;
	PhPage	   *pg = &scan->rs_cpage;
	Page		page;
	OffsetNumber maxoff;

	if (!scan->rs_haspage)
	{
		ExecClearTuple(slot);
		return false;
	}

	page = pg->page;
	maxoff = PageGetMaxOffsetNumber(page);
	for (; scan->rs_analyze_off <= maxoff; scan->rs_analyze_off++)
	{
		OffsetNumber off = scan->rs_analyze_off;
		ItemId		lp = PageGetItemId(page, off);
		HeapTupleData tup;
		bool		sample = false;

		if (!ItemIdIsNormal(lp))
		{
			if (ItemIdIsDead(lp))
				*deadrows += 1;
			continue;
		}
		ph_scan_settuple(scan, off, &tup);

		if (pg->cold)
		{
			sample = true;
			*liverows += 1;
		}
		else
		{
			switch (ph_tuple_satisfies_vacuum(&tup, OldestXmin, pg->buf))
			{
				case HEAPTUPLE_LIVE:
					sample = true;
					*liverows += 1;
					break;
				case HEAPTUPLE_DEAD:
				case HEAPTUPLE_RECENTLY_DEAD:
					*deadrows += 1;
					break;
				case HEAPTUPLE_INSERT_IN_PROGRESS:
					if (TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tup.t_data)))
					{
						sample = true;
						*liverows += 1;
					}
					break;
				case HEAPTUPLE_DELETE_IN_PROGRESS:
					if (TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetUpdateXid(tup.t_data)))
						*deadrows += 1;
					else
					{
						sample = true;
						*liverows += 1;
					}
					break;
				default:
					elog(ERROR, "unexpected HeapTupleSatisfiesVacuum result");
					break;
			}
		}

		if (sample)
		{
			scan->rs_analyze_off++;
			scan->rs_ctup = tup;
			ph_store_tuple(&scan->rs_ctup, pg, slot);
			return true;
		}
	}

	/* done with this vblock */
	if (!pg->cold)
		LockBuffer(pg->buf, BUFFER_LOCK_UNLOCK);
	ph_scan_release(scan);
	ExecClearTuple(slot);
	return false;
}
