/*-------------------------------------------------------------------------
 *
 * monitor.h
 *	  Operator functions (src/monitor/): phantom.verify() checks a phantom
 *	  table's physical structure and its indexes; phantom.stat_tables and
 *	  phantom.stat_compaction expose per-table storage statistics and the
 *	  compaction workers.  All are SQL-callable only; nothing else in the
 *	  extension depends on this module.
 *
 * include/phantom/monitor/monitor.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHANTOM_MONITOR_MONITOR_H
#define PHANTOM_MONITOR_MONITOR_H

#include "fmgr.h"

/* src/monitor/verify.c */
extern Datum phantom_verify(PG_FUNCTION_ARGS);

/* src/monitor/stat.c */
extern Datum phantom_stat_tables(PG_FUNCTION_ARGS);
extern Datum phantom_stat_compaction(PG_FUNCTION_ARGS);

#endif							/* PHANTOM_MONITOR_MONITOR_H */
