/*-------------------------------------------------------------------------
 *
 * ddl.h
 *	  Storage-level DDL callbacks (src/tableam/ddl.c) and VACUUM
 *	  (src/tableam/vacuum.c) of phantom tables.
 *
 * include/phantom/tableam/ddl.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHANTOM_TABLEAM_DDL_H
#define PHANTOM_TABLEAM_DDL_H

#include "access/tableam.h"
#include "commands/vacuum.h"
#include "storage/relfilenode.h"
#include "utils/rel.h"

/* src/tableam/ddl.c */
extern void phantom_relation_set_new_filenode(Relation rel,
											  const RelFileNode *newrnode,
											  char persistence,
											  TransactionId *freezeXid,
											  MultiXactId *minmulti);
extern void phantom_relation_nontransactional_truncate(Relation rel);
extern void phantom_relation_copy_data(Relation rel,
									   const RelFileNode *newrnode);
extern void phantom_relation_copy_for_cluster(Relation OldHeap,
											  Relation NewHeap,
											  Relation OldIndex,
											  bool use_sort,
											  TransactionId OldestXmin,
											  TransactionId *xid_cutoff,
											  MultiXactId *multi_cutoff,
											  double *num_tuples,
											  double *tups_vacuumed,
											  double *tups_recently_dead);
extern bool phantom_relation_needs_toast_table(Relation rel);
extern Oid	phantom_relation_toast_am(Relation rel);
extern uint64 phantom_relation_size(Relation rel, ForkNumber forkNumber);
extern void phantom_relation_estimate_size(Relation rel, int32 *attr_widths,
										   BlockNumber *pages, double *tuples,
										   double *allvisfrac);

/* src/tableam/vacuum.c */
extern void phantom_relation_vacuum(Relation rel, struct VacuumParams *params,
									BufferAccessStrategy bstrategy);

#endif							/* PHANTOM_TABLEAM_DDL_H */
