/*-------------------------------------------------------------------------
 *
 * meta.c
 *	  The metapage of a phantom relation (physical block 0), the free-page
 *	  list, allocation of physical pages, and the page initialisers shared
 *	  with redo.
 *
 *	  Invariants:
 *	  - Block 0 is the metapage once the relation has any block; it is
 *	    created lazily by the first write (ph_meta_ensure), so an empty or
 *	    truncated relation has zero blocks.  An all-zero block 0 (crash
 *	    between extension and the XLOG_PH_INIT_META record) counts as
 *	    "no metapage yet" and is initialised by the next writer.
 *	  - nvblocks, nmappages, mappages[] and the lanes change only under the
 *	    relation extension lock (which here also serialises vblock
 *	    allocation) plus the metapage's exclusive content lock.
 *	  - The free list is a chain of PH_KIND_FREE pages through
 *	    PhantomSpecial.next, headed by meta->free_head.  Pages are popped
 *	    only under the extension lock; pushes (src/lsm/blockmap.c) need only
 *	    the metapage lock, so a popper reads the chain, then verifies under
 *	    the metapage lock that free_head did not move (ph_alloc_verify) and
 *	    retries otherwise.  Pushes only ever prepend, so an unchanged head
 *	    means an unchanged chain.
 *	  - pd_lower of meta, map and free pages covers exactly their used data
 *	    so that standard full-page images (hole removal) are exact.
 *
 *	  Locking: see the lock order in include/phantom/lsm/storage.h.  The
 *	  extension lock is taken with no buffer content lock held.
 *
 * src/lsm/meta.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xloginsert.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/smgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "phantom/lsm/storage_int.h"
#include "phantom/wal/records.h"

/*
 * ph_cache returns this backend's cache for rel, (re)building it when the
 * relation's storage may have changed under it (see PhRelCache).
 */
PhRelCache *
ph_cache(Relation rel)
{
	PhRelCache *c = (PhRelCache *) rel->rd_amcache;

	if (c != NULL && RelationGetTargetBlock(rel) == PH_METAPAGE_BLKNO)
		return c;

	if (c == NULL)
	{
		c = MemoryContextAllocZero(CacheMemoryContext,
								   offsetof(PhRelCache, mappages) +
								   8 * sizeof(BlockNumber));
		c->capacity = 8;
		rel->rd_amcache = c;
	}
	c->lane_vblock = InvalidBlockNumber;
	c->nmappages = 0;
	RelationSetTargetBlock(rel, PH_METAPAGE_BLKNO);
	return c;
}

/*
 * ph_lock_extend / ph_unlock_extend: the relation extension lock, which also
 * serialises vblock allocation and free-list pops.  Relations no other
 * backend can see (temporary, or created in this transaction) need none.
 */
void
ph_lock_extend(Relation rel)
{
	if (!RELATION_IS_LOCAL(rel))
		LockRelationForExtension(rel, ExclusiveLock);
}

void
ph_unlock_extend(Relation rel)
{
	if (!RELATION_IS_LOCAL(rel))
		UnlockRelationForExtension(rel, ExclusiveLock);
}

/*
 * ph_page_check_kind raises a data-corruption error unless buf holds a
 * phantom page of the given kind.
 */
void
ph_page_check_kind(Relation rel, Buffer buf, uint16 kind)
{
	Page		page = BufferGetPage(buf);

	if (PageIsNew(page) ||
		PageGetSpecialSize(page) != MAXALIGN(sizeof(PhantomSpecial)) ||
		PhantomPageGetSpecial(page)->kind != kind)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("unexpected page in phantom relation \"%s\"",
						RelationGetRelationName(rel)),
				 errdetail("Block %u should be a page of kind 0x%04x.",
						   BufferGetBlockNumber(buf), kind)));
}

/*
 * ph_meta_check validates a (non-new) metapage.
 */
void
ph_meta_check(Relation rel, Buffer metabuf)
{
	Page		page = BufferGetPage(metabuf);
	PhantomMetaPageData *meta = PhantomPageGetMeta(page);

	if (PageGetSpecialSize(page) != MAXALIGN(sizeof(PhantomSpecial)) ||
		PhantomPageGetSpecial(page)->kind != PH_KIND_META ||
		meta->magic != PH_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("metapage of phantom relation \"%s\" is corrupted",
						RelationGetRelationName(rel)),
				 errdetail("Block %u has no valid phantom metapage header.",
						   PH_METAPAGE_BLKNO)));
	if (meta->version != PH_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("phantom relation \"%s\" has storage version %u, this server supports %u",
						RelationGetRelationName(rel), meta->version,
						PH_VERSION)));
}

