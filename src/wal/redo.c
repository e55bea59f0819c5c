/*-------------------------------------------------------------------------
 *
 * redo.c
 *	  Replay of phantom's WAL records (rm_redo).  Each record is replayed
 *	  with the same page-level code the primary ran (src/lsm/meta.c
 *	  initialisers and mutations, PageAddItem at the logged offset,
 *	  heap_page_prune_execute, heap_execute_freeze_tuple), so replayed
 *	  pages equal the primary's up to what phantom_mask ignores.
 *
 *	  Buffers of a multi-block record are all kept locked until the record
 *	  is fully applied, so a hot-standby reader never sees half of it.
 *	  VM bits cleared by a record are cleared whatever the data page's
 *	  redo action (the VM page's LSN does not cover clears).
 *
 * src/wal/redo.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/heapam_xlog.h"
#include "access/htup_details.h"
#include "access/visibilitymap.h"
#include "access/xlog.h"
#include "access/xlogutils.h"
#include "storage/bufmgr.h"
#include "storage/smgr.h"
#include "storage/standby.h"
#include "utils/inval.h"

#include "phantom/lsm/run.h"
#include "phantom/lsm/storage_int.h"
#include "phantom/wal/records.h"

/* A tuple being rebuilt from WAL */
typedef union PhRedoTuple
{
	HeapTupleHeaderData hdr;
	char		data[MaxHeapTupleSize];
} PhRedoTuple;

/* ph_tuple_extras: bytes of optional fields announced by flags */
Size
ph_tuple_extras(uint8 flags)
{
	Size		n = 0;

	if (flags & XLPH_TUP_XMIN)
		n += sizeof(TransactionId);
	if (flags & XLPH_TUP_XMAX)
		n += sizeof(TransactionId);
	if (flags & XLPH_TUP_CTID)
		n += sizeof(ItemPointerData);
	if (flags & XLPH_TUP_PREFIX)
		n += sizeof(uint16);
	if (flags & XLPH_TUP_SUFFIX)
		n += sizeof(uint16);
	return n;
}

/*
 * ph_redo_tuple rebuilds into t the tuple whose WAL image (xl_ph_tuple,
 * extras, body) starts at data and is imagelen bytes long; returns t_len.
 * old (NULL unless a same-page update) is the old version on the page, of
 * length oldlen, for a prefix/suffix the image left out.
 */
static uint32
ph_redo_tuple(const char *data, Size imagelen, XLogReaderState *record,
			  BlockNumber vblock, OffsetNumber off, PhRedoTuple *t,
			  HeapTupleHeader old, uint32 oldlen)
{
	xl_ph_tuple xt;
	const char *p = data;
	TransactionId xmin = XLogRecGetXid(record);
	TransactionId xmax = InvalidTransactionId;
	uint16		prefix = 0;
	uint16		suffix = 0;
	Size		bodylen;
	Size		extras;
	Size		bitmaplen;
	char	   *dst;

	memcpy(&xt, p, SizeOfPhTuple);
	p += SizeOfPhTuple;
	extras = ph_tuple_extras(xt.flags);
	if (imagelen < SizeOfPhTuple + extras)
		elog(PANIC, "phantom redo: truncated tuple image");
	bodylen = imagelen - SizeOfPhTuple - extras;
	if (SizeofHeapTupleHeader + bodylen > MaxHeapTupleSize)
		elog(PANIC, "phantom redo: tuple image too long");

	memset(&t->hdr, 0, SizeofHeapTupleHeader);
	t->hdr.t_infomask2 = xt.t_infomask2;
	t->hdr.t_infomask = xt.t_infomask;
	t->hdr.t_hoff = xt.t_hoff;
	if (xt.flags & XLPH_TUP_XMIN)
	{
		memcpy(&xmin, p, sizeof(TransactionId));
		p += sizeof(TransactionId);
	}
	if (xt.flags & XLPH_TUP_XMAX)
	{
		memcpy(&xmax, p, sizeof(TransactionId));
		p += sizeof(TransactionId);
	}
	if (xt.flags & XLPH_TUP_CTID)
	{
		memcpy(&t->hdr.t_ctid, p, sizeof(ItemPointerData));
		p += sizeof(ItemPointerData);
	}
	else
		ItemPointerSet(&t->hdr.t_ctid, vblock, off);
	if (xt.flags & XLPH_TUP_PREFIX)
	{
		memcpy(&prefix, p, sizeof(uint16));
		p += sizeof(uint16);
	}
	if (xt.flags & XLPH_TUP_SUFFIX)
	{
		memcpy(&suffix, p, sizeof(uint16));
		p += sizeof(uint16);
	}
	t->hdr.t_choice.t_heap.t_xmin = xmin;
	t->hdr.t_choice.t_heap.t_xmax = xmax;
	t->hdr.t_choice.t_heap.t_field3.t_cid = FirstCommandId;

	if (prefix == 0 && suffix == 0)
	{
		memcpy((char *) &t->hdr + SizeofHeapTupleHeader, p, bodylen);
		return SizeofHeapTupleHeader + bodylen;
	}

	/* bitmap area, old prefix, logged middle, old suffix */
	if (old == NULL || xt.t_hoff < SizeofHeapTupleHeader)
		elog(PANIC, "phantom redo: shared prefix/suffix without an old version");
	bitmaplen = xt.t_hoff - SizeofHeapTupleHeader;
	if (bodylen < bitmaplen ||
		prefix + suffix > oldlen - old->t_hoff ||
		xt.t_hoff + prefix + (bodylen - bitmaplen) + suffix > MaxHeapTupleSize)
		elog(PANIC, "phantom redo: bad prefix/suffix tuple image");
	dst = (char *) &t->hdr + SizeofHeapTupleHeader;
	memcpy(dst, p, bitmaplen);
	dst += bitmaplen;
	memcpy(dst, (char *) old + old->t_hoff, prefix);
	dst += prefix;
	memcpy(dst, p + bitmaplen, bodylen - bitmaplen);
	dst += bodylen - bitmaplen;
	memcpy(dst, (char *) old + oldlen - suffix, suffix);
	dst += suffix;
	return dst - (char *) &t->hdr;
}

