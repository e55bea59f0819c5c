/*-------------------------------------------------------------------------
 *
 * shrink.c
 *	  Tail truncation of a phantom relation's main fork: after compaction
 *	  (or VACUUM) has turned hot pages into free pages, the pages still in
 *	  use are packed into the lowest physical blocks and the file is cut
 *	  after them, so pg_relation_size shows the compression.
 *
 *	  The caller holds AccessExclusiveLock on the relation (taken
 *	  conditionally by ph_try_shrink, like heap's lazy_truncate_heap): no
 *	  backend of the primary reads or writes the relation meanwhile, and the
 *	  lock is WAL-logged, so a hot standby replays our records while its
 *	  startup process holds the same lock (standby queries on the table are
 *	  cancelled or wait, as for heap's truncation).  Hence no block number
 *	  of the relation is cached anywhere but in the map directory kept in
 *	  rd_amcache, which the smgr invalidation sent by the truncation (and
 *	  after moving a map page) makes every backend rebuild.
 *
 *	  Steps:
 *	  1. one pass over the metapage and the block map finds every page in
 *	     use (metapage, map pages, the hot and run pages the map
 *	     references).  Everything else is garbage: free-list pages, run
 *	     pages whose frames were all thawed, pages leaked by a crash
 *	     between an allocation and its record.  Let n be the number of
 *	     pages in use: the file can shrink to n blocks;
 *	  2. PH_SHRINK_RESET_FREE empties the free list (its pages are about to
 *	     be reused or cut off; a crash right after only leaks them until
 *	     the next shrink, which recomputes everything from the map);
 *	  3. every page in use at or beyond block n is copied into a hole below
 *	     n (lowest first) with PH_SHRINK_MOVE records, which carry the page
 *	     image and switch the references (map entries, or the metapage's
 *	     map directory).  A run page whose vblocks span several map pages
 *	     takes one record per map page; until the last one both copies are
 *	     referenced and identical, which is consistent;
 *	  4. PH_SHRINK_TRUNCATE is logged and flushed, then the main fork (only
 *	     it: the VM and FSM forks are indexed by vblock, not by physical
 *	     block, so RelationTruncate must not be used) is cut with
 *	     smgrtruncate, which drops the buffers past the end and sends the
 *	     smgr invalidation.
 *
 *	  ph_truncate_vblocks (VACUUM's truncation of trailing empty vblocks,
 *	  under the same AccessExclusiveLock) lowers nvblocks instead: each
 *	  dropped vblock's hot page goes on the free list (XLOG_PH_VTRUNCATE,
 *	  one record per vblock, last first), then the VM and FSM forks, which
 *	  are indexed by vblock, are cut with core's XLOG_SMGR_TRUNCATE
 *	  (without its main-fork flag).  The freed pages are reused by new
 *	  vblocks, or cut off by the next shrink.
 *
 *	  Segment floor (DESIGN trap 2): PostgreSQL's bitmap heap scans and
 *	  ANALYZE call PrefetchBuffer on *virtual* block numbers of a table AM;
 *	  mdprefetch raises an error when such a block lies in segment s > 0
 *	  while an earlier segment file is shorter than RELSEG_SIZE.  A shrink
 *	  therefore never cuts the file below RELSEG_SIZE * (segment of the
 *	  last vblock), so every segment before the one the highest vblock
 *	  falls in stays full (holes left there go back on the free list).
 *	  Tables under 1 GB of vblocks are not affected.
 *
 * src/lsm/shrink.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/visibilitymap.h"
#include "access/xloginsert.h"
#include "access/xlog.h"
#include "access/xlogutils.h"
#include "catalog/storage.h"
#include "catalog/storage_xlog.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/freespace.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "storage/smgr.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "phantom/lsm/run.h"
#include "phantom/lsm/storage_int.h"
#include "phantom/wal/records.h"

/* A map entry pointing beyond the new end: which vblock, where */
typedef struct PhShrinkRef
{
	BlockNumber blk;			/* physical block the entry points at */
	BlockNumber vblock;
} PhShrinkRef;

