/*-------------------------------------------------------------------------
 *
 * pending.c
 *	  TEMPORARY (owner: scan).  Weak, ERROR-raising stand-ins for functions
 *	  other modules are still writing (compaction), so that phantom.so
 *	  links and loads (PostgreSQL dlopens with RTLD_NOW) while handler.c already
 *	  references them.  Each is declared __attribute__((weak)): as soon as
 *	  the real definition lands, the linker takes it and the stand-in here
 *	  is ignored, with no duplicate-symbol error.  Delete an entry (and this
 *	  file, at the end) once the real function is on main.
 *
 * src/tableam/pending.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"

#include "phantom/lsm/run.h"
#include "phantom/tableam/tableam.h"

#define PH_PENDING	__attribute__((weak))

#define ph_pending_error(what) \
	ereport(ERROR, \
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED), \
			 errmsg("%s is not yet available in this build of phantom", what), \
			 errhint("This part of phantom is still being written.")))

/* compaction (src/lsm/compact.c) */
PH_PENDING int64
ph_compact_relation(Relation rel)
{
	ph_pending_error("phantom.compact");
	return 0;
}
