/*-------------------------------------------------------------------------
 *
 * index.c
 *	  Index support of phantom tables: index fetches, index builds and the
 *	  validation scan of CREATE INDEX CONCURRENTLY.
 *
 *	  Index entries point at HOT chain roots, exactly as with heap: an
 *	  UPDATE that changes no indexed column and fits on the same hot page
 *	  makes a heap-only tuple (HEAP_ONLY_TUPLE) chained from its
 *	  predecessor (HEAP_HOT_UPDATED, t_ctid), and pruning may turn a root
 *	  into an LP_REDIRECT.  A TID's block is a vblock; ph_hot_search walks
 *	  a chain on the page the vblock currently lives in (hot buffer or cold
 *	  image), so it cannot use heap_hot_search_buffer, which takes the
 *	  buffer's block number for the TID's.
 *
 *	  Locking: a fetch pins the hot page for as long as the returned tuple
 *	  is in use and holds its share lock only while walking the chain.
 *
 * src/tableam/index.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/relscan.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/catalog.h"
#include "commands/progress.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/predicate.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplesort.h"

#include "phantom/lsm/storage.h"
#include "phantom/mvcc/prune.h"
#include "phantom/mvcc/visibility.h"
#include "phantom/tableam/index.h"
#include "phantom/tableam/scan.h"

/* State of an index fetch: the vblock of the last fetched tuple. */
typedef struct PhIndexFetchData
{
	IndexFetchTableData xs_base;	/* AM-independent part, must be first */
	PhPage		xs_page;		/* opened vblock */
	bool		xs_haspage;
	MemoryContext xs_cxt;		/* where cold images live */
} PhIndexFetchData;

/*
 * ph_hot_search: see include/phantom/tableam/index.h.
 *
 * The chain is followed while each member's xmin equals its
 * predecessor's update xid; a redirect is followed only at the root.
 * Members are tested with the snapshot; serializable conflicts are
 * checked for each tested member and the visible one is predicate-locked.
 */
bool
ph_hot_search(Relation rel, const PhPage *pg, ItemPointer tid,
			  Snapshot snapshot, HeapTuple tuple, bool *all_dead,
			  bool first_call)
{
	Page		page = pg->page;
	OffsetNumber offnum = ItemPointerGetOffsetNumber(tid);
	TransactionId prev_xmax = InvalidTransactionId;
	GlobalVisState *vistest = NULL;
	bool		at_root = first_call;
	bool		skip = !first_call;

	/* all_dead stays true only if we look at the whole chain */
	if (all_dead)
		*all_dead = first_call;

	for (;;)
	{
		ItemId		lp;

		if (offnum < FirstOffsetNumber || offnum > PageGetMaxOffsetNumber(page))
			break;
		lp = PageGetItemId(page, offnum);

		if (!ItemIdIsNormal(lp))
		{
			if (ItemIdIsRedirected(lp) && at_root)
			{
				offnum = ItemIdGetRedirect(lp);
				at_root = false;
				continue;
			}
			/* unused or dead: the chain ends here */
			break;
		}

		tuple->t_data = (HeapTupleHeader) PageGetItem(page, lp);
		tuple->t_len = ItemIdGetLength(lp);
		tuple->t_tableOid = RelationGetRelid(rel);
		ItemPointerSet(&tuple->t_self, pg->vblock, offnum);

		/* a heap-only tuple cannot be the root a TID points at */
		if (at_root && HeapTupleIsHeapOnly(tuple))
			break;

		/* the successor must have been created by the predecessor's updater */
		if (TransactionIdIsValid(prev_xmax) &&
			!TransactionIdEquals(prev_xmax,
								 HeapTupleHeaderGetXmin(tuple->t_data)))
			break;

		if (!skip)
		{
			bool		valid = ph_tuple_visible(tuple, snapshot, pg->buf);

			HeapCheckForSerializableConflictOut(valid, rel, tuple, pg->buf,
												snapshot);
			if (valid)
			{
				ItemPointerSetOffsetNumber(tid, offnum);
				PredicateLockTID(rel, &tuple->t_self, snapshot,
								 HeapTupleHeaderGetXmin(tuple->t_data));
				if (all_dead)
					*all_dead = false;
				return true;
			}
		}
		skip = false;

		/*
		 * A member that is not surely dead to everyone (cheap check, no
		 * clog) means the index entry must stay.
		 */
		if (all_dead && *all_dead)
		{
			if (vistest == NULL)
				vistest = GlobalVisTestFor(rel);
			if (!ph_tuple_surely_dead(tuple, vistest))
				*all_dead = false;
		}

		if (!HeapTupleIsHotUpdated(tuple))
			break;
		offnum = ItemPointerGetOffsetNumber(&tuple->t_data->t_ctid);
		prev_xmax = HeapTupleHeaderGetUpdateXid(tuple->t_data);
		at_root = false;
	}

	return false;
}

