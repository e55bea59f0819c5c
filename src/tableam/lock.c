/*-------------------------------------------------------------------------
 *
 * lock.c
 *	  tuple_lock of the phantom table AM: SELECT ... FOR KEY SHARE / SHARE /
 *	  NO KEY UPDATE / UPDATE, the row locks of foreign-key checks, and the
 *	  locking step of EvalPlanQual rechecks and ON CONFLICT DO UPDATE.
 *
 *	  The rules are README.tuplock's, as in heap_lock_tuple: a lock is
 *	  recorded in the tuple's xmax (a plain xid, or a MultiXact when several
 *	  transactions hold locks, or lockers plus an updater); waiters queue on
 *	  the heavyweight tuple lock of the requested strength before sleeping
 *	  on the xmax transaction(s), so that they are served in order; a lock
 *	  already held at the requested strength or above by our transaction
 *	  (or a subtransaction) is success without waiting.  With
 *	  TUPLE_LOCK_FLAG_LOCK_UPDATE_IN_PROGRESS the newer versions of an
 *	  updated row are locked too (their updater may still abort); with
 *	  TUPLE_LOCK_FLAG_FIND_LAST_VERSION an updated row is chased to its
 *	  newest version, which is locked and returned (tmfd->traversed).
 *
 *	  Buffer locks: the page of the version being locked is exclusively
 *	  locked only while its header is examined or changed; it is unlocked
 *	  across every wait.  Writing a lock into a cold vblock thaws it first
 *	  (ph_page_open_for_write).
 *
 * src/tableam/lock.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/multixact.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/visibilitymapdefs.h"
#include "access/xact.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/procarray.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "phantom/lsm/storage.h"
#include "phantom/mvcc/visibility.h"
#include "phantom/mvcc/xmax.h"
#include "phantom/tableam/modify.h"
#include "phantom/tableam/rowfetch.h"
#include "phantom/tableam/tableam.h"
#include "phantom/wal/wal.h"

/*
 * Store xmax/infomask bits computed for a lock into item offnum of the
 * (exclusively locked) page.  A lock never touches cmax; it drops the
 * forward link and HOT-updated mark only when there is no update in the
 * new xmax.
 */
static void
write_lock(Relation rel, Buffer buf, BlockNumber vblock, HeapTuple tuple,
		   TransactionId new_xmax, uint16 new_infomask, uint16 new_infomask2,
		   bool reset_ctid)
{
	HeapTupleHeaderData work;
	PhHeaderChange chg;

	memcpy(&work, tuple->t_data, SizeofHeapTupleHeader);
	work.t_infomask &= ~HEAP_XMAX_BITS;
	work.t_infomask2 &= ~HEAP_KEYS_UPDATED;
	work.t_infomask |= new_infomask;
	work.t_infomask2 |= new_infomask2;
	if (HEAP_XMAX_IS_LOCKED_ONLY(new_infomask))
		HeapTupleHeaderClearHotUpdated(&work);
	HeapTupleHeaderSetXmax(&work, new_xmax);
	if (reset_ctid && HEAP_XMAX_IS_LOCKED_ONLY(new_infomask))
		work.t_ctid = tuple->t_self;
	ph_header_change_from(&work, ItemPointerGetOffsetNumber(&tuple->t_self),
						  &chg);

	/*
	 * An all-frozen page would let VACUUM skip the xid/multi we write, so
	 * its all-frozen bit goes; a lock changes no row's visibility, so the
	 * page stays all-visible (heap_lock_tuple's rule).
	 */
	ph_wal_set_headers(rel, buf, vblock, &chg, 1, VISIBILITYMAP_ALL_FROZEN,
					   NULL);
}

/*
 * Given a lock (status) held by xid on version tup, may we take mode?
 * TM_Ok with *needwait when we must wait for xid first; TM_SelfModified
 * when it is our own; TM_Updated/TM_Deleted when xid committed a
 * conflicting update.
 */
