/*-------------------------------------------------------------------------
 *
 * result.c
 *	  Set-returning SQL functions' results: every one of ours builds its
 *	  rows in a tuplestore (materialize mode).
 *
 * Called where it cannot be (in a select list, say, or without the column
 * definition list a record-returning function needs), PostgreSQL's own
 * InitMaterializedSRF fails with a message that names no function and gives
 * no hint; this one says what was called and how to call it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "base/result.h"

#include "funcapi.h"
#include "utils/lsyscache.h"

/* MaterializeResult is InitMaterializedSRF, with a clear error when the caller cannot take a materialized set. */
void
MaterializeResult(FunctionCallInfo fcinfo, bits32 flags)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	bool		need_desc = (flags & MAT_SRF_USE_EXPECTED_DESC) != 0;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) || (rsinfo->allowedModes & SFRM_Materialize) == 0 ||
		(need_desc && rsinfo->expectedDesc == NULL))
	{
		char	   *name = get_func_name(fcinfo->flinfo->fn_oid);

		if (name == NULL)
			name = "?";
		if (need_desc)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("function %s returns rows of a type its call must name", name),
					 errhint("Call it in FROM with a column definition list: SELECT * FROM medallion.%s(...) AS c(column type, ...).",
							 name)));
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function %s returns a set of rows and can only be called in FROM", name),
				 errhint("Write SELECT * FROM medallion.%s(...).", name)));
	}
	InitMaterializedSRF(fcinfo, flags);
}
