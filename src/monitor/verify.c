/*-------------------------------------------------------------------------
 *
 * verify.c
 *	  phantom.verify(rel, check_indexes): a read-only consistency check of a
 *	  phantom table's physical structure and, optionally, of its indexes.
 *
 *	  It returns one row per problem found (ok = false, detail naming the
 *	  vblock and the physical block) and then one summary row per check in
 *	  a fixed order (ok = true when that check found nothing).  Corruption
 *	  is reported as rows, never as a crash: every page is copied out of
 *	  shared buffers inside a subtransaction, so a page the buffer manager
 *	  refuses (bad checksum, bad header) becomes a row too, and frames are
 *	  decoded with the status-returning decoder of runframe.c, which never
 *	  raises errors.
 *
 *	  Checks, in order:
 *	    metapage        kind, magic, version, nvblocks vs map pages, map
 *	                    directory, lanes, free-list head
 *	    block map       map page kinds and indexes, entries in range,
 *	                    every allocated vblock mapped, none past nvblocks
 *	    page references no physical page referenced twice (or as a hot page
 *	                    and a run page), none pointing at meta/map pages
 *	    hot pages       heap-format header, line pointers within bounds,
 *	                    tuple headers, t_ctid block < nvblocks
 *	    cold frames     run page kind, frame present, zstd frame decodes
 *	                    with its checksum, decoded page as for hot pages
 *	    cold invariant  every cold tuple frozen with an invalid xmax, no
 *	                    LP_DEAD items
 *	    visibility map  all-visible and all-frozen set for cold vblocks
 *	    free list       pages of kind free, referenced by nothing, no
 *	                    cycle, length equal to the metapage's nfree
 *	    index <name>    (check_indexes) amcheck's bt_index_check(index,
 *	                    heapallindexed) for btree indexes when amcheck is
 *	                    installed; otherwise every index entry points to an
 *	                    existing, used line pointer, and for non-partial
 *	                    indexes the index returns as many visible rows as a
 *	                    sequential scan
 *
 *	  Locking: ShareLock on the table for the whole call, so no DML, VACUUM
 *	  or compaction (all of which conflict with it) can move vblocks while
 *	  the map is compared with the pages; reads go on.  Each page is copied
 *	  under its share content lock and examined on the copy.  Indexes are
 *	  opened with AccessShareLock.
 *
 * src/monitor/verify.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <zstd.h>

#include "access/amapi.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/visibilitymap.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/smgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

#include "phantom/lsm/runframe.h"
#include "phantom/lsm/storage_int.h"
#include "phantom/monitor/monitor.h"
#include "phantom/tableam/tableam.h"

PG_FUNCTION_INFO_V1(phantom_verify);

/* The checks, in the order of the summary rows. */
typedef enum VerifyCheck
{
	VC_META,
	VC_MAP,
	VC_REFS,
	VC_HOT,
	VC_COLD,
	VC_COLD_INV,
	VC_VM,
	VC_FREE,
	VC_NCHECKS
} VerifyCheck;

static const char *const check_names[VC_NCHECKS] = {
	"metapage", "block map", "page references", "hot pages",
	"cold frames", "cold invariant", "visibility map", "free list"
};

/* Problem rows printed per check; the summary row gives the total. */
#define VERIFY_MAX_ROWS		100

/* What references a physical block (VerifyState.phys). */
#define REF_NONE	0
#define REF_META	1
#define REF_MAP		2
#define REF_HOT		3
#define REF_RUN		4
#define REF_FREE	5

typedef struct VerifyState
{
	Relation	rel;
	Tuplestorestate *ts;
	TupleDesc	td;
	BlockNumber nblocks;		/* physical pages of the main fork */
	BlockNumber nvblocks;
	PhMapEntry *map;			/* entry per vblock (nvblocks) */
	uint8	   *phys;			/* REF_* per physical block */
	BlockNumber *owner;			/* vblock of a REF_HOT physical block */
	int64		problems[VC_NCHECKS];
	int64		checked[VC_NCHECKS];
	const char *unit[VC_NCHECKS];
	int64		unreferenced;
	bool		empty;			/* no metapage yet: an empty table */
} VerifyState;

/* One zstd decompression context per backend, kept (malloc'd by zstd). */
static ZSTD_DCtx *verify_dctx = NULL;

/*
 * verify_row appends a result row.
 */
