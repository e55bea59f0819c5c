/*-------------------------------------------------------------------------
 *
 * runframe.c
 *	  Encoding and decoding of cold-run frames (format in
 *	  include/phantom/lsm/runframe.h).
 *
 *	  This file owns the byte layout of a frame and the structural checks of
 *	  a run page.  It calls no backend function (no palloc, no ereport, no
 *	  buffer manager): it works on caller-provided memory and reports
 *	  problems as a PhFrameStatus plus a detail text.  That keeps it usable
 *	  from the server-less unit tests and, later, from compression threads.
 *
 *	  Invariants of a valid frame: hole_off >= SizeOfPageHeaderData,
 *	  hole_off + hole_len <= BLCKSZ, raw_len = BLCKSZ - hole_len, the zstd
 *	  frame declares raw_len content bytes, carries a content checksum and
 *	  fills the rest of the item exactly; the rebuilt page has pd_lower =
 *	  hole_off and pd_upper = hole_off + hole_len.
 *
 * src/lsm/runframe.c
 *
 *-------------------------------------------------------------------------
 */
#ifdef FRONTEND
#include "postgres_fe.h"
#else
#include "postgres.h"
#endif

#include <zstd.h>

#include "storage/bufpage.h"

/*
 * Where a heap tuple header keeps t_hoff, and its fixed size; spelled out
 * because the frontend build cannot include access/htup_details.h.
 */
#define PH_TUPLE_HOFF_AT	22
#define PH_TUPLE_MIN_LEN	23
#ifndef FRONTEND
#include "access/htup_details.h"
StaticAssertDecl(offsetof(HeapTupleHeaderData, t_hoff) == PH_TUPLE_HOFF_AT,
				 "t_hoff moved");
StaticAssertDecl(SizeofHeapTupleHeader == PH_TUPLE_MIN_LEN,
				 "heap tuple header size changed");
#endif

#include "phantom/lsm/runframe.h"

/*
 * page_header_sane checks the fields of a standard page header that tell
 * where things are, so that nothing read through them leaves the page.
 */
static bool
page_header_sane(const char *page, char *detail)
{
	const PageHeaderData *ph = (const PageHeaderData *) page;

	if (PageGetPageSize((Page) page) != BLCKSZ ||
		PageGetPageLayoutVersion((Page) page) != PG_PAGE_LAYOUT_VERSION)
	{
		if (detail)
			snprintf(detail, PH_FRAME_DETAIL_LEN,
					 "page size/version field is %u",
					 (unsigned) ph->pd_pagesize_version);
		return false;
	}
	if ((ph->pd_flags & ~PD_VALID_FLAG_BITS) != 0 ||
		ph->pd_lower < SizeOfPageHeaderData ||
		ph->pd_lower > ph->pd_upper ||
		ph->pd_upper > ph->pd_special ||
		ph->pd_special > BLCKSZ ||
		ph->pd_special != MAXALIGN(ph->pd_special))
	{
		if (detail)
			snprintf(detail, PH_FRAME_DETAIL_LEN,
					 "page header has flags 0x%x, lower %u, upper %u, special %u",
					 (unsigned) ph->pd_flags, (unsigned) ph->pd_lower,
					 (unsigned) ph->pd_upper, (unsigned) ph->pd_special);
		return false;
	}
	return true;
}

/*
 * The columnar transform (PH_FRAME_COLUMNAR).  A frozen heap page repeats
 * the same tuple header ~100 times and interleaves columns of very
 * different kinds (counters, random integers, text), which one zstd frame
 * over the raw page compresses only ~2x.  The transform rearranges the
 * page minus its hole into byte columns -- the line pointer array as 4
 * columns, the tuple headers [0, t_hoff) and the tuple data [t_hoff,
 * lp_len) each transposed byte by byte -- and delta-codes every column for
 * which that leaves fewer distinct byte values.  Constant header fields and
 * counters then cost almost nothing, and data columns with a small
 * alphabet (<= PH_COL_NARROW_MAX values, e.g. hex text) are kept apart from
 * the others in their own zstd block, so each group gets its own Huffman
 * table.  The transformed buffer is:
 *
 *		page header (24 bytes, pd_checksum zeroed)
 *		4 column codes, then the line pointer array as 4 columns
 *		t_hoff of each stored tuple (nt bytes)
 *		maxhoff column codes, then the header columns
 *		maxdata column codes
 *		residual: the bytes of [pd_upper, BLCKSZ) outside stored tuples
 *		--- zstd block boundary ---
 *		narrow data columns, in column order
 *		--- zstd block boundary ---
 *		wide data columns, in column order
 *
 * A *stored tuple* is a line pointer with LP_NORMAL and a length > 0;
 * column j of a group holds byte j of every row longer than j, in line
 * pointer order.  A column code is PH_COL_DELTA (bytes are differences to
 * the previous byte of the column, the first to 0) and/or PH_COL_WIDE (data
 * columns only: stored in the wide group).  The transform is lossless for
 * any page whose stored tuples lie in [pd_upper, BLCKSZ), do not overlap,
 * are at least SizeofHeapTupleHeader long and have t_hoff <= their length;
 * other pages are stored plain.
 */