/* ph_redo_add puts a rebuilt tuple at exactly offset off */
static void
ph_redo_add(Page page, PhRedoTuple *t, uint32 len, OffsetNumber off)
{
	if (PageAddItem(page, (Item) &t->hdr, len, off, true, true) != off)
		elog(PANIC, "phantom redo: failed to add tuple at offset %u", off);
}

/* ph_finish stamps a redone page with the record's end LSN and dirties it */
static void
ph_finish(Buffer buf, XLogReaderState *record)
{
	PageSetLSN(BufferGetPage(buf), record->EndRecPtr);
	MarkBufferDirty(buf);
}

/* ph_release unlocks and unpins a buffer a redo routine may not have read */
static void
ph_release(Buffer buf)
{
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);
}

/*
 * ph_conflict cancels hot-standby queries whose snapshots could still see
 * what the record removes (xid follows heap's latestRemovedXid convention).
 */
static void
ph_conflict(XLogReaderState *record, TransactionId xid)
{
	if (InHotStandby && TransactionIdIsValid(xid))
	{
		RelFileNode rnode;

		XLogRecGetBlockTag(record, 0, &rnode, NULL, NULL);
		ResolveRecoveryConflictWithSnapshot(xid, rnode);
	}
}

/*
 * redo_vm_set sets flags of vblock on the VM page registered as block_id,
 * extending and initialising the fork as the primary's visibilitymap_pin
 * did.
 */
static void
redo_vm_set(XLogReaderState *record, uint8 block_id, BlockNumber vblock,
			uint8 flags)
{
	Buffer		vmbuf;

	if (XLogReadBufferForRedoExtended(record, block_id, RBM_ZERO_ON_ERROR,
									  false, &vmbuf) == BLK_NEEDS_REDO)
	{
		Page		vmpage = BufferGetPage(vmbuf);

		if (PageIsNew(vmpage))
			PageInit(vmpage, BLCKSZ, 0);
		ph_vm_page_set(vmpage, vblock, flags);
		ph_finish(vmbuf, record);
	}
	ph_release(vmbuf);
}

/* XLOG_PH_INIT_META: format the metapage */
static void
redo_init_meta(XLogReaderState *record)
{
	Buffer		buf = XLogInitBufferForRedo(record, 0);

	ph_meta_page_init(BufferGetPage(buf));
	ph_finish(buf, record);
	ph_release(buf);
}

/*
 * XLOG_PH_NEW_VBLOCK: format the new hot page, set its map entry (on a new
 * map page if the vblock starts one) and advance the metapage.
 */