static int
ref_cmp(const void *a, const void *b)
{
	const PhShrinkRef *x = (const PhShrinkRef *) a;
	const PhShrinkRef *y = (const PhShrinkRef *) b;

	if (x->blk != y->blk)
		return x->blk < y->blk ? -1 : 1;
	if (x->vblock != y->vblock)
		return x->vblock < y->vblock ? -1 : 1;
	return 0;
}

/* a map page's physical block and its directory index */
typedef struct PhShrinkMap
{
	BlockNumber blk;
	uint32		idx;
} PhShrinkMap;

static int
map_cmp(const void *a, const void *b)
{
	BlockNumber x = ((const PhShrinkMap *) a)->blk;
	BlockNumber y = ((const PhShrinkMap *) b)->blk;

	return (x > y) - (x < y);
}

/* map_index returns the directory index of map page blk, or -1 */
static int64
map_index(const PhShrinkMap *maps, uint32 n, BlockNumber blk)
{
	PhShrinkMap key;
	PhShrinkMap *m;

	key.blk = blk;
	m = bsearch(&key, maps, n, sizeof(PhShrinkMap), map_cmp);
	return m ? (int64) m->idx : -1;
}

/* one bit per physical block: in use */
#define USED_GET(u, b)	(((u)[(b) >> 3] >> ((b) & 7)) & 1)
#define USED_SET(u, b)	((u)[(b) >> 3] |= (uint8) (1 << ((b) & 7)))

/* next_hole returns the first block >= *from below end not in use */
static BlockNumber
next_hole(const uint8 *used, BlockNumber *from, BlockNumber end)
{
	while (*from < end && USED_GET(used, *from))
		(*from)++;
	if (*from >= end)
		return InvalidBlockNumber;
	return (*from)++;
}

static void
shrink_corrupt(Relation rel, BlockNumber vblock, PhMapEntry e, BlockNumber nphys)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("block map of phantom relation \"%s\" is corrupted",
					RelationGetRelationName(rel)),
			 errdetail("Virtual block %u maps to physical block %u, the file has %u blocks.",
					   vblock, PhMapBlock(e), nphys),
			 errhint("Run phantom.verify() on the table.")));
}

/*
 * reset_free_list empties the metapage's free list (step 2).
 */
static void
reset_free_list(Relation rel)
{
	Buffer		metabuf = ph_meta_read(rel, BUFFER_LOCK_EXCLUSIVE);
	Page		mpage = BufferGetPage(metabuf);
	PhantomMetaPageData *meta = PhantomPageGetMeta(mpage);

	if (meta->nfree == 0 && !BlockNumberIsValid(meta->free_head))
	{
		UnlockReleaseBuffer(metabuf);
		return;
	}
	START_CRIT_SECTION();
	meta->free_head = InvalidBlockNumber;
	meta->nfree = 0;
	MarkBufferDirty(metabuf);
	if (RelationNeedsWAL(rel))
	{
		xl_ph_shrink xlrec;
		XLogRecPtr	recptr;

		memset(&xlrec, 0, sizeof(xlrec));
		xlrec.op = PH_SHRINK_RESET_FREE;
		XLogBeginInsert();
		XLogRegisterData((char *) &xlrec, SizeOfPhShrink);
		XLogRegisterBuffer(0, metabuf, REGBUF_STANDARD);
		recptr = XLogInsert(PHANTOM_RMGR_ID, XLOG_PH_SHRINK);
		PageSetLSN(mpage, recptr);
	}
	END_CRIT_SECTION();
	UnlockReleaseBuffer(metabuf);
}

/*
 * move_page copies physical page src into dst and switches the references
 * to it: the metapage's directory entry mapidx for a map page
 * (mapidx != InvalidBlockNumber), else the map entries of vblocks[0..n).
 */
