/*-------------------------------------------------------------------------
 *
 * logical.c
 *	  Logical decoding of phantom tables: the old-row image writers log for
 *	  UPDATE and DELETE (ph_replica_identity), and the resource manager's
 *	  rm_decode callback (phantom_decode), which turns phantom's row
 *	  records into reorder-buffer changes exactly like heap's decoding does
 *	  for heap records.
 *
 *	  What a record carries for decoding is described with xl_ph_logical in
 *	  records.h; it is written only at wal_level = logical.  The changes
 *	  queued here are indistinguishable from heap's: INSERT / UPDATE /
 *	  DELETE with the relation's RelFileNode, the new tuple (header fields
 *	  decoding needs, then t_bits and data) and the old replica identity,
 *	  speculative insertions as INTERNAL_SPEC_INSERT followed by
 *	  INTERNAL_SPEC_CONFIRM or INTERNAL_SPEC_ABORT, and the same
 *	  clear_toast_afterwards rule.  TOAST chunks of phantom tables live in
 *	  heap TOAST tables, so heap's decoding queues them and the reorder
 *	  buffer reassembles them into our tuples as it does for heap.
 *
 * src/wal/logical.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/heaptoast.h"
#include "access/htup_details.h"
#include "access/xlog.h"
#include "access/xlogreader.h"
#include "catalog/catalog.h"
#include "catalog/pg_class.h"
#include "nodes/bitmapset.h"
#include "replication/decode.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "replication/reorderbuffer.h"
#include "replication/snapbuild.h"
#include "utils/rel.h"
#include "utils/relcache.h"

#include "phantom/wal/records.h"

/* ----------------------------------------------------------------
 * writing: the old row of an UPDATE or DELETE
 * ----------------------------------------------------------------
 */

/*
 * ph_replica_identity: see wal.h.  The rules are heap's, so that the
 * decoded old key is the same for both AMs.
 */
HeapTuple
ph_replica_identity(Relation rel, HeapTuple tp, bool key_required, bool *full)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Bitmapset  *idattrs;
	Datum	   *values;
	bool	   *nulls;
	HeapTuple	key;

	*full = false;
	if (!RelationIsLogicallyLogged(rel))
		return NULL;
	if (rel->rd_rel->relreplident == REPLICA_IDENTITY_NOTHING)
		return NULL;
	if (rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL)
	{
		*full = true;
		/* the subscriber cannot read our TOAST table: values go inline */
		if (HeapTupleHasExternal(tp))
			return toast_flatten_tuple(tp, desc);
		return tp;
	}
	if (!key_required)
		return NULL;

	idattrs = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_IDENTITY_KEY);
	if (bms_is_empty(idattrs))
		return NULL;

	values = palloc(sizeof(Datum) * desc->natts);
	nulls = palloc(sizeof(bool) * desc->natts);
	heap_deform_tuple(tp, desc, values, nulls);
	for (int i = 0; i < desc->natts; i++)
	{
		if (!bms_is_member(i + 1 - FirstLowInvalidHeapAttributeNumber, idattrs))
			nulls[i] = true;
	}
	key = heap_form_tuple(desc, values, nulls);
	if (HeapTupleHasExternal(key))
	{
		HeapTuple	flat = toast_flatten_tuple(key, desc);

		heap_freetuple(key);
		key = flat;
	}
	pfree(values);
	pfree(nulls);
	bms_free(idattrs);
	return key;
}

/* ----------------------------------------------------------------
 * decoding
 * ----------------------------------------------------------------
 */

/*
 * ph_decode_tuple copies a tuple image (xl_ph_tuple, extras, body; see
 * records.h) of imagelen bytes at p into a new reorder-buffer tuple.  The
 * header gets only what decoding uses (infomask, infomask2, hoff), as
 * heap's decoding does; the TID and table OID are not known here.
 */
