/*-------------------------------------------------------------------------
 *
 * lanes.c
 *	  Insertion lanes, free-space reuse and vblock allocation: where a new
 *	  tuple goes.
 *
 *	  A backend inserts into its target vblock, cached in rd_amcache: a
 *	  vblock the free-space map (indexed by vblock, filled by VACUUM)
 *	  proposed, or the vblock of its lane, metapage.lanes[MyBackendId %
 *	  phantom.insert_lanes].  When the target is full (respecting
 *	  fillfactor), the FSM is asked for another vblock with room, as heap's
 *	  RelationGetBufferForTuple does; a vblock it proposes is used only if
 *	  it is hot (never thawed for an insert) and really has room.  When the
 *	  FSM has none and the lane page is full, a new vblock is allocated under
 *	  the relation extension lock: a physical page (free list or extension)
 *	  is formatted as an empty hot page, the map entry is set (with a new
 *	  map page when the vblock starts one) and nvblocks and the lane are
 *	  advanced, all in one XLOG_PH_NEW_VBLOCK record.  Backends of different
 *	  lanes never wait for one another's page lock; there is no table-wide
 *	  writer lock.
 *
 *	  Locking: extension lock (no buffer lock held) -> map page -> fresh
 *	  pages -> metapage.  FSM calls are made with no buffer content lock
 *	  held (they lock FSM pages and may take the extension lock).  The
 *	  returned page is exclusively locked, together with the caller's
 *	  otherBuffer, in physical block order.
 *
 * src/lsm/lanes.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/xloginsert.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/freespace.h"
#include "storage/proc.h"
#include "utils/rel.h"

#include "phantom/lsm/storage_int.h"
#include "phantom/phantom.h"
#include "phantom/wal/records.h"

/* ph_my_lane: the insertion lane of this backend */
static int
ph_my_lane(Relation rel)
{
	int			nlanes = Max(1, Min(phantom_insert_lanes, PH_MAX_LANES));

	if (RELATION_IS_LOCAL(rel) || MyBackendId == InvalidBackendId)
		return 0;
	return MyBackendId % nlanes;
}

/*
 * ph_new_vblock allocates vblock nvblocks for lane and returns it with its
 * freshly formatted page exclusively locked in *bufp.  But if the lane
 * already moved past full_vblock (another backend of the same lane
 * allocated meanwhile), it allocates nothing, sets *bufp = InvalidBuffer
 * and returns the lane's current vblock for the caller to try.
 */
static BlockNumber
ph_new_vblock(Relation rel, int lane, BlockNumber full_vblock,
			  BufferAccessStrategy strategy, Buffer *bufp)
{
	Buffer		metabuf;
	PhantomMetaPageData *meta;
	BlockNumber vblock;
	uint32		mapidx;
	BlockNumber mapblk;
	bool		newmap;
	PhAlloc		a;

	*bufp = InvalidBuffer;
	ph_lock_extend(rel);
	metabuf = ph_meta_ensure(rel);

	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	meta = PhantomPageGetMeta(BufferGetPage(metabuf));
	if (BlockNumberIsValid(meta->lanes[lane]) &&
		meta->lanes[lane] != full_vblock)
	{
		vblock = meta->lanes[lane];
		UnlockReleaseBuffer(metabuf);
		ph_unlock_extend(rel);
		return vblock;
	}
	vblock = meta->nvblocks;
	mapidx = PH_MAP_PAGE_INDEX(vblock);
	newmap = (mapidx >= meta->nmappages);
	mapblk = newmap ? InvalidBlockNumber : meta->mappages[mapidx];
	LockBuffer(metabuf, BUFFER_LOCK_UNLOCK);

	if (vblock >= PH_MAX_VBLOCKS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("phantom relation \"%s\" has reached its maximum of %u virtual blocks",
						RelationGetRelationName(rel), PH_MAX_VBLOCKS),
				 errhint("Split the table into partitions, or rewrite it with VACUUM FULL to reuse the virtual blocks of deleted rows.")));

	memset(&a, 0, sizeof(a));
	for (;;)
	{
		Buffer		mapbuf;
		Buffer		databuf;
		Page		metapage;

		ph_alloc_prepare(rel, &a, newmap ? 2 : 1, strategy);
		databuf = a.bufs[0];
		if (newmap)
		{
			mapbuf = a.bufs[1];
			LockBuffer(mapbuf, BUFFER_LOCK_EXCLUSIVE);
		}
		else
		{
			mapbuf = ReadBufferExtended(rel, MAIN_FORKNUM, mapblk,
										RBM_NORMAL, NULL);
			LockBuffer(mapbuf, BUFFER_LOCK_EXCLUSIVE);
			ph_page_check_kind(rel, mapbuf, PH_KIND_MAP);
		}
		LockBuffer(databuf, BUFFER_LOCK_EXCLUSIVE);
		LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
		metapage = BufferGetPage(metabuf);
		meta = PhantomPageGetMeta(metapage);

		if (!ph_alloc_verify(&a, metapage))
		{
			LockBuffer(metabuf, BUFFER_LOCK_UNLOCK);
			LockBuffer(databuf, BUFFER_LOCK_UNLOCK);
			if (newmap)
				LockBuffer(mapbuf, BUFFER_LOCK_UNLOCK);
			else
				UnlockReleaseBuffer(mapbuf);
			ph_alloc_retry(&a);
			continue;
		}
		if (meta->nvblocks != vblock)
			elog(ERROR, "phantom: nvblocks of \"%s\" moved during allocation",
				 RelationGetRelationName(rel));

		START_CRIT_SECTION();
		ph_hot_page_init(BufferGetPage(databuf));
		if (newmap)
		{
			ph_map_page_init(BufferGetPage(mapbuf), mapidx);
			meta->mappages[meta->nmappages++] = BufferGetBlockNumber(mapbuf);
			ph_meta_set_lower(metapage);
		}
		ph_map_page_set(BufferGetPage(mapbuf), vblock,
						(PhMapEntry) BufferGetBlockNumber(databuf));
		meta->nvblocks = vblock + 1;
		meta->lanes[lane] = vblock;
		ph_alloc_apply(&a, metapage);
		MarkBufferDirty(databuf);
		MarkBufferDirty(mapbuf);
		MarkBufferDirty(metabuf);
		if (RelationNeedsWAL(rel))
		{
			xl_ph_new_vblock xlrec;
			XLogRecPtr	recptr;

			xlrec.vblock = vblock;
			xlrec.free_head = a.new_head;
			xlrec.npopped = a.npopped;
			xlrec.lane = lane;
			xlrec.flags = newmap ? XLPH_NEW_MAPPAGE : 0;
			XLogBeginInsert();
			XLogRegisterData((char *) &xlrec, SizeOfPhNewVblock);
			XLogRegisterBuffer(0, databuf, REGBUF_WILL_INIT | REGBUF_STANDARD);
			XLogRegisterBuffer(1, mapbuf, newmap ?
							   (REGBUF_WILL_INIT | REGBUF_STANDARD) :
							   REGBUF_STANDARD);
			XLogRegisterBuffer(2, metabuf, REGBUF_STANDARD);
			recptr = XLogInsert(PHANTOM_RMGR_ID, XLOG_PH_NEW_VBLOCK);
			PageSetLSN(BufferGetPage(databuf), recptr);
			PageSetLSN(BufferGetPage(mapbuf), recptr);
			PageSetLSN(metapage, recptr);
		}
		END_CRIT_SECTION();

		UnlockReleaseBuffer(mapbuf);
		UnlockReleaseBuffer(metabuf);
		*bufp = databuf;
		break;
	}
	ph_unlock_extend(rel);
	return vblock;
}

