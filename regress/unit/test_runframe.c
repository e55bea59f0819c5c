/*-------------------------------------------------------------------------
 *
 * test_runframe.c
 *	  Unit tests of the cold-run frame codec (src/lsm/runframe.c), built
 *	  without a server: round trips of synthetic heap pages, run pages with
 *	  several frames, and every kind of damage a frame can suffer (each
 *	  must be reported, never crash and never return a wrong image).
 *
 *	  The codec is compiled into this program directly (it is backend-free
 *	  by design), so the unit Makefile needs no change.
 *
 * regress/unit/test_runframe.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <zstd.h>

#include "storage/bufpage.h"

#include "phantom/lsm/runframe.h"
#include "../../src/lsm/runframe.c"

static int	ntests = 0;
static int	nfailed = 0;

static void
ok(bool cond, const char *what)
{
	ntests++;
	if (!cond)
		nfailed++;
	printf("%sok %d - %s\n", cond ? "" : "not ", ntests, what);
}

/* Minimal frontend stand-ins for PageInit / PageAddItem. */
static void
page_init(char *page, int special)
{
	PageHeader	ph = (PageHeader) page;

	memset(page, 0, BLCKSZ);
	ph->pd_lower = SizeOfPageHeaderData;
	ph->pd_upper = BLCKSZ - MAXALIGN(special);
	ph->pd_special = BLCKSZ - MAXALIGN(special);
	PageSetPageSizeAndVersion((Page) page, BLCKSZ, PG_PAGE_LAYOUT_VERSION);
}

static bool
page_add(char *page, const char *item, int len)
{
	PageHeader	ph = (PageHeader) page;
	int			n = PageGetMaxOffsetNumber((Page) page);
	ItemId		lp;

	if (ph->pd_upper - ph->pd_lower < (int) (MAXALIGN(len) + sizeof(ItemIdData)))
		return false;
	ph->pd_upper -= MAXALIGN(len);
	memcpy(page + ph->pd_upper, item, len);
	lp = &ph->pd_linp[n];
	ItemIdSetNormal(lp, ph->pd_upper, len);
	ph->pd_lower += sizeof(ItemIdData);
	return true;
}

/* A heap-like page: tuples with a counter and some repetitive text. */
static void
make_heap_page(char *page, int seed, int ntup)
{
	char		tup[120];
	int			i;

	page_init(page, 0);
	for (i = 0; i < ntup; i++)
	{
		memset(tup, 0, sizeof(tup));
		snprintf(tup + 24, sizeof(tup) - 24, "row %d of page %d, payload xxxxxxxxxxxxxxxxxxxx",
				 i, seed);
		tup[0] = (char) i;
		if (!page_add(page, tup, 100))
			break;
	}
	((PageHeader) page)->pd_checksum = 0;
}