static void
redo_new_vblock(XLogReaderState *record)
{
	xl_ph_new_vblock xl;
	Buffer		databuf;
	Buffer		mapbuf = InvalidBuffer;
	Buffer		metabuf = InvalidBuffer;
	BlockNumber datablk;
	BlockNumber mapblk;

	memcpy(&xl, XLogRecGetData(record), SizeOfPhNewVblock);
	XLogRecGetBlockTag(record, 0, NULL, NULL, &datablk);
	XLogRecGetBlockTag(record, 1, NULL, NULL, &mapblk);

	databuf = XLogInitBufferForRedo(record, 0);
	ph_hot_page_init(BufferGetPage(databuf));
	ph_finish(databuf, record);

	if (xl.flags & XLPH_NEW_MAPPAGE)
	{
		mapbuf = XLogInitBufferForRedo(record, 1);
		ph_map_page_init(BufferGetPage(mapbuf), PH_MAP_PAGE_INDEX(xl.vblock));
		ph_map_page_set(BufferGetPage(mapbuf), xl.vblock, (PhMapEntry) datablk);
		ph_finish(mapbuf, record);
	}
	else if (XLogReadBufferForRedo(record, 1, &mapbuf) == BLK_NEEDS_REDO)
	{
		ph_map_page_set(BufferGetPage(mapbuf), xl.vblock, (PhMapEntry) datablk);
		ph_finish(mapbuf, record);
	}

	if (XLogReadBufferForRedo(record, 2, &metabuf) == BLK_NEEDS_REDO)
	{
		Page		page = BufferGetPage(metabuf);
		PhantomMetaPageData *meta = PhantomPageGetMeta(page);

		if (xl.flags & XLPH_NEW_MAPPAGE)
		{
			meta->mappages[meta->nmappages++] = mapblk;
			ph_meta_set_lower(page);
		}
		meta->nvblocks = xl.vblock + 1;
		if (xl.lane != PH_NO_LANE && xl.lane < PH_MAX_LANES)
			meta->lanes[xl.lane] = xl.vblock;
		/* free_head is meaningful only if pages were popped */
		if (xl.npopped > 0)
		{
			meta->free_head = xl.free_head;
			meta->nfree -= xl.npopped;
		}
		ph_finish(metabuf, record);
	}
	ph_release(databuf);
	ph_release(mapbuf);
	ph_release(metabuf);
}

/*
 * ph_redo_hot_block gets block 0 of record, the hot page a tuple goes to:
 * initialised empty when the record started the page (REGBUF_WILL_INIT),
 * otherwise read as for any redo.
 */
static XLogRedoAction
ph_redo_hot_block(XLogReaderState *record, bool init, Buffer *buf)
{
	if (!init)
		return XLogReadBufferForRedo(record, 0, buf);
	*buf = XLogInitBufferForRedo(record, 0);
	ph_hot_page_init(BufferGetPage(*buf));
	return BLK_NEEDS_REDO;
}

/* XLOG_PH_INSERT: rebuild the tuple and put it at the logged offset */
static void
redo_insert(XLogReaderState *record)
{
	xl_ph_insert xl;
	Buffer		buf;
	XLogRedoAction action;

	memcpy(&xl, XLogRecGetData(record), SizeOfPhInsert);
	if (xl.flags & XLPH_VM_CLEARED)
		ph_vm_clear_redo(record, xl.vblock, VISIBILITYMAP_VALID_BITS);

	action = ph_redo_hot_block(record, (xl.flags & XLPH_INIT_PAGE) != 0,
							   &buf);

	if (action == BLK_NEEDS_REDO)
	{
		Page		page = BufferGetPage(buf);
		Size		datalen;
		char	   *data = XLogRecGetBlockData(record, 0, &datalen);
		PhRedoTuple t;
		uint32		len;

		len = ph_redo_tuple(data, datalen, record, xl.vblock, xl.offnum, &t,
							NULL, 0);
		ph_redo_add(page, &t, len, xl.offnum);
		if (xl.flags & XLPH_VM_CLEARED)
			PageClearAllVisible(page);
		ph_finish(buf, record);
	}
	ph_release(buf);
}

/*
 * XLOG_PH_MULTI_INSERT: as INSERT for each tuple; COPY FREEZE also sets the
 * page and VM all-visible/all-frozen.
 */
static void
redo_multi_insert(XLogReaderState *record)
{
	xl_ph_multi_insert xl;
	Buffer		buf;
	XLogRedoAction action;

	memcpy(&xl, XLogRecGetData(record), SizeOfPhMultiInsert);
	if (xl.flags & XLPH_VM_CLEARED)
		ph_vm_clear_redo(record, xl.vblock, VISIBILITYMAP_VALID_BITS);

	action = ph_redo_hot_block(record, (xl.flags & XLPH_INIT_PAGE) != 0,
							   &buf);

	if (action == BLK_NEEDS_REDO)
	{
		Page		page = BufferGetPage(buf);
		Size		datalen;
		char	   *p = XLogRecGetBlockData(record, 0, &datalen);
		char	   *end = p + datalen;
		PhRedoTuple t;
		int			i;

		for (i = 0; i < xl.ntuples; i++)
		{
			OffsetNumber off;
			uint16		tlen;
			xl_ph_tuple xt;
			Size		imagelen;
			uint32		len;

			if (p + sizeof(OffsetNumber) + sizeof(uint16) + SizeOfPhTuple > end)
				elog(PANIC, "phantom redo: truncated multi-insert record");
			memcpy(&off, p, sizeof(OffsetNumber));
			p += sizeof(OffsetNumber);
			memcpy(&tlen, p, sizeof(uint16));
			p += sizeof(uint16);
			memcpy(&xt, p, SizeOfPhTuple);
			imagelen = SizeOfPhTuple + ph_tuple_extras(xt.flags) +
				(tlen - SizeofHeapTupleHeader);
			if (p + imagelen > end)
				elog(PANIC, "phantom redo: truncated multi-insert record");
			len = ph_redo_tuple(p, imagelen, record, xl.vblock, off, &t, NULL, 0);
			ph_redo_add(page, &t, len, off);
			p += imagelen;
		}
		if (xl.flags & XLPH_VM_CLEARED)
			PageClearAllVisible(page);
		if (xl.flags & XLPH_ALL_FROZEN_SET)
			PageSetAllVisible(page);
		ph_finish(buf, record);
	}
	if (xl.flags & XLPH_ALL_FROZEN_SET)
		redo_vm_set(record, 1, xl.vblock,
					VISIBILITYMAP_ALL_VISIBLE | VISIBILITYMAP_ALL_FROZEN);
	ph_release(buf);
}

