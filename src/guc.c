/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Every phantom.* configuration parameter, defined in one place and kept
 *	  sorted by name.  The prefix is reserved so that a misspelt phantom.*
 *	  setting is reported instead of silently ignored.
 *
 * src/guc.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "phantom/phantom.h"

int			phantom_compaction_min_pages = 8;
int			phantom_compaction_naptime = 10;
bool		phantom_compaction_enabled = true;
int			phantom_compression_level = 1;
int			phantom_insert_lanes = 4;

/*
 * phantom_guc_init defines the parameters; called once from _PG_init.
 */
void
phantom_guc_init(void)
{
	DefineCustomBoolVariable("phantom.compaction",
							 "Enables the background compaction of phantom tables.",
							 "When off, hot pages move into compressed runs only through phantom.compact().",
							 &phantom_compaction_enabled,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("phantom.compaction_min_pages",
							"Number of settled hot pages a table needs before background compaction takes it.",
							NULL,
							&phantom_compaction_min_pages,
							8, 1, INT_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("phantom.compaction_naptime",
							"Time the compaction worker sleeps between rounds.",
							NULL,
							&phantom_compaction_naptime,
							10, 1, 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("phantom.compression_level",
							"zstd compression level of cold runs.",
							"Higher levels give smaller tables and slower compaction.",
							&phantom_compression_level,
							1, 1, 19,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("phantom.insert_lanes",
							"Number of hot pages of a table that concurrent inserters spread over.",
							"More lanes let more backends insert without waiting on one page lock.",
							&phantom_insert_lanes,
							4, 1, 64,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("phantom");
}
