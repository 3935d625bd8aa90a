/*-------------------------------------------------------------------------
 *
 * feed.c
 *	  enable_feed / disable_feed: the change table, its typed readers and
 *	  the capture triggers of one source table.
 *
 * Everything is generated as SQL with quoted identifiers and run through
 * SPI as the extension owner, who owns change tables: roles read changes
 * only through the readers, which check SELECT on the source first.  The
 * source is locked in SHARE ROW EXCLUSIVE mode (what CREATE TRIGGER takes),
 * so no write slips between the checks and the triggers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "feed/feed.h"

#include "capture/partition.h"
#include "base/catalog.h"
#include "base/objects.h"
#include "base/spi.h"
#include "feed/readers.h"
#include "settings.h"
#include "logical/logical.h"
#include "logical/slot.h"
#include "base/export.h"

#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "nodes/parsenodes.h"
#include "tcop/deparse_utility.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(medallion_enable_feed);
PG_FUNCTION_INFO_V1(medallion_disable_feed);

/* The capture triggers enable_feed creates, and the events they capture. */
static const char *const trigger_names[] = {
	"medallion_capture_insert", "medallion_capture_update",
	"medallion_capture_delete", "medallion_capture_truncate", "medallion_truncate_guard", NULL
};

/* CheckFeedPrivileges errors unless the caller may read the source and create triggers on it. */
static void
CheckFeedPrivileges(Oid source, const char *action)
{
	Oid			user = GetUserId();

	if (pg_class_aclcheck(source, user, ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s the feed of table %s", action, RelationDisplayName(source)),
				 errdetail("A feed exposes every row of its table: it requires SELECT on it."),
				 errhint("Ask the table owner to GRANT SELECT and TRIGGER on it.")));
	if (!pg_class_ownercheck(source, user) &&
		pg_class_aclcheck(source, user, ACL_TRIGGER) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s the feed of table %s", action, RelationDisplayName(source)),
				 errdetail("A feed is captured by triggers: it requires ownership or the TRIGGER privilege."),
				 errhint("Ask the table owner to GRANT TRIGGER on it.")));
}

/* CheckSourceKind errors unless the relation is a table a trigger feed can capture. */
static void
CheckSourceKind(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	char		relkind = rel->rd_rel->relkind;
	Oid			nsp = RelationGetNamespace(rel);
	List	   *ancestors;
	ListCell   *lc;
	FeedRow		other;

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s is not a table", RelationDisplayName(relid)),
				 errdetail("Views, materialized views, foreign tables, sequences and indexes have no change feed."),
				 errhint("Enable the feed on the table the data is stored in.")));
	if (isAnyTempNamespace(nsp) || rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("temporary table %s cannot have a change feed", RelationDisplayName(relid)),
				 errhint("Use a permanent table.")));
	if (IsCatalogNamespace(nsp) || nsp == MedallionSchemaOid() || nsp == MedallionChangesSchemaOid())
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s is a system or pg_medallion table", RelationDisplayName(relid)),
				 errhint("Enable feeds on your own tables.")));
	if (rel->rd_rel->relpersistence == RELPERSISTENCE_UNLOGGED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("unlogged table %s cannot have a change feed", RelationDisplayName(relid)),
				 errdetail("An unlogged table is emptied by a crash, which no feed could report."),
				 errhint("Run ALTER TABLE ... SET LOGGED first.")));
	if (!rel->rd_rel->relispartition && relkind == RELKIND_RELATION &&
		(rel->rd_rel->relhassubclass || has_superclass(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table %s uses table inheritance", RelationDisplayName(relid)),
				 errhint("Declarative partitioning is supported: enable the feed on the partitioned table.")));

	if (LookupFeedBySource(relid, &other))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("table %s already has a change feed", RelationDisplayName(relid)),
				 errdetail("Its change table is %s.", RelationDisplayName(other.change_table)),
				 errhint("Call medallion.disable_feed() first to recreate it.")));

	if (rel->rd_rel->relispartition)
	{
		ancestors = get_partition_ancestors(relid);
		foreach(lc, ancestors)
		{
			if (LookupFeedBySource(lfirst_oid(lc), &other))
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_OBJECT),
						 errmsg("table %s is a partition of %s, which already has a change feed",
								RelationDisplayName(relid), RelationDisplayName(lfirst_oid(lc))),
						 errhint("Read the partitioned table's feed; it captures every partition.")));
		}
	}
	if (relkind == RELKIND_PARTITIONED_TABLE)
	{
		List	   *descendants = find_all_inheritors(relid, NoLock, NULL);

		foreach(lc, descendants)
		{
			if (lfirst_oid(lc) != relid && LookupFeedBySource(lfirst_oid(lc), &other))
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_OBJECT),
						 errmsg("partition %s of table %s already has a change feed",
								RelationDisplayName(lfirst_oid(lc)), RelationDisplayName(relid)),
						 errhint("Disable the partition's feed first.")));
		}
	}
}