/*
 * ph_lock_pair locks buf (and otherBuffer, if valid) exclusively in
 * physical block order.
 */
static void
ph_lock_pair(Buffer buf, Buffer otherBuffer)
{
	if (!BufferIsValid(otherBuffer))
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	else if (BufferGetBlockNumber(otherBuffer) < BufferGetBlockNumber(buf))
	{
		LockBuffer(otherBuffer, BUFFER_LOCK_EXCLUSIVE);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	}
	else
	{
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		LockBuffer(otherBuffer, BUFFER_LOCK_EXCLUSIVE);
	}
}

/*
 * ph_fsm_next returns the next candidate vblock from the free-space map
 * (indexed by vblock, filled by VACUUM), or InvalidBlockNumber: the first
 * lookup (tried == Invalid) asks GetPageWithFreeSpace; after a candidate
 * turned out too full, RecordAndGetPageWithFreeSpace corrects its entry
 * with the free space seen (tried_free) and asks again, as heap does.
 * Callers hold no buffer content lock: the FSM code takes FSM page locks
 * and may take the relation extension lock.
 */
static BlockNumber
ph_fsm_next(Relation rel, BlockNumber tried, Size tried_free, Size needed)
{
	if (!BlockNumberIsValid(tried))
		return GetPageWithFreeSpace(rel, needed);
	return RecordAndGetPageWithFreeSpace(rel, tried, tried_free, needed);
}

/*
 * ph_get_insert_buffer: see storage.h.  Mirrors heap's
 * RelationGetBufferForTuple: this backend's target vblock (cached in
 * rd_amcache, like heap's smgr target block) is used while it has room for
 * len plus the fillfactor reserve; otherwise the free-space map proposes a
 * vblock with room (space freed by VACUUM); when it has none, the lane page
 * of metapage.lanes[], and when that is full too, a new vblock.  A fresh
 * page takes any tuple that fits at all.
 *
 * A vblock taken from the FSM becomes the backend's target only (not the
 * lane in the metapage): nothing is WAL-logged for it, so nothing needs
 * recovery.  The FSM is a hint: a proposed vblock is used only if the map
 * says it is hot (a cold vblock is never thawed to insert into it: its FSM
 * entry is set to 0 and the next candidate is asked for) and if its page
 * really has room under the exclusive lock.
 */