/*
 * ph_meta_read returns the metapage pinned and locked in mode, or
 * InvalidBuffer when the relation has no metapage yet (zero blocks, or an
 * all-zero block 0).
 */
Buffer
ph_meta_read(Relation rel, int mode)
{
	Buffer		buf;

	if (smgrnblocks(RelationGetSmgr(rel), MAIN_FORKNUM) == 0)
		return InvalidBuffer;
	buf = ReadBufferExtended(rel, MAIN_FORKNUM, PH_METAPAGE_BLKNO,
							 RBM_NORMAL, NULL);
	LockBuffer(buf, mode);
	if (PageIsNew(BufferGetPage(buf)))
	{
		UnlockReleaseBuffer(buf);
		return InvalidBuffer;
	}
	ph_meta_check(rel, buf);
	return buf;
}

/*
 * ph_nvblocks returns the number of vblocks of rel (0 without a metapage).
 * Vblocks are never removed except by truncation, so the answer stays a
 * lower bound while the caller's lock on rel blocks truncation.
 */
BlockNumber
ph_nvblocks(Relation rel)
{
	Buffer		metabuf = ph_meta_read(rel, BUFFER_LOCK_SHARE);
	BlockNumber nv;

	if (!BufferIsValid(metabuf))
		return 0;
	nv = PhantomPageGetMeta(BufferGetPage(metabuf))->nvblocks;
	UnlockReleaseBuffer(metabuf);
	return nv;
}

/*
 * ph_meta_ensure creates the metapage if the relation has none and returns
 * it pinned, not locked.  The caller holds the extension lock.
 */
Buffer
ph_meta_ensure(Relation rel)
{
	Buffer		buf;
	Page		page;

	if (smgrnblocks(RelationGetSmgr(rel), MAIN_FORKNUM) == 0)
	{
		buf = ReadBufferExtended(rel, MAIN_FORKNUM, P_NEW, RBM_NORMAL, NULL);
		if (BufferGetBlockNumber(buf) != PH_METAPAGE_BLKNO)
			elog(ERROR, "phantom relation \"%s\": metapage extended at block %u",
				 RelationGetRelationName(rel), BufferGetBlockNumber(buf));
	}
	else
		buf = ReadBufferExtended(rel, MAIN_FORKNUM, PH_METAPAGE_BLKNO,
								 RBM_NORMAL, NULL);

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	if (!PageIsNew(page))
	{
		ph_meta_check(rel, buf);
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		return buf;
	}

	START_CRIT_SECTION();
	ph_meta_page_init(page);
	MarkBufferDirty(buf);
	if (RelationNeedsWAL(rel))
	{
		XLogRecPtr	recptr;

		XLogBeginInsert();
		XLogRegisterBuffer(0, buf, REGBUF_WILL_INIT | REGBUF_STANDARD);
		recptr = XLogInsert(PHANTOM_RMGR_ID, XLOG_PH_INIT_META);
		PageSetLSN(page, recptr);
	}
	END_CRIT_SECTION();
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	return buf;
}

/*
 * ph_mappage_blkno returns the physical block of map page mapidx, or
 * InvalidBlockNumber if it does not exist (yet).  Map pages never move, so
 * the directory is cached; a miss re-reads the metapage.
 */