static void
verify_row(VerifyState *vs, const char *check, bool ok, const char *detail)
{
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	values[0] = CStringGetTextDatum(check);
	values[1] = BoolGetDatum(ok);
	if (detail)
		values[2] = CStringGetTextDatum(detail);
	else
		nulls[2] = true;
	tuplestore_putvalues(vs->ts, vs->td, values, nulls);
}

/*
 * problem records a problem of check c and prints it (up to
 * VERIFY_MAX_ROWS rows per check).
 */
static void
problem(VerifyState *vs, VerifyCheck c, const char *fmt,...)
pg_attribute_printf(3, 4);

static void
problem(VerifyState *vs, VerifyCheck c, const char *fmt,...)
{
	va_list		ap;
	char		buf[512];

	vs->problems[c]++;
	if (vs->problems[c] > VERIFY_MAX_ROWS)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	verify_row(vs, check_names[c], false, buf);
}

/*
 * read_page copies physical block blk of the main fork into dest.  The
 * read runs in a subtransaction: if the buffer manager raises an error
 * (invalid page header or checksum, I/O error), the error becomes a
 * problem of check c and the function returns false.
 */
static bool
read_page(VerifyState *vs, BlockNumber blk, char *dest, VerifyCheck c,
		  const char *what)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	bool		ok = true;

	if (blk >= vs->nblocks)
	{
		problem(vs, c, "%s: block %u is beyond the end of the relation (%u blocks)",
				what, blk, vs->nblocks);
		return false;
	}

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		Buffer		buf;

		buf = ReadBufferExtended(vs->rel, MAIN_FORKNUM, blk, RBM_NORMAL,
								 NULL);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		memcpy(dest, BufferGetPage(buf), BLCKSZ);
		UnlockReleaseBuffer(buf);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		problem(vs, c, "%s: physical block %u cannot be read: %s",
				what, blk, edata->message);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * special_kind returns the PhantomSpecial kind of a page copy, or 0 when
 * the page has no sane phantom special space.
 */
static uint16
special_kind(Page page)
{
	PageHeader	ph = (PageHeader) page;

	if (PageIsNew(page) ||
		ph->pd_special != BLCKSZ - MAXALIGN(sizeof(PhantomSpecial)) ||
		ph->pd_lower < SizeOfPageHeaderData ||
		ph->pd_lower > ph->pd_upper || ph->pd_upper > ph->pd_special)
		return 0;
	return PhantomPageGetSpecial(page)->kind;
}

/*
 * check_metapage validates block 0, returns its header in *meta_out and
 * its map directory in *mappages (palloc'd), and marks the map pages in
 * vs->phys.  Returns false when the rest cannot be checked.
 */
static bool
check_metapage(VerifyState *vs, PhantomMetaPageData *meta_out,
			   BlockNumber **mappages)
{
	PGAlignedBlock page;
	PhantomMetaPageData *meta;
	uint32		i;
	BlockNumber needed;

	vs->unit[VC_META] = "metapage";
	if (!read_page(vs, PH_METAPAGE_BLKNO, page.data, VC_META, "metapage"))
		return false;
	vs->checked[VC_META] = 1;
	if (PageIsNew(page.data) && vs->nblocks == 1)
	{
		/*
		 * A crash between extending the file for the metapage and logging
		 * its initialisation leaves one zero page: ph_meta_read treats the
		 * relation as empty, and so does verify.
		 */
		vs->empty = true;
		return false;
	}
	if (special_kind(page.data) != PH_KIND_META)
	{
		problem(vs, VC_META, "block 0 is not a phantom metapage (%s)",
				PageIsNew(page.data) ? "all zero" : "wrong page layout or kind");
		return false;
	}
	meta = PhantomPageGetMeta(page.data);
	if (meta->magic != PH_MAGIC)
	{
		problem(vs, VC_META, "block 0: magic 0x%08x, expected 0x%08x",
				meta->magic, PH_MAGIC);
		return false;
	}
	if (meta->version != PH_VERSION)
	{
		problem(vs, VC_META, "block 0: storage version %u, expected %u",
				meta->version, PH_VERSION);
		return false;
	}
	if (meta->nmappages > PH_META_MAX_MAPPAGES)
	{
		problem(vs, VC_META, "block 0: %u map pages, at most %u possible",
				meta->nmappages, (uint32) PH_META_MAX_MAPPAGES);
		return false;
	}
	needed = (meta->nvblocks + PH_MAP_ENTRIES_PER_PAGE - 1) /
		PH_MAP_ENTRIES_PER_PAGE;
	if (meta->nmappages < needed)
	{
		problem(vs, VC_META, "block 0: %u vblocks need %u map pages, metapage lists %u",
				meta->nvblocks, needed, meta->nmappages);
		return false;
	}
	for (i = 0; i < meta->nmappages; i++)
	{
		BlockNumber blk = meta->mappages[i];

		if (blk == PH_METAPAGE_BLKNO || blk >= vs->nblocks)
			problem(vs, VC_META, "map page %u is at invalid physical block %u (relation has %u blocks)",
					i, blk, vs->nblocks);
		else if (vs->phys[blk] != REF_NONE)
			problem(vs, VC_META, "physical block %u is listed as map page more than once", blk);
		else
			vs->phys[blk] = REF_MAP;
	}
	for (i = 0; i < PH_MAX_LANES; i++)
		if (BlockNumberIsValid(meta->lanes[i]) &&
			meta->lanes[i] >= meta->nvblocks)
			problem(vs, VC_META, "insertion lane %u points at vblock %u, beyond nvblocks %u",
					i, meta->lanes[i], meta->nvblocks);
	if (BlockNumberIsValid(meta->free_head) &&
		(meta->free_head == PH_METAPAGE_BLKNO || meta->free_head >= vs->nblocks))
		problem(vs, VC_META, "free-list head %u is not a valid physical block",
				meta->free_head);
	if (vs->problems[VC_META] > 0)
		return false;
	*meta_out = *meta;
	*mappages = palloc(sizeof(BlockNumber) * Max(meta->nmappages, 1));
	memcpy(*mappages, meta->mappages, sizeof(BlockNumber) * meta->nmappages);
	return true;
}