Buffer
ph_get_insert_buffer(Relation rel, Size len, Buffer otherBuffer,
					 BulkInsertState bistate, BlockNumber *vblock_out)
{
	BufferAccessStrategy strategy = bistate ? bistate->strategy : NULL;
	Size		saveFreeSpace;
	Size		nearlyEmptyFreeSpace;
	Size		needed;
	int			lane = ph_my_lane(rel);
	PhRelCache *cache;
	BlockNumber vblock;
	bool		use_fsm;
	int			tries;

	len = MAXALIGN(len);
	if (len > MaxHeapTupleSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("row is too big: size %zu, maximum size %zu",
						len, MaxHeapTupleSize)));
	saveFreeSpace = RelationGetTargetPageFreeSpace(rel,
												   HEAP_DEFAULT_FILLFACTOR);

	/*
	 * As heap: a page whose unavailable space is slight counts as empty, so
	 * a large tuple plus a low fillfactor's reserve never asks for more than
	 * a nearly empty page has (nor for more than the FSM can record).
	 */
	nearlyEmptyFreeSpace = MaxHeapTupleSize -
		(MaxHeapTuplesPerPage / 8 * sizeof(ItemIdData));
	if (len + saveFreeSpace > nearlyEmptyFreeSpace)
		needed = Max(len, nearlyEmptyFreeSpace);
	else
		needed = len + saveFreeSpace;

	/*
	 * Consult the FSM, as heap does, except for a relfilenode created in
	 * this transaction: VACUUM cannot have run on it, so its FSM holds only
	 * what this path recorded about pages it filled, and heap's writers of
	 * such relations (CTAS, table rewrites, CLUSTER's rewriteheap, COPY into
	 * a new table) skip the FSM (HEAP_INSERT_SKIP_FSM), which keeps their
	 * rows in TID order.
	 */
	use_fsm = (rel->rd_createSubid == InvalidSubTransactionId &&
			   rel->rd_firstRelfilenodeSubid == InvalidSubTransactionId);

	cache = ph_cache(rel);
	vblock = cache->lane_vblock;
	if (!BlockNumberIsValid(vblock) && use_fsm)
		vblock = ph_fsm_next(rel, InvalidBlockNumber, 0, needed);
	if (!BlockNumberIsValid(vblock))
	{
		Buffer		metabuf = ph_meta_read(rel, BUFFER_LOCK_SHARE);

		if (BufferIsValid(metabuf))
		{
			vblock = PhantomPageGetMeta(BufferGetPage(metabuf))->lanes[lane];
			UnlockReleaseBuffer(metabuf);
		}
	}

	for (tries = 0;; tries++)
	{
		Buffer		buf;
		BlockNumber newvb;
		Size		freespace = 0;

		if (tries > 1000)
			elog(ERROR, "phantom: could not find an insertion page in \"%s\"",
				 RelationGetRelationName(rel));

		if (BlockNumberIsValid(vblock))
		{
			PhMapEntry	e;

			buf = ph_pin_hot(rel, vblock, strategy, &e);
			if (BufferIsValid(buf) && buf != otherBuffer)
			{
				ph_lock_pair(buf, otherBuffer);
				freespace = PageGetHeapFreeSpace(BufferGetPage(buf));
				if (freespace >= needed)
				{
					ph_cache(rel)->lane_vblock = vblock;
					*vblock_out = vblock;
					return buf;
				}
				if (BufferIsValid(otherBuffer))
					LockBuffer(otherBuffer, BUFFER_LOCK_UNLOCK);
				UnlockReleaseBuffer(buf);
			}
			else if (BufferIsValid(buf))
			{
				/*
				 * The caller's own page: the new version did not fit on it,
				 * so its free space is below what we need.
				 */
				ReleaseBuffer(buf);
			}
			/* else not hot (cold, or gone): record 0, never thaw it */

			if (use_fsm)
			{
				BlockNumber next = ph_fsm_next(rel, vblock, freespace, needed);

				if (BlockNumberIsValid(next) && next != vblock)
				{
					vblock = next;
					continue;
				}
			}
		}

		/*
		 * No page with room in the FSM: the lane page if it is not the one
		 * we just tried, else a new vblock.
		 */
		newvb = ph_new_vblock(rel, lane, vblock, strategy, &buf);
		if (!BufferIsValid(buf))
		{
			/* the lane moved on, or we tried another page: try the lane */
			vblock = newvb;
			continue;
		}
		if (BufferIsValid(otherBuffer))
		{
			if (BufferGetBlockNumber(otherBuffer) < BufferGetBlockNumber(buf))
			{
				LockBuffer(buf, BUFFER_LOCK_UNLOCK);
				ph_lock_pair(buf, otherBuffer);
			}
			else
				LockBuffer(otherBuffer, BUFFER_LOCK_EXCLUSIVE);
		}
		/* a fresh page takes any tuple up to MaxHeapTupleSize */
		if (PageGetHeapFreeSpace(BufferGetPage(buf)) >= len)
		{
			ph_cache(rel)->lane_vblock = newvb;
			*vblock_out = newvb;
			return buf;
		}
		/* filled by a backend of our lane while we relocked: go on */
		if (BufferIsValid(otherBuffer))
			LockBuffer(otherBuffer, BUFFER_LOCK_UNLOCK);
		UnlockReleaseBuffer(buf);
		vblock = newvb;
	}
}
