/*-------------------------------------------------------------------------
 *
 * modify.c
 *	  Row writes of the phantom table AM: tuple_insert (plain, speculative,
 *	  COPY FREEZE), tuple_complete_speculative, multi_insert (COPY),
 *	  tuple_delete and tuple_update.  tuple_lock lives in lock.c.
 *
 *	  Semantics are heap's (heapam.c, README.tuplock): every row version
 *	  has its own TID and a full MVCC header; delete and update decide with
 *	  HeapTupleSatisfiesUpdate, queue on the heavyweight tuple lock, wait
 *	  for the xmax transaction or MultiXact, and report TM_* results with
 *	  TM_FailureData exactly as heap does, so EvalPlanQual, RI checks and
 *	  ON CONFLICT behave identically.
 *
 *	  Where phantom differs:
 *	  - TIDs are (vblock, offset); pages are reached through the storage
 *	    layer: ph_get_insert_buffer for new versions (the backend's
 *	    insertion lane), ph_page_open_for_write for the page of an existing
 *	    version (it thaws a cold vblock into a hot page first).
 *	  - Every page change goes through the phantom WAL primitives
 *	    (ph_wal_insert, ph_wal_multi_insert, ph_wal_set_headers,
 *	    ph_wal_update), which apply and log it in one critical section and
 *	    clear visibility-map bits.  Header changes are computed on a local
 *	    copy of the tuple header and handed over whole (PhHeaderChange).
 *	  - An update's new version goes to the old page if it fits (HOT when
 *	    no HOT-blocking indexed column changed), else to the lane page.
 *
 *	  Locking rules: a buffer content lock is never held while waiting for
 *	  a transaction, a heavyweight lock, or doing TOAST work.  When an
 *	  update needs a second page, the old page is unlocked first and
 *	  ph_get_insert_buffer locks both in physical block order; meanwhile
 *	  the old version is marked locked by us (xmax) so nobody else can
 *	  update it.  A pin on a hot page keeps the vblock there (relocation
 *	  needs a cleanup lock).
 *
 * src/tableam/modify.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/heaptoast.h"
#include "access/hio.h"
#include "access/htup_details.h"
#include "access/multixact.h"
#include "access/visibilitymapdefs.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/catalog.h"
#include "catalog/pg_class.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/predicate.h"
#include "utils/datum.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"

#include "phantom/lsm/storage.h"
#include "phantom/mvcc/visibility.h"
#include "phantom/mvcc/xmax.h"
#include "phantom/tableam/modify.h"
#include "phantom/tableam/tableam.h"
#include "phantom/wal/records.h"
#include "phantom/wal/wal.h"
#include "phantom/replication/replication.h"

/* ----------------------------------------------------------------
 * helpers
 * ----------------------------------------------------------------
 */

void
ph_header_change_from(HeapTupleHeader hdr, OffsetNumber offnum,
					  PhHeaderChange *chg)
{
	memset(chg, 0, sizeof(PhHeaderChange));
	chg->offnum = offnum;
	chg->infomask = hdr->t_infomask;
	chg->infomask2 = hdr->t_infomask2;
	chg->xmin = HeapTupleHeaderGetRawXmin(hdr);
	chg->xmax = HeapTupleHeaderGetRawXmax(hdr);
	chg->cid = HeapTupleHeaderGetRawCommandId(hdr);
	chg->ctid = hdr->t_ctid;
}

/* Does this relation kind keep out-of-line values in a TOAST table? */
static inline bool
rel_uses_toast(Relation rel)
{
	return rel->rd_rel->relkind == RELKIND_RELATION ||
		rel->rd_rel->relkind == RELKIND_MATVIEW;
}

/*
 * Prepare tup for insertion by the current transaction: MVCC header
 * fields, then TOAST if needed.  Returns tup itself or a toasted copy.
 */
static HeapTuple
prepare_insert(Relation rel, HeapTuple tup, TransactionId xid, CommandId cid,
			   int options)
{
	tup->t_data->t_infomask &= ~HEAP_XACT_MASK;
	tup->t_data->t_infomask2 &= ~HEAP2_XACT_MASK;
	tup->t_data->t_infomask |= HEAP_XMAX_INVALID;
	HeapTupleHeaderSetXmin(tup->t_data, xid);
	if (options & HEAP_INSERT_FROZEN)
		HeapTupleHeaderSetXminFrozen(tup->t_data);
	HeapTupleHeaderSetCmin(tup->t_data, cid);
	HeapTupleHeaderSetXmax(tup->t_data, InvalidTransactionId);
	tup->t_tableOid = RelationGetRelid(rel);

	if (!rel_uses_toast(rel))
		return tup;
	if (HeapTupleHasExternal(tup) || tup->t_len > TOAST_TUPLE_THRESHOLD)
		return heap_toast_insert_or_update(rel, tup, NULL, options);
	return tup;
}

static int
wal_insert_flags(int options)
{
	int			flags = 0;

	if (options & HEAP_INSERT_SPECULATIVE)
		flags |= PH_INSERT_SPECULATIVE;
	if (options & HEAP_INSERT_FROZEN)
		flags |= PH_INSERT_FROZEN;
	return flags;
}

/*
 * Insert one tuple; shared by tuple_insert and tuple_insert_speculative.
 * The slot's tts_tid receives the new TID.
 */
