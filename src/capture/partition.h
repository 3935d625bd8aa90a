/*-------------------------------------------------------------------------
 *
 * partition.h
 *	  Change tables' partitions by xid range (partition.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_CAPTURE_PARTITION_H
#define MEDALLION_CAPTURE_PARTITION_H

#include "base/catalog.h"

/*
 * Block ranges of change tables' BRIN index on _xid (feeds enabled since
 * 0.3.0; older ones keep 128): a read of a small version range scans the
 * range still being filled whole, so it is kept short.
 */
#define CHANGE_BRIN_PAGES_PER_RANGE 16

extern Oid	ChangePartitionFor(const FeedRow *feed, int64 xid, bool create);
extern bool EnsureChangePartitions(const FeedRow *feed, int64 xid, bool nowait);
extern void EnsureNextPartitions(int64 next_xid);
extern void SummarizeFilledRanges(int64 *summarize_us);

#endif							/* MEDALLION_CAPTURE_PARTITION_H */
