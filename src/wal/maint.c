/*-------------------------------------------------------------------------
 *
 * maint.c
 *	  The page-maintenance WAL primitives used by pruning and VACUUM:
 *	  prune (heap_page_prune_execute's arrays), freeze (heap's freeze
 *	  plans) and set-visible (PD_ALL_VISIBLE plus the vblock's VM bits).
 *	  Each applies the change and logs it in one critical section.
 *
 *	  conflict_xid / cutoff_xid follow heap's latestRemovedXid convention:
 *	  on a hot standby, queries whose snapshot xmin is <= that xid are
 *	  cancelled before redo applies the change.
 *
 * src/wal/maint.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/heapam_xlog.h"
#include "access/htup_details.h"
#include "access/visibilitymap.h"
#include "access/xloginsert.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

#include "phantom/lsm/storage_int.h"
#include "phantom/wal/records.h"

/*
 * ph_check_prune_items errors out (before any change) unless every offset
 * names a used line pointer of the page: a bad array would otherwise
 * write line pointers past the end of the array, on the primary and in
 * redo alike.
 */
static void
ph_check_prune_items(Relation rel, Page page, BlockNumber vblock,
					 const OffsetNumber *offs, int n)
{
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	int			i;

	for (i = 0; i < n; i++)
	{
		if (offs[i] < FirstOffsetNumber || offs[i] > maxoff ||
			!ItemIdIsUsed(PageGetItemId(page, offs[i])))
			elog(ERROR, "phantom: prune of invalid item (%u,%u) of \"%s\"",
				 vblock, offs[i], RelationGetRelationName(rel));
	}
}

/*
 * ph_wal_prune: see wal.h.  The caller holds a cleanup lock on buf and
 * sets the page's hint fields (pd_prune_xid, PD_PAGE_FULL) itself.
 */
void
ph_wal_prune(Relation rel, Buffer buf, BlockNumber vblock,
			 TransactionId conflict_xid,
			 OffsetNumber *redirected, int nredirected,
			 OffsetNumber *nowdead, int ndead,
			 OffsetNumber *nowunused, int nunused)
{
	Page		page = BufferGetPage(buf);

	if (nredirected + ndead + nunused == 0)
		return;
	ph_check_prune_items(rel, page, vblock, redirected, 2 * nredirected);
	ph_check_prune_items(rel, page, vblock, nowdead, ndead);
	ph_check_prune_items(rel, page, vblock, nowunused, nunused);

	START_CRIT_SECTION();
	heap_page_prune_execute(buf, redirected, nredirected, nowdead, ndead,
							nowunused, nunused);
	MarkBufferDirty(buf);
	if (RelationNeedsWAL(rel))
	{
		xl_ph_prune xlrec;
		XLogRecPtr	recptr;

		xlrec.vblock = vblock;
		xlrec.conflict_xid = conflict_xid;
		xlrec.nredirected = nredirected;
		xlrec.ndead = ndead;
		xlrec.nunused = nunused;
		XLogBeginInsert();
		XLogRegisterData((char *) &xlrec, SizeOfPhPrune);
		XLogRegisterBuffer(0, buf, REGBUF_STANDARD);
		if (nredirected > 0)
			XLogRegisterBufData(0, (char *) redirected,
								nredirected * 2 * sizeof(OffsetNumber));
		if (ndead > 0)
			XLogRegisterBufData(0, (char *) nowdead,
								ndead * sizeof(OffsetNumber));
		if (nunused > 0)
			XLogRegisterBufData(0, (char *) nowunused,
								nunused * sizeof(OffsetNumber));
		recptr = XLogInsert(PHANTOM_RMGR_ID, XLOG_PH_PRUNE);
		PageSetLSN(page, recptr);
	}
	END_CRIT_SECTION();
}

/*
 * ph_wal_freeze: see wal.h.  plans[i].offset names the tuple.
 */