static void
insert_one(Relation rel, TupleTableSlot *slot, CommandId cid, int options,
		   BulkInsertState bistate, uint32 specToken)
{
	bool		shouldFree = true;
	HeapTuple	tup = ExecFetchSlotHeapTuple(slot, true, &shouldFree);
	HeapTuple	heaptup;
	TransactionId xid = GetCurrentTransactionId();
	Buffer		buf;
	BlockNumber vblock;

	slot->tts_tableOid = RelationGetRelid(rel);
	tup->t_tableOid = slot->tts_tableOid;

	heaptup = prepare_insert(rel, tup, xid, cid, options);
	if (options & HEAP_INSERT_SPECULATIVE)
		HeapTupleHeaderSetSpeculativeToken(heaptup->t_data, specToken);

	buf = ph_get_insert_buffer(rel, heaptup->t_len, InvalidBuffer, bistate,
							   &vblock);

	/*
	 * SSI: a new row conflicts with whoever read the relation (or its
	 * index ranges) under SERIALIZABLE; checked before the write, as heap.
	 */
	CheckForSerializableConflictIn(rel, NULL, InvalidBlockNumber);

	(void) ph_wal_insert(rel, buf, vblock, heaptup, wal_insert_flags(options));
	UnlockReleaseBuffer(buf);

	pgstat_count_heap_insert(rel, 1);

	if (heaptup != tup)
	{
		tup->t_self = heaptup->t_self;
		heap_freetuple(heaptup);
	}
	slot->tts_tid = tup->t_self;
	if (shouldFree)
		pfree(tup);
}

/* ----------------------------------------------------------------
 * insert
 * ----------------------------------------------------------------
 */

void
phantom_tuple_insert(Relation rel, TupleTableSlot *slot, CommandId cid,
					 int options, BulkInsertState bistate)
{
	bool		cap = ph_repl_write_begin(rel);

	insert_one(rel, slot, cid, options & ~HEAP_INSERT_SPECULATIVE, bistate,
			   0);
	if (cap)
		ph_repl_capture_insert(rel, slot);
}

/*
 * Speculative insertion (INSERT ... ON CONFLICT): the tuple's t_ctid holds
 * the speculative token until tuple_complete_speculative.
 */
void
phantom_tuple_insert_speculative(Relation rel, TupleTableSlot *slot,
								 CommandId cid, int options,
								 BulkInsertState bistate, uint32 specToken)
{
	/* refused on a follower; captured once confirmed */
	(void) ph_repl_write_begin(rel);
	insert_one(rel, slot, cid, options | HEAP_INSERT_SPECULATIVE, bistate,
			   specToken);
}

/*
 * Finish a speculative insertion.  On success t_ctid points to the tuple
 * itself again.  On failure the tuple is "super-deleted" at once: xmin
 * becomes invalid so that every snapshot, dirty ones included, sees it as
 * dead immediately and concurrent inserters waiting on the token do not
 * wait for our whole transaction (heap_abort_speculative's rule).
 */
void
phantom_tuple_complete_speculative(Relation rel, TupleTableSlot *slot,
								   uint32 specToken, bool succeeded)
{
	ItemPointerData tid = slot->tts_tid;
	BlockNumber vblock = ItemPointerGetBlockNumber(&tid);
	OffsetNumber offnum = ItemPointerGetOffsetNumber(&tid);
	Buffer		buf;
	Page		page;
	ItemId		lp;
	HeapTupleData tp;
	HeapTupleHeaderData work;
	PhHeaderChange chg;
	PhLogicalInfo li = {0, NULL, false};

	buf = ph_page_open_for_write(rel, vblock);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	if (offnum > PageGetMaxOffsetNumber(page) ||
		!ItemIdIsNormal(lp = PageGetItemId(page, offnum)))
		elog(ERROR, "phantom: speculative tuple (%u,%u) of \"%s\" not found",
			 vblock, offnum, RelationGetRelationName(rel));

	tp.t_data = (HeapTupleHeader) PageGetItem(page, lp);
	tp.t_len = ItemIdGetLength(lp);
	tp.t_self = tid;
	tp.t_tableOid = RelationGetRelid(rel);

	memcpy(&work, tp.t_data, SizeofHeapTupleHeader);

	if (succeeded)
	{
		if (!HeapTupleHeaderIsSpeculative(tp.t_data))
			elog(ERROR, "phantom: tuple (%u,%u) is not speculative",
				 vblock, offnum);
		work.t_ctid = tid;
		ph_header_change_from(&work, offnum, &chg);
		li.kind = XLPH_LOG_CONFIRM;
		ph_wal_set_headers(rel, buf, vblock, &chg, 1, 0, &li);
		UnlockReleaseBuffer(buf);
		if (ph_repl_write_begin(rel))
			ph_repl_capture_insert(rel, slot);
		return;
	}

	if (HeapTupleHeaderGetRawXmin(tp.t_data) != GetCurrentTransactionId())
		elog(ERROR, "phantom: attempted to kill a tuple inserted by another transaction");
	if (!HeapTupleHeaderIsSpeculative(tp.t_data))
		elog(ERROR, "phantom: attempted to kill a non-speculative tuple");

	/* the page becomes prunable; any xid not older than relfrozenxid does */
	if (TransactionIdPrecedes(TransactionXmin, rel->rd_rel->relfrozenxid))
		PageSetPrunable(page, rel->rd_rel->relfrozenxid);
	else
		PageSetPrunable(page, TransactionXmin);

	work.t_infomask &= ~(HEAP_XMAX_BITS | HEAP_MOVED);
	work.t_infomask2 &= ~HEAP_KEYS_UPDATED;
	HeapTupleHeaderSetXmin(&work, InvalidTransactionId);
	work.t_ctid = tid;
	ph_header_change_from(&work, offnum, &chg);
	li.kind = XLPH_LOG_SUPER_DELETE;
	ph_wal_set_headers(rel, buf, vblock, &chg, 1, 0, &li);
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);

	/* TOAST rows inserted with the tuple go too (still pinned: stable) */
	if (HeapTupleHasExternal(&tp) && rel_uses_toast(rel))
		heap_toast_delete(rel, &tp, true);

	ReleaseBuffer(buf);
	pgstat_count_heap_delete(rel);
}

