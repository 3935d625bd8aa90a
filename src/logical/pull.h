/*-------------------------------------------------------------------------
 *
 * pull.h
 *	  Decoding the database's slot into logical feeds' change tables:
 *	  shared by medallion.pull() (logical.c) and the background puller
 *	  (puller.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_PULL_H
#define MEDALLION_PULL_H

#include "base/catalog.h"
#include "logical/decoder.h"

#include "access/xlogdefs.h"
#include "replication/logical.h"
#include "utils/tuplestore.h"

/*
 * What one pull does for one logical feed: the source's current columns,
 * and the decoded changes buffered (spilling to disk past work_mem) until
 * decoding stops and they are written to the change table.
 */
typedef struct PullFeed
{
	FeedRow		feed;
	XLogRecPtr	enabled_lsn;	/* changes committed after it are the feed's */
	TupleDesc	desc;			/* the source's current attributes, then int4 change type */
	int			nsource;		/* attributes of the source's current descriptor */
	Oid		   *input_func;		/* per attribute: input function, for columns whose type changed */
	Oid		   *input_ioparam;
	bool	   *convertible;	/* per attribute: its type holds no domain (TypeRunsOnlyTrustedCode) */
	char	  **type_name;		/* per attribute: its type, for messages (no catalog reads while decoding) */
	Tuplestorestate *store;
	int64		changes;
	char	   *broken;			/* why this pull cannot store the feed's changes, or NULL */
} PullFeed;

/* The decoder's sink during a pull (the sink must come first). */
typedef struct PullState
{
	DecoderSink sink;
	PullFeed   *feeds;
	int			nfeeds;
	XLogRecPtr	stored_lsn;		/* transactions committed before it were stored by earlier pulls */
	int64		changes;		/* change rows buffered */
	bool		probe;			/* only find the oldest unstored commit time */
	TimestampTz oldest_commit;
	Datum	   *values;
	bool	   *nulls;
} PullState;

/* Skipping this much WAL without a feed change is recorded even though nothing was stored. */
#define PULL_RECORD_SKIPPED_WAL (64 * 1024)

extern void CheckPluginAllowed(void);
extern void PullStateInit(PullState *ps, bool probe);
extern void LoadPullFeeds(PullState *ps);
extern void ReleasePullFeeds(PullState *ps);
extern LogicalDecodingContext *PullDecoderStart(PullState *ps, const char *slot);
extern XLogRecPtr PullDecode(LogicalDecodingContext *ctx, PullState *ps, int64 max_changes);
extern void PullDecoderStop(LogicalDecodingContext *ctx);
extern int64 StorePullFeed(PullFeed *pf, int64 pull_xid);

#endif							/* MEDALLION_PULL_H */
