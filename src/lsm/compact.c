/*-------------------------------------------------------------------------
 *
 * compact.c
 *	  Compaction: moving settled hot vblocks into compressed cold runs.
 *
 *	  A vblock is *settled* when every item of its hot page is unused, a
 *	  redirect, or a normal tuple that is frozen, committed and has
 *	  HEAP_XMAX_INVALID: such a page means the same thing to every snapshot
 *	  and needs no clog, so it can become an immutable, compressed image.
 *	  Tuples visible to everyone (committed xmin older than the horizon of
 *	  GetOldestNonRemovableTransactionId) that are not frozen yet are frozen
 *	  first, through the storage engineer's WAL primitives, and the page's
 *	  visibility-map bits are set (all-visible, all-frozen): cold vblocks
 *	  keep both bits, which index-only scans rely on.
 *
 *	  One pass over the block map finds the hot vblocks (and the dead run
 *	  pages, see retire_dead_runs); then, over the hot vblocks in order:
 *	  1. collect: under a share lock (exclusive if it must freeze first),
 *	     check the page is settled, copy its image and LSN and compress it
 *	     into a frame of the run page being built in memory;
 *	  2. flush, when the run page is full: allocate the run page
 *	     (ph_page_alloc, before any hot page is locked: it takes the
 *	     relation extension lock), re-pin every hot page of the batch and
 *	     take its cleanup lock without waiting; a page that is busy,
 *	     changed since its image was taken, or became an insertion lane is
 *	     left hot.  The run page is rebuilt from the frames of the pages
 *	     still held (so a run page never carries garbage when written),
 *	     filled and logged with a full-page image in one critical section,
 *	     and then every held vblock is switched to it (ph_map_set_cold
 *	     frees the hot page).  If no page is held, the run page goes back
 *	     to the free list (ph_page_free).
 *
 *	  Locking: the caller holds ShareUpdateExclusiveLock on the relation,
 *	  so no other compaction or VACUUM runs and a hot vblock cannot move
 *	  under us (only thaw moves vblocks, and only cold ones); inserts,
 *	  updates, deletes and scans run concurrently.  Buffer locks are taken
 *	  one page at a time, except in a flush, which holds the fresh run page
 *	  and the cleanup locks of at most PH_COMPACT_MAX_FRAMES hot pages,
 *	  all acquired without waiting, while it switches the map
 *	  (ph_map_set_cold then takes map page and metapage, which follow hot
 *	  pages in the lock order of docs/storage.md; nobody waits for a hot
 *	  page's content lock while holding a map lock).
 *
 *	  A vblock moved cold gets free space 0 in the free-space map (indexed
 *	  by vblock, see docs/storage.md), so inserts do not pick it; the insert
 *	  path checks the map anyway and never thaws to insert.
 *
 *	  Memory: a context per compaction, and a batch context reset after
 *	  each run page.
 *
 * src/lsm/compact.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/heapam_xlog.h"
#include "access/htup_details.h"
#include "access/multixact.h"
#include "access/visibilitymap.h"
#include "access/xloginsert.h"
#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "storage/bufmgr.h"
#include "storage/freespace.h"
#include "storage/procarray.h"
#include "storage/smgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "phantom/lsm/run.h"
#include "phantom/lsm/runframe.h"
#include "phantom/lsm/storage.h"
#include "phantom/lsm/storage_int.h"
#include "phantom/mvcc/visibility.h"
#include "phantom/phantom.h"
#include "phantom/wal/records.h"
#include "phantom/wal/wal.h"

/*
 * Frames per run page at most: bounds the buffer locks a flush holds
 * (PostgreSQL allows 200 LWLocks at once) and the memory of a batch.
 */
#define PH_COMPACT_MAX_FRAMES	64

/* Run pages a rewrite round reads before writing (bounds its memory). */
#define PH_REWRITE_MAX_SOURCES	64

/* map-switch records of run rewrites in this backend (fault point) */
static int	rewrite_switches = 0;

/* A reference from the block map to a run page, found by the map pass. */
typedef struct PhColdRef
{
	BlockNumber runblk;
	BlockNumber vblock;
} PhColdRef;

/* A live frame copied out of a run page that is being rewritten. */
typedef struct PhLiveFrame
{
	BlockNumber vblock;
	BlockNumber src;			/* run page it comes from */
	char	   *frame;
	Size		framelen;
} PhLiveFrame;


/* One hot vblock collected into the run page being built. */
typedef struct PhCompactItem
{
	BlockNumber vblock;
	BlockNumber hotblk;			/* physical block of its hot page */
	XLogRecPtr	lsn;			/* page LSN when the image was taken */
	char	   *image;			/* BLCKSZ copy of the page (pd_checksum 0) */
	char	   *frame;			/* compressed frame */
	Size		framelen;
	Buffer		buf;			/* cleanup-locked during a flush, else 0 */
} PhCompactItem;

typedef struct PhCompactState
{
	Relation	rel;
	TransactionId oldest_xmin;	/* GetOldestNonRemovableTransactionId */
	MultiXactId oldest_mxact;	/* GetOldestMultiXactId */
	Buffer		vmbuf;			/* pinned VM page, or InvalidBuffer */
	PGAlignedBlock runpage;		/* run page being built */
	PhCompactItem items[PH_COMPACT_MAX_FRAMES];
	int			nitems;
	MemoryContext batchcxt;
	XLogRecPtr	lsn_limit;		/* skip pages changed at or after it */
	int64		moved;
} PhCompactState;