static void
move_page(Relation rel, BlockNumber src, BlockNumber dst, uint32 mapidx,
		  const BlockNumber *vblocks, int n)
{
	Buffer		srcbuf;
	Buffer		dstbuf;
	Page		dstpage;
	bool		image_logged = false;
	int			i = 0;

	srcbuf = ReadBufferExtended(rel, MAIN_FORKNUM, src, RBM_NORMAL, NULL);
	LockBuffer(srcbuf, BUFFER_LOCK_SHARE);
	/* the hole may hold garbage of any kind: do not read it */
	dstbuf = ReadBufferExtended(rel, MAIN_FORKNUM, dst, RBM_ZERO_AND_LOCK, NULL);
	dstpage = BufferGetPage(dstbuf);

	if (mapidx != InvalidBlockNumber)
	{
		Buffer		metabuf = ph_meta_read(rel, BUFFER_LOCK_EXCLUSIVE);
		Page		mpage = BufferGetPage(metabuf);

		START_CRIT_SECTION();
		memcpy(dstpage, BufferGetPage(srcbuf), BLCKSZ);
		PhantomPageGetMeta(mpage)->mappages[mapidx] = dst;
		MarkBufferDirty(dstbuf);
		MarkBufferDirty(metabuf);
		if (RelationNeedsWAL(rel))
		{
			xl_ph_shrink xlrec;
			XLogRecPtr	recptr;

			memset(&xlrec, 0, sizeof(xlrec));
			xlrec.op = PH_SHRINK_MOVE;
			xlrec.flags = PH_SHRINK_HAS_IMAGE | PH_SHRINK_MAPPAGE;
			xlrec.src = src;
			xlrec.dst = dst;
			xlrec.mapidx = mapidx;
			XLogBeginInsert();
			XLogRegisterData((char *) &xlrec, SizeOfPhShrink);
			XLogRegisterBuffer(0, dstbuf, REGBUF_FORCE_IMAGE | REGBUF_STANDARD);
			XLogRegisterBuffer(1, metabuf, REGBUF_STANDARD);
			recptr = XLogInsert(PHANTOM_RMGR_ID, XLOG_PH_SHRINK);
			PageSetLSN(dstpage, recptr);
			PageSetLSN(mpage, recptr);
		}
		END_CRIT_SECTION();
		UnlockReleaseBuffer(metabuf);
		UnlockReleaseBuffer(dstbuf);
		UnlockReleaseBuffer(srcbuf);

		/* our own directory cache is stale now; others' go with the inval */
		RelationSetTargetBlock(rel, InvalidBlockNumber);
		CacheInvalidateSmgr(RelationGetSmgr(rel)->smgr_rnode);
		return;
	}

	while (i < n)
	{
		uint32		idx = PH_MAP_PAGE_INDEX(vblocks[i]);
		int			j;
		PhMapEntry	e;
		Buffer		mapbuf = ph_map_lock(rel, vblocks[i], BUFFER_LOCK_EXCLUSIVE, &e);
		Page		mappage = BufferGetPage(mapbuf);

		/* vblocks[i..j) share this map page (vblocks are sorted) */
		for (j = i; j < n && PH_MAP_PAGE_INDEX(vblocks[j]) == idx; j++)
			;

		START_CRIT_SECTION();
		if (!image_logged)
		{
			memcpy(dstpage, BufferGetPage(srcbuf), BLCKSZ);
			MarkBufferDirty(dstbuf);
		}
		for (int k = i; k < j; k++)
		{
			PhMapEntry	old = PhMapPageEntries(mappage)[PH_MAP_SLOT(vblocks[k])];

			Assert(PhMapBlock(old) == src);
			ph_map_page_set(mappage, vblocks[k], (old & PH_MAP_COLD) | dst);
		}
		MarkBufferDirty(mapbuf);
		if (RelationNeedsWAL(rel))
		{
			xl_ph_shrink xlrec;
			XLogRecPtr	recptr;

			memset(&xlrec, 0, sizeof(xlrec));
			xlrec.op = PH_SHRINK_MOVE;
			xlrec.flags = image_logged ? 0 : PH_SHRINK_HAS_IMAGE;
			xlrec.nentries = j - i;
			xlrec.src = src;
			xlrec.dst = dst;
			XLogBeginInsert();
			XLogRegisterData((char *) &xlrec, SizeOfPhShrink);
			XLogRegisterData((char *) &vblocks[i], (j - i) * sizeof(BlockNumber));
			if (!image_logged)
				XLogRegisterBuffer(0, dstbuf, REGBUF_FORCE_IMAGE | REGBUF_STANDARD);
			XLogRegisterBuffer(1, mapbuf, REGBUF_STANDARD);
			recptr = XLogInsert(PHANTOM_RMGR_ID, XLOG_PH_SHRINK);
			if (!image_logged)
				PageSetLSN(dstpage, recptr);
			PageSetLSN(mappage, recptr);
		}
		END_CRIT_SECTION();
		image_logged = true;
		UnlockReleaseBuffer(mapbuf);
		i = j;
	}
	UnlockReleaseBuffer(dstbuf);
	UnlockReleaseBuffer(srcbuf);
}

