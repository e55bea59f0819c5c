/*-------------------------------------------------------------------------
 *
 * tableam.h
 *	  The callbacks of phantom's TableAmRoutine, by the file that owns them.
 *	  The routine itself is phantom_methods in src/tableam/handler.c.  The
 *	  contract of each callback is PostgreSQL's (access/tableam.h); comments
 *	  in the .c files say only where phantom differs from heap.
 *
 * include/phantom/tableam/tableam.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHANTOM_TABLEAM_TABLEAM_H
#define PHANTOM_TABLEAM_TABLEAM_H

#include "access/heapam.h"
#include "fmgr.h"
#include "access/tableam.h"
#include "nodes/execnodes.h"
#include "storage/lockdefs.h"

extern const TableAmRoutine *phantom_get_routine(void);
extern bool phantom_relation_is_phantom(Relation rel);
extern Relation phantom_table_open(Oid relid, LOCKMODE lockmode,
								   const char *caller);
extern Oid	phantom_table_arg(FunctionCallInfo fcinfo, int argno,
							  const char *caller);

/* src/tableam/modify.c: insert, update, delete, lock */
extern void phantom_tuple_insert(Relation rel, TupleTableSlot *slot,
								 CommandId cid, int options,
								 BulkInsertState bistate);
extern void phantom_tuple_insert_speculative(Relation rel,
											 TupleTableSlot *slot,
											 CommandId cid, int options,
											 BulkInsertState bistate,
											 uint32 specToken);
extern void phantom_tuple_complete_speculative(Relation rel,
											   TupleTableSlot *slot,
											   uint32 specToken,
											   bool succeeded);
extern void phantom_multi_insert(Relation rel, TupleTableSlot **slots,
								 int ntuples, CommandId cid, int options,
								 BulkInsertState bistate);
extern TM_Result phantom_tuple_delete(Relation rel, ItemPointer tid,
									  CommandId cid, Snapshot snapshot,
									  Snapshot crosscheck, bool wait,
									  TM_FailureData *tmfd,
									  bool changingPart);
extern TM_Result phantom_tuple_update(Relation rel, ItemPointer otid,
									  TupleTableSlot *slot, CommandId cid,
									  Snapshot snapshot, Snapshot crosscheck,
									  bool wait, TM_FailureData *tmfd,
									  LockTupleMode *lockmode,
									  bool *update_indexes);
extern TM_Result phantom_tuple_lock(Relation rel, ItemPointer tid,
									Snapshot snapshot, TupleTableSlot *slot,
									CommandId cid, LockTupleMode mode,
									LockWaitPolicy wait_policy, uint8 flags,
									TM_FailureData *tmfd);
extern void phantom_finish_bulk_insert(Relation rel, int options);

/* src/tableam/fetch.c: single-tuple reads by TID */
extern bool phantom_tuple_fetch_row_version(Relation rel, ItemPointer tid,
											Snapshot snapshot,
											TupleTableSlot *slot);
extern bool phantom_tuple_tid_valid(TableScanDesc scan, ItemPointer tid);
extern void phantom_tuple_get_latest_tid(TableScanDesc scan,
										 ItemPointer tid);
extern bool phantom_tuple_satisfies_snapshot(Relation rel,
											 TupleTableSlot *slot,
											 Snapshot snapshot);
extern TransactionId phantom_index_delete_tuples(Relation rel,
												 TM_IndexDeleteOp *delstate);

#endif							/* PHANTOM_TABLEAM_TABLEAM_H */
