/*-------------------------------------------------------------------------
 *
 * ddl.c
 *	  Storage-level DDL callbacks of phantom tables: new relfilenodes,
 *	  truncation, copying to a new tablespace, CLUSTER / VACUUM FULL
 *	  rewrites, TOAST decisions and size reports.
 *
 *	  Invariants:
 *	  - A phantom relation's main fork starts empty: the metapage (block
 *	    0) is created by the first write, so a new or truncated relation
 *	    has zero blocks and an unlogged table's init fork stays empty.
 *	  - relation_size(MAIN) is nvblocks * BLCKSZ (virtual blocks, which
 *	    the planner, ANALYZE, parallel scans and relpages count), while the
 *	    files on disk (pg_relation_size) hold the compressed layout.
 *	  - The per-relation insertion-lane cache (rd_amcache) describes one
 *	    relfilenode and is dropped whenever the relfilenode changes or is
 *	    truncated.
 *
 *	  Locking: all callbacks here run under AccessExclusiveLock taken by
 *	  the DDL command, except relation_size / estimate_size (any lock).
 *
 * src/tableam/ddl.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/heaptoast.h"
#include "access/multixact.h"
#include "access/tableam.h"
#include "access/toast_internals.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/storage.h"
#include "catalog/storage_xlog.h"
#include "commands/progress.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/smgr.h"
#include "utils/lsyscache.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/rel.h"
#include "utils/tuplesort.h"

#include "phantom/lsm/storage.h"
#include "phantom/mvcc/visibility.h"
#include "phantom/tableam/ddl.h"
#include "phantom/tableam/scan.h"
#include "phantom/wal/wal.h"

/* heap's per-tuple and per-page constants, for size estimates */
#define PH_OVERHEAD_BYTES_PER_TUPLE \
	(MAXALIGN(SizeofHeapTupleHeader) + sizeof(ItemIdData))
#define PH_USABLE_BYTES_PER_PAGE \
	(BLCKSZ - SizeOfPageHeaderData)

/* Forget the cached insertion-lane state of rel (it names old vblocks). */
static void
ph_forget_amcache(Relation rel)
{
	if (rel->rd_amcache != NULL)
	{
		pfree(rel->rd_amcache);
		rel->rd_amcache = NULL;
	}
}

/*
 * Create the storage of a new relfilenode.  Nothing is written into the
 * main fork (the metapage comes with the first write); an unlogged table
 * gets an empty, WAL-logged init fork, which the empty-means-no-metapage
 * rule turns into a valid empty table at reset.
 */
void
phantom_relation_set_new_filenode(Relation rel, const RelFileNode *newrnode,
								  char persistence, TransactionId *freezeXid,
								  MultiXactId *minmulti)
{
	SMgrRelation srel;

	/* no tuple can be older than this in a brand new file */
	*freezeXid = RecentXmin;
	*minmulti = GetOldestMultiXactId();

	srel = RelationCreateStorage(*newrnode, persistence, true);

	if (persistence == RELPERSISTENCE_UNLOGGED)
	{
		Assert(rel->rd_rel->relkind == RELKIND_RELATION ||
			   rel->rd_rel->relkind == RELKIND_MATVIEW ||
			   rel->rd_rel->relkind == RELKIND_TOASTVALUE);
		smgrcreate(srel, INIT_FORKNUM, false);
		log_smgrcreate(newrnode, INIT_FORKNUM);
		smgrimmedsync(srel, INIT_FORKNUM);
	}

	smgrclose(srel);
	ph_forget_amcache(rel);
}

/*
 * TRUNCATE of a table created or truncated in the same transaction: cut
 * every fork to zero blocks (the metapage included: the next write makes
 * a new one).
 */
void
phantom_relation_nontransactional_truncate(Relation rel)
{
	RelationTruncate(rel, 0);
	ph_forget_amcache(rel);
}

