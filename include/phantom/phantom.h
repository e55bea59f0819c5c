/*-------------------------------------------------------------------------
 *
 * phantom.h
 *	  Process-wide declarations of the phantom extension: the subsystem
 *	  initialisation entry points called from _PG_init, phantom's own
 *	  SQLSTATEs and the GUC variables every subsystem may read.
 *
 * include/phantom/phantom.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHANTOM_PHANTOM_H
#define PHANTOM_PHANTOM_H

#include "utils/elog.h"

/*
 * Phantom's own SQLSTATE class "PH" for conditions that belong to no
 * standard class.
 */
#define ERRCODE_PHANTOM_CORRUPTED_RUN	MAKE_SQLSTATE('P','H','0','0','1')
#define ERRCODE_PHANTOM_NOT_PRELOADED	MAKE_SQLSTATE('P','H','0','0','2')

/* GUCs (src/guc.c) */
extern int	phantom_insert_lanes;
extern int	phantom_compression_level;
extern bool phantom_compression_columnar;
extern int	phantom_cold_cache_size;
extern int	phantom_compaction_naptime;
extern int	phantom_compaction_min_pages;
extern double phantom_compaction_run_rewrite_ratio;
extern int	phantom_debug_rewrite_panic_after;
extern int	phantom_debug_pause_after_raft_commit;
extern bool phantom_compaction_enabled;

/* Subsystem entry points, called once from _PG_init (src/phantom.c). */
extern void phantom_guc_init(void);
extern void phantom_wal_init(void);
extern void phantom_worker_init(void);
extern void phantom_catalogcheck_init(void);
extern void phantom_contribguard_init(void);

/* Shared memory of the background workers (src/worker/). */
extern void phantom_worker_shmem_request(void);
extern void phantom_worker_shmem_startup(void);

/* Raft replication worker and its shared memory (src/replication/). */
extern void phantom_replication_init(void);
extern void phantom_replication_shmem_request(void);
extern void phantom_replication_shmem_startup(void);

#endif							/* PHANTOM_PHANTOM_H */
