/*-------------------------------------------------------------------------
 *
 * records.h
 *	  Layout of the WAL records of phantom's resource manager, shared by
 *	  the code that writes them (src/wal/insert.c, src/wal/maint.c,
 *	  src/lsm/), redo (src/wal/redo.c) and desc (src/wal/desc.c).
 *	  docs/storage.md describes every record in prose.
 *
 *	  The opcode lives in the high four bits of xl_info
 *	  (XLR_RMGR_INFO_MASK), so phantom has sixteen opcodes.  Records are
 *	  written as fixed structs without padding assumptions: redo always
 *	  memcpy's them out of the record, never dereferences them in place.
 *
 * include/phantom/wal/records.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHANTOM_WAL_RECORDS_H
#define PHANTOM_WAL_RECORDS_H

#include "access/htup_details.h"
#include "access/xlogreader.h"
#include "storage/block.h"
#include "storage/bufpage.h"
#include "storage/off.h"

#include "phantom/wal/wal.h"

/* src/wal/insert.c, src/wal/redo.c: header-change images (see xl_ph_hdr) */
extern Size ph_hdr_encode(Page page, const PhHeaderChange *c, bool with_ctid,
						  char *out);
extern const char *ph_hdr_decode(const char *p, const char *end,
								 PhHeaderChange *c, uint8 *hflags);

#define XLOG_PH_INIT_META		0x00	/* lazy creation of the metapage */
#define XLOG_PH_NEW_VBLOCK		0x10	/* allocate a vblock, init its page */
#define XLOG_PH_INSERT			0x20	/* one tuple */
#define XLOG_PH_MULTI_INSERT	0x30	/* several tuples on one page */
#define XLOG_PH_SET_HEADERS		0x40	/* delete / lock / confirm ... */
#define XLOG_PH_UPDATE			0x50	/* old header + new tuple */
#define XLOG_PH_PRUNE			0x60	/* heap_page_prune_execute arrays */
#define XLOG_PH_FREEZE			0x70	/* freeze plans */
#define XLOG_PH_VISIBLE			0x80	/* PD_ALL_VISIBLE + VM bits */
#define XLOG_PH_MAP_COLD		0x90	/* vblock hot -> cold run page */
#define XLOG_PH_THAW			0xA0	/* vblock cold -> fresh hot page */
#define XLOG_PH_FREE_POP		0xB0	/* take a page off the free list */
#define XLOG_PH_FREE_PUSH		0xC0	/* put a page on the free list */
#define XLOG_PH_SHRINK			0xD0	/* tail truncation: reset, move, cut */
#define XLOG_PH_COUNTERS		0xE0	/* compaction byte counters (meta) */
#define XLOG_PH_VTRUNCATE		0xF0	/* VACUUM drops the last vblock */

/* Flags of tuple-changing records */
#define XLPH_INIT_PAGE			0x01	/* block 0 was (re)initialised */
#define XLPH_VM_CLEARED			0x02	/* all-visible cleared on block 0 */
#define XLPH_OLD_VM_CLEARED		0x04	/* update: ... on the old page */
#define XLPH_SET_PRUNABLE		0x08	/* PageSetPrunable(record's xid) */
#define XLPH_NEW_MAPPAGE		0x10	/* new vblock: map page is new */
#define XLPH_ALL_FROZEN_SET		0x20	/* multi-insert (COPY FREEZE): page and
										 * VM (block 1) set all-visible and
										 * all-frozen */
#define XLPH_LOGICAL			0x40	/* an xl_ph_logical ends the main data
										 * (see below) */
#define XLPH_FROZEN_CLEARED		0x80	/* set-headers (row lock): only the
										 * all-frozen VM bit was cleared, the
										 * page stays all-visible */

/*
 * What logical decoding needs (src/wal/decode.c), written only at
 * wal_level = logical for a logically logged relation, so that WAL at
 * wal_level = replica is unchanged.  A row record with XLPH_LOGICAL ends
 * its main data with this byte, then (XLPH_LOG_OLD_KEY/OLD_TUPLE) the old
 * row's replica identity as an xl_ph_tuple with no extras plus the tuple
 * from offsetof(HeapTupleHeaderData, t_bits) on, up to the end of the main
 * data.  Block 0 data is then kept even when a full-page image is taken
 * (REGBUF_KEEP_DATA), and an UPDATE's new tuple image is complete (no
 * shared prefix/suffix).  A row record without XLPH_LOGICAL decodes to
 * nothing, as do all other records.
 */