int
main(void)
{
	ZSTD_CCtx  *cctx = ZSTD_createCCtx();
	ZSTD_DCtx  *dctx = ZSTD_createDCtx();
	PGAlignedBlock src,
				dst,
				run;
	static char frame[PH_FRAME_MAX_SIZE];
	size_t		flen;
	char		detail[PH_FRAME_DETAIL_LEN];
	const char *f;
	size_t		fl;
	PhFrameStatus st;
	int			i;
	bool		allok;
	int			undetected;

	printf("1..15\n");
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);

	/* 1-2: round trip of a half-full page restores it exactly */
	make_heap_page(src.data, 1, 30);
	st = ph_frame_encode(cctx, 7, src.data, PH_FRAME_ALL_FROZEN, frame, sizeof(frame), &flen);
	ok(st == PH_FRAME_OK && flen < BLCKSZ / 4, "encode compresses a heap page");
	st = ph_frame_decode(dctx, frame, flen, 7, dst.data, detail);
	ok(st == PH_FRAME_OK && memcmp(src.data, dst.data, BLCKSZ) == 0,
	   "decode restores the page byte for byte");

	/* 3: full page (empty hole) */
	make_heap_page(src.data, 2, 1000);
	st = ph_frame_encode(cctx, 8, src.data, 0, frame, sizeof(frame), &flen);
	ok(st == PH_FRAME_OK &&
	   ph_frame_decode(dctx, frame, flen, 8, dst.data, detail) == PH_FRAME_OK &&
	   memcmp(src.data, dst.data, BLCKSZ) == 0, "full page round trip");

	/* 4: empty page */
	page_init(src.data, 0);
	st = ph_frame_encode(cctx, 9, src.data, 0, frame, sizeof(frame), &flen);
	ok(st == PH_FRAME_OK &&
	   ph_frame_decode(dctx, frame, flen, 9, dst.data, detail) == PH_FRAME_OK &&
	   memcmp(src.data, dst.data, BLCKSZ) == 0, "empty page round trip");

	/* 5: incompressible page does not fit a small buffer */
	page_init(src.data, 0);
	for (i = SizeOfPageHeaderData + 400; i < BLCKSZ; i++)
		src.data[i] = (char) (random() & 0xff);
	((PageHeader) src.data)->pd_upper = SizeOfPageHeaderData + 400;
	st = ph_frame_encode(cctx, 9, src.data, 0, frame, BLCKSZ - 400, &flen);
	ok(st == PH_FRAME_TOO_BIG, "incompressible page is refused");

	/* 6: invalid source page is refused */
	memset(src.data, 0, BLCKSZ);
	ok(ph_frame_encode(cctx, 1, src.data, 0, frame, sizeof(frame), &flen) == PH_FRAME_BAD_SOURCE,
	   "zeroed source page is refused");

	/* 7-8: a run page with several frames; each is found and decodes */
	page_init(run.data, 8);
	for (i = 0; i < 6; i++)
	{
		make_heap_page(src.data, 100 + i, 60);
		if (ph_frame_encode(cctx, 100 + i, src.data, 0, frame, sizeof(frame), &flen) != PH_FRAME_OK ||
			!page_add(run.data, frame, flen))
			break;
	}
	ok(i == 6, "six frames fit one run page");
	allok = true;
	for (i = 0; i < 6; i++)
	{
		make_heap_page(src.data, 100 + i, 60);
		if (ph_run_page_find(run.data, 100 + i, &f, &fl, detail) != PH_FRAME_OK ||
			ph_frame_decode(dctx, f, fl, 100 + i, dst.data, detail) != PH_FRAME_OK ||
			memcmp(src.data, dst.data, BLCKSZ) != 0)
			allok = false;
	}
	ok(allok, "every frame of the run page decodes to its page");

	/* 9: missing vblock */
	ok(ph_run_page_find(run.data, 99, &f, &fl, detail) == PH_FRAME_MISSING,
	   "missing vblock is reported");

	/* 10: zeroed run page */
	memset(dst.data, 0, BLCKSZ);
	ok(ph_run_page_find(dst.data, 100, &f, &fl, detail) == PH_FRAME_BAD_RUN_PAGE,
	   "uninitialized run page is reported");

	/* 11: line pointer pointing outside the page */
	memcpy(dst.data, run.data, BLCKSZ);
	ItemIdSetNormal(PageGetItemId((Page) dst.data, 2), BLCKSZ - 16, 400);
	ok(ph_run_page_find(dst.data, 200, &f, &fl, detail) == PH_FRAME_BAD_RUN_PAGE,
	   "line pointer outside the data area is reported");

	/* 12: wrong vblock in frame header */
	make_heap_page(src.data, 3, 40);
	ph_frame_encode(cctx, 5, src.data, 0, frame, sizeof(frame), &flen);
	ok(ph_frame_decode(dctx, frame, flen, 6, dst.data, detail) == PH_FRAME_BAD_HEADER,
	   "frame of another vblock is reported");

	/* 13: truncated frame */
	ok(ph_frame_decode(dctx, frame, flen - 5, 5, dst.data, detail) != PH_FRAME_OK,
	   "truncated frame is reported");

	/* 14: every single-byte flip is detected or harmless */
	undetected = 0;
	for (i = 0; i < (int) flen; i++)
	{
		frame[i] ^= 0x5a;
		st = ph_frame_decode(dctx, frame, flen, 5, dst.data, detail);
		if (st == PH_FRAME_OK && memcmp(src.data, dst.data, BLCKSZ) != 0)
			undetected++;
		frame[i] ^= 0x5a;
	}
	ok(undetected == 0, "no byte flip yields a wrong image");

	/* 15: random garbage never decodes */
	allok = true;
	for (i = 0; i < 2000; i++)
	{
		int			j;
		size_t		len = 13 + random() % 3000;

		for (j = 0; j < (int) len; j++)
			frame[j] = (char) (random() & 0xff);
		memcpy(frame, &(BlockNumber){5}, sizeof(BlockNumber));
		if (ph_frame_decode(dctx, frame, len, 5, dst.data, detail) == PH_FRAME_OK)
			allok = false;
	}
	ok(allok, "random frames are rejected");

	ZSTD_freeCCtx(cctx);
	ZSTD_freeDCtx(dctx);
	return nfailed == 0 ? 0 : 1;
}
