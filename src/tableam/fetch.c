/*-------------------------------------------------------------------------
 *
 * fetch.c
 *	  Single-row reads by TID: tuple_fetch_row_version, tuple_tid_valid,
 *	  tuple_get_latest_tid, tuple_satisfies_snapshot and the table side of
 *	  index tuple deletion (index_delete_tuples).
 *
 *	  A TID is (vblock, offset).  A hot vblock is a heap-format page in
 *	  shared buffers: we pin it through ph_page_open and take its share lock
 *	  while looking at tuple headers (visibility checks may set hint bits).
 *	  A cold vblock is a private decompressed image holding only frozen,
 *	  never-deleted tuples: no lock, no hint bits, and a tuple returned from
 *	  it is a palloc'd copy (buffer = InvalidBuffer).
 *
 *	  Update chains (t_ctid) may cross vblocks; a chain is always followed
 *	  with heap's prior-xmax check (a successor whose xmin is not the
 *	  predecessor's update xid means the slot was recycled: end of chain).
 *
 * src/tableam/fetch.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/heapam_xlog.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/tableam.h"
#include "executor/tuptable.h"
#include "storage/bufmgr.h"
#include "storage/predicate.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "phantom/lsm/storage.h"
#include "phantom/mvcc/visibility.h"
#include "phantom/tableam/rowfetch.h"
#include "phantom/tableam/tableam.h"

/* Bottom-up deletion visits at most this many vblocks (as heap does). */
#define PH_BOTTOMUP_MAX_BLOCKS	6

/*
 * Point tuple at item offnum of page, if that is a normal item.
 */
static bool
page_get_tuple(Relation rel, Page page, BlockNumber vblock,
			   OffsetNumber offnum, HeapTuple tuple)
{
	ItemId		lp;

	if (offnum < FirstOffsetNumber || offnum > PageGetMaxOffsetNumber(page))
		return false;
	lp = PageGetItemId(page, offnum);
	if (!ItemIdIsNormal(lp))
		return false;
	tuple->t_data = (HeapTupleHeader) PageGetItem(page, lp);
	tuple->t_len = ItemIdGetLength(lp);
	tuple->t_tableOid = RelationGetRelid(rel);
	ItemPointerSet(&tuple->t_self, vblock, offnum);
	return true;
}

bool
ph_fetch(Relation rel, Snapshot snapshot, HeapTuple tuple, Buffer *buf,
		 bool keep_buf)
{
	BlockNumber vblock = ItemPointerGetBlockNumber(&tuple->t_self);
	OffsetNumber offnum = ItemPointerGetOffsetNumber(&tuple->t_self);
	ItemPointerData tid = tuple->t_self;
	PhPage		pg;
	bool		valid;

	*buf = InvalidBuffer;
	tuple->t_data = NULL;

	if (!ph_page_open(rel, vblock, &pg))
		return false;

	if (!pg.cold)
	{
		LockBuffer(pg.buf, BUFFER_LOCK_SHARE);
		if (!page_get_tuple(rel, pg.page, vblock, offnum, tuple))
		{
			LockBuffer(pg.buf, BUFFER_LOCK_UNLOCK);
			ph_page_close(&pg);
			tuple->t_data = NULL;
			tuple->t_self = tid;
			return false;
		}
		valid = ph_tuple_visible(tuple, snapshot, pg.buf);
		if (valid)
			PredicateLockTID(rel, &tuple->t_self, snapshot,
							 HeapTupleHeaderGetXmin(tuple->t_data));
		HeapCheckForSerializableConflictOut(valid, rel, tuple, pg.buf,
											snapshot);
		LockBuffer(pg.buf, BUFFER_LOCK_UNLOCK);

		if (valid || keep_buf)
		{
			/* hand our own pin to the caller, independent of pg */
			IncrBufferRefCount(pg.buf);
			*buf = pg.buf;
		}
		else
			tuple->t_data = NULL;
		ph_page_close(&pg);
		return valid;
	}

	/* cold: frozen, never deleted; copy the tuple out of the image */
	if (!page_get_tuple(rel, pg.page, vblock, offnum, tuple))
	{
		ph_page_close(&pg);
		tuple->t_data = NULL;
		tuple->t_self = tid;
		return false;
	}
	valid = ph_tuple_visible(tuple, snapshot, InvalidBuffer);
	if (valid)
		PredicateLockTID(rel, &tuple->t_self, snapshot,
						 HeapTupleHeaderGetXmin(tuple->t_data));
	if (valid || keep_buf)
	{
		HeapTupleHeader copy = (HeapTupleHeader) palloc(tuple->t_len);

		memcpy(copy, tuple->t_data, tuple->t_len);
		tuple->t_data = copy;
	}
	else
		tuple->t_data = NULL;
	ph_page_close(&pg);
	return valid;
}

