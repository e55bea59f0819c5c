/*-------------------------------------------------------------------------
 *
 * inspect.c
 *	  phantom_internal.storage_info(regclass): an operator's view of a
 *	  phantom table's physical state (vblocks hot and cold, run pages,
 *	  map pages, free pages, physical size), read from the metapage and the
 *	  block map without touching data pages.
 *
 *	  Locking: AccessShareLock on the table; each map page is share-locked
 *	  while its entries are counted, so the numbers are a consistent view of
 *	  each map page but not of the whole table under concurrent writes.
 *
 * src/lsm/inspect.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "fmgr.h"
#include "funcapi.h"
#include "storage/bufmgr.h"
#include "storage/smgr.h"
#include "utils/rel.h"

#include "phantom/lsm/run.h"
#include "phantom/lsm/storage_int.h"
#include "phantom/tableam/tableam.h"

PG_FUNCTION_INFO_V1(phantom_storage_info);
PG_FUNCTION_INFO_V1(phantom_cold_cache_stats);

/* qsort comparator for block numbers */
static int
ph_cmp_block(const void *a, const void *b)
{
	BlockNumber x = *(const BlockNumber *) a;
	BlockNumber y = *(const BlockNumber *) b;

	return (x > y) - (x < y);
}

/*
 * phantom_storage_info returns (nvblocks, hot_vblocks, cold_vblocks,
 * run_pages, map_pages, free_pages, physical_pages) for a phantom table.
 */
Datum
phantom_storage_info(PG_FUNCTION_ARGS)
{
	Oid			relid = phantom_table_arg(fcinfo, 0,
										  "phantom_internal.storage_info");
	Relation	rel;
	TupleDesc	tupdesc;
	Datum		values[7];
	bool		nulls[7] = {false};
	BlockNumber nvblocks = 0;
	uint32		nmappages = 0;
	uint32		nfree = 0;
	int64		hot = 0;
	int64		cold = 0;
	int64		runpages = 0;
	BlockNumber *runblks = NULL;
	BlockNumber vb;
	Buffer		metabuf;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	rel = phantom_table_open(relid, AccessShareLock,
							 "phantom_internal.storage_info");

	metabuf = ph_meta_read(rel, BUFFER_LOCK_SHARE);
	if (BufferIsValid(metabuf))
	{
		PhantomMetaPageData *meta = PhantomPageGetMeta(BufferGetPage(metabuf));

		nvblocks = meta->nvblocks;
		nmappages = meta->nmappages;
		nfree = meta->nfree;
		UnlockReleaseBuffer(metabuf);
	}

	if (nvblocks > 0)
		runblks = palloc(sizeof(BlockNumber) * nvblocks);
	for (vb = 0; vb < nvblocks; vb += PH_MAP_ENTRIES_PER_PAGE)
	{
		PhMapEntry	e;
		Buffer		mapbuf = ph_map_lock(rel, vb, BUFFER_LOCK_SHARE, &e);
		PhMapEntry *entries;
		uint32		i;

		if (!BufferIsValid(mapbuf))
			break;
		entries = PhMapPageEntries(BufferGetPage(mapbuf));
		for (i = 0; i < PH_MAP_ENTRIES_PER_PAGE && vb + i < nvblocks; i++)
		{
			if (PhMapIsHot(entries[i]))
				hot++;
			else if (PhMapIsCold(entries[i]))
				runblks[cold++] = PhMapBlock(entries[i]);
		}
		UnlockReleaseBuffer(mapbuf);
	}
	if (cold > 0)
	{
		int64		i;

		qsort(runblks, cold, sizeof(BlockNumber), ph_cmp_block);
		for (i = 0; i < cold; i++)
			if (i == 0 || runblks[i] != runblks[i - 1])
				runpages++;
	}

	values[0] = Int64GetDatum(nvblocks);
	values[1] = Int64GetDatum(hot);
	values[2] = Int64GetDatum(cold);
	values[3] = Int64GetDatum(runpages);
	values[4] = Int32GetDatum((int32) nmappages);
	values[5] = Int64GetDatum(nfree);
	values[6] = Int64GetDatum(smgrnblocks(RelationGetSmgr(rel), MAIN_FORKNUM));
	table_close(rel, AccessShareLock);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * phantom_cold_cache_stats returns (hits, misses, images) of this
 * backend's cold-image cache (src/lsm/run.c).
 */
Datum
phantom_cold_cache_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	uint64		hits;
	uint64		misses;
	int			images;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	ph_run_cache_stats(&hits, &misses, &images);
	values[0] = Int64GetDatum((int64) hits);
	values[1] = Int64GetDatum((int64) misses);
	values[2] = Int32GetDatum(images);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