/*
 * truncate_main logs the truncation, flushes it, and cuts the main fork
 * (step 4).  As RelationTruncate, the checkpoint may not complete between
 * the record and the truncation (else a crash would leave the tail behind;
 * harmless garbage here, but cheap to avoid).
 */
static void
truncate_main(Relation rel, BlockNumber nblocks)
{
	ForkNumber	fork = MAIN_FORKNUM;

	Assert((MyProc->delayChkptFlags & DELAY_CHKPT_COMPLETE) == 0);
	MyProc->delayChkptFlags |= DELAY_CHKPT_COMPLETE;
	if (RelationNeedsWAL(rel))
	{
		xl_ph_shrink xlrec;
		XLogRecPtr	recptr;

		memset(&xlrec, 0, sizeof(xlrec));
		xlrec.op = PH_SHRINK_TRUNCATE;
		xlrec.nblocks = nblocks;
		xlrec.node = rel->rd_node;
		XLogBeginInsert();
		XLogRegisterData((char *) &xlrec, SizeOfPhShrink);
		recptr = XLogInsert(PHANTOM_RMGR_ID, XLOG_PH_SHRINK | XLR_SPECIAL_REL_UPDATE);
		XLogFlush(recptr);
	}
	smgrtruncate(RelationGetSmgr(rel), &fork, 1, &nblocks);
	MyProc->delayChkptFlags &= ~DELAY_CHKPT_COMPLETE;
}

/*
 * ph_shrink: see run.h.
 */
