/*-------------------------------------------------------------------------
 *
 * capture.h
 *	  Writing change rows (capture.c): the capture trigger's writer, also
 *	  used by pull to store decoded changes.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_CAPTURE_CAPTURE_H
#define MEDALLION_CAPTURE_CAPTURE_H

#include "base/catalog.h"
#include "base/objects.h"

struct TupleTableSlot;
struct RelationData;
typedef struct ChangeWriter ChangeWriter;

extern void CaptureCacheInit(void);
extern ChangeWriter *BeginChangeWriter(const FeedRow *feed, struct RelationData *source, int64 xid, int64 nrows,
									   Oid role, int32 app);
extern void WriteChange(ChangeWriter *writer, ChangeType type, struct TupleTableSlot *slot);
extern void EndChangeWriter(ChangeWriter *writer);

#endif							/* MEDALLION_CAPTURE_CAPTURE_H */