#define PH_COL_DELTA		0x01
#define PH_COL_WIDE			0x02
#define PH_COL_NARROW_MAX	16
#define PH_COL_MAX_ITEMS	((BLCKSZ - SizeOfPageHeaderData) / sizeof(ItemIdData))

typedef struct PhColRows
{
	int			n;
	uint16		off[PH_COL_MAX_ITEMS];	/* row start in the page */
	uint16		len[PH_COL_MAX_ITEMS];	/* row length */
	int			width;			/* longest row */
	int			minlen;			/* shortest row (decoding only) */
} PhColRows;

/*
 * columnar_tuples finds the stored tuples of page (whose header and line
 * pointer array are valid) and checks that they lie in [pd_upper, BLCKSZ)
 * without overlapping; order receives their indexes by descending offset
 * (the usual line pointer order, so the insertion sort is linear).
 * Returns the number of tuples, or -1 (with detail) when the layout does
 * not allow the transform.
 */
static int
columnar_tuples(const char *page, uint16 *off, uint16 *len, uint16 *order,
				char *detail)
{
	const PageHeaderData *ph = (const PageHeaderData *) page;
	int			nlp = (ph->pd_lower - SizeOfPageHeaderData) / sizeof(ItemIdData);
	int			nt = 0;

	for (int i = 0; i < nlp; i++)
	{
		const ItemIdData *lp = &ph->pd_linp[i];
		uint32		o,
					l;
		int			k;

		if (!ItemIdIsNormal(lp) || ItemIdGetLength(lp) == 0)
			continue;
		o = ItemIdGetOffset(lp);
		l = ItemIdGetLength(lp);
		if (o < ph->pd_upper || o + l > BLCKSZ || l < PH_TUPLE_MIN_LEN)
		{
			if (detail)
				snprintf(detail, PH_FRAME_DETAIL_LEN,
						 "item %d has offset %u, length %u outside the tuple area",
						 i + 1, o, l);
			return -1;
		}
		off[nt] = (uint16) o;
		len[nt] = (uint16) l;
		for (k = nt; k > 0 && off[order[k - 1]] < o; k--)
			order[k] = order[k - 1];
		order[k] = (uint16) nt;
		nt++;
	}
	for (int k = 1; k < nt; k++)
	{
		if (off[order[k]] + len[order[k]] > off[order[k - 1]])
		{
			if (detail)
				snprintf(detail, PH_FRAME_DETAIL_LEN,
						 "items at offsets %u and %u overlap",
						 (unsigned) off[order[k]], (unsigned) off[order[k - 1]]);
			return -1;
		}
	}
	return nt;
}

/*
 * columnar_residual walks the bytes of [pd_upper, BLCKSZ) that no stored
 * tuple covers, in ascending order, copying them from page to x (to_x) or
 * back (x may be NULL to count them).  Returns their number.
 */
static size_t
columnar_residual(char *page, const uint16 *off, const uint16 *len,
				  const uint16 *order, int nt, char *x, bool to_x)
{
	uint32		pos = ((PageHeader) page)->pd_upper;
	size_t		n = 0;

	for (int k = nt; k >= 0; k--)
	{
		uint32		end = k > 0 ? off[order[k - 1]] : BLCKSZ;

		if (x != NULL && end > pos)
		{
			if (to_x)
				memcpy(x + n, page + pos, end - pos);
			else
				memcpy(page + pos, x + n, end - pos);
		}
		if (end > pos)
			n += end - pos;
		if (k > 0)
			pos = end + len[order[k - 1]];
	}
	return n;
}

