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

extern Oid	ChangePartitionFor(const FeedRow *feed, int64 xid, bool create);
extern bool EnsureChangePartitions(const FeedRow *feed, int64 xid, bool nowait);
extern void EnsureNextPartitions(int64 next_xid);

#endif							/* MEDALLION_CAPTURE_PARTITION_H */
