/*-------------------------------------------------------------------------
 *
 * visibility.c
 *	  MVCC visibility of phantom tuples.  See include/phantom/mvcc/
 *	  visibility.h for why hot and cold tuples can both be decided by
 *	  PostgreSQL's heap visibility rules: hot pages are heap-format pages in
 *	  shared buffers, and cold tuples are frozen with an invalid xmax, so
 *	  no hint bit is ever set on a cold image (buffer = InvalidBuffer).
 *
 * src/mvcc/visibility.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"

#include "phantom/mvcc/visibility.h"

/* Is tup visible to snapshot?  Sets hint bits on buffer when valid. */
bool
ph_tuple_visible(HeapTuple tup, Snapshot snapshot, Buffer buffer)
{
	return HeapTupleSatisfiesVisibility(tup, snapshot, buffer);
}

/* May the current transaction update or lock tup? */
TM_Result
ph_tuple_satisfies_update(HeapTuple tup, CommandId curcid, Buffer buffer)
{
	return HeapTupleSatisfiesUpdate(tup, curcid, buffer);
}

/* Is tup live, dead, or in between, as seen by VACUUM at OldestXmin? */
HTSV_Result
ph_tuple_satisfies_vacuum(HeapTuple tup, TransactionId OldestXmin,
						  Buffer buffer)
{
	return HeapTupleSatisfiesVacuum(tup, OldestXmin, buffer);
}

/* As ph_tuple_satisfies_vacuum, for callers that use GlobalVisState. */
HTSV_Result
ph_tuple_satisfies_vacuum_horizon(HeapTuple tup, Buffer buffer,
								  TransactionId *dead_after)
{
	return HeapTupleSatisfiesVacuumHorizon(tup, buffer, dead_after);
}

/* Cheap check, without clog lookups, that tup is dead to everyone. */
bool
ph_tuple_surely_dead(HeapTuple tup, GlobalVisState *vistest)
{
	return HeapTupleIsSurelyDead(tup, vistest);
}
