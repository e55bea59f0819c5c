/*-------------------------------------------------------------------------
 *
 * handler.c
 *	  phantom's TableAmRoutine.
 *	  PLACEHOLDER: owned by the table AM work.
 *
 * src/tableam/handler.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

PG_FUNCTION_INFO_V1(phantom_tableam_handler);
PG_FUNCTION_INFO_V1(phantom_compact);

Datum
phantom_tableam_handler(PG_FUNCTION_ARGS)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("phantom tables are not available yet")));
	PG_RETURN_NULL();
}

Datum
phantom_compact(PG_FUNCTION_ARGS)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("phantom.compact is not available yet")));
	PG_RETURN_NULL();
}
