/*-------------------------------------------------------------------------
 *
 * readers.h
 *	  A feed's column list and typed readers (readers.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_FEED_READERS_H
#define MEDALLION_FEED_READERS_H

#include "access/tupdesc.h"

extern char *ColumnListSql(TupleDesc desc, bool with_collation);
extern void CreateReaders(const char *reader, int32 feed_id, const char *columns);

#endif							/* MEDALLION_FEED_READERS_H */