/*
 * ALTER TABLE SET TABLESPACE: copy every fork block by block to the new
 * relfilenode.  Vblock numbering is internal to the fork, so a raw copy
 * keeps all TIDs.
 */
void
phantom_relation_copy_data(Relation rel, const RelFileNode *newrnode)
{
	SMgrRelation dstrel;
	char		persistence = rel->rd_rel->relpersistence;

	/* the copy reads the files: flush our dirty buffers first */
	FlushRelationBuffers(rel);

	dstrel = RelationCreateStorage(*newrnode, persistence, true);

	RelationCopyStorage(RelationGetSmgr(rel), dstrel, MAIN_FORKNUM,
						persistence);

	for (ForkNumber fork = MAIN_FORKNUM + 1; fork <= MAX_FORKNUM; fork++)
	{
		if (!smgrexists(RelationGetSmgr(rel), fork))
			continue;
		smgrcreate(dstrel, fork, false);

		/* an unlogged table's init fork is WAL-logged, nothing else of it */
		if (RelationIsPermanent(rel) ||
			(persistence == RELPERSISTENCE_UNLOGGED && fork == INIT_FORKNUM))
			log_smgrcreate(newrnode, fork);
		RelationCopyStorage(RelationGetSmgr(rel), dstrel, fork, persistence);
	}

	RelationDropStorage(rel);
	smgrclose(dstrel);
	ph_forget_amcache(rel);
}

/*
 * Update chains across a rewrite.  A kept version that was updated (its
 * xmax is an updater, t_ctid points to its successor) must point to where
 * the successor lands in the new relation, or EvalPlanQual and
 * tuple_lock(FIND_LAST_VERSION) would take it for deleted.  Successors are
 * recorded by old TID when they were created by a transaction not older
 * than OldestXmin (an older one would have made the predecessor DEAD, so
 * nobody links to it); the links are fixed once everything is written.
 */
typedef struct PhClusterMapEntry
{
	ItemPointerData oldtid;		/* hash key: TID in the old relation */
	ItemPointerData newtid;
	TransactionId xmin;
} PhClusterMapEntry;

typedef struct PhClusterLink
{
	ItemPointerData newtid;		/* the predecessor, in the new relation */
	ItemPointerData oldtarget;	/* its t_ctid in the old relation */
	TransactionId update_xid;	/* must be the successor's xmin */
} PhClusterLink;

typedef struct PhClusterState
{
	Relation	OldHeap;
	Relation	NewHeap;
	TransactionId OldestXmin;
	TransactionId freeze_xid;
	MultiXactId cutoff_multi;
	BulkInsertState bistate;
	Datum	   *values;
	bool	   *isnull;
	HTAB	   *map;			/* old TID -> PhClusterMapEntry */
	PhClusterLink *links;
	int			nlinks;
	int			maxlinks;
	MemoryContext cxt;			/* map and links live here */
} PhClusterState;

/* Remember what ph_cluster_relink needs about the tuple just written. */
static void
ph_cluster_note(PhClusterState *cs, HeapTuple oldtup, HeapTuple written)
{
	HeapTupleHeader h = written->t_data;

	if ((h->t_infomask & HEAP_UPDATED) &&
		TransactionIdIsNormal(HeapTupleHeaderGetXmin(h)) &&
		!TransactionIdPrecedes(HeapTupleHeaderGetXmin(h), cs->OldestXmin))
	{
		PhClusterMapEntry *e;
		bool		found;

		e = hash_search(cs->map, &oldtup->t_self, HASH_ENTER, &found);
		e->newtid = written->t_self;
		e->xmin = HeapTupleHeaderGetXmin(h);
	}

	if (!(h->t_infomask & HEAP_XMAX_INVALID) &&
		!HeapTupleHeaderIsOnlyLocked(h) &&
		!HeapTupleHeaderIndicatesMovedPartitions(oldtup->t_data) &&
		!ItemPointerEquals(&oldtup->t_self, &oldtup->t_data->t_ctid))
	{
		PhClusterLink *l;

		if (cs->nlinks == cs->maxlinks)
		{
			cs->maxlinks *= 2;
			cs->links = repalloc(cs->links, cs->maxlinks * sizeof(PhClusterLink));
		}
		l = &cs->links[cs->nlinks++];
		l->newtid = written->t_self;
		l->oldtarget = oldtup->t_data->t_ctid;
		l->update_xid = HeapTupleHeaderGetUpdateXid(h);
	}
}