/* Result of looking at a hot page. */
typedef enum PhSettle
{
	PH_SETTLED,					/* can go cold as it is */
	PH_FREEZABLE,				/* can go cold after freezing some tuples */
	PH_UNSETTLED				/* has tuples some snapshot may not see */
} PhSettle;

/*
 * tuple_settled says whether a tuple header is frozen with an invalid
 * xmax, i.e. means the same to every snapshot and holds no xid at all.
 * The raw xmax must be zero, not just hinted invalid: an aborted updater's
 * or locker's xid stays in the header until freezing clears it, and a
 * page that keeps one must not be marked all-frozen or go cold, or
 * relfrozenxid would move past that xid (VACUUM never visits such pages)
 * and the next VACUUM after a thaw would fail with "found xmax ... from
 * before relfrozenxid" (heap_prepare_freeze_tuple).
 */
static inline bool
tuple_settled(HeapTupleHeader htup)
{
	return HeapTupleHeaderXminFrozen(htup) &&
		(htup->t_infomask & HEAP_XMAX_INVALID) != 0 &&
		(htup->t_infomask & HEAP_XMAX_IS_MULTI) == 0 &&
		HeapTupleHeaderGetRawXmax(htup) == InvalidTransactionId;
}

/*
 * read_lanes copies the insertion lanes out of the metapage; returns the
 * number of valid lane vblocks stored in lanes[].
 */
static int
read_lanes(Relation rel, BlockNumber *lanes)
{
	Buffer		buf;
	PhantomMetaPageData *meta;
	int			n = 0;
	int			i;

	buf = ReadBufferExtended(rel, MAIN_FORKNUM, PH_METAPAGE_BLKNO,
							 RBM_NORMAL, NULL);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	meta = PhantomPageGetMeta(BufferGetPage(buf));
	for (i = 0; i < PH_MAX_LANES; i++)
		if (meta->lanes[i] != InvalidBlockNumber)
			lanes[n++] = meta->lanes[i];
	UnlockReleaseBuffer(buf);
	return n;
}

static bool
is_lane(BlockNumber vblock, const BlockNumber *lanes, int nlanes)
{
	int			i;

	for (i = 0; i < nlanes; i++)
		if (lanes[i] == vblock)
			return true;
	return false;
}

/*
 * classify_page looks at every item of a locked hot page.  A normal tuple
 * that is not settled is freezable when HeapTupleSatisfiesVacuum calls it
 * live, its xmin committed before the horizon, and its xmax is invalid or
 * a plain xid (a locker or an aborted updater, which freezing clears).
 * Dead line pointers make the page unsettled: VACUUM must remove their
 * index entries first.  May set hint bits (buf is locked).
 */
static PhSettle
classify_page(PhCompactState *cs, Buffer buf, BlockNumber vblock)
{
	Page		page = BufferGetPage(buf);
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	OffsetNumber off;
	PhSettle	result = PH_SETTLED;

	for (off = FirstOffsetNumber; off <= maxoff; off++)
	{
		ItemId		lp = PageGetItemId(page, off);
		HeapTupleData tup;

		if (!ItemIdIsUsed(lp) || ItemIdIsRedirected(lp))
			continue;
		if (ItemIdIsDead(lp))
			return PH_UNSETTLED;

		tup.t_data = (HeapTupleHeader) PageGetItem(page, lp);
		tup.t_len = ItemIdGetLength(lp);
		tup.t_tableOid = RelationGetRelid(cs->rel);
		ItemPointerSet(&tup.t_self, vblock, off);

		if (tuple_settled(tup.t_data))
			continue;
		/*
		 * LIVE means the inserter committed.  The XMIN_COMMITTED hint need
		 * not be set: after an asynchronous commit it stays unset until the
		 * commit record is flushed, but the freeze record comes after the
		 * commit record in the WAL, so no crash can keep the freeze and
		 * lose the commit (heap's VACUUM freezes such tuples too).
		 */
		if (ph_tuple_satisfies_vacuum(&tup, cs->oldest_xmin, buf) != HEAPTUPLE_LIVE ||
			!TransactionIdPrecedes(HeapTupleHeaderGetXmin(tup.t_data),
								   cs->oldest_xmin))
			return PH_UNSETTLED;
		if ((tup.t_data->t_infomask & HEAP_XMAX_IS_MULTI) != 0 &&
			(tup.t_data->t_infomask & HEAP_XMAX_INVALID) == 0)
			return PH_UNSETTLED;
		result = PH_FREEZABLE;
	}
	return result;
}

/*
 * freeze_page makes an exclusively locked, freezable-or-settled page
 * settled: it prepares a freeze plan for every tuple that needs one, checks
 * on a copy that the plan really settles the tuple (else leaves the page
 * alone and returns false), applies and logs the plans (ph_wal_freeze), and
 * sets PD_ALL_VISIBLE and the all-visible/all-frozen VM bits if missing
 * (ph_wal_set_visible).  The conflict horizon for hot standby is the
 * newest xmin frozen here (older freezes already conflicted).
 */
