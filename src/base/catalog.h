/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  The feed catalog as the C code reads it (catalog.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_BASE_CATALOG_H
#define MEDALLION_BASE_CATALOG_H

/* One row of medallion.feed, as the C code needs it. */
typedef struct FeedRow
{
	int32		feed_id;
	Oid			source;
	Oid			change_table;
	int64		enabled_xid;
	int64		partition_span;
	int64		retained_from;	/* oldest readable version (0: nothing removed yet) */
	bool		broken;			/* a logical feed pull could not store (medallion.feed.broken) */
	char		mode[16];
} FeedRow;

extern bool LookupFeedBySource(Oid source, FeedRow *feed);
extern bool LookupFeedById(int32 feed_id, FeedRow *feed);
extern void CheckFeedNotBroken(const FeedRow *feed);

#endif							/* MEDALLION_BASE_CATALOG_H */