static TM_Result
lock_conflict_with(MultiXactStatus status, TransactionId xid,
				   LockTupleMode mode, HeapTuple tup, bool *needwait)
{
	LOCKMODE	wanted = ph_tuplock_hwlock(mode);
	LOCKMODE	held = ph_tuplock_hwlock(ph_tuplock_from_mxstatus(status));

	*needwait = false;

	/* in-progress is checked before commit status, as always */
	if (TransactionIdIsCurrentTransactionId(xid))
		return TM_SelfModified;
	if (TransactionIdIsInProgress(xid))
	{
		if (DoLockModesConflict(held, wanted))
			*needwait = true;
		return TM_Ok;
	}
	if (TransactionIdDidAbort(xid))
		return TM_Ok;
	if (TransactionIdDidCommit(xid))
	{
		/* an ended locker is gone; a committed update stays */
		if (!ISUPDATE_from_mxstatus(status))
			return TM_Ok;
		if (DoLockModesConflict(held, wanted))
			return ItemPointerEquals(&tup->t_self, &tup->t_data->t_ctid) ?
				TM_Deleted : TM_Updated;
		return TM_Ok;
	}
	/* crashed */
	return TM_Ok;
}

/*
 * Lock the versions that follow an updated tuple (ctid onwards) for xid
 * in mode: the update that made them may still abort, and then our lock
 * must be on the surviving version.  No visibility test: every version of
 * the chain is locked, waiting (without the heavyweight tuple lock, as
 * heap) for conflicting lockers or updaters.
 */
static TM_Result
lock_updated_chain(Relation rel, ItemPointer ctid, TransactionId xid,
				   LockTupleMode mode)
{
	ItemPointerData tupid = *ctid;
	TransactionId priorXmax = InvalidTransactionId;

	MultiXactIdSetOldestMember();

	for (;;)
	{
		BlockNumber vblock = ItemPointerGetBlockNumber(&tupid);
		OffsetNumber offnum = ItemPointerGetOffsetNumber(&tupid);
		Buffer		buf;
		Page		page;
		ItemId		lp;
		HeapTupleData mytup;
		uint16		old_infomask,
					old_infomask2;
		TransactionId xmax,
					new_xmax;
		uint16		new_infomask,
					new_infomask2;
		TM_Result	result;

		if (vblock >= ph_nvblocks(rel))
			return TM_Ok;
		buf = ph_page_open_for_write(rel, vblock);

relock:
		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);

		/* vanished (pruned after its inserter aborted): end of chain */
		if (offnum > PageGetMaxOffsetNumber(page) ||
			!ItemIdIsNormal(lp = PageGetItemId(page, offnum)))
		{
			UnlockReleaseBuffer(buf);
			return TM_Ok;
		}
		mytup.t_data = (HeapTupleHeader) PageGetItem(page, lp);
		mytup.t_len = ItemIdGetLength(lp);
		mytup.t_self = tupid;
		mytup.t_tableOid = RelationGetRelid(rel);

		/* slot recycled for another row, or inserter aborted: done */
		if ((TransactionIdIsValid(priorXmax) &&
			 !TransactionIdEquals(HeapTupleHeaderGetXmin(mytup.t_data),
								  priorXmax)) ||
			TransactionIdDidAbort(HeapTupleHeaderGetXmin(mytup.t_data)))
		{
			UnlockReleaseBuffer(buf);
			return TM_Ok;
		}

		old_infomask = mytup.t_data->t_infomask;
		old_infomask2 = mytup.t_data->t_infomask2;
		xmax = HeapTupleHeaderGetRawXmax(mytup.t_data);

		if (!(old_infomask & HEAP_XMAX_INVALID))
		{
			bool		needwait;

			if (old_infomask & HEAP_XMAX_IS_MULTI)
			{
				MultiXactMember *members;
				int			n;
				bool		skip = false;

				n = GetMultiXactIdMembers(xmax, &members, false,
										  HEAP_XMAX_IS_LOCKED_ONLY(old_infomask));
				for (int i = 0; i < n; i++)
				{
					result = lock_conflict_with(members[i].status,
												members[i].xid, mode,
												&mytup, &needwait);
					if (result == TM_SelfModified)
					{
						/* locked by us already (an earlier pass) */
						skip = true;
						break;
					}
					if (needwait)
					{
						TransactionId w = members[i].xid;

						pfree(members);
						LockBuffer(buf, BUFFER_LOCK_UNLOCK);
						XactLockTableWait(w, rel, &mytup.t_self,
										  XLTW_LockUpdated);
						goto relock;
					}
					if (result != TM_Ok)
					{
						pfree(members);
						UnlockReleaseBuffer(buf);
						return result;
					}
				}
				if (n > 0)
					pfree(members);
				if (skip)
					goto next;
			}
			else
			{
				MultiXactStatus status;

				if (HEAP_XMAX_IS_LOCKED_ONLY(old_infomask))
				{
					if (HEAP_XMAX_IS_KEYSHR_LOCKED(old_infomask))
						status = MultiXactStatusForKeyShare;
					else if (HEAP_XMAX_IS_SHR_LOCKED(old_infomask))
						status = MultiXactStatusForShare;
					else if (HEAP_XMAX_IS_EXCL_LOCKED(old_infomask))
						status = (old_infomask2 & HEAP_KEYS_UPDATED) ?
							MultiXactStatusForUpdate :
							MultiXactStatusForNoKeyUpdate;
					else
						elog(ERROR, "phantom: invalid lock status in tuple (%u,%u)",
							 vblock, offnum);
				}
				else
					status = (old_infomask2 & HEAP_KEYS_UPDATED) ?
						MultiXactStatusUpdate : MultiXactStatusNoKeyUpdate;

				result = lock_conflict_with(status, xmax, mode, &mytup,
											&needwait);
				if (result == TM_SelfModified)
					goto next;
				if (needwait)
				{
					LockBuffer(buf, BUFFER_LOCK_UNLOCK);
					XactLockTableWait(xmax, rel, &mytup.t_self,
									  XLTW_LockUpdated);
					goto relock;
				}
				if (result != TM_Ok)
				{
					UnlockReleaseBuffer(buf);
					return result;
				}
			}
		}

		ph_compute_new_xmax(xmax, old_infomask, old_infomask2, xid, mode,
							false, &new_xmax, &new_infomask, &new_infomask2);
		write_lock(rel, buf, vblock, &mytup, new_xmax, new_infomask,
				   new_infomask2, false);

next:
		/* end of the chain? */
		if ((mytup.t_data->t_infomask & HEAP_XMAX_INVALID) ||
			HeapTupleHeaderIndicatesMovedPartitions(mytup.t_data) ||
			ItemPointerEquals(&mytup.t_self, &mytup.t_data->t_ctid) ||
			HeapTupleHeaderIsOnlyLocked(mytup.t_data))
		{
			UnlockReleaseBuffer(buf);
			return TM_Ok;
		}
		priorXmax = HeapTupleHeaderGetUpdateXid(mytup.t_data);
		tupid = mytup.t_data->t_ctid;
		UnlockReleaseBuffer(buf);
	}
}

