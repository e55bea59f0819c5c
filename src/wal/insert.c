/*-------------------------------------------------------------------------
 *
 * insert.c
 *	  The row-level WAL primitives: insert, multi-insert, header changes
 *	  (delete, lock, speculative confirm/abort) and update.  Each applies
 *	  its change to pinned, exclusively locked buffers and logs it in one
 *	  critical section; src/wal/redo.c replays it with the same page code.
 *
 *	  Tuples travel in WAL as xl_ph_tuple (infomask2, infomask, hoff) plus
 *	  the bytes after the fixed header.  xmin is the record's xid, xmax is
 *	  invalid and t_ctid is the tuple's own TID unless the record says
 *	  otherwise; t_cid is not logged (redo writes FirstCommandId, rm_mask
 *	  ignores it), exactly the trade heap makes.
 *
 *	  TIDs are virtual: t_self and the on-page t_ctid are (vblock, offnum),
 *	  never the physical block.  A change to an all-visible page clears
 *	  PD_ALL_VISIBLE and the vblock's VM bits (a row lock: only all-frozen);
 *	  the record carries a flag so redo clears them too.
 *
 *	  At wal_level = logical, row changes of logically logged relations
 *	  also carry what logical decoding needs (xl_ph_logical in records.h:
 *	  the change's meaning and the old replica identity, block data kept
 *	  next to full-page images, whole new tuples); src/wal/logical.c
 *	  decodes them.  Nothing of it is written at lower levels.
 *
 * src/wal/insert.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/visibilitymap.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xloginsert.h"
#include "catalog/catalog.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

#include "phantom/lsm/storage_int.h"
#include "phantom/wal/records.h"

/* WAL image of one tuple's header: fixed part plus optional extras */
typedef struct PhTupleWal
{
	xl_ph_tuple hdr;
	int			extralen;
	char		extra[sizeof(TransactionId) * 2 + sizeof(ItemPointerData) +
					  sizeof(uint16) * 2];
	uint16		prefix;			/* data bytes left out (see records.h) */
	uint16		suffix;
} PhTupleWal;

/*
 * ph_tuple_wal_prepare fills w from the tuple as it now is on the page, at
 * TID (vblock, off).
 */
static void
ph_tuple_wal_prepare(HeapTupleHeader htup, BlockNumber vblock,
					 OffsetNumber off, PhTupleWal *w)
{
	TransactionId xmin = htup->t_choice.t_heap.t_xmin;
	TransactionId xmax = htup->t_choice.t_heap.t_xmax;
	ItemPointerData self;

	w->hdr.t_infomask2 = htup->t_infomask2;
	w->hdr.t_infomask = htup->t_infomask;
	w->hdr.t_hoff = htup->t_hoff;
	w->hdr.flags = 0;
	w->extralen = 0;
	w->prefix = w->suffix = 0;
	if (xmin != GetCurrentTransactionIdIfAny())
	{
		w->hdr.flags |= XLPH_TUP_XMIN;
		memcpy(w->extra + w->extralen, &xmin, sizeof(TransactionId));
		w->extralen += sizeof(TransactionId);
	}
	if (xmax != InvalidTransactionId)
	{
		w->hdr.flags |= XLPH_TUP_XMAX;
		memcpy(w->extra + w->extralen, &xmax, sizeof(TransactionId));
		w->extralen += sizeof(TransactionId);
	}
	ItemPointerSet(&self, vblock, off);
	if (!ItemPointerEquals(&self, &htup->t_ctid))
	{
		w->hdr.flags |= XLPH_TUP_CTID;
		memcpy(w->extra + w->extralen, &htup->t_ctid, sizeof(ItemPointerData));
		w->extralen += sizeof(ItemPointerData);
	}
}

/*
 * ph_tuple_wal_share finds how many leading and trailing data bytes the
 * new version newtup (len newlen) shares with the old version oldtup (len
 * oldlen) and records them in w, so that they are not logged.  Runs of
 * fewer than 3 bytes are not worth their 2-byte length.
 */
