/*-------------------------------------------------------------------------
 *
 * run.c
 *	  Cold runs: reading a vblock's image out of a run page, and the
 *	  in-memory building blocks compaction uses to write run pages.
 *
 *	  A run page is a standard page with a PhantomSpecial of kind
 *	  PH_KIND_RUN whose items are frames (runframe.h), one per vblock, in
 *	  vblock order.  Run pages are immutable once written: a frame whose
 *	  vblock is thawed stays behind as garbage until the page is retired.
 *
 *	  Locking: a reader pins the run page and holds its share lock only
 *	  long enough to copy its frame out; decompression happens unlocked.
 *	  The caller of ph_run_read_vblock found runblk through the block map,
 *	  which keeps the run page alive while it is referenced.
 *
 *	  Per-backend state: one zstd compression and one decompression context
 *	  (malloc'd by zstd, kept for the life of the backend) and a tiny cache
 *	  of the last decompressed images.  A cache hit needs the same relation
 *	  file, run block, vblock and run-page LSN *and* the same frame bytes,
 *	  so it can never return a stale image, even for unlogged and temporary
 *	  relations whose pages carry no LSN.
 *
 * src/lsm/run.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <zstd.h>

#include "access/heapam.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "phantom/lsm/run.h"
#include "phantom/lsm/runframe.h"
#include "phantom/lsm/storage.h"
#include "phantom/phantom.h"

/* Decompressed images kept per backend (index scans revisit a vblock). */
#define PH_RUN_CACHE_SIZE	4

typedef struct PhRunCacheEntry
{
	bool		valid;
	RelFileNode node;
	BackendId	backend;
	BlockNumber runblk;
	BlockNumber vblock;
	XLogRecPtr	lsn;
	Size		framelen;
	char	   *frame;			/* copy of the frame bytes, framelen */
	char	   *image;			/* decompressed page, BLCKSZ */
} PhRunCacheEntry;

static PhRunCacheEntry run_cache[PH_RUN_CACHE_SIZE];
static int	run_cache_next = 0;
static ZSTD_CCtx *run_cctx = NULL;
static ZSTD_DCtx *run_dctx = NULL;

/*
 * run_zstd_oom raises the error for a zstd context that cannot be created.
 */
static void
run_zstd_oom(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_OUT_OF_MEMORY),
			 errmsg("out of memory"),
			 errdetail("Could not create a zstd context.")));
}

/*
 * run_corrupt reports a damaged run page or frame.  The message names the
 * relation, the vblock the caller wanted and the physical run page.
 */
static void
run_corrupt(Relation rel, BlockNumber runblk, BlockNumber vblock,
			PhFrameStatus st, const char *detail)
{
	const char *what;

	switch (st)
	{
		case PH_FRAME_BAD_RUN_PAGE:
			what = "invalid run page";
			break;
		case PH_FRAME_MISSING:
			what = "missing frame";
			break;
		case PH_FRAME_BAD_HEADER:
			what = "invalid frame header";
			break;
		case PH_FRAME_ZSTD_ERROR:
			what = "undecodable compressed data";
			break;
		case PH_FRAME_SIZE_MISMATCH:
			what = "wrong decompressed size";
			break;
		case PH_FRAME_BAD_IMAGE:
			what = "invalid decompressed page";
			break;
		default:
			what = "unexpected frame status";
			break;
	}
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("could not read block %u of relation \"%s\": %s in cold run page %u",
					vblock, RelationGetRelationName(rel), what, runblk),
			 errdetail("%s.", detail),
			 errhint("The compressed copy of this block is damaged. Restore the table from a backup or a replica; rows of other blocks remain readable.")));
}

/*
 * run_cache_lookup returns the cached image matching the key and frame
 * bytes, or NULL.
 */
