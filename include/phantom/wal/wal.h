/*-------------------------------------------------------------------------
 *
 * wal.h
 *	  Phantom's custom WAL resource manager (src/wal/): every change to a
 *	  page of a phantom relation goes through one of these functions, which
 *	  apply the change to a locked buffer and WAL-log it in one critical
 *	  section (when RelationNeedsWAL).  Redo replays the same change through
 *	  the same page-level code, so primary and standby pages are identical.
 *
 *	  All functions take buffers pinned and exclusively locked by the
 *	  caller and leave them so.  vblock arguments are the virtual block the
 *	  physical buffer holds (needed for TIDs and the visibility map).
 *
 * include/phantom/wal/wal.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHANTOM_WAL_WAL_H
#define PHANTOM_WAL_WAL_H

#include "access/heapam_xlog.h"
#include "access/htup.h"
#include "access/xlogreader.h"
#include "lib/stringinfo.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

/*
 * RM_EXPERIMENTAL_ID while phantom is pre-release; a fixed id from the
 * custom range will be chosen and recorded in docs/ before 1.0 (WAL written
 * under one id cannot be replayed under another).
 */
#define PHANTOM_RMGR_ID		RM_EXPERIMENTAL_ID
#define PHANTOM_RMGR_NAME	"phantom"