BlockNumber
ph_shrink(Relation rel, BlockNumber min_gain)
{
	MemoryContext cxt;
	MemoryContext oldcxt;
	BlockNumber nphys;
	BlockNumber nvblocks;
	BlockNumber newend;
	BlockNumber floor;
	BlockNumber nused = 0;
	BlockNumber vblock;
	BlockNumber blk;
	uint8	   *used;			/* bit per physical block */
	PhShrinkMap *maps;			/* map pages, sorted by block */
	PhShrinkRef *refs;
	int			nrefs = 0;
	BlockNumber holecur = 0;	/* holes below it are used up */
	BlockNumber hole;
	int			r;
	Buffer		metabuf;
	PhantomMetaPageData *meta;
	uint32		nmappages;

	Assert(CheckRelationLockedByMe(rel, AccessExclusiveLock, false));

	nphys = smgrnblocks(RelationGetSmgr(rel), MAIN_FORKNUM);
	metabuf = ph_meta_read(rel, BUFFER_LOCK_SHARE);
	if (!BufferIsValid(metabuf))
		return 0;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "phantom shrink",
								ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);
	used = MemoryContextAllocExtended(cxt, nphys / 8 + 1,
									  MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);

	/* 1. pages in use */
	meta = PhantomPageGetMeta(BufferGetPage(metabuf));
	nvblocks = meta->nvblocks;
	nmappages = Min(meta->nmappages, PH_META_MAX_MAPPAGES);
	maps = palloc((nmappages + 1) * sizeof(PhShrinkMap));
	USED_SET(used, PH_METAPAGE_BLKNO);
	for (uint32 i = 0; i < nmappages; i++)
	{
		BlockNumber mb = meta->mappages[i];

		if (mb >= nphys || mb == PH_METAPAGE_BLKNO || USED_GET(used, mb))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("metapage of phantom relation \"%s\" is corrupted",
							RelationGetRelationName(rel)),
					 errdetail("Map page %u at invalid physical block %u.", i, mb)));
		USED_SET(used, mb);
		maps[i].blk = mb;
		maps[i].idx = i;
	}
	UnlockReleaseBuffer(metabuf);
	qsort(maps, nmappages, sizeof(PhShrinkMap), map_cmp);

	for (vblock = 0; vblock < nvblocks; vblock++)
	{
		PhMapEntry	e = ph_map_get(rel, vblock);

		CHECK_FOR_INTERRUPTS();
		if (e == PH_MAP_NONE)
			continue;
		if (PhMapBlock(e) >= nphys || PhMapBlock(e) == PH_METAPAGE_BLKNO ||
			map_index(maps, nmappages, PhMapBlock(e)) >= 0)
			shrink_corrupt(rel, vblock, e, nphys);
		USED_SET(used, PhMapBlock(e));
	}
	for (blk = 0; blk < nphys; blk++)
		if (USED_GET(used, blk))
			nused++;

	/* the segment floor, see the file header */
	newend = nused;
	floor = nvblocks > 0 ?
		((nvblocks - 1) / RELSEG_SIZE) * (BlockNumber) RELSEG_SIZE : 0;
	if (newend < floor)
		newend = floor;
	if (newend >= nphys || nphys - newend < Max(min_gain, 1))
	{
		MemoryContextSwitchTo(oldcxt);
		MemoryContextDelete(cxt);
		return 0;
	}

	/* map entries pointing at or beyond the new end, by physical block */
	refs = MemoryContextAllocHuge(cxt, Max(nvblocks, 1) * sizeof(PhShrinkRef));
	for (vblock = 0; vblock < nvblocks; vblock++)
	{
		PhMapEntry	e = ph_map_get(rel, vblock);

		if (e != PH_MAP_NONE && PhMapBlock(e) >= newend)
		{
			refs[nrefs].blk = PhMapBlock(e);
			refs[nrefs].vblock = vblock;
			nrefs++;
		}
	}
	qsort(refs, nrefs, sizeof(PhShrinkRef), ref_cmp);

	/* 2. empty the free list: its pages are holes or get cut off */
	reset_free_list(rel);

	/* 3. move the pages in use beyond newend into the lowest holes */
	r = 0;
	for (blk = newend; blk < nphys; blk++)
	{
		BlockNumber *vbs;
		int			nvb = 0;
		int64		mapidx;

		if (!USED_GET(used, blk))
			continue;
		CHECK_FOR_INTERRUPTS();
		hole = next_hole(used, &holecur, newend);
		if (!BlockNumberIsValid(hole))
			elog(ERROR, "phantom shrink of \"%s\": no hole left for block %u",
				 RelationGetRelationName(rel), blk);
		mapidx = map_index(maps, nmappages, blk);
		if (mapidx >= 0)
		{
			move_page(rel, blk, hole, (uint32) mapidx, NULL, 0);
			continue;
		}
		while (r < nrefs && refs[r].blk < blk)
			r++;
		for (int j = r; j < nrefs && refs[j].blk == blk; j++)
			nvb++;
		vbs = palloc((nvb + 1) * sizeof(BlockNumber));
		nvb = 0;
		while (r < nrefs && refs[r].blk == blk)
			vbs[nvb++] = refs[r++].vblock;
		Assert(nvb > 0);
		move_page(rel, blk, hole, InvalidBlockNumber, vbs, nvb);
		pfree(vbs);
	}

	/* holes left below the floor go back on the free list */
	while (BlockNumberIsValid(hole = next_hole(used, &holecur, newend)))
	{
		Buffer		buf = ReadBufferExtended(rel, MAIN_FORKNUM, hole,
											 RBM_ZERO_AND_LOCK, NULL);

		CHECK_FOR_INTERRUPTS();
		ph_page_free(rel, buf);
		UnlockReleaseBuffer(buf);
	}

	/* 4. cut the tail */
	truncate_main(rel, newend);

	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(cxt);

	elog(DEBUG1, "phantom: truncated \"%s\" from %u to %u blocks",
		 RelationGetRelationName(rel), nphys, newend);
	return nphys - newend;
}