static bool
freeze_page(PhCompactState *cs, Buffer buf, BlockNumber vblock)
{
	Relation	rel = cs->rel;
	Page		page = BufferGetPage(buf);
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	OffsetNumber off;
	xl_heap_freeze_tuple plans[MaxHeapTuplesPerPage];
	int			nplans = 0;
	TransactionId newest_xmin = InvalidTransactionId;
	TransactionId frozenxid_out = cs->oldest_xmin;
	MultiXactId minmxid_out = cs->oldest_mxact;

	if (classify_page(cs, buf, vblock) == PH_UNSETTLED)
		return false;

	for (off = FirstOffsetNumber; off <= maxoff; off++)
	{
		ItemId		lp = PageGetItemId(page, off);
		HeapTupleHeader htup;
		HeapTupleHeaderData copy;
		bool		totally_frozen;
		TransactionId xmin;

		if (!ItemIdIsNormal(lp))
			continue;
		htup = (HeapTupleHeader) PageGetItem(page, lp);
		if (tuple_settled(htup))
			continue;

		xmin = HeapTupleHeaderGetXmin(htup);
		if (!heap_prepare_freeze_tuple(htup,
									   rel->rd_rel->relfrozenxid,
									   rel->rd_rel->relminmxid,
									   cs->oldest_xmin, cs->oldest_mxact,
									   &plans[nplans], &totally_frozen,
									   &frozenxid_out, &minmxid_out))
			return false;		/* needs freezing but nothing to do: odd */

		memcpy(&copy, htup, SizeofHeapTupleHeader);
		heap_execute_freeze_tuple(&copy, &plans[nplans]);
		if (!tuple_settled(&copy))
			return false;

		plans[nplans].offset = off;
		nplans++;
		if (TransactionIdIsNormal(xmin) &&
			(!TransactionIdIsValid(newest_xmin) ||
			 TransactionIdFollows(xmin, newest_xmin)))
			newest_xmin = xmin;
	}

	if (nplans > 0)
		ph_wal_freeze(rel, buf, vblock, newest_xmin, plans, nplans);

	if (!PageIsAllVisible(page) ||
		!VM_ALL_FROZEN(rel, vblock, &cs->vmbuf))
		ph_wal_set_visible(rel, buf, vblock, newest_xmin,
						   VISIBILITYMAP_ALL_VISIBLE | VISIBILITYMAP_ALL_FROZEN);
	return true;
}

/*
 * log_counters adds compaction's byte counts to the metapage
 * (XLOG_PH_COUNTERS): compacted = used bytes of the hot pages moved cold,
 * written = bytes of the run pages written.  phantom.stat_tables derives
 * the write amplification from them.  Not transactional and not exact
 * across crashes (a crash between a run page and its counter record loses
 * that page's counts), which is fine for a statistic.
 */
static void
log_counters(Relation rel, uint64 compacted, uint64 written)
{
	Buffer		metabuf;
	Page		mpage;
	PhantomMetaPageData *meta;

	if (compacted == 0 && written == 0)
		return;
	metabuf = ReadBufferExtended(rel, MAIN_FORKNUM, PH_METAPAGE_BLKNO,
								 RBM_NORMAL, NULL);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	mpage = BufferGetPage(metabuf);
	meta = PhantomPageGetMeta(mpage);
	START_CRIT_SECTION();
	meta->compacted_bytes += compacted;
	meta->compaction_written_bytes += written;
	MarkBufferDirty(metabuf);
	if (RelationNeedsWAL(rel))
	{
		xl_ph_counters xlrec;
		XLogRecPtr	recptr;

		xlrec.compacted_bytes = compacted;
		xlrec.written_bytes = written;
		XLogBeginInsert();
		XLogRegisterData((char *) &xlrec, SizeOfPhCounters);
		XLogRegisterBuffer(0, metabuf, REGBUF_STANDARD);
		recptr = XLogInsert(PHANTOM_RMGR_ID, XLOG_PH_COUNTERS);
		PageSetLSN(mpage, recptr);
	}
	END_CRIT_SECTION();
	UnlockReleaseBuffer(metabuf);
}

/*
 * flush_batch writes the run page for the collected vblocks and switches
 * them to it (see the file header, step 2).
 */
