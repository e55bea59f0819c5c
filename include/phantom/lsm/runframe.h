/*-------------------------------------------------------------------------
 *
 * runframe.h
 *	  The byte format of cold-run frames (src/lsm/runframe.c), free of any
 *	  backend dependency so that it builds both into the extension and into
 *	  the server-less unit tests (regress/unit/test_runframe.c).
 *
 *	  A frame is the compressed image of one hot (heap-format) page:
 *
 *		PhFrameHeader		vblock, the page's hole [pd_lower, pd_upper),
 *							the uncompressed length, flags
 *		zstd frame			one standard zstd frame with its content size
 *							and a content checksum, holding the page minus
 *							its hole (bytes [0, pd_lower) then
 *							[pd_upper, BLCKSZ)), pd_checksum zeroed
 *
 *	  A run page stores one frame per item (line pointer); see run.h.
 *	  Every decoding function validates everything it reads and reports a
 *	  damaged frame through PhFrameStatus plus a detail text, never by
 *	  crashing, so that the caller can raise a clear ERROR.
 *
 * include/phantom/lsm/runframe.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHANTOM_LSM_RUNFRAME_H
#define PHANTOM_LSM_RUNFRAME_H

#include "storage/block.h"

/* zstd's opaque contexts, without including zstd.h here */
struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

typedef struct PhFrameHeader
{
	BlockNumber vblock;			/* the vblock whose image this is */
	uint16		hole_off;		/* pd_lower of the source page */
	uint16		hole_len;		/* pd_upper - pd_lower of the source page */
	uint16		raw_len;		/* bytes compressed: BLCKSZ - hole_len, or
								 * the columnar image's length */
	uint16		flags;			/* PH_FRAME_* */
} PhFrameHeader;

/* All tuples of the image are frozen with an invalid xmax (always, today). */
#define PH_FRAME_ALL_FROZEN		0x0001
/*
 * The zstd frame holds the columnar transform of the page (runframe.c),
 * raw_len bytes, instead of the page minus its hole.
 */
#define PH_FRAME_COLUMNAR		0x0002
#define PH_FRAME_VALID_FLAGS	0x0003

/* Upper bound of a columnar image: the page plus its codes and t_hoffs. */
#define PH_FRAME_COLUMNAR_MAX	(3 * BLCKSZ)

/* Room for the largest frame of one page (header + zstd bound). */
#define PH_FRAME_MAX_SIZE		(sizeof(PhFrameHeader) + BLCKSZ + 512)

typedef enum PhFrameStatus
{
	PH_FRAME_OK = 0,
	PH_FRAME_TOO_BIG,			/* encode: does not fit the output buffer */
	PH_FRAME_BAD_SOURCE,		/* encode: source page header is invalid */
	PH_FRAME_BAD_RUN_PAGE,		/* decode: run page header/items invalid */
	PH_FRAME_MISSING,			/* decode: no frame for the vblock */
	PH_FRAME_BAD_HEADER,		/* decode: frame header inconsistent */
	PH_FRAME_ZSTD_ERROR,		/* decode: zstd error (incl. checksum) */
	PH_FRAME_SIZE_MISMATCH,		/* decode: decompressed length differs */
	PH_FRAME_BAD_IMAGE			/* decode: rebuilt PageHeader invalid */
} PhFrameStatus;

#define PH_FRAME_DETAIL_LEN		256

/*
 * ph_frame_encode compresses the hot page image page of vblock into out
 * (outcap bytes) with cctx, whose level and checksum flag the caller has
 * set, and stores the frame length in *outlen.  With PH_FRAME_COLUMNAR in
 * flags it also tries the columnar transform and keeps the smaller frame
 * (the flag is set in the frame header only when the columnar one won).
 */
extern PhFrameStatus ph_frame_encode(struct ZSTD_CCtx_s *cctx,
									 BlockNumber vblock, const char *page,
									 uint16 flags, char *out, size_t outcap,
									 size_t *outlen);

/*
 * ph_frame_decode checks the frame (len bytes) and rebuilds vblock's page
 * into dest (BLCKSZ bytes) with the hole zeroed.  On failure, detail
 * (PH_FRAME_DETAIL_LEN bytes) receives an explanation.
 */
extern PhFrameStatus ph_frame_decode(struct ZSTD_DCtx_s *dctx,
									 const char *frame, size_t len,
									 BlockNumber vblock, char *dest,
									 char *detail);

/*
 * ph_run_page_find checks the layout of a run page (page header, line
 * pointers) and returns the frame of vblock in *frame / *len.  It does not
 * check the special space (the caller knows PhantomSpecial).
 */
extern PhFrameStatus ph_run_page_find(const char *runpage, BlockNumber vblock,
									  const char **frame, size_t *len,
									  char *detail);

#endif							/* PHANTOM_LSM_RUNFRAME_H */