static void
ph_tuple_wal_share(PhTupleWal *w, HeapTupleHeader newtup, uint32 newlen,
				   HeapTupleHeader oldtup, uint32 oldlen)
{
	const char *np = (const char *) newtup + newtup->t_hoff;
	const char *op = (const char *) oldtup + oldtup->t_hoff;
	uint32		nd = newlen - newtup->t_hoff;
	uint32		od = oldlen - oldtup->t_hoff;
	uint32		common = Min(nd, od);
	uint32		prefix = 0;
	uint32		suffix = 0;

	while (prefix < common && np[prefix] == op[prefix])
		prefix++;
	if (prefix < 3)
		prefix = 0;
	while (suffix < common - prefix &&
		   np[nd - suffix - 1] == op[od - suffix - 1])
		suffix++;
	if (suffix < 3)
		suffix = 0;
	if (prefix > 0)
	{
		uint16		v = prefix;

		w->hdr.flags |= XLPH_TUP_PREFIX;
		memcpy(w->extra + w->extralen, &v, sizeof(uint16));
		w->extralen += sizeof(uint16);
		w->prefix = v;
	}
	if (suffix > 0)
	{
		uint16		v = suffix;

		w->hdr.flags |= XLPH_TUP_SUFFIX;
		memcpy(w->extra + w->extralen, &v, sizeof(uint16));
		w->extralen += sizeof(uint16);
		w->suffix = v;
	}
}

/*
 * ph_tuple_wal_register adds one tuple image as data of block_id: fixed
 * part, extras, bitmap area, and the data minus any shared prefix/suffix.
 */
static void
ph_tuple_wal_register(uint8 block_id, PhTupleWal *w, HeapTupleHeader htup,
					  uint32 len)
{
	uint32		bitmaplen = htup->t_hoff - SizeofHeapTupleHeader;
	uint32		middle = len - htup->t_hoff - w->prefix - w->suffix;

	XLogRegisterBufData(block_id, (char *) &w->hdr, SizeOfPhTuple);
	if (w->extralen > 0)
		XLogRegisterBufData(block_id, w->extra, w->extralen);
	if (bitmaplen > 0)
		XLogRegisterBufData(block_id, (char *) htup + SizeofHeapTupleHeader,
							bitmaplen);
	if (middle > 0)
		XLogRegisterBufData(block_id, (char *) htup + htup->t_hoff + w->prefix,
							middle);
}

/*
 * ph_put_tuple adds tup to page at the first free offset and makes its TID
 * (vblock, offnum); the on-page t_ctid points to itself unless keep_ctid
 * (a speculative token lives there).  Inside a critical section.
 */
static OffsetNumber
ph_put_tuple(Page page, BlockNumber vblock, HeapTuple tup, bool keep_ctid)
{
	OffsetNumber off;
	HeapTupleHeader item;

	off = PageAddItem(page, (Item) tup->t_data, tup->t_len,
					  InvalidOffsetNumber, false, true);
	if (off == InvalidOffsetNumber)
		elog(PANIC, "phantom: failed to add tuple to page of vblock %u", vblock);
	ItemPointerSet(&tup->t_self, vblock, off);
	item = (HeapTupleHeader) PageGetItem(page, PageGetItemId(page, off));
	if (!keep_ctid)
	{
		item->t_ctid = tup->t_self;
		tup->t_data->t_ctid = tup->t_self;
	}
	return off;
}

/* ph_check_room raises an error (outside any critical section) */
static void
ph_check_room(Relation rel, Page page, BlockNumber vblock, Size need)
{
	if (PageGetHeapFreeSpace(page) < need)
		elog(ERROR, "phantom: no room for %zu bytes on vblock %u of \"%s\"",
			 need, vblock, RelationGetRelationName(rel));
}

/*
 * WAL image of the logical-decoding trailer of a row record (xl_ph_logical
 * and the optional old row, see records.h).
 */
typedef struct PhLogicalWal
{
	xl_ph_logical hdr;
	xl_ph_tuple oldhdr;
	HeapTuple	old;
} PhLogicalWal;

/*
 * ph_logical_prepare fills w for a row record of rel, or returns false
 * when nothing is to be logged for decoding: wal_level below logical, or
 * a relation logical decoding does not see (catalogs, unlogged tables).
 * Call before changing the page: the old row is read as it is now.
 */