void
ph_wal_freeze(Relation rel, Buffer buf, BlockNumber vblock,
			  TransactionId conflict_xid,
			  xl_heap_freeze_tuple *plans, int nplans)
{
	Page		page = BufferGetPage(buf);
	int			i;

	if (nplans <= 0)
		return;
	for (i = 0; i < nplans; i++)
	{
		OffsetNumber off = plans[i].offset;

		if (off < FirstOffsetNumber || off > PageGetMaxOffsetNumber(page) ||
			!ItemIdIsNormal(PageGetItemId(page, off)))
			elog(ERROR, "phantom: freeze plan for no tuple at (%u,%u) of \"%s\"",
				 vblock, off, RelationGetRelationName(rel));
	}

	START_CRIT_SECTION();
	for (i = 0; i < nplans; i++)
	{
		ItemId		lp = PageGetItemId(page, plans[i].offset);

		heap_execute_freeze_tuple((HeapTupleHeader) PageGetItem(page, lp),
								  &plans[i]);
	}
	MarkBufferDirty(buf);
	if (RelationNeedsWAL(rel))
	{
		xl_ph_freeze xlrec;
		XLogRecPtr	recptr;

		xlrec.vblock = vblock;
		xlrec.conflict_xid = conflict_xid;
		xlrec.nplans = nplans;
		XLogBeginInsert();
		XLogRegisterData((char *) &xlrec, SizeOfPhFreeze);
		XLogRegisterBuffer(0, buf, REGBUF_STANDARD);
		XLogRegisterBufData(0, (char *) plans,
							nplans * sizeof(xl_heap_freeze_tuple));
		recptr = XLogInsert(PHANTOM_RMGR_ID, XLOG_PH_FREEZE);
		PageSetLSN(page, recptr);
	}
	END_CRIT_SECTION();
}

/*
 * ph_wal_set_visible: see wal.h.  The VM page is pinned before and locked
 * after the data page (which the caller holds exclusively); nothing is
 * logged if page and map already say so.
 */
void
ph_wal_set_visible(Relation rel, Buffer buf, BlockNumber vblock,
				   TransactionId cutoff_xid, uint8 vmflags)
{
	Page		page = BufferGetPage(buf);
	Buffer		vmbuf = InvalidBuffer;
	Page		vmpage;
	uint8		status;

	vmflags |= VISIBILITYMAP_ALL_VISIBLE;
	vmflags &= VISIBILITYMAP_VALID_BITS;
	status = visibilitymap_get_status(rel, vblock, &vmbuf);
	if (PageIsAllVisible(page) && (status & vmflags) == vmflags)
	{
		if (BufferIsValid(vmbuf))
			ReleaseBuffer(vmbuf);
		return;
	}
	if (!BufferIsValid(vmbuf) ||
		BufferGetBlockNumber(vmbuf) != ph_vm_mapblock(vblock))
	{
		if (BufferIsValid(vmbuf))
			ReleaseBuffer(vmbuf);
		vmbuf = InvalidBuffer;
		visibilitymap_pin(rel, vblock, &vmbuf);
	}
	LockBuffer(vmbuf, BUFFER_LOCK_EXCLUSIVE);
	vmpage = BufferGetPage(vmbuf);

	START_CRIT_SECTION();
	PageSetAllVisible(page);
	MarkBufferDirty(buf);
	ph_vm_page_set(vmpage, vblock, vmflags);
	MarkBufferDirty(vmbuf);
	if (RelationNeedsWAL(rel))
	{
		xl_ph_visible xlrec;
		XLogRecPtr	recptr;

		xlrec.vblock = vblock;
		xlrec.cutoff_xid = cutoff_xid;
		xlrec.vmflags = vmflags;
		XLogBeginInsert();
		XLogRegisterData((char *) &xlrec, SizeOfPhVisible);
		XLogRegisterBuffer(0, buf, REGBUF_STANDARD);
		XLogRegisterBuffer(1, vmbuf, 0);
		recptr = XLogInsert(PHANTOM_RMGR_ID, XLOG_PH_VISIBLE);
		PageSetLSN(page, recptr);
		PageSetLSN(vmpage, recptr);
	}
	END_CRIT_SECTION();
	UnlockReleaseBuffer(vmbuf);
}