struct IndexFetchTableData *
phantom_index_fetch_begin(Relation rel)
{
	PhIndexFetchData *f = palloc0(sizeof(PhIndexFetchData));

	f->xs_base.rel = rel;
	f->xs_haspage = false;
	f->xs_cxt = CurrentMemoryContext;
	return &f->xs_base;
}

void
phantom_index_fetch_reset(struct IndexFetchTableData *data)
{
	PhIndexFetchData *f = (PhIndexFetchData *) data;

	if (f->xs_haspage)
	{
		ph_page_close(&f->xs_page);
		f->xs_haspage = false;
	}
}

void
phantom_index_fetch_end(struct IndexFetchTableData *data)
{
	phantom_index_fetch_reset(data);
	pfree(data);
}

/*
 * Fetch the member of the HOT chain rooted at *tid visible to snapshot.
 * Consecutive fetches of the same vblock keep its page open.  With a
 * non-MVCC snapshot several members may qualify: *call_again asks the
 * caller to come back for the next one.
 */
bool
phantom_index_fetch_tuple(struct IndexFetchTableData *data, ItemPointer tid,
						  Snapshot snapshot, TupleTableSlot *slot,
						  bool *call_again, bool *all_dead)
{
	PhIndexFetchData *f = (PhIndexFetchData *) data;
	BufferHeapTupleTableSlot *bslot = (BufferHeapTupleTableSlot *) slot;
	Relation	rel = data->rel;
	BlockNumber block = ItemPointerGetBlockNumber(tid);
	bool		found;

	Assert(TTS_IS_BUFFERTUPLE(slot));

	if (!*call_again && (!f->xs_haspage || f->xs_page.vblock != block))
	{
		MemoryContext oldcxt;

		phantom_index_fetch_reset(data);
		oldcxt = MemoryContextSwitchTo(f->xs_cxt);
		f->xs_haspage = ph_page_open(rel, block, &f->xs_page);
		MemoryContextSwitchTo(oldcxt);
		if (!f->xs_haspage)
		{
			/* a vblock that does not exist (yet): nothing to see */
			if (all_dead)
				*all_dead = false;
			return false;
		}
		if (!f->xs_page.cold)
			ph_page_prune_opt(rel, f->xs_page.buf, block);
	}
	if (!f->xs_haspage)
	{
		*call_again = false;
		return false;
	}

	if (!f->xs_page.cold)
		LockBuffer(f->xs_page.buf, BUFFER_LOCK_SHARE);
	found = ph_hot_search(rel, &f->xs_page, tid, snapshot,
						  &bslot->base.tupdata, all_dead, !*call_again);
	bslot->base.tupdata.t_self = *tid;
	if (!f->xs_page.cold)
		LockBuffer(f->xs_page.buf, BUFFER_LOCK_UNLOCK);

	if (found)
	{
		*call_again = !IsMVCCSnapshot(snapshot);
		ph_store_tuple(&bslot->base.tupdata, &f->xs_page, slot);
	}
	else
		*call_again = false;

	return found;
}

/* ------------------------------------------------------------------------
 * Index builds
 * ------------------------------------------------------------------------
 */

