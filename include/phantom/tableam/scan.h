/*-------------------------------------------------------------------------
 *
 * scan.h
 *	  Sequential-style scans of phantom tables (src/tableam/scan.c): seq,
 *	  parallel, backward and sync scans, TID range scans, bitmap heap scans,
 *	  TABLESAMPLE and ANALYZE.  The scan descriptor is shared with
 *	  src/tableam/index.c, whose index builds drive a scan directly.
 *
 *	  A scan reads one vblock at a time ("page mode"): under the page's
 *	  share lock it decides the visibility of every tuple, remembers the
 *	  offsets of the visible ones and then returns them without the lock.
 *	  A hot page stays pinned while its tuples are returned (so pruning,
 *	  which needs a cleanup lock, cannot move them); a cold page is a
 *	  private image and its tuples are copied into the slot.
 *
 * include/phantom/tableam/scan.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHANTOM_TABLEAM_SCAN_H
#define PHANTOM_TABLEAM_SCAN_H

#include "access/heapam.h"
#include "access/relscan.h"
#include "access/tableam.h"
#include "executor/tuptable.h"

#include "phantom/lsm/storage.h"

typedef struct PhScanDescData
{
	TableScanDescData rs_base;	/* AM-independent part, must be first */

	BlockNumber rs_nblocks;		/* vblocks in the relation at scan start */
	BlockNumber rs_startblock;	/* vblock the scan starts at */
	BlockNumber rs_numblocks;	/* max vblocks to scan, or Invalid (all) */
	BufferAccessStrategy rs_strategy;	/* bulk-read ring, or NULL */

	bool		rs_inited;		/* false = scan not started */
	BlockNumber rs_cblock;		/* current vblock, or InvalidBlockNumber */
	PhPage		rs_cpage;		/* the opened current vblock */
	bool		rs_haspage;		/* rs_cpage is open */
	MemoryContext rs_cxt;		/* where cold images are allocated */

	/* tuples of the current vblock visible to the snapshot (page mode) */
	int			rs_cindex;		/* index into rs_vistuples */
	int			rs_ntuples;		/* number of entries in rs_vistuples */
	OffsetNumber rs_cmaxoff;	/* max offset of the current vblock */
	OffsetNumber rs_vistuples[MaxHeapTuplesPerPage];
	HeapTupleData rs_ctup;		/* the current tuple */

	/* parallel seq scans: this worker's chunk state */
	ParallelBlockTableScanWorkerData *rs_pworker;

	/* ANALYZE: next offset to look at on the current vblock */
	OffsetNumber rs_analyze_off;
} PhScanDescData;

typedef PhScanDescData *PhScanDesc;

extern TableScanDesc phantom_scan_begin(Relation rel, Snapshot snapshot,
										int nkeys, struct ScanKeyData *key,
										ParallelTableScanDesc pscan,
										uint32 flags);
extern void phantom_scan_end(TableScanDesc sscan);
extern void phantom_scan_rescan(TableScanDesc sscan, struct ScanKeyData *key,
								bool set_params, bool allow_strat,
								bool allow_sync, bool allow_pagemode);
extern bool phantom_scan_getnextslot(TableScanDesc sscan,
									 ScanDirection direction,
									 TupleTableSlot *slot);
extern void phantom_scan_set_tidrange(TableScanDesc sscan,
									  ItemPointer mintid, ItemPointer maxtid);
extern bool phantom_scan_getnextslot_tidrange(TableScanDesc sscan,
											  ScanDirection direction,
											  TupleTableSlot *slot);
extern Size phantom_parallelscan_estimate(Relation rel);
extern Size phantom_parallelscan_initialize(Relation rel,
											ParallelTableScanDesc pscan);
extern void phantom_parallelscan_reinitialize(Relation rel,
											  ParallelTableScanDesc pscan);
extern bool phantom_scan_bitmap_next_block(TableScanDesc sscan,
										   struct TBMIterateResult *tbmres);
extern bool phantom_scan_bitmap_next_tuple(TableScanDesc sscan,
										   struct TBMIterateResult *tbmres,
										   TupleTableSlot *slot);
extern bool phantom_scan_sample_next_block(TableScanDesc sscan,
										   struct SampleScanState *scanstate);
extern bool phantom_scan_sample_next_tuple(TableScanDesc sscan,
										   struct SampleScanState *scanstate,
										   TupleTableSlot *slot);
extern bool phantom_scan_analyze_next_block(TableScanDesc sscan,
											BlockNumber blockno,
											BufferAccessStrategy bstrategy);
extern bool phantom_scan_analyze_next_tuple(TableScanDesc sscan,
											TransactionId OldestXmin,
											double *liverows,
											double *deadrows,
											TupleTableSlot *slot);

/* Helpers shared with index.c */
extern void ph_scan_setlimits(TableScanDesc sscan, BlockNumber startblock,
							  BlockNumber numblocks);
extern HeapTuple ph_scan_next_tuple(PhScanDesc scan, ScanDirection dir);
extern void ph_store_tuple(HeapTuple tuple, const PhPage *pg,
						   TupleTableSlot *slot);

#endif							/* PHANTOM_TABLEAM_SCAN_H */
