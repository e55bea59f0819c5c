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
 * ph_frame_encode: see runframe.h.  The page minus its hole is gathered
 * into a local block (with pd_checksum zeroed: it is only meaningful on
 * disk and local buffers rewrite it in place) and compressed as one zstd
 * frame behind the frame header.
 */
PhFrameStatus
ph_frame_encode(ZSTD_CCtx *cctx, BlockNumber vblock, const char *page,
				uint16 flags, char *out, size_t outcap, size_t *outlen)
{
	const PageHeaderData *ph = (const PageHeaderData *) page;
	PGAlignedBlock raw;
	PhFrameHeader hdr;
	size_t		n;

	if (!page_header_sane(page, NULL))
		return PH_FRAME_BAD_SOURCE;
	if (outcap <= sizeof(PhFrameHeader))
		return PH_FRAME_TOO_BIG;

	hdr.vblock = vblock;
	hdr.hole_off = ph->pd_lower;
	hdr.hole_len = ph->pd_upper - ph->pd_lower;
	hdr.raw_len = BLCKSZ - hdr.hole_len;
	hdr.flags = flags;

	memcpy(raw.data, page, hdr.hole_off);
	memcpy(raw.data + hdr.hole_off, page + ph->pd_upper,
		   BLCKSZ - ph->pd_upper);
	((PageHeader) raw.data)->pd_checksum = 0;

	n = ZSTD_compress2(cctx, out + sizeof(PhFrameHeader),
					   outcap - sizeof(PhFrameHeader), raw.data, hdr.raw_len);
	if (ZSTD_isError(n))
		return PH_FRAME_TOO_BIG;	/* dstSize_tooSmall in practice */

	memcpy(out, &hdr, sizeof(PhFrameHeader));
	*outlen = sizeof(PhFrameHeader) + n;
	return PH_FRAME_OK;
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
	PGAlignedBlock raw;
	size_t		n;
	PageHeaderData *ph;

	if (len <= sizeof(PhFrameHeader))
	{
		snprintf(detail, PH_FRAME_DETAIL_LEN, "frame of %zu bytes is too short", len);
		return PH_FRAME_BAD_HEADER;
	}
	memcpy(&hdr, frame, sizeof(PhFrameHeader));
	src = frame + sizeof(PhFrameHeader);
	srclen = len - sizeof(PhFrameHeader);

	if (hdr.vblock != vblock ||
		hdr.hole_off < SizeOfPageHeaderData ||
		(uint32) hdr.hole_off + hdr.hole_len > BLCKSZ ||
		(uint32) hdr.raw_len + hdr.hole_len != BLCKSZ ||
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

	n = ZSTD_decompressDCtx(dctx, raw.data, BLCKSZ, src, srclen);
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

	memcpy(dest, raw.data, hdr.hole_off);
	memset(dest + hdr.hole_off, 0, hdr.hole_len);
	memcpy(dest + hdr.hole_off + hdr.hole_len, raw.data + hdr.hole_off,
		   BLCKSZ - hdr.hole_off - hdr.hole_len);

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