/*
 * ph_shrink_estimate returns, without taking any heavyweight lock, how many
 * pages the free list holds: a cheap lower bound of what ph_shrink could cut
 * (it also finds dead run pages and leaked pages).
 */
static BlockNumber
ph_shrink_estimate(Relation rel)
{
	Buffer		metabuf = ph_meta_read(rel, BUFFER_LOCK_SHARE);
	BlockNumber n;

	if (!BufferIsValid(metabuf))
		return 0;
	n = PhantomPageGetMeta(BufferGetPage(metabuf))->nfree;
	UnlockReleaseBuffer(metabuf);
	return n;
}

/*
 * ph_try_shrink: see run.h.
 */
BlockNumber
ph_try_shrink(Relation rel, BlockNumber min_gain, int wait_ms)
{
	BlockNumber gained;
	int			waited = 0;

	if (ph_shrink_estimate(rel) < Max(min_gain, 1))
		return 0;

	/*
	 * Our own backend may still use the relation (phantom.compact() called
	 * from a query scanning the table, or from a trigger during COPY):
	 * those scans hold pins and block numbers that a move or the
	 * truncation would pull away, and our own locks never conflict.  Like
	 * CheckTableNotInUse, refuse then (silently: the next compaction or
	 * VACUUM cuts the tail).
	 */
	if (rel->rd_refcnt > 1)
	{
		ereport(DEBUG1,
				(errmsg("phantom: \"%s\" is in use by this session, not truncated",
						RelationGetRelationName(rel))));
		return 0;
	}

	/* as lazy_truncate_heap: never wait in the lock queue */
	while (!ConditionalLockRelation(rel, AccessExclusiveLock))
	{
		if (waited >= wait_ms)
		{
			ereport(DEBUG1,
					(errmsg("phantom: \"%s\": stopping truncate due to conflicting lock request",
							RelationGetRelationName(rel))));
			return 0;
		}
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 50, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		waited += 50;
	}
	gained = ph_shrink(rel, min_gain);

	/*
	 * Like heap, release the lock at once: nothing we did needs it until
	 * commit (the smgr invalidation is already sent).
	 */
	UnlockRelation(rel, AccessExclusiveLock);
	return gained;
}

/*
 * ph_shrink_min_gain: see run.h (REL_TRUNCATE_MINIMUM and
 * REL_TRUNCATE_FRACTION of vacuumlazy.c).
 */
BlockNumber
ph_shrink_min_gain(Relation rel)
{
	BlockNumber nphys = smgrnblocks(RelationGetSmgr(rel), MAIN_FORKNUM);

	return Max(Min(1000, nphys / 16), 1);
}

