/*-------------------------------------------------------------------------
 *
 * modify.h
 *	  Helpers shared by the row-writing files of the table AM
 *	  (src/tableam/modify.c, src/tableam/lock.c).
 *
 * include/phantom/tableam/modify.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHANTOM_TABLEAM_MODIFY_H
#define PHANTOM_TABLEAM_MODIFY_H

#include "access/htup_details.h"

#include "phantom/wal/wal.h"

/*
 * Describe header hdr (a local, already modified copy of a tuple header)
 * as the PhHeaderChange of item offnum, for ph_wal_set_headers and
 * ph_wal_update.
 */
extern void ph_header_change_from(HeapTupleHeader hdr, OffsetNumber offnum,
								  PhHeaderChange *chg);

#endif							/* PHANTOM_TABLEAM_MODIFY_H */