/*
 * ChooseChangeTableName returns a free name in medallion_changes for the
 * source's change table.  Names starting with "_" are the extension's own
 * (partitions "_feed<id>_p<n>", snapshot copies "_snapshot_<n>"): a change
 * table never takes one, or a role could claim another feed's next
 * partition by naming a table of its own after it.
 */
static char *
ChooseChangeTableName(Oid source)
{
	Oid			nsp = MedallionChangesSchemaOid();
	char	   *relname = get_rel_name(source);
	char	   *candidate;
	int			n;

	if (relname[0] == '_')
		relname = psprintf("t%.*s", NAMEDATALEN - 2, relname);
	candidate = pstrdup(relname);
	if (!OidIsValid(get_relname_relid(candidate, nsp)))
		return candidate;
	candidate = psprintf("%s_%s", get_namespace_name(get_rel_namespace(source)), relname);
	if (candidate[0] != '_' && strlen(candidate) < NAMEDATALEN && !OidIsValid(get_relname_relid(candidate, nsp)))
		return candidate;
	for (n = 2;; n++)
	{
		candidate = psprintf("%.*s_%d", NAMEDATALEN - 12, relname, n);
		if (!OidIsValid(get_relname_relid(candidate, nsp)))
			return candidate;
	}
}

/* CreateCaptureTriggers creates the capture triggers on a table (TRUNCATE only on the fed table itself). */
void
CreateCaptureTriggers(Oid relid, int32 feed_id, bool with_truncate)
{
	char	   *rel = RelationDisplayName(relid);
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "CREATE TRIGGER medallion_capture_insert AFTER INSERT ON %s "
					 "REFERENCING NEW TABLE AS medallion_new FOR EACH STATEMENT "
					 "EXECUTE FUNCTION medallion._capture('%d');\n"
					 "CREATE TRIGGER medallion_capture_update AFTER UPDATE ON %s "
					 "REFERENCING OLD TABLE AS medallion_old NEW TABLE AS medallion_new FOR EACH STATEMENT "
					 "EXECUTE FUNCTION medallion._capture('%d');\n"
					 "CREATE TRIGGER medallion_capture_delete AFTER DELETE ON %s "
					 "REFERENCING OLD TABLE AS medallion_old FOR EACH STATEMENT "
					 "EXECUTE FUNCTION medallion._capture('%d');\n",
					 rel, feed_id, rel, feed_id, rel, feed_id);
	if (with_truncate)
		appendStringInfo(&sql,
						 "CREATE TRIGGER medallion_capture_truncate AFTER TRUNCATE ON %s "
						 "FOR EACH STATEMENT EXECUTE FUNCTION medallion._capture('%d');\n",
						 rel, feed_id);
	/* A partition truncated on its own would vanish from the feed: see TruncateGuard. */
	appendStringInfo(&sql,
					 "CREATE TRIGGER medallion_truncate_guard BEFORE TRUNCATE ON %s "
					 "FOR EACH STATEMENT EXECUTE FUNCTION medallion._truncate_guard('%d', '%s');\n",
					 rel, feed_id, with_truncate ? "fed" : "partition");
	RunAsOwner(sql.data, 0, NULL, NULL, SPI_OK_UTILITY);
}