/*
 * columnar_code picks the code of one column (bytes c[0..m)): delta when
 * the differences take fewer distinct values than the bytes themselves,
 * wide when what is stored still takes more than PH_COL_NARROW_MAX.
 * seen_raw/seen_delta (256 entries each) remember the stamp of the column
 * that last saw each value, so they are cleared once per group, not per
 * column.
 */
static uint8
columnar_code(const uint8 *c, int m, uint16 stamp, uint16 *seen_raw,
			  uint16 *seen_delta)
{
	int			nraw = 0,
				ndelta = 0;
	uint8		prev = 0;
	int			n;

	for (int k = 0; k < m; k++)
	{
		uint8		d = (uint8) (c[k] - prev);

		nraw += seen_raw[c[k]] != stamp;
		seen_raw[c[k]] = stamp;
		ndelta += seen_delta[d] != stamp;
		seen_delta[d] = stamp;
		prev = c[k];
	}
	n = ndelta < nraw ? ndelta : nraw;
	return (ndelta < nraw ? PH_COL_DELTA : 0) | (n > PH_COL_NARROW_MAX ? PH_COL_WIDE : 0);
}

/*
 * columnar_put_group writes the codes of a row group at *pos in x and its
 * columns: into x (at *pos, after the codes) when wide_x/narrow_x are
 * NULL, else into narrow_x or wide_x by code.
 */
static void
columnar_put_group(const char *page, const PhColRows *rows, bool split,
				   char *x, size_t *pos, char *narrow_x, size_t *npos,
				   char *wide_x, size_t *wpos)
{
	uint8		col[PH_COL_MAX_ITEMS];
	uint16		seen_raw[256];
	uint16		seen_delta[256];
	size_t		codes = *pos;

	memset(seen_raw, 0, sizeof(seen_raw));
	memset(seen_delta, 0, sizeof(seen_delta));
	*pos += rows->width;
	for (int j = 0; j < rows->width; j++)
	{
		int			m = 0;
		uint8		code;
		uint8		prev = 0;
		char	   *dst;
		size_t	   *dpos;

		for (int k = 0; k < rows->n; k++)
			if (rows->len[k] > j)
				col[m++] = (uint8) page[rows->off[k] + j];
		code = columnar_code(col, m, (uint16) (j + 1), seen_raw, seen_delta);
		if (!split)
			code &= ~PH_COL_WIDE;
		x[codes + j] = (char) code;
		if (!split)
			dst = x, dpos = pos;
		else if (code & PH_COL_WIDE)
			dst = wide_x, dpos = wpos;
		else
			dst = narrow_x, dpos = npos;
		for (int k = 0; k < m; k++)
		{
			dst[(*dpos)++] = (char) ((code & PH_COL_DELTA) ? (uint8) (col[k] - prev) : col[k]);
			prev = col[k];
		}
	}
}

/*
 * columnar_encode builds the transformed image of page into x (room for
 * PH_FRAME_COLUMNAR_MAX bytes) and returns its length, with bounds[0..2]
 * the ends of its three sections; 0 when the page does not allow it.
 */
