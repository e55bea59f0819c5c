/*-------------------------------------------------------------------------
 *
 * xmax.c
 *	  What a tuple's xmax says about its lockers and updater, and how a new
 *	  locker or updater is added to it.
 *
 *	  Phantom rows carry heap's MVCC header, so row locking follows
 *	  PostgreSQL's README.tuplock exactly: a single locker or updater is a
 *	  plain xid with HEAP_XMAX_{KEYSHR,SHR,EXCL}_LOCK / HEAP_XMAX_LOCK_ONLY /
 *	  HEAP_KEYS_UPDATED bits; several concurrent ones are a MultiXact whose
 *	  members carry a MultiXactStatus.  The four lock strengths map to
 *	  heavyweight lock modes whose conflict table is the one of the tuple
 *	  lock modes, so DoLockModesConflict() decides conflicts between
 *	  members, and LockTuple() in those modes queues waiters fairly.
 *
 *	  The functions here only compute, test and wait; nothing writes a
 *	  page.  Callers hold no buffer lock when they call a wait function.
 *	  ph_compute_new_xmax may create a MultiXact (it must be called before
 *	  the critical section that stores the result).
 *
 * src/mvcc/xmax.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/multixact.h"
#include "access/transam.h"
#include "access/xact.h"
#include "storage/lmgr.h"
#include "storage/procarray.h"
#include "utils/rel.h"

#include "phantom/mvcc/xmax.h"

/*
 * Per tuple lock strength: the heavyweight lock that represents it, and the
 * MultiXact statuses of a pure locker and of an updater (-1: that strength
 * cannot update).  Indexed by LockTupleMode.
 */
typedef struct PhLockModeInfo
{
	LOCKMODE	hwlock;
	int			lock_status;
	int			update_status;
} PhLockModeInfo;

static const PhLockModeInfo ph_lockmodes[MaxLockTupleMode + 1] = {
	/* LockTupleKeyShare */
	{AccessShareLock, MultiXactStatusForKeyShare, -1},
	/* LockTupleShare */
	{RowShareLock, MultiXactStatusForShare, -1},
	/* LockTupleNoKeyExclusive */
	{ExclusiveLock, MultiXactStatusForNoKeyUpdate, MultiXactStatusNoKeyUpdate},
	/* LockTupleExclusive */
	{AccessExclusiveLock, MultiXactStatusForUpdate, MultiXactStatusUpdate},
};

LOCKMODE
ph_tuplock_hwlock(LockTupleMode mode)
{
	return ph_lockmodes[mode].hwlock;
}

MultiXactStatus
ph_mxact_status_for_lock(LockTupleMode mode, bool is_update)
{
	int			status;

	status = is_update ? ph_lockmodes[mode].update_status :
		ph_lockmodes[mode].lock_status;
	if (status < 0)
		elog(ERROR, "phantom: tuple lock mode %d cannot %s", (int) mode,
			 is_update ? "update" : "lock");
	return (MultiXactStatus) status;
}

LockTupleMode
ph_tuplock_from_mxstatus(MultiXactStatus status)
{
	switch (status)
	{
		case MultiXactStatusForKeyShare:
			return LockTupleKeyShare;
		case MultiXactStatusForShare:
			return LockTupleShare;
		case MultiXactStatusForNoKeyUpdate:
		case MultiXactStatusNoKeyUpdate:
			return LockTupleNoKeyExclusive;
		case MultiXactStatusForUpdate:
		case MultiXactStatusUpdate:
			return LockTupleExclusive;
	}
	elog(ERROR, "phantom: unknown MultiXactStatus %d", (int) status);
	return LockTupleExclusive;	/* keep compiler quiet */
}

/* Heavyweight lock mode standing for a MultiXact member's status. */
static LOCKMODE
hwlock_from_mxstatus(MultiXactStatus status)
{
	return ph_lockmodes[ph_tuplock_from_mxstatus(status)].hwlock;
}

/*
 * The MultiXactStatus that a plain-xid xmax with these infomask bits
 * represents (a locker of some strength, or an updater).
 */
static MultiXactStatus
status_of_plain_xmax(uint16 infomask, uint16 infomask2)
{
	bool		keys = (infomask2 & HEAP_KEYS_UPDATED) != 0;

	if (!HEAP_XMAX_IS_LOCKED_ONLY(infomask))
		return keys ? MultiXactStatusUpdate : MultiXactStatusNoKeyUpdate;
	if (HEAP_XMAX_IS_KEYSHR_LOCKED(infomask))
		return MultiXactStatusForKeyShare;
	if (HEAP_XMAX_IS_SHR_LOCKED(infomask))
		return MultiXactStatusForShare;
	if (HEAP_XMAX_IS_EXCL_LOCKED(infomask))
		return keys ? MultiXactStatusForUpdate : MultiXactStatusForNoKeyUpdate;
	/* LOCK_ONLY with no strength bit: pg_upgrade'd pre-9.3 share lock */
	return MultiXactStatusForShare;
}

