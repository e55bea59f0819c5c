/*-------------------------------------------------------------------------
 *
 * contribguard.c
 *	  Guards phantom tables against contrib functions that read a table's
 *	  main fork as heap pages, bypassing the table AM.
 *
 *	  A phantom table's block N is a virtual block; physical block N is
 *	  whatever page sits there (the metapage, a block-map page, a run page
 *	  of zstd frames, a free page or some other vblock's hot page).
 *	  PostgreSQL's own heap-only contrib functions refuse non-heap tables
 *	  (pgstattuple, pgrowlocks, pg_surgery, amcheck's verify_heapam,
 *	  pageinspect's tuple_data_split), but two modules do not:
 *
 *	  - pg_visibility's pg_visibility(), pg_check_frozen() and
 *	    pg_check_visible() read physical block N for VM entry N.  The
 *	    check functions even run HeapTupleSatisfiesVacuum on the "tuples"
 *	    they find there, which sets hint bits, i.e. writes into the bytes
 *	    of compressed frames of run pages and corrupts them.  They are
 *	    refused on phantom tables (pg_visibility_map() and
 *	    pg_visibility_map_summary() read only the VM, which is indexed by
 *	    vblock, and stay available; phantom.verify() checks the table);
 *	  - pg_prewarm() reads main-fork blocks 0 .. relation_size-1, i.e.
 *	    0 .. nvblocks-1 physical blocks, past the end of the file once
 *	    compaction made it smaller.  For a phantom table's main fork the
 *	    range is clamped to the physical file, which is what there is to
 *	    load into shared buffers.
 *
 *	  PostgreSQL has no hook at the level of those functions' arguments,
 *	  so phantom uses the function manager's plugin hook: needs_fmgr_hook
 *	  claims exactly these C functions (by library and symbol), and at
 *	  FHET_START fmgr_hook swaps the FmgrInfo's function address for a
 *	  wrapper, which sees the arguments, checks the relation and calls the
 *	  original.  Every other function is left alone (built-ins without a
 *	  catalog lookup; others with one cached lookup per backend).
 *
 * src/tableam/contribguard.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/transam.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "fmgr.h"
#include "storage/bufmgr.h"
#include "storage/smgr.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "phantom/phantom.h"
#include "phantom/tableam/tableam.h"

typedef enum PhGuardKind
{
	PH_GUARD_NONE = 0,
	PH_GUARD_REFUSE,			/* pg_visibility's page readers */
	PH_GUARD_PREWARM			/* pg_prewarm */
} PhGuardKind;

/* fn_oid -> what to do, and the C function to call */
typedef struct PhGuardEntry
{
	Oid			fn_oid;
	PhGuardKind kind;
	PGFunction	orig;
	char		name[NAMEDATALEN];
} PhGuardEntry;

static HTAB *guard_hash = NULL;
static needs_fmgr_hook_type prev_needs_fmgr_hook = NULL;
static fmgr_hook_type prev_fmgr_hook = NULL;

/* the guarded C functions: library (last path element of probin), symbol */
static const struct
{
	const char *lib;
	const char *symbol;
	PhGuardKind kind;
}			guarded[] =
{
	{"pg_visibility", "pg_visibility", PH_GUARD_REFUSE},
	{"pg_visibility", "pg_visibility_rel", PH_GUARD_REFUSE},
	{"pg_visibility", "pg_check_frozen", PH_GUARD_REFUSE},
	{"pg_visibility", "pg_check_visible", PH_GUARD_REFUSE},
	{"pg_prewarm", "pg_prewarm", PH_GUARD_PREWARM},
};

/* A pg_proc change may reuse an OID: forget everything. */
static void
ph_guard_inval(Datum arg, int cacheid, uint32 hashvalue)
{
	if (guard_hash)
	{
		hash_destroy(guard_hash);
		guard_hash = NULL;
	}
}

/* ph_guard_lookup classifies fn_oid (cached per backend). */
static PhGuardEntry *
ph_guard_lookup(Oid fn_oid)
{
	PhGuardEntry *e;
	bool		found;

	if (guard_hash == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(PhGuardEntry);
		ctl.hcxt = CacheMemoryContext;
		guard_hash = hash_create("phantom contrib guard", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	e = hash_search(guard_hash, &fn_oid, HASH_ENTER, &found);
	if (!found)
	{
		HeapTuple	tup;

		e->kind = PH_GUARD_NONE;
		e->orig = NULL;
		e->name[0] = '\0';
		tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn_oid));
		if (HeapTupleIsValid(tup))
		{
			Form_pg_proc proc = (Form_pg_proc) GETSTRUCT(tup);
			bool		isnull;
			Datum		d;

			if (proc->prolang == ClanguageId)
			{
				char	   *probin = NULL;
				char	   *prosrc = NULL;
				const char *lib;

				d = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_probin, &isnull);
				if (!isnull)
					probin = TextDatumGetCString(d);
				d = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_prosrc, &isnull);
				if (!isnull)
					prosrc = TextDatumGetCString(d);
				lib = probin ? strrchr(probin, '/') : NULL;
				lib = lib ? lib + 1 : probin;
				for (int i = 0; lib && prosrc && i < lengthof(guarded); i++)
				{
					if (strcmp(lib, guarded[i].lib) == 0 &&
						strcmp(prosrc, guarded[i].symbol) == 0)
					{
						e->orig = load_external_function(probin, prosrc,
														 true, NULL);
						e->kind = guarded[i].kind;
						strlcpy(e->name, NameStr(proc->proname), NAMEDATALEN);
						break;
					}
				}
			}
			ReleaseSysCache(tup);
		}
	}
	return e;
}

