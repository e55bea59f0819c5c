/*-------------------------------------------------------------------------
 *
 * stat.c
 *	  The functions behind the views phantom.stat_tables and
 *	  phantom.stat_compaction (sql/phantom--0.1.sql):
 *
 *	  - phantom_internal.table_stats(regclass): one row of storage
 *	    statistics of a phantom table, from the metapage, the block map and
 *	    the line pointers of its hot pages (LP_DEAD items).  The view calls
 *	    it for every phantom table of the current database.
 *	  - phantom_internal.compaction_workers(): the slots of the compaction
 *	    workers in shared memory (src/worker/launcher.c).
 *
 *	  Locking: table_stats takes AccessShareLock on the table only if it is
 *	  free right now (a table locked by DDL gives a row of NULLs instead of
 *	  blocking the view), share-locks each map page while copying its
 *	  entries, then share-locks each hot page briefly to count its dead
 *	  items.  Under concurrent compaction a hot page may move between the
 *	  two steps, so the numbers are an approximate snapshot; a page that is
 *	  no longer heap-format is simply not counted.  The walk runs in a
 *	  subtransaction: a damaged table gives a row of NULLs and a WARNING
 *	  instead of failing the whole view.  Worker slots are copied under
 *	  ph_worker_shared->mutex.
 *
 *	  Compaction keeps no per-table counters, so last_compaction is always
 *	  NULL for now (docs/operations.md).
 *
 * src/monitor/stat.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/smgr.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "phantom/lsm/storage_int.h"
#include "phantom/monitor/monitor.h"
#include "phantom/tableam/tableam.h"
#include "phantom/worker/compaction.h"

PG_FUNCTION_INFO_V1(phantom_stat_tables);
PG_FUNCTION_INFO_V1(phantom_stat_compaction);

#define STAT_NCOLS	13

/* qsort comparator for block numbers */
static int
stat_cmp_block(const void *a, const void *b)
{
	BlockNumber x = *(const BlockNumber *) a;
	BlockNumber y = *(const BlockNumber *) b;

	return (x > y) - (x < y);
}

/*
 * count_dead_items returns the LP_DEAD line pointers of the hot page at
 * physical block blk, or 0 if the page is no longer a hot page.
 */
static int64
count_dead_items(Relation rel, BlockNumber blk, BufferAccessStrategy bas)
{
	Buffer		buf;
	Page		page;
	int64		ndead = 0;

	buf = ReadBufferExtended(rel, MAIN_FORKNUM, blk, RBM_NORMAL, bas);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	if (!PageIsNew(page) && ((PageHeader) page)->pd_special == BLCKSZ)
	{
		OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
		OffsetNumber off;

		for (off = FirstOffsetNumber; off <= maxoff; off++)
			if (ItemIdIsDead(PageGetItemId(page, off)))
				ndead++;
	}
	UnlockReleaseBuffer(buf);
	return ndead;
}

/*
 * stat_collect fills values/nulls with the statistics of rel (see
 * phantom_stat_tables).  It raises an error on a damaged metapage or map.
 */
static void
stat_collect(Relation rel, Datum *values, bool *nulls)
{
	BlockNumber nvblocks = 0;
	uint32		nmappages = 0;
	uint32		nfree = 0;
	uint64		compacted = 0;
	uint64		cwritten = 0;
	int64		nhot = 0;
	int64		ncold = 0;
	int64		runpages = 0;
	int64		ndead = 0;
	BlockNumber *hotblks = NULL;
	BlockNumber *runblks = NULL;
	BlockNumber vb;
	Buffer		metabuf;
	BufferAccessStrategy bas;
	int64		i;

	metabuf = ph_meta_read(rel, BUFFER_LOCK_SHARE);
	if (BufferIsValid(metabuf))
	{
		PhantomMetaPageData *meta = PhantomPageGetMeta(BufferGetPage(metabuf));

		nvblocks = meta->nvblocks;
		nmappages = meta->nmappages;
		nfree = meta->nfree;
		compacted = meta->compacted_bytes;
		cwritten = meta->compaction_written_bytes;
		UnlockReleaseBuffer(metabuf);
	}

	if (nvblocks > 0)
	{
		hotblks = palloc_extended(sizeof(BlockNumber) * nvblocks, MCXT_ALLOC_HUGE);
		runblks = palloc_extended(sizeof(BlockNumber) * nvblocks, MCXT_ALLOC_HUGE);
	}
	for (vb = 0; vb < nvblocks; vb += PH_MAP_ENTRIES_PER_PAGE)
	{
		PhMapEntry	e;
		Buffer		mapbuf = ph_map_lock(rel, vb, BUFFER_LOCK_SHARE, &e);
		PhMapEntry *entries;
		uint32		j;

		if (!BufferIsValid(mapbuf))
			break;
		entries = PhMapPageEntries(BufferGetPage(mapbuf));
		for (j = 0; j < PH_MAP_ENTRIES_PER_PAGE && vb + j < nvblocks; j++)
		{
			if (PhMapIsHot(entries[j]))
				hotblks[nhot++] = PhMapBlock(entries[j]);
			else if (PhMapIsCold(entries[j]))
				runblks[ncold++] = PhMapBlock(entries[j]);
		}
		UnlockReleaseBuffer(mapbuf);
	}
	if (ncold > 0)
	{
		qsort(runblks, ncold, sizeof(BlockNumber), stat_cmp_block);
		for (i = 0; i < ncold; i++)
			if (i == 0 || runblks[i] != runblks[i - 1])
				runpages++;
	}

	/* dead items of hot pages, in physical order, through a ring buffer */
	if (nhot > 0)
	{
		BlockNumber nphys = smgrnblocks(RelationGetSmgr(rel), MAIN_FORKNUM);

		qsort(hotblks, nhot, sizeof(BlockNumber), stat_cmp_block);
		bas = GetAccessStrategy(BAS_BULKREAD);
		for (i = 0; i < nhot; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (hotblks[i] < nphys)
				ndead += count_dead_items(rel, hotblks[i], bas);
		}
		FreeAccessStrategy(bas);
	}

	memset(nulls, false, sizeof(bool) * STAT_NCOLS);
	values[0] = Int64GetDatum(nvblocks);
	values[1] = Int64GetDatum(nhot);
	values[2] = Int64GetDatum(ncold);
	values[3] = Int64GetDatum(runpages);
	values[4] = Int64GetDatum(nfree);
	values[5] = Int64GetDatum(nmappages);
	values[6] = Int64GetDatum((int64) smgrnblocks(RelationGetSmgr(rel),
												  MAIN_FORKNUM) * BLCKSZ);
	values[7] = Int64GetDatum(ncold * BLCKSZ);
	if (runpages > 0)
		values[8] = Float8GetDatum((double) ncold / (double) runpages);
	else
		nulls[8] = true;
	values[9] = Int64GetDatum(ndead);
	values[10] = Int64GetDatum((int64) compacted);
	values[11] = Int64GetDatum((int64) cwritten);
	/* hot page once + every run page compaction wrote, per byte of rows */
	if (compacted > 0)
		values[12] = Float8GetDatum(((double) compacted + (double) cwritten) /
									(double) compacted);
	else
		nulls[12] = true;
}

