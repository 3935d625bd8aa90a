/*-------------------------------------------------------------------------
 *
 * event_trigger.c
 *	  The extension's event triggers: keeping partitions' capture triggers,
 *	  REPLICA IDENTITY and change tables in step with DDL on fed tables
 *	  (ddl_command_end), and forgetting dropped fed tables and merge
 *	  targets (sql_drop).
 *
 * Our own DDL (InOwnDdl, set by RunAsOwner) is left alone.  Everything they
 * create or drop runs as the extension owner through RunAsOwner.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "base/catalog.h"
#include "base/objects.h"
#include "base/privilege.h"
#include "base/spi.h"
#include "feed/feed.h"
#include "feed/schema_evolution.h"
#include "logical/slot.h"
#include "base/export.h"

#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "tcop/deparse_utility.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(medallion_sync_partition_triggers);
PG_FUNCTION_INFO_V1(medallion_detach_dropped_feeds);

/* CollectOids runs a query returning (oid, int4) pairs and returns them as two parallel lists. */
static void
CollectOids(const char *query, List **oids, List **ints)
{
	int			spi_nest;
	MemoryContext outer = CurrentMemoryContext;
	uint64		i;

	*oids = NIL;
	*ints = NIL;
	spi_nest = SpiConnectPinned();
	(void) SpiExecute(query, 0, NULL, NULL, false, 0, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			oid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		int32		n = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		MemoryContext spi = MemoryContextSwitchTo(outer);

		*oids = lappend_oid(*oids, oid);
		*ints = lappend_int(*ints, n);
		MemoryContextSwitchTo(spi);
	}
	SpiFinishPinned(spi_nest);
}

/* FedAncestorFeed returns the feed id of the nearest fed ancestor of a partition, or -1. */
static int32
FedAncestorFeed(Oid relid)
{
	ListCell   *lc;
	FeedRow		feed;

	if (!get_rel_relispartition(relid))
		return -1;
	foreach(lc, get_partition_ancestors(relid))
	{
		if (LookupFeedBySource(lfirst_oid(lc), &feed))
			return feed.feed_id;
	}
	return -1;
}

/* SyncPartitionTriggers gives a table and its partitions capture triggers iff a fed table is above them. */
static void
SyncPartitionTriggers(Oid relid)
{
	ListCell   *lc;
	FeedRow		feed;

	foreach(lc, find_all_inheritors(relid, ShareRowExclusiveLock, NULL))
	{
		Oid			table = lfirst_oid(lc);
		int32		feed_id = FedAncestorFeed(table);
		bool		has_triggers = OidIsValid(get_trigger_oid(table, "medallion_capture_insert", true));

		if (LookupFeedBySource(table, &feed))
			continue;			/* a fed table keeps its own triggers */
		if (feed_id >= 0 && !has_triggers)
			CreateCaptureTriggers(table, feed_id, false);
		else if (feed_id < 0 && has_triggers)
		{
			StringInfoData sql;

			initStringInfo(&sql);
			AppendDropCaptureTriggers(&sql, table);
			RunAsOwner(sql.data, 0, NULL, NULL, SPI_OK_UTILITY);
		}
	}
}

/*
 * CheckLogicalIdentityKept refuses a REPLICA IDENTITY other than FULL on a
 * logical feed's source: the WAL would stop carrying the pre-images pull
 * stores, and the feed would break at the first update.
 */
static void
CheckLogicalIdentityKept(Oid relid)
{
	FeedRow		feed;
	Relation	rel;
	char		identity;

	if (!LookupFeedBySource(relid, &feed) || strcmp(feed.mode, "logical") != 0)
		return;
	rel = table_open(relid, AccessShareLock);
	identity = rel->rd_rel->relreplident;
	table_close(rel, AccessShareLock);
	if (identity != REPLICA_IDENTITY_FULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s has a logical feed and must keep REPLICA IDENTITY FULL", RelationDisplayName(relid)),
				 errdetail("Pull stores full pre-images of updates and deletes, which the WAL holds only with FULL."),
				 errhint("Disable the feed first, or use medallion.disable_feed() and enable it with mode 'trigger'.")));
}

