/*-------------------------------------------------------------------------
 *
 * rowfetch.h
 *	  Fetching one row version by TID, shared by src/tableam/fetch.c and
 *	  the modify/lock paths (src/tableam/modify.c, src/tableam/lock.c).
 *
 * include/phantom/tableam/rowfetch.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHANTOM_TABLEAM_ROWFETCH_H
#define PHANTOM_TABLEAM_ROWFETCH_H

#include "access/heapam.h"
#include "utils/rel.h"
#include "utils/snapshot.h"

/*
 * ph_fetch is phantom's heap_fetch.  The caller sets tuple->t_self.
 * Returns whether the version is visible to snapshot (and takes the SSI
 * predicate lock / conflict-out check like heap_fetch).
 *
 * When the item exists and is visible (or keep_buf): for a hot vblock,
 * tuple->t_data points into *buf, which stays pinned (not locked); for a
 * cold vblock, *buf is InvalidBuffer and tuple->t_data is a palloc'd copy
 * in the current memory context (the caller may pfree it).  Otherwise
 * (no such item, or invisible and !keep_buf) tuple->t_data is NULL and
 * *buf InvalidBuffer.
 */
extern bool ph_fetch(Relation rel, Snapshot snapshot, HeapTuple tuple,
					 Buffer *buf, bool keep_buf);

#endif							/* PHANTOM_TABLEAM_ROWFETCH_H */