typedef struct xl_ph_logical
{
	uint8		lflags;			/* XLPH_LOG_* */
} xl_ph_logical;

#define SizeOfPhLogical			sizeof(uint8)
#define XLPH_LOG_SPECULATIVE	0x01	/* INSERT: speculative (ON CONFLICT) */
#define XLPH_LOG_LAST_IN_MULTI	0x02	/* MULTI_INSERT: last record of one
										 * multi_insert call (TOAST state may
										 * be dropped after its last tuple) */
#define XLPH_LOG_DELETE			0x04	/* SET_HEADERS: the row is deleted */
#define XLPH_LOG_CONFIRM		0x08	/* SET_HEADERS: speculative insertion
										 * confirmed */
#define XLPH_LOG_SUPER_DELETE	0x10	/* SET_HEADERS: speculative insertion
										 * killed */
#define XLPH_LOG_OLD_KEY		0x20	/* old replica identity key follows */
#define XLPH_LOG_OLD_TUPLE		0x40	/* whole old row follows (REPLICA
										 * IDENTITY FULL) */

/*
 * Tuple image in WAL: this fixed part, then the optional xids named by
 * flags, then the tuple from offsetof(HeapTupleHeaderData, t_bits) on
 * (null bitmap, padding, data).  xmin defaults to the record's xid, xmax
 * to invalid, t_cid to FirstCommandId (masked by rm_mask, as heap does),
 * t_ctid to the tuple's own TID.  In a same-page UPDATE the body may leave
 * out a prefix and a suffix of the data (after t_hoff) that equal the old
 * version's; the bitmap area [SizeofHeapTupleHeader, t_hoff) is always
 * there.
 */
typedef struct xl_ph_tuple
{
	uint16		t_infomask2;
	uint16		t_infomask;
	uint8		t_hoff;
	uint8		flags;			/* XLPH_TUP_* */
} xl_ph_tuple;

#define SizeOfPhTuple			(offsetof(xl_ph_tuple, flags) + sizeof(uint8))
#define XLPH_TUP_XMIN			0x01	/* explicit xmin follows */
#define XLPH_TUP_XMAX			0x02	/* explicit xmax follows */
#define XLPH_TUP_CTID			0x04	/* explicit t_ctid follows (token) */
#define XLPH_TUP_PREFIX			0x08	/* uint16: leading data bytes shared
										 * with the old version (same-page
										 * update), not logged */
#define XLPH_TUP_SUFFIX			0x10	/* uint16: trailing bytes, likewise */

/* src/wal/redo.c: bytes of the optional fields announced by xl_ph_tuple.flags */
extern Size ph_tuple_extras(uint8 flags);

/* XLOG_PH_NEW_VBLOCK: block 0 data page (init), 1 map page, 2 metapage */
typedef struct xl_ph_new_vblock
{
	BlockNumber vblock;
	BlockNumber free_head;		/* metapage free_head afterwards; only
								 * meaningful if npopped > 0 (pushes may
								 * have moved it meanwhile otherwise) */
	uint16		npopped;		/* pages taken off the free list */
	uint16		lane;			/* lane that now inserts into vblock, or
								 * PH_NO_LANE */
	uint8		flags;			/* XLPH_NEW_MAPPAGE */
} xl_ph_new_vblock;

#define SizeOfPhNewVblock		(offsetof(xl_ph_new_vblock, flags) + sizeof(uint8))
#define PH_NO_LANE				0xFFFF

/* XLOG_PH_INSERT: block 0 data page; block data xl_ph_tuple + tuple */
typedef struct xl_ph_insert
{
	BlockNumber vblock;
	OffsetNumber offnum;
	uint8		flags;			/* XLPH_INIT_PAGE, XLPH_VM_CLEARED */
} xl_ph_insert;

#define SizeOfPhInsert			(offsetof(xl_ph_insert, flags) + sizeof(uint8))

/*
 * XLOG_PH_MULTI_INSERT: block 0 data page; block data is ntuples times
 * (OffsetNumber offnum, uint16 len, xl_ph_tuple, extras, body); block 1
 * the VM page with XLPH_ALL_FROZEN_SET.
 */