static ReorderBufferTupleBuf *
ph_decode_tuple(LogicalDecodingContext *ctx, const char *p, Size imagelen)
{
	xl_ph_tuple xt;
	Size		extras;
	Size		bodylen;
	ReorderBufferTupleBuf *tb;
	HeapTupleHeader hdr;

	if (imagelen < SizeOfPhTuple)
		elog(ERROR, "phantom decode: truncated tuple image");
	memcpy(&xt, p, SizeOfPhTuple);
	if (xt.flags & (XLPH_TUP_PREFIX | XLPH_TUP_SUFFIX))
		elog(ERROR, "phantom decode: partial tuple image in a logical record");
	extras = ph_tuple_extras(xt.flags);
	if (imagelen < SizeOfPhTuple + extras)
		elog(ERROR, "phantom decode: truncated tuple image");
	bodylen = imagelen - SizeOfPhTuple - extras;
	p += SizeOfPhTuple + extras;

	tb = ReorderBufferGetTupleBuf(ctx->reorder, bodylen);
	tb->tuple.t_len = SizeofHeapTupleHeader + bodylen;
	ItemPointerSetInvalid(&tb->tuple.t_self);
	tb->tuple.t_tableOid = InvalidOid;
	hdr = tb->tuple.t_data;
	memset(hdr, 0, SizeofHeapTupleHeader);
	hdr->t_infomask = xt.t_infomask;
	hdr->t_infomask2 = xt.t_infomask2;
	hdr->t_hoff = xt.t_hoff;
	memcpy((char *) hdr + SizeofHeapTupleHeader, p, bodylen);
	return tb;
}

/*
 * ph_decode_begin: common checks of a row record that carries logical
 * data.  Returns false if the change is not ours to queue: no XLPH_LOGICAL
 * (not a logically logged relation, or not a row change), another
 * database, or an origin the output plugin filters out.  Else fills
 * *rnode and *lg (the trailer at trailer, which must lie within the main
 * data).
 */
static bool
ph_decode_begin(LogicalDecodingContext *ctx, XLogReaderState *r, uint8 flags,
				const char *trailer, RelFileNode *rnode, xl_ph_logical *lg)
{
	RepOriginId origin = XLogRecGetOrigin(r);

	if (!(flags & XLPH_LOGICAL))
		return false;
	XLogRecGetBlockTag(r, 0, rnode, NULL, NULL);
	if (rnode->dbNode != ctx->slot->data.database)
		return false;
	if (ctx->callbacks.filter_by_origin_cb != NULL &&
		filter_by_origin_cb_wrapper(ctx, origin))
		return false;
	if (trailer + SizeOfPhLogical >
		XLogRecGetData(r) + XLogRecGetDataLen(r))
		elog(ERROR, "phantom decode: record without its logical data");
	memcpy(lg, trailer, SizeOfPhLogical);
	return true;
}

/* ph_decode_change allocates a change of action on rnode */
static ReorderBufferChange *
ph_decode_change(LogicalDecodingContext *ctx, XLogReaderState *r,
				 ReorderBufferChangeType action, const RelFileNode *rnode)
{
	ReorderBufferChange *change = ReorderBufferGetChange(ctx->reorder);

	change->action = action;
	change->origin_id = XLogRecGetOrigin(r);
	change->data.tp.relnode = *rnode;
	change->data.tp.clear_toast_afterwards = true;
	return change;
}

/* ph_decode_old adds the old row image after the trailer, if any */
static void
ph_decode_old(LogicalDecodingContext *ctx, XLogReaderState *r,
			  const char *trailer, const xl_ph_logical *lg,
			  ReorderBufferChange *change)
{
	const char *p = trailer + SizeOfPhLogical;
	const char *end = XLogRecGetData(r) + XLogRecGetDataLen(r);

	if (!(lg->lflags & (XLPH_LOG_OLD_KEY | XLPH_LOG_OLD_TUPLE)))
		return;
	change->data.tp.oldtuple = ph_decode_tuple(ctx, p, end - p);
}