static size_t
columnar_encode(const char *page, char *x, size_t *bounds)
{
	const PageHeaderData *ph = (const PageHeaderData *) page;
	PhColRows	rows;
	uint16		toff[PH_COL_MAX_ITEMS];
	uint16		tlen[PH_COL_MAX_ITEMS];
	uint16		order[PH_COL_MAX_ITEMS];
	uint8		hoff[PH_COL_MAX_ITEMS];
	char		narrow_x[BLCKSZ];
	char		wide_x[BLCKSZ];
	size_t		pos,
				npos = 0,
				wpos = 0;
	int			nlp,
				nt;

	if ((ph->pd_lower - SizeOfPageHeaderData) % sizeof(ItemIdData) != 0)
		return 0;
	nlp = (ph->pd_lower - SizeOfPageHeaderData) / sizeof(ItemIdData);
	nt = columnar_tuples(page, toff, tlen, order, NULL);
	if (nt < 0)
		return 0;
	for (int k = 0; k < nt; k++)
	{
		hoff[k] = (uint8) page[toff[k] + PH_TUPLE_HOFF_AT];
		if (hoff[k] > tlen[k])
			return 0;
	}

	memcpy(x, page, SizeOfPageHeaderData);
	((PageHeader) x)->pd_checksum = 0;
	pos = SizeOfPageHeaderData;

	/* line pointers: 4-byte rows */
	rows.n = nlp;
	rows.width = sizeof(ItemIdData);
	for (int i = 0; i < nlp; i++)
	{
		rows.off[i] = SizeOfPageHeaderData + i * sizeof(ItemIdData);
		rows.len[i] = sizeof(ItemIdData);
	}
	columnar_put_group(page, &rows, false, x, &pos, NULL, NULL, NULL, NULL);

	/* t_hoff of each stored tuple, then the headers */
	memcpy(x + pos, hoff, nt);
	pos += nt;
	rows.n = nt;
	rows.width = 0;
	for (int k = 0; k < nt; k++)
	{
		rows.off[k] = toff[k];
		rows.len[k] = hoff[k];
		rows.width = Max(rows.width, hoff[k]);
	}
	columnar_put_group(page, &rows, false, x, &pos, NULL, NULL, NULL, NULL);

	/* data: codes here, columns into the narrow and wide sections */
	rows.width = 0;
	for (int k = 0; k < nt; k++)
	{
		rows.off[k] = toff[k] + hoff[k];
		rows.len[k] = tlen[k] - hoff[k];
		rows.width = Max(rows.width, rows.len[k]);
	}
	columnar_put_group(page, &rows, true, x, &pos, narrow_x, &npos,
					   wide_x, &wpos);
	/* residual bytes of the tuple area */
	pos += columnar_residual(unconstify(char *, page), toff, tlen, order, nt,
							 x + pos, true);
	bounds[0] = pos;
	memcpy(x + pos, narrow_x, npos);
	pos += npos;
	bounds[1] = pos;
	memcpy(x + pos, wide_x, wpos);
	pos += wpos;
	bounds[2] = pos;
	return pos;
}

/*
 * compress_sections compresses x as one zstd frame (content size pledged),
 * ending a zstd block at each section boundary so that every section gets
 * its own entropy tables.  Returns the compressed length, 0 when it does
 * not fit cap.
 */
static size_t
compress_sections(ZSTD_CCtx *cctx, const char *x, const size_t *bounds,
				  int nsec, char *dst, size_t cap)
{
	ZSTD_outBuffer out = {dst, cap, 0};
	size_t		start = 0;

	ZSTD_CCtx_reset(cctx, ZSTD_reset_session_only);
	if (ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(cctx, bounds[nsec - 1])))
		return 0;
	for (int s = 0; s < nsec; s++)
	{
		ZSTD_inBuffer in = {x + start, bounds[s] - start, 0};
		ZSTD_EndDirective mode = (s == nsec - 1) ? ZSTD_e_end : ZSTD_e_flush;
		size_t		r;

		if (in.size == 0 && mode == ZSTD_e_flush)
			continue;
		do
		{
			r = ZSTD_compressStream2(cctx, &out, &in, mode);
			if (ZSTD_isError(r) || (r != 0 && out.pos == out.size))
			{
				ZSTD_CCtx_reset(cctx, ZSTD_reset_session_only);
				return 0;
			}
		} while (r != 0);
		start = bounds[s];
	}
	return out.pos;
}

/*
 * ph_frame_encode: see runframe.h.  The page minus its hole is gathered
 * into a local block (with pd_checksum zeroed: it is only meaningful on
 * disk and local buffers rewrite it in place) and compressed as one zstd
 * frame behind the frame header; the columnar transform of the page is
 * compressed too, and the smaller of the two is kept.
 */