BlockNumber
ph_mappage_blkno(Relation rel, uint32 mapidx)
{
	PhRelCache *c = ph_cache(rel);

	if (mapidx >= c->nmappages)
	{
		Buffer		metabuf = ph_meta_read(rel, BUFFER_LOCK_SHARE);
		PhantomMetaPageData *meta;

		if (!BufferIsValid(metabuf))
			return InvalidBlockNumber;
		meta = PhantomPageGetMeta(BufferGetPage(metabuf));
		if (meta->nmappages > c->capacity)
		{
			PhRelCache *nc;
			uint32		cap = Max(meta->nmappages, c->capacity * 2);

			nc = MemoryContextAllocZero(CacheMemoryContext,
										offsetof(PhRelCache, mappages) +
										cap * sizeof(BlockNumber));
			nc->lane_vblock = c->lane_vblock;
			nc->capacity = cap;
			pfree(c);
			rel->rd_amcache = c = nc;
		}
		memcpy(c->mappages, meta->mappages,
			   meta->nmappages * sizeof(BlockNumber));
		c->nmappages = meta->nmappages;
		UnlockReleaseBuffer(metabuf);
		if (mapidx >= c->nmappages)
			return InvalidBlockNumber;
	}
	return c->mappages[mapidx];
}

/*
 * ph_extend adds one zeroed page at the end of the main fork and returns it
 * pinned, not locked.  The caller holds the extension lock.
 */
static Buffer
ph_extend(Relation rel, BufferAccessStrategy strategy)
{
	Buffer		buf;

	buf = ReadBufferExtended(rel, MAIN_FORKNUM, P_NEW, RBM_NORMAL, strategy);
	if (BufferGetBlockNumber(buf) >= PH_MAP_COLD)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cannot extend phantom relation \"%s\" beyond %u blocks",
						RelationGetRelationName(rel), PH_MAP_COLD),
				 errhint("Run phantom.compact() or VACUUM FULL on the table to reclaim space, or split its data into partitions.")));
	return buf;
}

/*
 * ph_alloc_prepare pins the pages an allocation will use without locking
 * them: every slot of a that is still empty is filled from the free list
 * (reading the chain from the metapage's free_head) and, when that runs
 * out, by extending the relation.  The caller holds the extension lock; it
 * then locks map page, these pages and the metapage in that order and
 * calls ph_alloc_verify, retrying with ph_alloc_retry if that fails.
 */
void
ph_alloc_prepare(Relation rel, PhAlloc *a, int n, BufferAccessStrategy strategy)
{
	Buffer		metabuf;
	BlockNumber next;
	int			i;

	Assert(n >= 1 && n <= PH_ALLOC_MAX);
	if (a->n == 0)
	{
		a->n = n;
		for (i = 0; i < n; i++)
		{
			a->bufs[i] = InvalidBuffer;
			a->popped[i] = false;
		}
	}
	a->npopped = 0;

	metabuf = ph_meta_read(rel, BUFFER_LOCK_SHARE);
	if (!BufferIsValid(metabuf))
		elog(ERROR, "phantom relation \"%s\" has no metapage",
			 RelationGetRelationName(rel));
	next = PhantomPageGetMeta(BufferGetPage(metabuf))->free_head;
	UnlockReleaseBuffer(metabuf);
	a->expect_head = next;

	for (i = 0; i < a->n; i++)
	{
		if (BufferIsValid(a->bufs[i]))
			continue;
		if (BlockNumberIsValid(next))
		{
			Buffer		fb = ReadBufferExtended(rel, MAIN_FORKNUM, next,
												RBM_NORMAL, strategy);

			LockBuffer(fb, BUFFER_LOCK_SHARE);
			ph_page_check_kind(rel, fb, PH_KIND_FREE);
			next = PhantomPageGetSpecial(BufferGetPage(fb))->next;
			LockBuffer(fb, BUFFER_LOCK_UNLOCK);
			a->bufs[i] = fb;
			a->popped[i] = true;
			a->npopped++;
		}
		else
			a->bufs[i] = ph_extend(rel, strategy);
	}
	a->new_head = a->npopped > 0 ? next : a->expect_head;
}

/*
 * ph_alloc_verify checks, under the metapage's exclusive lock, that the
 * free-list pops planned by ph_alloc_prepare are still valid.
 */
bool
ph_alloc_verify(PhAlloc *a, Page metapage)
{
	if (a->npopped == 0)
		return true;
	return PhantomPageGetMeta(metapage)->free_head == a->expect_head;
}

/*
 * ph_alloc_retry drops the popped pages after a failed verification (the
 * caller has unlocked everything); ph_alloc_prepare then refills them.
 */
void
ph_alloc_retry(PhAlloc *a)
{
	int			i;

	for (i = 0; i < a->n; i++)
	{
		if (a->popped[i])
		{
			ReleaseBuffer(a->bufs[i]);
			a->bufs[i] = InvalidBuffer;
			a->popped[i] = false;
		}
	}
	a->npopped = 0;
}