/*
 * ph_hdr_decode reads one header-change image (see xl_ph_hdr) at p into c
 * (fields not in the image are left alone) and its flags; returns the
 * position after it.  Also used by desc.c.
 */
const char *
ph_hdr_decode(const char *p, const char *end, PhHeaderChange *c,
			  uint8 *hflags)
{
	xl_ph_hdr	h;

	if (p + SizeOfPhHdr + sizeof(TransactionId) > end)
		elog(PANIC, "phantom redo: truncated header change");
	memcpy(&h, p, SizeOfPhHdr);
	p += SizeOfPhHdr;
	c->offnum = h.offnum;
	c->infomask = h.t_infomask;
	c->infomask2 = h.t_infomask2;
	memcpy(&c->xmax, p, sizeof(TransactionId));
	p += sizeof(TransactionId);
	if (h.flags & XLPH_HDR_XMIN)
	{
		if (p + sizeof(TransactionId) > end)
			elog(PANIC, "phantom redo: truncated header change");
		memcpy(&c->xmin, p, sizeof(TransactionId));
		p += sizeof(TransactionId);
	}
	if (h.flags & XLPH_HDR_CTID)
	{
		if (p + sizeof(ItemPointerData) > end)
			elog(PANIC, "phantom redo: truncated header change");
		memcpy(&c->ctid, p, sizeof(ItemPointerData));
		p += sizeof(ItemPointerData);
	}
	*hflags = h.flags;
	return p;
}

/*
 * ph_redo_hdr applies a decoded header change; xmin and t_ctid only if the
 * image carried them, t_cid never (see xl_ph_hdr).
 */
static void
ph_redo_hdr(Page page, const PhHeaderChange *c, uint8 hflags)
{
	ItemId		lp;
	HeapTupleHeader htup;

	if (c->offnum < FirstOffsetNumber || c->offnum > PageGetMaxOffsetNumber(page))
		elog(PANIC, "phantom redo: header change at invalid offset %u", c->offnum);
	lp = PageGetItemId(page, c->offnum);
	if (!ItemIdIsNormal(lp))
		elog(PANIC, "phantom redo: header change of a non-normal item at offset %u",
			 c->offnum);
	htup = (HeapTupleHeader) PageGetItem(page, lp);
	htup->t_infomask = c->infomask;
	htup->t_infomask2 = c->infomask2;
	htup->t_choice.t_heap.t_xmax = c->xmax;
	if (hflags & XLPH_HDR_XMIN)
		htup->t_choice.t_heap.t_xmin = c->xmin;
	if (hflags & XLPH_HDR_CTID)
		htup->t_ctid = c->ctid;
}

/* XLOG_PH_SET_HEADERS: apply each header image, then the page hints */
static void
redo_set_headers(XLogReaderState *record)
{
	xl_ph_set_headers xl;
	Buffer		buf;

	memcpy(&xl, XLogRecGetData(record), SizeOfPhSetHeaders);
	if (xl.flags & XLPH_VM_CLEARED)
		ph_vm_clear_redo(record, xl.vblock, VISIBILITYMAP_VALID_BITS);
	else if (xl.flags & XLPH_FROZEN_CLEARED)
		ph_vm_clear_redo(record, xl.vblock, VISIBILITYMAP_ALL_FROZEN);

	if (XLogReadBufferForRedo(record, 0, &buf) == BLK_NEEDS_REDO)
	{
		Page		page = BufferGetPage(buf);
		Size		datalen;
		const char *p = XLogRecGetBlockData(record, 0, &datalen);
		const char *end = p + datalen;
		int			i;

		for (i = 0; i < xl.nchanges; i++)
		{
			PhHeaderChange c;
			uint8		hflags;

			p = ph_hdr_decode(p, end, &c, &hflags);
			ph_redo_hdr(page, &c, hflags);
		}
		if (p != end)
			elog(PANIC, "phantom redo: bad header-change record");
		if (xl.flags & XLPH_SET_PRUNABLE)
			PageSetPrunable(page, XLogRecGetXid(record));
		if (xl.flags & XLPH_VM_CLEARED)
			PageClearAllVisible(page);
		ph_finish(buf, record);
	}
	ph_release(buf);
}

