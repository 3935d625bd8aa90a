/*-------------------------------------------------------------------------
 *
 * version.h
 *	  The version clock (version.c): asking for a closed version, and
 *	  mapping xids to versions.
 *
 * A *version* is a tick of the clock, recorded as a snapshot in
 * medallion.tick.  The changes of version v are the rows whose writer xid is
 * visible in snapshot(v) and not visible in snapshot(v - 1).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_CLOCK_VERSION_H
#define MEDALLION_CLOCK_VERSION_H

#include "base/catalog.h"

#include "utils/timestamp.h"

/* One tick of the version clock: a snapshot of full xids and its time. */
typedef struct TickSnapshot
{
	int64		version;
	int64		xmin;
	int64		xmax;
	int			nxip;
	int64	   *xip;			/* sorted ascending */
	TimestampTz committed_at;
} TickSnapshot;

extern int64 RequestTick(void);
extern int64 NewestReadableVersion(void);
extern TickSnapshot *LoadTicks(int64 from_version, int64 to_version, int *nticks);
extern bool XidVisibleInTick(const TickSnapshot *tick, int64 xid);
extern int	TickIndexOfXid(const TickSnapshot *ticks, int nticks, int64 xid);
extern int64 FeedFirstVersion(const FeedRow *feed);

#endif							/* MEDALLION_CLOCK_VERSION_H */