/*
 * medallion_sync_partition_triggers is the ddl_command_end event trigger for
 * CREATE TABLE and ALTER TABLE.  It looks only at what the command changed:
 * a table created as a partition, or attached or detached by ALTER TABLE.
 * Partitions that joined a fed table get capture triggers (direct writes to
 * them are captured); tables that left one lose them.  Other ALTER TABLEs are
 * ignored, which also keeps pg_restore (constraints before triggers) clean.
 */
Datum
medallion_sync_partition_triggers(PG_FUNCTION_ARGS)
{
	MemoryContext outer = CurrentMemoryContext;
	List	   *tables = NIL;
	List	   *evolved = NIL;
	List	   *renames = NIL;
	List	   *identity_changed = NIL;
	ListCell   *lc,
			   *lr;
	uint64		i;
	const char *tag;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("medallion._sync_partition_triggers() must be called as an event trigger")));
	tag = GetCommandTagName(((EventTriggerData *) fcinfo->context)->tag);
	if (InOwnDdl())
		PG_RETURN_VOID();

	/* Not pinned: the partitions ALTER TABLE names resolve through the path the command used. */
	SpiConnect();
	(void) SpiExecute("SELECT command FROM pg_catalog.pg_event_trigger_ddl_commands()", 0, NULL, NULL, true, 0,
					  SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		CollectedCommand *cmd = (CollectedCommand *)
			DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		MemoryContext spi;

		if (isnull)
			continue;
		spi = MemoryContextSwitchTo(outer);
		if (cmd->type == SCT_Simple && cmd->parsetree && IsA(cmd->parsetree, CreateStmt) &&
			((CreateStmt *) cmd->parsetree)->partbound != NULL &&
			cmd->d.simple.address.classId == RelationRelationId)
			tables = lappend_oid(tables, cmd->d.simple.address.objectId);
		else if (cmd->type == SCT_Simple && cmd->parsetree && IsA(cmd->parsetree, RenameStmt) &&
				 ((RenameStmt *) cmd->parsetree)->renameType == OBJECT_COLUMN &&
				 cmd->d.simple.address.classId == RelationRelationId)
		{
			RenameStmt *rename = (RenameStmt *) cmd->parsetree;

			evolved = lappend_oid(evolved, cmd->d.simple.address.objectId);
			renames = lappend(renames, list_make2(pstrdup(rename->subname), pstrdup(rename->newname)));
		}
		else if (cmd->type == SCT_AlterTable)
		{
			ListCell   *sc;
			bool		columns_changed = false;

			foreach(sc, cmd->d.alterTable.subcmds)
			{
				AlterTableCmd *at = (AlterTableCmd *) ((CollectedATSubcmd *) lfirst(sc))->parsetree;

				columns_changed |= at && IsA(at, AlterTableCmd) &&
					(at->subtype == AT_AddColumn || at->subtype == AT_AddColumnRecurse ||
					 at->subtype == AT_DropColumn || at->subtype == AT_DropColumnRecurse ||
					 at->subtype == AT_AlterColumnType);
			}
			if (columns_changed)
			{
				evolved = lappend_oid(evolved, cmd->d.alterTable.objectId);
				renames = lappend(renames, NIL);
			}

			foreach(sc, cmd->d.alterTable.subcmds)
			{
				CollectedATSubcmd *sub = (CollectedATSubcmd *) lfirst(sc);
				AlterTableCmd *at = (AlterTableCmd *) sub->parsetree;

				if (at && IsA(at, AlterTableCmd) && at->subtype == AT_ReplicaIdentity)
					identity_changed = lappend_oid(identity_changed, cmd->d.alterTable.objectId);
				if (at && IsA(at, AlterTableCmd) &&
					(at->subtype == AT_AttachPartition || at->subtype == AT_DetachPartition ||
					 at->subtype == AT_DetachPartitionFinalize))
				{
					Oid			child = RangeVarGetRelid(((PartitionCmd *) at->def)->name, NoLock, true);

					if (OidIsValid(child))
						tables = lappend_oid(tables, child);
				}
			}
		}
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();

	foreach(lc, tables)
		SyncPartitionTriggers(lfirst_oid(lc));
	foreach(lc, identity_changed)
		CheckLogicalIdentityKept(lfirst_oid(lc));
	forboth(lc, evolved, lr, renames)
	{
		FeedRow		feed;

		if (LookupFeedBySource(lfirst_oid(lc), &feed))
			EvolveFeedSchema(&feed, (List *) lfirst(lr), tag);
	}
	PG_RETURN_VOID();
}