/*
 * check_map reads every map page, validates it and records the entries
 * of all vblocks in vs->map and the pages they reference in vs->phys.
 */
static void
check_map(VerifyState *vs, const BlockNumber *mappages, uint32 nmappages)
{
	PGAlignedBlock page;
	uint32		idx;

	vs->unit[VC_MAP] = "map pages";
	vs->unit[VC_REFS] = "vblocks";
	for (idx = 0; idx < nmappages; idx++)
	{
		BlockNumber mapblk = mappages[idx];
		BlockNumber first = idx * PH_MAP_ENTRIES_PER_PAGE;
		PhMapEntry *entries;
		uint32		i;

		vs->checked[VC_MAP]++;
		if (!read_page(vs, mapblk, page.data, VC_MAP,
					   psprintf("map page %u (vblocks %u to %u)", idx, first,
								first + (BlockNumber) PH_MAP_ENTRIES_PER_PAGE - 1)))
			continue;
		if (special_kind(page.data) != PH_KIND_MAP)
		{
			problem(vs, VC_MAP, "map page %u (physical block %u) is not a map page",
					idx, mapblk);
			continue;
		}
		if (PhantomPageGetSpecial(page.data)->next != idx)
			problem(vs, VC_MAP, "map page at physical block %u says it is map page %u, expected %u",
					mapblk, PhantomPageGetSpecial(page.data)->next, idx);
		entries = PhMapPageEntries(page.data);
		for (i = 0; i < PH_MAP_ENTRIES_PER_PAGE; i++)
		{
			BlockNumber vb = first + i;
			PhMapEntry	e = entries[i];
			BlockNumber blk = PhMapBlock(e);

			if (vb >= vs->nvblocks)
			{
				if (e != PH_MAP_NONE)
					problem(vs, VC_MAP, "vblock %u beyond nvblocks %u has map entry 0x%08x (map page at physical block %u)",
							vb, vs->nvblocks, e, mapblk);
				continue;
			}
			vs->checked[VC_REFS]++;
			if (e == PH_MAP_NONE)
			{
				problem(vs, VC_MAP, "vblock %u is allocated but not mapped (map page at physical block %u)",
						vb, mapblk);
				continue;
			}
			if (blk == PH_METAPAGE_BLKNO || blk >= vs->nblocks)
			{
				problem(vs, VC_MAP, "vblock %u maps to invalid physical block %u (relation has %u blocks; map page at physical block %u)",
						vb, blk, vs->nblocks, mapblk);
				continue;
			}
			if (PhMapIsHot(e))
			{
				if (vs->phys[blk] == REF_HOT)
					problem(vs, VC_REFS, "physical block %u is the hot page of vblocks %u and %u",
							blk, vs->owner[blk], vb);
				else if (vs->phys[blk] != REF_NONE)
					problem(vs, VC_REFS, "vblock %u: hot page at physical block %u is also a %s page",
							vb, blk,
							vs->phys[blk] == REF_MAP ? "map" : "run");
				else
				{
					vs->phys[blk] = REF_HOT;
					vs->owner[blk] = vb;
					vs->map[vb] = e;
				}
			}
			else
			{
				if (vs->phys[blk] == REF_HOT)
					problem(vs, VC_REFS, "vblock %u: run page at physical block %u is also the hot page of vblock %u",
							vb, blk, vs->owner[blk]);
				else if (vs->phys[blk] == REF_MAP)
					problem(vs, VC_REFS, "vblock %u: run page at physical block %u is also a map page",
							vb, blk);
				else
				{
					vs->phys[blk] = REF_RUN;
					vs->map[vb] = e;
				}
			}
		}
	}
}

