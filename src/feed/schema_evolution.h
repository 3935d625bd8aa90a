/*-------------------------------------------------------------------------
 *
 * schema_evolution.h
 *	  Following a fed table's column changes (schema_evolution.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_FEED_SCHEMA_EVOLUTION_H
#define MEDALLION_FEED_SCHEMA_EVOLUTION_H

#include "base/catalog.h"

#include "nodes/pg_list.h"

extern void EvolveFeedSchema(const FeedRow *feed, List *rename, const char *command);

#endif							/* MEDALLION_FEED_SCHEMA_EVOLUTION_H */