static void
flush_batch(PhCompactState *cs)
{
	Relation	rel = cs->rel;
	BlockNumber lanes[PH_MAX_LANES];
	int			nlanes;
	int			nheld = 0;
	int			i;
	Buffer		runbuf;
	BlockNumber runblk;
	Page		runpage = (Page) cs->runpage.data;
	bool		moved;
	uint64		compacted = 0;

	if (cs->nitems == 0)
		return;

	/*
	 * Allocate the run page first: ph_page_alloc takes the relation
	 * extension lock, which must not be requested while holding content
	 * locks on hot pages (lock order of storage.md).  The page is fresh,
	 * hence unreachable by anyone else while we hold it.
	 */
	runbuf = ph_page_alloc(rel);
	runblk = BufferGetBlockNumber(runbuf);

	/*
	 * Take the cleanup lock of every hot page that is still as we saw it,
	 * without waiting (so holding several at once cannot deadlock).
	 */
	for (i = 0; i < cs->nitems; i++)
	{
		PhCompactItem *it = &cs->items[i];
		PhMapEntry	entry;
		Buffer		buf;
		Page		page;

		it->buf = InvalidBuffer;
		entry = ph_map_get(rel, it->vblock);
		if (!PhMapIsHot(entry) || PhMapBlock(entry) != it->hotblk)
			continue;
		buf = ReadBufferExtended(rel, MAIN_FORKNUM, it->hotblk, RBM_NORMAL,
								 NULL);
		if (!ConditionalLockBufferForCleanup(buf))
		{
			ReleaseBuffer(buf);
			continue;
		}
		page = BufferGetPage(buf);
		if (PageGetLSN(page) != it->lsn ||
			memcmp(page, it->image, offsetof(PageHeaderData, pd_checksum)) != 0 ||
			memcmp(page + offsetof(PageHeaderData, pd_flags),
				   it->image + offsetof(PageHeaderData, pd_flags),
				   BLCKSZ - offsetof(PageHeaderData, pd_flags)) != 0)
		{
			UnlockReleaseBuffer(buf);
			continue;
		}
		it->buf = buf;
		nheld++;
	}

	/* A page that became an insertion lane meanwhile stays hot. */
	if (nheld > 0)
	{
		nlanes = read_lanes(rel, lanes);
		for (i = 0; i < cs->nitems; i++)
		{
			PhCompactItem *it = &cs->items[i];

			if (BufferIsValid(it->buf) && is_lane(it->vblock, lanes, nlanes))
			{
				UnlockReleaseBuffer(it->buf);
				it->buf = InvalidBuffer;
				nheld--;
			}
		}
	}

	if (nheld == 0)
	{
		/* every page changed meanwhile: give the run page back */
		ph_page_free(rel, runbuf);
		UnlockReleaseBuffer(runbuf);
		goto done;
	}

	/* Build the run page from the frames of the pages we hold. */
	ph_run_page_init(runpage);
	for (i = 0; i < cs->nitems; i++)
	{
		PhCompactItem *it = &cs->items[i];

		if (BufferIsValid(it->buf) &&
			!ph_run_page_add(runpage, it->frame, it->framelen))
			elog(ERROR, "frame of vblock %u no longer fits its run page",
				 it->vblock);
	}

	START_CRIT_SECTION();
	memcpy(BufferGetPage(runbuf), runpage, BLCKSZ);
	MarkBufferDirty(runbuf);
	if (RelationNeedsWAL(rel))
		log_newpage_buffer(runbuf, true);
	END_CRIT_SECTION();
	UnlockReleaseBuffer(runbuf);

	for (i = 0; i < cs->nitems; i++)
	{
		PhCompactItem *it = &cs->items[i];

		if (!BufferIsValid(it->buf))
			continue;
		moved = ph_map_set_cold(rel, it->vblock, it->buf, runblk);
		UnlockReleaseBuffer(it->buf);
		it->buf = InvalidBuffer;
		if (moved)
		{
			PageHeader	ph = (PageHeader) it->image;

			compacted += BLCKSZ - (ph->pd_upper - ph->pd_lower);
			cs->moved++;
			/* cold: no room for inserts (FSM call with no lock held) */
			RecordPageWithFreeSpace(rel, it->vblock, 0);
		}
		/* else pinned meanwhile: its frame is dead */
	}
	log_counters(rel, compacted, BLCKSZ);

done:
	cs->nitems = 0;
	MemoryContextReset(cs->batchcxt);
	ph_run_page_init((Page) cs->runpage.data);
}

/*
 * collect_vblock looks at one vblock and, if it is a settled (or
 * freezable) hot page that is not an insertion lane, adds its frame to the
 * run page being built, flushing the batch first when the page is full.
 */