static PhRunCacheEntry *
run_cache_lookup(Relation rel, BlockNumber runblk, BlockNumber vblock,
				 XLogRecPtr lsn, const char *frame, Size framelen)
{
	int			i;

	for (i = 0; i < PH_RUN_CACHE_SIZE; i++)
	{
		PhRunCacheEntry *e = &run_cache[i];

		if (e->valid &&
			e->runblk == runblk && e->vblock == vblock && e->lsn == lsn &&
			e->framelen == framelen &&
			RelFileNodeEquals(e->node, rel->rd_node) &&
			e->backend == rel->rd_backend &&
			memcmp(e->frame, frame, framelen) == 0)
			return e;
	}
	return NULL;
}

/*
 * run_cache_store remembers a freshly decompressed image, evicting the
 * oldest entry.  Memory lives in TopMemoryContext for the backend's life.
 */
static void
run_cache_store(Relation rel, BlockNumber runblk, BlockNumber vblock,
				XLogRecPtr lsn, const char *frame, Size framelen,
				const char *image)
{
	PhRunCacheEntry *e = &run_cache[run_cache_next];

	run_cache_next = (run_cache_next + 1) % PH_RUN_CACHE_SIZE;
	if (e->frame == NULL)
	{
		e->frame = MemoryContextAlloc(TopMemoryContext, BLCKSZ);
		e->image = MemoryContextAlloc(TopMemoryContext, BLCKSZ);
	}
	e->valid = true;
	e->node = rel->rd_node;
	e->backend = rel->rd_backend;
	e->runblk = runblk;
	e->vblock = vblock;
	e->lsn = lsn;
	e->framelen = framelen;
	memcpy(e->frame, frame, framelen);
	memcpy(e->image, image, BLCKSZ);
}

/*
 * ph_run_copy_frame: see run.h.  The frame is copied out under the run
 * page's share lock; *lsn receives the run page's LSN.
 */
void
ph_run_copy_frame(Relation rel, BlockNumber runblk, BlockNumber vblock,
				  char *frame_out, Size *framelen, XLogRecPtr *lsn)
{
	Buffer		buf;
	Page		runpage;
	const char *frame;
	PhFrameStatus st;
	char		detail[PH_FRAME_DETAIL_LEN];

	buf = ReadBufferExtended(rel, MAIN_FORKNUM, runblk, RBM_NORMAL, NULL);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	runpage = BufferGetPage(buf);

	st = ph_run_page_find(runpage, vblock, &frame, framelen, detail);
	if (st == PH_FRAME_OK || st == PH_FRAME_MISSING)
	{
		/* the page header is sane, so the special space can be read */
		if (PageGetSpecialSize(runpage) != MAXALIGN(sizeof(PhantomSpecial)) ||
			PhantomPageGetSpecial(runpage)->kind != PH_KIND_RUN)
		{
			snprintf(detail, sizeof(detail),
					 "page has special size %u and is not a run page",
					 (unsigned) PageGetSpecialSize(runpage));
			st = PH_FRAME_BAD_RUN_PAGE;
		}
	}
	if (st != PH_FRAME_OK)
	{
		UnlockReleaseBuffer(buf);
		run_corrupt(rel, runblk, vblock, st, detail);
	}
	memcpy(frame_out, frame, *framelen);
	if (lsn)
		*lsn = PageGetLSN(runpage);
	UnlockReleaseBuffer(buf);
}

/* run_dctx_get returns this backend's zstd decompression context */
static ZSTD_DCtx *
run_dctx_get(void)
{
	if (run_dctx == NULL)
	{
		run_dctx = ZSTD_createDCtx();
		if (run_dctx == NULL)
			run_zstd_oom();
	}
	return run_dctx;
}

/*
 * ph_run_decode_frame: see run.h.
 */
void
ph_run_decode_frame(Relation rel, BlockNumber runblk, BlockNumber vblock,
					const char *frame, Size framelen, Page dest)
{
	PhFrameStatus st;
	char		detail[PH_FRAME_DETAIL_LEN];

	st = ph_frame_decode(run_dctx_get(), frame, framelen, vblock,
						 (char *) dest, detail);
	if (st != PH_FRAME_OK)
		run_corrupt(rel, runblk, vblock, st, detail);
}