/* Start of lock_updated_chain from the first (already locked) version. */
static TM_Result
lock_updated_versions(Relation rel, HeapTuple tuple, ItemPointer ctid,
					  TransactionId xid, LockTupleMode mode)
{
	if (HeapTupleHeaderIndicatesMovedPartitions(tuple->t_data) ||
		ItemPointerEquals(&tuple->t_self, ctid))
		return TM_Ok;			/* not updated, or moved away: nothing */
	return lock_updated_chain(rel, ctid, xid, mode);
}

/*
 * Lock the version at tuple->t_self: phantom's heap_lock_tuple.  On
 * return *buffer is pinned (not locked) and tuple->t_data points to the
 * version in it, whatever the result (except TM_Deleted for a vanished
 * item, where *buffer is invalid).
 */
static TM_Result
lock_tuple_internal(Relation rel, HeapTuple tuple, CommandId cid,
					LockTupleMode mode, LockWaitPolicy wait_policy,
					bool follow_updates, Buffer *buffer,
					TM_FailureData *tmfd)
{
	ItemPointer tid = &tuple->t_self;
	BlockNumber vblock = ItemPointerGetBlockNumber(tid);
	OffsetNumber offnum = ItemPointerGetOffsetNumber(tid);
	TM_Result	result;
	Page		page;
	ItemId		lp;
	bool		first_time = true;
	bool		skip_tuple_lock = false;
	bool		have_tuple_lock = false;
	TransactionId xid,
				xmax;
	uint16		old_infomask,
				new_infomask,
				new_infomask2;

	*buffer = ph_page_open_for_write(rel, vblock);
	LockBuffer(*buffer, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(*buffer);

	if (offnum > PageGetMaxOffsetNumber(page) ||
		!ItemIdIsNormal(lp = PageGetItemId(page, offnum)))
	{
		UnlockReleaseBuffer(*buffer);
		*buffer = InvalidBuffer;
		tuple->t_data = NULL;
		tmfd->ctid = *tid;
		tmfd->xmax = InvalidTransactionId;
		tmfd->cmax = InvalidCommandId;
		return TM_Deleted;
	}

	tuple->t_data = (HeapTupleHeader) PageGetItem(page, lp);
	tuple->t_len = ItemIdGetLength(lp);
	tuple->t_tableOid = RelationGetRelid(rel);

retry:
	result = ph_tuple_satisfies_update(tuple, cid, *buffer);

	if (result == TM_Invisible)
	{
		/* ON CONFLICT DO UPDATE raises its own, more specific error */
		goto out_locked;
	}
	else if (result == TM_BeingModified || result == TM_Updated ||
			 result == TM_Deleted)
	{
		TransactionId xwait = HeapTupleHeaderGetRawXmax(tuple->t_data);
		uint16		infomask = tuple->t_data->t_infomask;
		uint16		infomask2 = tuple->t_data->t_infomask2;
		ItemPointerData t_ctid = tuple->t_data->t_ctid;
		bool		require_sleep;

		LockBuffer(*buffer, BUFFER_LOCK_UNLOCK);

		/*
		 * Already holding as strong a lock (in any subtransaction of ours)
		 * is success, and must not queue on the tuple lock: someone
		 * queued there may be waiting for us.
		 */
		if (first_time)
		{
			first_time = false;
			if (infomask & HEAP_XMAX_IS_MULTI)
			{
				MultiXactMember *members;
				int			n;

				n = GetMultiXactIdMembers(xwait, &members, false,
										  HEAP_XMAX_IS_LOCKED_ONLY(infomask));
				for (int i = 0; i < n; i++)
				{
					if (!TransactionIdIsCurrentTransactionId(members[i].xid))
						continue;
					if (ph_tuplock_from_mxstatus(members[i].status) >= mode)
					{
						pfree(members);
						result = TM_Ok;
						goto out_unlocked;
					}
					/* upgrading our own weaker lock: don't queue */
					skip_tuple_lock = true;
				}
				if (n > 0)
					pfree(members);
			}
			else if (TransactionIdIsCurrentTransactionId(xwait))
			{
				bool		held = false;

				switch (mode)
				{
					case LockTupleKeyShare:
						held = true;
						break;
					case LockTupleShare:
						held = HEAP_XMAX_IS_SHR_LOCKED(infomask) ||
							HEAP_XMAX_IS_EXCL_LOCKED(infomask);
						break;
					case LockTupleNoKeyExclusive:
						held = HEAP_XMAX_IS_EXCL_LOCKED(infomask);
						break;
					case LockTupleExclusive:
						held = HEAP_XMAX_IS_EXCL_LOCKED(infomask) &&
							(infomask2 & HEAP_KEYS_UPDATED);
						break;
				}
				if (held)
				{
					result = TM_Ok;
					goto out_unlocked;
				}
			}
		}

		/* assume we must wait; find the cases where we need not */
		require_sleep = true;
		if (mode == LockTupleKeyShare)
		{
			/*
			 * Key share only conflicts with key updates and deletes.  If
			 * the row was updated without touching the key, lock the newer
			 * versions too (so a later key change there waits for us).
			 */
			if (!(infomask2 & HEAP_KEYS_UPDATED))
			{
				bool		updated = !HEAP_XMAX_IS_LOCKED_ONLY(infomask);

				if (follow_updates && updated)
				{
					TM_Result	res;

					res = lock_updated_versions(rel, tuple, &t_ctid,
												GetCurrentTransactionId(),
												mode);
					if (res != TM_Ok)
					{
						result = res;
						LockBuffer(*buffer, BUFFER_LOCK_EXCLUSIVE);
						goto failed;
					}
				}
				LockBuffer(*buffer, BUFFER_LOCK_EXCLUSIVE);
				if (!HeapTupleHeaderIsOnlyLocked(tuple->t_data) &&
					((tuple->t_data->t_infomask2 & HEAP_KEYS_UPDATED) ||
					 !updated))
					goto retry;
				require_sleep = false;
			}
		}
		else if (mode == LockTupleShare)
		{
			/* share locks coexist unless someone updates or locks excl. */
			if (HEAP_XMAX_IS_LOCKED_ONLY(infomask) &&
				!HEAP_XMAX_IS_EXCL_LOCKED(infomask))
			{
				LockBuffer(*buffer, BUFFER_LOCK_EXCLUSIVE);
				if (!HEAP_XMAX_IS_LOCKED_ONLY(tuple->t_data->t_infomask) ||
					HEAP_XMAX_IS_EXCL_LOCKED(tuple->t_data->t_infomask))
					goto retry;
				require_sleep = false;
			}
		}
		else if (mode == LockTupleNoKeyExclusive)
		{
			/* no-key exclusive coexists with key-share lockers only */
			if (infomask & HEAP_XMAX_IS_MULTI)
			{
				if (!ph_multixact_conflicts((MultiXactId) xwait, infomask,
											mode, NULL))
				{
					LockBuffer(*buffer, BUFFER_LOCK_EXCLUSIVE);
					if (ph_xmax_infomask_changed(tuple->t_data->t_infomask,
												 infomask) ||
						!TransactionIdEquals(HeapTupleHeaderGetRawXmax(tuple->t_data),
											 xwait))
						goto retry;
					require_sleep = false;
				}
			}
			else if (HEAP_XMAX_IS_KEYSHR_LOCKED(infomask))
			{
				LockBuffer(*buffer, BUFFER_LOCK_EXCLUSIVE);
				if (ph_xmax_infomask_changed(tuple->t_data->t_infomask,
											 infomask) ||
					!TransactionIdEquals(HeapTupleHeaderGetRawXmax(tuple->t_data),
										 xwait))
					goto retry;
				require_sleep = false;
			}
		}

		/* the only locker being ourselves never requires sleeping */
		if (require_sleep && !(infomask & HEAP_XMAX_IS_MULTI) &&
			TransactionIdIsCurrentTransactionId(xwait))
		{
			LockBuffer(*buffer, BUFFER_LOCK_EXCLUSIVE);
			if (ph_xmax_infomask_changed(tuple->t_data->t_infomask, infomask) ||
				!TransactionIdEquals(HeapTupleHeaderGetRawXmax(tuple->t_data),
									 xwait))
				goto retry;
			Assert(HEAP_XMAX_IS_LOCKED_ONLY(tuple->t_data->t_infomask));
			require_sleep = false;
		}

		if (require_sleep && (result == TM_Updated || result == TM_Deleted))
		{
			/* a committed update or delete: waiting cannot help */
			LockBuffer(*buffer, BUFFER_LOCK_EXCLUSIVE);
			goto failed;
		}
		else if (require_sleep)
		{
			/* queue on the tuple lock first (README.tuplock) */
			if (!skip_tuple_lock &&
				!ph_acquire_tuplock(rel, tid, mode, wait_policy,
									&have_tuple_lock))
			{
				result = TM_WouldBlock;
				LockBuffer(*buffer, BUFFER_LOCK_EXCLUSIVE);
				goto failed;
			}

			if (infomask & HEAP_XMAX_IS_MULTI)
			{
				MultiXactStatus status = ph_mxact_status_for_lock(mode, false);

				switch (wait_policy)
				{
					case LockWaitBlock:
						ph_multixact_wait((MultiXactId) xwait, status,
										  infomask, rel, &tuple->t_self,
										  XLTW_Lock, NULL);
						break;
					case LockWaitSkip:
						if (!ph_multixact_wait_conditional((MultiXactId) xwait,
														   status, infomask,
														   rel, NULL))
						{
							result = TM_WouldBlock;
							LockBuffer(*buffer, BUFFER_LOCK_EXCLUSIVE);
							goto failed;
						}
						break;
					case LockWaitError:
						if (!ph_multixact_wait_conditional((MultiXactId) xwait,
														   status, infomask,
														   rel, NULL))
							ereport(ERROR,
									(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
									 errmsg("could not obtain lock on row in relation \"%s\"",
											RelationGetRelationName(rel))));
						break;
				}
			}
			else
			{
				switch (wait_policy)
				{
					case LockWaitBlock:
						XactLockTableWait(xwait, rel, &tuple->t_self,
										  XLTW_Lock);
						break;
					case LockWaitSkip:
						if (!ConditionalXactLockTableWait(xwait))
						{
							result = TM_WouldBlock;
							LockBuffer(*buffer, BUFFER_LOCK_EXCLUSIVE);
							goto failed;
						}
						break;
					case LockWaitError:
						if (!ConditionalXactLockTableWait(xwait))
							ereport(ERROR,
									(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
									 errmsg("could not obtain lock on row in relation \"%s\"",
											RelationGetRelationName(rel))));
						break;
				}
			}

			/* the updater may have aborted: lock its versions too */
			if (follow_updates && !HEAP_XMAX_IS_LOCKED_ONLY(infomask))
			{
				TM_Result	res;

				res = lock_updated_versions(rel, tuple, &t_ctid,
											GetCurrentTransactionId(), mode);
				if (res != TM_Ok)
				{
					result = res;
					LockBuffer(*buffer, BUFFER_LOCK_EXCLUSIVE);
					goto failed;
				}
			}

			LockBuffer(*buffer, BUFFER_LOCK_EXCLUSIVE);
			if (ph_xmax_infomask_changed(tuple->t_data->t_infomask, infomask) ||
				!TransactionIdEquals(HeapTupleHeaderGetRawXmax(tuple->t_data),
									 xwait))
				goto retry;
			if (!(infomask & HEAP_XMAX_IS_MULTI))
				ph_update_xmax_hint_bits(tuple->t_data, *buffer, xwait);
		}

		/* buffer is exclusively locked again here */
		if (!require_sleep ||
			(tuple->t_data->t_infomask & HEAP_XMAX_INVALID) ||
			HEAP_XMAX_IS_LOCKED_ONLY(tuple->t_data->t_infomask) ||
			HeapTupleHeaderIsOnlyLocked(tuple->t_data))
			result = TM_Ok;
		else if (!ItemPointerEquals(&tuple->t_self, &tuple->t_data->t_ctid))
			result = TM_Updated;
		else
			result = TM_Deleted;
	}

failed:
	if (result != TM_Ok)
	{
		Assert(result == TM_SelfModified || result == TM_Updated ||
			   result == TM_Deleted || result == TM_WouldBlock);
		tmfd->ctid = tuple->t_data->t_ctid;
		tmfd->xmax = HeapTupleHeaderGetUpdateXid(tuple->t_data);
		if (result == TM_SelfModified)
			tmfd->cmax = HeapTupleHeaderGetCmax(tuple->t_data);
		else
			tmfd->cmax = InvalidCommandId;
		goto out_locked;
	}

	xmax = HeapTupleHeaderGetRawXmax(tuple->t_data);
	old_infomask = tuple->t_data->t_infomask;

	MultiXactIdSetOldestMember();
	ph_compute_new_xmax(xmax, old_infomask, tuple->t_data->t_infomask2,
						GetCurrentTransactionId(), mode, false,
						&xid, &new_infomask, &new_infomask2);
	write_lock(rel, *buffer, vblock, tuple, xid, new_infomask, new_infomask2,
			   true);
	result = TM_Ok;

out_locked:
	LockBuffer(*buffer, BUFFER_LOCK_UNLOCK);

out_unlocked:
	if (have_tuple_lock)
		ph_release_tuplock(rel, tid, mode);
	return result;
}

/*
 * tuple_lock: heapam_tuple_lock's contract.  The locked version is left
 * in slot (for every result but a vanished TM_Deleted), so that EPQ and
 * ON CONFLICT can read it.
 */
TM_Result
phantom_tuple_lock(Relation rel, ItemPointer tid, Snapshot snapshot,
				   TupleTableSlot *slot, CommandId cid, LockTupleMode mode,
				   LockWaitPolicy wait_policy, uint8 flags,
				   TM_FailureData *tmfd)
{
	BufferHeapTupleTableSlot *bslot = (BufferHeapTupleTableSlot *) slot;
	HeapTuple	tuple = &bslot->base.tupdata;
	bool		follow_updates;
	TM_Result	result;
	Buffer		buffer;

	Assert(TTS_IS_BUFFERTUPLE(slot));

	follow_updates = (flags & TUPLE_LOCK_FLAG_LOCK_UPDATE_IN_PROGRESS) != 0;
	tmfd->traversed = false;

retry:
	tuple->t_self = *tid;
	result = lock_tuple_internal(rel, tuple, cid, mode, wait_policy,
								 follow_updates, &buffer, tmfd);
	if (!BufferIsValid(buffer))
		return result;			/* the item vanished */

	if (result == TM_Updated && (flags & TUPLE_LOCK_FLAG_FIND_LAST_VERSION))
	{
		SnapshotData dirty;
		TransactionId priorXmax;

		ReleaseBuffer(buffer);
		if (ItemPointerEquals(&tmfd->ctid, &tuple->t_self))
			return TM_Deleted;

		/* chase the update chain to the newest version */
		*tid = tmfd->ctid;
		priorXmax = tmfd->xmax;
		tmfd->traversed = true;

		InitDirtySnapshot(dirty);
		for (;;)
		{
			bool		visible;

			if (ItemPointerIndicatesMovedPartitions(tid))
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("tuple to be locked was already moved to another partition due to concurrent update")));

			tuple->t_self = *tid;
			visible = ph_fetch(rel, &dirty, tuple, &buffer, true);
			if (tuple->t_data == NULL)
				return TM_Deleted;	/* the slot is empty: row deleted */

			/* a different row reused the slot: ours was deleted */
			if (!TransactionIdEquals(HeapTupleHeaderGetXmin(tuple->t_data),
									 priorXmax))
			{
				if (BufferIsValid(buffer))
					ReleaseBuffer(buffer);
				return TM_Deleted;
			}

			if (visible)
			{
				if (TransactionIdIsValid(dirty.xmin))
					ereport(ERROR,
							(errcode(ERRCODE_DATA_CORRUPTED),
							 errmsg_internal("t_xmin %u is uncommitted in tuple (%u,%u) to be updated in table \"%s\"",
											 dirty.xmin,
											 ItemPointerGetBlockNumber(&tuple->t_self),
											 ItemPointerGetOffsetNumber(&tuple->t_self),
											 RelationGetRelationName(rel))));

				/* being updated or deleted: wait for it, or give up */
				if (TransactionIdIsValid(dirty.xmax))
				{
					if (BufferIsValid(buffer))
						ReleaseBuffer(buffer);
					switch (wait_policy)
					{
						case LockWaitBlock:
							XactLockTableWait(dirty.xmax, rel, &tuple->t_self,
											  XLTW_FetchUpdated);
							break;
						case LockWaitSkip:
							if (!ConditionalXactLockTableWait(dirty.xmax))
								return TM_WouldBlock;
							break;
						case LockWaitError:
							if (!ConditionalXactLockTableWait(dirty.xmax))
								ereport(ERROR,
										(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
										 errmsg("could not obtain lock on row in relation \"%s\"",
												RelationGetRelationName(rel))));
							break;
					}
					continue;
				}

				/* inserted by our own later command: invisible to us */
				if (TransactionIdIsCurrentTransactionId(priorXmax) &&
					HeapTupleHeaderGetCmin(tuple->t_data) >= cid)
				{
					tmfd->xmax = priorXmax;
					tmfd->cmax = HeapTupleHeaderGetCmin(tuple->t_data);
					if (BufferIsValid(buffer))
						ReleaseBuffer(buffer);
					return TM_SelfModified;
				}

				/* a live version: lock it */
				if (BufferIsValid(buffer))
					ReleaseBuffer(buffer);
				goto retry;
			}

			/*
			 * Dead to the dirty snapshot: deleted (stop) or updated by a
			 * committed or our own transaction (follow on).
			 */
			if (ItemPointerEquals(&tuple->t_self, &tuple->t_data->t_ctid))
			{
				if (BufferIsValid(buffer))
					ReleaseBuffer(buffer);
				return TM_Deleted;
			}
			*tid = tuple->t_data->t_ctid;
			priorXmax = HeapTupleHeaderGetUpdateXid(tuple->t_data);
			if (BufferIsValid(buffer))
				ReleaseBuffer(buffer);
		}
	}

	slot->tts_tableOid = RelationGetRelid(rel);
	tuple->t_tableOid = slot->tts_tableOid;
	ExecStorePinnedBufferHeapTuple(tuple, slot, buffer);
	return result;
}