typedef struct xl_ph_multi_insert
{
	BlockNumber vblock;
	uint16		ntuples;
	uint8		flags;			/* XLPH_INIT_PAGE, XLPH_VM_CLEARED */
} xl_ph_multi_insert;

#define SizeOfPhMultiInsert		(offsetof(xl_ph_multi_insert, flags) + sizeof(uint8))

/*
 * A tuple header change in WAL: this fixed part, then xmax, then xmin and
 * t_ctid only when they differ from what the tuple had (flags).  t_cid is
 * not logged (rm_mask ignores it; nothing reads the cid of another
 * backend's or a crashed transaction).  The pre-change page is the same on
 * the primary and in redo, so "unchanged" is well defined.
 */
typedef struct xl_ph_hdr
{
	OffsetNumber offnum;
	uint16		t_infomask;
	uint16		t_infomask2;
	uint8		flags;			/* XLPH_HDR_* */
} xl_ph_hdr;

#define SizeOfPhHdr				(offsetof(xl_ph_hdr, flags) + sizeof(uint8))
#define XLPH_HDR_XMIN			0x01	/* new xmin follows xmax */
#define XLPH_HDR_CTID			0x02	/* new t_ctid follows */
#define PH_HDR_MAX_IMAGE \
	(SizeOfPhHdr + 2 * sizeof(TransactionId) + sizeof(ItemPointerData))

/*
 * XLOG_PH_SET_HEADERS: block 0 data page; block data nchanges header
 * images.  The prune hint, if set, is the record's xid.
 */
typedef struct xl_ph_set_headers
{
	BlockNumber vblock;
	uint16		nchanges;
	uint8		flags;			/* XLPH_VM_CLEARED, XLPH_SET_PRUNABLE */
} xl_ph_set_headers;

#define SizeOfPhSetHeaders		(offsetof(xl_ph_set_headers, flags) + sizeof(uint8))

/*
 * XLOG_PH_UPDATE: main data this struct followed by the old version's
 * header image (its t_ctid becomes the new version's TID, never logged);
 * block 0 new page (data: xl_ph_tuple + tuple), block 1 old page when it
 * differs.  The prune hint of the old page, if set, is the record's xid.
 */
typedef struct xl_ph_update
{
	BlockNumber oldvblock;
	BlockNumber newvblock;
	OffsetNumber newoff;
	uint8		flags;			/* XLPH_INIT_PAGE, XLPH_VM_CLEARED,
								 * XLPH_OLD_VM_CLEARED, XLPH_SET_PRUNABLE */
} xl_ph_update;

#define SizeOfPhUpdate			(offsetof(xl_ph_update, flags) + sizeof(uint8))

/*
 * XLOG_PH_PRUNE: block 0 data page; block data the three OffsetNumber
 * arrays (redirected as pairs, then dead, then unused).
 */
typedef struct xl_ph_prune
{
	BlockNumber vblock;
	TransactionId conflict_xid;
	uint16		nredirected;
	uint16		ndead;
	uint16		nunused;
} xl_ph_prune;

#define SizeOfPhPrune			(offsetof(xl_ph_prune, nunused) + sizeof(uint16))

/* XLOG_PH_FREEZE: block 0 data page; block data xl_heap_freeze_tuple[] */
typedef struct xl_ph_freeze
{
	BlockNumber vblock;
	TransactionId conflict_xid;
	uint16		nplans;
} xl_ph_freeze;

#define SizeOfPhFreeze			(offsetof(xl_ph_freeze, nplans) + sizeof(uint16))

/* XLOG_PH_VISIBLE: block 0 data page, block 1 visibility-map page */
typedef struct xl_ph_visible
{
	BlockNumber vblock;
	TransactionId cutoff_xid;
	uint8		vmflags;
} xl_ph_visible;

#define SizeOfPhVisible			(offsetof(xl_ph_visible, vmflags) + sizeof(uint8))

/*
 * XLOG_PH_MAP_COLD: block 0 map page, block 1 the old hot page (becomes a
 * free page, init), block 2 metapage.
 */
typedef struct xl_ph_map_cold
{
	BlockNumber vblock;
	BlockNumber runblk;
	BlockNumber next_free;		/* old free_head: next of the freed page */
} xl_ph_map_cold;

#define SizeOfPhMapCold			(offsetof(xl_ph_map_cold, next_free) + sizeof(BlockNumber))

/*
 * XLOG_PH_THAW: block 0 the new hot page (full image), block 1 map page,
 * block 2 metapage (only when the page came off the free list).
 */
