/*-------------------------------------------------------------------------
 *
 * visibility.h
 *	  MVCC visibility of phantom tuples (src/mvcc/visibility.c).
 *
 *	  Hot tuples are heap-format tuples with full MVCC headers on buffer
 *	  pages, so their visibility is PostgreSQL's own (HeapTupleSatisfies*,
 *	  which also sets hint bits through MarkBufferDirtyHint).  Cold tuples
 *	  are frozen with HEAP_XMAX_INVALID set, so the same rules decide them
 *	  without ever reaching a hint-bit write; for them buffer is
 *	  InvalidBuffer.  Keeping the calls behind these wrappers is what lets
 *	  the marker store (xmax of cold rows kept outside the run) plug in.
 *
 * include/phantom/mvcc/visibility.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHANTOM_MVCC_VISIBILITY_H
#define PHANTOM_MVCC_VISIBILITY_H

#include "access/heapam.h"
#include "access/tableam.h"
#include "utils/snapmgr.h"
#include "utils/snapshot.h"

extern bool ph_tuple_visible(HeapTuple tup, Snapshot snapshot, Buffer buffer);
extern TM_Result ph_tuple_satisfies_update(HeapTuple tup, CommandId curcid,
										   Buffer buffer);
extern HTSV_Result ph_tuple_satisfies_vacuum(HeapTuple tup,
											 TransactionId OldestXmin,
											 Buffer buffer);
extern HTSV_Result ph_tuple_satisfies_vacuum_horizon(HeapTuple tup,
													 Buffer buffer,
													 TransactionId *dead_after);
extern bool ph_tuple_surely_dead(HeapTuple tup, GlobalVisState *vistest);

#endif							/* PHANTOM_MVCC_VISIBILITY_H */
