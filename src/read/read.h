/*-------------------------------------------------------------------------
 *
 * read.h
 *	  Reading a feed's versions (read.c): shared by table_changes, the
 *	  typed readers and consume.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_READ_READ_H
#define MEDALLION_READ_READ_H

#include "base/catalog.h"

#include "access/tupdesc.h"
#include "fmgr.h"

/* Turns rows into jsonb, leaving out the metadata columns when asked. */
typedef struct RowToJsonb
{
	FmgrInfo	flinfo;
	Datum		meta_keys;		/* text[] of metadata columns to leave out, or 0 */
} JsonbConverter;

extern void InitRowToJsonb(JsonbConverter *conv, Oid rowtype, bool drop_meta);
extern Datum RowToJsonb(JsonbConverter *conv, Datum row);
extern void CheckColumnDefinitions(TupleDesc outdesc, const FeedRow *feed, bool as_json);
extern void CheckRetained(const FeedRow *feed, int64 from);
extern void ReadVersions(FunctionCallInfo fcinfo, const FeedRow *feed, int64 from, int64 to, bool as_json,
						 bool net);

#endif							/* MEDALLION_READ_READ_H */