/*
 * multi_insert (COPY): fill each lane page with as many tuples as fit
 * (respecting fillfactor) and log each page's batch as one record.
 */
void
phantom_multi_insert(Relation rel, TupleTableSlot **slots, int ntuples,
					 CommandId cid, int options, BulkInsertState bistate)
{
	bool		cap = ph_repl_write_begin(rel);
	TransactionId xid = GetCurrentTransactionId();
	HeapTuple  *heaptuples;
	HeapTuple  *batch;
	Size		saveFreeSpace;
	int			done = 0;

	saveFreeSpace = RelationGetTargetPageFreeSpace(rel,
												   HEAP_DEFAULT_FILLFACTOR);

	heaptuples = palloc(sizeof(HeapTuple) * ntuples);
	batch = palloc(sizeof(HeapTuple) * ntuples);
	for (int i = 0; i < ntuples; i++)
	{
		HeapTuple	tup;

		tup = ExecFetchSlotHeapTuple(slots[i], true, NULL);
		slots[i]->tts_tableOid = RelationGetRelid(rel);
		tup->t_tableOid = slots[i]->tts_tableOid;
		heaptuples[i] = prepare_insert(rel, tup, xid, cid, options);
	}

	/* one SSI check covers the whole batch (relation level) */
	CheckForSerializableConflictIn(rel, NULL, InvalidBlockNumber);

	while (done < ntuples)
	{
		Buffer		buf;
		BlockNumber vblock;
		Page		page;
		int			nthis = 0;
		bool		all_frozen_set;

		CHECK_FOR_INTERRUPTS();

		buf = ph_get_insert_buffer(rel, heaptuples[done]->t_len,
								   InvalidBuffer, bistate, &vblock);
		page = BufferGetPage(buf);

		/*
		 * COPY FREEZE into an empty page, or into a page this COPY already
		 * made all-visible: the page holds only frozen rows of a table
		 * nobody else can see before we commit, so it is (stays)
		 * all-visible and all-frozen, as with heap_multi_insert.  (In such
		 * a table, created or truncated by this transaction, an
		 * all-visible page can only come from a frozen insert.)
		 */
		all_frozen_set = (options & HEAP_INSERT_FROZEN) != 0 &&
			(PageGetMaxOffsetNumber(page) == 0 || PageIsAllVisible(page));

		/* the first tuple fits by contract; add more while they fit */
		batch[nthis++] = heaptuples[done];
		{
			Size		used = MAXALIGN(heaptuples[done]->t_len) +
				sizeof(ItemIdData);
			Size		avail = PageGetHeapFreeSpace(page);
			int			maxtuples = MaxHeapTuplesPerPage -
				PageGetMaxOffsetNumber(page);

			for (int j = done + 1; j < ntuples && nthis < maxtuples; j++)
			{
				Size		need = MAXALIGN(heaptuples[j]->t_len) +
					sizeof(ItemIdData);

				if (used + need + saveFreeSpace > avail + sizeof(ItemIdData))
					break;
				used += need;
				batch[nthis++] = heaptuples[j];
			}
		}

		ph_wal_multi_insert(rel, buf, vblock, batch, nthis,
							wal_insert_flags(options & ~HEAP_INSERT_SPECULATIVE) |
							(done + nthis == ntuples ? PH_INSERT_LAST_IN_MULTI : 0));
		if (all_frozen_set)
			ph_wal_set_visible(rel, buf, vblock, InvalidTransactionId,
							   VISIBILITYMAP_ALL_VISIBLE |
							   VISIBILITYMAP_ALL_FROZEN);
		UnlockReleaseBuffer(buf);
		done += nthis;
	}

	for (int i = 0; i < ntuples; i++)
		slots[i]->tts_tid = heaptuples[i]->t_self;
	if (cap)
		for (int i = 0; i < ntuples; i++)
			ph_repl_capture_insert(rel, slots[i]);

	pgstat_count_heap_insert(rel, ntuples);
	pfree(batch);
	pfree(heaptuples);
}

void
phantom_finish_bulk_insert(Relation rel, int options)
{
	/* every page write was WAL-logged (or the relation skips WAL) */
}

/* ----------------------------------------------------------------
 * delete
 * ----------------------------------------------------------------
 */