/* The updating member of a (not lock-only) MultiXact, or Invalid. */
static TransactionId
multixact_update_xid(MultiXactId multi)
{
	MultiXactMember *members;
	int			n;
	TransactionId result = InvalidTransactionId;

	n = GetMultiXactIdMembers(multi, &members, false, false);
	for (int i = 0; i < n; i++)
	{
		if (ISUPDATE_from_mxstatus(members[i].status))
		{
			result = members[i].xid;
			break;
		}
	}
	if (n > 0)
		pfree(members);
	return result;
}

void
ph_multixact_hint_bits(MultiXactId multi, uint16 *new_infomask,
					   uint16 *new_infomask2)
{
	MultiXactMember *members;
	int			n;
	LockTupleMode strongest = LockTupleKeyShare;
	bool		has_update = false;
	uint16		bits = HEAP_XMAX_IS_MULTI;
	uint16		bits2 = 0;

	/* a multi we just created or expanded is never "too old" */
	n = GetMultiXactIdMembers(multi, &members, false, false);
	for (int i = 0; i < n; i++)
	{
		LockTupleMode m = ph_tuplock_from_mxstatus(members[i].status);

		if (m > strongest)
			strongest = m;
		if (ISUPDATE_from_mxstatus(members[i].status))
			has_update = true;
		if (members[i].status == MultiXactStatusForUpdate ||
			members[i].status == MultiXactStatusUpdate)
			bits2 |= HEAP_KEYS_UPDATED;
	}
	if (n > 0)
		pfree(members);

	switch (strongest)
	{
		case LockTupleKeyShare:
			bits |= HEAP_XMAX_KEYSHR_LOCK;
			break;
		case LockTupleShare:
			bits |= HEAP_XMAX_SHR_LOCK;
			break;
		case LockTupleNoKeyExclusive:
		case LockTupleExclusive:
			bits |= HEAP_XMAX_EXCL_LOCK;
			break;
	}
	if (!has_update)
		bits |= HEAP_XMAX_LOCK_ONLY;

	*new_infomask = bits;
	*new_infomask2 = bits2;
}

/*
 * ph_compute_new_xmax
 *
 * The cases, in the order they must be tested (README.tuplock):
 *  - no valid xmax: our xid alone, with the bits of mode;
 *  - a MultiXact: if nobody in it is still running and it holds no
 *    committed update, it is as good as empty; otherwise add ourselves;
 *  - a plain xid that committed an update (hinted or not): keep it as the
 *    updater in a new MultiXact together with us;
 *  - a plain xid still running: a new MultiXact of both, except when it is
 *    our own xid (then keep only the stronger of the two locks);
 *  - anything else (ended locker, aborted updater): as if no xmax.
 */
