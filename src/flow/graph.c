/*-------------------------------------------------------------------------
 *
 * graph.c
 *	  Flows form a graph: its nodes are tables, a flow is an edge from its
 *	  source to its target, and a flow's source may be another flow's target
 *	  (bronze -> silver -> gold).  The graph has no cycle (create_flow
 *	  refuses the edge that would close one: a cycle would feed a flow its
 *	  own output forever), so it has an order: the flow runner runs every
 *	  flow after the flows upstream of it, and a downstream flow reads in the
 *	  same pass what its upstream merged.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "flow/graph.h"

#include "base/objects.h"
#include "base/privilege.h"
#include "base/spi.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

/* The fourth field of the advisory locktag that serialises creations of flows ("FG"). */
#define FLOW_GRAPH_LOCKTAG 0x4647

/* Depth at which the runner stops looking further upstream (deeper flows run in flow id order). */
#define FLOW_GRAPH_MAX_DEPTH 32

/*
 * CheckFlowGraphAcyclic errors when a flow from `source` to `target` would
 * close a cycle: when `source` is reachable from `target` through the flows
 * there are.  Creations of flows are serialised (an advisory lock until
 * commit) so that two of them cannot close a cycle together.
 */
void
CheckFlowGraphAcyclic(const char *name, Oid source, Oid target)
{
	OwnerSwitch as_owner;
	int64		reachable = 0;
	LOCKTAG		tag;

	/* A lock of its own, held to commit: the flow catalog stays writable for runs meanwhile. */
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0, 0, FLOW_GRAPH_LOCKTAG);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	BeginAsOwner(&as_owner);
	SpiConnect();
	/* Tables reachable from the target, each once (UNION): linear in the flows, whatever their shape. */
	(void) SpiSelectInt64("WITH RECURSIVE reach(rel) AS ("
						  " SELECT $2::pg_catalog.oid"
						  " UNION"
						  " SELECT f.target::pg_catalog.oid"
						  " FROM reach r JOIN medallion.flow f ON f.source::pg_catalog.oid OPERATOR(pg_catalog.=) r.rel)"
						  " SELECT pg_catalog.count(*) FROM reach WHERE rel OPERATOR(pg_catalog.=) $1",
						  2, (Oid[]) {OIDOID, OIDOID}, (Datum[]) {ObjectIdGetDatum(source), ObjectIdGetDatum(target)},
						  &reachable);
	SPI_finish();
	EndAsRole(&as_owner);
	/* Names only the caller's own source and target: the flows between may be other roles'. */
	if (reachable > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("flow \"%s\" would close a cycle of flows: flows already carry %s on into %s",
						name, RelationDisplayName(target), RelationDisplayName(source)),
				 errhint("Flows form a graph without cycles: merge into another table.")));
}

/*
 * ContinuousFlowsUpstreamFirst lists the continuous flows that are not
 * paused, every flow after the flows upstream of it (by its longest path
 * from a flow nobody feeds), allocated in `context`.  Run by the flow
 * runner (a superuser) in a transaction.
 */
List *
ContinuousFlowsUpstreamFirst(MemoryContext context)
{
	List	   *flows = NIL;
	int			spi_nest = SpiConnectPinned();
	uint64		i;

	(void) SpiExecute(psprintf("WITH RECURSIVE downstream(flow_id, depth) AS ("
							   " SELECT f.flow_id, 0 FROM medallion.flow f"
							   " UNION"
							   " SELECT d.flow_id, u.depth OPERATOR(pg_catalog.+) 1 FROM downstream u"
							   " JOIN medallion.flow up ON up.flow_id OPERATOR(pg_catalog.=) u.flow_id"
							   " JOIN medallion.flow d ON d.source::pg_catalog.oid OPERATOR(pg_catalog.=) up.target::pg_catalog.oid"
							   " WHERE u.depth OPERATOR(pg_catalog.<) %d)"
							   " SELECT f.flow_id, f.name, f.owner::pg_catalog.oid, f.definition_hash FROM medallion.flow f"
							   " JOIN (SELECT flow_id, pg_catalog.max(depth) AS depth FROM downstream GROUP BY flow_id) x"
							   " ON x.flow_id OPERATOR(pg_catalog.=) f.flow_id"
							   " WHERE f.continuous AND NOT f.paused ORDER BY x.depth, f.flow_id",
							   FLOW_GRAPH_MAX_DEPTH),
					  0, NULL, NULL, true, 0, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		MemoryContext oldcontext = MemoryContextSwitchTo(context);
		ContinuousFlow *flow = palloc(sizeof(ContinuousFlow));
		bool		isnull;

		flow->flow_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		flow->name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		flow->owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull));
		flow->definition_hash = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 4);
		flows = lappend(flows, flow);
		MemoryContextSwitchTo(oldcontext);
	}
	SpiFinishPinned(spi_nest);
	return flows;
}