/*
 * XLOG_PH_UPDATE: old version's header and t_ctid, then the new version
 * (rebuilt with the old one's shared prefix/suffix on a same-page update);
 * both pages stay locked until the record is fully applied.
 */
static void
redo_update(XLogReaderState *record)
{
	xl_ph_update xl;
	bool		samepage = !XLogRecHasBlockRef(record, 1);
	Buffer		oldbuf = InvalidBuffer;
	Buffer		newbuf;
	XLogRedoAction action;
	ItemPointerData newtid;
	PhHeaderChange oldhdr;
	uint8		oldflags;

	memcpy(&xl, XLogRecGetData(record), SizeOfPhUpdate);
	ph_hdr_decode(XLogRecGetData(record) + SizeOfPhUpdate,
				  XLogRecGetData(record) + XLogRecGetDataLen(record),
				  &oldhdr, &oldflags);
	ItemPointerSet(&newtid, xl.newvblock, xl.newoff);
	if (xl.flags & XLPH_OLD_VM_CLEARED)
		ph_vm_clear_redo(record, xl.oldvblock, VISIBILITYMAP_VALID_BITS);
	if (xl.flags & XLPH_VM_CLEARED)
		ph_vm_clear_redo(record, xl.newvblock, VISIBILITYMAP_VALID_BITS);

	if (!samepage &&
		XLogReadBufferForRedo(record, 1, &oldbuf) == BLK_NEEDS_REDO)
	{
		Page		page = BufferGetPage(oldbuf);
		HeapTupleHeader htup;

		ph_redo_hdr(page, &oldhdr, oldflags);
		htup = (HeapTupleHeader)
			PageGetItem(page, PageGetItemId(page, oldhdr.offnum));
		htup->t_ctid = newtid;
		if (xl.flags & XLPH_SET_PRUNABLE)
			PageSetPrunable(page, XLogRecGetXid(record));
		if (xl.flags & XLPH_OLD_VM_CLEARED)
			PageClearAllVisible(page);
		ph_finish(oldbuf, record);
	}

	action = ph_redo_hot_block(record, (xl.flags & XLPH_INIT_PAGE) != 0,
							   &newbuf);

	if (action == BLK_NEEDS_REDO)
	{
		Page		page = BufferGetPage(newbuf);
		Size		datalen;
		char	   *data = XLogRecGetBlockData(record, 0, &datalen);
		PhRedoTuple t;
		uint32		len;
		HeapTupleHeader old = NULL;
		uint32		oldlen = 0;

		if (samepage)
		{
			ItemId		olp;

			ph_redo_hdr(page, &oldhdr, oldflags);
			olp = PageGetItemId(page, oldhdr.offnum);

			old = (HeapTupleHeader) PageGetItem(page, olp);
			oldlen = ItemIdGetLength(olp);
		}
		len = ph_redo_tuple(data, datalen, record, xl.newvblock, xl.newoff, &t,
							old, oldlen);
		ph_redo_add(page, &t, len, xl.newoff);
		if (samepage)
		{
			HeapTupleHeader htup = (HeapTupleHeader)
			PageGetItem(page, PageGetItemId(page, oldhdr.offnum));

			htup->t_ctid = newtid;
			if (xl.flags & XLPH_SET_PRUNABLE)
				PageSetPrunable(page, XLogRecGetXid(record));
			if (xl.flags & XLPH_OLD_VM_CLEARED)
				PageClearAllVisible(page);
		}
		if (xl.flags & XLPH_VM_CLEARED)
			PageClearAllVisible(page);
		ph_finish(newbuf, record);
	}
	ph_release(newbuf);
	ph_release(oldbuf);
}

/* XLOG_PH_PRUNE: conflicts, then heap_page_prune_execute under a cleanup lock */
static void
redo_prune(XLogReaderState *record)
{
	xl_ph_prune xl;
	Buffer		buf;

	memcpy(&xl, XLogRecGetData(record), SizeOfPhPrune);
	ph_conflict(record, xl.conflict_xid);

	if (XLogReadBufferForRedoExtended(record, 0, RBM_NORMAL, true, &buf) ==
		BLK_NEEDS_REDO)
	{
		Size		datalen;
		char	   *data = XLogRecGetBlockData(record, 0, &datalen);
		Size		want = (2 * xl.nredirected + xl.ndead + xl.nunused) *
			sizeof(OffsetNumber);
		OffsetNumber *arr;

		if (datalen != want)
			elog(PANIC, "phantom redo: bad prune record");
		arr = palloc(Max(want, 1));
		memcpy(arr, data, want);
		heap_page_prune_execute(buf,
								arr, xl.nredirected,
								arr + 2 * xl.nredirected, xl.ndead,
								arr + 2 * xl.nredirected + xl.ndead, xl.nunused);
		pfree(arr);
		ph_finish(buf, record);
	}
	ph_release(buf);
}