/* XLOG_PH_INSERT: one INSERT (or speculative insert) */
static void
ph_decode_insert(LogicalDecodingContext *ctx, XLogRecordBuffer *buf)
{
	XLogReaderState *r = buf->record;
	xl_ph_insert xl;
	xl_ph_logical lg;
	RelFileNode rnode;
	ReorderBufferChange *change;
	char	   *data;
	Size		datalen;

	memcpy(&xl, XLogRecGetData(r), SizeOfPhInsert);
	if (!ph_decode_begin(ctx, r, xl.flags, XLogRecGetData(r) + SizeOfPhInsert,
						 &rnode, &lg))
		return;
	data = XLogRecGetBlockData(r, 0, &datalen);
	if (data == NULL)
		elog(ERROR, "phantom decode: insert record without its tuple");

	change = ph_decode_change(ctx, r, (lg.lflags & XLPH_LOG_SPECULATIVE) ?
							  REORDER_BUFFER_CHANGE_INTERNAL_SPEC_INSERT :
							  REORDER_BUFFER_CHANGE_INSERT, &rnode);
	change->data.tp.newtuple = ph_decode_tuple(ctx, data, datalen);
	ReorderBufferQueueChange(ctx->reorder, XLogRecGetXid(r), buf->origptr,
							 change, false);
}

/*
 * XLOG_PH_MULTI_INSERT: one INSERT per tuple.  TOAST chunks of the whole
 * multi_insert call precede its first record, so the reassembled values
 * may only be dropped after the last tuple of its last record.
 */
static void
ph_decode_multi_insert(LogicalDecodingContext *ctx, XLogRecordBuffer *buf)
{
	XLogReaderState *r = buf->record;
	xl_ph_multi_insert xl;
	xl_ph_logical lg;
	RelFileNode rnode;
	char	   *p;
	char	   *end;
	Size		datalen;

	memcpy(&xl, XLogRecGetData(r), SizeOfPhMultiInsert);
	if (!ph_decode_begin(ctx, r, xl.flags,
						 XLogRecGetData(r) + SizeOfPhMultiInsert, &rnode, &lg))
		return;
	p = XLogRecGetBlockData(r, 0, &datalen);
	if (p == NULL)
		elog(ERROR, "phantom decode: multi-insert record without its tuples");
	end = p + datalen;

	for (int i = 0; i < xl.ntuples; i++)
	{
		ReorderBufferChange *change;
		uint16		tlen;
		xl_ph_tuple xt;
		Size		imagelen;

		if (p + sizeof(OffsetNumber) + sizeof(uint16) + SizeOfPhTuple > end)
			elog(ERROR, "phantom decode: truncated multi-insert record");
		p += sizeof(OffsetNumber);
		memcpy(&tlen, p, sizeof(uint16));
		p += sizeof(uint16);
		memcpy(&xt, p, SizeOfPhTuple);
		if (tlen < SizeofHeapTupleHeader)
			elog(ERROR, "phantom decode: bad multi-insert tuple length");
		imagelen = SizeOfPhTuple + ph_tuple_extras(xt.flags) +
			(tlen - SizeofHeapTupleHeader);
		if (p + imagelen > end)
			elog(ERROR, "phantom decode: truncated multi-insert record");

		change = ph_decode_change(ctx, r, REORDER_BUFFER_CHANGE_INSERT, &rnode);
		change->data.tp.newtuple = ph_decode_tuple(ctx, p, imagelen);
		change->data.tp.clear_toast_afterwards =
			(lg.lflags & XLPH_LOG_LAST_IN_MULTI) != 0 && i + 1 == xl.ntuples;
		ReorderBufferQueueChange(ctx->reorder, XLogRecGetXid(r),
								 buf->origptr, change, false);
		p += imagelen;
	}
}

/*
 * XLOG_PH_SET_HEADERS: a DELETE, or the confirmation or super-deletion of
 * a speculative insertion; other header changes (row locks, the lock an
 * update takes before it moves the row) are not changes to decode.
 */