/*
 * tuple_fetch_row_version: the version at tid if visible to snapshot
 * (any snapshot, SnapshotAny included).  Hot versions stay in their pinned
 * buffer; cold ones are copied into the slot.
 */
bool
phantom_tuple_fetch_row_version(Relation rel, ItemPointer tid,
								Snapshot snapshot, TupleTableSlot *slot)
{
	BufferHeapTupleTableSlot *bslot = (BufferHeapTupleTableSlot *) slot;
	HeapTuple	tuple = &bslot->base.tupdata;
	Buffer		buffer;

	Assert(TTS_IS_BUFFERTUPLE(slot));

	tuple->t_self = *tid;
	if (!ph_fetch(rel, snapshot, tuple, &buffer, false))
		return false;

	slot->tts_tableOid = RelationGetRelid(rel);
	tuple->t_tableOid = slot->tts_tableOid;
	if (BufferIsValid(buffer))
		ExecStorePinnedBufferHeapTuple(tuple, slot, buffer);
	else
	{
		HeapTupleHeader copy = tuple->t_data;

		ExecForceStoreHeapTuple(tuple, slot, false);
		pfree(copy);
		slot->tts_tid = *tid;
		slot->tts_tableOid = RelationGetRelid(rel);
	}
	return true;
}

bool
phantom_tuple_tid_valid(TableScanDesc scan, ItemPointer tid)
{
	return ItemPointerIsValid(tid) &&
		ItemPointerGetBlockNumber(tid) < ph_nvblocks(scan->rs_rd);
}

/*
 * tuple_get_latest_tid: follow the update chain from *tid and leave in
 * *tid the newest version visible to the scan's snapshot (unchanged if
 * none is).  Mirrors heap_get_latest_tid, across vblocks.
 */
void
phantom_tuple_get_latest_tid(TableScanDesc scan, ItemPointer tid)
{
	Relation	rel = scan->rs_rd;
	Snapshot	snapshot = scan->rs_snapshot;
	ItemPointerData ctid = *tid;
	TransactionId priorXmax = InvalidTransactionId;
	BlockNumber nvblocks = ph_nvblocks(rel);

	for (;;)
	{
		BlockNumber vblock = ItemPointerGetBlockNumber(&ctid);
		HeapTupleData tp;
		PhPage		pg;
		Buffer		lockbuf;
		bool		valid;
		bool		end;

		if (vblock >= nvblocks || !ph_page_open(rel, vblock, &pg))
			break;
		lockbuf = pg.cold ? InvalidBuffer : pg.buf;
		if (!pg.cold)
			LockBuffer(lockbuf, BUFFER_LOCK_SHARE);

		if (!page_get_tuple(rel, pg.page, vblock,
							ItemPointerGetOffsetNumber(&ctid), &tp) ||
			(TransactionIdIsValid(priorXmax) &&
			 !TransactionIdEquals(priorXmax,
								  HeapTupleHeaderGetXmin(tp.t_data))))
		{
			if (!pg.cold)
				LockBuffer(lockbuf, BUFFER_LOCK_UNLOCK);
			ph_page_close(&pg);
			break;
		}

		valid = ph_tuple_visible(&tp, snapshot, lockbuf);
		if (!pg.cold)
			HeapCheckForSerializableConflictOut(valid, rel, &tp, lockbuf,
												snapshot);
		if (valid)
			*tid = ctid;

		end = (tp.t_data->t_infomask & HEAP_XMAX_INVALID) ||
			HeapTupleHeaderIsOnlyLocked(tp.t_data) ||
			HeapTupleHeaderIndicatesMovedPartitions(tp.t_data) ||
			ItemPointerEquals(&tp.t_self, &tp.t_data->t_ctid);
		if (!end)
		{
			ctid = tp.t_data->t_ctid;
			priorXmax = HeapTupleHeaderGetUpdateXid(tp.t_data);
		}
		if (!pg.cold)
			LockBuffer(lockbuf, BUFFER_LOCK_UNLOCK);
		ph_page_close(&pg);
		if (end)
			break;
	}
}

