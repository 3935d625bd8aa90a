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
extern void EnsureChangePartitions(const FeedRow *feed, int64 xid, bool nowait);

#endif							/* MEDALLION_CAPTURE_PARTITION_H */