/* Fill *tmfd from the tuple that made the operation fail. */
static void
fill_failure(HeapTupleHeader htup, TM_Result result, TM_FailureData *tmfd)
{
	tmfd->ctid = htup->t_ctid;
	tmfd->xmax = HeapTupleHeaderGetUpdateXid(htup);
	if (result == TM_SelfModified)
		tmfd->cmax = HeapTupleHeaderGetCmax(htup);
	else
		tmfd->cmax = InvalidCommandId;
	tmfd->traversed = false;
}

/* The item at tid vanished (pruned after an aborted insert): "deleted". */
static TM_Result
report_vanished(ItemPointer tid, TM_FailureData *tmfd)
{
	tmfd->ctid = *tid;
	tmfd->xmax = InvalidTransactionId;
	tmfd->cmax = InvalidCommandId;
	tmfd->traversed = false;
	return TM_Deleted;
}

TM_Result
phantom_tuple_delete(Relation rel, ItemPointer tid, CommandId cid,
					 Snapshot snapshot, Snapshot crosscheck, bool wait,
					 TM_FailureData *tmfd, bool changingPart)
{
	bool		cap = ph_repl_write_begin(rel);
	HeapTuple	oldcopy = NULL;
	TransactionId xid = GetCurrentTransactionId();
	BlockNumber vblock = ItemPointerGetBlockNumber(tid);
	OffsetNumber offnum = ItemPointerGetOffsetNumber(tid);
	TM_Result	result;
	Buffer		buf;
	Page		page;
	ItemId		lp;
	HeapTupleData tp;
	HeapTupleHeaderData work;
	PhHeaderChange chg;
	PhLogicalInfo li;
	bool		have_tuple_lock = false;
	bool		iscombo;
	TransactionId new_xmax;
	uint16		new_infomask,
				new_infomask2;

	if (IsInParallelMode())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("cannot delete tuples during a parallel operation")));

	buf = ph_page_open_for_write(rel, vblock);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);

	if (offnum > PageGetMaxOffsetNumber(page) ||
		!ItemIdIsNormal(lp = PageGetItemId(page, offnum)))
	{
		UnlockReleaseBuffer(buf);
		return report_vanished(tid, tmfd);
	}

	tp.t_tableOid = RelationGetRelid(rel);
	tp.t_data = (HeapTupleHeader) PageGetItem(page, lp);
	tp.t_len = ItemIdGetLength(lp);
	tp.t_self = *tid;

retry:
	result = ph_tuple_satisfies_update(&tp, cid, buf);

	if (result == TM_Invisible)
	{
		UnlockReleaseBuffer(buf);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("attempted to delete invisible tuple")));
	}
	else if (result == TM_BeingModified && wait)
	{
		TransactionId xwait = HeapTupleHeaderGetRawXmax(tp.t_data);
		uint16		infomask = tp.t_data->t_infomask;

		/*
		 * A delete needs the strongest lock: wait for every other locker
		 * or updater, except when the only one is ourselves.
		 */
		if (infomask & HEAP_XMAX_IS_MULTI)
		{
			bool		current_is_member = false;

			if (ph_multixact_conflicts((MultiXactId) xwait, infomask,
									   LockTupleExclusive,
									   &current_is_member))
			{
				LockBuffer(buf, BUFFER_LOCK_UNLOCK);
				if (!current_is_member)
					ph_acquire_tuplock(rel, &tp.t_self, LockTupleExclusive,
									   LockWaitBlock, &have_tuple_lock);
				ph_multixact_wait((MultiXactId) xwait, MultiXactStatusUpdate,
								  infomask, rel, &tp.t_self, XLTW_Delete,
								  NULL);
				LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
				if (ph_xmax_infomask_changed(tp.t_data->t_infomask, infomask) ||
					!TransactionIdEquals(HeapTupleHeaderGetRawXmax(tp.t_data),
										 xwait))
					goto retry;
			}
		}
		else if (!TransactionIdIsCurrentTransactionId(xwait))
		{
			LockBuffer(buf, BUFFER_LOCK_UNLOCK);
			ph_acquire_tuplock(rel, &tp.t_self, LockTupleExclusive,
							   LockWaitBlock, &have_tuple_lock);
			XactLockTableWait(xwait, rel, &tp.t_self, XLTW_Delete);
			LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
			if (ph_xmax_infomask_changed(tp.t_data->t_infomask, infomask) ||
				!TransactionIdEquals(HeapTupleHeaderGetRawXmax(tp.t_data),
									 xwait))
				goto retry;
			ph_update_xmax_hint_bits(tp.t_data, buf, xwait);
		}

		/* lockers that are gone, or an aborted updater, do not stop us */
		if ((tp.t_data->t_infomask & HEAP_XMAX_INVALID) ||
			HEAP_XMAX_IS_LOCKED_ONLY(tp.t_data->t_infomask) ||
			HeapTupleHeaderIsOnlyLocked(tp.t_data))
			result = TM_Ok;
		else if (!ItemPointerEquals(&tp.t_self, &tp.t_data->t_ctid))
			result = TM_Updated;
		else
			result = TM_Deleted;
	}

	/* REPEATABLE READ RI checks: the row must also be visible to this */
	if (crosscheck != InvalidSnapshot && result == TM_Ok &&
		!ph_tuple_visible(&tp, crosscheck, buf))
		result = TM_Updated;

	if (result != TM_Ok)
	{
		fill_failure(tp.t_data, result, tmfd);
		UnlockReleaseBuffer(buf);
		if (have_tuple_lock)
			ph_release_tuplock(rel, &tp.t_self, LockTupleExclusive);
		return result;
	}

	CheckForSerializableConflictIn(rel, tid, vblock);
	if (cap)
		oldcopy = heap_copytuple(&tp);

	HeapTupleHeaderAdjustCmax(tp.t_data, &cid, &iscombo);
	MultiXactIdSetOldestMember();
	ph_compute_new_xmax(HeapTupleHeaderGetRawXmax(tp.t_data),
						tp.t_data->t_infomask, tp.t_data->t_infomask2,
						xid, LockTupleExclusive, true,
						&new_xmax, &new_infomask, &new_infomask2);

	memcpy(&work, tp.t_data, SizeofHeapTupleHeader);
	work.t_infomask &= ~(HEAP_XMAX_BITS | HEAP_MOVED);
	work.t_infomask2 &= ~HEAP_KEYS_UPDATED;
	work.t_infomask |= new_infomask;
	work.t_infomask2 |= new_infomask2;
	HeapTupleHeaderClearHotUpdated(&work);
	HeapTupleHeaderSetXmax(&work, new_xmax);
	HeapTupleHeaderSetCmax(&work, cid, iscombo);
	work.t_ctid = tp.t_self;
	if (changingPart)
		HeapTupleHeaderSetMovedPartitions(&work);
	ph_header_change_from(&work, offnum, &chg);

	/* logical decoding: the old row's replica identity, as heap logs it */
	li.kind = XLPH_LOG_DELETE;
	li.oldkey = ph_replica_identity(rel, &tp, true, &li.oldfull);

	PageSetPrunable(page, xid);
	ph_wal_set_headers(rel, buf, vblock, &chg, 1,
					   VISIBILITYMAP_VALID_BITS, &li);
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	if (li.oldkey != NULL && li.oldkey != &tp)
		heap_freetuple(li.oldkey);

	/* out-of-line values die with the row (tuple still pinned) */
	if (rel_uses_toast(rel) && HeapTupleHasExternal(&tp))
		heap_toast_delete(rel, &tp, false);

	ReleaseBuffer(buf);
	if (have_tuple_lock)
		ph_release_tuplock(rel, &tp.t_self, LockTupleExclusive);

	pgstat_count_heap_delete(rel);
	if (oldcopy)
	{
		ph_repl_capture_delete(rel, oldcopy);
		heap_freetuple(oldcopy);
	}
	return TM_Ok;
}