/* How many vblocks of the build's scan are done (for progress reports). */
static BlockNumber
ph_scan_blocks_done(PhScanDesc scan)
{
	BlockNumber start;
	BlockNumber nblocks;

	if (scan->rs_base.rs_parallel != NULL)
	{
		ParallelBlockTableScanDesc pbscan =
			(ParallelBlockTableScanDesc) scan->rs_base.rs_parallel;

		start = pbscan->phs_startblock;
		nblocks = pbscan->phs_nblocks;
	}
	else
	{
		start = scan->rs_startblock;
		nblocks = scan->rs_nblocks;
	}
	if (scan->rs_cblock == InvalidBlockNumber)
		return 0;
	if (scan->rs_cblock >= start)
		return scan->rs_cblock - start;
	return nblocks - start + scan->rs_cblock;
}

/* Read the root offsets of the scan's current vblock. */
static void
ph_scan_root_tuples(PhScanDesc scan, OffsetNumber *root_offsets)
{
	if (!scan->rs_cpage.cold)
		LockBuffer(scan->rs_cpage.buf, BUFFER_LOCK_SHARE);
	heap_get_root_tuples(scan->rs_cpage.page, root_offsets);
	if (!scan->rs_cpage.cold)
		LockBuffer(scan->rs_cpage.buf, BUFFER_LOCK_UNLOCK);
}

/*
 * Scan the table (or the given vblock range) and hand every tuple the
 * index must contain to callback.  A normal build reads with SnapshotAny
 * and decides each tuple itself, since recently dead tuples must be
 * indexed too; a concurrent build reads with an MVCC snapshot.  A
 * heap-only tuple is indexed under the TID of its chain's root, and a
 * recently dead member of a HOT chain is left out (the index is then
 * marked unusable by older snapshots, ii_BrokenHotChain), as with heap.
 * Returns the number of live tuples seen.
 */