/*
 * Point each recorded predecessor at the new TID of its successor, when the
 * successor was kept and really is the one its updater created.
 */
static void
ph_cluster_relink(PhClusterState *cs)
{
	for (int i = 0; i < cs->nlinks; i++)
	{
		PhClusterLink *l = &cs->links[i];
		PhClusterMapEntry *e;
		BlockNumber vblock = ItemPointerGetBlockNumber(&l->newtid);
		OffsetNumber off = ItemPointerGetOffsetNumber(&l->newtid);
		Buffer		buf;
		Page		page;
		HeapTupleHeader h;
		PhHeaderChange chg;

		e = hash_search(cs->map, &l->oldtarget, HASH_FIND, NULL);
		if (e == NULL || !TransactionIdEquals(e->xmin, l->update_xid))
			continue;

		buf = ph_page_open_for_write(cs->NewHeap, vblock);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		h = (HeapTupleHeader) PageGetItem(page, PageGetItemId(page, off));
		chg.offnum = off;
		chg.infomask = h->t_infomask;
		chg.infomask2 = h->t_infomask2;
		chg.xmin = HeapTupleHeaderGetRawXmin(h);
		chg.xmax = HeapTupleHeaderGetRawXmax(h);
		chg.cid = HeapTupleHeaderGetRawCommandId(h);
		chg.ctid = e->newtid;
		ph_wal_set_headers(cs->NewHeap, buf, vblock, &chg, 1, 0, NULL);
		UnlockReleaseBuffer(buf);
	}
}

/*
 * ph_cluster_write puts one tuple of a CLUSTER / VACUUM FULL rewrite into
 * the new relation with its MVCC header as is (old snapshots must keep
 * seeing, or not seeing, it): the tuple is re-formed without the values of
 * dropped columns, its transaction state copied, its old xids frozen when
 * they precede the cutoffs, and it is toasted into the new relation's
 * TOAST table if needed.  It then goes through phantom's insertion path
 * (lane page + ph_wal_insert), which gives it a fresh TID with t_ctid
 * pointing to itself; ph_cluster_relink restores update chains at the end.
 */
static void
ph_cluster_write(PhClusterState *cs, HeapTuple tuple)
{
	Relation	OldHeap = cs->OldHeap;
	Relation	NewHeap = cs->NewHeap;
	Datum	   *values = cs->values;
	bool	   *isnull = cs->isnull;
	TupleDesc	newdesc = RelationGetDescr(NewHeap);
	HeapTuple	copy;
	HeapTuple	toasted;
	Buffer		buf;
	BlockNumber vblock;

	heap_deform_tuple(tuple, RelationGetDescr(OldHeap), values, isnull);
	for (int i = 0; i < newdesc->natts; i++)
	{
		if (TupleDescAttr(newdesc, i)->attisdropped)
			isnull[i] = true;
	}
	copy = heap_form_tuple(newdesc, values, isnull);

	memcpy(&copy->t_data->t_choice.t_heap, &tuple->t_data->t_choice.t_heap,
		   sizeof(HeapTupleFields));
	copy->t_data->t_infomask &= ~HEAP_XACT_MASK;
	copy->t_data->t_infomask2 &= ~HEAP2_XACT_MASK;
	copy->t_data->t_infomask |= tuple->t_data->t_infomask & HEAP_XACT_MASK;

	heap_freeze_tuple(copy->t_data, OldHeap->rd_rel->relfrozenxid,
					  OldHeap->rd_rel->relminmxid, cs->freeze_xid,
					  cs->cutoff_multi);

	toasted = copy;
	if (HeapTupleHasExternal(copy) || copy->t_len > TOAST_TUPLE_THRESHOLD)
		toasted = heap_toast_insert_or_update(NewHeap, copy, NULL,
											  HEAP_INSERT_SKIP_FSM);
	if (MAXALIGN(toasted->t_len) > MaxHeapTupleSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("row is too big: size %zu, maximum size %zu",
						(size_t) toasted->t_len, (size_t) MaxHeapTupleSize)));

	toasted->t_tableOid = RelationGetRelid(NewHeap);
	buf = ph_get_insert_buffer(NewHeap, toasted->t_len, InvalidBuffer,
							   cs->bistate, &vblock);
	ph_wal_insert(NewHeap, buf, vblock, toasted, PH_INSERT_NO_LOGICAL);
	UnlockReleaseBuffer(buf);

	copy->t_self = toasted->t_self;
	ph_cluster_note(cs, tuple, copy);

	if (toasted != copy)
		heap_freetuple(toasted);
	heap_freetuple(copy);
}