/* ----------------------------------------------------------------
 * update
 * ----------------------------------------------------------------
 */

/*
 * Which of the interesting columns differ between the two versions?
 * Binary comparison, like heap: a false "modified" only costs a non-HOT
 * update or a stronger lock, never correctness.
 */
static Bitmapset *
modified_columns(Relation rel, Bitmapset *interesting, HeapTuple oldtup,
				 HeapTuple newtup)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Bitmapset  *modified = NULL;
	int			idx = -1;

	while ((idx = bms_next_member(interesting, idx)) >= 0)
	{
		AttrNumber	attnum = idx + FirstLowInvalidHeapAttributeNumber;
		Datum		v1,
					v2;
		bool		n1,
					n2;

		/* whole-row and system columns other than tableoid: "changed" */
		if (attnum == 0 || (attnum < 0 && attnum != TableOidAttributeNumber))
		{
			modified = bms_add_member(modified, idx);
			continue;
		}
		if (attnum < 0)
			continue;			/* tableoid never changes */

		v1 = heap_getattr(oldtup, attnum, desc, &n1);
		v2 = heap_getattr(newtup, attnum, desc, &n2);
		if (n1 != n2)
			modified = bms_add_member(modified, idx);
		else if (!n1)
		{
			Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);

			if (!datumIsEqual(v1, v2, att->attbyval, att->attlen))
				modified = bms_add_member(modified, idx);
		}
	}
	return modified;
}

/*
 * Is a replica identity column of the old version stored out of line?
 * Then an UPDATE logs the old key even if the key did not change (heap's
 * rule): the new tuple only points at the value, which decoding cannot
 * look up once the old version is gone.
 */
static bool
identity_external(Relation rel, Bitmapset *id_attrs, HeapTuple oldtup)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			idx = -1;

	if (!RelationIsLogicallyLogged(rel) || !HeapTupleHasExternal(oldtup))
		return false;
	while ((idx = bms_next_member(id_attrs, idx)) >= 0)
	{
		AttrNumber	attnum = idx + FirstLowInvalidHeapAttributeNumber;
		Datum		v;
		bool		isnull;

		if (attnum <= 0 || TupleDescAttr(desc, attnum - 1)->attlen != -1)
			continue;
		v = heap_getattr(oldtup, attnum, desc, &isnull);
		if (!isnull && VARATT_IS_EXTERNAL(DatumGetPointer(v)))
			return true;
	}
	return false;
}

/*
 * The update proper.  newtup is the caller's tuple; on success its t_self
 * is the new version's TID and *hot says whether it was a HOT update.
 */