/*
 * check_heap_image checks a heap-format page image (a hot page, or the
 * decoded image of a cold vblock): page header, line pointers, tuple
 * headers and t_ctid, and for cold images the cold invariant.  Returns
 * the number of LP_DEAD items.
 */
static int
check_heap_image(VerifyState *vs, Page page, BlockNumber vb, BlockNumber blk,
				 bool cold)
{
	PageHeader	ph = (PageHeader) page;
	VerifyCheck c = cold ? VC_COLD : VC_HOT;
	const char *where = cold ? "run page" : "hot page at physical block";
	OffsetNumber maxoff;
	OffsetNumber off;
	int			ndead = 0;

	if (PageIsNew(page))
	{
		problem(vs, c, "vblock %u (%s %u): page is all zero", vb, where, blk);
		return 0;
	}
	if (ph->pd_lower < SizeOfPageHeaderData || ph->pd_lower > ph->pd_upper ||
		ph->pd_upper > ph->pd_special || ph->pd_special != BLCKSZ ||
		PageGetPageSize(page) != BLCKSZ ||
		PageGetPageLayoutVersion(page) != PG_PAGE_LAYOUT_VERSION)
	{
		problem(vs, c, "vblock %u (%s %u): invalid heap page header (lower %u, upper %u, special %u, size %u, version %u)",
				vb, where, blk, ph->pd_lower, ph->pd_upper, ph->pd_special,
				(unsigned) PageGetPageSize(page),
				(unsigned) PageGetPageLayoutVersion(page));
		return 0;
	}
	maxoff = PageGetMaxOffsetNumber(page);
	for (off = FirstOffsetNumber; off <= maxoff; off++)
	{
		ItemId		lp = PageGetItemId(page, off);
		HeapTupleHeader tup;

		switch (ItemIdGetFlags(lp))
		{
			case LP_UNUSED:
				continue;
			case LP_DEAD:
				ndead++;
				if (cold)
					problem(vs, VC_COLD_INV, "vblock %u (run page %u): item %u is LP_DEAD in a cold vblock",
							vb, blk, off);
				continue;
			case LP_REDIRECT:
				if (ItemIdGetRedirect(lp) < FirstOffsetNumber ||
					ItemIdGetRedirect(lp) > maxoff)
					problem(vs, c, "vblock %u (%s %u): item %u redirects to %u, page has %u items",
							vb, where, blk, off, ItemIdGetRedirect(lp), maxoff);
				continue;
			default:
				break;
		}
		if (ItemIdGetOffset(lp) < ph->pd_upper ||
			ItemIdGetOffset(lp) + ItemIdGetLength(lp) > BLCKSZ ||
			ItemIdGetOffset(lp) != MAXALIGN(ItemIdGetOffset(lp)) ||
			ItemIdGetLength(lp) < SizeofHeapTupleHeader)
		{
			problem(vs, c, "vblock %u (%s %u): item %u has invalid offset %u / length %u",
					vb, where, blk, off, ItemIdGetOffset(lp),
					ItemIdGetLength(lp));
			continue;
		}
		tup = (HeapTupleHeader) PageGetItem(page, lp);
		if (tup->t_hoff < SizeofHeapTupleHeader ||
			tup->t_hoff > ItemIdGetLength(lp) ||
			tup->t_hoff != MAXALIGN(tup->t_hoff))
		{
			problem(vs, c, "vblock %u (%s %u): item %u has invalid t_hoff %u",
					vb, where, blk, off, tup->t_hoff);
			continue;
		}
		if (ItemPointerGetBlockNumberNoCheck(&tup->t_ctid) >= vs->nvblocks ||
			ItemPointerGetOffsetNumberNoCheck(&tup->t_ctid) == InvalidOffsetNumber)
			problem(vs, c, "vblock %u (%s %u): item %u has t_ctid (%u,%u) outside the table (%u vblocks)",
					vb, where, blk, off,
					ItemPointerGetBlockNumberNoCheck(&tup->t_ctid),
					ItemPointerGetOffsetNumberNoCheck(&tup->t_ctid),
					vs->nvblocks);
		if (cold)
		{
			vs->checked[VC_COLD_INV]++;
			if (!HeapTupleHeaderXminFrozen(tup) ||
				!(tup->t_infomask & HEAP_XMAX_INVALID) ||
				HeapTupleHeaderGetRawXmax(tup) != InvalidTransactionId)
				problem(vs, VC_COLD_INV, "vblock %u (run page %u): item %u is not frozen with an invalid xmax (infomask 0x%04x, xmax %u)",
						vb, blk, off, tup->t_infomask,
						HeapTupleHeaderGetRawXmax(tup));
		}
	}
	return ndead;
}

