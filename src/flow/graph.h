/*-------------------------------------------------------------------------
 *
 * graph.h
 *	  Flows form a graph (graph.c): a flow's source may be another flow's
 *	  target.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_FLOW_GRAPH_H
#define MEDALLION_FLOW_GRAPH_H

#include "nodes/pg_list.h"

/* A continuous flow, as the flow runner needs it. */
typedef struct ContinuousFlow
{
	int32		flow_id;
	char	   *name;
	Oid			owner;
	char	   *definition_hash;	/* a new definition ends a backoff */
} ContinuousFlow;

extern void CheckFlowGraphAcyclic(const char *name, Oid source, Oid target);
extern List *ContinuousFlowsUpstreamFirst(MemoryContext context);

#endif							/* MEDALLION_FLOW_GRAPH_H */