/*
 * phantom_stat_tables returns (vblocks, hot_pages, cold_vblocks,
 * run_pages, free_pages, map_pages, bytes_on_disk, uncompressed_bytes,
 * compression_ratio, dead_items, compacted_bytes,
 * compaction_written_bytes, write_amplification) for one phantom table; all NULL when
 * the table is gone, locked by someone else's DDL, or not phantom.  A
 * damaged table gives NULLs and a WARNING (the error is caught in a
 * subtransaction), so that one bad table does not break the whole view;
 * phantom.verify() tells what is wrong.
 */
Datum
phantom_stat_tables(PG_FUNCTION_ARGS)
{
	Oid			relid = phantom_table_arg(fcinfo, 0,
										  "phantom_internal.table_stats");
	TupleDesc	tupdesc;
	Datum		values[STAT_NCOLS];
	bool		nulls[STAT_NCOLS];
	Relation	rel;
	MemoryContext oldcxt;
	ResourceOwner oldowner;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	memset(nulls, true, sizeof(nulls));

	if (!ConditionalLockRelationOid(relid, AccessShareLock))
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
	{
		UnlockRelationOid(relid, AccessShareLock);
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
	}
	rel = relation_open(relid, NoLock);
	if ((rel->rd_rel->relkind != RELKIND_RELATION &&
		 rel->rd_rel->relkind != RELKIND_MATVIEW) ||
		!phantom_relation_is_phantom(rel) || RELATION_IS_OTHER_TEMP(rel))
	{
		relation_close(rel, AccessShareLock);
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
	}

	oldcxt = CurrentMemoryContext;
	oldowner = CurrentResourceOwner;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		stat_collect(rel, values, nulls);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		memset(nulls, true, sizeof(nulls));
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("no storage statistics for phantom table \"%s\": %s",
						RelationGetRelationName(rel), edata->message),
				 errhint("Run phantom.verify() on the table.")));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	relation_close(rel, AccessShareLock);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * phantom_stat_compaction returns one row per compaction worker slot that
 * is in use: (slot, state, datid, pid, claimed_at).
 */
Datum
phantom_stat_compaction(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PhWorkerSlot slots[PH_COMPACTION_MAX_WORKERS];
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	if (ph_worker_shared == NULL)
		return (Datum) 0;

	SpinLockAcquire(&ph_worker_shared->mutex);
	memcpy(slots, ph_worker_shared->slots, sizeof(slots));
	SpinLockRelease(&ph_worker_shared->mutex);

	for (i = 0; i < PH_COMPACTION_MAX_WORKERS; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};
		const char *state;

		switch (slots[i].state)
		{
			case PH_SLOT_STARTING:
				state = "starting";
				break;
			case PH_SLOT_RUNNING:
				state = "running";
				break;
			case PH_SLOT_DONE:
				state = "done";
				break;
			default:
				continue;
		}
		values[0] = Int32GetDatum(i);
		values[1] = CStringGetTextDatum(state);
		values[2] = ObjectIdGetDatum(slots[i].dboid);
		if (slots[i].state == PH_SLOT_RUNNING && slots[i].pid != 0)
			values[3] = Int32GetDatum((int32) slots[i].pid);
		else
			nulls[3] = true;
		if (slots[i].claimed != 0)
			values[4] = TimestampTzGetDatum(slots[i].claimed);
		else
			nulls[4] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