PhFrameStatus
ph_frame_encode(ZSTD_CCtx *cctx, BlockNumber vblock, const char *page,
				uint16 flags, char *out, size_t outcap, size_t *outlen)
{
	const PageHeaderData *ph = (const PageHeaderData *) page;
	PGAlignedBlock raw;
	PhFrameHeader hdr;
	size_t		n;
	char		x[PH_FRAME_COLUMNAR_MAX];
	char		cout[PH_FRAME_MAX_SIZE];
	size_t		bounds[3];
	size_t		xlen;
	size_t		cn = 0;

	if (!page_header_sane(page, NULL))
		return PH_FRAME_BAD_SOURCE;
	if (outcap <= sizeof(PhFrameHeader))
		return PH_FRAME_TOO_BIG;

	hdr.vblock = vblock;
	hdr.hole_off = ph->pd_lower;
	hdr.hole_len = ph->pd_upper - ph->pd_lower;
	hdr.raw_len = BLCKSZ - hdr.hole_len;
	hdr.flags = flags & ~PH_FRAME_COLUMNAR;

	/*
	 * The columnar candidate first; when it compresses the page to a third
	 * or less, the plain frame could not win by much and is not tried.
	 */
	xlen = (flags & PH_FRAME_COLUMNAR) ? columnar_encode(page, x, bounds) : 0;
	if (xlen > 0)
		cn = compress_sections(cctx, x, bounds, 3, cout,
							   Min(outcap, sizeof(cout)) - sizeof(PhFrameHeader));
	n = 0;
	if (cn == 0 || cn * 3 > hdr.raw_len)
	{
		memcpy(raw.data, page, hdr.hole_off);
		memcpy(raw.data + hdr.hole_off, page + ph->pd_upper,
			   BLCKSZ - ph->pd_upper);
		((PageHeader) raw.data)->pd_checksum = 0;
		n = ZSTD_compress2(cctx, out + sizeof(PhFrameHeader),
						   outcap - sizeof(PhFrameHeader), raw.data, hdr.raw_len);
		if (ZSTD_isError(n))
			n = 0;				/* dstSize_tooSmall in practice */
	}
	if (cn > 0 && (n == 0 || cn < n))
	{
		memcpy(out + sizeof(PhFrameHeader), cout, cn);
		n = cn;
		hdr.raw_len = (uint16) xlen;
		hdr.flags |= PH_FRAME_COLUMNAR;
	}
	if (n == 0)
		return PH_FRAME_TOO_BIG;

	memcpy(out, &hdr, sizeof(PhFrameHeader));
	*outlen = sizeof(PhFrameHeader) + n;
	return PH_FRAME_OK;
}

/*
 * Reading side of the columnar transform: a cursor over the decompressed
 * buffer that refuses to read past its end.
 */
typedef struct PhColCursor
{
	const uint8 *x;
	size_t		len;
	size_t		pos;
} PhColCursor;

static bool
cursor_take(PhColCursor *c, size_t n, const uint8 **p)
{
	if (n > c->len - c->pos)
		return false;
	*p = c->x + c->pos;
	c->pos += n;
	return true;
}

/*
 * columnar_get_group reads the codes of a row group from codes_cur and
 * its columns from col_cur (narrow) / wide_cur (wide) into dest.
 */
static bool
columnar_get_group(char *dest, const PhColRows *rows, bool split,
				   PhColCursor *codes_cur, PhColCursor *col_cur,
				   PhColCursor *wide_cur)
{
	const uint8 *codes;

	if (!cursor_take(codes_cur, rows->width, &codes))
		return false;
	for (int j = 0; j < rows->width; j++)
	{
		uint8		code = codes[j];
		PhColCursor *cur = col_cur;
		uint8		prev = 0;

		if (code & ~(PH_COL_DELTA | PH_COL_WIDE))
			return false;
		if (code & PH_COL_WIDE)
		{
			if (!split)
				return false;
			cur = wide_cur;
		}
		{
			const uint8 *b = cur->x + cur->pos;
			size_t		avail = cur->len - cur->pos;
			size_t		used = 0;

			if (j < rows->minlen)
			{
				/* every row has this column: no length test per byte */
				if ((size_t) rows->n > avail)
					return false;
				if (code & PH_COL_DELTA)
					for (int k = 0; k < rows->n; k++)
					{
						prev += b[k];
						dest[rows->off[k] + j] = (char) prev;
					}
				else
					for (int k = 0; k < rows->n; k++)
						dest[rows->off[k] + j] = (char) b[k];
				used = rows->n;
			}
			else if (code & PH_COL_DELTA)
			{
				for (int k = 0; k < rows->n; k++)
				{
					if (rows->len[k] <= j)
						continue;
					if (used == avail)
						return false;
					prev += b[used++];
					dest[rows->off[k] + j] = (char) prev;
				}
			}
			else
			{
				for (int k = 0; k < rows->n; k++)
				{
					if (rows->len[k] <= j)
						continue;
					if (used == avail)
						return false;
					dest[rows->off[k] + j] = (char) b[used++];
				}
			}
			cur->pos += used;
		}
	}
	return true;
}