static bool
ph_logical_prepare(Relation rel, uint8 lflags, const PhLogicalInfo *li,
				   PhLogicalWal *w)
{
	if (!RelationIsLogicallyLogged(rel))
		return false;
	w->hdr.lflags = lflags;
	w->old = NULL;
	if (li != NULL)
	{
		w->hdr.lflags |= li->kind;
		if (li->oldkey != NULL)
		{
			w->old = li->oldkey;
			w->hdr.lflags |= li->oldfull ? XLPH_LOG_OLD_TUPLE : XLPH_LOG_OLD_KEY;
			w->oldhdr.t_infomask2 = li->oldkey->t_data->t_infomask2;
			w->oldhdr.t_infomask = li->oldkey->t_data->t_infomask;
			w->oldhdr.t_hoff = li->oldkey->t_data->t_hoff;
			w->oldhdr.flags = 0;
		}
	}
	return true;
}

/* ph_logical_register appends the trailer to the record's main data */
static void
ph_logical_register(PhLogicalWal *w)
{
	XLogRegisterData((char *) &w->hdr, SizeOfPhLogical);
	if (w->old != NULL)
	{
		XLogRegisterData((char *) &w->oldhdr, SizeOfPhTuple);
		XLogRegisterData((char *) w->old->t_data + SizeofHeapTupleHeader,
						 w->old->t_len - SizeofHeapTupleHeader);
	}
}

/*
 * ph_wal_insert: see wal.h.
 */
OffsetNumber
ph_wal_insert(Relation rel, Buffer buf, BlockNumber vblock, HeapTuple tup,
			  int flags)
{
	Page		page = BufferGetPage(buf);
	Buffer		vmbuf = InvalidBuffer;
	bool		vmclear = PageIsAllVisible(page);
	OffsetNumber off;
	HeapTupleHeader item;

	ph_check_room(rel, page, vblock, MAXALIGN(tup->t_len));
	if (vmclear)
		visibilitymap_pin(rel, vblock, &vmbuf);

	START_CRIT_SECTION();
	off = ph_put_tuple(page, vblock, tup, (flags & PH_INSERT_SPECULATIVE) != 0);
	item = (HeapTupleHeader) PageGetItem(page, PageGetItemId(page, off));
	if (vmclear)
	{
		PageClearAllVisible(page);
		visibilitymap_clear(rel, vblock, vmbuf, VISIBILITYMAP_VALID_BITS);
	}
	MarkBufferDirty(buf);

	if (RelationNeedsWAL(rel))
	{
		xl_ph_insert xlrec;
		PhTupleWal	w;
		PhLogicalWal lw;
		XLogRecPtr	recptr;
		bool		init = (off == FirstOffsetNumber &&
							PageGetMaxOffsetNumber(page) == FirstOffsetNumber);
		bool		logical;

		logical = !(flags & PH_INSERT_NO_LOGICAL) &&
			ph_logical_prepare(rel, (flags & PH_INSERT_SPECULATIVE) ?
							   XLPH_LOG_SPECULATIVE : 0, NULL, &lw);
		xlrec.vblock = vblock;
		xlrec.offnum = off;
		xlrec.flags = (init ? XLPH_INIT_PAGE : 0) |
			(vmclear ? XLPH_VM_CLEARED : 0) |
			(logical ? XLPH_LOGICAL : 0);
		ph_tuple_wal_prepare(item, vblock, off, &w);

		XLogBeginInsert();
		XLogRegisterData((char *) &xlrec, SizeOfPhInsert);
		if (logical)
			ph_logical_register(&lw);
		XLogRegisterBuffer(0, buf, REGBUF_STANDARD |
						   (init ? REGBUF_WILL_INIT : 0) |
						   (logical ? REGBUF_KEEP_DATA : 0));
		ph_tuple_wal_register(0, &w, item, tup->t_len);
		recptr = XLogInsert(PHANTOM_RMGR_ID, XLOG_PH_INSERT);
		PageSetLSN(page, recptr);
	}
	END_CRIT_SECTION();

	if (BufferIsValid(vmbuf))
		ReleaseBuffer(vmbuf);
	return off;
}

