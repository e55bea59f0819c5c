/*-------------------------------------------------------------------------
 *
 * xmax.h
 *	  Row-lock and update bookkeeping in a tuple's xmax (src/mvcc/xmax.c):
 *	  the new xmax/infomask a locker or updater must store, MultiXact
 *	  conflict tests and waits, and the heavyweight tuple lock that queues
 *	  waiters.  These follow PostgreSQL's README.tuplock; heapam.c keeps
 *	  its versions static, so phantom has its own.
 *
 * include/phantom/mvcc/xmax.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHANTOM_MVCC_XMAX_H
#define PHANTOM_MVCC_XMAX_H

#include "access/heapam.h"
#include "access/multixact.h"
#include "access/tableam.h"
#include "nodes/lockoptions.h"
#include "storage/lmgr.h"
#include "utils/rel.h"

/* Heavyweight lock mode that queues waiters for a tuple lock mode. */
extern LOCKMODE ph_tuplock_hwlock(LockTupleMode mode);

/* MultiXactStatus a locker (is_update = false) or updater uses. */
extern MultiXactStatus ph_mxact_status_for_lock(LockTupleMode mode,
												bool is_update);

/* LockTupleMode a MultiXact member's status stands for. */
extern LockTupleMode ph_tuplock_from_mxstatus(MultiXactStatus status);

/*
 * ph_compute_new_xmax: given the current raw xmax and infomasks of a tuple
 * and the current transaction's xid acquiring mode (as a lock, or as an
 * update/delete when is_update), compute the xmax (possibly a new
 * MultiXact) and the HEAP_XMAX_* / HEAP_KEYS_UPDATED bits to store.
 */
extern void ph_compute_new_xmax(TransactionId xmax, uint16 old_infomask,
								uint16 old_infomask2, TransactionId add_to_xmax,
								LockTupleMode mode, bool is_update,
								TransactionId *result_xmax,
								uint16 *result_infomask,
								uint16 *result_infomask2);

/* Infomask bits describing MultiXact multi (lock strength, lock-only). */
extern void ph_multixact_hint_bits(MultiXactId multi, uint16 *new_infomask,
								   uint16 *new_infomask2);

/*
 * Does any member of multi (other than our own transaction) hold a lock or
 * update conflicting with lockmode?  *current_is_member, when not NULL, is
 * set if our transaction is a member.
 */
extern bool ph_multixact_conflicts(MultiXactId multi, uint16 infomask,
								   LockTupleMode lockmode,
								   bool *current_is_member);

/*
 * Wait for the members of multi whose locks conflict with status to end.
 * ph_multixact_wait blocks; ph_multixact_wait_conditional returns false
 * instead of blocking.  *remaining (if not NULL) receives how many members
 * are still running afterwards (our own, or non-conflicting ones).
 */
extern void ph_multixact_wait(MultiXactId multi, MultiXactStatus status,
							  uint16 infomask, Relation rel, ItemPointer ctid,
							  XLTW_Oper oper, int *remaining);
extern bool ph_multixact_wait_conditional(MultiXactId multi,
										  MultiXactStatus status,
										  uint16 infomask, Relation rel,
										  int *remaining);

/* Did the lock-relevant xmax bits change between two looks at a tuple? */
extern bool ph_xmax_infomask_changed(uint16 new_infomask, uint16 old_infomask);

/*
 * After waiting for plain xid xwait (the tuple's xmax), set the
 * HEAP_XMAX_COMMITTED or HEAP_XMAX_INVALID hint (buffer exclusively locked).
 */
extern void ph_update_xmax_hint_bits(HeapTupleHeader tuple, Buffer buffer,
									 TransactionId xwait);

/*
 * Take the heavyweight tuple lock for mode according to wait_policy unless
 * *have_tuple_lock.  Returns false only for LockWaitSkip when busy; raises
 * ERRCODE_LOCK_NOT_AVAILABLE for LockWaitError.
 */
extern bool ph_acquire_tuplock(Relation rel, ItemPointer tid,
							   LockTupleMode mode, LockWaitPolicy wait_policy,
							   bool *have_tuple_lock);
extern void ph_release_tuplock(Relation rel, ItemPointer tid,
							   LockTupleMode mode);

#endif							/* PHANTOM_MVCC_XMAX_H */