typedef struct xl_ph_thaw
{
	BlockNumber vblock;
	BlockNumber runblk;			/* where the vblock was */
	BlockNumber free_head;		/* metapage free_head afterwards */
	uint16		npopped;
} xl_ph_thaw;

#define SizeOfPhThaw			(offsetof(xl_ph_thaw, npopped) + sizeof(uint16))

/* XLOG_PH_FREE_POP: block 0 metapage */
typedef struct xl_ph_free_pop
{
	BlockNumber popped;
	BlockNumber free_head;		/* afterwards */
} xl_ph_free_pop;

#define SizeOfPhFreePop			(offsetof(xl_ph_free_pop, free_head) + sizeof(BlockNumber))

/* XLOG_PH_FREE_PUSH: block 0 freed page (init), block 1 metapage */
typedef struct xl_ph_free_push
{
	BlockNumber next_free;		/* old free_head */
} xl_ph_free_push;

#define SizeOfPhFreePush		sizeof(xl_ph_free_push)

/*
 * XLOG_PH_VTRUNCATE (src/lsm/shrink.c, ph_truncate_vblocks): the last
 * vblock, empty, goes away: nvblocks := vblock.  Block 0 its map page (std;
 * entry := none), block 1 its hot page if it had one (init: becomes a free
 * page whose next is next_free, and the head of the free list), block 2
 * the metapage (std; nvblocks, free list, lanes at or past vblock reset).
 */
#define PH_VTRUNC_FREED			0x01	/* block 1 is registered */

typedef struct xl_ph_vtruncate
{
	BlockNumber vblock;			/* the dropped vblock = new nvblocks */
	BlockNumber next_free;		/* old free_head */
	uint8		flags;			/* PH_VTRUNC_FREED */
} xl_ph_vtruncate;

#define SizeOfPhVtruncate		(offsetof(xl_ph_vtruncate, flags) + sizeof(uint8))

/*
 * XLOG_PH_SHRINK (src/lsm/shrink.c), one of three operations:
 *
 * PH_SHRINK_RESET_FREE: block 0 metapage; empty the free list.
 * PH_SHRINK_MOVE: block 0 the destination page (forced image, only in the
 *   first record of a move), block 1 the page that references the moved
 *   page: a map page (nentries vblocks follow, each switched to dst with
 *   its cold bit kept) or the metapage (mapidx: a moved map page).
 * PH_SHRINK_TRUNCATE: no block; cut the main fork of node to nblocks.
 */
#define PH_SHRINK_RESET_FREE	1
#define PH_SHRINK_MOVE			2
#define PH_SHRINK_TRUNCATE		3

#define PH_SHRINK_HAS_IMAGE		0x01	/* block 0 is registered */
#define PH_SHRINK_MAPPAGE		0x02	/* moved a map page; block 1 = meta */
#define PH_SHRINK_REWRITE		0x04	/* run rewrite (compact.c): frames of
										 * several run pages now in dst; never
										 * with HAS_IMAGE, src is Invalid */

typedef struct xl_ph_shrink
{
	uint8		op;				/* PH_SHRINK_* */
	uint8		flags;			/* PH_SHRINK_HAS_IMAGE, PH_SHRINK_MAPPAGE */
	uint16		nentries;		/* MOVE of a data page: vblocks that follow */
	BlockNumber src;			/* MOVE: old physical block */
	BlockNumber dst;			/* MOVE: new physical block */
	uint32		mapidx;			/* MOVE of a map page: its directory index */
	BlockNumber nblocks;		/* TRUNCATE: new length of the main fork */
	RelFileNode node;			/* TRUNCATE: the relation */
	/* MOVE of a data page: BlockNumber vblocks[nentries] follow */
} xl_ph_shrink;

#define SizeOfPhShrink			(offsetof(xl_ph_shrink, node) + sizeof(RelFileNode))

/*
 * XLOG_PH_COUNTERS (src/lsm/compact.c): block 0 metapage (std); adds the
 * deltas to the metapage's compaction counters (write amplification).
 */
typedef struct xl_ph_counters
{
	uint64		compacted_bytes;
	uint64		written_bytes;
} xl_ph_counters;

#define SizeOfPhCounters		(offsetof(xl_ph_counters, written_bytes) + sizeof(uint64))

#endif							/* PHANTOM_WAL_RECORDS_H */
