/*-------------------------------------------------------------------------
 *
 * storage.h
 *	  Physical layout of a phantom relation's main fork and the page-level
 *	  API every other module goes through (src/lsm/).
 *
 *	  A phantom table is addressed by *virtual* block numbers (vblocks): a
 *	  TID is (vblock, offset), ctid/seq-scan order/relpages follow vblocks
 *	  and relation_size reports nvblocks * BLCKSZ.  Each vblock lives either
 *
 *	  - hot: a heap-format slotted page (standard PageHeader, line pointers,
 *	    HeapTupleHeaders with full MVCC headers, *no* special space, so tuple
 *	    packing and TIDs are exactly heap's) at some physical block; or
 *	  - cold: a zstd frame inside an immutable run page (src/lsm/run.c);
 *	    a cold vblock only ever holds frozen, all-visible tuples whose xmax
 *	    is invalid, so visibility of a cold tuple needs no clog and no hint
 *	    bits.  Modifying a row of a cold vblock first thaws it back into a
 *	    hot page (ph_page_open_for_write).
 *
 *	  Physical block 0 is the metapage (created lazily by the first write,
 *	  so an empty relation has zero blocks, like heap, and the init fork of
 *	  an unlogged table is empty).  The metapage holds nvblocks, the
 *	  insertion lanes, the head of the free-page list and the directory of
 *	  block-map pages; block-map pages map vblock -> PhMapEntry.  Map,
 *	  run, free and meta pages carry a PhantomSpecial; hot pages do not.
 *
 *	  Locking rules (docs/storage.md has the reasoning):
 *	  - A lookup holds the map page's share lock while it pins the target
 *	    physical page, then releases the map lock.  Whoever relocates a
 *	    vblock (compaction, thaw) holds the map page's exclusive lock and,
 *	    for a hot page, a cleanup lock on it (sole pin).  So a pin on a hot
 *	    page guarantees it keeps holding the same vblock.  Take that cleanup
 *	    lock with ConditionalLockBufferForCleanup and never wait for it
 *	    while holding a map page lock (a scan holding the pin may be
 *	    waiting for that map page).
 *	  - Never cache a physical block number across the release of its pin.
 *	  - Lock order, outermost first:
 *	      1. relation extension lock (heavyweight; taken with no buffer
 *	         content lock held; also serialises vblock allocation, thaws
 *	         and free-list pops);
 *	      2. hot data pages, two of them in physical block order;
 *	      3. map page (at most one at a time);
 *	      4. fresh pages (just extended or popped from the free list, so
 *	         unreachable by others) and run pages (immutable, share only);
 *	      5. the metapage;
 *	      6. visibility-map pages.
 *	    Nobody waits for a hot page's lock while holding a map page lock,
 *	    so (2) before (3) is deadlock-free although lookups read the map
 *	    page before the data page they pin: they pin, they do not lock.
 *	  - Map and meta pages are locked only briefly, never across I/O of
 *	    other pages except the pin of a lookup's target.
 *
 *	  pd_lower of meta, map and free pages covers exactly their used data
 *	  (map entries past pd_lower are zero), so log_newpage(page_std) and
 *	  REGBUF_STANDARD images are exact.  Map pages keep their directory
 *	  index in PhantomSpecial.next as a cross-check.
 *
 * include/phantom/lsm/storage.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHANTOM_LSM_STORAGE_H
#define PHANTOM_LSM_STORAGE_H

#include "access/heapam.h"
#include "access/hio.h"
#include "storage/block.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "utils/rel.h"

#define PH_METAPAGE_BLKNO	0
#define PH_MAGIC			0x50484e54	/* "PHNT" */
#define PH_VERSION			3	/* 3: columnar frames (runframe.h) */
#define PH_MAX_LANES		64

/* Kinds of non-hot pages, in PhantomSpecial.kind */
#define PH_KIND_META		0x5001
#define PH_KIND_MAP			0x5002
#define PH_KIND_RUN			0x5003
#define PH_KIND_FREE		0x5004

/* Special space of meta, map, run and free pages (hot pages have none). */
typedef struct PhantomSpecial
{
	uint16		kind;			/* PH_KIND_* */
	uint16		flags;
	BlockNumber next;			/* free pages: next free page; map pages:
								 * index in the metapage directory; else
								 * unused */
} PhantomSpecial;

#define PhantomPageGetSpecial(page) \
	((PhantomSpecial *) PageGetSpecialPointer(page))

/*
 * Block-map entry: 0 = vblock not allocated; otherwise the physical block of
 * the hot page, or PH_MAP_COLD | physical block of the run page that holds
 * the vblock's frame.
 */
typedef uint32 PhMapEntry;

#define PH_MAP_NONE			((PhMapEntry) 0)
#define PH_MAP_COLD			((PhMapEntry) 0x80000000)
#define PhMapIsCold(e)		(((e) & PH_MAP_COLD) != 0)
#define PhMapIsHot(e)		((e) != PH_MAP_NONE && !PhMapIsCold(e))
#define PhMapBlock(e)		((BlockNumber) ((e) & ~PH_MAP_COLD))

/* Entries per map page, and map pages the metapage can point to. */
#define PH_MAP_ENTRIES_PER_PAGE \
	((BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(PhantomSpecial))) / sizeof(PhMapEntry))