/*
 * check_vblocks examines the page of every vblock: hot pages in place,
 * cold vblocks by decoding their frame, plus the VM bits of cold vblocks.
 */
static void
check_vblocks(VerifyState *vs)
{
	PGAlignedBlock page;
	PGAlignedBlock runpage;
	PGAlignedBlock image;
	BlockNumber cached_run = InvalidBlockNumber;
	bool		run_ok = false;
	Buffer		vmbuf = InvalidBuffer;
	BlockNumber vb;

	vs->unit[VC_HOT] = "hot vblocks";
	vs->unit[VC_COLD] = "cold vblocks";
	vs->unit[VC_COLD_INV] = "cold tuples";
	vs->unit[VC_VM] = "cold vblocks";
	for (vb = 0; vb < vs->nvblocks; vb++)
	{
		PhMapEntry	e = vs->map[vb];
		BlockNumber blk = PhMapBlock(e);
		const char *frame;
		size_t		framelen;
		char		detail[PH_FRAME_DETAIL_LEN];
		PhFrameStatus st;
		uint8		vmbits;

		CHECK_FOR_INTERRUPTS();
		if (e == PH_MAP_NONE)
			continue;			/* already reported */
		if (PhMapIsHot(e))
		{
			vs->checked[VC_HOT]++;
			if (!read_page(vs, blk, page.data, VC_HOT,
						   psprintf("vblock %u: hot page", vb)))
				continue;
			if (special_kind(page.data) != 0)
			{
				problem(vs, VC_HOT, "vblock %u: physical block %u is a phantom page of kind 0x%04x, not a hot page",
						vb, blk, special_kind(page.data));
				continue;
			}
			check_heap_image(vs, page.data, vb, blk, false);
			continue;
		}

		/* cold */
		vs->checked[VC_COLD]++;
		if (blk != cached_run)
		{
			cached_run = blk;
			run_ok = read_page(vs, blk, runpage.data, VC_COLD,
							   psprintf("vblock %u: run page", vb));
			if (run_ok && special_kind(runpage.data) != PH_KIND_RUN)
			{
				problem(vs, VC_COLD, "vblock %u: physical block %u is not a run page",
						vb, blk);
				run_ok = false;
			}
		}
		if (!run_ok)
			continue;
		st = ph_run_page_find(runpage.data, vb, &frame, &framelen, detail);
		if (st == PH_FRAME_OK)
		{
			if (verify_dctx == NULL)
			{
				verify_dctx = ZSTD_createDCtx();
				if (verify_dctx == NULL)
					ereport(ERROR,
							(errcode(ERRCODE_OUT_OF_MEMORY),
							 errmsg("out of memory"),
							 errdetail("Could not create a zstd context.")));
			}
			st = ph_frame_decode(verify_dctx, frame, framelen, vb,
								 image.data, detail);
		}
		if (st != PH_FRAME_OK)
		{
			problem(vs, VC_COLD, "vblock %u (run page %u): %s",
					vb, blk, detail);
			continue;
		}
		check_heap_image(vs, image.data, vb, blk, true);

		vs->checked[VC_VM]++;
		vmbits = visibilitymap_get_status(vs->rel, vb, &vmbuf);
		if ((vmbits & VISIBILITYMAP_VALID_BITS) != VISIBILITYMAP_VALID_BITS)
			problem(vs, VC_VM, "cold vblock %u (run page %u) is not marked all-visible and all-frozen (bits 0x%x)",
					vb, blk, vmbits);
	}
	if (BufferIsValid(vmbuf))
		ReleaseBuffer(vmbuf);
}