void
ph_compute_new_xmax(TransactionId xmax, uint16 old_infomask,
					uint16 old_infomask2, TransactionId add_to_xmax,
					LockTupleMode mode, bool is_update,
					TransactionId *result_xmax, uint16 *result_infomask,
					uint16 *result_infomask2)
{
	Assert(TransactionIdIsCurrentTransactionId(add_to_xmax));

	for (;;)
	{
		if (old_infomask & HEAP_XMAX_INVALID)
		{
			uint16		bits = 0;
			uint16		bits2 = 0;

			if (is_update)
			{
				if (mode == LockTupleExclusive)
					bits2 |= HEAP_KEYS_UPDATED;
			}
			else
			{
				bits |= HEAP_XMAX_LOCK_ONLY;
				switch (mode)
				{
					case LockTupleKeyShare:
						bits |= HEAP_XMAX_KEYSHR_LOCK;
						break;
					case LockTupleShare:
						bits |= HEAP_XMAX_SHR_LOCK;
						break;
					case LockTupleNoKeyExclusive:
						bits |= HEAP_XMAX_EXCL_LOCK;
						break;
					case LockTupleExclusive:
						bits |= HEAP_XMAX_EXCL_LOCK;
						bits2 |= HEAP_KEYS_UPDATED;
						break;
				}
			}
			*result_xmax = add_to_xmax;
			*result_infomask = bits;
			*result_infomask2 = bits2;
			return;
		}

		if (old_infomask & HEAP_XMAX_IS_MULTI)
		{
			MultiXactId newmulti;

			/* a pg_upgrade'd share lock cannot be running any more */
			if (HEAP_LOCKED_UPGRADED(old_infomask))
			{
				old_infomask = (old_infomask & ~HEAP_XMAX_IS_MULTI) |
					HEAP_XMAX_INVALID;
				continue;
			}
			if (!MultiXactIdIsRunning(xmax,
									  HEAP_XMAX_IS_LOCKED_ONLY(old_infomask)))
			{
				/*
				 * Everybody in it is gone.  Unless one of them committed an
				 * update (which must be remembered), start afresh.
				 */
				if (HEAP_XMAX_IS_LOCKED_ONLY(old_infomask) ||
					!TransactionIdDidCommit(multixact_update_xid(xmax)))
				{
					old_infomask = (old_infomask & ~HEAP_XMAX_IS_MULTI) |
						HEAP_XMAX_INVALID;
					continue;
				}
			}
			newmulti = MultiXactIdExpand((MultiXactId) xmax, add_to_xmax,
										 ph_mxact_status_for_lock(mode, is_update));
			*result_xmax = newmulti;
			ph_multixact_hint_bits(newmulti, result_infomask, result_infomask2);
			return;
		}

		if ((old_infomask & HEAP_XMAX_COMMITTED) ||
			(!TransactionIdIsInProgress(xmax) &&
			 !HEAP_XMAX_IS_LOCKED_ONLY(old_infomask) &&
			 TransactionIdDidCommit(xmax)))
		{
			/*
			 * A committed updater: it can only be followed by lockers (who
			 * lock this old version, e.g. key-share lockers following the
			 * update chain); keep it as the update member.  It cannot be us.
			 */
			MultiXactId newmulti;
			MultiXactStatus upd = (old_infomask2 & HEAP_KEYS_UPDATED) ?
			MultiXactStatusUpdate : MultiXactStatusNoKeyUpdate;

			newmulti = MultiXactIdCreate(xmax, upd, add_to_xmax,
										 ph_mxact_status_for_lock(mode, is_update));
			*result_xmax = newmulti;
			ph_multixact_hint_bits(newmulti, result_infomask, result_infomask2);
			return;
		}

		if (TransactionIdIsInProgress(xmax))
		{
			MultiXactStatus old_status;
			MultiXactId newmulti;

			if (HEAP_XMAX_IS_LOCKED_ONLY(old_infomask) &&
				!(old_infomask & HEAP_LOCK_MASK))
			{
				/* bare LOCK_ONLY cannot belong to a running xact */
				elog(WARNING, "phantom: LOCK_ONLY xmax %u without lock bits is still running",
					 xmax);
				old_infomask = (old_infomask & ~HEAP_XMAX_LOCK_ONLY) |
					HEAP_XMAX_INVALID;
				continue;
			}
			old_status = status_of_plain_xmax(old_infomask, old_infomask2);

			if (TransactionIdEquals(xmax, add_to_xmax))
			{
				/*
				 * We already hold a lock (never an update: we would not be
				 * looking at an updated tuple of our own).  Keep just the
				 * stronger of the two; is_update stays as given.
				 */
				LockTupleMode held = ph_tuplock_from_mxstatus(old_status);

				Assert(HEAP_XMAX_IS_LOCKED_ONLY(old_infomask));
				if (held > mode)
					mode = held;
				old_infomask |= HEAP_XMAX_INVALID;
				continue;
			}
			newmulti = MultiXactIdCreate(xmax, old_status, add_to_xmax,
										 ph_mxact_status_for_lock(mode, is_update));
			*result_xmax = newmulti;
			ph_multixact_hint_bits(newmulti, result_infomask, result_infomask2);
			return;
		}

		/* ended locker, aborted or crashed updater: nothing to keep */
		old_infomask |= HEAP_XMAX_INVALID;
	}
}

bool
ph_multixact_conflicts(MultiXactId multi, uint16 infomask,
					   LockTupleMode lockmode, bool *current_is_member)
{
	MultiXactMember *members;
	int			n;
	bool		conflict = false;
	LOCKMODE	wanted = ph_tuplock_hwlock(lockmode);

	if (HEAP_LOCKED_UPGRADED(infomask))
		return false;

	n = GetMultiXactIdMembers(multi, &members, false,
							  HEAP_XMAX_IS_LOCKED_ONLY(infomask));
	for (int i = 0; i < n; i++)
	{
		TransactionId memxid = members[i].xid;

		/* stop early once both answers are known */
		if (conflict && (current_is_member == NULL || *current_is_member))
			break;

		if (TransactionIdIsCurrentTransactionId(memxid))
		{
			if (current_is_member != NULL)
				*current_is_member = true;
			continue;
		}
		if (conflict)
			continue;
		if (!DoLockModesConflict(hwlock_from_mxstatus(members[i].status),
								 wanted))
			continue;

		/*
		 * An updater conflicts until it aborts (a committed update
		 * persists); a pure locker only while it runs.
		 */
		if (ISUPDATE_from_mxstatus(members[i].status))
		{
			if (TransactionIdDidAbort(memxid))
				continue;
		}
		else if (!TransactionIdIsInProgress(memxid))
			continue;

		conflict = true;
	}
	if (n > 0)
		pfree(members);
	return conflict;
}

