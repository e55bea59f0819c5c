/*-------------------------------------------------------------------------
 *
 * blockmap.c
 *	  The block map: vblock -> home (hot page or cold run page).  Lookups,
 *	  opening a vblock for reading or writing, thawing a cold vblock back
 *	  into a hot page, and switching a hot vblock to cold (compaction).
 *
 *	  Invariants:
 *	  - Map pages never move and are never freed; map page i covers vblocks
 *	    [i * PH_MAP_ENTRIES_PER_PAGE, (i + 1) * PH_MAP_ENTRIES_PER_PAGE).
 *	  - An entry changes only under the map page's exclusive lock.  A
 *	    lookup pins the target page while holding the map page's share
 *	    lock, so a pinned hot page keeps its vblock: relocating a hot page
 *	    needs a cleanup lock on it (no other pin).
 *	  - A thaw runs under the extension lock, so two backends never thaw
 *	    the same vblock; the entry is re-checked under the map page's
 *	    exclusive lock before it is switched.
 *
 *	  Locking: see include/phantom/lsm/storage.h.  No function here waits
 *	  for a lock on a hot page while holding a map page lock.
 *
 * src/lsm/blockmap.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xloginsert.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

#include "phantom/lsm/run.h"
#include "phantom/lsm/storage_int.h"
#include "phantom/wal/records.h"

/*
 * ph_map_lock returns the map page covering vblock, pinned and locked in
 * mode, and its entry for vblock in *entry; InvalidBuffer (and
 * PH_MAP_NONE) if no map page covers vblock yet.
 */
Buffer
ph_map_lock(Relation rel, BlockNumber vblock, int mode, PhMapEntry *entry)
{
	uint32		mapidx = PH_MAP_PAGE_INDEX(vblock);
	BlockNumber mapblk;
	Buffer		buf;
	Page		page;

	*entry = PH_MAP_NONE;
	if (!BlockNumberIsValid(vblock))
		return InvalidBuffer;
	mapblk = ph_mappage_blkno(rel, mapidx);
	if (!BlockNumberIsValid(mapblk))
		return InvalidBuffer;

	buf = ReadBufferExtended(rel, MAIN_FORKNUM, mapblk, RBM_NORMAL, NULL);
	LockBuffer(buf, mode);
	page = BufferGetPage(buf);
	ph_page_check_kind(rel, buf, PH_KIND_MAP);
	if (PhantomPageGetSpecial(page)->next != mapidx)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("block map of phantom relation \"%s\" is corrupted",
						RelationGetRelationName(rel)),
				 errdetail("Map page at block %u has index %u, expected %u.",
						   mapblk, PhantomPageGetSpecial(page)->next, mapidx)));
	*entry = PhMapPageEntries(page)[PH_MAP_SLOT(vblock)];
	return buf;
}

/*
 * ph_map_get returns the map entry of vblock (PH_MAP_NONE if the vblock
 * does not exist).  The answer may be stale as soon as it is returned;
 * use ph_page_open to get a stable view.
 */
PhMapEntry
ph_map_get(Relation rel, BlockNumber vblock)
{
	PhMapEntry	e;
	Buffer		mapbuf = ph_map_lock(rel, vblock, BUFFER_LOCK_SHARE, &e);

	if (BufferIsValid(mapbuf))
		UnlockReleaseBuffer(mapbuf);
	return e;
}

/*
 * ph_pin_hot pins the hot page of vblock (under the map page's share lock,
 * see the file header) and returns it unlocked; InvalidBuffer if the
 * vblock is not hot (*entry tells whether it is cold or absent).
 */
Buffer
ph_pin_hot(Relation rel, BlockNumber vblock, BufferAccessStrategy strategy,
		   PhMapEntry *entry)
{
	Buffer		mapbuf = ph_map_lock(rel, vblock, BUFFER_LOCK_SHARE, entry);
	Buffer		buf = InvalidBuffer;

	if (!BufferIsValid(mapbuf))
		return InvalidBuffer;
	if (PhMapIsHot(*entry))
		buf = ReadBufferExtended(rel, MAIN_FORKNUM, PhMapBlock(*entry),
								 RBM_NORMAL, strategy);
	UnlockReleaseBuffer(mapbuf);
	return buf;
}

/*
 * ph_page_open: see storage.h.  Returns false if vblock does not exist.
 * A cold image is read while the map page is share-locked, so the run
 * page cannot be retired under us.
 */