/*
 * ph_alloc_apply updates the metapage's free list for the pops (inside the
 * caller's critical section).
 */
void
ph_alloc_apply(PhAlloc *a, Page metapage)
{
	PhantomMetaPageData *meta = PhantomPageGetMeta(metapage);

	if (a->npopped == 0)
		return;
	meta->free_head = a->new_head;
	meta->nfree -= a->npopped;
}

/*
 * ph_page_alloc: see storage.h.  A page from the free list is taken off it
 * with an XLOG_PH_FREE_POP record; an extended page needs no record.  If
 * the caller crashes before logging the page, the page is leaked (never
 * reused) but nothing is corrupted.  See storage.h for the locks the
 * caller may hold.
 */
Buffer
ph_page_alloc(Relation rel)
{
	PhAlloc		a;
	Buffer		metabuf;
	Buffer		buf;

	memset(&a, 0, sizeof(a));
	ph_lock_extend(rel);
	metabuf = ph_meta_ensure(rel);
	for (;;)
	{
		ph_alloc_prepare(rel, &a, 1, NULL);
		LockBuffer(a.bufs[0], BUFFER_LOCK_EXCLUSIVE);
		if (a.npopped == 0)
			break;
		LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
		if (ph_alloc_verify(&a, BufferGetPage(metabuf)))
		{
			Page		mpage = BufferGetPage(metabuf);

			START_CRIT_SECTION();
			ph_alloc_apply(&a, mpage);
			MarkBufferDirty(metabuf);
			if (RelationNeedsWAL(rel))
			{
				xl_ph_free_pop xlrec;
				XLogRecPtr	recptr;

				xlrec.popped = BufferGetBlockNumber(a.bufs[0]);
				xlrec.free_head = a.new_head;
				XLogBeginInsert();
				XLogRegisterData((char *) &xlrec, SizeOfPhFreePop);
				XLogRegisterBuffer(0, metabuf, REGBUF_STANDARD);
				recptr = XLogInsert(PHANTOM_RMGR_ID, XLOG_PH_FREE_POP);
				PageSetLSN(mpage, recptr);
			}
			END_CRIT_SECTION();
			LockBuffer(metabuf, BUFFER_LOCK_UNLOCK);
			break;
		}
		LockBuffer(metabuf, BUFFER_LOCK_UNLOCK);
		LockBuffer(a.bufs[0], BUFFER_LOCK_UNLOCK);
		ph_alloc_retry(&a);
	}
	ReleaseBuffer(metabuf);
	ph_unlock_extend(rel);
	buf = a.bufs[0];
	return buf;
}

/*
 * ph_page_free puts a page nobody references any more (a retired run
 * page; the caller holds it exclusively locked) on the free list, WAL
 * logged.  The buffer stays pinned and locked.
 */
void
ph_page_free(Relation rel, Buffer buf)
{
	Buffer		metabuf;
	Page		mpage;
	PhantomMetaPageData *meta;
	BlockNumber oldhead;

	metabuf = ReadBufferExtended(rel, MAIN_FORKNUM, PH_METAPAGE_BLKNO,
								 RBM_NORMAL, NULL);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	ph_meta_check(rel, metabuf);
	mpage = BufferGetPage(metabuf);
	meta = PhantomPageGetMeta(mpage);
	oldhead = meta->free_head;

	START_CRIT_SECTION();
	ph_free_page_init(BufferGetPage(buf), oldhead);
	meta->free_head = BufferGetBlockNumber(buf);
	meta->nfree++;
	MarkBufferDirty(buf);
	MarkBufferDirty(metabuf);
	if (RelationNeedsWAL(rel))
	{
		xl_ph_free_push xlrec;
		XLogRecPtr	recptr;

		xlrec.next_free = oldhead;
		XLogBeginInsert();
		XLogRegisterData((char *) &xlrec, SizeOfPhFreePush);
		XLogRegisterBuffer(0, buf, REGBUF_WILL_INIT | REGBUF_STANDARD);
		XLogRegisterBuffer(1, metabuf, REGBUF_STANDARD);
		recptr = XLogInsert(PHANTOM_RMGR_ID, XLOG_PH_FREE_PUSH);
		PageSetLSN(BufferGetPage(buf), recptr);
		PageSetLSN(mpage, recptr);
	}
	END_CRIT_SECTION();
	UnlockReleaseBuffer(metabuf);
}