/* Does a hot page hold any used line pointer? */
static bool
page_has_items(Page page)
{
	for (OffsetNumber off = FirstOffsetNumber;
		 off <= PageGetMaxOffsetNumber(page); off++)
	{
		if (ItemIdIsUsed(PageGetItemId(page, off)))
			return true;
	}
	return false;
}

/*
 * truncate_vm_fsm cuts the VM and FSM forks (indexed by vblock) after
 * nvblocks, as RelationTruncate does for heap but leaving the main fork
 * alone: core's XLOG_SMGR_TRUNCATE record without SMGR_TRUNCATE_HEAP, whose
 * redo does the same.  Always sends the smgr invalidation, which makes
 * every backend drop its cached insertion state (ph_cache).
 */
static void
truncate_vm_fsm(Relation rel, BlockNumber nvblocks)
{
	ForkNumber	forks[2];
	BlockNumber blocks[2];
	int			nforks = 0;
	bool		fsm = false;

	RelationPreTruncate(rel);
	if (smgrexists(RelationGetSmgr(rel), FSM_FORKNUM))
	{
		blocks[nforks] = FreeSpaceMapPrepareTruncateRel(rel, nvblocks);
		if (BlockNumberIsValid(blocks[nforks]))
		{
			forks[nforks++] = FSM_FORKNUM;
			fsm = true;
		}
	}
	if (smgrexists(RelationGetSmgr(rel), VISIBILITYMAP_FORKNUM))
	{
		blocks[nforks] = visibilitymap_prepare_truncate(rel, nvblocks);
		if (BlockNumberIsValid(blocks[nforks]))
			forks[nforks++] = VISIBILITYMAP_FORKNUM;
	}
	/* as RelationTruncate: no checkpoint between the record and the cut */
	Assert((MyProc->delayChkptFlags & DELAY_CHKPT_COMPLETE) == 0);
	MyProc->delayChkptFlags |= DELAY_CHKPT_COMPLETE;
	if (RelationNeedsWAL(rel))
	{
		xl_smgr_truncate xlrec;
		XLogRecPtr	lsn;

		xlrec.blkno = nvblocks;
		xlrec.rnode = rel->rd_node;
		xlrec.flags = SMGR_TRUNCATE_VM | SMGR_TRUNCATE_FSM;
		XLogBeginInsert();
		XLogRegisterData((char *) &xlrec, sizeof(xlrec));
		lsn = XLogInsert(RM_SMGR_ID, XLOG_SMGR_TRUNCATE | XLR_SPECIAL_REL_UPDATE);
		/* as RelationTruncate: the record must be durable before the cut */
		XLogFlush(lsn);
	}
	if (nforks > 0)
		smgrtruncate(RelationGetSmgr(rel), forks, nforks, blocks);
	else
		CacheInvalidateSmgr(RelationGetSmgr(rel)->smgr_rnode);
	MyProc->delayChkptFlags &= ~DELAY_CHKPT_COMPLETE;
	RelationSetTargetBlock(rel, InvalidBlockNumber);
	if (fsm)
		FreeSpaceMapVacuumRange(rel, nvblocks, InvalidBlockNumber);
}

/*
 * ph_truncate_vblocks: see run.h.
 */