/*
 * check_free_list walks the free list from head: every page must be of
 * kind free and referenced by nothing else, and the length must match.
 */
static void
check_free_list(VerifyState *vs, BlockNumber head, uint32 nfree)
{
	PGAlignedBlock page;
	BlockNumber blk = head;
	uint32		n = 0;

	vs->unit[VC_FREE] = "free pages";
	while (BlockNumberIsValid(blk))
	{
		CHECK_FOR_INTERRUPTS();
		if (blk == PH_METAPAGE_BLKNO || blk >= vs->nblocks)
		{
			problem(vs, VC_FREE, "free list links to invalid physical block %u", blk);
			return;
		}
		if (vs->phys[blk] == REF_FREE)
		{
			problem(vs, VC_FREE, "free list has a cycle at physical block %u", blk);
			return;
		}
		if (vs->phys[blk] != REF_NONE)
		{
			problem(vs, VC_FREE, "free page at physical block %u is in use as a %s page",
					blk,
					vs->phys[blk] == REF_MAP ? "map" :
					vs->phys[blk] == REF_HOT ? "hot" : "run");
			return;
		}
		vs->phys[blk] = REF_FREE;
		n++;
		vs->checked[VC_FREE]++;
		if (!read_page(vs, blk, page.data, VC_FREE, "free page"))
			return;
		if (special_kind(page.data) != PH_KIND_FREE)
		{
			problem(vs, VC_FREE, "physical block %u is on the free list but is not a free page",
					blk);
			return;
		}
		blk = PhantomPageGetSpecial(page.data)->next;
	}
	if (n != nfree)
		problem(vs, VC_FREE, "free list has %u pages, metapage says %u", n, nfree);
}

/*
 * run_in_subxact runs fn(arg) in a subtransaction and turns an error into
 * a problem row of check name; returns false on error.
 */
static bool
run_in_subxact(VerifyState *vs, const char *name, void (*fn) (void *),
			   void *arg)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	bool		ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		verify_row(vs, name, false, edata->message);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

typedef struct IndexCheckArg
{
	VerifyState *vs;
	Oid			indexoid;
	char	   *name;			/* "index <name>" */
	char		detail[256];	/* summary of a passed check */
	int64		nproblems;
} IndexCheckArg;

/*
 * index_check_amcheck calls amcheck's bt_index_check(index, true) through
 * SPI: it verifies the btree and that every visible row's TID is indexed.
 */
static void
index_check_amcheck(void *p)
{
	IndexCheckArg *a = p;
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		args[1];
	char	   *schema;
	char	   *sql;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT n.nspname FROM pg_catalog.pg_extension e "
					"JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace "
					"WHERE e.extname = 'amcheck'", true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "amcheck is not installed");
	schema = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	sql = psprintf("SELECT %s.bt_index_check($1, true)",
				   quote_identifier(schema));
	args[0] = ObjectIdGetDatum(a->indexoid);
	if (SPI_execute_with_args(sql, 1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "bt_index_check failed");
	SPI_finish();
	snprintf(a->detail, sizeof(a->detail),
			 "amcheck bt_index_check with heapallindexed passed");
}

/* qsort comparator for TIDs */
static int
tid_cmp(const void *a, const void *b)
{
	return ItemPointerCompare((ItemPointer) a, (ItemPointer) b);
}

/*
 * index_check_own is the check without amcheck.  It lists every index
 * entry (SnapshotAny) and sorts the TIDs, so that each vblock is read (and
 * decompressed) once, then checks that each entry points to an existing
 * vblock and a used line pointer.  For a non-partial index it also fetches
 * every entry with an MVCC snapshot (following HOT chains, as an index
 * scan does) and compares the number of visible rows found with a
 * sequential scan's.  Needs an index AM that can return every entry
 * without scan keys (btree, gist, spgist).
 */
