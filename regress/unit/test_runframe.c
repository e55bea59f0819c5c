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

/*
 * A page like issue 3's narrow table: (id bigint, v int, t text) rows with
 * frozen tuple headers, a counter, a hashed int and 40 hex characters.
 */
static void
make_narrow_page(char *page, int seed)
{
	char		tup[80];
	int			i;

	page_init(page, 0);
	for (i = 0;; i++)
	{
		int64		id = (int64) seed * 100 + i + 1;
		uint32		v = (uint32) (id * 2654435761u);
		uint32		xmin = 731;
		uint16		posid = i + 1;
		uint16		infomask2 = 3;
		uint16		infomask = 0x0B00;	/* frozen, xmax invalid */

		/* HeapTupleHeaderData: xmin, xmax, cid, ctid, infomask2, infomask, hoff */
		memset(tup, 0, sizeof(tup));
		memcpy(tup, &xmin, 4);
		memcpy(tup + 16, &posid, 2);
		memcpy(tup + 18, &infomask2, 2);
		memcpy(tup + 20, &infomask, 2);
		tup[PH_TUPLE_HOFF_AT] = 24;
		memcpy(tup + 24, &id, 8);
		memcpy(tup + 32, &v, 4);
		tup[36] = (char) ((40 + 1) << 1 | 1);	/* short varlena header */
		for (int j = 0; j < 40; j++)
			tup[37 + j] = "0123456789abcdef"[random() & 15];
		if (!page_add(page, tup, 77))
			break;
	}
}

/*
 * An irregular page: rows of varying length and t_hoff (null bitmaps),
 * unused, redirect and dead line pointers, and garbage between the tuples
 * (the columnar transform keeps it as residual bytes).
 */
static void
make_irregular_page(char *page, int seed)
{
	char		tup[300];
	PageHeader	ph = (PageHeader) page;
	int			i;

	srandom(seed);
	page_init(page, 0);
	for (i = 0; i < 60; i++)
	{
		int			len = 40 + random() % 200;

		for (int j = 0; j < len; j++)
			tup[j] = (char) (random() % ((i % 3) ? 256 : 7));
		tup[PH_TUPLE_HOFF_AT] = (i % 4 == 0) ? 32 : 24;
		if (!page_add(page, tup, len))
			break;
		/* some garbage in the alignment padding */
		if (MAXALIGN(len) > len)
			page[ph->pd_upper + len] = (char) 0x77;
	}
	ItemIdSetUnused(PageGetItemId((Page) page, 3));
	ItemIdSetRedirect(PageGetItemId((Page) page, 5), 6);
	ItemIdSetDead(PageGetItemId((Page) page, 7));
	PageGetItemId((Page) page, 9)->lp_flags = LP_DEAD;	/* dead with storage */
}

/*
 * encode_columnar builds a columnar frame of page whatever the plain
 * alternative would give (the static functions of runframe.c are in this
 * program); returns its length, 0 when the page does not allow it.
 */