/* ---------------------------------------------------------------------
 * Page initialisers and mutations, shared with redo.
 * ---------------------------------------------------------------------
 */

static void
ph_special_init(Page page, uint16 kind, BlockNumber next)
{
	PhantomSpecial *sp;

	PageInit(page, BLCKSZ, sizeof(PhantomSpecial));
	sp = PhantomPageGetSpecial(page);
	sp->kind = kind;
	sp->flags = 0;
	sp->next = next;
}

/* ph_meta_set_lower points pd_lower just past the used mappages[] */
void
ph_meta_set_lower(Page page)
{
	PhantomMetaPageData *meta = PhantomPageGetMeta(page);

	((PageHeader) page)->pd_lower =
		((char *) &meta->mappages[meta->nmappages]) - (char *) page;
}

/* ph_meta_page_init formats an empty metapage: no vblocks, no lanes */
void
ph_meta_page_init(Page page)
{
	PhantomMetaPageData *meta;
	int			i;

	ph_special_init(page, PH_KIND_META, InvalidBlockNumber);
	meta = PhantomPageGetMeta(page);
	memset(meta, 0, offsetof(PhantomMetaPageData, mappages));
	meta->magic = PH_MAGIC;
	meta->version = PH_VERSION;
	meta->nvblocks = 0;
	meta->free_head = InvalidBlockNumber;
	meta->nfree = 0;
	meta->nmappages = 0;
	for (i = 0; i < PH_MAX_LANES; i++)
		meta->lanes[i] = InvalidBlockNumber;
	ph_meta_set_lower(page);
}

/*
 * ph_map_page_init formats an empty map page; PhantomSpecial.next holds its
 * index in the metapage directory (a cheap cross-check for lookups).
 */
void
ph_map_page_init(Page page, uint32 mapidx)
{
	ph_special_init(page, PH_KIND_MAP, mapidx);
}

/*
 * ph_map_page_set sets the entry of vblock and extends pd_lower over it:
 * every entry past pd_lower is zero (PH_MAP_NONE), so full-page images can
 * leave it out.
 */
void
ph_map_page_set(Page page, BlockNumber vblock, PhMapEntry e)
{
	PhMapEntry *entries = PhMapPageEntries(page);
	uint32		slot = PH_MAP_SLOT(vblock);
	LocationIndex end;

	entries[slot] = e;
	end = ((char *) &entries[slot + 1]) - (char *) page;
	if (((PageHeader) page)->pd_lower < end)
		((PageHeader) page)->pd_lower = end;
}

/* ph_free_page_init formats a free-list page pointing at next */
void
ph_free_page_init(Page page, BlockNumber next)
{
	ph_special_init(page, PH_KIND_FREE, next);
}

/* ph_hot_page_init formats an empty heap-format page with no special space */
void
ph_hot_page_init(Page page)
{
	PageInit(page, BLCKSZ, 0);
}

/*
 * ph_apply_header_change overwrites the MVCC header of one tuple as given;
 * with keep_ctid the t_ctid is left alone (update: set separately).
 */
void
ph_apply_header_change(Page page, const PhHeaderChange *c, bool keep_ctid)
{
	ItemId		lp;
	HeapTupleHeader htup;

	if (c->offnum < FirstOffsetNumber || c->offnum > PageGetMaxOffsetNumber(page))
		elog(PANIC, "phantom: header change at invalid offset %u", c->offnum);
	lp = PageGetItemId(page, c->offnum);
	if (!ItemIdIsNormal(lp))
		elog(PANIC, "phantom: header change of a non-normal item at offset %u",
			 c->offnum);
	htup = (HeapTupleHeader) PageGetItem(page, lp);
	htup->t_infomask = c->infomask;
	htup->t_infomask2 = c->infomask2;
	htup->t_choice.t_heap.t_xmin = c->xmin;
	htup->t_choice.t_heap.t_xmax = c->xmax;
	htup->t_choice.t_heap.t_field3.t_cid = c->cid;
	if (!keep_ctid)
		htup->t_ctid = c->ctid;
}
