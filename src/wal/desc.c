/*-------------------------------------------------------------------------
 *
 * desc.c
 *	  rm_desc, rm_identify and rm_mask of phantom's resource manager: what
 *	  pg_waldump prints for phantom records, and which page bytes
 *	  wal_consistency_checking = 'phantom' ignores.
 *
 *	  Masking follows the same reasoning as heap's: hint bits (tuple
 *	  infomask commit hints, page-level PD_PAGE_FULL / PD_HAS_FREE_LINES /
 *	  PD_ALL_VISIBLE, pd_prune_xid), the LSN and checksum, the unused hole
 *	  and alignment padding can legitimately differ between primary and
 *	  replay; so can t_cid, which redo does not restore.  Meta, map and
 *	  free pages (PhantomSpecial) are compared exactly apart from LSN,
 *	  checksum and hole.
 *
 * src/wal/desc.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/bufmask.h"
#include "access/heapam_xlog.h"
#include "access/htup_details.h"

#include "phantom/lsm/storage_int.h"
#include "phantom/wal/records.h"

/*
 * phantom_identify: the name of a record type, for pg_waldump --stats
 * and error context.
 */
const char *
phantom_identify(uint8 info)
{
	switch (info & XLR_RMGR_INFO_MASK)
	{
		case XLOG_PH_INIT_META:
			return "INIT_META";
		case XLOG_PH_NEW_VBLOCK:
			return "NEW_VBLOCK";
		case XLOG_PH_INSERT:
			return "INSERT";
		case XLOG_PH_MULTI_INSERT:
			return "MULTI_INSERT";
		case XLOG_PH_SET_HEADERS:
			return "SET_HEADERS";
		case XLOG_PH_UPDATE:
			return "UPDATE";
		case XLOG_PH_PRUNE:
			return "PRUNE";
		case XLOG_PH_FREEZE:
			return "FREEZE";
		case XLOG_PH_VISIBLE:
			return "VISIBLE";
		case XLOG_PH_MAP_COLD:
			return "MAP_COLD";
		case XLOG_PH_THAW:
			return "THAW";
		case XLOG_PH_FREE_POP:
			return "FREE_POP";
		case XLOG_PH_FREE_PUSH:
			return "FREE_PUSH";
		case XLOG_PH_SHRINK:
			return "SHRINK";
		case XLOG_PH_COUNTERS:
			return "COUNTERS";
		case XLOG_PH_VTRUNCATE:
			return "VTRUNCATE";
	}
	return NULL;
}

/* a physical block number, or "none" */
static void
desc_block(StringInfo buf, const char *label, BlockNumber blk)
{
	if (BlockNumberIsValid(blk))
		appendStringInfo(buf, " %s %u", label, blk);
	else
		appendStringInfo(buf, " %s none", label);
}

static void
desc_flags(StringInfo buf, uint8 flags)
{
	if (flags & XLPH_INIT_PAGE)
		appendStringInfoString(buf, " init");
	if (flags & XLPH_VM_CLEARED)
		appendStringInfoString(buf, " vm_cleared");
	if (flags & XLPH_FROZEN_CLEARED)
		appendStringInfoString(buf, " frozen_cleared");
	if (flags & XLPH_OLD_VM_CLEARED)
		appendStringInfoString(buf, " old_vm_cleared");
	if (flags & XLPH_SET_PRUNABLE)
		appendStringInfoString(buf, " prunable");
	if (flags & XLPH_ALL_FROZEN_SET)
		appendStringInfoString(buf, " all_frozen_set");
}

/*
 * desc_logical: the logical-decoding trailer at p (records.h), if the
 * record has one; end is the end of the main data.
 */
static void
desc_logical(StringInfo buf, uint8 flags, const char *p, const char *end)
{
	xl_ph_logical lg;

	if (!(flags & XLPH_LOGICAL) || p + SizeOfPhLogical > end)
		return;
	memcpy(&lg, p, SizeOfPhLogical);
	appendStringInfoString(buf, " logical");
	if (lg.lflags & XLPH_LOG_SPECULATIVE)
		appendStringInfoString(buf, " speculative");
	if (lg.lflags & XLPH_LOG_LAST_IN_MULTI)
		appendStringInfoString(buf, " last_in_multi");
	if (lg.lflags & XLPH_LOG_DELETE)
		appendStringInfoString(buf, " delete");
	if (lg.lflags & XLPH_LOG_CONFIRM)
		appendStringInfoString(buf, " confirm");
	if (lg.lflags & XLPH_LOG_SUPER_DELETE)
		appendStringInfoString(buf, " super_delete");
	if (lg.lflags & (XLPH_LOG_OLD_KEY | XLPH_LOG_OLD_TUPLE))
		appendStringInfo(buf, " %s (%d bytes)",
						 (lg.lflags & XLPH_LOG_OLD_TUPLE) ? "old_tuple" : "old_key",
						 (int) (end - p - SizeOfPhLogical));
}