static bool ph_page_open_ext(Relation rel, BlockNumber vblock, PhPage *pg,
							 BufferAccessStrategy strategy, bool cache_store);

bool
ph_page_open(Relation rel, BlockNumber vblock, PhPage *pg)
{
	return ph_page_open_ext(rel, vblock, pg, NULL, true);
}

/*
 * ph_page_open_strategy: ph_page_open reading a hot page through a buffer
 * access strategy (bulk reads, VACUUM), see storage.h.
 */
bool
ph_page_open_strategy(Relation rel, BlockNumber vblock, PhPage *pg,
					  BufferAccessStrategy strategy)
{
	return ph_page_open_ext(rel, vblock, pg, strategy, false);
}

/*
 * ph_page_open_ext: cache_store says whether a decompressed cold image goes
 * into the cold-image cache: yes for point reads (index fetches revisit
 * vblocks), no for sequential scans and VACUUM, which visit each vblock
 * once and would only evict what lookups reuse (as heap's bulk-read ring
 * keeps scans from flushing shared buffers).
 */
static bool
ph_page_open_ext(Relation rel, BlockNumber vblock, PhPage *pg,
				 BufferAccessStrategy strategy, bool cache_store)
{
	PhMapEntry	e;
	Buffer		mapbuf = ph_map_lock(rel, vblock, BUFFER_LOCK_SHARE, &e);

	pg->vblock = vblock;
	pg->buf = InvalidBuffer;
	pg->page = NULL;
	pg->cold = false;
	pg->cache_slot = -1;
	if (!BufferIsValid(mapbuf))
		return false;
	if (e == PH_MAP_NONE)
	{
		UnlockReleaseBuffer(mapbuf);
		return false;
	}
	if (PhMapIsCold(e))
	{
		pg->cold = true;
		pg->page = ph_run_open_vblock(rel, PhMapBlock(e), vblock,
									  cache_store, &pg->cache_slot);
	}
	else
	{
		pg->buf = ReadBufferExtended(rel, MAIN_FORKNUM, PhMapBlock(e),
									 RBM_NORMAL, strategy);
		pg->page = BufferGetPage(pg->buf);
	}
	UnlockReleaseBuffer(mapbuf);
	return true;
}

/* ph_page_close releases what ph_page_open acquired (not a lock) */
void
ph_page_close(PhPage *pg)
{
	if (BufferIsValid(pg->buf))
		ReleaseBuffer(pg->buf);
	else if (pg->page != NULL && pg->cold && pg->cache_slot >= 0)
		ph_run_release_slot(pg->cache_slot);
	else if (pg->page != NULL)
		pfree(pg->page);
	pg->buf = InvalidBuffer;
	pg->page = NULL;
	pg->cache_slot = -1;
}

/*
 * ph_thaw moves the cold vblock whose entry was seen as e back into a
 * freshly allocated hot page and returns that page pinned, not locked.
 *
 * Under the extension lock (no concurrent thaw or allocation): read the
 * frame, allocate a page, then lock map page (exclusive), the new page and
 * (if a free-list page is used) the metapage; re-check the entry; write the
 * decompressed image and log an XLOG_PH_THAW record carrying the
 * compressed frame (redo decompresses it into the page, REGBUF_WILL_INIT:
 * ~4x less WAL than a full-page image) that also switches the map entry
 * and the free list.  If the entry changed meanwhile
 * (another relocation), start over from the new entry.
 */