static void
collect_vblock(PhCompactState *cs, BlockNumber vblock,
			   const BlockNumber *lanes, int nlanes)
{
	Relation	rel = cs->rel;
	PhPage		pg;
	Buffer		buf;
	Page		page;
	PhSettle	settle;
	PhCompactItem *it;
	MemoryContext oldcxt;
	PGAlignedBlock image;
	PGAlignedBlock frame;
	Size		framelen;
	BlockNumber hotblk;
	XLogRecPtr	lsn;

	if (is_lane(vblock, lanes, nlanes))
		return;
	if (!ph_page_open(rel, vblock, &pg))
		return;
	if (pg.cold)
	{
		ph_page_close(&pg);
		return;
	}
	buf = pg.buf;
	page = BufferGetPage(buf);

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	if (!XLogRecPtrIsInvalid(cs->lsn_limit) &&
		PageGetLSN(page) >= cs->lsn_limit)
	{
		/* changed recently: likely to change again, leave it hot */
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		ph_page_close(&pg);
		return;
	}
	settle = classify_page(cs, buf, vblock);
	if (settle == PH_SETTLED &&
		(!PageIsAllVisible(page) || !VM_ALL_FROZEN(rel, vblock, &cs->vmbuf)))
		settle = PH_FREEZABLE;	/* needs its VM bits set */
	if (settle == PH_FREEZABLE)
	{
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		settle = freeze_page(cs, buf, vblock) ? PH_SETTLED : PH_UNSETTLED;
	}
	if (settle != PH_SETTLED)
	{
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		ph_page_close(&pg);
		return;
	}

	hotblk = BufferGetBlockNumber(buf);
	lsn = PageGetLSN(page);
	memcpy(image.data, page, BLCKSZ);
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	ph_page_close(&pg);
	((PageHeader) image.data)->pd_checksum = 0;

	if (!ph_run_encode(vblock, (Page) image.data, frame.data, &framelen))
		return;					/* incompressible: stays hot */

	if (!ph_run_page_add((Page) cs->runpage.data, frame.data, framelen))
	{
		/* the run page is full: write it out and start the next one */
		flush_batch(cs);
		if (!ph_run_page_add((Page) cs->runpage.data, frame.data, framelen))
			elog(ERROR, "frame of %zu bytes does not fit an empty run page",
				 framelen);
	}

	oldcxt = MemoryContextSwitchTo(cs->batchcxt);
	it = &cs->items[cs->nitems++];
	it->vblock = vblock;
	it->hotblk = hotblk;
	it->lsn = lsn;
	it->image = palloc(BLCKSZ);
	memcpy(it->image, image.data, BLCKSZ);
	it->frame = palloc(framelen);
	memcpy(it->frame, frame.data, framelen);
	it->framelen = framelen;
	it->buf = InvalidBuffer;
	MemoryContextSwitchTo(oldcxt);

	if (cs->nitems == PH_COMPACT_MAX_FRAMES)
		flush_batch(cs);
}

/*
 * retire_dead_runs frees the run pages that no map entry references any
 * more (every frame thawed, or a run page written by a compaction that
 * crashed before switching the map) and returns how many it freed.
 *
 * Only compaction creates references to run pages, and it runs under our
 * ShareUpdateExclusiveLock, so a run page found unreferenced by one pass
 * over the map stays unreferenced: no reader can reach it (lookups read
 * cold images under the map page's share lock, and a thaw reads the run
 * page its vblock still references).  The pass marks the metapage, the map
 * pages and every page the map references; the metapage's free count
 * tells whether anything else than free pages can be left, and only then
 * are the unmarked pages read.  Only pages of kind RUN are freed: an
 * unreferenced page of another kind may be a page a concurrent backend
 * has just allocated.
 */
static int
retire_dead_runs(Relation rel, BlockNumber nvblocks, BlockNumber *hot,
				 BlockNumber *nhot, PhColdRef *cold, BlockNumber *ncold)
{
	BlockNumber nphys = smgrnblocks(RelationGetSmgr(rel), MAIN_FORKNUM);
	Bitmapset  *known = NULL;
	Buffer		metabuf;
	PhantomMetaPageData *meta;
	uint32		nfree;
	BlockNumber vblock;
	BlockNumber blk;
	int			retired = 0;
	uint32		i;

	metabuf = ReadBufferExtended(rel, MAIN_FORKNUM, PH_METAPAGE_BLKNO,
								 RBM_NORMAL, NULL);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	meta = PhantomPageGetMeta(BufferGetPage(metabuf));
	nfree = meta->nfree;
	known = bms_add_member(known, PH_METAPAGE_BLKNO);
	for (i = 0; i < meta->nmappages && i < PH_META_MAX_MAPPAGES; i++)
		known = bms_add_member(known, (int) meta->mappages[i]);
	UnlockReleaseBuffer(metabuf);

	*nhot = 0;
	*ncold = 0;
	for (vblock = 0; vblock < nvblocks; vblock++)
	{
		PhMapEntry	e = ph_map_get(rel, vblock);

		CHECK_FOR_INTERRUPTS();
		if (e != PH_MAP_NONE)
			known = bms_add_member(known, (int) PhMapBlock(e));
		if (PhMapIsHot(e))
			hot[(*nhot)++] = vblock;
		else if (PhMapIsCold(e))
		{
			cold[*ncold].runblk = PhMapBlock(e);
			cold[*ncold].vblock = vblock;
			(*ncold)++;
		}
	}
	if ((int64) nphys - bms_num_members(known) <= (int64) nfree)
	{
		bms_free(known);
		return 0;				/* everything else is on the free list */
	}

	for (blk = 0; blk < nphys; blk++)
	{
		Buffer		buf;
		Page		page;

		if (bms_is_member((int) blk, known))
			continue;
		CHECK_FOR_INTERRUPTS();
		buf = ReadBufferExtended(rel, MAIN_FORKNUM, blk, RBM_NORMAL, NULL);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		if (!PageIsNew(page) &&
			PageGetSpecialSize(page) == MAXALIGN(sizeof(PhantomSpecial)) &&
			PhantomPageGetSpecial(page)->kind == PH_KIND_RUN)
		{
			ph_page_free(rel, buf);
			retired++;
		}
		UnlockReleaseBuffer(buf);
	}
	bms_free(known);
	return retired;
}

/* qsort comparators: references by (run page, vblock), frames by vblock */
static int
cmp_coldref(const void *a, const void *b)
{
	const PhColdRef *x = a;
	const PhColdRef *y = b;

	if (x->runblk != y->runblk)
		return (x->runblk > y->runblk) - (x->runblk < y->runblk);
	return (x->vblock > y->vblock) - (x->vblock < y->vblock);
}

