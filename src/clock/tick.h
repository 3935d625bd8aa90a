/*-------------------------------------------------------------------------
 *
 * tick.h
 *	  Closing one version in a transaction of its own (tick.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_CLOCK_TICK_H
#define MEDALLION_CLOCK_TICK_H

#include "utils/snapshot.h"
#include "utils/timestamp.h"

/* The newest tick, as the clock compares it with a snapshot. */
typedef struct NewestTick
{
	int64		version;
	int64		xmax;
	int			nxip;
	int64	   *xip;			/* sorted ascending */
	TimestampTz committed_at;
	int64		tick_xid;		/* the ticking transaction, -1 if unknown */
} NewestTick;

extern bool ReadNewestTick(Snapshot snap, NewestTick *newest);
extern bool SnapshotAddsNothing(const NewestTick *newest, Snapshot snap);
extern bool TickOnce(int64 *version, char *message, size_t message_size);

#endif							/* MEDALLION_CLOCK_TICK_H */