/*
 * columnar_decode rebuilds the page from its transformed image x (xlen
 * bytes) into dest, checking every read; the caller checks the rebuilt
 * page header against the frame header.
 */
static PhFrameStatus
columnar_decode(const char *x, size_t xlen, const PhFrameHeader *hdr,
				char *dest, char *detail)
{
	PageHeaderData *ph = (PageHeaderData *) dest;
	PhColCursor cur = {(const uint8 *) x, xlen, 0};
	PhColCursor narrow,
				wide;
	PhColRows	rows;
	uint16		toff[PH_COL_MAX_ITEMS];
	uint16		tlen[PH_COL_MAX_ITEMS];
	uint16		order[PH_COL_MAX_ITEMS];
	const uint8 *hoff;
	const uint8 *datacodes;
	const uint8 *p;
	int			nlp,
				nt;
	size_t		nres,
				nnarrow;

	if (xlen < SizeOfPageHeaderData)
		goto short_image;
	memcpy(dest, x, SizeOfPageHeaderData);
	cur.pos = SizeOfPageHeaderData;
	if (!page_header_sane(dest, detail))
		return PH_FRAME_BAD_IMAGE;
	if (ph->pd_lower != hdr->hole_off ||
		ph->pd_upper != hdr->hole_off + hdr->hole_len ||
		(ph->pd_lower - SizeOfPageHeaderData) % sizeof(ItemIdData) != 0)
	{
		snprintf(detail, PH_FRAME_DETAIL_LEN,
				 "image has lower %u, upper %u but frame hole is %u+%u",
				 (unsigned) ph->pd_lower, (unsigned) ph->pd_upper,
				 (unsigned) hdr->hole_off, (unsigned) hdr->hole_len);
		return PH_FRAME_BAD_IMAGE;
	}
	nlp = (ph->pd_lower - SizeOfPageHeaderData) / sizeof(ItemIdData);
	/* every byte outside the hole is written below */
	memset(dest + ph->pd_lower, 0, ph->pd_upper - ph->pd_lower);

	/* line pointers */
	rows.n = nlp;
	rows.width = sizeof(ItemIdData);
	rows.minlen = sizeof(ItemIdData);
	for (int i = 0; i < nlp; i++)
	{
		rows.off[i] = SizeOfPageHeaderData + i * sizeof(ItemIdData);
		rows.len[i] = sizeof(ItemIdData);
	}
	if (!columnar_get_group(dest, &rows, false, &cur, &cur, NULL))
		goto short_image;

	nt = columnar_tuples(dest, toff, tlen, order, detail);
	if (nt < 0)
		return PH_FRAME_BAD_IMAGE;

	/* headers */
	if (!cursor_take(&cur, nt, &hoff))
		goto short_image;
	rows.n = nt;
	rows.width = 0;
	rows.minlen = PG_UINT16_MAX;
	for (int k = 0; k < nt; k++)
	{
		if (hoff[k] > tlen[k])
		{
			snprintf(detail, PH_FRAME_DETAIL_LEN,
					 "tuple header length %u exceeds tuple length %u",
					 (unsigned) hoff[k], (unsigned) tlen[k]);
			return PH_FRAME_BAD_IMAGE;
		}
		rows.off[k] = toff[k];
		rows.len[k] = hoff[k];
		rows.width = Max(rows.width, hoff[k]);
		rows.minlen = Min(rows.minlen, hoff[k]);
	}
	if (!columnar_get_group(dest, &rows, false, &cur, &cur, NULL))
		goto short_image;

	/* data rows; their codes tell how long the narrow section is */
	rows.width = 0;
	rows.minlen = PG_UINT16_MAX;
	for (int k = 0; k < nt; k++)
	{
		rows.off[k] = toff[k] + hoff[k];
		rows.len[k] = tlen[k] - hoff[k];
		rows.width = Max(rows.width, rows.len[k]);
		rows.minlen = Min(rows.minlen, rows.len[k]);
	}
	if (!cursor_take(&cur, rows.width, &datacodes))
		goto short_image;
	cur.pos -= rows.width;		/* columnar_get_group reads them again */

	/* residual bytes */
	nres = columnar_residual(dest, toff, tlen, order, nt, NULL, false);
	{
		PhColCursor rescur = cur;

		rescur.pos += rows.width;
		if (!cursor_take(&rescur, nres, &p))
			goto short_image;
		columnar_residual(dest, toff, tlen, order, nt,
						  unconstify(char *, (const char *) p), false);
		narrow = rescur;
	}
	nnarrow = 0;
	for (int j = 0; j < rows.width; j++)
		if (!(datacodes[j] & PH_COL_WIDE))
			for (int k = 0; k < nt; k++)
				if (rows.len[k] > j)
					nnarrow++;
	wide = narrow;
	if (nnarrow > wide.len - wide.pos)
		goto short_image;
	wide.pos += nnarrow;
	if (!columnar_get_group(dest, &rows, true, &cur, &narrow, &wide))
		goto short_image;
	if (narrow.pos != cur.pos + nres + nnarrow || wide.pos != xlen)
	{
		snprintf(detail, PH_FRAME_DETAIL_LEN,
				 "columnar image has %zu bytes, its layout uses %zu",
				 xlen, wide.pos);
		return PH_FRAME_SIZE_MISMATCH;
	}
	return PH_FRAME_OK;

short_image:
	snprintf(detail, PH_FRAME_DETAIL_LEN,
			 "columnar image of %zu bytes ends early or has invalid column codes",
			 xlen);
	return PH_FRAME_BAD_IMAGE;
}