static int
cmp_liveframe(const void *a, const void *b)
{
	const PhLiveFrame *x = a;
	const PhLiveFrame *y = b;

	return (x->vblock > y->vblock) - (x->vblock < y->vblock);
}

/*
 * rewrite_write_page writes one run page holding frames[0..n) and switches
 * the map entries that still reference the frames' old run pages to it:
 * the page is logged with a full image first, then one
 * XLOG_PH_SHRINK(move, REWRITE) record per map page involved, each under
 * that map page's exclusive lock.  A vblock thawed meanwhile keeps its new
 * hot page (its frame in the new run page is dead).  Returns the number
 * of entries switched.
 */
static int
rewrite_write_page(Relation rel, PhLiveFrame *frames, int n)
{
	PGAlignedBlock pagebuf;
	Page		page = (Page) pagebuf.data;
	Buffer		runbuf;
	BlockNumber dst;
	BlockNumber *vbs = palloc(sizeof(BlockNumber) * n);
	int			switched = 0;
	int			i;

	ph_run_page_init(page);
	for (i = 0; i < n; i++)
		if (!ph_run_page_add(page, frames[i].frame, frames[i].framelen))
			elog(ERROR, "phantom: rewritten frames do not fit a run page");

	/* a fresh page, unreachable until the first map entry points at it */
	runbuf = ph_page_alloc(rel);
	dst = BufferGetBlockNumber(runbuf);
	START_CRIT_SECTION();
	memcpy(BufferGetPage(runbuf), page, BLCKSZ);
	MarkBufferDirty(runbuf);
	if (RelationNeedsWAL(rel))
		log_newpage_buffer(runbuf, true);
	END_CRIT_SECTION();
	UnlockReleaseBuffer(runbuf);

	i = 0;
	while (i < n)
	{
		uint32		idx = PH_MAP_PAGE_INDEX(frames[i].vblock);
		PhMapEntry	e;
		Buffer		mapbuf;
		Page		mappage;
		int			j;
		int			nvbs = 0;

		mapbuf = ph_map_lock(rel, frames[i].vblock, BUFFER_LOCK_EXCLUSIVE, &e);
		if (!BufferIsValid(mapbuf))
			elog(ERROR, "phantom: map page of vblock %u of \"%s\" vanished",
				 frames[i].vblock, RelationGetRelationName(rel));
		mappage = BufferGetPage(mapbuf);
		for (j = i; j < n && PH_MAP_PAGE_INDEX(frames[j].vblock) == idx; j++)
		{
			PhMapEntry	cur = PhMapPageEntries(mappage)[PH_MAP_SLOT(frames[j].vblock)];

			if (cur == (PH_MAP_COLD | frames[j].src))
				vbs[nvbs++] = frames[j].vblock;
		}
		if (nvbs > 0)
		{
			START_CRIT_SECTION();
			for (int k = 0; k < nvbs; k++)
				ph_map_page_set(mappage, vbs[k], PH_MAP_COLD | dst);
			MarkBufferDirty(mapbuf);
			if (RelationNeedsWAL(rel))
			{
				xl_ph_shrink xlrec;
				XLogRecPtr	recptr;

				memset(&xlrec, 0, sizeof(xlrec));
				xlrec.op = PH_SHRINK_MOVE;
				xlrec.flags = PH_SHRINK_REWRITE;
				xlrec.nentries = nvbs;
				xlrec.src = InvalidBlockNumber;
				xlrec.dst = dst;
				XLogBeginInsert();
				XLogRegisterData((char *) &xlrec, SizeOfPhShrink);
				XLogRegisterData((char *) vbs, nvbs * sizeof(BlockNumber));
				XLogRegisterBuffer(1, mapbuf, REGBUF_STANDARD);
				recptr = XLogInsert(PHANTOM_RMGR_ID, XLOG_PH_SHRINK);
				PageSetLSN(mappage, recptr);
			}
			END_CRIT_SECTION();
			switched += nvbs;
		}
		UnlockReleaseBuffer(mapbuf);
		/* fault point for crash tests (phantom.debug_rewrite_panic_after) */
		if (phantom_debug_rewrite_panic_after > 0 &&
			++rewrite_switches >= phantom_debug_rewrite_panic_after)
			elog(PANIC, "phantom: fault point: run rewrite stopped after %d map switches",
				 rewrite_switches);
		i = j;
	}
	pfree(vbs);
	return switched;
}

/*
 * rewrite_flush packs the live frames of the source run pages srcs[0..nsrc)
 * into as few fresh run pages as possible, switches the map to them and
 * frees the sources.  Nothing is done unless it saves at least one page
 * and an eighth of the sources (else a lone sparse page would be rewritten
 * by every compaction, or 64 pages to save one).
 *
 * Freeing a source is safe once its entries are switched: only compaction
 * (us, under ShareUpdateExclusiveLock) creates references to run pages;
 * readers decompress under the map page's share lock, which our switch
 * waited for; a thaw reads the entry and copies the frame under the
 * relation extension lock, which the frees take.
 */