static size_t
encode_columnar(ZSTD_CCtx *cctx, BlockNumber vblock, const char *page,
				char *out, size_t outcap, char *x, size_t *xlen)
{
	PhFrameHeader hdr;
	size_t		bounds[3];
	size_t		n;

	*xlen = columnar_encode(page, x, bounds);
	if (*xlen == 0)
		return 0;
	n = compress_sections(cctx, x, bounds, 3, out + sizeof(hdr), outcap - sizeof(hdr));
	if (n == 0)
		return 0;
	hdr.vblock = vblock;
	hdr.hole_off = ((PageHeader) page)->pd_lower;
	hdr.hole_len = ((PageHeader) page)->pd_upper - ((PageHeader) page)->pd_lower;
	hdr.raw_len = (uint16) *xlen;
	hdr.flags = PH_FRAME_COLUMNAR;
	memcpy(out, &hdr, sizeof(hdr));
	return sizeof(hdr) + n;
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

	printf("1..24\n");
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);

	/* 1-2: round trip of a half-full page restores it exactly */
	make_heap_page(src.data, 1, 30);
	st = ph_frame_encode(cctx, 7, src.data, PH_FRAME_ALL_FROZEN | PH_FRAME_COLUMNAR, frame, sizeof(frame), &flen);
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

	/* 16-17: the narrow table's page goes columnar, and much smaller */
	{
		PhFrameHeader h;
		size_t		plain;
		size_t		total = 0;

		make_narrow_page(src.data, 1);
		st = ph_frame_encode(cctx, 11, src.data, PH_FRAME_ALL_FROZEN | PH_FRAME_COLUMNAR, frame, sizeof(frame), &flen);
		memcpy(&h, frame, sizeof(h));
		plain = ZSTD_compress2(cctx, run.data, BLCKSZ, src.data, BLCKSZ);
		ok(st == PH_FRAME_OK && (h.flags & PH_FRAME_COLUMNAR) &&
		   flen * 4 < plain * 3,
		   "narrow page: columnar frame at most 3/4 of the plain one");
		allok = true;
		for (i = 0; i < 20; i++)
		{
			make_narrow_page(src.data, i);
			memset(dst.data, 0xaa, BLCKSZ);	/* every byte must be rewritten */
			if (ph_frame_encode(cctx, 11, src.data, PH_FRAME_ALL_FROZEN | PH_FRAME_COLUMNAR, frame, sizeof(frame), &flen) != PH_FRAME_OK ||
				ph_frame_decode(dctx, frame, flen, 11, dst.data, detail) != PH_FRAME_OK ||
				memcmp(src.data, dst.data, BLCKSZ) != 0)
				allok = false;
			total += flen;
		}
		ok(allok && total / 20 * 3 < BLCKSZ - 64,
		   "narrow pages round trip, three frames fit a run page");
		st = ph_frame_encode(cctx, 11, src.data, PH_FRAME_ALL_FROZEN, frame, sizeof(frame), &flen);
		memcpy(&h, frame, sizeof(h));
		ok(st == PH_FRAME_OK && !(h.flags & PH_FRAME_COLUMNAR) &&
		   ph_frame_decode(dctx, frame, flen, 11, dst.data, detail) == PH_FRAME_OK &&
		   memcmp(src.data, dst.data, BLCKSZ) == 0,
		   "without PH_FRAME_COLUMNAR the frame is plain");
	}

	/* 18: irregular pages round trip through the columnar transform */
	{
		static char x[PH_FRAME_COLUMNAR_MAX];
		size_t		xlen;

		allok = true;
		for (i = 0; i < 50; i++)
		{
			make_irregular_page(src.data, i);
			flen = encode_columnar(cctx, 12, src.data, frame, sizeof(frame), x, &xlen);
			memset(dst.data, 0xaa, BLCKSZ);	/* every byte must be rewritten */
			if (flen == 0 ||
				ph_frame_decode(dctx, frame, flen, 12, dst.data, detail) != PH_FRAME_OK ||
				memcmp(src.data, dst.data, BLCKSZ) != 0)
			{
				allok = false;
				printf("# irregular page %d: %zu %s\n", i, flen, detail);
			}
		}
		ok(allok, "irregular pages (null bitmaps, dead/redirect/unused items, padding garbage) round trip");

		/* 19: overlapping tuples cannot be transformed (stored plain) */
		make_irregular_page(src.data, 3);
		ItemIdSetNormal(PageGetItemId((Page) src.data, 2),
						ItemIdGetOffset(PageGetItemId((Page) src.data, 1)) + 8, 40);
		ok(encode_columnar(cctx, 12, src.data, frame, sizeof(frame), x, &xlen) == 0 &&
		   ph_frame_encode(cctx, 12, src.data, PH_FRAME_COLUMNAR, frame, sizeof(frame), &flen) == PH_FRAME_OK &&
		   ph_frame_decode(dctx, frame, flen, 12, dst.data, detail) == PH_FRAME_OK &&
		   memcmp(src.data, dst.data, BLCKSZ) == 0,
		   "a page with overlapping items is stored plain and round trips");

		/* 20-21: the columnar flag of the frame header flipped either way */
		make_narrow_page(src.data, 5);
		flen = encode_columnar(cctx, 13, src.data, frame, sizeof(frame), x, &xlen);
		frame[offsetof(PhFrameHeader, flags)] &= ~PH_FRAME_COLUMNAR;
		ok(ph_frame_decode(dctx, frame, flen, 13, dst.data, detail) != PH_FRAME_OK,
		   "columnar frame without its flag is reported");
		make_heap_page(src.data, 5, 40);
		ZSTD_CCtx_reset(cctx, ZSTD_reset_session_only);
		st = ph_frame_encode(cctx, 13, src.data, PH_FRAME_COLUMNAR, frame, sizeof(frame), &flen);
		{
			PhFrameHeader h;

			memcpy(&h, frame, sizeof(h));
			h.flags ^= PH_FRAME_COLUMNAR;
			memcpy(frame, &h, sizeof(h));
		}
		ok(st == PH_FRAME_OK &&
		   ph_frame_decode(dctx, frame, flen, 13, dst.data, detail) != PH_FRAME_OK,
		   "frame with the columnar flag flipped is reported");

		/* 22: damaged columnar images (valid zstd checksum) never crash */
		allok = true;
		for (i = 0; i < 3000; i++)
		{
			static char bad[PH_FRAME_COLUMNAR_MAX];
			size_t		bounds[3];
			size_t		blen;
			size_t		n;
			PhFrameHeader h;

			if (i % 2)
				make_narrow_page(src.data, i);
			else
				make_irregular_page(src.data, i);
			xlen = columnar_encode(src.data, x, bounds);
			if (xlen == 0)
			{
				allok = false;
				continue;
			}
			memcpy(bad, x, xlen);
			blen = xlen;
			switch (i % 3)
			{
				case 0:			/* a few random bytes */
					for (int j = 0; j < 1 + i % 4; j++)
						bad[random() % xlen] ^= (char) (1 + random() % 255);
					break;
				case 1:			/* truncated */
					blen = random() % xlen;
					break;
				case 2:			/* a byte in the structural section */
					bad[random() % bounds[0]] = (char) random();
					break;
			}
			bounds[0] = bounds[1] = bounds[2] = blen;
			n = compress_sections(cctx, bad, bounds, 1, frame + sizeof(h),
								  sizeof(frame) - sizeof(h));
			memset(&h, 0, sizeof(h));
			h.vblock = 14;
			h.hole_off = ((PageHeader) src.data)->pd_lower;
			h.hole_len = ((PageHeader) src.data)->pd_upper - h.hole_off;
			h.raw_len = (uint16) blen;
			h.flags = PH_FRAME_COLUMNAR;
			memcpy(frame, &h, sizeof(h));
			st = ph_frame_decode(dctx, frame, sizeof(h) + n, 14, dst.data, detail);
			/* a decoded page must at least be structurally sound */
			if (st == PH_FRAME_OK && !page_header_sane(dst.data, NULL))
				allok = false;
		}
		ok(allok, "damaged columnar images are rejected or decode to a sound page");

		/* 23: every byte flip of a columnar frame is detected or harmless */
		make_narrow_page(src.data, 9);
		flen = encode_columnar(cctx, 15, src.data, frame, sizeof(frame), x, &xlen);
		undetected = 0;
		for (i = 0; i < (int) flen; i++)
		{
			frame[i] ^= 0x5a;
			st = ph_frame_decode(dctx, frame, flen, 15, dst.data, detail);
			if (st == PH_FRAME_OK && memcmp(src.data, dst.data, BLCKSZ) != 0)
				undetected++;
			frame[i] ^= 0x5a;
		}
		ok(undetected == 0, "no byte flip of a columnar frame yields a wrong image");
	}

	ZSTD_freeCCtx(cctx);
	ZSTD_freeDCtx(dctx);
	return nfailed == 0 ? 0 : 1;
}