/*
 * ph_wal_multi_insert: see wal.h.  The caller made sure all tuples fit.
 */
void
ph_wal_multi_insert(Relation rel, Buffer buf, BlockNumber vblock,
					HeapTuple *tuples, int ntuples, int flags)
{
	Page		page = BufferGetPage(buf);
	Buffer		vmbuf = InvalidBuffer;
	bool		init = (PageGetMaxOffsetNumber(page) == InvalidOffsetNumber);

	/*
	 * COPY FREEZE into an empty page leaves it all-visible and all-frozen,
	 * as heap does (the relation is new in this transaction, so nobody else
	 * can see it before commit); otherwise an all-visible page is cleared.
	 */
	bool		frozen_set = init && (flags & PH_INSERT_FROZEN) != 0;
	bool		vmclear = !frozen_set && PageIsAllVisible(page);
	Size		need = 0;
	OffsetNumber *offs;
	char	   *img;
	char	   *p;
	Size		imgsize;
	int			i;

	if (ntuples <= 0)
		return;
	for (i = 0; i < ntuples; i++)
		need += MAXALIGN(tuples[i]->t_len) + sizeof(ItemIdData);
	ph_check_room(rel, page, vblock, need - sizeof(ItemIdData));
	/* no palloc inside the critical section: size the WAL image now */
	offs = palloc(sizeof(OffsetNumber) * ntuples);
	imgsize = 0;
	for (i = 0; i < ntuples; i++)
		imgsize += sizeof(OffsetNumber) + sizeof(uint16) + sizeof(PhTupleWal) +
			tuples[i]->t_len;
	img = palloc(imgsize);
	if (vmclear || frozen_set)
		visibilitymap_pin(rel, vblock, &vmbuf);
	if (frozen_set)
		LockBuffer(vmbuf, BUFFER_LOCK_EXCLUSIVE);

	START_CRIT_SECTION();
	for (i = 0; i < ntuples; i++)
		offs[i] = ph_put_tuple(page, vblock, tuples[i],
							   (flags & PH_INSERT_SPECULATIVE) != 0);
	if (vmclear)
	{
		PageClearAllVisible(page);
		visibilitymap_clear(rel, vblock, vmbuf, VISIBILITYMAP_VALID_BITS);
	}
	if (frozen_set)
	{
		PageSetAllVisible(page);
		ph_vm_page_set(BufferGetPage(vmbuf), vblock,
					   VISIBILITYMAP_ALL_VISIBLE | VISIBILITYMAP_ALL_FROZEN);
		MarkBufferDirty(vmbuf);
	}
	MarkBufferDirty(buf);

	if (RelationNeedsWAL(rel))
	{
		xl_ph_multi_insert xlrec;
		PhLogicalWal lw;
		XLogRecPtr	recptr;
		bool		logical;

		logical = !(flags & PH_INSERT_NO_LOGICAL) &&
			ph_logical_prepare(rel, (flags & PH_INSERT_LAST_IN_MULTI) ?
							   XLPH_LOG_LAST_IN_MULTI : 0, NULL, &lw);
		xlrec.vblock = vblock;
		xlrec.ntuples = ntuples;
		xlrec.flags = (init ? XLPH_INIT_PAGE : 0) |
			(vmclear ? XLPH_VM_CLEARED : 0) |
			(frozen_set ? XLPH_ALL_FROZEN_SET : 0) |
			(logical ? XLPH_LOGICAL : 0);

		/* one packed image: offnum, t_len, xl_ph_tuple, extras, body */
		p = img;
		for (i = 0; i < ntuples; i++)
		{
			HeapTupleHeader item;
			PhTupleWal	w;
			uint16		len = tuples[i]->t_len;

			item = (HeapTupleHeader) PageGetItem(page, PageGetItemId(page, offs[i]));
			ph_tuple_wal_prepare(item, vblock, offs[i], &w);
			memcpy(p, &offs[i], sizeof(OffsetNumber));
			p += sizeof(OffsetNumber);
			memcpy(p, &len, sizeof(uint16));
			p += sizeof(uint16);
			memcpy(p, &w.hdr, SizeOfPhTuple);
			p += SizeOfPhTuple;
			memcpy(p, w.extra, w.extralen);
			p += w.extralen;
			memcpy(p, (char *) item + SizeofHeapTupleHeader,
				   len - SizeofHeapTupleHeader);
			p += len - SizeofHeapTupleHeader;
		}
		Assert(p - img <= imgsize);

		XLogBeginInsert();
		XLogRegisterData((char *) &xlrec, SizeOfPhMultiInsert);
		if (logical)
			ph_logical_register(&lw);
		XLogRegisterBuffer(0, buf, REGBUF_STANDARD |
						   (init ? REGBUF_WILL_INIT : 0) |
						   (logical ? REGBUF_KEEP_DATA : 0));
		XLogRegisterBufData(0, img, p - img);
		if (frozen_set)
			XLogRegisterBuffer(1, vmbuf, 0);
		recptr = XLogInsert(PHANTOM_RMGR_ID, XLOG_PH_MULTI_INSERT);
		PageSetLSN(page, recptr);
		if (frozen_set)
			PageSetLSN(BufferGetPage(vmbuf), recptr);
	}
	END_CRIT_SECTION();

	if (frozen_set)
		LockBuffer(vmbuf, BUFFER_LOCK_UNLOCK);
	if (BufferIsValid(vmbuf))
		ReleaseBuffer(vmbuf);
	pfree(offs);
	pfree(img);
}

