/*-------------------------------------------------------------------------
 *
 * run.h
 *	  Cold runs (src/lsm/run.c) and compaction (src/lsm/compact.c).
 *
 *	  A run page is a standard page (PageHeader, PhantomSpecial of kind
 *	  PH_KIND_RUN) whose items are zstd frames, one per vblock: a small frame
 *	  header (vblock, the page's hole) followed by the compressed image of
 *	  the hot page with its hole [pd_lower, pd_upper) removed.  Run pages are
 *	  immutable once written.  Only settled vblocks go cold: every item is
 *	  unused, a redirect, or a frozen tuple with an invalid xmax.  The frame
 *	  byte format lives in runframe.h; pd_lower always covers the line
 *	  pointer array, so log_newpage(page_std) keeps every frame.
 *
 * include/phantom/lsm/run.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHANTOM_LSM_RUN_H
#define PHANTOM_LSM_RUN_H

#include "access/heapam.h"	/* BulkInsertState, used by storage.h */
#include "access/xlogdefs.h"
#include "storage/block.h"
#include "storage/bufpage.h"
#include "utils/rel.h"

#include "phantom/lsm/storage.h"

/*
 * ph_run_read_vblock decompresses the image of vblock from run page runblk
 * into dest (BLCKSZ bytes, the hole zeroed).  A damaged run page or frame
 * raises ERROR with ERRCODE_DATA_CORRUPTED naming the relation and block;
 * it never crashes.  Takes and releases a share lock on the run page.
 * Images come from, and unless cache_store is false (bulk scans, which
 * would only evict what lookups reuse) go into, the backend's cold-image
 * cache of phantom.cold_cache_size.
 */
extern void ph_run_read_vblock(Relation rel, BlockNumber runblk,
							   BlockNumber vblock, Page dest,
							   bool cache_store);

/*
 * ph_run_open_vblock returns the image of vblock without copying it when
 * the cache has it: then *slot is the cache slot, pinned (not evicted)
 * until ph_run_release_slot(*slot) or the end of the transaction, and the
 * image must not be written.  Otherwise *slot is -1 and the image is
 * palloc'd in the current memory context.
 */
extern Page ph_run_open_vblock(Relation rel, BlockNumber runblk,
							   BlockNumber vblock, bool cache_store,
							   int *slot);
extern void ph_run_release_slot(int slot);

/* counters of the cold-image cache of this backend (hits, misses, images) */
extern void ph_run_cache_stats(uint64 *hits, uint64 *misses, int *entries);

/*
 * The two halves of ph_run_read_vblock, for thaw (which WAL-logs the
 * compressed frame instead of the page): ph_run_copy_frame copies the
 * frame of vblock out of run page runblk (frame_out: BLCKSZ bytes) and
 * returns the run page's LSN in *lsn (may be NULL); ph_run_decode_frame
 * decompresses it into dest.  Both raise ERRCODE_DATA_CORRUPTED errors.
 * ph_run_decode_frame_redo is the redo variant (PANIC on a bad frame, which
 * the record's CRC makes impossible short of a bug).
 */
extern void ph_run_copy_frame(Relation rel, BlockNumber runblk,
							  BlockNumber vblock, char *frame_out,
							  Size *framelen, XLogRecPtr *lsn);
extern void ph_run_decode_frame(Relation rel, BlockNumber runblk,
								BlockNumber vblock, const char *frame,
								Size framelen, Page dest);
extern void ph_run_decode_frame_redo(const char *frame, Size framelen,
									 BlockNumber vblock, Page dest);

/*
 * Building run pages (used by compact.c).  ph_run_page_init makes an empty
 * run page in memory; ph_run_encode compresses a hot page image into a
 * frame (at phantom.compression_level, with zstd checksums) and returns
 * false if the frame could not fit a run page; ph_run_page_add appends a
 * frame and returns false when the page is full.  Frames must be added in
 * vblock order.
 */
#define PH_RUN_MAX_FRAME \
	(BLCKSZ - MAXALIGN(SizeOfPageHeaderData + sizeof(ItemIdData)) \
	 - MAXALIGN(sizeof(PhantomSpecial)))

extern void ph_run_page_init(Page page);
extern bool ph_run_encode(BlockNumber vblock, Page hotpage, char *frame,
						  Size *len);
extern bool ph_run_page_add(Page page, const char *frame, Size len);

/*
 * ph_compact_relation moves the settled hot vblocks of rel into new cold
 * runs and returns how many it moved.  The caller holds at least
 * ShareUpdateExclusiveLock on rel; DML may run concurrently.  Settled
 * tuples that are visible to everyone but not frozen yet are frozen first.
 */
extern int64 ph_compact_relation(Relation rel);

/*
 * ph_compact_relation_older is ph_compact_relation restricted to the hot
 * pages whose LSN precedes lsn_limit (InvalidXLogRecPtr: no limit).  The
 * background workers pass the redo pointer of the last checkpoint, so
 * only pages left alone for a checkpoint cycle go cold, and pages still
 * being updated are not thawed again right after compaction.
 */
extern int64 ph_compact_relation_older(Relation rel, XLogRecPtr lsn_limit);

/*
 * ph_compact_candidates counts, up to limit, the hot vblocks of rel that
 * are not insertion lanes: a cheap upper bound of what compaction could
 * move (background workers compare it with phantom.compaction_min_pages).
 */
extern BlockNumber ph_compact_candidates(Relation rel, BlockNumber limit);

/*
 * ph_shrink packs the pages in use into the lowest physical blocks and
 * truncates the main fork after them (src/lsm/shrink.c), if that cuts at
 * least min_gain blocks; returns the number of blocks cut.  The caller
 * holds AccessExclusiveLock on rel.
 *
 * ph_try_shrink takes that lock conditionally (retrying for up to wait_ms
 * milliseconds, never queueing), shrinks and releases it; it does nothing
 * when the free list holds fewer than min_gain pages.  The caller holds
 * ShareUpdateExclusiveLock (VACUUM, compaction).
 */
extern BlockNumber ph_shrink(Relation rel, BlockNumber min_gain);
extern BlockNumber ph_try_shrink(Relation rel, BlockNumber min_gain,
								 int wait_ms);

/*
 * ph_truncate_vblocks drops trailing vblocks down to target (not below),
 * last first, while they are empty hot pages (no used line pointer) or
 * unallocated; stops at the first cold or non-empty one.  Their pages go
 * on the free list; the VM and FSM are cut to match.  Returns the new
 * number of vblocks.  The caller holds AccessExclusiveLock on rel
 * (src/lsm/shrink.c).
 */
extern BlockNumber ph_truncate_vblocks(Relation rel, BlockNumber target);

/* heap's truncation threshold: 1000 pages or 1/16 of the file */
extern BlockNumber ph_shrink_min_gain(Relation rel);

#endif							/* PHANTOM_LSM_RUN_H */