/*
 * Common body of the multixact waits: wait (or test, when nowait) for every
 * member whose status conflicts with status, skipping our own transaction.
 */
static bool
multixact_wait_internal(MultiXactId multi, MultiXactStatus status,
						uint16 infomask, bool nowait, Relation rel,
						ItemPointer ctid, XLTW_Oper oper, int *remaining)
{
	MultiXactMember *members;
	int			n;
	int			remain = 0;
	bool		ok = true;
	LOCKMODE	wanted = hwlock_from_mxstatus(status);

	if (HEAP_LOCKED_UPGRADED(infomask))
		n = -1;
	else
		n = GetMultiXactIdMembers(multi, &members, false,
								  HEAP_XMAX_IS_LOCKED_ONLY(infomask));

	for (int i = 0; i < n; i++)
	{
		TransactionId memxid = members[i].xid;

		if (TransactionIdIsCurrentTransactionId(memxid))
		{
			remain++;
			continue;
		}
		if (!DoLockModesConflict(hwlock_from_mxstatus(members[i].status),
								 wanted))
		{
			if (remaining != NULL && TransactionIdIsInProgress(memxid))
				remain++;
			continue;
		}

		/*
		 * Waiting on the xid also waits out its subtransactions; if it was
		 * only a locker that already ended, the wait returns at once.
		 */
		if (nowait)
		{
			if (!ConditionalXactLockTableWait(memxid))
			{
				ok = false;
				break;
			}
		}
		else
			XactLockTableWait(memxid, rel, ctid, oper);
	}
	if (n > 0)
		pfree(members);
	if (remaining != NULL)
		*remaining = remain;
	return ok;
}

void
ph_multixact_wait(MultiXactId multi, MultiXactStatus status, uint16 infomask,
				  Relation rel, ItemPointer ctid, XLTW_Oper oper,
				  int *remaining)
{
	(void) multixact_wait_internal(multi, status, infomask, false, rel, ctid,
								   oper, remaining);
}

bool
ph_multixact_wait_conditional(MultiXactId multi, MultiXactStatus status,
							  uint16 infomask, Relation rel, int *remaining)
{
	return multixact_wait_internal(multi, status, infomask, true, rel, NULL,
								   XLTW_None, remaining);
}

bool
ph_xmax_infomask_changed(uint16 new_infomask, uint16 old_infomask)
{
	const uint16 interesting =
		HEAP_XMAX_IS_MULTI | HEAP_XMAX_LOCK_ONLY | HEAP_LOCK_MASK;

	return (new_infomask & interesting) != (old_infomask & interesting);
}

void
ph_update_xmax_hint_bits(HeapTupleHeader tuple, Buffer buffer,
						 TransactionId xwait)
{
	Assert(TransactionIdEquals(HeapTupleHeaderGetRawXmax(tuple), xwait));
	Assert(!(tuple->t_infomask & HEAP_XMAX_IS_MULTI));

	if (tuple->t_infomask & (HEAP_XMAX_COMMITTED | HEAP_XMAX_INVALID))
		return;
	if (!HEAP_XMAX_IS_LOCKED_ONLY(tuple->t_infomask) &&
		TransactionIdDidCommit(xwait))
		HeapTupleSetHintBits(tuple, buffer, HEAP_XMAX_COMMITTED, xwait);
	else
		HeapTupleSetHintBits(tuple, buffer, HEAP_XMAX_INVALID,
							 InvalidTransactionId);
}

bool
ph_acquire_tuplock(Relation rel, ItemPointer tid, LockTupleMode mode,
				   LockWaitPolicy wait_policy, bool *have_tuple_lock)
{
	LOCKMODE	hw = ph_tuplock_hwlock(mode);

	if (*have_tuple_lock)
		return true;

	switch (wait_policy)
	{
		case LockWaitBlock:
			LockTuple(rel, tid, hw);
			break;
		case LockWaitSkip:
			if (!ConditionalLockTuple(rel, tid, hw))
				return false;
			break;
		case LockWaitError:
			if (!ConditionalLockTuple(rel, tid, hw))
				ereport(ERROR,
						(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
						 errmsg("could not obtain lock on row in relation \"%s\"",
								RelationGetRelationName(rel))));
			break;
	}
	*have_tuple_lock = true;
	return true;
}

void
ph_release_tuplock(Relation rel, ItemPointer tid, LockTupleMode mode)
{
	UnlockTuple(rel, tid, ph_tuplock_hwlock(mode));
}