/*
 * ph_change_prunes: does this header change leave a version that pruning
 * may remove later (a deleting/updating xmax, or a super-deleted tuple)?
 */
static bool
ph_change_prunes(const PhHeaderChange *c)
{
	if (!TransactionIdIsValid(c->xmin))
		return true;
	return !(c->infomask & HEAP_XMAX_INVALID) &&
		!HEAP_XMAX_IS_LOCKED_ONLY(c->infomask);
}

/* ph_check_offset errors out unless off names a normal item on page */
static void
ph_check_offset(Relation rel, Page page, BlockNumber vblock, OffsetNumber off)
{
	if (off < FirstOffsetNumber || off > PageGetMaxOffsetNumber(page) ||
		!ItemIdIsNormal(PageGetItemId(page, off)))
		elog(ERROR, "phantom: no tuple at (%u,%u) of \"%s\"",
			 vblock, off, RelationGetRelationName(rel));
}

/*
 * ph_hdr_encode writes the WAL image of header change c (see xl_ph_hdr)
 * to out, comparing with the tuple as it is on page *before* the change;
 * returns its length (at most PH_HDR_MAX_IMAGE).  t_ctid is left out
 * unless with_ctid and it changes.
 */
Size
ph_hdr_encode(Page page, const PhHeaderChange *c, bool with_ctid, char *out)
{
	HeapTupleHeader htup;
	xl_ph_hdr	h;
	char	   *p = out + SizeOfPhHdr;

	htup = (HeapTupleHeader) PageGetItem(page, PageGetItemId(page, c->offnum));
	h.offnum = c->offnum;
	h.t_infomask = c->infomask;
	h.t_infomask2 = c->infomask2;
	h.flags = 0;
	memcpy(p, &c->xmax, sizeof(TransactionId));
	p += sizeof(TransactionId);
	if (c->xmin != htup->t_choice.t_heap.t_xmin)
	{
		h.flags |= XLPH_HDR_XMIN;
		memcpy(p, &c->xmin, sizeof(TransactionId));
		p += sizeof(TransactionId);
	}
	if (with_ctid && !ItemPointerEquals((ItemPointer) &c->ctid, &htup->t_ctid))
	{
		h.flags |= XLPH_HDR_CTID;
		memcpy(p, &c->ctid, sizeof(ItemPointerData));
		p += sizeof(ItemPointerData);
	}
	memcpy(out, &h, SizeOfPhHdr);
	return p - out;
}

/*
 * ph_wal_set_headers: see wal.h.  Sets the page's prune hint (as heap
 * does for deletes) when a change leaves a prunable version.
 */
