/*-------------------------------------------------------------------------
 *
 * storage_int.h
 *	  Internals of the page/storage layer shared by src/lsm/{meta,blockmap,
 *	  lanes,vm}.c and the redo code in src/wal/: page initialisers and
 *	  page-level mutations that must be identical on the primary and in
 *	  redo, the per-relation cache, and free-page allocation.  Not for use
 *	  by other modules (they use storage.h).
 *
 * include/phantom/lsm/storage_int.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHANTOM_LSM_STORAGE_INT_H
#define PHANTOM_LSM_STORAGE_INT_H

#include "phantom/lsm/storage.h"
#include "phantom/wal/wal.h"

/* Which map page / slot holds the entry of a vblock */
#define PH_MAP_PAGE_INDEX(vb)	((vb) / PH_MAP_ENTRIES_PER_PAGE)
#define PH_MAP_SLOT(vb)			((vb) % PH_MAP_ENTRIES_PER_PAGE)
#define PhMapPageEntries(page)	((PhMapEntry *) PageGetContents(page))

/* Largest number of vblocks a relation can have */
#define PH_MAX_VBLOCKS \
	((BlockNumber) Min((uint64) PH_META_MAX_MAPPAGES * PH_MAP_ENTRIES_PER_PAGE, \
					   (uint64) MaxBlockNumber))

/*
 * Backend-local cache in rel->rd_amcache (CacheMemoryContext).  It is valid
 * while RelationGetTargetBlock(rel) == PH_METAPAGE_BLKNO: the smgr resets the
 * target block on truncation and on smgr invalidation, and relcache
 * invalidation frees rd_amcache, so a stale cache is never used.
 */
typedef struct PhRelCache
{
	BlockNumber lane_vblock;	/* our lane's insertion vblock, or Invalid */
	uint32		nmappages;		/* valid entries in mappages[] */
	uint32		capacity;
	BlockNumber mappages[FLEXIBLE_ARRAY_MEMBER];
} PhRelCache;

/*
 * Pages being allocated: taken from the free list (popped, the first
 * npopped) or by extending the relation.  See ph_alloc_prepare.
 */
#define PH_ALLOC_MAX		2
typedef struct PhAlloc
{
	int			n;				/* pages wanted */
	Buffer		bufs[PH_ALLOC_MAX];
	bool		popped[PH_ALLOC_MAX];
	int			npopped;
	BlockNumber expect_head;	/* metapage free_head the pops assume */
	BlockNumber new_head;		/* free_head after the pops */
} PhAlloc;

/* src/lsm/meta.c */
extern PhRelCache *ph_cache(Relation rel);
extern void ph_lock_extend(Relation rel);
extern void ph_unlock_extend(Relation rel);
extern Buffer ph_meta_read(Relation rel, int mode);
extern Buffer ph_meta_ensure(Relation rel);
extern void ph_meta_check(Relation rel, Buffer metabuf);
extern BlockNumber ph_mappage_blkno(Relation rel, uint32 mapidx);
extern void ph_alloc_prepare(Relation rel, PhAlloc *a, int n,
							 BufferAccessStrategy strategy);
extern bool ph_alloc_verify(PhAlloc *a, Page metapage);
extern void ph_alloc_retry(PhAlloc *a);
extern void ph_alloc_apply(PhAlloc *a, Page metapage);
extern void ph_page_check_kind(Relation rel, Buffer buf, uint16 kind);

/* page initialisers and mutations (src/lsm/meta.c), used by redo too */
extern void ph_meta_page_init(Page page);
extern void ph_meta_set_lower(Page page);
extern void ph_map_page_init(Page page, uint32 mapidx);
extern void ph_map_page_set(Page page, BlockNumber vblock, PhMapEntry e);
extern void ph_free_page_init(Page page, BlockNumber next);
extern void ph_hot_page_init(Page page);
extern void ph_apply_header_change(Page page, const PhHeaderChange *c,
								   bool keep_ctid);

/* src/lsm/blockmap.c */
extern Buffer ph_map_lock(Relation rel, BlockNumber vblock, int mode,
						  PhMapEntry *entry);
extern Buffer ph_pin_hot(Relation rel, BlockNumber vblock,
						 BufferAccessStrategy strategy, PhMapEntry *entry);

/* src/lsm/vm.c */
extern bool ph_vm_page_set(Page vmpage, BlockNumber vblock, uint8 flags);
extern BlockNumber ph_vm_mapblock(BlockNumber vblock);
extern void ph_vm_clear_redo(XLogReaderState *record, BlockNumber vblock,
							 uint8 bits);

#endif							/* PHANTOM_LSM_STORAGE_INT_H */
