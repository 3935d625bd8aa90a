/*-------------------------------------------------------------------------
 *
 * export.h
 *	  What the shared library exports.  It is built with
 *	  -fvisibility=hidden (Makefile): only symbols marked PGDLLEXPORT are
 *	  visible to the server -- the SQL-callable functions, _PG_init, the
 *	  output plugin's init and the background workers' entry points.
 *
 * PostgreSQL 16 declares the function of PG_FUNCTION_INFO_V1 PGDLLEXPORT
 * itself; 15 marks only its info function, so we use 16's definition.
 * Include this in every file that has SQL-callable functions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_BASE_EXPORT_H
#define MEDALLION_BASE_EXPORT_H

#include "fmgr.h"

#if PG_VERSION_NUM < 160000
#undef PG_FUNCTION_INFO_V1
#define PG_FUNCTION_INFO_V1(funcname) \
extern PGDLLEXPORT Datum funcname(PG_FUNCTION_ARGS); \
extern PGDLLEXPORT const Pg_finfo_record * CppConcat(pg_finfo_,funcname)(void); \
const Pg_finfo_record * \
CppConcat(pg_finfo_,funcname) (void) \
{ \
	static const Pg_finfo_record my_finfo = { 1 }; \
	return &my_finfo; \
} \
extern int no_such_variable
#endif

#endif							/* MEDALLION_BASE_EXPORT_H */