/*
 * CLUSTER and VACUUM FULL: read the old table in index order (index scan
 * or seq scan + sort) or TID order, drop the tuples dead to everyone at
 * OldestXmin, and write the rest into NewHeap with ph_cluster_write.
 */
void
phantom_relation_copy_for_cluster(Relation OldHeap, Relation NewHeap,
								  Relation OldIndex, bool use_sort,
								  TransactionId OldestXmin,
								  TransactionId *xid_cutoff,
								  MultiXactId *multi_cutoff,
								  double *num_tuples,
								  double *tups_vacuumed,
								  double *tups_recently_dead)
{
	TupleDesc	olddesc = RelationGetDescr(OldHeap);
	int			natts = RelationGetDescr(NewHeap)->natts;
	Datum	   *values = palloc(natts * sizeof(Datum));
	bool	   *isnull = palloc(natts * sizeof(bool));
	bool		is_system_catalog = IsSystemRelation(OldHeap);
	Tuplesortstate *tuplesort = NULL;
	TableScanDesc tscan = NULL;
	IndexScanDesc iscan = NULL;
	TupleTableSlot *slot;
	BulkInsertState bistate = GetBulkInsertState();
	MemoryContext tuplecxt;
	MemoryContext oldcxt;
	PhClusterState cs;

	Assert(olddesc->natts == natts);

	tuplecxt = AllocSetContextCreate(CurrentMemoryContext,
									 "phantom cluster tuple",
									 ALLOCSET_DEFAULT_SIZES);

	memset(&cs, 0, sizeof(cs));
	cs.OldHeap = OldHeap;
	cs.NewHeap = NewHeap;
	cs.OldestXmin = OldestXmin;
	cs.freeze_xid = *xid_cutoff;
	cs.cutoff_multi = *multi_cutoff;
	cs.bistate = bistate;
	cs.values = values;
	cs.isnull = isnull;
	cs.cxt = AllocSetContextCreate(CurrentMemoryContext,
								   "phantom cluster chains",
								   ALLOCSET_DEFAULT_SIZES);
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(ItemPointerData);
		ctl.entrysize = sizeof(PhClusterMapEntry);
		ctl.hcxt = cs.cxt;
		cs.map = hash_create("phantom cluster TID map", 1024, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	cs.maxlinks = 64;
	cs.links = MemoryContextAlloc(cs.cxt, cs.maxlinks * sizeof(PhClusterLink));

	if (OldIndex != NULL && use_sort)
		tuplesort = tuplesort_begin_cluster(olddesc, OldIndex,
											maintenance_work_mem, NULL,
											TUPLESORT_NONE);

	if (OldIndex != NULL && !use_sort)
	{
		pgstat_progress_update_param(PROGRESS_CLUSTER_PHASE,
									 PROGRESS_CLUSTER_PHASE_INDEX_SCAN_HEAP);
		iscan = index_beginscan(OldHeap, OldIndex, SnapshotAny, 0, 0);
		index_rescan(iscan, NULL, 0, NULL, 0);
	}
	else
	{
		pgstat_progress_update_param(PROGRESS_CLUSTER_PHASE,
									 PROGRESS_CLUSTER_PHASE_SEQ_SCAN_HEAP);
		tscan = table_beginscan(OldHeap, SnapshotAny, 0, NULL);
		pgstat_progress_update_param(PROGRESS_CLUSTER_TOTAL_HEAP_BLKS,
									 ((PhScanDesc) tscan)->rs_nblocks);
	}

	slot = table_slot_create(OldHeap, NULL);

	for (;;)
	{
		HeapTuple	tuple;
		Buffer		buf;
		bool		keep;

		CHECK_FOR_INTERRUPTS();

		if (iscan != NULL)
		{
			if (!index_getnext_slot(iscan, ForwardScanDirection, slot))
				break;
			if (iscan->xs_recheck)
				elog(ERROR, "CLUSTER does not support lossy index conditions");
		}
		else
		{
			if (!table_scan_getnextslot(tscan, ForwardScanDirection, slot))
				break;
			pgstat_progress_update_param(PROGRESS_CLUSTER_HEAP_BLKS_SCANNED,
										 ((PhScanDesc) tscan)->rs_cblock + 1);
		}

		tuple = ExecFetchSlotHeapTuple(slot, false, NULL);
		buf = ((BufferHeapTupleTableSlot *) slot)->buffer;

		if (!BufferIsValid(buf))
			keep = true;		/* a cold (frozen, live) tuple */
		else
		{
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			switch (ph_tuple_satisfies_vacuum(tuple, OldestXmin, buf))
			{
				case HEAPTUPLE_DEAD:
					keep = false;
					break;
				case HEAPTUPLE_RECENTLY_DEAD:
					*tups_recently_dead += 1;
					keep = true;
					break;
				case HEAPTUPLE_LIVE:
					keep = true;
					break;
				case HEAPTUPLE_INSERT_IN_PROGRESS:
					/* only ours, under AccessExclusiveLock */
					if (!is_system_catalog &&
						!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tuple->t_data)))
						elog(WARNING, "concurrent insert in progress within table \"%s\"",
							 RelationGetRelationName(OldHeap));
					keep = true;
					break;
				case HEAPTUPLE_DELETE_IN_PROGRESS:
					if (!is_system_catalog &&
						!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetUpdateXid(tuple->t_data)))
						elog(WARNING, "concurrent delete in progress within table \"%s\"",
							 RelationGetRelationName(OldHeap));
					*tups_recently_dead += 1;
					keep = true;
					break;
				default:
					elog(ERROR, "unexpected HeapTupleSatisfiesVacuum result");
					keep = false;
					break;
			}
			LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		}

		if (!keep)
		{
			*tups_vacuumed += 1;
			continue;
		}

		*num_tuples += 1;
		if (tuplesort != NULL)
			tuplesort_putheaptuple(tuplesort, tuple);
		else
		{
			oldcxt = MemoryContextSwitchTo(tuplecxt);
			ph_cluster_write(&cs, tuple);
			MemoryContextSwitchTo(oldcxt);
			MemoryContextReset(tuplecxt);
		}
	}

	if (iscan != NULL)
		index_endscan(iscan);
	if (tscan != NULL)
		table_endscan(tscan);
	ExecDropSingleTupleTableSlot(slot);

	if (tuplesort != NULL)
	{
		double		n = 0;
		HeapTuple	tuple;

		pgstat_progress_update_param(PROGRESS_CLUSTER_PHASE,
									 PROGRESS_CLUSTER_PHASE_SORT_TUPLES);
		tuplesort_performsort(tuplesort);
		pgstat_progress_update_param(PROGRESS_CLUSTER_PHASE,
									 PROGRESS_CLUSTER_PHASE_WRITE_NEW_HEAP);
		while ((tuple = tuplesort_getheaptuple(tuplesort, true)) != NULL)
		{
			CHECK_FOR_INTERRUPTS();
			oldcxt = MemoryContextSwitchTo(tuplecxt);
			ph_cluster_write(&cs, tuple);
			MemoryContextSwitchTo(oldcxt);
			MemoryContextReset(tuplecxt);
			pgstat_progress_update_param(PROGRESS_CLUSTER_HEAP_TUPLES_WRITTEN,
										 ++n);
		}
		tuplesort_end(tuplesort);
	}

	ph_cluster_relink(&cs);

	FreeBulkInsertState(bistate);
	MemoryContextDelete(cs.cxt);
	MemoryContextDelete(tuplecxt);
	pfree(values);
	pfree(isnull);
}