static TM_Result
update_internal(Relation rel, ItemPointer otid, HeapTuple newtup,
				CommandId cid, Snapshot crosscheck, bool wait,
				TM_FailureData *tmfd, LockTupleMode *lockmode, bool *hot,
				HeapTuple *oldcopy)
{
	TransactionId xid = GetCurrentTransactionId();
	BlockNumber oldvblock = ItemPointerGetBlockNumber(otid);
	OffsetNumber offnum = ItemPointerGetOffsetNumber(otid);
	Bitmapset  *hot_attrs;
	Bitmapset  *key_attrs;
	Bitmapset  *interesting;
	Bitmapset  *modified;
	TM_Result	result;
	Buffer		buffer,
				newbuf;
	BlockNumber newvblock;
	Page		page;
	ItemId		lp;
	HeapTupleData oldtup;
	HeapTuple	heaptup;
	HeapTupleHeaderData work;
	PhHeaderChange chg;
	PhLogicalInfo li;
	Bitmapset  *id_attrs;
	MultiXactStatus mxact_status;
	bool		key_intact;
	bool		have_tuple_lock = false;
	bool		checked_lockers;
	bool		locker_remains;
	bool		iscombo;
	bool		use_hot = false;
	bool		need_toast;
	Size		newtupsize,
				pagefree;
	TransactionId xmax_new_tuple,
				xmax_old_tuple;
	uint16		infomask_old_tuple,
				infomask2_old_tuple,
				infomask_new_tuple,
				infomask2_new_tuple;

	*hot = false;

	if (IsInParallelMode())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("cannot update tuples during a parallel operation")));

	/* copies, safe against relcache flushes while we work */
	hot_attrs = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_ALL);
	key_attrs = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_KEY);
	id_attrs = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_IDENTITY_KEY);
	interesting = bms_union(hot_attrs, key_attrs);
	interesting = bms_add_members(interesting, id_attrs);

	buffer = ph_page_open_for_write(rel, oldvblock);
	LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buffer);

	if (offnum > PageGetMaxOffsetNumber(page) ||
		!ItemIdIsNormal(lp = PageGetItemId(page, offnum)))
	{
		UnlockReleaseBuffer(buffer);
		return report_vanished(otid, tmfd);
	}

	oldtup.t_tableOid = RelationGetRelid(rel);
	oldtup.t_data = (HeapTupleHeader) PageGetItem(page, lp);
	oldtup.t_len = ItemIdGetLength(lp);
	oldtup.t_self = *otid;
	newtup->t_tableOid = RelationGetRelid(rel);

	modified = modified_columns(rel, interesting, &oldtup, newtup);

	/*
	 * Not touching a key column only needs FOR NO KEY UPDATE strength, so
	 * FOR KEY SHARE lockers (foreign-key checks) do not block us.
	 */
	if (!bms_overlap(modified, key_attrs))
	{
		*lockmode = LockTupleNoKeyExclusive;
		mxact_status = MultiXactStatusNoKeyUpdate;
		key_intact = true;
		MultiXactIdSetOldestMember();
	}
	else
	{
		*lockmode = LockTupleExclusive;
		mxact_status = MultiXactStatusUpdate;
		key_intact = false;
	}