/*
 * medallion_detach_dropped_feeds is the sql_drop event trigger: when a fed
 * table is dropped its triggers went with it; the feed's readers and catalog
 * row go too, and the change table stays, reported by a notice.
 */
Datum
medallion_detach_dropped_feeds(PG_FUNCTION_ARGS)
{
	List	   *change_tables;
	List	   *feed_ids;
	ListCell   *lc,
			   *lf;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("medallion._detach_dropped_feeds() must be called as an event trigger")));
	if (!OidIsValid(get_relname_relid("feed", get_namespace_oid(MEDALLION_SCHEMA, true))))
		PG_RETURN_VOID();		/* the extension itself is being dropped */

	CollectOids("SELECT f.change_table::oid, f.feed_id FROM medallion.feed f "
				"JOIN pg_catalog.pg_event_trigger_dropped_objects() d "
				"ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
				"AND d.objid OPERATOR(pg_catalog.=) f.source::oid AND d.objsubid OPERATOR(pg_catalog.=) 0",
				&change_tables, &feed_ids);
	forboth(lc, change_tables, lf, feed_ids)
	{
		char	   *ct = RelationDisplayName(lfirst_oid(lc));
		char	   *sql;

		sql = psprintf("DROP FUNCTION IF EXISTS %s(bigint, bigint);\n"
					   "DROP FUNCTION IF EXISTS %s(timestamptz, timestamptz);\n"
					   "DROP FUNCTION IF EXISTS %s(text, integer, boolean, boolean, boolean);\n"
					   "DELETE FROM medallion.consumer_feed WHERE feed_id = %d;\n"
					   "DELETE FROM medallion.feed WHERE feed_id = %d;\n",
					   ct, ct, ct, lfirst_int(lf), lfirst_int(lf));
		RunAsOwner(sql, 0, NULL, NULL, SPI_OK_DELETE);
		ereport(NOTICE,
				(errmsg("the feed of a dropped table was removed; its changes remain in %s", ct),
				 errhint("DROP TABLE %s when they are no longer needed.", ct)));
	}

	/* The last logical feed gone with its table: its slot goes at commit. */
	if (change_tables != NIL)
		LogicalDropSlotIfUnused();

	/* A dropped merge target takes its merge state (tombstones or SCD2 event log) with it. */
	CollectOids("SELECT a.state_table::oid, 0 FROM medallion.apply_target a "
				"JOIN pg_catalog.pg_event_trigger_dropped_objects() d "
				"ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
				"AND d.objid OPERATOR(pg_catalog.=) a.target::oid AND d.objsubid OPERATOR(pg_catalog.=) 0",
				&change_tables, &feed_ids);
	foreach(lc, change_tables)
		RunAsOwner(psprintf("DELETE FROM medallion.apply_target WHERE state_table = %u::oid;\n"
							"DROP TABLE IF EXISTS %s", lfirst_oid(lc), RelationDisplayName(lfirst_oid(lc))),
				   0, NULL, NULL, SPI_OK_UTILITY);
	/* A merge state table dropped by hand: forget it, the next merge starts a new one. */
	RunAsOwner("DELETE FROM medallion.apply_target a USING pg_catalog.pg_event_trigger_dropped_objects() d "
			   "WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
			   "AND d.objid OPERATOR(pg_catalog.=) a.state_table::oid AND d.objsubid OPERATOR(pg_catalog.=) 0",
			   0, NULL, NULL, SPI_OK_DELETE);
	PG_RETURN_VOID();
}