/* XLOG_PH_FREEZE: conflicts, then each freeze plan */
static void
redo_freeze(XLogReaderState *record)
{
	xl_ph_freeze xl;
	Buffer		buf;

	memcpy(&xl, XLogRecGetData(record), SizeOfPhFreeze);
	ph_conflict(record, xl.conflict_xid);

	if (XLogReadBufferForRedo(record, 0, &buf) == BLK_NEEDS_REDO)
	{
		Page		page = BufferGetPage(buf);
		Size		datalen;
		char	   *data = XLogRecGetBlockData(record, 0, &datalen);
		int			i;

		if (datalen != xl.nplans * sizeof(xl_heap_freeze_tuple))
			elog(PANIC, "phantom redo: bad freeze record");
		for (i = 0; i < xl.nplans; i++)
		{
			xl_heap_freeze_tuple plan;
			ItemId		lp;

			memcpy(&plan, data + i * sizeof(plan), sizeof(plan));
			lp = PageGetItemId(page, plan.offset);
			heap_execute_freeze_tuple((HeapTupleHeader) PageGetItem(page, lp),
									  &plan);
		}
		ph_finish(buf, record);
	}
	ph_release(buf);
}

/* XLOG_PH_VISIBLE: conflicts, PD_ALL_VISIBLE, VM bits */
static void
redo_visible(XLogReaderState *record)
{
	xl_ph_visible xl;
	Buffer		buf;

	memcpy(&xl, XLogRecGetData(record), SizeOfPhVisible);
	ph_conflict(record, xl.cutoff_xid);

	if (XLogReadBufferForRedo(record, 0, &buf) == BLK_NEEDS_REDO)
	{
		PageSetAllVisible(BufferGetPage(buf));
		ph_finish(buf, record);
	}
	redo_vm_set(record, 1, xl.vblock, xl.vmflags);
	ph_release(buf);
}

/*
 * XLOG_PH_MAP_COLD: point the entry at the run page, turn the old hot page
 * into the new head of the free list.
 */
static void
redo_map_cold(XLogReaderState *record)
{
	xl_ph_map_cold xl;
	Buffer		mapbuf;
	Buffer		freebuf;
	Buffer		metabuf;
	BlockNumber freeblk;

	memcpy(&xl, XLogRecGetData(record), SizeOfPhMapCold);
	XLogRecGetBlockTag(record, 1, NULL, NULL, &freeblk);

	if (XLogReadBufferForRedo(record, 0, &mapbuf) == BLK_NEEDS_REDO)
	{
		ph_map_page_set(BufferGetPage(mapbuf), xl.vblock, PH_MAP_COLD | xl.runblk);
		ph_finish(mapbuf, record);
	}
	/*
	 * A cleanup lock, as the primary held: a hot-standby scan may still pin
	 * the old hot page and read tuples from it without a content lock.
	 */
	XLogReadBufferForRedoExtended(record, 1, RBM_ZERO_AND_CLEANUP_LOCK, true,
								  &freebuf);
	ph_free_page_init(BufferGetPage(freebuf), xl.next_free);
	ph_finish(freebuf, record);
	if (XLogReadBufferForRedo(record, 2, &metabuf) == BLK_NEEDS_REDO)
	{
		PhantomMetaPageData *meta = PhantomPageGetMeta(BufferGetPage(metabuf));

		meta->free_head = freeblk;
		meta->nfree++;
		ph_finish(metabuf, record);
	}
	ph_release(mapbuf);
	ph_release(freebuf);
	ph_release(metabuf);
}

/*
 * XLOG_PH_THAW: the new hot page is rebuilt from the compressed frame the
 * record carries (never from the run page, which recovery may already have
 * reused for something else); switch the entry and, if a page was popped,
 * the free list.
 */
static void
redo_thaw(XLogReaderState *record)
{
	xl_ph_thaw	xl;
	Buffer		hotbuf;
	Buffer		mapbuf;
	Buffer		metabuf = InvalidBuffer;
	BlockNumber hotblk;
	char	   *frame;
	Size		framelen;

	memcpy(&xl, XLogRecGetData(record), SizeOfPhThaw);
	XLogRecGetBlockTag(record, 0, NULL, NULL, &hotblk);

	frame = XLogRecGetBlockData(record, 0, &framelen);
	if (frame == NULL)
		elog(PANIC, "phantom redo: thaw record without frame");
	hotbuf = XLogInitBufferForRedo(record, 0);
	ph_run_decode_frame_redo(frame, framelen, xl.vblock, BufferGetPage(hotbuf));
	ph_finish(hotbuf, record);
	if (XLogReadBufferForRedo(record, 1, &mapbuf) == BLK_NEEDS_REDO)
	{
		ph_map_page_set(BufferGetPage(mapbuf), xl.vblock, (PhMapEntry) hotblk);
		ph_finish(mapbuf, record);
	}
	if (XLogRecHasBlockRef(record, 2) &&
		XLogReadBufferForRedo(record, 2, &metabuf) == BLK_NEEDS_REDO)
	{
		PhantomMetaPageData *meta = PhantomPageGetMeta(BufferGetPage(metabuf));

		if (xl.npopped > 0)
		{
			meta->free_head = xl.free_head;
			meta->nfree -= xl.npopped;
		}
		ph_finish(metabuf, record);
	}
	ph_release(hotbuf);
	ph_release(mapbuf);
	ph_release(metabuf);
}