retry:
	checked_lockers = false;
	locker_remains = false;
	result = ph_tuple_satisfies_update(&oldtup, cid, buffer);

	if (result == TM_Invisible)
	{
		UnlockReleaseBuffer(buffer);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("attempted to update invisible tuple")));
	}
	else if (result == TM_BeingModified && wait)
	{
		TransactionId xwait = HeapTupleHeaderGetRawXmax(oldtup.t_data);
		uint16		infomask = oldtup.t_data->t_infomask;
		bool		can_continue = false;

		if (infomask & HEAP_XMAX_IS_MULTI)
		{
			TransactionId update_xact;
			int			remain;
			bool		current_is_member = false;

			if (ph_multixact_conflicts((MultiXactId) xwait, infomask,
									   *lockmode, &current_is_member))
			{
				LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
				if (!current_is_member)
					ph_acquire_tuplock(rel, &oldtup.t_self, *lockmode,
									   LockWaitBlock, &have_tuple_lock);
				ph_multixact_wait((MultiXactId) xwait, mxact_status, infomask,
								  rel, &oldtup.t_self, XLTW_Update, &remain);
				checked_lockers = true;
				locker_remains = remain != 0;
				LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
				if (ph_xmax_infomask_changed(oldtup.t_data->t_infomask,
											 infomask) ||
					!TransactionIdEquals(HeapTupleHeaderGetRawXmax(oldtup.t_data),
										 xwait))
					goto retry;
			}

			/*
			 * Surviving members (ourselves, non-conflicting key-share
			 * lockers) are kept in the new xmax; an update inside the
			 * multi blocks us unless it aborted.
			 */
			if (!HEAP_XMAX_IS_LOCKED_ONLY(oldtup.t_data->t_infomask))
				update_xact = HeapTupleGetUpdateXid(oldtup.t_data);
			else
				update_xact = InvalidTransactionId;
			if (!TransactionIdIsValid(update_xact) ||
				TransactionIdDidAbort(update_xact))
				can_continue = true;
		}
		else if (TransactionIdIsCurrentTransactionId(xwait))
		{
			/* we are the only locker: keep our lock in the xmax */
			checked_lockers = true;
			locker_remains = true;
			can_continue = true;
		}
		else if (HEAP_XMAX_IS_KEYSHR_LOCKED(infomask) && key_intact)
		{
			/* a key-share locker does not conflict with a no-key update */
			checked_lockers = true;
			locker_remains = true;
			can_continue = true;
		}
		else
		{
			LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
			ph_acquire_tuplock(rel, &oldtup.t_self, *lockmode,
							   LockWaitBlock, &have_tuple_lock);
			XactLockTableWait(xwait, rel, &oldtup.t_self, XLTW_Update);
			checked_lockers = true;
			LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
			if (ph_xmax_infomask_changed(oldtup.t_data->t_infomask, infomask) ||
				!TransactionIdEquals(xwait,
									 HeapTupleHeaderGetRawXmax(oldtup.t_data)))
				goto retry;
			ph_update_xmax_hint_bits(oldtup.t_data, buffer, xwait);
			if (oldtup.t_data->t_infomask & HEAP_XMAX_INVALID)
				can_continue = true;
		}

		if (can_continue)
			result = TM_Ok;
		else if (!ItemPointerEquals(&oldtup.t_self, &oldtup.t_data->t_ctid))
			result = TM_Updated;
		else
			result = TM_Deleted;
	}

	if (crosscheck != InvalidSnapshot && result == TM_Ok &&
		!ph_tuple_visible(&oldtup, crosscheck, buffer))
		result = TM_Updated;

	if (result != TM_Ok)
	{
		fill_failure(oldtup.t_data, result, tmfd);
		UnlockReleaseBuffer(buffer);
		if (have_tuple_lock)
			ph_release_tuplock(rel, &oldtup.t_self, *lockmode);
		bms_free(hot_attrs);
		bms_free(key_attrs);
		bms_free(id_attrs);
		bms_free(interesting);
		bms_free(modified);
		return result;
	}
	if (oldcopy)
		*oldcopy = heap_copytuple(&oldtup);

	/* the old version's new xmax: us as updater, plus surviving lockers */
	ph_compute_new_xmax(HeapTupleHeaderGetRawXmax(oldtup.t_data),
						oldtup.t_data->t_infomask, oldtup.t_data->t_infomask2,
						xid, *lockmode, true,
						&xmax_old_tuple, &infomask_old_tuple,
						&infomask2_old_tuple);

	/*
	 * The new version inherits lockers that are still there (only
	 * key-share lockers can be, as we are updating).
	 */
	if ((oldtup.t_data->t_infomask & HEAP_XMAX_INVALID) ||
		HEAP_LOCKED_UPGRADED(oldtup.t_data->t_infomask) ||
		(checked_lockers && !locker_remains))
		xmax_new_tuple = InvalidTransactionId;
	else
		xmax_new_tuple = HeapTupleHeaderGetRawXmax(oldtup.t_data);

	if (!TransactionIdIsValid(xmax_new_tuple))
	{
		infomask_new_tuple = HEAP_XMAX_INVALID;
		infomask2_new_tuple = 0;
	}
	else if (oldtup.t_data->t_infomask & HEAP_XMAX_IS_MULTI)
		ph_multixact_hint_bits(xmax_new_tuple, &infomask_new_tuple,
							   &infomask2_new_tuple);
	else
	{
		infomask_new_tuple = HEAP_XMAX_KEYSHR_LOCK | HEAP_XMAX_LOCK_ONLY;
		infomask2_new_tuple = 0;
	}

	newtup->t_data->t_infomask &= ~HEAP_XACT_MASK;
	newtup->t_data->t_infomask2 &= ~HEAP2_XACT_MASK;
	HeapTupleHeaderSetXmin(newtup->t_data, xid);
	HeapTupleHeaderSetCmin(newtup->t_data, cid);
	newtup->t_data->t_infomask |= HEAP_UPDATED | infomask_new_tuple;
	newtup->t_data->t_infomask2 |= infomask2_new_tuple;
	HeapTupleHeaderSetXmax(newtup->t_data, xmax_new_tuple);

	/* the old version's cmax may need a combo CID (cmin is ours too) */
	HeapTupleHeaderAdjustCmax(oldtup.t_data, &cid, &iscombo);

	if (rel_uses_toast(rel))
		need_toast = HeapTupleHasExternal(&oldtup) ||
			HeapTupleHasExternal(newtup) ||
			newtup->t_len > TOAST_TUPLE_THRESHOLD;
	else
		need_toast = false;

	pagefree = PageGetHeapFreeSpace(page);
	newtupsize = MAXALIGN(newtup->t_len);

	if (need_toast || newtupsize > pagefree)
	{
		TransactionId xmax_lock;
		uint16		infomask_lock,
					infomask2_lock;

		/*
		 * We must let go of the page lock (TOAST work, or locking a second
		 * page in block order).  Mark the old version locked by us first,
		 * WAL-logged: if we fail before the update, our xact's abort makes
		 * the mark void.
		 */
		ph_compute_new_xmax(HeapTupleHeaderGetRawXmax(oldtup.t_data),
							oldtup.t_data->t_infomask,
							oldtup.t_data->t_infomask2,
							xid, *lockmode, false,
							&xmax_lock, &infomask_lock, &infomask2_lock);
		Assert(HEAP_XMAX_IS_LOCKED_ONLY(infomask_lock));

		memcpy(&work, oldtup.t_data, SizeofHeapTupleHeader);
		work.t_infomask &= ~(HEAP_XMAX_BITS | HEAP_MOVED);
		work.t_infomask2 &= ~HEAP_KEYS_UPDATED;
		HeapTupleHeaderClearHotUpdated(&work);
		HeapTupleHeaderSetXmax(&work, xmax_lock);
		work.t_infomask |= infomask_lock;
		work.t_infomask2 |= infomask2_lock;
		HeapTupleHeaderSetCmax(&work, cid, iscombo);
		work.t_ctid = oldtup.t_self;
		ph_header_change_from(&work, offnum, &chg);
		ph_wal_set_headers(rel, buffer, oldvblock, &chg, 1,
						   VISIBILITYMAP_ALL_FROZEN, NULL);
		LockBuffer(buffer, BUFFER_LOCK_UNLOCK);

		if (need_toast)
		{
			heaptup = heap_toast_insert_or_update(rel, newtup, &oldtup, 0);
			newtupsize = MAXALIGN(heaptup->t_len);
		}
		else
			heaptup = newtup;

		/*
		 * Same page if it (still) fits, else the lane page; the storage
		 * layer locks both pages in block order.
		 */
		for (;;)
		{
			if (newtupsize > pagefree)
			{
				newbuf = ph_get_insert_buffer(rel, heaptup->t_len, buffer,
											  NULL, &newvblock);
				break;
			}
			LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
			pagefree = PageGetHeapFreeSpace(page);
			if (newtupsize > pagefree)
				LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
			else
			{
				newbuf = buffer;
				newvblock = oldvblock;
				break;
			}
		}
	}
	else
	{
		newbuf = buffer;
		newvblock = oldvblock;
		heaptup = newtup;
	}

	/* both pages stay locked from here until the update is applied */
	CheckForSerializableConflictIn(rel, &oldtup.t_self, oldvblock);

	if (newbuf == buffer)
		use_hot = !bms_overlap(modified, hot_attrs);
	else
		PageSetFull(page);		/* hint: worth pruning */

	PageSetPrunable(page, xid);

	if (use_hot)
	{
		HeapTupleSetHeapOnly(heaptup);
		HeapTupleSetHeapOnly(newtup);
	}
	else
	{
		HeapTupleClearHeapOnly(heaptup);
		HeapTupleClearHeapOnly(newtup);
	}

	memcpy(&work, oldtup.t_data, SizeofHeapTupleHeader);
	work.t_infomask &= ~(HEAP_XMAX_BITS | HEAP_MOVED);
	work.t_infomask2 &= ~HEAP_KEYS_UPDATED;
	HeapTupleHeaderSetXmax(&work, xmax_old_tuple);
	work.t_infomask |= infomask_old_tuple;
	work.t_infomask2 |= infomask2_old_tuple;
	HeapTupleHeaderSetCmax(&work, cid, iscombo);
	if (use_hot)
		HeapTupleHeaderSetHotUpdated(&work);
	else
		HeapTupleHeaderClearHotUpdated(&work);
	/* t_ctid is set to the new version's TID by ph_wal_update */
	work.t_ctid = oldtup.t_self;
	ph_header_change_from(&work, offnum, &chg);

	/*
	 * Logical decoding: the old replica identity when a key column changed
	 * or is stored out of line (heap's rule), or the whole old row.
	 */
	li.kind = 0;
	li.oldkey = ph_replica_identity(rel, &oldtup,
									bms_overlap(modified, id_attrs) ||
									identity_external(rel, id_attrs, &oldtup),
									&li.oldfull);

	ph_wal_update(rel, buffer, oldvblock, &chg, newbuf, newvblock, heaptup,
				  &li);
	if (li.oldkey != NULL && li.oldkey != &oldtup)
		heap_freetuple(li.oldkey);

	if (newbuf != buffer)
		UnlockReleaseBuffer(newbuf);
	LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
	ReleaseBuffer(buffer);

	if (have_tuple_lock)
		ph_release_tuplock(rel, &oldtup.t_self, *lockmode);

	pgstat_count_heap_update(rel, use_hot);

	if (heaptup != newtup)
	{
		newtup->t_self = heaptup->t_self;
		heap_freetuple(heaptup);
	}

	bms_free(hot_attrs);
	bms_free(key_attrs);
	bms_free(id_attrs);
	bms_free(interesting);
	bms_free(modified);

	*hot = use_hot;
	return TM_Ok;
}

TM_Result
phantom_tuple_update(Relation rel, ItemPointer otid, TupleTableSlot *slot,
					 CommandId cid, Snapshot snapshot, Snapshot crosscheck,
					 bool wait, TM_FailureData *tmfd, LockTupleMode *lockmode,
					 bool *update_indexes)
{
	bool		cap = ph_repl_write_begin(rel);
	HeapTuple	oldcopy = NULL;
	bool		shouldFree = true;
	HeapTuple	tuple = ExecFetchSlotHeapTuple(slot, true, &shouldFree);
	TM_Result	result;
	bool		hot;

	slot->tts_tableOid = RelationGetRelid(rel);
	tuple->t_tableOid = slot->tts_tableOid;

	result = update_internal(rel, otid, tuple, cid, crosscheck, wait, tmfd,
							 lockmode, &hot, cap ? &oldcopy : NULL);
	slot->tts_tid = tuple->t_self;

	/* a HOT version is reached through its root's index entries */
	*update_indexes = (result == TM_Ok && !hot);
	if (oldcopy)
	{
		if (result == TM_Ok)
			ph_repl_capture_update(rel, oldcopy, slot);
		heap_freetuple(oldcopy);
	}

	if (shouldFree)
		pfree(tuple);
	return result;
}