/* AppendDropCaptureTriggers appends the DROP TRIGGER statements for the capture triggers a table has. */
void
AppendDropCaptureTriggers(StringInfo sql, Oid table)
{
	const char *const *t;

	for (t = trigger_names; *t; t++)
		if (OidIsValid(get_trigger_oid(table, *t, true)))
			appendStringInfo(sql, "DROP TRIGGER %s ON %s;\n",
							 quote_identifier(*t), RelationDisplayName(table));
}

/* medallion_enable_feed starts capturing a table; returns its change table. */
Datum
medallion_enable_feed(PG_FUNCTION_ARGS)
{
	Oid			source;
	char	   *mode;
	Relation	rel;
	char	   *ct_name;
	char	   *ct_qualified;
	char	   *columns;
	StringInfoData sql;
	FeedRow		feed;
	List	   *children;
	ListCell   *lc;
	int64		xid;
	bool		logical;
	XLogRecPtr	enabled_lsn;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source must not be NULL"),
				 errhint("Pass the table to capture, e.g. 'public.orders'.")));
	source = PG_GETARG_OID(0);
	mode = PG_ARGISNULL(1) ? "trigger" : text_to_cstring(PG_GETARG_TEXT_PP(1));
	logical = strcmp(mode, "logical") == 0;
	if (strcmp(mode, "trigger") != 0 && !logical)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown feed mode \"%s\"", mode),
				 errhint("Valid modes are 'trigger' and 'logical'.")));
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot enable a feed during recovery")));

	if (get_rel_relkind(source) != '\0' && get_rel_relkind(source) != RELKIND_RELATION &&
		get_rel_relkind(source) != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s is not a table", RelationDisplayName(source)),
				 errdetail("Views, materialized views, foreign tables, sequences, indexes and composite types have no change feed."),
				 errhint("Enable the feed on the table the data is stored in.")));
	if (logical)
	{
		/* Checked before the slot is made, and the slot made before the table is locked (see logical.c). */
		rel = try_table_open(source, AccessShareLock);
		if (rel == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relation with oid %u does not exist", source),
					 errhint("Pass an existing table, e.g. 'public.orders'.")));
		CheckFeedPrivileges(source, "enable");
		CheckSourceKind(rel);
		LogicalCheckSource(rel);
		table_close(rel, AccessShareLock);
		LogicalPrepareSlot();
	}
	rel = try_table_open(source, ShareRowExclusiveLock);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with oid %u does not exist", source),
				 errhint("Pass an existing table, e.g. 'public.orders'.")));
	CheckFeedPrivileges(source, "enable");
	CheckSourceKind(rel);
	if (logical)
		LogicalCheckSource(rel);
	columns = ColumnListSql(RelationGetDescr(rel), true);
	/* Writers of the source committed before this point (we hold its lock): changes after it are the feed's. */
	enabled_lsn = GetXLogInsertRecPtr();

	ct_name = ChooseChangeTableName(source);
	ct_qualified = quote_qualified_identifier(MEDALLION_CHANGES_SCHEMA, ct_name);
	xid = (int64) U64FromFullTransactionId(GetTopFullTransactionId());

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "CREATE TABLE %s (%s, _xid bigint NOT NULL, _seq bigint NOT NULL, "
					 "_change_type medallion.change_type NOT NULL, _role oid NOT NULL, _app integer NOT NULL) "
					 "PARTITION BY RANGE (_xid);\n"
					 "CREATE INDEX ON %s USING brin (_xid) WITH (pages_per_range = " CppAsString2(CHANGE_BRIN_PAGES_PER_RANGE) ");\n"
					 "COMMENT ON TABLE %s IS %s;\n"
					 "INSERT INTO medallion.feed (source, change_table, reader, mode, enabled_xid, partition_span, "
					 "enabled_lsn) VALUES (%u, %s::regclass, %s, %s, " INT64_FORMAT ", %d, '%X/%X');\n",
					 ct_qualified, columns, ct_qualified, ct_qualified,
					 quote_literal_cstr(psprintf("Changes of %s (pg_medallion feed)", RelationDisplayName(source))),
					 source, quote_literal_cstr(ct_qualified), quote_literal_cstr(ct_qualified),
					 quote_literal_cstr(mode), xid, medallion_partition_xids, LSN_FORMAT_ARGS(enabled_lsn));
	RunAsOwner(sql.data, 0, NULL, NULL, SPI_OK_INSERT);
	CommandCounterIncrement();

	if (!LookupFeedBySource(source, &feed))
		elog(ERROR, "feed of %s vanished", RelationDisplayName(source));

	if (!logical)
	{
		CreateCaptureTriggers(source, feed.feed_id, true);
		children = find_all_inheritors(source, ShareRowExclusiveLock, NULL);
		foreach(lc, children)
		{
			if (lfirst_oid(lc) != source)
				CreateCaptureTriggers(lfirst_oid(lc), feed.feed_id, false);
		}
	}
	CreateReaders(ct_qualified, feed.feed_id, ColumnListSql(RelationGetDescr(rel), false));
	(void) EnsureChangePartitions(&feed, xid, false);

	table_close(rel, NoLock);
	PG_RETURN_OID(feed.change_table);
}