/*
 * tuple_satisfies_snapshot: is the row in slot visible to snapshot?  A
 * slot without a buffer holds a cold (frozen) copy.
 */
bool
phantom_tuple_satisfies_snapshot(Relation rel, TupleTableSlot *slot,
								 Snapshot snapshot)
{
	BufferHeapTupleTableSlot *bslot = (BufferHeapTupleTableSlot *) slot;
	bool		res;

	Assert(TTS_IS_BUFFERTUPLE(slot));
	Assert(bslot->base.tuple != NULL);

	if (!BufferIsValid(bslot->buffer))
		return ph_tuple_visible(bslot->base.tuple, snapshot, InvalidBuffer);

	LockBuffer(bslot->buffer, BUFFER_LOCK_SHARE);
	res = ph_tuple_visible(bslot->base.tuple, snapshot, bslot->buffer);
	LockBuffer(bslot->buffer, BUFFER_LOCK_UNLOCK);
	return res;
}

/* ----------------------------------------------------------------
 * index_delete_tuples
 * ----------------------------------------------------------------
 */

/*
 * Does the same-page HOT chain rooted at offnum hold a version that
 * snapshot (SnapshotNonVacuumable) still needs?  Phantom's HOT chains never
 * leave their vblock, exactly like heap's.
 */
static bool
hot_chain_needed(Relation rel, Page page, Buffer buf, BlockNumber vblock,
				 OffsetNumber offnum, Snapshot snapshot)
{
	TransactionId priorXmax = InvalidTransactionId;
	bool		at_start = true;
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);

	for (;;)
	{
		ItemId		lp;
		HeapTupleData tup;

		if (offnum < FirstOffsetNumber || offnum > maxoff)
			break;
		lp = PageGetItemId(page, offnum);
		if (!ItemIdIsNormal(lp))
		{
			if (ItemIdIsRedirected(lp) && at_start)
			{
				offnum = ItemIdGetRedirect(lp);
				at_start = false;
				continue;
			}
			break;
		}
		page_get_tuple(rel, page, vblock, offnum, &tup);

		/* a heap-only tuple cannot start a chain: stale index entry */
		if (at_start && HeapTupleIsHeapOnly(&tup))
			break;
		if (TransactionIdIsValid(priorXmax) &&
			!TransactionIdEquals(priorXmax, HeapTupleHeaderGetXmin(tup.t_data)))
			break;
		if (ph_tuple_visible(&tup, snapshot, buf))
			return true;
		if (!HeapTupleIsHotUpdated(&tup))
			break;
		offnum = ItemPointerGetOffsetNumber(&tup.t_data->t_ctid);
		priorXmax = HeapTupleHeaderGetUpdateXid(tup.t_data);
		at_start = false;
	}
	return false;
}

/*
 * Advance *latest over the xids of the chain's versions (the conflict
 * horizon hot standby needs for removing these index entries).
 */