/* XLOG_PH_FREE_POP: advance the free-list head */
static void
redo_free_pop(XLogReaderState *record)
{
	xl_ph_free_pop xl;
	Buffer		metabuf;

	memcpy(&xl, XLogRecGetData(record), SizeOfPhFreePop);
	if (XLogReadBufferForRedo(record, 0, &metabuf) == BLK_NEEDS_REDO)
	{
		PhantomMetaPageData *meta = PhantomPageGetMeta(BufferGetPage(metabuf));

		meta->free_head = xl.free_head;
		meta->nfree--;
		ph_finish(metabuf, record);
	}
	ph_release(metabuf);
}

/* XLOG_PH_FREE_PUSH: format the freed page and make it the head */
static void
redo_free_push(XLogReaderState *record)
{
	xl_ph_free_push xl;
	Buffer		freebuf;
	Buffer		metabuf;
	BlockNumber freeblk;

	memcpy(&xl, XLogRecGetData(record), SizeOfPhFreePush);
	XLogRecGetBlockTag(record, 0, NULL, NULL, &freeblk);
	/* no standby reader may still hold the retired page pinned */
	XLogReadBufferForRedoExtended(record, 0, RBM_ZERO_AND_CLEANUP_LOCK, true,
								  &freebuf);
	ph_free_page_init(BufferGetPage(freebuf), xl.next_free);
	ph_finish(freebuf, record);
	if (XLogReadBufferForRedo(record, 1, &metabuf) == BLK_NEEDS_REDO)
	{
		PhantomMetaPageData *meta = PhantomPageGetMeta(BufferGetPage(metabuf));

		meta->free_head = freeblk;
		meta->nfree++;
		ph_finish(metabuf, record);
	}
	ph_release(freebuf);
	ph_release(metabuf);
}

/*
 * XLOG_PH_VTRUNCATE: forget the last vblock, put its page on the free list,
 * lower nvblocks (same lock order as the primary: hot, map, meta).
 */
static void
redo_vtruncate(XLogReaderState *record)
{
	xl_ph_vtruncate xl;
	Buffer		hotbuf = InvalidBuffer;
	Buffer		mapbuf;
	Buffer		metabuf;
	BlockNumber hotblk = InvalidBlockNumber;

	memcpy(&xl, XLogRecGetData(record), SizeOfPhVtruncate);
	if (xl.flags & PH_VTRUNC_FREED)
	{
		XLogRecGetBlockTag(record, 1, NULL, NULL, &hotblk);
		XLogReadBufferForRedoExtended(record, 1, RBM_ZERO_AND_CLEANUP_LOCK,
									  true, &hotbuf);
		ph_free_page_init(BufferGetPage(hotbuf), xl.next_free);
		ph_finish(hotbuf, record);
	}
	if (XLogReadBufferForRedo(record, 0, &mapbuf) == BLK_NEEDS_REDO)
	{
		ph_map_page_set(BufferGetPage(mapbuf), xl.vblock, PH_MAP_NONE);
		ph_finish(mapbuf, record);
	}
	if (XLogReadBufferForRedo(record, 2, &metabuf) == BLK_NEEDS_REDO)
	{
		PhantomMetaPageData *meta = PhantomPageGetMeta(BufferGetPage(metabuf));

		meta->nvblocks = xl.vblock;
		if (xl.flags & PH_VTRUNC_FREED)
		{
			meta->free_head = hotblk;
			meta->nfree++;
		}
		for (int i = 0; i < PH_MAX_LANES; i++)
		{
			if (BlockNumberIsValid(meta->lanes[i]) && meta->lanes[i] >= xl.vblock)
				meta->lanes[i] = InvalidBlockNumber;
		}
		ph_finish(metabuf, record);
	}
	ph_release(hotbuf);
	ph_release(mapbuf);
	ph_release(metabuf);
}

/* XLOG_PH_COUNTERS: add compaction's byte counts to the metapage */
static void
redo_counters(XLogReaderState *record)
{
	xl_ph_counters xl;
	Buffer		metabuf;

	memcpy(&xl, XLogRecGetData(record), SizeOfPhCounters);
	if (XLogReadBufferForRedo(record, 0, &metabuf) == BLK_NEEDS_REDO)
	{
		PhantomMetaPageData *meta = PhantomPageGetMeta(BufferGetPage(metabuf));

		meta->compacted_bytes += xl.compacted_bytes;
		meta->compaction_written_bytes += xl.written_bytes;
		ph_finish(metabuf, record);
	}
	ph_release(metabuf);
}

