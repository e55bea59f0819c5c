/*-------------------------------------------------------------------------
 *
 * index.h
 *	  Index support of phantom tables (src/tableam/index.c): index fetches
 *	  that follow same-page HOT chains from the root TID, index builds that
 *	  index heap-only tuples under their root TID, and the validation scan
 *	  of CREATE INDEX CONCURRENTLY.
 *
 * include/phantom/tableam/index.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHANTOM_TABLEAM_INDEX_H
#define PHANTOM_TABLEAM_INDEX_H

#include "access/genam.h"
#include "access/heapam.h"
#include "access/relscan.h"
#include "access/tableam.h"
#include "nodes/execnodes.h"

#include "phantom/lsm/storage.h"

extern struct IndexFetchTableData *phantom_index_fetch_begin(Relation rel);
extern void phantom_index_fetch_reset(struct IndexFetchTableData *data);
extern void phantom_index_fetch_end(struct IndexFetchTableData *data);
extern bool phantom_index_fetch_tuple(struct IndexFetchTableData *data,
									  ItemPointer tid, Snapshot snapshot,
									  TupleTableSlot *slot,
									  bool *call_again, bool *all_dead);
extern double phantom_index_build_range_scan(Relation table_rel,
											 Relation index_rel,
											 struct IndexInfo *index_info,
											 bool allow_sync,
											 bool anyvisible,
											 bool progress,
											 BlockNumber start_blockno,
											 BlockNumber numblocks,
											 IndexBuildCallback callback,
											 void *callback_state,
											 TableScanDesc scan);
extern void phantom_index_validate_scan(Relation table_rel,
										Relation index_rel,
										struct IndexInfo *index_info,
										Snapshot snapshot,
										struct ValidateIndexState *state);

/*
 * ph_hot_search looks for the member of the HOT chain starting at *tid
 * that is visible to snapshot, on the opened vblock pg (whose buffer the
 * caller holds share-locked when the vblock is hot).  On success *tid and
 * *tuple (pointing into the page) describe that member.  all_dead, when
 * not NULL, is set to true only when every member is surely dead to
 * everyone.  first_call = false skips the member *tid points to (non-MVCC
 * snapshots may see several members of one chain).
 */
extern bool ph_hot_search(Relation rel, const PhPage *pg, ItemPointer tid,
						  Snapshot snapshot, HeapTuple tuple,
						  bool *all_dead, bool first_call);

#endif							/* PHANTOM_TABLEAM_INDEX_H */
