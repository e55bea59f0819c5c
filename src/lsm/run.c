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
 *	  Locking: a reader pins the run page and holds its share lock while it
 *	  decodes its frame from the buffer.  The caller of ph_run_read_vblock
 *	  found runblk through the block map, which keeps the run page alive
 *	  while it is referenced.
 *
 *	  Per-backend state: one zstd compression and one decompression context
 *	  (malloc'd by zstd, kept for the life of the backend) and the
 *	  cold-image cache (phantom.cold_cache_size, clock eviction).  A cache
 *	  hit needs the same relation file, run block and vblock, and the same
 *	  run-page LSN; when that LSN is 0 (unlogged, temporary and WAL-skipped
 *	  relations) also the same frame bytes, so it can never return a stale
 *	  image.
 *
 * src/lsm/run.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <zstd.h>

#include "access/heapam.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "phantom/lsm/run.h"
#include "phantom/lsm/runframe.h"
#include "phantom/lsm/storage.h"
#include "phantom/phantom.h"

/*
 * The cold-image cache: decompressed images of cold vblocks, per backend,
 * at most phantom.cold_cache_size (kB) of images, clock eviction.  Keyed by
 * relation file, run page and vblock; an entry is valid while the run page
 * has the same LSN, or (when that LSN is 0: unlogged, temporary and
 * WAL-skipped relations write no LSN) the same frame bytes.  A run page is
 * rewritten only by a WAL-logged record when it has an LSN, so an LSN
 * match means the same frame.
 */
typedef struct PhColdKey
{
	RelFileNode node;
	BackendId	backend;
	BlockNumber runblk;
	BlockNumber vblock;
} PhColdKey;

typedef struct PhColdEntry		/* hash entry */
{
	PhColdKey	key;
	int			slot;
} PhColdEntry;

typedef struct PhColdSlot
{
	bool		used;
	bool		ref;			/* clock reference bit */
	int			pins;			/* open PhPages pointing at image */
	PhColdKey	key;
	XLogRecPtr	lsn;
	Size		framelen;		/* frame bytes kept only when lsn == 0 */
	char	   *frame;
	char	   *image;			/* BLCKSZ */
} PhColdSlot;

int			phantom_cold_cache_size = 32768;	/* kB */

static MemoryContext cold_cxt = NULL;
static HTAB *cold_hash = NULL;
static PhColdSlot *cold_slots = NULL;
static int	cold_nslots = 0;
static int	cold_used = 0;
static int	cold_hand = 0;
static int	cold_npinned = 0;	/* slots with pins > 0 */
static bool cold_callback_registered = false;
static uint64 cold_hits = 0;
static uint64 cold_misses = 0;

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
 * cold_cache_ready (re)creates the cache when phantom.cold_cache_size
 * changed; returns false when the cache is off.
 */
static bool
cold_cache_ready(void)
{
	int			want = (int) Min((int64) phantom_cold_cache_size * 1024 / BLCKSZ,
								 (int64) INT_MAX / 2);

	if (want == cold_nslots && cold_hash != NULL)
		return true;
	if (cold_npinned > 0)
		return cold_hash != NULL;	/* resize once nothing points into it */
	if (cold_cxt != NULL)
		MemoryContextDelete(cold_cxt);
	cold_cxt = NULL;
	cold_hash = NULL;
	cold_slots = NULL;
	cold_nslots = cold_used = cold_hand = 0;
	if (want <= 0)
		return false;

	cold_cxt = AllocSetContextCreate(TopMemoryContext, "phantom cold-image cache",
									 ALLOCSET_DEFAULT_SIZES);
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(PhColdKey);
		ctl.entrysize = sizeof(PhColdEntry);
		ctl.hcxt = cold_cxt;
		cold_hash = hash_create("phantom cold images", Min(want, 1024), &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	cold_slots = MemoryContextAllocExtended(cold_cxt, (Size) want * sizeof(PhColdSlot),
										   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	cold_nslots = want;
	return true;
}

static inline void
cold_key(PhColdKey *key, Relation rel, BlockNumber runblk, BlockNumber vblock)
{
	memset(key, 0, sizeof(*key));
	key->node = rel->rd_node;
	key->backend = rel->rd_backend;
	key->runblk = runblk;
	key->vblock = vblock;
}

/*
 * cold_cache_lookup returns the slot of the cached image of vblock if it
 * still matches the run page (LSN, or frame bytes when the LSN is 0), else
 * -1.
 */
static int
cold_cache_lookup(Relation rel, BlockNumber runblk, BlockNumber vblock,
				  XLogRecPtr lsn, const char *frame, Size framelen)
{
	PhColdKey	key;
	PhColdEntry *e;
	PhColdSlot *sl;

	if (!cold_cache_ready())
		return -1;
	cold_key(&key, rel, runblk, vblock);
	e = hash_search(cold_hash, &key, HASH_FIND, NULL);
	if (e == NULL)
		return -1;
	sl = &cold_slots[e->slot];
	if (sl->lsn != lsn)
		return -1;
	if (lsn == InvalidXLogRecPtr &&
		(frame == NULL || sl->framelen != framelen ||
		 memcmp(sl->frame, frame, framelen) != 0))
		return -1;
	sl->ref = true;
	return e->slot;
}

/*
 * cold_cache_store remembers a freshly decompressed image, evicting with
 * the clock when the cache is full.
 */
static void
cold_cache_store(Relation rel, BlockNumber runblk, BlockNumber vblock,
				 XLogRecPtr lsn, const char *frame, Size framelen,
				 const char *image)
{
	PhColdKey	key;
	PhColdEntry *e;
	PhColdSlot *sl;
	bool		found;

	if (!cold_cache_ready())
		return;
	cold_key(&key, rel, runblk, vblock);
	e = hash_search(cold_hash, &key, HASH_FIND, NULL);
	if (e != NULL)
	{
		sl = &cold_slots[e->slot];
		if (sl->pins > 0)
			return;				/* an open page still reads the old image */
	}
	else
	{
		int			slot;

		if (cold_used < cold_nslots)
			slot = cold_used++;
		else
		{
			int			tries = 0;

			for (;;)
			{
				sl = &cold_slots[cold_hand];
				if (!sl->ref && sl->pins == 0)
					break;
				sl->ref = false;
				cold_hand = (cold_hand + 1) % cold_nslots;
				if (++tries > 2 * cold_nslots)
					return;		/* every slot is pinned: do not cache */
			}
			slot = cold_hand;
			cold_hand = (cold_hand + 1) % cold_nslots;
			hash_search(cold_hash, &cold_slots[slot].key, HASH_REMOVE, NULL);
		}
		e = hash_search(cold_hash, &key, HASH_ENTER, &found);
		e->slot = slot;
		sl = &cold_slots[slot];
		if (sl->image == NULL)
			sl->image = MemoryContextAlloc(cold_cxt, BLCKSZ);
		sl->key = key;
		sl->used = true;
	}
	sl->ref = false;
	sl->lsn = lsn;
	if (sl->frame != NULL)
	{
		pfree(sl->frame);
		sl->frame = NULL;
	}
	sl->framelen = 0;
	if (lsn == InvalidXLogRecPtr)
	{
		sl->frame = MemoryContextAlloc(cold_cxt, framelen);
		memcpy(sl->frame, frame, framelen);
		sl->framelen = framelen;
	}
	memcpy(sl->image, image, BLCKSZ);
}

/*
 * run_page_frame finds vblock's frame in run page runblk, which the caller
 * holds share-locked in buf.  A damaged page or a missing frame releases the
 * buffer and raises the corruption error, so both readers of cold frames
 * report it the same way.
 */
static const char *
run_page_frame(Relation rel, Buffer buf, BlockNumber runblk,
			   BlockNumber vblock, Size *framelen)
{
	Page		runpage = BufferGetPage(buf);
	const char *frame;
	PhFrameStatus st;
	char		detail[PH_FRAME_DETAIL_LEN];

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
	return frame;
}

/*
 * ph_run_cache_stats: see run.h.
 */
void
ph_run_cache_stats(uint64 *hits, uint64 *misses, int *entries)
{
	*hits = cold_hits;
	*misses = cold_misses;
	*entries = cold_used;
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

	buf = ReadBufferExtended(rel, MAIN_FORKNUM, runblk, RBM_NORMAL, NULL);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	runpage = BufferGetPage(buf);

	frame = run_page_frame(rel, buf, runblk, vblock, framelen);
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
 * cold_xact_callback unpins every slot at the end of a transaction: no
 * PhPage outlives its transaction, and one left open by an error must not
 * keep its slot pinned for ever.
 */
static void
cold_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			if (cold_npinned > 0)
			{
				for (int i = 0; i < cold_used; i++)
					cold_slots[i].pins = 0;
				cold_npinned = 0;
			}
			break;
		default:
			break;
	}
}

/* cold_pin pins a slot and returns its image */
static Page
cold_pin(int slot)
{
	PhColdSlot *sl = &cold_slots[slot];

	if (!cold_callback_registered)
	{
		RegisterXactCallback(cold_xact_callback, NULL);
		cold_callback_registered = true;
	}
	if (sl->pins++ == 0)
		cold_npinned++;
	return (Page) sl->image;
}

/*
 * ph_run_release_slot: see run.h.
 */
void
ph_run_release_slot(int slot)
{
	PhColdSlot *sl;

	if (slot < 0 || slot >= cold_used)
		return;
	sl = &cold_slots[slot];
	if (sl->pins > 0 && --sl->pins == 0)
		cold_npinned--;
}

/*
 * ph_run_open_vblock: see run.h.  The run page stays share-locked while
 * its frame is decompressed straight out of the buffer (run pages are
 * immutable; a decode takes ~10 us), which saves copying the frame.  With
 * a cache hit of a WAL-logged relation only the run page's LSN is read,
 * and the image is not copied at all.
 */
Page
ph_run_open_vblock(Relation rel, BlockNumber runblk, BlockNumber vblock,
				   bool cache_store, int *slot)
{
	Buffer		buf;
	Page		runpage;
	const char *frame;
	Size		framelen;
	XLogRecPtr	lsn;
	PhFrameStatus st;
	char		detail[PH_FRAME_DETAIL_LEN];
	int			hit;
	Page		dest;

	*slot = -1;
	buf = ReadBufferExtended(rel, MAIN_FORKNUM, runblk, RBM_NORMAL, NULL);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	runpage = BufferGetPage(buf);
	lsn = PageGetLSN(runpage);

	if (lsn != InvalidXLogRecPtr &&
		(hit = cold_cache_lookup(rel, runblk, vblock, lsn, NULL, 0)) >= 0)
	{
		UnlockReleaseBuffer(buf);
		cold_hits++;
		*slot = hit;
		return cold_pin(hit);
	}

	frame = run_page_frame(rel, buf, runblk, vblock, &framelen);

	if (lsn == InvalidXLogRecPtr &&
		(hit = cold_cache_lookup(rel, runblk, vblock, lsn, frame, framelen)) >= 0)
	{
		UnlockReleaseBuffer(buf);
		cold_hits++;
		*slot = hit;
		return cold_pin(hit);
	}

	dest = (Page) palloc(BLCKSZ);
	st = ph_frame_decode(run_dctx_get(), frame, framelen, vblock,
						 (char *) dest, detail);
	if (st != PH_FRAME_OK)
	{
		UnlockReleaseBuffer(buf);
		run_corrupt(rel, runblk, vblock, st, detail);
	}
	cold_misses++;
	if (cache_store)
		cold_cache_store(rel, runblk, vblock, lsn, frame, framelen,
						 (const char *) dest);
	UnlockReleaseBuffer(buf);
	return dest;
}

/*
 * ph_run_read_vblock: see run.h.
 */
void
ph_run_read_vblock(Relation rel, BlockNumber runblk, BlockNumber vblock,
				   Page dest, bool cache_store)
{
	int			slot;
	Page		image = ph_run_open_vblock(rel, runblk, vblock, cache_store, &slot);

	memcpy(dest, image, BLCKSZ);
	if (slot >= 0)
		ph_run_release_slot(slot);
	else
		pfree(image);
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
						 PH_FRAME_ALL_FROZEN |
						 (phantom_compression_columnar ? PH_FRAME_COLUMNAR : 0),
						 frame, PH_RUN_MAX_FRAME, &n);
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