/*
 * Does the table need a TOAST table?  Heap's rule: yes if some column is
 * toastable and the widest possible row would exceed
 * TOAST_TUPLE_THRESHOLD (unknown maximum width counts as too wide).
 * Phantom rows are heap rows, so the same threshold applies.
 */
bool
phantom_relation_needs_toast_table(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int32		data_length = 0;
	bool		unbounded = false;
	bool		toastable = false;
	int32		row_length;

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		data_length = att_align_nominal(data_length, att->attalign);
		if (att->attlen > 0)
		{
			data_length += att->attlen;
			continue;
		}
		else
		{
			int32		maxlen = type_maximum_size(att->atttypid,
												   att->atttypmod);

			if (maxlen < 0)
				unbounded = true;
			else
				data_length += maxlen;
			if (att->attstorage != TYPSTORAGE_PLAIN)
				toastable = true;
		}
	}

	if (!toastable)
		return false;
	if (unbounded)
		return true;
	row_length = MAXALIGN(SizeofHeapTupleHeader + BITMAPLEN(desc->natts)) +
		MAXALIGN(data_length);
	return row_length > TOAST_TUPLE_THRESHOLD;
}

/* TOAST tables of phantom tables are heap tables. */
Oid
phantom_relation_toast_am(Relation rel)
{
	return HEAP_TABLE_AM_OID;
}

