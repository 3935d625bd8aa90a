/*-------------------------------------------------------------------------
 *
 * result.h
 *	  Set-returning SQL functions' results (result.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_BASE_RESULT_H
#define MEDALLION_BASE_RESULT_H

#include "fmgr.h"

extern void MaterializeResult(FunctionCallInfo fcinfo, bits32 flags);

#endif							/* MEDALLION_BASE_RESULT_H */