static void
hot_chain_advance_horizon(Page page, OffsetNumber offnum,
						  TransactionId *latest)
{
	TransactionId priorXmax = InvalidTransactionId;
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);

	for (;;)
	{
		ItemId		lp;
		HeapTupleHeader htup;

		if (offnum < FirstOffsetNumber || offnum > maxoff)
			break;
		lp = PageGetItemId(page, offnum);
		if (ItemIdIsRedirected(lp))
		{
			offnum = ItemIdGetRedirect(lp);
			continue;
		}
		if (!ItemIdIsNormal(lp))
			break;
		htup = (HeapTupleHeader) PageGetItem(page, lp);
		if (TransactionIdIsValid(priorXmax) &&
			!TransactionIdEquals(HeapTupleHeaderGetXmin(htup), priorXmax))
			break;
		HeapTupleHeaderAdvanceLatestRemovedXid(htup, latest);
		if (!HeapTupleHeaderIsHotUpdated(htup))
			break;
		offnum = ItemPointerGetOffsetNumber(&htup->t_ctid);
		priorXmax = HeapTupleHeaderGetUpdateXid(htup);
	}
}

static int
deltid_cmp(const void *a, const void *b)
{
	const TM_IndexDelete *da = (const TM_IndexDelete *) a;
	const TM_IndexDelete *db = (const TM_IndexDelete *) b;

	return ItemPointerCompare((ItemPointer) &da->tid, (ItemPointer) &db->tid);
}

typedef struct PhDelGroup
{
	BlockNumber vblock;
	int			first;			/* index of first deltid (TID-sorted) */
	int			ntids;
	int			npromising;
} PhDelGroup;

static int
delgroup_cmp(const void *a, const void *b)
{
	const PhDelGroup *ga = (const PhDelGroup *) a;
	const PhDelGroup *gb = (const PhDelGroup *) b;

	if (ga->npromising != gb->npromising)
		return ga->npromising > gb->npromising ? -1 : 1;
	if (ga->ntids != gb->ntids)
		return ga->ntids > gb->ntids ? -1 : 1;
	if (ga->vblock != gb->vblock)
		return ga->vblock < gb->vblock ? -1 : 1;
	return 0;
}

/*
 * Bottom-up deletion: keep only the (at most PH_BOTTOMUP_MAX_BLOCKS)
 * vblocks with the most promising TIDs, most promising first, and reorder
 * deltids accordingly.  deltids must be TID-sorted on entry.
 */
static void
bottomup_choose_blocks(TM_IndexDeleteOp *delstate)
{
	PhDelGroup *groups = palloc(sizeof(PhDelGroup) * delstate->ndeltids);
	TM_IndexDelete *reordered;
	int			ngroups = 0;
	int			n = 0;

	for (int i = 0; i < delstate->ndeltids; i++)
	{
		BlockNumber b = ItemPointerGetBlockNumber(&delstate->deltids[i].tid);
		TM_IndexStatus *st = &delstate->status[delstate->deltids[i].id];

		if (ngroups == 0 || groups[ngroups - 1].vblock != b)
		{
			groups[ngroups].vblock = b;
			groups[ngroups].first = i;
			groups[ngroups].ntids = 0;
			groups[ngroups].npromising = 0;
			ngroups++;
		}
		groups[ngroups - 1].ntids++;
		if (st->promising)
			groups[ngroups - 1].npromising++;
	}
	qsort(groups, ngroups, sizeof(PhDelGroup), delgroup_cmp);
	if (ngroups > PH_BOTTOMUP_MAX_BLOCKS)
		ngroups = PH_BOTTOMUP_MAX_BLOCKS;
	/* a block with nothing promising is not worth a visit */
	while (ngroups > 1 && groups[ngroups - 1].npromising == 0)
		ngroups--;

	reordered = palloc(sizeof(TM_IndexDelete) * delstate->ndeltids);
	for (int g = 0; g < ngroups; g++)
	{
		memcpy(&reordered[n], &delstate->deltids[groups[g].first],
			   sizeof(TM_IndexDelete) * groups[g].ntids);
		n += groups[g].ntids;
	}
	memcpy(delstate->deltids, reordered, sizeof(TM_IndexDelete) * n);
	delstate->ndeltids = n;
	pfree(reordered);
	pfree(groups);
}