static void
index_check_own(void *p)
{
	IndexCheckArg *a = p;
	VerifyState *vs = a->vs;
	Relation	index = index_open(a->indexoid, AccessShareLock);
	IndexScanDesc scan;
	ItemPointer tid;
	ItemPointerData *tids;
	int64		ntids = 0;
	int64		captids = 1024;
	int64		i;
	PGAlignedBlock cur;
	BlockNumber curvb = InvalidBlockNumber;
	bool		curok = false;

	if (index->rd_indam->amgettuple == NULL || !index->rd_indam->amoptionalkey)
	{
		snprintf(a->detail, sizeof(a->detail),
				 "skipped: access method %s cannot list its entries",
				 get_am_name(index->rd_rel->relam));
		index_close(index, AccessShareLock);
		return;
	}

	tids = palloc_extended(captids * sizeof(ItemPointerData), MCXT_ALLOC_HUGE);
	scan = index_beginscan(vs->rel, index, SnapshotAny, 0, 0);
	index_rescan(scan, NULL, 0, NULL, 0);
	while ((tid = index_getnext_tid(scan, ForwardScanDirection)) != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		if (ntids == captids)
		{
			captids *= 2;
			tids = repalloc_huge(tids, captids * sizeof(ItemPointerData));
		}
		tids[ntids++] = *tid;
	}
	index_endscan(scan);
	qsort(tids, ntids, sizeof(ItemPointerData), tid_cmp);

	for (i = 0; i < ntids; i++)
	{
		BlockNumber vb = ItemPointerGetBlockNumber(&tids[i]);
		OffsetNumber off = ItemPointerGetOffsetNumber(&tids[i]);
		const char *why = NULL;

		CHECK_FOR_INTERRUPTS();
		if (vb != curvb)
		{
			PhPage		pg;

			curvb = vb;
			curok = false;
			if (vb < vs->nvblocks && vs->map[vb] != PH_MAP_NONE &&
				ph_page_open(vs->rel, vb, &pg))
			{
				if (pg.cold)
					memcpy(cur.data, pg.page, BLCKSZ);
				else
				{
					LockBuffer(pg.buf, BUFFER_LOCK_SHARE);
					memcpy(cur.data, pg.page, BLCKSZ);
					LockBuffer(pg.buf, BUFFER_LOCK_UNLOCK);
				}
				ph_page_close(&pg);
				curok = true;
			}
		}
		if (!curok)
			why = "no such vblock";
		else if (off < FirstOffsetNumber ||
				 off > PageGetMaxOffsetNumber(cur.data) ||
				 !ItemIdIsUsed(PageGetItemId(cur.data, off)))
			why = "unused or missing line pointer";
		if (why)
		{
			a->nproblems++;
			if (a->nproblems <= VERIFY_MAX_ROWS)
				verify_row(vs, a->name, false,
						   psprintf("index entry points to (%u,%u): %s",
									vb, off, why));
		}
	}

	if (RelationGetIndexPredicate(index) == NIL && a->nproblems == 0)
	{
		Snapshot	snap = RegisterSnapshot(GetTransactionSnapshot());
		TupleTableSlot *slot = table_slot_create(vs->rel, NULL);
		TableScanDesc tscan;
		IndexFetchTableData *fetch;
		int64		nheap = 0;
		int64		nindex = 0;

		tscan = table_beginscan(vs->rel, snap, 0, NULL);
		while (table_scan_getnextslot(tscan, ForwardScanDirection, slot))
		{
			CHECK_FOR_INTERRUPTS();
			nheap++;
		}
		table_endscan(tscan);

		fetch = table_index_fetch_begin(vs->rel);
		for (i = 0; i < ntids; i++)
		{
			bool		call_again = false;
			bool		all_dead = false;

			CHECK_FOR_INTERRUPTS();
			if (table_index_fetch_tuple(fetch, &tids[i], snap, slot,
										&call_again, &all_dead))
				nindex++;
		}
		table_index_fetch_end(fetch);
		ExecDropSingleTupleTableSlot(slot);
		UnregisterSnapshot(snap);
		if (nheap != nindex)
		{
			a->nproblems++;
			verify_row(vs, a->name, false,
					   psprintf("index entries lead to %lld visible rows, sequential scan finds %lld",
								(long long) nindex, (long long) nheap));
		}
	}
	pfree(tids);
	snprintf(a->detail, sizeof(a->detail),
			 "%lld entries point to existing tuples (amcheck not installed)",
			 (long long) ntids);
	index_close(index, AccessShareLock);
}

/*
 * check_indexes checks every valid index of the table.
 */