/*
 * ph_frame_decode: see runframe.h.  Checks go from the cheapest to the
 * most expensive: header fields, the zstd frame's declared sizes, then the
 * decompression itself (which verifies the content checksum), and last the
 * rebuilt page header against the frame header.
 */
PhFrameStatus
ph_frame_decode(ZSTD_DCtx *dctx, const char *frame, size_t len,
				BlockNumber vblock, char *dest, char *detail)
{
	PhFrameHeader hdr;
	const char *src;
	size_t		srclen;
	unsigned long long content;
	union
	{
		char		data[PH_FRAME_COLUMNAR_MAX];
		double		force_align_d;
	}			raw;
	size_t		n;
	PageHeaderData *ph;
	bool		columnar;

	if (len <= sizeof(PhFrameHeader))
	{
		snprintf(detail, PH_FRAME_DETAIL_LEN, "frame of %zu bytes is too short", len);
		return PH_FRAME_BAD_HEADER;
	}
	memcpy(&hdr, frame, sizeof(PhFrameHeader));
	src = frame + sizeof(PhFrameHeader);
	srclen = len - sizeof(PhFrameHeader);

	columnar = (hdr.flags & PH_FRAME_COLUMNAR) != 0;
	if (hdr.vblock != vblock ||
		hdr.hole_off < SizeOfPageHeaderData ||
		(uint32) hdr.hole_off + hdr.hole_len > BLCKSZ ||
		(columnar ? hdr.raw_len > PH_FRAME_COLUMNAR_MAX :
		 (uint32) hdr.raw_len + hdr.hole_len != BLCKSZ) ||
		(hdr.flags & ~PH_FRAME_VALID_FLAGS) != 0)
	{
		snprintf(detail, PH_FRAME_DETAIL_LEN,
				 "frame header says vblock %u, hole %u+%u, raw length %u, flags 0x%x",
				 hdr.vblock, (unsigned) hdr.hole_off, (unsigned) hdr.hole_len,
				 (unsigned) hdr.raw_len, (unsigned) hdr.flags);
		return PH_FRAME_BAD_HEADER;
	}

	content = ZSTD_getFrameContentSize(src, srclen);
	if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN)
	{
		snprintf(detail, PH_FRAME_DETAIL_LEN, "compressed data is not a zstd frame with a content size");
		return PH_FRAME_ZSTD_ERROR;
	}
	if (content != hdr.raw_len)
	{
		snprintf(detail, PH_FRAME_DETAIL_LEN,
				 "zstd frame holds %llu bytes, frame header says %u",
				 content, (unsigned) hdr.raw_len);
		return PH_FRAME_SIZE_MISMATCH;
	}
	n = ZSTD_findFrameCompressedSize(src, srclen);
	if (ZSTD_isError(n) || n != srclen)
	{
		snprintf(detail, PH_FRAME_DETAIL_LEN,
				 "zstd frame length does not match the item length %zu", srclen);
		return PH_FRAME_ZSTD_ERROR;
	}

	n = ZSTD_decompressDCtx(dctx, raw.data, sizeof(raw.data), src, srclen);
	if (ZSTD_isError(n))
	{
		snprintf(detail, PH_FRAME_DETAIL_LEN, "zstd: %s", ZSTD_getErrorName(n));
		return PH_FRAME_ZSTD_ERROR;
	}
	if (n != hdr.raw_len)
	{
		snprintf(detail, PH_FRAME_DETAIL_LEN,
				 "decompressed %zu bytes, expected %u", n, (unsigned) hdr.raw_len);
		return PH_FRAME_SIZE_MISMATCH;
	}

	if (columnar)
	{
		PhFrameStatus st = columnar_decode(raw.data, n, &hdr, dest, detail);

		if (st != PH_FRAME_OK)
			return st;
	}
	else
	{
		memcpy(dest, raw.data, hdr.hole_off);
		memset(dest + hdr.hole_off, 0, hdr.hole_len);
		memcpy(dest + hdr.hole_off + hdr.hole_len, raw.data + hdr.hole_off,
			   BLCKSZ - hdr.hole_off - hdr.hole_len);
	}

	ph = (PageHeaderData *) dest;
	if (!page_header_sane(dest, detail))
		return PH_FRAME_BAD_IMAGE;
	if (ph->pd_lower != hdr.hole_off ||
		ph->pd_upper != hdr.hole_off + hdr.hole_len)
	{
		snprintf(detail, PH_FRAME_DETAIL_LEN,
				 "image has lower %u, upper %u but frame hole is %u+%u",
				 (unsigned) ph->pd_lower, (unsigned) ph->pd_upper,
				 (unsigned) hdr.hole_off, (unsigned) hdr.hole_len);
		return PH_FRAME_BAD_IMAGE;
	}
	return PH_FRAME_OK;
}