/*
 * index_delete_tuples: decide which of the index entries delstate lists
 * can go, mirroring heap_index_delete_tuples.  An entry is deletable when
 * its whole HOT chain is dead to everyone (SnapshotNonVacuumable with
 * GlobalVisTestFor); entries the index AM already knows to be deletable
 * (LP_DEAD, simple deletion) stay deletable.  deltids is shrunk to the
 * entries examined.  Returns the newest xid among removed versions, for
 * the hot-standby conflict horizon of the index's deletion record.
 */
TransactionId
phantom_index_delete_tuples(Relation rel, TM_IndexDeleteOp *delstate)
{
	TransactionId latest = InvalidTransactionId;
	SnapshotData nonvacuumable;
	BlockNumber curblock = InvalidBlockNumber;
	BlockNumber nvblocks = ph_nvblocks(rel);
	PhPage		pg;
	bool		have_page = false;
	bool		page_ok = false;
	Buffer		lockbuf = InvalidBuffer;
	int			finalndeltids = 0;
	int			nblocks = 0;
	int			freed = 0;
	int			freed_at_block_start = 0;
	bool		final_block = false;

	InitNonVacuumableSnapshot(nonvacuumable, GlobalVisTestFor(rel));

	qsort(delstate->deltids, delstate->ndeltids, sizeof(TM_IndexDelete),
		  deltid_cmp);
	if (delstate->bottomup)
		bottomup_choose_blocks(delstate);

	for (int i = 0; i < delstate->ndeltids; i++)
	{
		TM_IndexDelete *d = &delstate->deltids[i];
		TM_IndexStatus *st = &delstate->status[d->id];
		BlockNumber vblock = ItemPointerGetBlockNumber(&d->tid);
		OffsetNumber offnum = ItemPointerGetOffsetNumber(&d->tid);

		if (vblock != curblock)
		{
			if (have_page)
			{
				if (!pg.cold)
					LockBuffer(lockbuf, BUFFER_LOCK_UNLOCK);
				ph_page_close(&pg);
				have_page = false;
			}

			/*
			 * Bottom-up: stop once the space target is met, or when the
			 * last block freed nothing (the rest are less promising).
			 */
			if (delstate->bottomup)
			{
				if (final_block)
					break;
				if (nblocks > 0 && freed == freed_at_block_start)
					break;
				freed_at_block_start = freed;
			}

			curblock = vblock;
			nblocks++;
			page_ok = vblock < nvblocks && ph_page_open(rel, vblock, &pg);
			if (page_ok)
			{
				have_page = true;
				lockbuf = pg.cold ? InvalidBuffer : pg.buf;
				if (!pg.cold)
					LockBuffer(lockbuf, BUFFER_LOCK_SHARE);
			}
		}

		if (!page_ok)
		{
			/* no such vblock: nothing there to keep alive */
			finalndeltids = i + 1;
			continue;
		}

		if (!st->knowndeletable)
		{
			if (hot_chain_needed(rel, pg.page, lockbuf, vblock, offnum,
								 &nonvacuumable))
				continue;
			st->knowndeletable = true;
			if (delstate->bottomup)
			{
				freed += st->freespace;
				if (freed >= delstate->bottomupfreespace)
					final_block = true;
			}
		}

		hot_chain_advance_horizon(pg.page, offnum, &latest);
		finalndeltids = i + 1;
	}

	if (have_page)
	{
		if (!pg.cold)
			LockBuffer(lockbuf, BUFFER_LOCK_UNLOCK);
		ph_page_close(&pg);
	}

	delstate->ndeltids = finalndeltids;
	return latest;
}