/*
 * Size of a fork in bytes.  The main fork reports its virtual blocks (see
 * the file header); the other forks (FSM, VM, init) their real size, 0
 * when they do not exist.  InvalidForkNumber sums all forks.
 */
uint64
phantom_relation_size(Relation rel, ForkNumber forkNumber)
{
	uint64		nblocks = 0;

	if (forkNumber == InvalidForkNumber)
	{
		nblocks = ph_nvblocks(rel);
		for (ForkNumber fork = MAIN_FORKNUM + 1; fork <= MAX_FORKNUM; fork++)
		{
			if (smgrexists(RelationGetSmgr(rel), fork))
				nblocks += smgrnblocks(RelationGetSmgr(rel), fork);
		}
	}
	else if (forkNumber == MAIN_FORKNUM)
		nblocks = ph_nvblocks(rel);
	else if (smgrexists(RelationGetSmgr(rel), forkNumber))
		nblocks = smgrnblocks(RelationGetSmgr(rel), forkNumber);

	return nblocks * BLCKSZ;
}

/*
 * Planner size estimate: heap's block-based estimate over vblocks, with
 * heap's per-tuple overhead (hot pages are heap pages).
 */
void
phantom_relation_estimate_size(Relation rel, int32 *attr_widths,
							   BlockNumber *pages, double *tuples,
							   double *allvisfrac)
{
	table_block_relation_estimate_size(rel, attr_widths, pages, tuples,
									   allvisfrac,
									   PH_OVERHEAD_BYTES_PER_TUPLE,
									   PH_USABLE_BYTES_PER_PAGE);
}