static bool
ph_needs_fmgr_hook(Oid fn_oid)
{
	if (prev_needs_fmgr_hook && prev_needs_fmgr_hook(fn_oid))
		return true;
	/* built-in functions are never guarded; no lookup for them */
	if (fn_oid < FirstNormalObjectId)
		return false;
	return ph_guard_lookup(fn_oid)->kind != PH_GUARD_NONE;
}

/*
 * ph_guard_call is what a guarded function's FmgrInfo calls: check the
 * relation (first argument), then call the original.
 */
static Datum
ph_guard_call(PG_FUNCTION_ARGS)
{
	/* a copy: an invalidation may reset the cache under us */
	PhGuardEntry e = *ph_guard_lookup(fcinfo->flinfo->fn_oid);
	Relation	rel;
	bool		phantom;

	if (e.orig == NULL)
		elog(ERROR, "phantom: function %u is not a guarded contrib function",
			 fcinfo->flinfo->fn_oid);
	if (PG_ARGISNULL(0))
		return e.orig(fcinfo);

	/* the functions open the relation themselves with AccessShareLock */
	rel = try_relation_open(PG_GETARG_OID(0), AccessShareLock);
	if (rel == NULL)
		return e.orig(fcinfo);
	phantom = phantom_relation_is_phantom(rel);

	if (phantom && e.kind == PH_GUARD_REFUSE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s() is not supported for phantom table \"%s\"",
						e.name, RelationGetRelationName(rel)),
				 errdetail("It reads physical block N of the main fork as heap page N; block N of a phantom table is a virtual block, stored elsewhere or compressed."),
				 errhint("Use pg_visibility_map() or pg_visibility_map_summary() for the visibility map, and phantom.verify() to check the table.")));

	if (phantom && e.kind == PH_GUARD_PREWARM &&
		!PG_ARGISNULL(2) &&
		strcmp(text_to_cstring(PG_GETARG_TEXT_PP(2)), "main") == 0)
	{
		BlockNumber nphys;

		/* the physical file is what shared buffers can hold */
		nphys = smgrexists(RelationGetSmgr(rel), MAIN_FORKNUM) ?
			smgrnblocks(RelationGetSmgr(rel), MAIN_FORKNUM) : 0;
		if (nphys == 0 ||
			(!PG_ARGISNULL(3) && PG_GETARG_INT64(3) >= (int64) nphys &&
			 PG_GETARG_INT64(3) < (int64) RelationGetNumberOfBlocks(rel)))
		{
			relation_close(rel, AccessShareLock);
			PG_RETURN_INT64(0);
		}
		/* a last block beyond the vblocks gets pg_prewarm's own error */
		if (PG_ARGISNULL(4) ||
			(PG_GETARG_INT64(4) >= (int64) nphys &&
			 PG_GETARG_INT64(4) < (int64) RelationGetNumberOfBlocks(rel)))
		{
			fcinfo->args[4].value = Int64GetDatum((int64) nphys - 1);
			fcinfo->args[4].isnull = false;
		}
	}
	relation_close(rel, AccessShareLock);
	return e.orig(fcinfo);
}

/*
 * ph_fmgr_hook: at the start of a guarded function, route its FmgrInfo to
 * ph_guard_call (fmgr_security_definer calls the function through this
 * FmgrInfo, which it keeps for the rest of the query).
 */
static void
ph_fmgr_hook(FmgrHookEventType event, FmgrInfo *flinfo, Datum *private)
{
	if (prev_fmgr_hook)
		prev_fmgr_hook(event, flinfo, private);
	if (event == FHET_START && flinfo->fn_addr != ph_guard_call &&
		flinfo->fn_oid >= FirstNormalObjectId)
	{
		if (ph_guard_lookup(flinfo->fn_oid)->kind != PH_GUARD_NONE)
			flinfo->fn_addr = ph_guard_call;
	}
}

/* Called from _PG_init. */
void
phantom_contribguard_init(void)
{
	prev_needs_fmgr_hook = needs_fmgr_hook;
	needs_fmgr_hook = ph_needs_fmgr_hook;
	prev_fmgr_hook = fmgr_hook;
	fmgr_hook = ph_fmgr_hook;
	CacheRegisterSyscacheCallback(PROCOID, ph_guard_inval, (Datum) 0);
}