/*
 * XLOG_PH_SHRINK: see records.h and src/lsm/shrink.c.  The startup process
 * holds the AccessExclusiveLock the primary logged, so no standby query
 * reads the relation meanwhile.
 */
static void
redo_shrink(XLogReaderState *record)
{
	xl_ph_shrink xl;
	Buffer		buf = InvalidBuffer;
	Buffer		refbuf = InvalidBuffer;

	memcpy(&xl, XLogRecGetData(record), SizeOfPhShrink);
	switch (xl.op)
	{
		case PH_SHRINK_RESET_FREE:
			if (XLogReadBufferForRedo(record, 0, &refbuf) == BLK_NEEDS_REDO)
			{
				PhantomMetaPageData *meta = PhantomPageGetMeta(BufferGetPage(refbuf));

				meta->free_head = InvalidBlockNumber;
				meta->nfree = 0;
				ph_finish(refbuf, record);
			}
			break;
		case PH_SHRINK_MOVE:
			if ((xl.flags & PH_SHRINK_HAS_IMAGE) != 0 &&
				XLogReadBufferForRedo(record, 0, &buf) == BLK_NEEDS_REDO)
				elog(PANIC, "phantom redo: shrink move without page image");
			if (XLogReadBufferForRedo(record, 1, &refbuf) == BLK_NEEDS_REDO)
			{
				Page		page = BufferGetPage(refbuf);

				if ((xl.flags & PH_SHRINK_MAPPAGE) != 0)
					PhantomPageGetMeta(page)->mappages[xl.mapidx] = xl.dst;
				else
				{
					BlockNumber *vbs = (BlockNumber *)
						(XLogRecGetData(record) + SizeOfPhShrink);

					for (int i = 0; i < xl.nentries; i++)
					{
						PhMapEntry	old = PhMapPageEntries(page)[PH_MAP_SLOT(vbs[i])];

						ph_map_page_set(page, vbs[i], (old & PH_MAP_COLD) | xl.dst);
					}
				}
				ph_finish(refbuf, record);
			}
			if ((xl.flags & PH_SHRINK_MAPPAGE) != 0)
			{
				RelFileNodeBackend rnode;

				/* standby backends cache the map directory */
				XLogRecGetBlockTag(record, 1, &rnode.node, NULL, NULL);
				rnode.backend = InvalidBackendId;
				CacheInvalidateSmgr(rnode);
			}
			break;
		case PH_SHRINK_TRUNCATE:
			{
				SMgrRelation reln = smgropen(xl.node, InvalidBackendId);
				ForkNumber	fork = MAIN_FORKNUM;
				BlockNumber nblocks = xl.nblocks;

				/* as smgr_redo: the file may be gone; recovery point first */
				smgrcreate(reln, MAIN_FORKNUM, true);
				XLogFlush(record->EndRecPtr);
				if (smgrnblocks(reln, MAIN_FORKNUM) > nblocks)
					smgrtruncate(reln, &fork, 1, &nblocks);
				XLogTruncateRelation(xl.node, MAIN_FORKNUM, nblocks);
				break;
			}
		default:
			elog(PANIC, "phantom redo: unknown shrink operation %u", xl.op);
	}
	ph_release(buf);
	ph_release(refbuf);
}

/*
 * phantom_redo: rm_redo of the phantom resource manager.
 */
void
phantom_redo(XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & XLR_RMGR_INFO_MASK;

	switch (info)
	{
		case XLOG_PH_INIT_META:
			redo_init_meta(record);
			break;
		case XLOG_PH_NEW_VBLOCK:
			redo_new_vblock(record);
			break;
		case XLOG_PH_INSERT:
			redo_insert(record);
			break;
		case XLOG_PH_MULTI_INSERT:
			redo_multi_insert(record);
			break;
		case XLOG_PH_SET_HEADERS:
			redo_set_headers(record);
			break;
		case XLOG_PH_UPDATE:
			redo_update(record);
			break;
		case XLOG_PH_PRUNE:
			redo_prune(record);
			break;
		case XLOG_PH_FREEZE:
			redo_freeze(record);
			break;
		case XLOG_PH_VISIBLE:
			redo_visible(record);
			break;
		case XLOG_PH_MAP_COLD:
			redo_map_cold(record);
			break;
		case XLOG_PH_THAW:
			redo_thaw(record);
			break;
		case XLOG_PH_FREE_POP:
			redo_free_pop(record);
			break;
		case XLOG_PH_VTRUNCATE:
			redo_vtruncate(record);
			break;
		case XLOG_PH_FREE_PUSH:
			redo_free_push(record);
			break;
		case XLOG_PH_SHRINK:
			redo_shrink(record);
			break;
		case XLOG_PH_COUNTERS:
			redo_counters(record);
			break;
		default:
			elog(PANIC, "phantom_redo: unknown op code %u", info);
	}
}
