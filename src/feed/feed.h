/*-------------------------------------------------------------------------
 *
 * feed.h
 *	  enable_feed / disable_feed (feed.c): what the event triggers share
 *	  with them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_FEED_FEED_H
#define MEDALLION_FEED_FEED_H

#include "lib/stringinfo.h"

extern void CreateCaptureTriggers(Oid relid, int32 feed_id, bool with_truncate);
extern void AppendDropCaptureTriggers(StringInfo sql, Oid table);

#endif							/* MEDALLION_FEED_FEED_H */