/*
 * ph_run_decode_frame_redo: see run.h.
 */
void
ph_run_decode_frame_redo(const char *frame, Size framelen,
						 BlockNumber vblock, Page dest)
{
	PhFrameStatus st;
	char		detail[PH_FRAME_DETAIL_LEN];

	st = ph_frame_decode(run_dctx_get(), frame, framelen, vblock,
						 (char *) dest, detail);
	if (st != PH_FRAME_OK)
		elog(PANIC, "phantom redo: cannot decode the frame of vblock %u: %s",
			 vblock, detail);
}

/*
 * ph_run_read_vblock: see run.h.
 */
void
ph_run_read_vblock(Relation rel, BlockNumber runblk, BlockNumber vblock,
				   Page dest)
{
	PGAlignedBlock framebuf;
	Size		framelen;
	XLogRecPtr	lsn;
	PhRunCacheEntry *hit;

	ph_run_copy_frame(rel, runblk, vblock, framebuf.data, &framelen, &lsn);

	hit = run_cache_lookup(rel, runblk, vblock, lsn, framebuf.data, framelen);
	if (hit)
	{
		memcpy(dest, hit->image, BLCKSZ);
		return;
	}
	ph_run_decode_frame(rel, runblk, vblock, framebuf.data, framelen, dest);
	run_cache_store(rel, runblk, vblock, lsn, framebuf.data, framelen,
					(const char *) dest);
}

/*
 * ph_run_page_init makes page an empty run page (in memory).
 */
void
ph_run_page_init(Page page)
{
	PhantomSpecial *special;

	PageInit(page, BLCKSZ, sizeof(PhantomSpecial));
	special = PhantomPageGetSpecial(page);
	special->kind = PH_KIND_RUN;
	special->flags = 0;
	special->next = InvalidBlockNumber;
}

/*
 * ph_run_encode compresses hotpage (the image of vblock) into frame, which
 * must have room for PH_RUN_MAX_FRAME bytes.  Returns false when the
 * compressed frame would not fit an empty run page (incompressible data):
 * such a vblock simply stays hot.
 */
bool
ph_run_encode(BlockNumber vblock, Page hotpage, char *frame, Size *len)
{
	PhFrameStatus st;
	size_t		n;

	if (run_cctx == NULL)
	{
		run_cctx = ZSTD_createCCtx();
		if (run_cctx == NULL)
			run_zstd_oom();
	}
	n = ZSTD_CCtx_setParameter(run_cctx, ZSTD_c_compressionLevel,
							   phantom_compression_level);
	if (!ZSTD_isError(n))
		n = ZSTD_CCtx_setParameter(run_cctx, ZSTD_c_checksumFlag, 1);
	if (ZSTD_isError(n))
		elog(ERROR, "could not set zstd parameters: %s", ZSTD_getErrorName(n));

	st = ph_frame_encode(run_cctx, vblock, (const char *) hotpage,
						 PH_FRAME_ALL_FROZEN, frame, PH_RUN_MAX_FRAME, &n);
	if (st == PH_FRAME_TOO_BIG)
		return false;
	if (st != PH_FRAME_OK)
		elog(ERROR, "hot page of vblock %u has an invalid header", vblock);
	*len = n;
	return true;
}

/*
 * ph_run_page_add appends a frame to a run page being built; false when
 * it does not fit.  PageAddItem keeps pd_lower at the end of the line
 * pointer array, as log_newpage(page_std) requires.
 */
bool
ph_run_page_add(Page page, const char *frame, Size len)
{
	return PageAddItem(page, (Item) frame, len, InvalidOffsetNumber,
					   false, false) != InvalidOffsetNumber;
}