/*
 * phantom_desc: the fields of a record in words.  Block references
 * (relation, fork, physical block) are printed by pg_waldump itself.
 */
void
phantom_desc(StringInfo buf, XLogReaderState *record)
{
	char	   *rec = XLogRecGetData(record);
	char	   *end = rec + XLogRecGetDataLen(record);
	uint8		info = XLogRecGetInfo(record) & XLR_RMGR_INFO_MASK;

	switch (info)
	{
		case XLOG_PH_INIT_META:
			appendStringInfoString(buf, "metapage created");
			break;
		case XLOG_PH_NEW_VBLOCK:
			{
				xl_ph_new_vblock xl;

				memcpy(&xl, rec, SizeOfPhNewVblock);
				appendStringInfo(buf, "vblock %u lane %d", xl.vblock,
								 xl.lane == PH_NO_LANE ? -1 : (int) xl.lane);
				desc_block(buf, "free_head", xl.free_head);
				appendStringInfo(buf, " popped %u%s", xl.npopped,
								 (xl.flags & XLPH_NEW_MAPPAGE) ? " new_map_page" : "");
				break;
			}
		case XLOG_PH_INSERT:
			{
				xl_ph_insert xl;

				memcpy(&xl, rec, SizeOfPhInsert);
				appendStringInfo(buf, "tid (%u,%u)", xl.vblock, xl.offnum);
				desc_flags(buf, xl.flags);
				desc_logical(buf, xl.flags, rec + SizeOfPhInsert, end);
				break;
			}
		case XLOG_PH_MULTI_INSERT:
			{
				xl_ph_multi_insert xl;

				memcpy(&xl, rec, SizeOfPhMultiInsert);
				appendStringInfo(buf, "vblock %u ntuples %u", xl.vblock, xl.ntuples);
				desc_flags(buf, xl.flags);
				desc_logical(buf, xl.flags, rec + SizeOfPhMultiInsert, end);
				break;
			}
		case XLOG_PH_SET_HEADERS:
			{
				xl_ph_set_headers xl;

				memcpy(&xl, rec, SizeOfPhSetHeaders);
				appendStringInfo(buf, "vblock %u nchanges %u",
								 xl.vblock, xl.nchanges);
				desc_flags(buf, xl.flags);
				desc_logical(buf, xl.flags, rec + SizeOfPhSetHeaders, end);
				break;
			}
		case XLOG_PH_UPDATE:
			{
				xl_ph_update xl;
				PhHeaderChange old;
				uint8		oldflags;
				const char *trailer;

				memset(&old, 0, sizeof(old));
				memcpy(&xl, rec, SizeOfPhUpdate);
				trailer = ph_hdr_decode(rec + SizeOfPhUpdate, end, &old,
										&oldflags);
				appendStringInfo(buf, "old (%u,%u) xmax %u infomask 0x%04x infomask2 0x%04x new (%u,%u)",
								 xl.oldvblock, old.offnum, old.xmax,
								 old.infomask, old.infomask2,
								 xl.newvblock, xl.newoff);
				desc_flags(buf, xl.flags);
				desc_logical(buf, xl.flags, trailer, end);
				break;
			}
		case XLOG_PH_PRUNE:
			{
				xl_ph_prune xl;

				memcpy(&xl, rec, SizeOfPhPrune);
				appendStringInfo(buf, "vblock %u conflict_xid %u nredirected %u ndead %u nunused %u",
								 xl.vblock, xl.conflict_xid, xl.nredirected,
								 xl.ndead, xl.nunused);
				break;
			}
		case XLOG_PH_FREEZE:
			{
				xl_ph_freeze xl;

				memcpy(&xl, rec, SizeOfPhFreeze);
				appendStringInfo(buf, "vblock %u conflict_xid %u nplans %u",
								 xl.vblock, xl.conflict_xid, xl.nplans);
				break;
			}
		case XLOG_PH_VISIBLE:
			{
				xl_ph_visible xl;

				memcpy(&xl, rec, SizeOfPhVisible);
				appendStringInfo(buf, "vblock %u cutoff_xid %u flags 0x%02x",
								 xl.vblock, xl.cutoff_xid, xl.vmflags);
				break;
			}
		case XLOG_PH_MAP_COLD:
			{
				xl_ph_map_cold xl;

				memcpy(&xl, rec, SizeOfPhMapCold);
				appendStringInfo(buf, "vblock %u -> run page %u, hot page freed;",
								 xl.vblock, xl.runblk);
				desc_block(buf, "next", xl.next_free);
				break;
			}
		case XLOG_PH_THAW:
			{
				xl_ph_thaw	xl;

				memcpy(&xl, rec, SizeOfPhThaw);
				appendStringInfo(buf, "vblock %u from run page %u", xl.vblock, xl.runblk);
				desc_block(buf, "free_head", xl.free_head);
				appendStringInfo(buf, " popped %u", xl.npopped);
				break;
			}
		case XLOG_PH_FREE_POP:
			{
				xl_ph_free_pop xl;

				memcpy(&xl, rec, SizeOfPhFreePop);
				appendStringInfo(buf, "popped %u", xl.popped);
				desc_block(buf, "free_head", xl.free_head);
				break;
			}
		case XLOG_PH_FREE_PUSH:
			{
				xl_ph_free_push xl;

				memcpy(&xl, rec, SizeOfPhFreePush);
				desc_block(buf, "next", xl.next_free);
				break;
			}
		case XLOG_PH_VTRUNCATE:
			{
				xl_ph_vtruncate xl;

				memcpy(&xl, rec, SizeOfPhVtruncate);
				appendStringInfo(buf, "nvblocks %u%s", xl.vblock,
								 (xl.flags & PH_VTRUNC_FREED) ? " page freed" : "");
				if (xl.flags & PH_VTRUNC_FREED)
					desc_block(buf, "next", xl.next_free);
				break;
			}
		case XLOG_PH_SHRINK:
			{
				xl_ph_shrink xl;

				memcpy(&xl, rec, SizeOfPhShrink);
				if (xl.op == PH_SHRINK_RESET_FREE)
					appendStringInfoString(buf, "reset free list");
				else if (xl.op == PH_SHRINK_MOVE &&
						 (xl.flags & PH_SHRINK_MAPPAGE) != 0)
					appendStringInfo(buf, "move map page %u from %u to %u",
									 xl.mapidx, xl.src, xl.dst);
				else if (xl.op == PH_SHRINK_MOVE &&
						 (xl.flags & PH_SHRINK_REWRITE) != 0)
					appendStringInfo(buf, "run rewrite: %u map entries to %u",
									 xl.nentries, xl.dst);
				else if (xl.op == PH_SHRINK_MOVE)
					appendStringInfo(buf, "move page %u to %u, %u map entries%s",
									 xl.src, xl.dst, xl.nentries,
									 (xl.flags & PH_SHRINK_HAS_IMAGE) ? ", image" : "");
				else
					appendStringInfo(buf, "truncate %u/%u/%u to %u blocks",
									 xl.node.spcNode, xl.node.dbNode,
									 xl.node.relNode, xl.nblocks);
				break;
			}
		case XLOG_PH_COUNTERS:
			{
				xl_ph_counters xl;

				memcpy(&xl, rec, SizeOfPhCounters);
				appendStringInfo(buf, "compacted +" UINT64_FORMAT " written +" UINT64_FORMAT,
								 xl.compacted_bytes, xl.written_bytes);
				break;
			}
	}
}