static Buffer
ph_thaw(Relation rel, BlockNumber vblock)
{
	PhAlloc		a;
	Page		image = (Page) palloc(BLCKSZ);
	char	   *frame = palloc(BLCKSZ);
	Size		framelen;
	Buffer		result = InvalidBuffer;

	memset(&a, 0, sizeof(a));
	ph_lock_extend(rel);
	for (;;)
	{
		PhMapEntry	e;
		PhMapEntry	e2;
		Buffer		mapbuf;
		Buffer		metabuf = InvalidBuffer;
		Buffer		newbuf;
		Page		newpage;

		e = ph_map_get(rel, vblock);
		if (!PhMapIsCold(e))
		{
			/* someone else thawed it meanwhile */
			if (e == PH_MAP_NONE)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("virtual block %u of phantom relation \"%s\" does not exist",
								vblock, RelationGetRelationName(rel))));
			result = ph_pin_hot(rel, vblock, NULL, &e);
			if (BufferIsValid(result))
				break;
			continue;
		}

		/*
		 * Run pages are immutable: read the frame before any lock.  The
		 * compressed frame, not the page, goes into the WAL record.
		 */
		ph_run_copy_frame(rel, PhMapBlock(e), vblock, frame, &framelen, NULL);
		ph_run_decode_frame(rel, PhMapBlock(e), vblock, frame, framelen, image);
		if (PageGetSpecialSize(image) != 0 ||
			((PageHeader) image)->pd_lower < SizeOfPageHeaderData)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("cold image of virtual block %u of phantom relation \"%s\" is not a heap page",
							vblock, RelationGetRelationName(rel)),
					 errdetail("Run page at block %u.", PhMapBlock(e))));

		ph_alloc_prepare(rel, &a, 1, NULL);
		newbuf = a.bufs[0];

		mapbuf = ph_map_lock(rel, vblock, BUFFER_LOCK_EXCLUSIVE, &e2);
		LockBuffer(newbuf, BUFFER_LOCK_EXCLUSIVE);
		if (a.npopped > 0)
		{
			metabuf = ReadBufferExtended(rel, MAIN_FORKNUM, PH_METAPAGE_BLKNO,
										 RBM_NORMAL, NULL);
			LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
		}
		if (e2 != e ||
			(a.npopped > 0 && !ph_alloc_verify(&a, BufferGetPage(metabuf))))
		{
			if (BufferIsValid(metabuf))
				UnlockReleaseBuffer(metabuf);
			LockBuffer(newbuf, BUFFER_LOCK_UNLOCK);
			UnlockReleaseBuffer(mapbuf);
			ph_alloc_retry(&a);
			continue;
		}

		newpage = BufferGetPage(newbuf);
		START_CRIT_SECTION();
		memcpy(newpage, image, BLCKSZ);
		ph_map_page_set(BufferGetPage(mapbuf), vblock,
						(PhMapEntry) BufferGetBlockNumber(newbuf));
		if (BufferIsValid(metabuf))
		{
			ph_alloc_apply(&a, BufferGetPage(metabuf));
			MarkBufferDirty(metabuf);
		}
		MarkBufferDirty(newbuf);
		MarkBufferDirty(mapbuf);
		if (RelationNeedsWAL(rel))
		{
			xl_ph_thaw	xlrec;
			XLogRecPtr	recptr;

			xlrec.vblock = vblock;
			xlrec.runblk = PhMapBlock(e);
			xlrec.free_head = a.new_head;
			xlrec.npopped = a.npopped;
			XLogBeginInsert();
			XLogRegisterData((char *) &xlrec, SizeOfPhThaw);
			XLogRegisterBuffer(0, newbuf, REGBUF_WILL_INIT | REGBUF_STANDARD);
			XLogRegisterBufData(0, frame, framelen);
			XLogRegisterBuffer(1, mapbuf, REGBUF_STANDARD);
			if (BufferIsValid(metabuf))
				XLogRegisterBuffer(2, metabuf, REGBUF_STANDARD);
			recptr = XLogInsert(PHANTOM_RMGR_ID, XLOG_PH_THAW);
			PageSetLSN(newpage, recptr);
			PageSetLSN(BufferGetPage(mapbuf), recptr);
			if (BufferIsValid(metabuf))
				PageSetLSN(BufferGetPage(metabuf), recptr);
		}
		END_CRIT_SECTION();

		if (BufferIsValid(metabuf))
			UnlockReleaseBuffer(metabuf);
		UnlockReleaseBuffer(mapbuf);
		LockBuffer(newbuf, BUFFER_LOCK_UNLOCK);
		result = newbuf;
		a.bufs[0] = InvalidBuffer;	/* consumed */
		break;
	}

	/*
	 * A retry that found the vblock already thawed may leave a page we
	 * prepared unused: a popped one is still on the free list, an extended
	 * one goes there so it is not leaked.
	 */
	if (a.n > 0 && BufferIsValid(a.bufs[0]))
	{
		if (!a.popped[0])
		{
			LockBuffer(a.bufs[0], BUFFER_LOCK_EXCLUSIVE);
			ph_page_free(rel, a.bufs[0]);
			LockBuffer(a.bufs[0], BUFFER_LOCK_UNLOCK);
		}
		ReleaseBuffer(a.bufs[0]);
	}
	ph_unlock_extend(rel);
	pfree(image);
	pfree(frame);

	/*
	 * The run page still holds the (now dead) frame; the map no longer
	 * points at it, so compaction counts it as garbage when it next rewrites
	 * or retires that run page.
	 */
	return result;
}