/* CheckNoConsumers errors if consumers still read a feed: their watermarks would silently vanish. */
static void
CheckNoConsumers(const FeedRow *feed)
{
	int			spi_nest;
	char	   *names = NULL;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(feed->feed_id)};
	MemoryContext outer = CurrentMemoryContext;
	bool		isnull = true;
	Datum		d;

	spi_nest = SpiConnectPinned();
	(void) SpiExecute("SELECT pg_catalog.string_agg(consumer, ', ' ORDER BY consumer) "
							  "FROM medallion.consumer_feed WHERE feed_id OPERATOR(pg_catalog.=) $1", 1, argtypes, args, false, 1, SPI_OK_SELECT);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		names = MemoryContextStrdup(outer, TextDatumGetCString(d));
	SpiFinishPinned(spi_nest);
	if (names)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("the feed of table %s is read by consumers: %s", RelationDisplayName(feed->source), names),
				 errhint("Drop those consumers first (medallion.drop_consumer).")));
}

/* medallion_disable_feed stops capturing a table and drops its change table unless asked to keep it. */
Datum
medallion_disable_feed(PG_FUNCTION_ARGS)
{
	Oid			source;
	bool		keep_changes = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);
	Relation	rel;
	FeedRow		feed;
	StringInfoData sql;
	List	   *tables;
	ListCell   *lc;
	char	   *ct_qualified;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source must not be NULL"),
				 errhint("Pass the table whose feed to disable.")));
	source = PG_GETARG_OID(0);
	rel = try_table_open(source, ShareRowExclusiveLock);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with oid %u does not exist", source),
				 errhint("Pass an existing table, e.g. 'public.orders'.")));
	if (!LookupFeedBySource(source, &feed))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table %s has no change feed", RelationDisplayName(source)),
				 errhint("See medallion.feeds for the tables that have one.")));
	/* Dropping the change table destroys history: the source's owner decides, not a TRIGGER grantee. */
	if (!pg_class_ownercheck(source, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s to disable its feed", RelationDisplayName(source)),
				 errdetail("Disabling a feed drops its change table and readers."),
				 errhint("Ask the table's owner (or a member of the owning role) to disable it.")));
	CheckNoConsumers(&feed);

	ct_qualified = RelationDisplayName(feed.change_table);
	initStringInfo(&sql);
	tables = find_all_inheritors(source, ShareRowExclusiveLock, NULL);
	foreach(lc, tables)
		AppendDropCaptureTriggers(&sql, lfirst_oid(lc));
	appendStringInfo(&sql, "DROP FUNCTION %s(bigint, bigint);\n", ct_qualified);
	appendStringInfo(&sql, "DROP FUNCTION %s(timestamptz, timestamptz);\n", ct_qualified);
	appendStringInfo(&sql, "DROP FUNCTION %s(text, integer, boolean, boolean, boolean);\n", ct_qualified);
	if (!keep_changes)
		appendStringInfo(&sql, "DROP TABLE %s;\n", ct_qualified);
	appendStringInfo(&sql, "DELETE FROM medallion.feed WHERE feed_id = %d;\n", feed.feed_id);
	RunAsOwner(sql.data, 0, NULL, NULL, SPI_OK_DELETE);
	if (strcmp(feed.mode, "logical") == 0)
		LogicalDropSlotIfUnused();

	table_close(rel, NoLock);
	PG_RETURN_VOID();
}