static int
rewrite_flush(Relation rel, PhLiveFrame *frames, int nframes,
			  const BlockNumber *srcs, int nsrc, int64 *written)
{
	PGAlignedBlock pagebuf;
	Page		page = (Page) pagebuf.data;
	int			npages = 0;
	int			start;
	int			i;

	if (nsrc == 0)
		return 0;
	qsort(frames, nframes, sizeof(PhLiveFrame), cmp_liveframe);

	/* count the pages first */
	ph_run_page_init(page);
	for (i = 0; i < nframes; i++)
	{
		if (!ph_run_page_add(page, frames[i].frame, frames[i].framelen))
		{
			npages++;
			ph_run_page_init(page);
			(void) ph_run_page_add(page, frames[i].frame, frames[i].framelen);
		}
	}
	if (nframes > 0)
		npages++;
	/* worth it only if it saves a page, and an eighth of the sources */
	if (npages > nsrc - Max(1, nsrc / 8))
		return 0;

	start = 0;
	ph_run_page_init(page);
	for (i = 0; i < nframes; i++)
	{
		if (!ph_run_page_add(page, frames[i].frame, frames[i].framelen))
		{
			rewrite_write_page(rel, frames + start, i - start);
			*written += BLCKSZ;
			start = i;
			ph_run_page_init(page);
			(void) ph_run_page_add(page, frames[i].frame, frames[i].framelen);
		}
	}
	if (nframes > start)
	{
		rewrite_write_page(rel, frames + start, nframes - start);
		*written += BLCKSZ;
	}

	ph_lock_extend(rel);
	for (i = 0; i < nsrc; i++)
	{
		Buffer		buf;
		Page		p;

		buf = ReadBufferExtended(rel, MAIN_FORKNUM, srcs[i], RBM_NORMAL, NULL);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		p = BufferGetPage(buf);
		if (!PageIsNew(p) &&
			PageGetSpecialSize(p) == MAXALIGN(sizeof(PhantomSpecial)) &&
			PhantomPageGetSpecial(p)->kind == PH_KIND_RUN)
			ph_page_free(rel, buf);
		UnlockReleaseBuffer(buf);
	}
	ph_unlock_extend(rel);
	return nsrc;
}

/*
 * rewrite_runs rewrites the run pages whose live frames (those the block
 * map still references, cold[] sorted by run page) take less than
 * phantom.compaction_run_rewrite_ratio of their frame bytes or of the
 * page: their live
 * frames, self-contained zstd frames, are copied as they are (no
 * recompression) into fresh run pages, PH_REWRITE_MAX_SOURCES sources at a
 * time.  Returns the number of run pages freed; *written gets the bytes of
 * the run pages written.
 */
static int
rewrite_runs(Relation rel, PhColdRef *cold, BlockNumber ncold, int64 *written)
{
	MemoryContext cxt;
	MemoryContext oldcxt;
	PhLiveFrame *frames;
	int			nframes = 0;
	int			maxframes;
	BlockNumber srcs[PH_REWRITE_MAX_SOURCES];
	int			nsrc = 0;
	int			freed = 0;
	BlockNumber i;
	BlockNumber j;

	if (phantom_compaction_run_rewrite_ratio <= 0 || ncold == 0)
		return 0;
	qsort(cold, ncold, sizeof(PhColdRef), cmp_coldref);

	cxt = AllocSetContextCreate(CurrentMemoryContext, "phantom run rewrite",
								ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);
	maxframes = 256;
	frames = palloc(sizeof(PhLiveFrame) * maxframes);

	for (i = 0; i < ncold; i = j)
	{
		BlockNumber runblk = cold[i].runblk;
		Buffer		buf;
		Page		p;
		OffsetNumber maxoff;
		OffsetNumber off;
		Size		total = 0;
		Size		live = 0;
		bool		ok = true;

		for (j = i; j < ncold && cold[j].runblk == runblk; j++)
			;
		CHECK_FOR_INTERRUPTS();

		buf = ReadBufferExtended(rel, MAIN_FORKNUM, runblk, RBM_NORMAL, NULL);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		p = BufferGetPage(buf);
		if (PageIsNew(p) ||
			PageGetSpecialSize(p) != MAXALIGN(sizeof(PhantomSpecial)) ||
			PhantomPageGetSpecial(p)->kind != PH_KIND_RUN)
		{
			/* damaged: leave it to readers and phantom.verify() */
			UnlockReleaseBuffer(buf);
			continue;
		}
		maxoff = PageGetMaxOffsetNumber(p);
		for (off = FirstOffsetNumber; off <= maxoff; off++)
		{
			ItemId		lp = PageGetItemId(p, off);

			if (ItemIdIsUsed(lp))
				total += ItemIdGetLength(lp);
		}
		for (BlockNumber k = i; k < j && ok; k++)
		{
			const char *f;
			Size		flen;
			char		detail[PH_FRAME_DETAIL_LEN];

			if (ph_run_page_find((const char *) p, cold[k].vblock, &f, &flen,
								 detail) != PH_FRAME_OK)
				ok = false;
			else
				live += flen;
		}
		/*
		 * Sparse: dead frames take more than (1 - ratio) of the frame
		 * bytes, or the live frames fill less than ratio of the page (the
		 * partly filled last page of a compaction round).
		 */
		if (!ok || total == 0 ||
			((double) live >= phantom_compaction_run_rewrite_ratio * (double) total &&
			 (double) live >= phantom_compaction_run_rewrite_ratio * (double) PH_RUN_MAX_FRAME))
		{
			UnlockReleaseBuffer(buf);
			continue;
		}

		/* a candidate: copy its live frames out */
		if (nframes + (j - i) > maxframes)
		{
			maxframes = Max(maxframes * 2, nframes + (j - i));
			frames = repalloc(frames, sizeof(PhLiveFrame) * maxframes);
		}
		for (BlockNumber k = i; k < j; k++)
		{
			const char *f;
			Size		flen;
			char		detail[PH_FRAME_DETAIL_LEN];
			PhLiveFrame *lf = &frames[nframes++];

			(void) ph_run_page_find((const char *) p, cold[k].vblock, &f,
									&flen, detail);
			lf->vblock = cold[k].vblock;
			lf->src = runblk;
			lf->frame = palloc(flen);
			memcpy(lf->frame, f, flen);
			lf->framelen = flen;
		}
		UnlockReleaseBuffer(buf);
		srcs[nsrc++] = runblk;

		if (nsrc == PH_REWRITE_MAX_SOURCES)
		{
			freed += rewrite_flush(rel, frames, nframes, srcs, nsrc, written);
			nframes = 0;
			nsrc = 0;
			/* drop the frame copies, start a new frames array */
			MemoryContextReset(cxt);
			frames = palloc(sizeof(PhLiveFrame) * maxframes);
		}
	}
	freed += rewrite_flush(rel, frames, nframes, srcs, nsrc, written);

	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(cxt);
	return freed;
}