/*
 * ph_page_open_for_write: see storage.h.
 */
Buffer
ph_page_open_for_write(Relation rel, BlockNumber vblock)
{
	PhMapEntry	e;
	Buffer		buf = ph_pin_hot(rel, vblock, NULL, &e);

	if (BufferIsValid(buf))
		return buf;
	if (PhMapIsCold(e))
		return ph_thaw(rel, vblock);
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("virtual block %u of phantom relation \"%s\" does not exist",
					vblock, RelationGetRelationName(rel))));
	return InvalidBuffer;		/* keep compiler quiet */
}

/*
 * ph_map_set_cold: see storage.h.  The caller holds hotbuf with a cleanup
 * lock; we then take the map page and the metapage exclusively (hot page ->
 * map -> meta is the documented order).  The old hot page becomes the new
 * head of the free list.
 */
bool
ph_map_set_cold(Relation rel, BlockNumber vblock, Buffer hotbuf,
				BlockNumber runblk)
{
	PhMapEntry	e;
	Buffer		mapbuf;
	Buffer		metabuf;
	Page		metapage;
	PhantomMetaPageData *meta;
	BlockNumber hotblk = BufferGetBlockNumber(hotbuf);
	BlockNumber oldhead;

	mapbuf = ph_map_lock(rel, vblock, BUFFER_LOCK_EXCLUSIVE, &e);
	if (!BufferIsValid(mapbuf) || !PhMapIsHot(e) || PhMapBlock(e) != hotblk)
		elog(ERROR, "phantom: vblock %u of \"%s\" is not at hot block %u",
			 vblock, RelationGetRelationName(rel), hotblk);
	if (runblk >= PH_MAP_COLD || runblk == PH_METAPAGE_BLKNO)
		elog(ERROR, "phantom: invalid run page %u", runblk);

	/*
	 * A lookup may have pinned hotbuf between the caller's cleanup lock and
	 * our map lock (it pins under the map share lock, then waits for the
	 * content lock the caller holds): relocating now would hand it a free
	 * page.  Only lookups that come later are sure to see the new entry.
	 */
	if (!IsBufferCleanupOK(hotbuf))
	{
		UnlockReleaseBuffer(mapbuf);
		return false;
	}

	metabuf = ReadBufferExtended(rel, MAIN_FORKNUM, PH_METAPAGE_BLKNO,
								 RBM_NORMAL, NULL);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	ph_meta_check(rel, metabuf);
	metapage = BufferGetPage(metabuf);
	meta = PhantomPageGetMeta(metapage);
	oldhead = meta->free_head;

	START_CRIT_SECTION();
	ph_map_page_set(BufferGetPage(mapbuf), vblock, PH_MAP_COLD | runblk);
	ph_free_page_init(BufferGetPage(hotbuf), oldhead);
	meta->free_head = hotblk;
	meta->nfree++;
	MarkBufferDirty(mapbuf);
	MarkBufferDirty(hotbuf);
	MarkBufferDirty(metabuf);
	if (RelationNeedsWAL(rel))
	{
		xl_ph_map_cold xlrec;
		XLogRecPtr	recptr;

		xlrec.vblock = vblock;
		xlrec.runblk = runblk;
		xlrec.next_free = oldhead;
		XLogBeginInsert();
		XLogRegisterData((char *) &xlrec, SizeOfPhMapCold);
		XLogRegisterBuffer(0, mapbuf, REGBUF_STANDARD);
		XLogRegisterBuffer(1, hotbuf, REGBUF_WILL_INIT | REGBUF_STANDARD);
		XLogRegisterBuffer(2, metabuf, REGBUF_STANDARD);
		recptr = XLogInsert(PHANTOM_RMGR_ID, XLOG_PH_MAP_COLD);
		PageSetLSN(BufferGetPage(mapbuf), recptr);
		PageSetLSN(BufferGetPage(hotbuf), recptr);
		PageSetLSN(metapage, recptr);
	}
	END_CRIT_SECTION();

	UnlockReleaseBuffer(metabuf);
	UnlockReleaseBuffer(mapbuf);
	return true;
}