/* ph_wal_insert / ph_wal_multi_insert flags */
#define PH_INSERT_SPECULATIVE	0x01	/* tuple carries a speculative token */
#define PH_INSERT_FROZEN		0x02	/* COPY FREEZE: tuples are frozen */
#define PH_INSERT_LAST_IN_MULTI	0x04	/* multi-insert: last page of the call */
#define PH_INSERT_NO_LOGICAL	0x08	/* not a row change logical decoding
										 * should see (CLUSTER's copy) */

/*
 * Row-level meaning of a header change or update for logical decoding
 * (see xl_ph_logical in records.h).  Passed by the callers that change
 * rows; written only when RelationIsLogicallyLogged.  oldkey is the old
 * row's replica identity (ph_replica_identity) or NULL.
 */
typedef struct PhLogicalInfo
{
	uint8		kind;			/* XLPH_LOG_DELETE, XLPH_LOG_CONFIRM,
								 * XLPH_LOG_SUPER_DELETE, or 0 (update) */
	HeapTuple	oldkey;
	bool		oldfull;		/* oldkey is the whole row (IDENTITY FULL) */
} PhLogicalInfo;

/*
 * ph_wal_insert puts tup on the page (PageAddItem at the next free offset),
 * sets tup->t_self and the on-page t_ctid to (vblock, offnum) (unless
 * PH_INSERT_SPECULATIVE: the token in t_ctid stays), clears the page's
 * all-visible state and the vblock's visibility-map bits.  The tuple's
 * t_cid is not WAL-logged (as heap); everything else is.
 */
extern OffsetNumber ph_wal_insert(Relation rel, Buffer buf, BlockNumber vblock,
								  HeapTuple tup, int flags);
extern void ph_wal_multi_insert(Relation rel, Buffer buf, BlockNumber vblock,
								HeapTuple *tuples, int ntuples, int flags);

/*
 * A new value for the MVCC header of one tuple on a page.  Every field is
 * written as given (the caller reads the current header and changes what
 * it means to change).
 */
typedef struct PhHeaderChange
{
	OffsetNumber offnum;
	uint16		infomask;
	uint16		infomask2;
	TransactionId xmin;
	TransactionId xmax;
	CommandId	cid;			/* t_field3 (cmin/cmax/combo or xvac) */
	ItemPointerData ctid;
} PhHeaderChange;

/*
 * ph_wal_set_headers overwrites the headers of n tuples on one page (delete,
 * lock, speculative confirm and super-delete, ...).  vmbits says what an
 * all-visible page loses: VISIBILITYMAP_VALID_BITS (a delete: the page's
 * all-visible state and both VM bits), VISIBILITYMAP_ALL_FROZEN (a row
 * lock, as heap_lock_tuple: the page stays all-visible, only all-frozen
 * goes, so that VACUUM revisits the locker's xid) or 0.  When a change
 * leaves a prunable version (an updating/deleting xmax, or xmin set
 * invalid by a super-delete), the page's prune hint is set to the current
 * xid, as heap does.  li (or NULL) is the change's meaning for logical
 * decoding.
 */
extern void ph_wal_set_headers(Relation rel, Buffer buf, BlockNumber vblock,
							   const PhHeaderChange *changes, int n,
							   uint8 vmbits, const PhLogicalInfo *li);

/*
 * ph_wal_update: one record for an UPDATE: the old tuple's new header on
 * oldbuf, and newtup inserted on newbuf (which may equal oldbuf).  Sets
 * newtup->t_self; oldhdr->ctid is ignored, the old version's t_ctid is set
 * to the new version's TID.  Sets the old page's prune hint.  Clears
 * all-visible on both pages.
 */
extern void ph_wal_update(Relation rel,
						  Buffer oldbuf, BlockNumber oldvblock,
						  const PhHeaderChange *oldhdr,
						  Buffer newbuf, BlockNumber newvblock,
						  HeapTuple newtup, const PhLogicalInfo *li);

/*
 * ph_replica_identity returns what an UPDATE (key_required: a replica
 * identity column changed or is stored out of line) or DELETE
 * (key_required = true) of tp must log as the old row for logical
 * decoding, as heap does: NULL if nothing, the key columns (others null)
 * or, for REPLICA IDENTITY FULL, the whole row; external values are
 * fetched inline.  May return tp itself; *full tells FULL.
 */
extern HeapTuple ph_replica_identity(Relation rel, HeapTuple tp,
									 bool key_required, bool *full);

/*
 * ph_wal_prune applies heap_page_prune_execute()'s arrays to the page and
 * logs them with the conflict horizon for hot-standby queries.  The caller
 * holds a cleanup lock and maintains the hints (pd_prune_xid, PageClearFull).
 *
 * conflict_xid (prune, freeze) and cutoff_xid (set_visible) follow heap's
 * latestRemovedXid convention: standby snapshots with xmin <= it conflict.
 */
extern void ph_wal_prune(Relation rel, Buffer buf, BlockNumber vblock,
						 TransactionId conflict_xid,
						 OffsetNumber *redirected, int nredirected,
						 OffsetNumber *nowdead, int ndead,
						 OffsetNumber *nowunused, int nunused);

/*
 * ph_wal_freeze applies heap_execute_freeze_tuple() to the given tuples and
 * logs the plans (xl_heap_freeze_tuple, with its offset filled in).
 */
extern void ph_wal_freeze(Relation rel, Buffer buf, BlockNumber vblock,
						  TransactionId conflict_xid,
						  xl_heap_freeze_tuple *plans, int nplans);

/*
 * ph_wal_set_visible sets PD_ALL_VISIBLE on the page and the vblock's VM
 * bits (VISIBILITYMAP_ALL_VISIBLE and optionally ALL_FROZEN).
 */
extern void ph_wal_set_visible(Relation rel, Buffer buf, BlockNumber vblock,
							   TransactionId cutoff_xid, uint8 vmflags);

/* Resource manager callbacks (src/wal/redo.c, src/wal/desc.c) */
extern void phantom_redo(XLogReaderState *record);
extern void phantom_desc(StringInfo buf, XLogReaderState *record);
extern const char *phantom_identify(uint8 info);
extern void phantom_mask(char *pagedata, BlockNumber blkno);
struct LogicalDecodingContext;
struct XLogRecordBuffer;
extern void phantom_decode(struct LogicalDecodingContext *ctx,
						   struct XLogRecordBuffer *buf);

#endif							/* PHANTOM_WAL_WAL_H */