/*
 * ph_compact_relation: see run.h and the file header.
 */
int64
ph_compact_relation(Relation rel)
{
	return ph_compact_relation_older(rel, InvalidXLogRecPtr);
}

/*
 * ph_compact_relation_older: see run.h.
 */
int64
ph_compact_relation_older(Relation rel, XLogRecPtr lsn_limit)
{
	PhCompactState *cs;
	MemoryContext cxt;
	MemoryContext oldcxt;
	BlockNumber nvblocks;
	BlockNumber *hot;
	BlockNumber nhot;
	BlockNumber i;
	BlockNumber lanes[PH_MAX_LANES];
	int			nlanes;
	int64		moved;
	int			retired;
	int			rewritten;
	PhColdRef  *cold;
	BlockNumber ncold;
	int64		rewrite_written = 0;

	nvblocks = ph_nvblocks(rel);
	if (nvblocks == 0)
		return 0;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "phantom compaction",
								ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);
	cs = palloc0(sizeof(PhCompactState));
	cs->rel = rel;
	cs->oldest_xmin = GetOldestNonRemovableTransactionId(rel);
	cs->oldest_mxact = GetOldestMultiXactId();
	cs->vmbuf = InvalidBuffer;
	cs->lsn_limit = lsn_limit;
	cs->batchcxt = AllocSetContextCreate(cxt, "phantom compaction batch",
										 ALLOCSET_DEFAULT_SIZES);
	ph_run_page_init((Page) cs->runpage.data);
	hot = MemoryContextAllocHuge(cxt, (Size) nvblocks * sizeof(BlockNumber));
	cold = MemoryContextAllocHuge(cxt, (Size) nvblocks * sizeof(PhColdRef));
	MemoryContextSwitchTo(oldcxt);

	retired = retire_dead_runs(rel, nvblocks, hot, &nhot, cold, &ncold);
	rewritten = rewrite_runs(rel, cold, ncold, &rewrite_written);
	log_counters(rel, 0, (uint64) rewrite_written);

	nlanes = read_lanes(rel, lanes);
	for (i = 0; i < nhot; i++)
	{
		CHECK_FOR_INTERRUPTS();
		collect_vblock(cs, hot[i], lanes, nlanes);
	}
	flush_batch(cs);

	if (BufferIsValid(cs->vmbuf))
		ReleaseBuffer(cs->vmbuf);
	moved = cs->moved;
	MemoryContextDelete(cxt);

	elog(DEBUG1, "phantom: compaction of \"%s\" moved %lld of %u vblocks to cold runs, retired %d dead run pages, rewrote %d sparse run pages into %lld",
		 RelationGetRelationName(rel), (long long) moved, nvblocks, retired,
		 rewritten, (long long) (rewrite_written / BLCKSZ));
	return moved;
}

/*
 * ph_compact_candidates: see run.h.  Reads only the block map and the
 * metapage, never a data page.
 */
BlockNumber
ph_compact_candidates(Relation rel, BlockNumber limit)
{
	BlockNumber nvblocks = ph_nvblocks(rel);
	BlockNumber lanes[PH_MAX_LANES];
	int			nlanes;
	BlockNumber vblock;
	BlockNumber n = 0;

	if (nvblocks == 0)
		return 0;
	nlanes = read_lanes(rel, lanes);
	for (vblock = 0; vblock < nvblocks && n < limit; vblock++)
	{
		CHECK_FOR_INTERRUPTS();
		if (PhMapIsHot(ph_map_get(rel, vblock)) &&
			!is_lane(vblock, lanes, nlanes))
			n++;
	}
	return n;
}