void
ph_wal_set_headers(Relation rel, Buffer buf, BlockNumber vblock,
				   const PhHeaderChange *changes, int n, uint8 vmbits,
				   const PhLogicalInfo *li)
{
	Page		page = BufferGetPage(buf);
	Buffer		vmbuf = InvalidBuffer;
	bool		vmclear = vmbits != 0 && PageIsAllVisible(page);
	bool		allvis_clear = vmclear && (vmbits & VISIBILITYMAP_ALL_VISIBLE);
	bool		frozen_cleared = false;
	TransactionId prune_xid = GetCurrentTransactionIdIfAny();
	bool		prunable = false;
	char	   *img;
	Size		imglen = 0;
	PhLogicalWal lw;
	bool		logical;
	int			i;

	/* a row-level meaning is given for one tuple only */
	Assert(li == NULL || n == 1);
	logical = li != NULL && ph_logical_prepare(rel, 0, li, &lw);
	for (i = 0; i < n; i++)
	{
		ph_check_offset(rel, page, vblock, changes[i].offnum);
		if (ph_change_prunes(&changes[i]))
			prunable = true;
	}
	if (!TransactionIdIsValid(prune_xid))
		prunable = false;
	/* no palloc inside the critical section */
	img = palloc(Max(n, 1) * PH_HDR_MAX_IMAGE);
	if (vmclear)
		visibilitymap_pin(rel, vblock, &vmbuf);

	START_CRIT_SECTION();
	for (i = 0; i < n; i++)
	{
		/* image first: it compares with the tuple before the change */
		imglen += ph_hdr_encode(page, &changes[i], true, img + imglen);
		ph_apply_header_change(page, &changes[i], false);
	}
	if (prunable)
		PageSetPrunable(page, prune_xid);
	if (allvis_clear)
	{
		PageClearAllVisible(page);
		visibilitymap_clear(rel, vblock, vmbuf, VISIBILITYMAP_VALID_BITS);
	}
	else if (vmclear)
		frozen_cleared = visibilitymap_clear(rel, vblock, vmbuf,
											 VISIBILITYMAP_ALL_FROZEN);
	MarkBufferDirty(buf);

	if (RelationNeedsWAL(rel))
	{
		xl_ph_set_headers xlrec;
		XLogRecPtr	recptr;

		xlrec.vblock = vblock;
		xlrec.nchanges = n;
		xlrec.flags = (allvis_clear ? XLPH_VM_CLEARED : 0) |
			(frozen_cleared ? XLPH_FROZEN_CLEARED : 0) |
			(prunable ? XLPH_SET_PRUNABLE : 0) |
			(logical ? XLPH_LOGICAL : 0);
		XLogBeginInsert();
		XLogRegisterData((char *) &xlrec, SizeOfPhSetHeaders);
		if (logical)
			ph_logical_register(&lw);
		XLogRegisterBuffer(0, buf, REGBUF_STANDARD);
		XLogRegisterBufData(0, img, imglen);
		recptr = XLogInsert(PHANTOM_RMGR_ID, XLOG_PH_SET_HEADERS);
		PageSetLSN(page, recptr);
	}
	END_CRIT_SECTION();

	if (BufferIsValid(vmbuf))
		ReleaseBuffer(vmbuf);
	pfree(img);
}

/*
 * ph_wal_update: see wal.h.  oldhdr->ctid is ignored: the old version's
 * t_ctid is set to the new version's TID.
 */