static void
check_indexes(VerifyState *vs)
{
	List	   *indexes = RelationGetIndexList(vs->rel);
	Oid			amcheck = get_extension_oid("amcheck", true);
	ListCell   *lc;

	foreach(lc, indexes)
	{
		Oid			indexoid = lfirst_oid(lc);
		IndexCheckArg a;
		Relation	index;
		bool		valid;
		bool		btree;

		memset(&a, 0, sizeof(a));
		a.vs = vs;
		a.indexoid = indexoid;
		a.name = psprintf("index %s", get_rel_name(indexoid));
		index = index_open(indexoid, AccessShareLock);
		valid = index->rd_index->indisvalid && index->rd_index->indisready;
		btree = index->rd_rel->relam == BTREE_AM_OID;
		index_close(index, AccessShareLock);
		if (!valid)
		{
			verify_row(vs, a.name, true, "skipped: index is not valid");
			continue;
		}
		if (btree && OidIsValid(amcheck))
		{
			if (!run_in_subxact(vs, a.name, index_check_amcheck, &a))
				continue;
		}
		else if (!run_in_subxact(vs, a.name, index_check_own, &a))
			continue;
		if (a.nproblems == 0)
			verify_row(vs, a.name, true, a.detail);
		else
			verify_row(vs, a.name, false,
					   psprintf("%lld problems", (long long) a.nproblems));
	}
}

/*
 * phantom_verify: see the file header.
 */
Datum
phantom_verify(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid;
	bool		do_indexes;
	Relation	rel;
	VerifyState vs;
	PhantomMetaPageData meta;
	BlockNumber *mappages = NULL;
	bool		meta_ok = false;
	int			c;

	relid = phantom_table_arg(fcinfo, 0, "phantom.verify");
	do_indexes = PG_ARGISNULL(1) ? true : PG_GETARG_BOOL(1);

	rel = phantom_table_open(relid, ShareLock, "phantom.verify");

	InitMaterializedSRF(fcinfo, 0);
	memset(&vs, 0, sizeof(vs));
	vs.rel = rel;
	vs.ts = rsinfo->setResult;
	vs.td = rsinfo->setDesc;
	vs.nblocks = smgrnblocks(RelationGetSmgr(rel), MAIN_FORKNUM);
	vs.empty = (vs.nblocks == 0);

	if (vs.nblocks > 0)
	{
		vs.phys = palloc_extended((Size) vs.nblocks, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		vs.owner = palloc_extended((Size) vs.nblocks * sizeof(BlockNumber),
								   MCXT_ALLOC_HUGE);
		vs.phys[PH_METAPAGE_BLKNO] = REF_META;
		meta_ok = check_metapage(&vs, &meta, &mappages);
	}

	if (meta_ok)
	{
		BlockNumber blk;

		vs.nvblocks = meta.nvblocks;
		vs.map = palloc_extended((Size) Max(vs.nvblocks, 1) * sizeof(PhMapEntry),
								 MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		check_map(&vs, mappages, meta.nmappages);
		check_vblocks(&vs);
		check_free_list(&vs, meta.free_head, meta.nfree);
		for (blk = 1; blk < vs.nblocks; blk++)
			if (vs.phys[blk] == REF_NONE)
				vs.unreferenced++;
	}

	for (c = 0; c < VC_NCHECKS; c++)
	{
		char	   *detail;

		if (vs.problems[c] > 0)
			detail = psprintf("%lld problems", (long long) vs.problems[c]);
		else if (vs.empty)
			detail = pstrdup("empty table");
		else if (!meta_ok && c != VC_META)
			detail = pstrdup("not checked: the metapage is damaged");
		else if (c == VC_REFS && vs.unreferenced > 0)
			detail = psprintf("%lld vblocks, %lld physical pages not referenced (run pages awaiting retirement or pages leaked by a crash)",
							  (long long) vs.checked[c],
							  (long long) vs.unreferenced);
		else
			detail = psprintf("%lld %s checked", (long long) vs.checked[c],
							  vs.unit[c] ? vs.unit[c] : "pages");
		verify_row(&vs, check_names[c],
				   vs.problems[c] == 0 && (meta_ok || c == VC_META || vs.empty),
				   detail);
	}

	if (do_indexes)
	{
		bool		storage_ok = true;

		for (c = 0; c < VC_NCHECKS; c++)
			if (vs.problems[c] > 0)
				storage_ok = false;
		if (storage_ok && (meta_ok || vs.empty))
			check_indexes(&vs);
		else
			verify_row(&vs, "indexes", false,
					   "not checked: the table's storage is damaged");
	}

	table_close(rel, ShareLock);
	return (Datum) 0;
}