typedef struct PhantomMetaPageData
{
	uint32		magic;			/* PH_MAGIC */
	uint32		version;		/* PH_VERSION */
	BlockNumber nvblocks;		/* vblocks allocated so far */
	BlockNumber free_head;		/* first free physical page, or Invalid */
	uint32		nfree;			/* pages on the free list */
	uint32		nmappages;		/* entries used in mappages[] */
	BlockNumber lanes[PH_MAX_LANES];	/* current insertion vblock per lane,
										 * InvalidBlockNumber if none */
	uint64		compacted_bytes;	/* used bytes of hot pages compaction
									 * moved cold (XLOG_PH_COUNTERS) */
	uint64		compaction_written_bytes;	/* run-page bytes compaction
											 * wrote, rewrites included */
	BlockNumber mappages[FLEXIBLE_ARRAY_MEMBER];	/* physical blocks of map
													 * pages */
} PhantomMetaPageData;

#define PH_META_MAX_MAPPAGES \
	((BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(PhantomSpecial)) \
	  - offsetof(PhantomMetaPageData, mappages)) / sizeof(BlockNumber))

#define PhantomPageGetMeta(page) \
	((PhantomMetaPageData *) PageGetContents(page))

/*
 * A vblock opened for reading.  Hot: buf is pinned (not locked) and page is
 * BufferGetPage(buf); the caller locks buf to read it.  Cold: buf is
 * InvalidBuffer and page is a read-only decompressed image that needs no
 * lock: either a slot of the backend's cold-image cache, pinned until
 * ph_page_close (or the end of the transaction), or palloc'd in the memory
 * context current at ph_page_open.  Never write to it.
 */
typedef struct PhPage
{
	BlockNumber vblock;
	Buffer		buf;
	Page		page;
	bool		cold;
	int			cache_slot;		/* cold: pinned slot of the cold-image cache
								 * that page points into, or -1 (page is
								 * palloc'd) */
} PhPage;

/* src/lsm/meta.c, src/lsm/blockmap.c */
extern BlockNumber ph_nvblocks(Relation rel);
extern PhMapEntry ph_map_get(Relation rel, BlockNumber vblock);
extern bool ph_page_open(Relation rel, BlockNumber vblock, PhPage *pg);
/*
 * as ph_page_open, for sequential visits (scans, VACUUM): a hot page is
 * read through strategy (may be NULL) and a cold image is not kept in the
 * cold-image cache
 */
extern bool ph_page_open_strategy(Relation rel, BlockNumber vblock, PhPage *pg,
								  BufferAccessStrategy strategy);
extern void ph_page_close(PhPage *pg);

/*
 * ph_page_open_for_write returns the pinned (not locked) buffer of the hot
 * page holding vblock, thawing the vblock out of its cold run first if
 * needed.  ERROR if the vblock does not exist.
 */
extern Buffer ph_page_open_for_write(Relation rel, BlockNumber vblock);

/*
 * ph_get_insert_buffer returns a pinned, exclusively locked hot page with
 * room for a tuple of len bytes (MAXALIGN'd, respecting fillfactor), taken
 * from this backend's target vblock, else a hot vblock the free-space map
 * (indexed by vblock) proposes, else the insertion lane of this backend,
 * allocating a new vblock when the lane page is full.  Call it with no
 * buffer content lock held.  *vblock receives its vblock.  If otherBuffer is valid
 * (pinned, not locked, by the caller; the page of the old tuple of an
 * update), it is locked too, both in physical block order, and the function
 * never returns otherBuffer itself.  bistate may be NULL.
 */
extern Buffer ph_get_insert_buffer(Relation rel, Size len, Buffer otherBuffer,
								   BulkInsertState bistate, BlockNumber *vblock);

/*
 * Relocation of vblocks (compaction and thaw; src/lsm/blockmap.c).
 *
 * ph_page_alloc returns a new physical page (from the free list, or by
 * extending the relation), pinned and exclusively locked, not initialised
 * and not yet WAL-logged: the caller initialises it and logs it with
 * log_newpage_buffer(buf, true) in its own critical section (a crash in
 * between leaks the page, nothing worse).  It waits for the relation
 * extension lock, so the caller may hold content locks only on fresh pages
 * and on hot pages it holds cleanup locks on (compaction): no holder of the
 * extension lock ever waits for a hot page's content lock.
 *
 * Run pages are never freed by the thaw path: a thawed frame just stops
 * being referenced by the map.  Retiring a run page whose frames are all
 * unreferenced (ph_page_free) is compaction's job, and it must make sure no
 * map entry can still be switched to that page (a run page being filled by
 * ph_map_set_cold calls has unreferenced frames that are not dead).
 *
 * ph_map_set_cold switches vblock from its hot page (hotbuf, which the
 * caller holds with a cleanup lock) to the run page runblk, puts the old
 * hot page on the free list, and WAL-logs both; hotbuf stays pinned and
 * locked for the caller to release.  It returns false, changing nothing,
 * if a lookup pinned hotbuf after the caller's cleanup lock (the vblock
 * then stays hot).
 */
extern Buffer ph_page_alloc(Relation rel);
extern bool ph_map_set_cold(Relation rel, BlockNumber vblock, Buffer hotbuf,
							BlockNumber runblk);

/*
 * ph_page_free puts a page that nothing references any more (a retired run
 * page, held exclusively locked by the caller) on the free list, WAL-logged.
 * The buffer stays pinned and locked.  Only free pages that no reader can
 * still reach (see the manifest epochs of src/lsm/compact.c).
 */
extern void ph_page_free(Relation rel, Buffer buf);

/* src/lsm/vm.c: the visibility-map fork, indexed by vblock */
extern void ph_vm_clear(Relation rel, BlockNumber vblock, uint8 flags);

#endif							/* PHANTOM_LSM_STORAGE_H */