/*
 * ph_mask_hot_page masks what may differ on a heap-format hot page.
 */
static void
ph_mask_hot_page(Page page, BlockNumber blkno)
{
	OffsetNumber off;
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);

	mask_page_hint_bits(page);
	mask_unused_space(page);

	for (off = FirstOffsetNumber; off <= maxoff; off++)
	{
		ItemId		lp = PageGetItemId(page, off);
		char	   *item;

		if (!ItemIdHasStorage(lp))
			continue;
		item = PageGetItem(page, lp);
		if (ItemIdIsNormal(lp))
		{
			HeapTupleHeader htup = (HeapTupleHeader) item;

			/*
			 * Commit hints are set without WAL.  Once xmin is frozen only
			 * the xmax hints can still change that way.
			 */
			if (HeapTupleHeaderXminFrozen(htup))
				htup->t_infomask &= ~(HEAP_XMAX_COMMITTED | HEAP_XMAX_INVALID);
			else
				htup->t_infomask &= ~HEAP_XACT_MASK;
			/* redo writes FirstCommandId */
			htup->t_choice.t_heap.t_field3.t_cid = MASK_MARKER;
		}
		/* bytes between the item's length and its MAXALIGNed end */
		{
			int			len = ItemIdGetLength(lp);
			int			pad = MAXALIGN(len) - len;

			if (pad > 0)
				memset(item + len, MASK_MARKER, pad);
		}
	}
}

/*
 * phantom_mask: rm_mask.  Telling the page kinds apart: meta, map, run and
 * free pages have a PhantomSpecial; hot pages (and VM pages, whose bits lie
 * entirely in the masked hole) have no special space.
 */
void
phantom_mask(char *pagedata, BlockNumber blkno)
{
	Page		page = (Page) pagedata;

	mask_page_lsn_and_checksum(page);
	if (PageIsNew(page))
		return;
	if (PageGetSpecialSize(page) == MAXALIGN(sizeof(PhantomSpecial)))
	{
		mask_unused_space(page);
		return;
	}
	ph_mask_hot_page(page, blkno);
}