void
ph_wal_update(Relation rel, Buffer oldbuf, BlockNumber oldvblock,
			  const PhHeaderChange *oldhdr, Buffer newbuf,
			  BlockNumber newvblock, HeapTuple newtup,
			  const PhLogicalInfo *li)
{
	Page		oldpage = BufferGetPage(oldbuf);
	Page		newpage = BufferGetPage(newbuf);
	bool		samepage = (oldbuf == newbuf);
	Buffer		oldvm = InvalidBuffer;
	Buffer		newvm = InvalidBuffer;
	bool		oldclear = PageIsAllVisible(oldpage);
	bool		newclear = !samepage && PageIsAllVisible(newpage);
	TransactionId prune_xid = GetCurrentTransactionIdIfAny();
	OffsetNumber newoff;
	HeapTupleHeader olditem;
	HeapTupleHeader newitem;
	char		oldimg[PH_HDR_MAX_IMAGE];
	Size		oldimglen;
	PhLogicalWal lw;
	bool		logical;

	Assert(samepage == (oldvblock == newvblock));
	logical = li != NULL && ph_logical_prepare(rel, 0, li, &lw);
	ph_check_offset(rel, oldpage, oldvblock, oldhdr->offnum);
	ph_check_room(rel, newpage, newvblock, MAXALIGN(newtup->t_len));
	if (oldclear)
		visibilitymap_pin(rel, oldvblock, &oldvm);
	if (newclear)
		visibilitymap_pin(rel, newvblock, &newvm);

	START_CRIT_SECTION();
	oldimglen = ph_hdr_encode(oldpage, oldhdr, false, oldimg);
	ph_apply_header_change(oldpage, oldhdr, true);
	newoff = ph_put_tuple(newpage, newvblock, newtup, false);
	olditem = (HeapTupleHeader) PageGetItem(oldpage,
											PageGetItemId(oldpage, oldhdr->offnum));
	olditem->t_ctid = newtup->t_self;
	newitem = (HeapTupleHeader) PageGetItem(newpage,
											PageGetItemId(newpage, newoff));
	if (TransactionIdIsValid(prune_xid))
		PageSetPrunable(oldpage, prune_xid);
	if (oldclear)
	{
		PageClearAllVisible(oldpage);
		visibilitymap_clear(rel, oldvblock, oldvm, VISIBILITYMAP_VALID_BITS);
	}
	if (newclear)
	{
		PageClearAllVisible(newpage);
		visibilitymap_clear(rel, newvblock, newvm, VISIBILITYMAP_VALID_BITS);
	}
	MarkBufferDirty(oldbuf);
	if (!samepage)
		MarkBufferDirty(newbuf);

	if (RelationNeedsWAL(rel))
	{
		xl_ph_update xlrec;
		PhTupleWal	w;
		XLogRecPtr	recptr;
		bool		init = (!samepage && newoff == FirstOffsetNumber &&
							PageGetMaxOffsetNumber(newpage) == FirstOffsetNumber);

		xlrec.oldvblock = oldvblock;
		xlrec.newvblock = newvblock;
		xlrec.newoff = newoff;
		xlrec.flags = (init ? XLPH_INIT_PAGE : 0) |
			(newclear ? XLPH_VM_CLEARED : 0) |
			(oldclear ? XLPH_OLD_VM_CLEARED : 0) |
			(TransactionIdIsValid(prune_xid) ? XLPH_SET_PRUNABLE : 0) |
			(logical ? XLPH_LOGICAL : 0);
		ph_tuple_wal_prepare(newitem, newvblock, newoff, &w);
		/* decoding needs the whole new tuple, as heap logs it then */
		if (samepage && !logical)
			ph_tuple_wal_share(&w, newitem, newtup->t_len, olditem,
							   ItemIdGetLength(PageGetItemId(oldpage,
															 oldhdr->offnum)));

		XLogBeginInsert();
		XLogRegisterData((char *) &xlrec, SizeOfPhUpdate);
		XLogRegisterData(oldimg, oldimglen);
		if (logical)
			ph_logical_register(&lw);
		XLogRegisterBuffer(0, newbuf, REGBUF_STANDARD |
						   (init ? REGBUF_WILL_INIT : 0) |
						   (logical ? REGBUF_KEEP_DATA : 0));
		if (!samepage)
			XLogRegisterBuffer(1, oldbuf, REGBUF_STANDARD);
		ph_tuple_wal_register(0, &w, newitem, newtup->t_len);
		recptr = XLogInsert(PHANTOM_RMGR_ID, XLOG_PH_UPDATE);
		PageSetLSN(newpage, recptr);
		if (!samepage)
			PageSetLSN(oldpage, recptr);
	}
	END_CRIT_SECTION();

	if (BufferIsValid(oldvm))
		ReleaseBuffer(oldvm);
	if (BufferIsValid(newvm))
		ReleaseBuffer(newvm);
}