double
phantom_index_build_range_scan(Relation table_rel, Relation index_rel,
							   struct IndexInfo *index_info, bool allow_sync,
							   bool anyvisible, bool progress,
							   BlockNumber start_blockno,
							   BlockNumber numblocks,
							   IndexBuildCallback callback,
							   void *callback_state, TableScanDesc sscan)
{
	bool		is_system_catalog = IsSystemRelation(table_rel);
	bool		checking_uniqueness = (index_info->ii_Unique ||
									   index_info->ii_ExclusionOps != NULL);
	EState	   *estate;
	ExprContext *econtext;
	TupleTableSlot *slot;
	ExprState  *predicate;
	Snapshot	snapshot;
	bool		need_unregister_snapshot = false;
	TransactionId OldestXmin = InvalidTransactionId;
	PhScanDesc	scan;
	HeapTuple	tuple;
	double		reltuples = 0;
	BlockNumber root_blkno = InvalidBlockNumber;
	BlockNumber previous_blkno = InvalidBlockNumber;
	OffsetNumber root_offsets[MaxHeapTuplesPerPage];
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];

	Assert(OidIsValid(index_rel->rd_rel->relam));
	Assert(!(anyvisible && checking_uniqueness));

	estate = CreateExecutorState();
	econtext = GetPerTupleExprContext(estate);
	slot = table_slot_create(table_rel, NULL);
	econtext->ecxt_scantuple = slot;
	predicate = ExecPrepareQual(index_info->ii_Predicate, estate);

	/* a normal build reads everything and judges tuples at OldestXmin */
	if (!IsBootstrapProcessingMode() && !index_info->ii_Concurrent)
		OldestXmin = GetOldestNonRemovableTransactionId(table_rel);

	if (sscan == NULL)
	{
		if (!TransactionIdIsValid(OldestXmin))
		{
			snapshot = RegisterSnapshot(GetTransactionSnapshot());
			need_unregister_snapshot = true;
		}
		else
			snapshot = SnapshotAny;
		sscan = table_beginscan_strat(table_rel, snapshot, 0, NULL, true,
									  allow_sync);
	}
	else
	{
		/* parallel build: the leader chose the snapshot */
		Assert(allow_sync);
		snapshot = sscan->rs_snapshot;
	}
	scan = (PhScanDesc) sscan;

	Assert(snapshot == SnapshotAny ? TransactionIdIsValid(OldestXmin) :
		   !TransactionIdIsValid(OldestXmin));

	if (progress)
	{
		BlockNumber total;

		if (sscan->rs_parallel != NULL)
			total = ((ParallelBlockTableScanDesc) sscan->rs_parallel)->phs_nblocks;
		else
			total = scan->rs_nblocks;
		pgstat_progress_update_param(PROGRESS_SCAN_BLOCKS_TOTAL, total);
	}

	if (!allow_sync)
		ph_scan_setlimits(sscan, start_blockno, numblocks);
	else
		Assert(start_blockno == 0 && numblocks == InvalidBlockNumber);

	while ((tuple = ph_scan_next_tuple(scan, ForwardScanDirection)) != NULL)
	{
		bool		tupleIsAlive;
		OffsetNumber offnum = ItemPointerGetOffsetNumber(&tuple->t_self);

		CHECK_FOR_INTERRUPTS();

		if (progress)
		{
			BlockNumber done = ph_scan_blocks_done(scan);

			if (done != previous_blkno)
			{
				pgstat_progress_update_param(PROGRESS_SCAN_BLOCKS_DONE, done);
				previous_blkno = done;
			}
		}

		if (scan->rs_cblock != root_blkno)
		{
			ph_scan_root_tuples(scan, root_offsets);
			root_blkno = scan->rs_cblock;
		}

		if (snapshot == SnapshotAny && !scan->rs_cpage.cold)
		{
			Buffer		buf = scan->rs_cpage.buf;
			bool		indexIt;
			TransactionId xwait;

	recheck:
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			switch (ph_tuple_satisfies_vacuum(tuple, OldestXmin, buf))
			{
				case HEAPTUPLE_DEAD:
					indexIt = false;
					tupleIsAlive = false;
					break;
				case HEAPTUPLE_LIVE:
					indexIt = true;
					tupleIsAlive = true;
					reltuples += 1;
					break;
				case HEAPTUPLE_RECENTLY_DEAD:

					/*
					 * Older snapshots may still need it, so index it; but
					 * of a HOT chain only the live end is indexed, and
					 * older snapshots must not use the new index.
					 */
					if (HeapTupleIsHotUpdated(tuple))
					{
						indexIt = false;
						index_info->ii_BrokenHotChain = true;
					}
					else
						indexIt = true;
					tupleIsAlive = false;
					break;
				case HEAPTUPLE_INSERT_IN_PROGRESS:
					if (anyvisible)
					{
						indexIt = true;
						tupleIsAlive = true;
						reltuples += 1;
						break;
					}
					xwait = HeapTupleHeaderGetXmin(tuple->t_data);
					if (!TransactionIdIsCurrentTransactionId(xwait))
					{
						if (!is_system_catalog)
							elog(WARNING, "concurrent insert in progress within table \"%s\"",
								 RelationGetRelationName(table_rel));

						/* a unique check must know how the insert ends */
						if (checking_uniqueness)
						{
							LockBuffer(buf, BUFFER_LOCK_UNLOCK);
							XactLockTableWait(xwait, table_rel, &tuple->t_self,
											  XLTW_InsertIndexUnique);
							CHECK_FOR_INTERRUPTS();
							goto recheck;
						}
					}
					else
						reltuples += 1;
					indexIt = true;
					tupleIsAlive = true;
					break;
				case HEAPTUPLE_DELETE_IN_PROGRESS:
					if (anyvisible)
					{
						indexIt = true;
						tupleIsAlive = false;
						reltuples += 1;
						break;
					}
					xwait = HeapTupleHeaderGetUpdateXid(tuple->t_data);
					if (!TransactionIdIsCurrentTransactionId(xwait))
					{
						if (!is_system_catalog)
							elog(WARNING, "concurrent delete in progress within table \"%s\"",
								 RelationGetRelationName(table_rel));

						/*
						 * Whether the deleter commits decides both the
						 * unique check and which chain member to index.
						 */
						if (checking_uniqueness || HeapTupleIsHotUpdated(tuple))
						{
							LockBuffer(buf, BUFFER_LOCK_UNLOCK);
							XactLockTableWait(xwait, table_rel, &tuple->t_self,
											  XLTW_InsertIndexUnique);
							CHECK_FOR_INTERRUPTS();
							goto recheck;
						}
						indexIt = true;
						reltuples += 1;
					}
					else if (HeapTupleIsHotUpdated(tuple))
					{
						/* our own HOT update: as for RECENTLY_DEAD */
						indexIt = false;
						index_info->ii_BrokenHotChain = true;
					}
					else
						indexIt = true;
					tupleIsAlive = false;
					break;
				default:
					elog(ERROR, "unexpected HeapTupleSatisfiesVacuum result");
					indexIt = tupleIsAlive = false;
					break;
			}
			LockBuffer(buf, BUFFER_LOCK_UNLOCK);
			if (!indexIt)
				continue;
		}
		else
		{
			/* the scan's snapshot decided, or the tuple is cold (frozen) */
			tupleIsAlive = true;
			reltuples += 1;
		}

		MemoryContextReset(econtext->ecxt_per_tuple_memory);
		ph_store_tuple(tuple, &scan->rs_cpage, slot);

		if (predicate != NULL && !ExecQual(predicate, econtext))
			continue;

		FormIndexDatum(index_info, slot, estate, values, isnull);

		if (HeapTupleIsHeapOnly(tuple))
		{
			ItemPointerData root;

			/* the chain may have grown since we read the root offsets */
			if (root_offsets[offnum - 1] == InvalidOffsetNumber)
				ph_scan_root_tuples(scan, root_offsets);
			if (!OffsetNumberIsValid(root_offsets[offnum - 1]))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg_internal("failed to find parent tuple for heap-only tuple at (%u,%u) in table \"%s\"",
										 ItemPointerGetBlockNumber(&tuple->t_self),
										 offnum,
										 RelationGetRelationName(table_rel))));
			ItemPointerSet(&root, ItemPointerGetBlockNumber(&tuple->t_self),
						   root_offsets[offnum - 1]);
			callback(index_rel, &root, values, isnull, tupleIsAlive,
					 callback_state);
		}
		else
			callback(index_rel, &tuple->t_self, values, isnull, tupleIsAlive,
					 callback_state);
	}

	if (progress)
	{
		BlockNumber total;

		if (sscan->rs_parallel != NULL)
			total = ((ParallelBlockTableScanDesc) sscan->rs_parallel)->phs_nblocks;
		else
			total = scan->rs_nblocks;
		pgstat_progress_update_param(PROGRESS_SCAN_BLOCKS_DONE, total);
	}

	table_endscan(sscan);
	if (need_unregister_snapshot)
		UnregisterSnapshot(snapshot);
	ExecDropSingleTupleTableSlot(slot);
	FreeExecutorState(estate);
	index_info->ii_ExpressionsState = NIL;
	index_info->ii_PredicateState = NULL;

	return reltuples;
}