/*
 * ph_run_page_find: see runframe.h.  Frames are stored in vblock order but
 * a run page holds few of them, so a linear walk is as fast as a binary
 * search and checks every line pointer on the way.
 */
PhFrameStatus
ph_run_page_find(const char *runpage, BlockNumber vblock,
				 const char **frame, size_t *len, char *detail)
{
	const PageHeaderData *ph = (const PageHeaderData *) runpage;
	OffsetNumber maxoff;
	OffsetNumber off;

	if (PageIsNew((Page) runpage))
	{
		snprintf(detail, PH_FRAME_DETAIL_LEN, "run page is uninitialized");
		return PH_FRAME_BAD_RUN_PAGE;
	}
	if (!page_header_sane(runpage, detail))
		return PH_FRAME_BAD_RUN_PAGE;

	maxoff = PageGetMaxOffsetNumber((Page) runpage);
	for (off = FirstOffsetNumber; off <= maxoff; off++)
	{
		const ItemIdData *lp = PageGetItemId((Page) runpage, off);
		BlockNumber fvblock;

		if (!ItemIdIsNormal(lp))
			continue;
		if (ItemIdGetOffset(lp) < ph->pd_upper ||
			ItemIdGetOffset(lp) + ItemIdGetLength(lp) > ph->pd_special ||
			ItemIdGetLength(lp) <= sizeof(PhFrameHeader))
		{
			snprintf(detail, PH_FRAME_DETAIL_LEN,
					 "item %u has offset %u, length %u outside the data area",
					 (unsigned) off, (unsigned) ItemIdGetOffset(lp),
					 (unsigned) ItemIdGetLength(lp));
			return PH_FRAME_BAD_RUN_PAGE;
		}
		memcpy(&fvblock, runpage + ItemIdGetOffset(lp), sizeof(BlockNumber));
		if (fvblock == vblock)
		{
			*frame = runpage + ItemIdGetOffset(lp);
			*len = ItemIdGetLength(lp);
			return PH_FRAME_OK;
		}
	}
	snprintf(detail, PH_FRAME_DETAIL_LEN, "run page has no frame for the block (%u items)",
			 (unsigned) maxoff);
	return PH_FRAME_MISSING;
}