BlockNumber
ph_truncate_vblocks(Relation rel, BlockNumber target)
{
	BlockNumber nv = ph_nvblocks(rel);
	BlockNumber v;

	for (v = nv; v > target; v--)
	{
		BlockNumber vblock = v - 1;
		PhMapEntry	e = ph_map_get(rel, vblock);
		PhMapEntry	e2;
		Buffer		hotbuf = InvalidBuffer;
		Buffer		mapbuf;
		Buffer		metabuf;
		PhantomMetaPageData *meta;
		BlockNumber oldhead;
		uint8		flags = 0;

		CHECK_FOR_INTERRUPTS();
		if (PhMapIsCold(e))
			break;
		if (e != PH_MAP_NONE)
		{
			hotbuf = ReadBufferExtended(rel, MAIN_FORKNUM, PhMapBlock(e),
										RBM_NORMAL, NULL);
			LockBufferForCleanup(hotbuf);
			if (PageIsNew(BufferGetPage(hotbuf)) ||
				PageGetSpecialSize(BufferGetPage(hotbuf)) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("unexpected page in phantom relation \"%s\"",
								RelationGetRelationName(rel)),
						 errdetail("Block %u should be the hot page of vblock %u.",
								   PhMapBlock(e), vblock)));
			if (page_has_items(BufferGetPage(hotbuf)))
			{
				UnlockReleaseBuffer(hotbuf);
				break;
			}
			flags |= PH_VTRUNC_FREED;
		}
		mapbuf = ph_map_lock(rel, vblock, BUFFER_LOCK_EXCLUSIVE, &e2);
		if (!BufferIsValid(mapbuf) || e2 != e)
			elog(ERROR, "phantom: map entry of vblock %u of \"%s\" changed under AccessExclusiveLock",
				 vblock, RelationGetRelationName(rel));
		metabuf = ReadBufferExtended(rel, MAIN_FORKNUM, PH_METAPAGE_BLKNO,
									 RBM_NORMAL, NULL);
		LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
		ph_meta_check(rel, metabuf);
		meta = PhantomPageGetMeta(BufferGetPage(metabuf));
		if (meta->nvblocks != v)
			elog(ERROR, "phantom: \"%s\" has %u vblocks, expected %u",
				 RelationGetRelationName(rel), meta->nvblocks, v);
		oldhead = meta->free_head;

		START_CRIT_SECTION();
		ph_map_page_set(BufferGetPage(mapbuf), vblock, PH_MAP_NONE);
		if (flags & PH_VTRUNC_FREED)
		{
			ph_free_page_init(BufferGetPage(hotbuf), oldhead);
			meta->free_head = BufferGetBlockNumber(hotbuf);
			meta->nfree++;
			MarkBufferDirty(hotbuf);
		}
		meta->nvblocks = vblock;
		for (int i = 0; i < PH_MAX_LANES; i++)
		{
			if (BlockNumberIsValid(meta->lanes[i]) && meta->lanes[i] >= vblock)
				meta->lanes[i] = InvalidBlockNumber;
		}
		MarkBufferDirty(mapbuf);
		MarkBufferDirty(metabuf);
		if (RelationNeedsWAL(rel))
		{
			xl_ph_vtruncate xlrec;
			XLogRecPtr	recptr;

			xlrec.vblock = vblock;
			xlrec.next_free = oldhead;
			xlrec.flags = flags;
			XLogBeginInsert();
			XLogRegisterData((char *) &xlrec, SizeOfPhVtruncate);
			XLogRegisterBuffer(0, mapbuf, REGBUF_STANDARD);
			if (flags & PH_VTRUNC_FREED)
				XLogRegisterBuffer(1, hotbuf, REGBUF_WILL_INIT | REGBUF_STANDARD);
			XLogRegisterBuffer(2, metabuf, REGBUF_STANDARD);
			recptr = XLogInsert(PHANTOM_RMGR_ID, XLOG_PH_VTRUNCATE);
			PageSetLSN(BufferGetPage(mapbuf), recptr);
			if (flags & PH_VTRUNC_FREED)
				PageSetLSN(BufferGetPage(hotbuf), recptr);
			PageSetLSN(BufferGetPage(metabuf), recptr);
		}
		END_CRIT_SECTION();

		UnlockReleaseBuffer(metabuf);
		UnlockReleaseBuffer(mapbuf);
		if (BufferIsValid(hotbuf))
			UnlockReleaseBuffer(hotbuf);
	}

	if (v < nv)
		truncate_vm_fsm(rel, v);
	return v;
}