/*
 * Second phase of CREATE INDEX CONCURRENTLY: insert into the index every
 * tuple visible to snapshot whose root TID is not in the sorted list of
 * TIDs the index already holds (state->tuplesort).  The table is read in
 * TID order and merged with the sorted index TIDs.
 */
void
phantom_index_validate_scan(Relation table_rel, Relation index_rel,
							struct IndexInfo *index_info, Snapshot snapshot,
							struct ValidateIndexState *state)
{
	EState	   *estate;
	ExprContext *econtext;
	TupleTableSlot *slot;
	ExprState  *predicate;
	TableScanDesc sscan;
	PhScanDesc	scan;
	HeapTuple	tuple;
	ItemPointer indexcursor = NULL;
	ItemPointerData decoded;
	bool		tuplesort_empty = false;
	BlockNumber root_blkno = InvalidBlockNumber;
	BlockNumber previous_blkno = InvalidBlockNumber;
	OffsetNumber root_offsets[MaxHeapTuplesPerPage];
	bool		in_index[MaxHeapTuplesPerPage];
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];

	estate = CreateExecutorState();
	econtext = GetPerTupleExprContext(estate);
	slot = table_slot_create(table_rel, NULL);
	econtext->ecxt_scantuple = slot;
	predicate = ExecPrepareQual(index_info->ii_Predicate, estate);

	/* no synchronized scan: we need TID order */
	sscan = table_beginscan_strat(table_rel, snapshot, 0, NULL, true, false);
	scan = (PhScanDesc) sscan;

	pgstat_progress_update_param(PROGRESS_SCAN_BLOCKS_TOTAL, scan->rs_nblocks);

	while ((tuple = ph_scan_next_tuple(scan, ForwardScanDirection)) != NULL)
	{
		ItemPointerData root = tuple->t_self;
		OffsetNumber offnum = ItemPointerGetOffsetNumber(&tuple->t_self);
		OffsetNumber root_offnum = offnum;

		CHECK_FOR_INTERRUPTS();
		state->htups += 1;

		if (scan->rs_cblock != previous_blkno)
		{
			pgstat_progress_update_param(PROGRESS_SCAN_BLOCKS_DONE,
										 scan->rs_cblock);
			previous_blkno = scan->rs_cblock;
		}

		if (scan->rs_cblock != root_blkno)
		{
			ph_scan_root_tuples(scan, root_offsets);
			memset(in_index, 0, sizeof(in_index));
			root_blkno = scan->rs_cblock;
		}

		if (HeapTupleIsHeapOnly(tuple))
		{
			root_offnum = root_offsets[offnum - 1];
			if (!OffsetNumberIsValid(root_offnum))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg_internal("failed to find parent tuple for heap-only tuple at (%u,%u) in table \"%s\"",
										 ItemPointerGetBlockNumber(&tuple->t_self),
										 offnum,
										 RelationGetRelationName(table_rel))));
			ItemPointerSetOffsetNumber(&root, root_offnum);
		}

		/* advance the index cursor up to the root, noting what we pass */
		while (!tuplesort_empty &&
			   (indexcursor == NULL ||
				ItemPointerCompare(indexcursor, &root) < 0))
		{
			Datum		ts_val;
			bool		ts_isnull;

			if (indexcursor != NULL &&
				ItemPointerGetBlockNumber(indexcursor) == root_blkno)
				in_index[ItemPointerGetOffsetNumber(indexcursor) - 1] = true;

			tuplesort_empty = !tuplesort_getdatum(state->tuplesort, true,
												  &ts_val, &ts_isnull, NULL);
			if (!tuplesort_empty)
			{
				itemptr_decode(&decoded, DatumGetInt64(ts_val));
				indexcursor = &decoded;
#ifndef USE_FLOAT8_BYVAL
				pfree(DatumGetPointer(ts_val));
#endif
			}
			else
				indexcursor = NULL;
		}

		if ((tuplesort_empty || ItemPointerCompare(indexcursor, &root) > 0) &&
			!in_index[root_offnum - 1])
		{
			MemoryContextReset(econtext->ecxt_per_tuple_memory);
			ph_store_tuple(tuple, &scan->rs_cpage, slot);

			if (predicate != NULL && !ExecQual(predicate, econtext))
				continue;

			FormIndexDatum(index_info, slot, estate, values, isnull);

			/*
			 * Check uniqueness even if the tuple is dead by now: the
			 * insert stands for the whole HOT chain, whose updater did not
			 * insert index entries.
			 */
			index_insert(index_rel, values, isnull, &root, table_rel,
						 index_info->ii_Unique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
						 false, index_info);
			state->tups_inserted += 1;
		}
	}

	table_endscan(sscan);
	ExecDropSingleTupleTableSlot(slot);
	FreeExecutorState(estate);
	index_info->ii_ExpressionsState = NIL;
	index_info->ii_PredicateState = NULL;
}