static void
ph_decode_set_headers(LogicalDecodingContext *ctx, XLogRecordBuffer *buf)
{
	XLogReaderState *r = buf->record;
	xl_ph_set_headers xl;
	xl_ph_logical lg;
	RelFileNode rnode;
	ReorderBufferChange *change;
	const char *trailer = XLogRecGetData(r) + SizeOfPhSetHeaders;
	ReorderBufferChangeType action;

	memcpy(&xl, XLogRecGetData(r), SizeOfPhSetHeaders);
	if (!ph_decode_begin(ctx, r, xl.flags, trailer, &rnode, &lg))
		return;
	if (lg.lflags & XLPH_LOG_DELETE)
		action = REORDER_BUFFER_CHANGE_DELETE;
	else if (lg.lflags & XLPH_LOG_CONFIRM)
		action = REORDER_BUFFER_CHANGE_INTERNAL_SPEC_CONFIRM;
	else if (lg.lflags & XLPH_LOG_SUPER_DELETE)
		action = REORDER_BUFFER_CHANGE_INTERNAL_SPEC_ABORT;
	else
		return;

	change = ph_decode_change(ctx, r, action, &rnode);
	if (action == REORDER_BUFFER_CHANGE_DELETE)
		ph_decode_old(ctx, r, trailer, &lg, change);
	ReorderBufferQueueChange(ctx->reorder, XLogRecGetXid(r), buf->origptr,
							 change, false);
}

/* XLOG_PH_UPDATE: an UPDATE with its new tuple and old replica identity */
static void
ph_decode_update(LogicalDecodingContext *ctx, XLogRecordBuffer *buf)
{
	XLogReaderState *r = buf->record;
	xl_ph_update xl;
	xl_ph_logical lg;
	RelFileNode rnode;
	ReorderBufferChange *change;
	const char *rec = XLogRecGetData(r);
	const char *trailer;
	PhHeaderChange oldhdr;
	uint8		oldflags;
	char	   *data;
	Size		datalen;

	memcpy(&xl, rec, SizeOfPhUpdate);
	if (!(xl.flags & XLPH_LOGICAL))
		return;
	/* the trailer follows the old version's header image */
	trailer = ph_hdr_decode(rec + SizeOfPhUpdate, rec + XLogRecGetDataLen(r),
							&oldhdr, &oldflags);
	if (!ph_decode_begin(ctx, r, xl.flags, trailer, &rnode, &lg))
		return;
	data = XLogRecGetBlockData(r, 0, &datalen);
	if (data == NULL)
		elog(ERROR, "phantom decode: update record without its new tuple");

	change = ph_decode_change(ctx, r, REORDER_BUFFER_CHANGE_UPDATE, &rnode);
	change->data.tp.newtuple = ph_decode_tuple(ctx, data, datalen);
	ph_decode_old(ctx, r, trailer, &lg, change);
	ReorderBufferQueueChange(ctx->reorder, XLogRecGetXid(r), buf->origptr,
							 change, false);
}

/*
 * phantom_decode: rm_decode.  Like heap's decoding: every record's xid is
 * made known to the reorder buffer; changes are queued only once the
 * snapshot builder has a full snapshot and wants this transaction's
 * changes, and never while fast-forwarding.  Page maintenance (prune,
 * freeze, visibility, compaction, thaw, free list, shrink, new pages) is
 * not a row change and decodes to nothing.
 */
void
phantom_decode(LogicalDecodingContext *ctx, XLogRecordBuffer *buf)
{
	XLogReaderState *r = buf->record;
	uint8		info = XLogRecGetInfo(r) & XLR_RMGR_INFO_MASK;
	TransactionId xid = XLogRecGetXid(r);

	ReorderBufferProcessXid(ctx->reorder, xid, buf->origptr);

	if (SnapBuildCurrentState(ctx->snapshot_builder) < SNAPBUILD_FULL_SNAPSHOT ||
		ctx->fast_forward)
		return;

	switch (info)
	{
		case XLOG_PH_INSERT:
		case XLOG_PH_MULTI_INSERT:
		case XLOG_PH_SET_HEADERS:
		case XLOG_PH_UPDATE:
			if (!SnapBuildProcessChange(ctx->snapshot_builder, xid,
										buf->origptr))
				return;
			break;
		default:
			return;
	}

	switch (info)
	{
		case XLOG_PH_INSERT:
			ph_decode_insert(ctx, buf);
			break;
		case XLOG_PH_MULTI_INSERT:
			ph_decode_multi_insert(ctx, buf);
			break;
		case XLOG_PH_SET_HEADERS:
			ph_decode_set_headers(ctx, buf);
			break;
		case XLOG_PH_UPDATE:
			ph_decode_update(ctx, buf);
			break;
	}
}
