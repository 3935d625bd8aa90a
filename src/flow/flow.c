/*-------------------------------------------------------------------------
 *
 * flow.c
 *	  Flows: create_flow, drop_flow, expectations, pause, run_flow, the
 *	  quarantine and pg_cron scheduling.
 *
 * A flow belongs to the role that created it and every run runs as that
 * owner, whoever calls run_flow (a pg_cron job of a superuser, say): only
 * members of the owner role may run, change or drop it, and the owner's
 * transform and expectations run as the owner in a security-restricted
 * operation with search_path pinned -- never as the caller, never elevated.
 * The catalog (medallion.flow, expectation, flow_run) is written as the
 * extension owner.  A run is one transaction with the caller's: consume,
 * transform, check, merge, advance, record (medallion._flow_run does the
 * work); runs of one flow serialise on an advisory lock (FLOW_LOCKTAG), and
 * a failed run is recorded in a transaction of its own (run_log.c) before
 * its error reaches the caller.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "base/catalog.h"
#include "base/change_bell.h"
#include "base/export.h"
#include "base/objects.h"
#include "base/privilege.h"
#include "base/result.h"
#include "base/spi.h"
#include "clock/version.h"
#include "flow/graph.h"
#include "flow/isolate.h"
#include "flow/run_log.h"
#include "flow/runner.h"

#include "access/relation.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(medallion_create_flow);
PG_FUNCTION_INFO_V1(medallion_drop_flow);
PG_FUNCTION_INFO_V1(medallion_add_expectation);
PG_FUNCTION_INFO_V1(medallion_drop_expectation);
PG_FUNCTION_INFO_V1(medallion_pause_flow);
PG_FUNCTION_INFO_V1(medallion_run_flow);
PG_FUNCTION_INFO_V1(medallion_replay_quarantine);
PG_FUNCTION_INFO_V1(medallion_alter_flow);
PG_FUNCTION_INFO_V1(medallion_flow_quarantine);
PG_FUNCTION_INFO_V1(medallion_schedule_flow);
PG_FUNCTION_INFO_V1(medallion_unschedule_flow);

/* The fourth field of the advisory locktag that serialises runs of one flow ("MF"). */
#define FLOW_LOCKTAG 0x4D46
#define FLOW_NAME_MAX 48
#define RUN_FLOW_COLUMNS 16

/* One row of medallion.flow, as the C code needs it. */
typedef struct FlowRow
{
	int32		flow_id;
	char	   *name;
	Oid			owner;
	Oid			source;
	Oid			target;
	char	   *consumer;
	bool		paused;
	bool		ignore_new_columns;	/* on_schema_change 'ignore' */
	bool		add_new_columns;	/* on_schema_change 'add_columns' */
	Oid			batch_table;
	Oid			quarantine_table;
	char	   *reader;			/* the source's feed's reader function (NULL: no feed any more) */
	Oid			change_table;	/* the source's feed's change table */
	int64		watermark;		/* the flow's consumer's watermark (-1: none) */
	int64		pending;		/* the flow's consumer's snapshot starts not yet read */
	char	   *definition;		/* jsonb text: the row, the reader, for medallion._flow_run */
	char	   *expectations;	/* jsonb text: [{name, predicate, action}] */
	char	   *definition_hash;
} FlowRow;

static void CheckSessionSafeForOwnerCode(const FlowRow *flow);

/* TextArg returns a text argument as a C string, or errors naming it when NULL. */
static char *
TextArg(FunctionCallInfo fcinfo, int n, const char *what)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", what),
				 errhint("Pass a value for %s.", what)));
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/*
 * LoadFlowWhere fills *flow from the medallion.flow row matching a condition
 * (read as the extension owner), without its definition and expectations:
 * LoadFlowDefinition adds those when a run needs them (a run with nothing
 * new does not).
 */
static bool
LoadFlowWhere(const char *condition, Oid argtype, Datum arg, FlowRow *flow)
{
	OwnerSwitch as_owner;
	Oid			argtypes[1] = {argtype};
	Datum		args[1] = {arg};
	bool		found = false;
	MemoryContext outer = CurrentMemoryContext;

	BeginAsOwner(&as_owner);
	SpiConnect();
	if (SpiExecuteKept(psprintf("SELECT f.flow_id, f.name, f.owner::oid, f.source::oid, f.target::oid, f.consumer, f.paused, "
								"  f.quarantine_table::oid, f.batch_table::oid, f.definition_hash, fd.reader, fd.change_table::oid, "
								"  cf.watermark, CASE WHEN cf.snapshot_table IS NULL THEN 0 ELSE 1 END::pg_catalog.int8, "
								"  f.on_schema_change OPERATOR(pg_catalog.=) 'ignore', "
								"  f.on_schema_change OPERATOR(pg_catalog.=) 'add_columns' "
								"FROM medallion.flow f LEFT JOIN medallion.feed fd ON fd.source OPERATOR(pg_catalog.=) f.source "
								"  LEFT JOIN medallion.consumer_feed cf ON cf.consumer OPERATOR(pg_catalog.=) f.consumer "
								"    AND cf.feed_id OPERATOR(pg_catalog.=) fd.feed_id "
								"WHERE %s", condition),
					   1, argtypes, args, NULL, false, 1, SPI_OK_SELECT) == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		MemoryContext spi = MemoryContextSwitchTo(outer);

		flow->flow_id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		flow->name = SPI_getvalue(tup, desc, 2);
		flow->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
		flow->source = DatumGetObjectId(SPI_getbinval(tup, desc, 4, &isnull));
		flow->target = DatumGetObjectId(SPI_getbinval(tup, desc, 5, &isnull));
		flow->consumer = SPI_getvalue(tup, desc, 6);
		flow->paused = DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull));
		flow->quarantine_table = DatumGetObjectId(SPI_getbinval(tup, desc, 8, &isnull));
		flow->batch_table = DatumGetObjectId(SPI_getbinval(tup, desc, 9, &isnull));
		flow->definition_hash = SPI_getvalue(tup, desc, 10);
		flow->reader = SPI_getvalue(tup, desc, 11);
		flow->change_table = DatumGetObjectId(SPI_getbinval(tup, desc, 12, &isnull));
		if (isnull)
			flow->change_table = InvalidOid;
		flow->watermark = DatumGetInt64(SPI_getbinval(tup, desc, 13, &isnull));
		if (isnull)
			flow->watermark = -1;
		flow->pending = DatumGetInt64(SPI_getbinval(tup, desc, 14, &isnull));
		flow->ignore_new_columns = DatumGetBool(SPI_getbinval(tup, desc, 15, &isnull));
		flow->add_new_columns = DatumGetBool(SPI_getbinval(tup, desc, 16, &isnull));
		if (isnull)
			flow->pending = 1;	/* no consumer row: not "up to date", the run says what is wrong */
		flow->definition = NULL;
		flow->expectations = NULL;
		MemoryContextSwitchTo(spi);
		found = true;
	}
	SPI_finish();
	EndAsRole(&as_owner);
	return found;
}

/*
 * LoadFlowDefinition adds a loaded flow's definition (its row, its reader and
 * staging names, as jsonb text for medallion._flow_run) and its expectations.
 */
static void
LoadFlowDefinition(FlowRow *flow)
{
	OwnerSwitch as_owner;
	MemoryContext outer = CurrentMemoryContext;

	BeginAsOwner(&as_owner);
	SpiConnect();
	if (SpiExecuteKept("SELECT (pg_catalog.to_jsonb(f) OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object("
					   "     'reader', fd.reader, 'batch_table', f.batch_table::pg_catalog.text, "
					   "     'output_table', f.output_table::pg_catalog.text, "
					   "     'quarantine_table', f.quarantine_table::pg_catalog.text, "
					   "     'target', f.target::oid))::pg_catalog.text, "
					   "  (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
					   "     'name', e.name, 'predicate', e.predicate, 'action', e.action) ORDER BY e.name), '[]')"
					   "   FROM medallion.expectation e WHERE e.flow_id OPERATOR(pg_catalog.=) f.flow_id)::pg_catalog.text "
					   "FROM medallion.flow f LEFT JOIN medallion.feed fd ON fd.source OPERATOR(pg_catalog.=) f.source "
					   "WHERE f.flow_id OPERATOR(pg_catalog.=) $1",
					   1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(flow->flow_id)}, NULL, false, 1, SPI_OK_SELECT) != 1)
		elog(ERROR, "flow %d vanished while it was locked", flow->flow_id);
	flow->definition = MemoryContextStrdup(outer, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	flow->expectations = MemoryContextStrdup(outer, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
	SPI_finish();
	EndAsRole(&as_owner);
}

/* LoadFlow fills *flow by name; false if there is none. */
static bool
LoadFlow(const char *name, FlowRow *flow)
{
	return LoadFlowWhere("f.name OPERATOR(pg_catalog.=) $1", TEXTOID, CStringGetTextDatum(name), flow);
}

/* LoadFlowById fills *flow by id; false if there is none (dropped). */
static bool
LoadFlowById(int32 flow_id, FlowRow *flow)
{
	return LoadFlowWhere("f.flow_id OPERATOR(pg_catalog.=) $1", INT4OID, Int32GetDatum(flow_id), flow);
}

/*
 * CheckFlowMember errors unless the current role is a member of the flow's
 * owner role (which must still exist): only they may run, change, read or
 * drop it.  The message names neither owner nor source to strangers.
 */
static void
CheckFlowMember(const FlowRow *flow, const char *action)
{
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(flow->owner)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the owner of flow \"%s\" no longer exists", flow->name),
				 errhint("Drop the flow and create it again as its new owner.")));
	if (!is_member_of_role(GetUserId(), flow->owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s flow \"%s\"", action, flow->name),
				 errdetail("A flow's runs run as its owner; only members of the owner role may use it."),
				 errhint("Act as a member of the role that created the flow.")));
}

/*
 * FlowToRun finds a flow by name for a run: its id, name and owner only (the
 * rest is read after the run's lock), and checks the caller is a member.
 */
static void
FlowToRun(FunctionCallInfo fcinfo, FlowRow *flow, const char *action)
{
	char	   *name = TextArg(fcinfo, 0, "name");
	OwnerSwitch as_owner;
	bool		found = false;

	BeginAsOwner(&as_owner);
	SpiConnect();
	if (SpiExecuteKept("SELECT f.flow_id, f.owner::oid FROM medallion.flow f WHERE f.name OPERATOR(pg_catalog.=) $1",
					   1, (Oid[]) {TEXTOID}, (Datum[]) {CStringGetTextDatum(name)}, NULL, true, 1, SPI_OK_SELECT) == 1)
	{
		bool		isnull;

		memset(flow, 0, sizeof(*flow));
		flow->flow_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		flow->owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		flow->name = name;
		found = true;
	}
	SPI_finish();
	EndAsRole(&as_owner);
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("flow \"%s\" does not exist", name),
				 errhint("See medallion.flows for the flows you may use.")));
	CheckFlowMember(flow, action);
}

/* FlowByName loads a flow the caller may act on (a member of its owner), or errors. */
static void
FlowByName(FunctionCallInfo fcinfo, int arg, FlowRow *flow, const char *action)
{
	char	   *name = TextArg(fcinfo, arg, "name");

	if (!LoadFlow(name, flow))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("flow \"%s\" does not exist", name),
				 errhint("See medallion.flows for the flows you may use.")));
	CheckFlowMember(flow, action);
}

/* RehashFlow recomputes a flow's definition hash from its row and expectations (as the extension owner). */
static void
RehashFlow(int32 flow_id, bool altered)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(flow_id)};

	RunAsOwner(psprintf("UPDATE medallion.flow f SET %s definition_hash = pg_catalog.md5(("
						"  pg_catalog.to_jsonb(f) OPERATOR(pg_catalog.-) "
						"    '{flow_id,name,owner,paused,definition_hash,created_at,altered_at,batch_table,output_table,quarantine_table,continuous,event_watermark}'::pg_catalog.text[] "
						"  OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('expectations', "
						"    (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(e.name, e.predicate, e.action) ORDER BY e.name) "
						"     FROM medallion.expectation e WHERE e.flow_id OPERATOR(pg_catalog.=) f.flow_id)))::pg_catalog.text) "
						"WHERE f.flow_id OPERATOR(pg_catalog.=) $1",
						altered ? "altered_at = pg_catalog.now()," : ""),
			   1, argtypes, args, SPI_OK_UPDATE);
	/* A continuous flow that failed is tried again at once with its new definition. */
	ChangeBellRingAtCommit();
}

/* DescribeColumns renders a row type's live columns as "name type, ...", as ColumnsOfQuery does. */
static char *
DescribeColumns(TupleDesc desc)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (a->attisdropped)
			continue;
		appendStringInfo(&buf, "%s%s %s", buf.len ? ", " : "", quote_identifier(NameStr(a->attname)),
						 format_type_extended(a->atttypid, a->atttypmod, FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY));
	}
	return buf.data;
}

/* DescOfQuery returns the row type of what a query returns (in the transaction's context), planned as the current role with search_path pinned. */
static TupleDesc
DescOfQuery(const char *query)
{
	int			spi_nest = SpiConnectPinned();
	SPIPlanPtr	plan = SPI_prepare(query, 0, NULL);
	List	   *sources;
	CachedPlanSource *ps;
	TupleDesc	desc;
	MemoryContext outer;
	TupleDesc	result;

	if (plan == NULL)
		elog(ERROR, "could not prepare: %s", query);
	sources = SPI_plan_get_plan_sources(plan);
	ps = linitial(sources);
	if (list_length(sources) != 1 || ps->commandTag != CMDTAG_SELECT || ps->resultDesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("a flow's transform must be one SELECT"),
				 errhint("Write one query over the relation batch, e.g. SELECT id, amount::numeric FROM batch.")));
	desc = ps->resultDesc;
	outer = MemoryContextSwitchTo(TopTransactionContext);
	result = CreateTupleDescCopy(desc);
	MemoryContextSwitchTo(outer);
	SpiFinishPinned(spi_nest);
	return result;
}

/* ColumnsOfQuery returns "name type, ..." of what a query returns, planned as the current role with search_path pinned. */
static char *
ColumnsOfQuery(const char *query)
{
	TupleDesc	desc = DescOfQuery(query);
	MemoryContext outer = MemoryContextSwitchTo(TopTransactionContext);
	char	   *result = DescribeColumns(desc);

	MemoryContextSwitchTo(outer);
	return result;
}

/* CheckFlowName errors unless a flow name is usable: not empty, not too long, not taken. */
static void
CheckFlowName(const char *name)
{
	FlowRow		other;

	if (name[0] == '\0' || strlen(name) > FLOW_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a flow name must have 1 to %d characters", FLOW_NAME_MAX),
				 errhint("Name the flow after its target, e.g. 'silver_orders'.")));
	if (LoadFlow(name, &other))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("flow \"%s\" already exists", name),
				 errhint("Choose another name, or drop_flow('%s') first.", name)));
}

/* ArrayArgSql renders a text[] argument as a SQL literal, or NULL. */
static char *
ArrayArgSql(FunctionCallInfo fcinfo, int n)
{
	if (PG_ARGISNULL(n))
		return "NULL";
	return quote_literal_cstr(OidOutputFunctionCall(F_ARRAY_OUT, PG_GETARG_DATUM(n)));
}

/* TextArgSql renders a text argument as a SQL literal, or NULL. */
static char *
TextArgSql(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? "NULL" : quote_literal_cstr(text_to_cstring(PG_GETARG_TEXT_PP(n)));
}

/*
 * medallion_create_flow declares a flow: its consumer on the source's feed
 * (created as the caller, start as given), its staging tables (owned by the
 * caller) and its row.  The transform and the merge options are checked
 * before anything is created: the transform is planned as the caller, the
 * merge is checked by merge_statements as the caller.  Returns the flow id.
 */
/* CheckEventTimeColumn errors unless event_time is a column of the flow's output holding a time. */
static void
CheckEventTimeColumn(const char *name, const char *out_t, const char *event_time)
{
	Oid			out = RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(out_t)), NoLock, false);
	AttrNumber	attnum = get_attnum(out, event_time);
	Oid			type = attnum == InvalidAttrNumber ? InvalidOid : get_atttype(out, attnum);

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("event_time \"%s\" is not a column of the output of flow \"%s\"", event_time, name),
				 errhint("Name a column the transform (or the source, without one) gives.")));
	/* timestamptz only: a timestamp or date would be compared in each session's TimeZone. */
	if (type != TIMESTAMPTZOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("event_time \"%s\" of flow \"%s\" is of type %s, not timestamptz", event_time, name,
						format_type_be(type)),
				 errhint("Give the transform a timestamptz column, e.g. (payload->>'ts')::timestamptz AS event_ts.")));
}

Datum
medallion_create_flow(PG_FUNCTION_ARGS)
{
	char	   *name = TextArg(fcinfo, 0, "name");
	Oid			source,
				target;
	char	   *transform = PG_ARGISNULL(5) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(5));
	int32		scd_type = PG_ARGISNULL(6) ? 1 : PG_GETARG_INT32(6);
	int32		max_versions = PG_ARGISNULL(13) ? 0 : PG_GETARG_INT32(13);
	char	   *start = PG_ARGISNULL(14) ? "snapshot" : text_to_cstring(PG_GETARG_TEXT_PP(14));
	char	   *on_schema_change = PG_ARGISNULL(15) ? "fail" : text_to_cstring(PG_GETARG_TEXT_PP(15));
	char	   *event_time = PG_ARGISNULL(16) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(16));
	char	   *late_rows = PG_ARGISNULL(18) ? "quarantine" : text_to_cstring(PG_GETARG_TEXT_PP(18));
	FeedRow		feed;
	char	   *owner = GetUserNameFromId(GetUserId(), false);
	char	   *reader;
	char	   *batch_columns;
	char	   *out_columns;
	char	   *batch_t,
			   *out_t,
			   *quarantine_t;
	char	   *consumer;
	int64		flow_id;
	int			spi_nest;
	StringInfoData sql;

	CheckFlowName(name);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source, target and keys must not be NULL"),
				 errhint("A flow merges a fed source into a target by its keys.")));
	source = PG_GETARG_OID(1);
	target = PG_GETARG_OID(2);
	if (get_rel_name(source) == NULL || get_rel_name(target) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the source or the target of flow \"%s\" does not exist", name),
				 errhint("Pass existing tables.")));
	if (!LookupFeedBySource(source, &feed))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s has no change feed", RelationDisplayName(source)),
				 errhint("SELECT medallion.enable_feed('%s'); first.", RelationDisplayName(source))));
	if (source == target)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a flow cannot merge table %s into itself", RelationDisplayName(source)),
				 errhint("Pass another table as the target.")));
	if (max_versions < 0 || (!PG_ARGISNULL(13) && max_versions == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_versions_per_run must be positive"),
				 errhint("Pass NULL to consume every version a run finds.")));
	if (scd_type != 1 && scd_type != 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("scd_type must be 1 or 2"),
				 errhint("1 keeps the newest row per key, 2 keeps its history.")));
	if (strcmp(on_schema_change, "fail") != 0 && strcmp(on_schema_change, "ignore") != 0 &&
		strcmp(on_schema_change, "add_columns") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("on_schema_change must be 'fail', 'add_columns' or 'ignore', not '%s'", on_schema_change),
				 errhint("Use 'fail' (a run after the source's columns changed fails, naming the change), 'add_columns' (the target gains the source's new columns) or 'ignore' (new columns are not read).")));
	if (strcmp(late_rows, "quarantine") != 0 && strcmp(late_rows, "merge") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("late_rows must be 'quarantine' or 'merge', not '%s'", late_rows),
				 errhint("Late rows are never dropped silently: quarantine them (rule 'late') or merge them (counted).")));
	if (event_time == NULL && !PG_ARGISNULL(17))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("allowed_lateness needs event_time"),
				 errhint("Name the output column whose time the event-time watermark follows: event_time => 'column'.")));
	if (!PG_ARGISNULL(17) && DatumGetBool(DirectFunctionCall2(interval_lt, PG_GETARG_DATUM(17),
															   DirectFunctionCall3(interval_in, CStringGetDatum("0"),
																				   ObjectIdGetDatum(InvalidOid),
																				   Int32GetDatum(-1)))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("allowed_lateness must not be negative"),
				 errhint("Pass how far behind the newest event time a row may be, e.g. interval '10 minutes'.")));
	CheckSourceReadable(source);
	if (pg_class_aclmask(target, GetUserId(), ACL_SELECT | ACL_INSERT | ACL_UPDATE | ACL_DELETE, ACLMASK_ALL) !=
		(ACL_SELECT | ACL_INSERT | ACL_UPDATE | ACL_DELETE))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to merge into %s", RelationDisplayName(target)),
				 errdetail("A flow's runs merge as its owner, who needs SELECT, INSERT, UPDATE and DELETE on the target."),
				 errhint("GRANT SELECT, INSERT, UPDATE, DELETE ON %s to this role.", RelationDisplayName(target))));

	CheckFlowGraphAcyclic(name, source, target);

	/* The staging tables' shapes: the reader's rows, and what the transform makes of them (planned as the caller). */
	{
		OwnerSwitch as_owner;

		spi_nest = SpiConnectPinned();
		(void) SpiExecute("SELECT reader FROM medallion.feed WHERE feed_id OPERATOR(pg_catalog.=) $1", 1,
						  (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(feed.feed_id)}, true, 1, SPI_OK_SELECT);
		reader = MemoryContextStrdup(TopTransactionContext, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		SpiFinishPinned(spi_nest);
		BeginAsOwner(&as_owner);
		batch_columns = ColumnsOfQuery(psprintf("SELECT * FROM %s(0::bigint, 0::bigint)", reader));
		EndAsRole(&as_owner);
	}
	{
		OwnerSwitch as_owner;
		int64		next = 0;

		BeginAsOwner(&as_owner);
		SpiConnect();
		(void) SpiSelectInt64("SELECT pg_catalog.nextval('medallion.flow_flow_id_seq')", 0, NULL, NULL, &next);
		SPI_finish();
		EndAsRole(&as_owner);
		flow_id = next;
	}
	batch_t = quote_qualified_identifier("medallion_state", psprintf("flow_" INT64_FORMAT "_batch", flow_id));
	out_t = quote_qualified_identifier("medallion_state", psprintf("flow_" INT64_FORMAT "_out", flow_id));
	quarantine_t = quote_qualified_identifier("medallion_state", psprintf("flow_" INT64_FORMAT "_quarantine", flow_id));
	consumer = psprintf("flow:%s", name);

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "CREATE UNLOGGED TABLE %s (%s);\n"
					 "ALTER TABLE %s OWNER TO %s;\n"
					 "COMMENT ON TABLE %s IS %s;\n"
					 /* The run isolating refused rows notes them as the owner (src/flow/isolate.c). */
					 "GRANT EXECUTE ON FUNCTION medallion._flow_row_seen(pg_catalog.tid) TO %s;\n",
					 batch_t, batch_columns, batch_t, quote_identifier(owner), batch_t,
					 quote_literal_cstr(psprintf("Staging of the changes of a run of flow %s", name)),
					 quote_identifier(owner));
	RunAsOwner(sql.data, 0, NULL, NULL, SPI_OK_UTILITY);
	CommandCounterIncrement();

	/* Planned as the caller: the transform is the caller's code. */
	out_columns = ColumnsOfQuery(transform == NULL ? psprintf("SELECT * FROM %s", batch_t)
								 : psprintf("WITH batch AS (SELECT * FROM %s) SELECT * FROM (%s) AS t", batch_t, transform));
	resetStringInfo(&sql);
	appendStringInfo(&sql,
					 "CREATE UNLOGGED TABLE %s (%s);\n"
					 "ALTER TABLE %s OWNER TO %s;\n"
					 "COMMENT ON TABLE %s IS %s;\n"
					 "CREATE TABLE %s (run_id bigint NOT NULL, rule text NOT NULL, source_version bigint, "
					 "error text, record jsonb NOT NULL, transformed boolean NOT NULL, "
					 "quarantined_at timestamptz NOT NULL DEFAULT pg_catalog.now());\n"
					 "ALTER TABLE %s OWNER TO %s;\n"
					 "COMMENT ON TABLE %s IS %s;\n"
					 "INSERT INTO medallion.flow (flow_id, name, owner, source, target, consumer, keys, sequence_by, "
					 "transform, scd_type, delete_when, truncate_when, columns, except_columns, ignore_null_updates, "
					 "track_history_columns, max_versions_per_run, on_schema_change, batch_table, output_table, "
					 "quarantine_table, definition_hash, event_time, allowed_lateness, late_rows) "
					 "VALUES (" INT64_FORMAT ", %s, %u::pg_catalog.oid::pg_catalog.regrole, %u, %u, %s, %s, %s, %s, %d, "
					 "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, '', %s, %s, %s);\n",
					 out_t, out_columns, out_t, quote_identifier(owner), out_t,
					 quote_literal_cstr(psprintf("Staging of the transformed rows of a run of flow %s", name)),
					 quarantine_t, quarantine_t, quote_identifier(owner), quarantine_t,
					 quote_literal_cstr(psprintf("Rows flow %s quarantined", name)),
					 flow_id, quote_literal_cstr(name), GetUserId(), source, target,
					 quote_literal_cstr(consumer), ArrayArgSql(fcinfo, 3),
					 PG_ARGISNULL(4) ? "'{_commit_version,_change_seq}'" : ArrayArgSql(fcinfo, 4),
					 TextArgSql(fcinfo, 5), scd_type, TextArgSql(fcinfo, 7), TextArgSql(fcinfo, 8),
					 ArrayArgSql(fcinfo, 9), ArrayArgSql(fcinfo, 10),
					 (!PG_ARGISNULL(11) && PG_GETARG_BOOL(11)) ? "true" : "false", ArrayArgSql(fcinfo, 12),
					 PG_ARGISNULL(13) ? "NULL" : psprintf("%d", max_versions), quote_literal_cstr(on_schema_change),
					 quote_literal_cstr(batch_t), quote_literal_cstr(out_t), quote_literal_cstr(quarantine_t),
					 TextArgSql(fcinfo, 16),
					 PG_ARGISNULL(17) ? "NULL" : quote_literal_cstr(DatumGetCString(DirectFunctionCall1(interval_out, PG_GETARG_DATUM(17)))),
					 quote_literal_cstr(late_rows));
	RunAsOwner(sql.data, 0, NULL, NULL, SPI_OK_INSERT);
	CommandCounterIncrement();
	if (event_time != NULL)
		CheckEventTimeColumn(name, out_t, event_time);
	RehashFlow((int32) flow_id, false);

	/* As the caller: the merge options checked by merge_statements, then the flow's consumer. */
	spi_nest = SpiConnectPinned();
	resetStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT pg_catalog.count(*) FROM medallion.merge_statements(%u::pg_catalog.regclass, %s, %s, %s, "
					 "%s, %s, %s, %s, %s, %d, %s)",
					 target, quote_literal_cstr(out_t), ArrayArgSql(fcinfo, 3),
					 PG_ARGISNULL(4) ? "'{_commit_version,_change_seq}'" : ArrayArgSql(fcinfo, 4),
					 TextArgSql(fcinfo, 7), TextArgSql(fcinfo, 8), ArrayArgSql(fcinfo, 9), ArrayArgSql(fcinfo, 10),
					 (!PG_ARGISNULL(11) && PG_GETARG_BOOL(11)) ? "true" : "false", scd_type, ArrayArgSql(fcinfo, 12));
	(void) SpiExecute(sql.data, 0, NULL, NULL, false, 0, SPI_OK_SELECT);
	(void) SpiExecute(psprintf("SELECT pg_catalog.count(*) FROM medallion.create_consumer(%s, ARRAY[%u::pg_catalog.regclass], %s)",
							   quote_literal_cstr(consumer), source, quote_literal_cstr(start)),
					  0, NULL, NULL, false, 0, SPI_OK_SELECT);
	SpiFinishPinned(spi_nest);
	PG_RETURN_INT32((int32) flow_id);
}

/* medallion_drop_flow removes a flow, its consumer, expectations and staging; its runs stay recorded. */
Datum
medallion_drop_flow(PG_FUNCTION_ARGS)
{
	FlowRow		flow;
	int			spi_nest;
	LOCKTAG		tag;

	FlowByName(fcinfo, 0, &flow, "drop");
	/* Not while it runs. */
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) flow.flow_id, 0, FLOW_LOCKTAG);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	spi_nest = SpiConnectPinned();
	(void) SpiExecute("SELECT medallion.drop_consumer($1)", 1, (Oid[]) {TEXTOID},
					  (Datum[]) {CStringGetTextDatum(flow.consumer)}, false, 0, SPI_OK_SELECT);
	SpiFinishPinned(spi_nest);
	/* The staging tables by the oids the flow recorded, not by name. */
	RunAsOwner(psprintf("DO $medallion$ DECLARE t regclass; BEGIN "
						"FOR t IN SELECT x FROM medallion.flow f, LATERAL (VALUES (f.batch_table), (f.output_table), "
						"(f.quarantine_table)) AS v(x) WHERE f.flow_id OPERATOR(pg_catalog.=) %d LOOP "
						"EXECUTE pg_catalog.format('DROP TABLE IF EXISTS %%s', t); END LOOP; END $medallion$;\n"
						"DELETE FROM medallion.flow WHERE flow_id = %d;\n", flow.flow_id, flow.flow_id),
			   0, NULL, NULL, SPI_OK_DELETE);
	/* A schedule left behind would run whatever flow takes the name next. */
	if (OidIsValid(get_extension_oid("pg_cron", true)))
		RunAsOwner("SELECT cron.unschedule(j.jobid) FROM cron.job j WHERE j.jobname OPERATOR(pg_catalog.=) $1",
				   1, (Oid[]) {TEXTOID}, (Datum[]) {CStringGetTextDatum(psprintf("medallion flow %s", flow.name))},
				   SPI_OK_SELECT);
	PG_RETURN_VOID();
}

/*
 * medallion_add_expectation adds a rule to a flow: the predicate is one
 * boolean expression over the transformed rows, planned as the flow's owner
 * before anything is stored.
 */
Datum
medallion_add_expectation(PG_FUNCTION_ARGS)
{
	FlowRow		flow;
	char	   *name = TextArg(fcinfo, 1, "name");
	char	   *predicate = TextArg(fcinfo, 2, "predicate");
	char	   *action = PG_ARGISNULL(3) ? "warn" : text_to_cstring(PG_GETARG_TEXT_PP(3));
	OwnerSwitch as_flow_owner;
	char	   *out_t;

	FlowByName(fcinfo, 0, &flow, "change");
	if (strcmp(action, "warn") != 0 && strcmp(action, "drop") != 0 && strcmp(action, "quarantine") != 0 &&
		strcmp(action, "fail") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("action \"%s\" is not an expectation action", action),
				 errhint("Use 'warn' (counted), 'drop' (skipped, counted), 'quarantine' (kept for replay) or 'fail' (the run fails).")));
	if (name[0] == '\0' || strlen(name) > NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an expectation name must have 1 to %d characters", NAMEDATALEN),
				 errhint("Name the rule after what it checks, e.g. 'amount_positive'.")));
	out_t = quote_qualified_identifier("medallion_state", psprintf("flow_%d_out", flow.flow_id));
	/* One expression of type boolean: planned as the flow's owner, the only role it ever runs as. */
	BeginAsRole(flow.owner, &as_flow_owner);
	{
		SPIPlanPtr	plan;

		SpiConnect();
		plan = SPI_prepare(psprintf("SELECT pg_catalog.count(*) FROM %s AS batch WHERE NOT COALESCE((%s), false)",
									out_t, predicate), 0, NULL);
		if (plan == NULL || list_length(SPI_plan_get_plan_sources(plan)) != 1)
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("the predicate of expectation \"%s\" is not one boolean expression", name),
					 errhint("Write a condition over the transformed rows' columns, e.g. amount > 0.")));
		SPI_finish();
	}
	EndAsRole(&as_flow_owner);
	RunAsOwner("INSERT INTO medallion.expectation (flow_id, name, predicate, action) VALUES ($1, $2, $3, $4) "
			   "ON CONFLICT (flow_id, name) DO UPDATE SET predicate = EXCLUDED.predicate, action = EXCLUDED.action",
			   4, (Oid[]) {INT4OID, TEXTOID, TEXTOID, TEXTOID},
			   (Datum[]) {Int32GetDatum(flow.flow_id), CStringGetTextDatum(name), CStringGetTextDatum(predicate),
						  CStringGetTextDatum(action)}, SPI_OK_INSERT);
	RehashFlow(flow.flow_id, true);
	PG_RETURN_VOID();
}

/* medallion_drop_expectation removes a rule from a flow. */
Datum
medallion_drop_expectation(PG_FUNCTION_ARGS)
{
	FlowRow		flow;
	char	   *name = TextArg(fcinfo, 1, "name");

	FlowByName(fcinfo, 0, &flow, "change");
	if (RunAsOwner("DELETE FROM medallion.expectation WHERE flow_id OPERATOR(pg_catalog.=) $1 AND name OPERATOR(pg_catalog.=) $2",
				   2, (Oid[]) {INT4OID, TEXTOID}, (Datum[]) {Int32GetDatum(flow.flow_id), CStringGetTextDatum(name)},
				   SPI_OK_DELETE) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("flow \"%s\" has no expectation \"%s\"", flow.name, name),
				 errhint("See medallion.expectations for the expectations of flow \"%s\".", flow.name)));
	RehashFlow(flow.flow_id, true);
	PG_RETURN_VOID();
}

/* medallion_pause_flow pauses or resumes a flow. */
Datum
medallion_pause_flow(PG_FUNCTION_ARGS)
{
	FlowRow		flow;
	bool		paused = PG_ARGISNULL(1) ? true : PG_GETARG_BOOL(1);

	FlowByName(fcinfo, 0, &flow, "change");
	RunAsOwner("UPDATE medallion.flow SET paused = $2 WHERE flow_id OPERATOR(pg_catalog.=) $1", 2,
			   (Oid[]) {INT4OID, BOOLOID}, (Datum[]) {Int32GetDatum(flow.flow_id), BoolGetDatum(paused)}, SPI_OK_UPDATE);
	/* A continuous flow resumed runs at once. */
	ChangeBellRingAtCommit();
	PG_RETURN_VOID();
}

/*
 * CheckFlowCurrent errors, in REPEATABLE READ or SERIALIZABLE, when the flow
 * was changed, paused or dropped by a transaction this one's snapshot does
 * not see (it waited for its lock): running the old definition against
 * staging tables made for the new one is not an option; retrying is.
 */
static void
CheckFlowCurrent(const FlowRow *flow)
{
	OwnerSwitch as_owner;
	SPIPlanPtr	plan;
	bool		current = false;

	if (!IsolationUsesXactSnapshot())
		return;
	BeginAsOwner(&as_owner);
	SpiConnect();
	plan = SPI_prepare("SELECT f.definition_hash, f.paused FROM medallion.flow f WHERE f.flow_id OPERATOR(pg_catalog.=) $1",
					   1, (Oid[]) {INT4OID});
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_execute_snapshot(plan, (Datum[]) {Int32GetDatum(flow->flow_id)}, NULL, GetLatestSnapshot(),
							 InvalidSnapshot, true, false, 1) == SPI_OK_SELECT && SPI_processed == 1)
	{
		bool		isnull;
		char	   *hash = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		bool		paused = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));

		current = hash != NULL && strcmp(hash, flow->definition_hash) == 0 && paused == flow->paused;
	}
	SPI_finish();
	EndAsRole(&as_owner);
	if (!current)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to a concurrent change of flow \"%s\"", flow->name),
				 errhint("Retry the transaction.")));
}

/*
 * PlanExpectation plans an expectation's check over a flow's output table as
 * the current role (SPI connected), or errors naming the expectation.
 */
static void
PlanExpectation(const char *flow_name, const char *out_t, const char *expectation, const char *predicate)
{
	MemoryContext before = CurrentMemoryContext;

	PG_TRY();
	{
		if (SPI_prepare(psprintf("SELECT pg_catalog.count(*) FROM %s AS batch WHERE NOT COALESCE((%s), false)",
								 out_t, predicate), 0, NULL) == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/* Nothing goes on after this: the error is raised again, with what to do. */
		MemoryContextSwitchTo(before);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(edata->sqlerrcode),
				 errmsg("expectation \"%s\" of flow \"%s\" does not apply to the new transform's output: %s",
						expectation, flow_name, edata->message),
				 errhint("Keep the columns it reads in the transform, or drop the expectation first.")));
	}
	PG_END_TRY();
}

/*
 * medallion_alter_flow changes a flow's transform and/or max_versions_per_run
 * between runs (it waits for a running one).  A new transform is planned as
 * the flow's owner over the batch; when its columns differ, the output table
 * is made anew for them; the merge options are checked against it as
 * create_flow checks them.  The change is recorded: altered_at, and a new
 * definition hash that the following runs carry.  A bad call changes
 * nothing (one transaction).
 */
Datum
medallion_alter_flow(PG_FUNCTION_ARGS)
{
	FlowRow		flow;
	LOCKTAG		tag;
	bool		new_transform = !PG_ARGISNULL(1);
	char	   *transform = new_transform ? text_to_cstring(PG_GETARG_TEXT_PP(1)) : NULL;
	bool		new_max = !PG_ARGISNULL(2);
	int32		max_versions = new_max ? PG_GETARG_INT32(2) : 0;
	char	   *out_t = NULL;

	FlowByName(fcinfo, 0, &flow, "change");
	if (!new_transform && !new_max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("alter_flow needs a transform or a max_versions_per_run"),
				 errhint("Pass transform => '...' ('' for none) or max_versions_per_run => n (0 for no limit).")));
	if (new_max && max_versions < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_versions_per_run must not be negative"),
				 errhint("Pass a positive number, or 0 to consume every version a run finds.")));
	if (new_transform && strspn(transform, " \t\r\n") == strlen(transform))
		transform = NULL;		/* '' removes the transform: the batch is merged as it is */

	/* Between runs: a running one finishes first, and none starts until this commits. */
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) flow.flow_id, 0, FLOW_LOCKTAG);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	if (!LoadFlowById(flow.flow_id, &flow))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("flow \"%s\" was dropped while this call waited for it", flow.name),
				 errhint("See medallion.flows.")));
	CheckFlowMember(&flow, "change");
	/* Planning the owner's transform and predicates runs the owner's code (its functions) in this session. */
	CheckSessionSafeForOwnerCode(&flow);

	if (new_transform)
	{
		OwnerSwitch as_flow_owner;
		char	   *batch_t = RelationDisplayName(flow.batch_table);
		char	   *out_columns;
		char	   *old_columns;
		char	   *merge_args = NULL;
		Oid			old_out = InvalidOid;
		Relation	rel;

		/* The owner's code, planned as the owner (runs run it as the owner). */
		BeginAsRole(flow.owner, &as_flow_owner);
		out_columns = ColumnsOfQuery(transform == NULL ? psprintf("SELECT * FROM %s", batch_t)
									 : psprintf("WITH batch AS (SELECT * FROM %s) SELECT * FROM (%s) AS t", batch_t, transform));
		EndAsRole(&as_flow_owner);

		{
			OwnerSwitch as_owner;
			MemoryContext outer = CurrentMemoryContext;

			BeginAsOwner(&as_owner);
			SpiConnect();
			/* The merge options after the target and the source, as SQL literals. */
			if (SpiExecute("SELECT f.output_table::oid, pg_catalog.format('%L::text[], %L::text[], %L, %L, "
						   "%L::text[], %L::text[], %L::boolean, %s, %L::text[]', f.keys, f.sequence_by, "
						   "f.delete_when, f.truncate_when, f.columns, f.except_columns, f.ignore_null_updates, f.scd_type, "
						   "f.track_history_columns) FROM medallion.flow f WHERE f.flow_id OPERATOR(pg_catalog.=) $1",
						   1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(flow.flow_id)}, true, 1, SPI_OK_SELECT) == 1)
			{
				bool		isnull;

				old_out = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
				merge_args = MemoryContextStrdup(outer, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
			}
			SPI_finish();
			EndAsRole(&as_owner);
		}
		if (merge_args == NULL)
			elog(ERROR, "flow %d vanished while it was locked", flow.flow_id);
		rel = relation_open(old_out, AccessShareLock);
		out_t = RelationDisplayName(old_out);
		old_columns = DescribeColumns(RelationGetDescr(rel));
		relation_close(rel, NoLock);
		if (strcmp(old_columns, out_columns) != 0)
		{
			int64		held = 0;

			/* Rows an expectation quarantined are the old transform's output: a replay would merge them as the new one's. */
			BeginAsRole(flow.owner, &as_flow_owner);
			{
				int			spi_nest = SpiConnectPinned();

				(void) SpiSelectInt64(psprintf("SELECT pg_catalog.count(*) FROM %s WHERE transformed",
											   RelationDisplayName(flow.quarantine_table)), 0, NULL, NULL, &held);
				SpiFinishPinned(spi_nest);
			}
			EndAsRole(&as_flow_owner);
			if (held > 0)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("flow \"%s\" has " INT64_FORMAT " quarantined rows of its current transform's output", flow.name, held),
						 errdetail("The new transform gives other columns (%s); those rows have the old ones (%s).", out_columns, old_columns),
						 errhint("Replay them first (replay_quarantine(flow, 'transformed')), or delete them from %s.",
								 RelationDisplayName(flow.quarantine_table))));
			/* The output table is staging, empty between runs: made anew for the new columns, same name and owner. */
			RunAsOwner(psprintf("DROP TABLE %s;\n"
								"CREATE UNLOGGED TABLE %s (%s);\n"
								"ALTER TABLE %s OWNER TO %s;\n"
								"COMMENT ON TABLE %s IS %s;\n",
								out_t, out_t, out_columns, out_t, quote_identifier(GetUserNameFromId(flow.owner, false)),
								out_t, quote_literal_cstr(psprintf("Staging of the transformed rows of a run of flow %s", flow.name))),
					   0, NULL, NULL, SPI_OK_UTILITY);
			CommandCounterIncrement();
		}
		/* The merge options against the new output, checked as the owner (as create_flow checks them as its caller). */
		{
			OwnerSwitch as_flow_owner2;
			int			spi_nest;

			BeginAsRole(flow.owner, &as_flow_owner2);
			spi_nest = SpiConnectPinned();
			(void) SpiExecute(psprintf("SELECT pg_catalog.count(*) FROM medallion.merge_statements(%u::pg_catalog.regclass, %s, %s)",
									   flow.target, quote_literal_cstr(out_t), merge_args),
							  0, NULL, NULL, false, 0, SPI_OK_SELECT);
			SpiFinishPinned(spi_nest);
			EndAsRole(&as_flow_owner2);
		}
		/* Every expectation still applies to the new output (planned as the owner, as runs check them). */
		{
			OwnerSwitch as_owner;
			OwnerSwitch as_flow_owner3;
			List	   *predicates = NIL;
			ListCell   *lc;
			uint64		i;
			int			spi_nest;
			MemoryContext outer = CurrentMemoryContext;

			BeginAsOwner(&as_owner);
			SpiConnect();
			(void) SpiExecute("SELECT e.predicate, e.name FROM medallion.expectation e WHERE e.flow_id OPERATOR(pg_catalog.=) $1",
							  1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(flow.flow_id)}, true, 0, SPI_OK_SELECT);
			for (i = 0; i < SPI_processed; i++)
			{
				char	   *predicate = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
				char	   *expectation = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
				MemoryContext spi = MemoryContextSwitchTo(outer);

				predicates = lappend(predicates, list_make2(pstrdup(predicate), pstrdup(expectation)));
				MemoryContextSwitchTo(spi);
			}
			SPI_finish();
			EndAsRole(&as_owner);
			BeginAsRole(flow.owner, &as_flow_owner3);
			spi_nest = SpiConnectPinned();
			foreach(lc, predicates)
			{
				List	   *expectation = lfirst(lc);

				PlanExpectation(flow.name, out_t, lsecond(expectation), linitial(expectation));
			}
			SpiFinishPinned(spi_nest);
			EndAsRole(&as_flow_owner3);
		}
	}

	/* output_table by name: a new transform may have made it anew under the same name. */
	RunAsOwner(psprintf("UPDATE medallion.flow SET %s %s output_table = CASE WHEN $2 OPERATOR(pg_catalog.=) '' THEN output_table "
						"ELSE $2::pg_catalog.regclass END "
						"WHERE flow_id OPERATOR(pg_catalog.=) $1",
						new_transform ? psprintf("transform = %s, ", transform ? quote_literal_cstr(transform) : "NULL") : "",
						new_max ? (max_versions == 0 ? "max_versions_per_run = NULL, "
								   : psprintf("max_versions_per_run = %d, ", max_versions)) : ""),
			   2, (Oid[]) {INT4OID, TEXTOID},
			   (Datum[]) {Int32GetDatum(flow.flow_id), CStringGetTextDatum(out_t ? out_t : "")}, SPI_OK_UPDATE);
	CommandCounterIncrement();
	RehashFlow(flow.flow_id, true);
	PG_RETURN_VOID();
}

/* ConsumerWatermark returns the flow consumer's watermark on its feed (read as the extension owner). */
static int64
ConsumerWatermark(const char *consumer)
{
	OwnerSwitch as_owner;
	int64		watermark = -1;

	BeginAsOwner(&as_owner);
	SpiConnect();
	(void) SpiSelectInt64("SELECT pg_catalog.max(watermark) FROM medallion.consumer_feed WHERE consumer OPERATOR(pg_catalog.=) $1",
						  1, (Oid[]) {TEXTOID}, (Datum[]) {CStringGetTextDatum(consumer)}, &watermark);
	SPI_finish();
	EndAsRole(&as_owner);
	return watermark;
}

/*
 * The last flow found quiet between its watermark and the newest version, in
 * this session (with its change table: a flow id and versions repeat after
 * the extension is dropped and created again).
 */
static int32 quiet_flow = 0;
static Oid	quiet_changes = InvalidOid;
static int64 quiet_watermark = -1;
static int64 quiet_newest = -1;

/*
 * UpToDateVersion returns the newest version when a run would read nothing:
 * the flow's consumer has no snapshot start pending, and its source's change
 * table holds no row of a transaction between the consumer's watermark and
 * the newest version (judged by xid bounds: a row there that the watermark
 * already covers makes this answer "maybe", and the flow runs).  Else -1.
 * Such a run is answered without running: status 'up_to_date', no run row,
 * nothing written (a flow scheduled every minute over a quiet source must
 * neither fill the run log nor, by writing, close versions of its own; its
 * freshness is its watermark).  Closes the open version first, as a run
 * would.
 */
static int64
UpToDateVersion(const FlowRow *flow)
{
	OwnerSwitch as_owner;
	int64		newest;
	int64		watermark = flow->watermark;
	bool		quiet = false;
	char	   *changes;

	(void) RequestTick();
	newest = NewestReadableVersion();
	if (flow->pending != 0 || watermark < 0 || !OidIsValid(flow->change_table))
		return -1;
	if (watermark >= newest)
		return newest;
	if (flow->flow_id == quiet_flow && flow->change_table == quiet_changes &&
		watermark == quiet_watermark && newest == quiet_newest)
		return newest;			/* probed before: closed versions never change */
	changes = get_rel_name(flow->change_table);
	if (changes == NULL)
		return -1;				/* dropped since it was read: the run itself says what is wrong */
	BeginAsOwner(&as_owner);
	SpiConnect();
	if (SpiExecuteKept("SELECT w.snapshot_xmin, n.snapshot_xmax FROM medallion.tick AS w, medallion.tick AS n "
					   "WHERE w.version OPERATOR(pg_catalog.=) $1 AND n.version OPERATOR(pg_catalog.=) $2",
					   2, (Oid[]) {INT8OID, INT8OID}, (Datum[]) {Int64GetDatum(watermark), Int64GetDatum(newest)},
					   NULL, false, 1, SPI_OK_SELECT) == 1)
	{
		bool		isnull;
		Datum		bounds[2];

		bounds[0] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		bounds[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		quiet = SPI_execute_plan(SpiKeptGeneratedPlan(psprintf("SELECT 1 FROM %s AS c WHERE c._xid OPERATOR(pg_catalog.>=) $1 "
															   "AND c._xid OPERATOR(pg_catalog.<) $2 LIMIT 1",
															   quote_qualified_identifier(MEDALLION_CHANGES_SCHEMA, changes)),
													  2, (Oid[]) {INT8OID, INT8OID}),
								 bounds, NULL, false, 1) == SPI_OK_SELECT && SPI_processed == 0;
	}
	SPI_finish();
	EndAsRole(&as_owner);
	if (!quiet)
		return -1;
	quiet_flow = flow->flow_id;
	quiet_changes = flow->change_table;
	quiet_watermark = watermark;
	quiet_newest = newest;
	return newest;
}

/* RunRowJson renders a flow_run row as jsonb text (counts from the run's result, or the error). */
static char *
RunRowJson(const FlowRow *flow, int64 run_id, TimestampTz started, const char *status, int64 from, int64 to,
		   const char *counts, const ErrorData *edata)
{
	OwnerSwitch as_owner;
	char	   *json;
	const char *app = GetConfigOption("application_name", true, false);
	char	   *run_by = GetUserNameFromId(GetUserId(), false);	/* the caller: read before the switch */
	MemoryContext outer = CurrentMemoryContext;

	BeginAsOwner(&as_owner);
	SpiConnect();
	(void) SpiExecute("SELECT (COALESCE($9::pg_catalog.jsonb, '{}') OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object("
					  "'run_id', $1, 'flow_id', $2, 'flow', $3, 'owner', $4::pg_catalog.regrole::pg_catalog.text, "
					  "'started_at', $5, 'finished_at', pg_catalog.clock_timestamp(), 'status', $6, "
					  "'from_version', $7, 'to_version', $8, 'sqlstate', $10, 'message', $11, 'run_by', $12, "
					  "'application_name', $13, 'definition_hash', $14))::pg_catalog.text",
					  14,
					  (Oid[]) {INT8OID, INT4OID, TEXTOID, OIDOID, TIMESTAMPTZOID, TEXTOID, INT8OID, INT8OID, TEXTOID,
							   TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID},
					  (Datum[]) {Int64GetDatum(run_id), Int32GetDatum(flow->flow_id), CStringGetTextDatum(flow->name),
								 ObjectIdGetDatum(flow->owner), TimestampTzGetDatum(started), CStringGetTextDatum(status),
								 Int64GetDatum(from), Int64GetDatum(to), CStringGetTextDatum(counts ? counts : "{}"),
								 CStringGetTextDatum(edata ? unpack_sql_state(edata->sqlerrcode) : ""),
								 CStringGetTextDatum(edata && edata->message ? edata->message : ""),
								 CStringGetTextDatum(run_by),
								 CStringGetTextDatum(app ? app : ""), CStringGetTextDatum(flow->definition_hash)},
					  true, 1, SPI_OK_SELECT);
	json = MemoryContextStrdup(outer, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	SPI_finish();
	EndAsRole(&as_owner);
	return json;
}

/*
 * CheckSessionSafeForOwnerCode errors when the flow's owner's code (its
 * transform, predicates, the target's triggers) would run in a session
 * holding something of another role's it could reach: a caller who acts for
 * the owner only as a superuser (a superuser's own session, a cron job's)
 * must have no open cursor, whose rows that code could fetch.  pg_cron's
 * jobs run in sessions of their own and pass.
 */
static void
CheckSessionSafeForOwnerCode(const FlowRow *flow)
{
	int64		cursors = 0;
	int			spi_nest;

	if (is_member_of_role_nosuper(GetUserId(), flow->owner))
		return;
	spi_nest = SpiConnectPinned();
	(void) SpiSelectInt64("SELECT pg_catalog.count(*) FROM pg_catalog.pg_cursors", 0, NULL, NULL, &cursors);
	SpiFinishPinned(spi_nest);
	if (cursors > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("flow \"%s\" belongs to another role and this session has open cursors", flow->name),
				 errdetail("A run executes the flow owner's code in this session, where it could read them."),
				 errhint("Close the cursors, or run the flow from a session of its own (as pg_cron does).")));
}

/* FindColumn returns the live column of `desc` named `name`, or NULL. */
static Form_pg_attribute
FindColumn(TupleDesc desc, const char *name)
{
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0)
			return a;
	}
	return NULL;
}

/* AddColumnsSql renders "ADD COLUMN a t, ..." for the live columns of `now` that `before` lacks, or NULL. */
static char *
AddColumnsSql(TupleDesc before, TupleDesc now, bool skip_change_metadata, StringInfo names)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < now->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(now, i);

		if (a->attisdropped || FindColumn(before, NameStr(a->attname)) != NULL)
			continue;
		if (skip_change_metadata && NameStr(a->attname)[0] == '_' &&
			(strcmp(NameStr(a->attname), "_change_type") == 0 || strcmp(NameStr(a->attname), "_commit_version") == 0 ||
			 strcmp(NameStr(a->attname), "_commit_timestamp") == 0 || strcmp(NameStr(a->attname), "_change_seq") == 0))
			continue;
		appendStringInfo(&buf, "%sADD COLUMN %s %s", buf.len ? ", " : "", quote_identifier(NameStr(a->attname)),
						 format_type_extended(a->atttypid, a->atttypmod, FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY));
		if (names != NULL)
			appendStringInfo(names, "%s%s", names->len ? ", " : "", quote_identifier(NameStr(a->attname)));
	}
	return buf.len ? buf.data : NULL;
}

/* RelationDesc returns a copy of a relation's row type. */
static TupleDesc
RelationDesc(Oid relid)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	TupleDesc	desc = CreateTupleDescCopy(RelationGetDescr(rel));

	relation_close(rel, AccessShareLock);
	return desc;
}

/*
 * AddNewColumns (on_schema_change 'add_columns'): when the source gained
 * columns and every column the flow reads is still there, the batch table,
 * the output table (when the transform's output gains them at its end) and
 * the target gain them, as the flow's owner, in the run's transaction.  Any
 * other change is left to CheckBatchUnchanged, which fails naming it.
 */
static void
AddNewColumns(const FlowRow *flow)
{
	Oid			reader_fn;
	TupleDesc	reader_desc = NULL;
	TupleDesc	batch_desc;
	TupleDesc	out_desc;
	TupleDesc	new_out;
	char	   *add;
	char	   *transform = NULL;
	Oid			out_table = InvalidOid;
	OwnerSwitch as_flow_owner;
	StringInfoData added;
	int			i,
				j;

	if (flow->reader == NULL)
		return;
	reader_fn = LookupFuncName(stringToQualifiedNameList(flow->reader), 2, (Oid[]) {INT8OID, INT8OID}, true);
	if (!OidIsValid(reader_fn) || get_func_result_type(reader_fn, NULL, &reader_desc) != TYPEFUNC_COMPOSITE)
		return;
	batch_desc = RelationDesc(flow->batch_table);
	for (i = 0; i < batch_desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(batch_desc, i);
		Form_pg_attribute r;

		if (a->attisdropped)
			continue;
		r = FindColumn(reader_desc, NameStr(a->attname));
		if (r == NULL || r->atttypid != a->atttypid || r->atttypmod != a->atttypmod)
			return;
	}
	/* The source's owner chose the new columns' types: a domain's default or CHECK is their code, not to run as the flow's owner. */
	for (i = 0; i < reader_desc->natts; i++)
	{
		Form_pg_attribute r = TupleDescAttr(reader_desc, i);

		if (!r->attisdropped && FindColumn(batch_desc, NameStr(r->attname)) == NULL &&
			!TypeRunsOnlyTrustedCode(r->atttypid))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("flow \"%s\" does not add column \"%s\" of type %s: the type runs its owner's code",
							flow->name, NameStr(r->attname), format_type_be(r->atttypid)),
					 errhint("Nothing was read. Add the column to the target yourself and recreate the flow, or use on_schema_change 'ignore'.")));
	}
	add = AddColumnsSql(batch_desc, reader_desc, false, NULL);
	if (add == NULL)
		return;

	{
		OwnerSwitch as_owner;
		MemoryContext outer = CurrentMemoryContext;
		bool		isnull;

		BeginAsOwner(&as_owner);
		SpiConnect();
		(void) SpiExecute("SELECT transform, output_table::pg_catalog.oid FROM medallion.flow WHERE flow_id OPERATOR(pg_catalog.=) $1",
						  1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(flow->flow_id)}, true, 1, SPI_OK_SELECT);
		if (SPI_processed == 1)
		{
			char	   *t = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

			transform = t ? MemoryContextStrdup(outer, t) : NULL;
			out_table = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		}
		SPI_finish();
		EndAsRole(&as_owner);
	}
	if (!OidIsValid(out_table))
		return;

	initStringInfo(&added);
	BeginAsRole(flow->owner, &as_flow_owner);
	SpiConnect();
	(void) SpiExecute(psprintf("ALTER TABLE %s %s", RelationDisplayName(flow->batch_table), add), 0, NULL, NULL, false, 0,
					  SPI_OK_UTILITY);
	SPI_finish();
	CommandCounterIncrement();

	/* What the transform makes of the wider batch: the output's columns so far, then new ones. */
	new_out = DescOfQuery(transform == NULL ? psprintf("SELECT * FROM %s", RelationDisplayName(flow->batch_table))
						  : psprintf("WITH batch AS (SELECT * FROM %s) SELECT * FROM (%s) AS t",
									 RelationDisplayName(flow->batch_table), transform));
	out_desc = RelationDesc(out_table);
	for (i = 0, j = 0; i < out_desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(out_desc, i);
		Form_pg_attribute n = NULL;

		if (a->attisdropped)
			continue;
		while (j < new_out->natts && TupleDescAttr(new_out, j)->attisdropped)
			j++;
		if (j < new_out->natts)
			n = TupleDescAttr(new_out, j++);
		if (n == NULL || strcmp(NameStr(n->attname), NameStr(a->attname)) != 0 ||
			n->atttypid != a->atttypid || n->atttypmod != a->atttypmod)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the source of flow \"%s\" gained columns (%s) and its transform's output changes shape",
							flow->name, add + strlen("ADD COLUMN ")),
					 errdetail("on_schema_change 'add_columns' adds columns the output gains at its end; the output was (%s), it would be (%s).",
							   DescribeColumns(out_desc), DescribeColumns(new_out)),
					 errhint("Nothing was read. Use medallion.alter_flow to give the flow the transform you want for the new columns.")));
	}
	add = AddColumnsSql(out_desc, new_out, false, NULL);
	if (add != NULL)
	{
		char	   *target_add = AddColumnsSql(RelationDesc(flow->target), new_out, true, &added);

		SpiConnect();
		(void) SpiExecute(psprintf("ALTER TABLE %s %s", RelationDisplayName(out_table), add), 0, NULL, NULL, false, 0,
						  SPI_OK_UTILITY);
		if (target_add != NULL)
		{
			if (!pg_class_ownercheck(flow->target, flow->owner))
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("flow \"%s\" cannot add columns (%s) to its target %s: its owner does not own the target",
								flow->name, added.data, RelationDisplayName(flow->target)),
						 errhint("Nothing was read. Add the columns to the target yourself, or make the flow's owner the target's owner.")));
			(void) SpiExecute(psprintf("ALTER TABLE %s %s", RelationDisplayName(flow->target), target_add), 0, NULL, NULL,
							  false, 0, SPI_OK_UTILITY);
		}
		SPI_finish();
		CommandCounterIncrement();
	}
	EndAsRole(&as_flow_owner);
	if (added.len > 0)
		ereport(NOTICE,
				(errmsg("flow \"%s\" added columns (%s) to its target %s", flow->name, added.data,
						RelationDisplayName(flow->target))));
}

/*
 * CheckBatchUnchanged errors when the source's feed no longer reads the
 * columns the flow's batch table was made for: names and types in order
 * (on_schema_change 'fail'), or, with 'ignore', every one of them by name
 * and type (columns added since are not read).  Compared before anything is
 * read.  Both sides come from the catalogs (the batch table's row type, the
 * reader's declared result), not from planning queries: every run pays this
 * check.
 */
static void
CheckBatchUnchanged(const FlowRow *flow)
{
	char	   *now_reads = NULL;
	char	   *made_for;
	Oid			reader_fn;
	TupleDesc	reader_desc = NULL;
	Relation	batch;
	TupleDesc	batch_desc;
	bool		same = false;

	if (flow->reader == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the source of flow \"%s\" has no feed any more", flow->name),
				 errhint("Enable the source's feed again, then drop and create the flow.")));

	batch = relation_open(flow->batch_table, AccessShareLock);
	batch_desc = CreateTupleDescCopy(RelationGetDescr(batch));
	relation_close(batch, AccessShareLock);
	made_for = DescribeColumns(batch_desc);
	reader_fn = LookupFuncName(stringToQualifiedNameList(flow->reader), 2, (Oid[]) {INT8OID, INT8OID}, true);
	if (OidIsValid(reader_fn) && get_func_result_type(reader_fn, NULL, &reader_desc) == TYPEFUNC_COMPOSITE)
		now_reads = DescribeColumns(reader_desc);
	if (now_reads != NULL && strcmp(made_for, now_reads) == 0)
		same = true;
	else if (now_reads != NULL && (flow->ignore_new_columns || flow->add_new_columns))
	{
		/* Every column the flow reads is still there, by name, with its type. */
		int			i,
					j;

		same = true;
		for (i = 0; i < batch_desc->natts && same; i++)
		{
			Form_pg_attribute a = TupleDescAttr(batch_desc, i);
			bool		found = false;

			if (a->attisdropped)
				continue;
			for (j = 0; j < reader_desc->natts && !found; j++)
			{
				Form_pg_attribute r = TupleDescAttr(reader_desc, j);

				found = !r->attisdropped && strcmp(NameStr(a->attname), NameStr(r->attname)) == 0 &&
					a->atttypid == r->atttypid && a->atttypmod == r->atttypmod;
			}
			same = found;
		}
	}
	if (!same)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the columns of the source of flow \"%s\" changed since the flow was created", flow->name),
				 errdetail("The flow reads (%s); the feed now gives (%s).", made_for, now_reads ? now_reads : "no reader"),
				 errhint(flow->ignore_new_columns
						 ? "on_schema_change is 'ignore', which reads past added columns only: a column the flow reads was dropped, renamed or retyped. Nothing was read. Drop and create the flow for the new columns."
						 : flow->add_new_columns
						 ? "on_schema_change is 'add_columns', which follows added columns only: a column the flow reads was dropped, renamed or retyped. Nothing was read. Drop and create the flow for the new columns."
						 : "on_schema_change is 'fail': nothing was read. Drop and create the flow for the new columns.")));
}

/* JsonbMember returns the value of a key of a jsonb object, or NULL. */
static JsonbValue *
JsonbMember(Jsonb *object, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(&object->root, JB_FOBJECT, &k);
}

/* JsonbCount reads one count of a run's result (0 when absent). */
static Datum
JsonbCount(Jsonb *counts, const char *key)
{
	JsonbValue *v = JsonbMember(counts, key);

	if (v == NULL || v->type != jbvNumeric)
		return Int64GetDatum(0);
	return DirectFunctionCall1(numeric_int8, NumericGetDatum(v->val.numeric));
}

/* JsonbText returns a string member of a jsonb object, or errors. */
static char *
JsonbText(Jsonb *object, const char *key)
{
	JsonbValue *v = JsonbMember(object, key);

	if (v == NULL || v->type != jbvString)
		elog(ERROR, "medallion._flow_run returned no \"%s\"", key);
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * AdvanceEventWatermark moves a flow's event-time watermark to the newest
 * event time its run merged less the allowed lateness, if that is ahead:
 * the watermark never moves back.
 */
static void
AdvanceEventWatermark(const FlowRow *flow, Jsonb *counts)
{
	JsonbValue *newest = JsonbMember(counts, "newest_event_time");

	if (newest == NULL || newest->type != jbvString)
		return;
	RunAsOwner("UPDATE medallion.flow SET event_watermark = GREATEST(event_watermark, "
			   "  $2::pg_catalog.timestamptz OPERATOR(pg_catalog.-) COALESCE(allowed_lateness, '0'::pg_catalog.interval)) "
			   "WHERE flow_id OPERATOR(pg_catalog.=) $1 AND event_time IS NOT NULL",
			   2, (Oid[]) {INT4OID, TEXTOID},
			   (Datum[]) {Int32GetDatum(flow->flow_id),
						  CStringGetTextDatum(pnstrdup(newest->val.string.val, newest->val.string.len))},
			   SPI_OK_UPDATE);
}

/*
 * CallFlowRun calls medallion._flow_run(definition, expectations, run_id,
 * replay) directly, as the current role (the flow's owner): _flow_run is ours
 * and executable by nobody.
 */
static Datum
CallFlowRun(Oid run_fn, const char *definition, const char *expectations, int64 run_id, const char *replay)
{
	LOCAL_FCINFO(call, 4);
	FmgrInfo	flinfo;
	Datum		result;

	fmgr_info(run_fn, &flinfo);
	InitFunctionCallInfoData(*call, &flinfo, 4, InvalidOid, NULL, NULL);
	call->args[0].value = DirectFunctionCall1(jsonb_in, CStringGetDatum(definition));
	call->args[0].isnull = false;
	call->args[1].value = DirectFunctionCall1(jsonb_in, CStringGetDatum(expectations));
	call->args[1].isnull = false;
	call->args[2].value = Int64GetDatum(run_id);
	call->args[2].isnull = false;
	call->args[3].value = replay ? CStringGetTextDatum(replay) : (Datum) 0;
	call->args[3].isnull = replay == NULL;
	result = FunctionCallInvoke(call);
	if (call->isnull)
		elog(ERROR, "medallion._flow_run returned NULL");
	return result;
}

/*
 * medallion_run_flow runs a flow once in the caller's transaction, as the
 * flow's owner: medallion._flow_run consumes, transforms, checks and merges;
 * this records the run in the same transaction.  A run that fails is undone
 * (its subtransaction), recorded in a transaction of its own, and its error
 * raised.  Runs of one flow wait for each other (nowait: status 'busy').
 */
static Datum
RunFlow(FunctionCallInfo fcinfo, const char *action, bool nowait, const char *replay)
{
	FlowRow		flow;
	ReturnSetInfo *rsinfo;
	Datum		values[RUN_FLOW_COLUMNS];
	bool		nulls[RUN_FLOW_COLUMNS];
	LOCKTAG		tag;
	int64		run_id = 0;
	int64		from,
				to;
	TimestampTz started = GetCurrentTimestamp();
	MemoryContext oldcontext;
	ResourceOwner oldowner;
	Jsonb	   *counts = NULL;
	char	   *counts_text = NULL;
	int			i;

	FlowToRun(fcinfo, &flow, action);
	MaterializeResult(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	memset(nulls, true, sizeof(nulls));

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) flow.flow_id, 0, FLOW_LOCKTAG);
	if (LockAcquire(&tag, ExclusiveLock, false, nowait) == LOCKACQUIRE_NOT_AVAIL)
	{
		values[14] = CStringGetTextDatum("busy");
		nulls[14] = false;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		return (Datum) 0;
	}
	/* What it is now that no run of it is running: changed or dropped meanwhile. */
	if (!LoadFlowById(flow.flow_id, &flow))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("flow \"%s\" was dropped while this run waited for it", text_to_cstring(PG_GETARG_TEXT_PP(0))),
				 errhint("See medallion.flows.")));
	CheckFlowMember(&flow, action);
	CheckFlowCurrent(&flow);
	CheckSessionSafeForOwnerCode(&flow);
	/* Before "up to date": a changed source fails loudly (or, 'add_columns', widens the flow) even while nothing new came. */
	if (flow.add_new_columns)
		AddNewColumns(&flow);
	CheckBatchUnchanged(&flow);
	if (flow.paused)
	{
		values[14] = CStringGetTextDatum("paused");
		nulls[14] = false;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		return (Datum) 0;
	}
	if (replay == NULL && (to = UpToDateVersion(&flow)) >= 0)
	{
		values[1] = values[2] = Int64GetDatum(to);
		nulls[1] = nulls[2] = false;
		/* It read nothing: every count is 0 (a loop "until rows_in = 0" ends). */
		for (int i = 3; i < 14; i++)
		{
			values[i] = Int64GetDatum(0);
			nulls[i] = false;
		}
		values[14] = CStringGetTextDatum("up_to_date");
		nulls[14] = false;
		values[15] = DirectFunctionCall2(timestamp_mi, TimestampTzGetDatum(GetCurrentTimestamp()),
										 TimestampTzGetDatum(started));
		nulls[15] = false;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		return (Datum) 0;
	}
	{
		OwnerSwitch as_owner;

		BeginAsOwner(&as_owner);
		SpiConnect();
		(void) SpiSelectInt64("SELECT pg_catalog.nextval('medallion.flow_run_id_seq')", 0, NULL, NULL, &run_id);
		SPI_finish();
		EndAsRole(&as_owner);
	}
	from = ConsumerWatermark(flow.consumer);

	oldcontext = CurrentMemoryContext;
	oldowner = CurrentResourceOwner;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		OwnerSwitch as_flow_owner;
		Oid			argtypes[4] = {JSONBOID, JSONBOID, INT8OID, TEXTOID};
		Oid			run_fn;
		Datum		result;
		char	   *run_json;

		/* The run id goes with the watermarks the run moves and with what its merge quarantines. */
		(void) set_config_option("pg_medallion.run_id", psprintf(INT64_FORMAT, run_id), PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);
		run_fn = LookupFuncName(list_make2(makeString(MEDALLION_SCHEMA), makeString("_flow_run")), 4, argtypes, false);
		LoadFlowDefinition(&flow);
		BeginAsRole(flow.owner, &as_flow_owner);
		/* Quarantined rows become jsonb: a cast to json of the source's types is its owner's code, not ours to run here. */
		CheckJsonReadRunsNoForeignCode(get_rel_type_id(flow.batch_table), RelationOwner(flow.source), flow.source);
		result = CallFlowRun(run_fn, flow.definition, flow.expectations, run_id, replay);
		/* The transform raised a data error over the whole batch: isolate the rows that raise, then go on. */
		if (JsonbMember(DatumGetJsonbP(result), "isolate") != NULL)
		{
			Jsonb	   *step = DatumGetJsonbP(result);
			int64		rows_in = DatumGetInt64(JsonbCount(step, "rows_in"));
			int64		rows_out = DatumGetInt64(JsonbCount(step, "rows_out"));
			int64		more;
			int64		refused;
			char	   *isolated;
			Datum		definition;

			TransformIsolatingRows(flow.batch_table, JsonbText(step, "range_insert"), JsonbText(step, "range_insert_noting"),
								   JsonbText(step, "quarantine_insert"), run_id, &more, &refused);
			isolated = psprintf("{\"isolated\": {\"rows_in\": " INT64_FORMAT ", \"rows_out\": " INT64_FORMAT
											", \"transform_errors\": " INT64_FORMAT "}}", rows_in, rows_out + more, refused);
			definition = DirectFunctionCall2(jsonb_concat,
											 DirectFunctionCall1(jsonb_in, CStringGetDatum(flow.definition)),
											 DirectFunctionCall1(jsonb_in, CStringGetDatum(isolated)));

			result = CallFlowRun(run_fn, DatumGetCString(DirectFunctionCall1(jsonb_out, definition)),
								 flow.expectations, run_id, replay);
		}
		EndAsRole(&as_flow_owner);
		counts = DatumGetJsonbPCopy(result);
		counts_text = JsonbToCString(NULL, &counts->root, VARSIZE(counts));
		AdvanceEventWatermark(&flow, counts);
		to = ConsumerWatermark(flow.consumer);
		run_json = RunRowJson(&flow, run_id, started, "succeeded", from, to, counts_text, NULL);
		RunAsOwner("INSERT INTO medallion.flow_run SELECT * FROM "
				   "pg_catalog.jsonb_populate_record(NULL::medallion.flow_run, $1::pg_catalog.jsonb)",
				   1, (Oid[]) {TEXTOID}, (Datum[]) {CStringGetTextDatum(run_json)}, SPI_OK_INSERT);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		char		message[512];

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		/* Only errors of the run are recorded: a cancel or shutdown just stops it. */
		if (edata->sqlerrcode != ERRCODE_QUERY_CANCELED && edata->sqlerrcode != ERRCODE_ADMIN_SHUTDOWN)
		{
			/* Recording must not replace the run's own error: it runs in a subtransaction, its failure a warning. */
			volatile bool recorded = false;

			message[0] = '\0';
			BeginInternalSubTransaction(NULL);
			MemoryContextSwitchTo(oldcontext);
			PG_TRY();
			{
				recorded = RecordInOwnTransaction(RunRowJson(&flow, run_id, started, "failed", from, from, NULL, edata),
												  message, sizeof(message));
				ReleaseCurrentSubTransaction();
			}
			PG_CATCH();
			{
				ErrorData  *record_error;

				MemoryContextSwitchTo(oldcontext);
				record_error = CopyErrorData();
				FlushErrorState();
				RollbackAndReleaseCurrentSubTransaction();
				strlcpy(message, record_error->message ? record_error->message : "", sizeof(message));
			}
			PG_END_TRY();
			MemoryContextSwitchTo(oldcontext);
			CurrentResourceOwner = oldowner;
			if (!recorded)
				ereport(WARNING,
						(errmsg("run " INT64_FORMAT " of flow \"%s\" failed and could not be recorded: %s",
								run_id, flow.name, message)));
		}
		ReThrowError(edata);
	}
	PG_END_TRY();

	values[0] = Int64GetDatum(run_id);
	values[1] = Int64GetDatum(from);
	values[2] = Int64GetDatum(to);
	{
		const char *keys[] = {"rows_in", "rows_out", "inserted", "updated", "deleted", "unchanged", "stale",
		"rejected", "dropped", "quarantined", "warned"};

		for (i = 0; i < 11; i++)
			values[3 + i] = JsonbCount(counts, keys[i]);
	}
	values[14] = CStringGetTextDatum("succeeded");
	values[15] = DirectFunctionCall2(timestamp_mi, TimestampTzGetDatum(GetCurrentTimestamp()),
									 TimestampTzGetDatum(started));
	for (i = 0; i < RUN_FLOW_COLUMNS; i++)
		nulls[i] = false;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/* medallion_run_flow runs a flow once (RunFlow). */
Datum
medallion_run_flow(PG_FUNCTION_ARGS)
{
	return RunFlow(fcinfo, "run", PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1), NULL);
}

/*
 * medallion_replay_quarantine runs a flow's quarantined rows that match a
 * condition (all of them without one) through its current transform,
 * expectations and merge, as a run of its own: replayed rows leave the
 * quarantine, rows refused again come back with the new run id.  The merge's
 * sequence guard keeps an old row from overwriting a newer one; replaying
 * twice replays nothing the second time.
 */
Datum
medallion_replay_quarantine(PG_FUNCTION_ARGS)
{
	return RunFlow(fcinfo, "replay", false, PG_ARGISNULL(1) ? "true" : text_to_cstring(PG_GETARG_TEXT_PP(1)));
}

/* medallion_flow_quarantine returns a flow's quarantined rows, to roles that may read its source. */
Datum
medallion_flow_quarantine(PG_FUNCTION_ARGS)
{
	FlowRow		flow;
	char	   *name = TextArg(fcinfo, 0, "flow");
	ReturnSetInfo *rsinfo;
	OwnerSwitch as_owner;
	uint64		i;

	if (!LoadFlow(name, &flow))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("flow \"%s\" does not exist", name),
				 errhint("See medallion.flows.")));
	/*
	 * The quarantine holds source rows and transformed rows: members of the
	 * flow's owner who may read the source read it, nobody else.  Its table
	 * belongs to the owner, so it is read as the owner (never elevated), and
	 * every column is cast to the type this function returns.
	 */
	CheckFlowMember(&flow, "read the quarantine of");
	CheckSourceReadable(flow.source);
	MaterializeResult(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	BeginAsRole(flow.owner, &as_owner);
	SpiConnect();
	(void) SpiExecute(psprintf("SELECT q.run_id::pg_catalog.int8, q.rule::pg_catalog.text, q.source_version::pg_catalog.int8, "
							   "q.error::pg_catalog.text, q.record::pg_catalog.jsonb, q.transformed::pg_catalog.bool, "
							   "q.quarantined_at::pg_catalog.timestamptz FROM %s AS q ORDER BY 1, 7",
							   RelationDisplayName(flow.quarantine_table)),
					  0, NULL, NULL, true, 0, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		Datum		values[7];
		bool		nulls[7];
		int			j;

		for (j = 0; j < 7; j++)
			values[j] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, j + 1, &nulls[j]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	EndAsRole(&as_owner);
	return (Datum) 0;
}

/* CronInstalled errors unless pg_cron is installed in this database. */
static void
CheckCronInstalled(void)
{
	if (!OidIsValid(get_extension_oid("pg_cron", true)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("scheduling a flow needs the extension pg_cron in this database"),
				 errhint("Install postgresql-15-cron, add pg_cron to shared_preload_libraries, set cron.database_name to this "
						 "database, then CREATE EXTENSION pg_cron; or call medallion.run_flow from your own scheduler.")));
}

/* RemoveCronJob removes a flow's pg_cron job (as the caller) when pg_cron is installed; true if there was one. */
static bool
RemoveCronJob(const FlowRow *flow)
{
	int			spi_nest;
	int64		jobs = 0;
	char	   *job_name = psprintf("medallion flow %s", flow->name);

	if (!OidIsValid(get_extension_oid("pg_cron", true)))
		return false;
	spi_nest = SpiConnectPinned();
	(void) SpiSelectInt64("SELECT pg_catalog.count(*) FROM cron.job WHERE jobname OPERATOR(pg_catalog.=) $1", 1,
						  (Oid[]) {TEXTOID}, (Datum[]) {CStringGetTextDatum(job_name)}, &jobs);
	if (jobs > 0)
		(void) SpiExecute("SELECT cron.unschedule($1)", 1, (Oid[]) {TEXTOID}, (Datum[]) {CStringGetTextDatum(job_name)},
						  false, 0, SPI_OK_SELECT);
	SpiFinishPinned(spi_nest);
	return jobs > 0;
}

/* SetContinuous marks a flow continuous or not; true if that changed it.  The flow runner hears of it at commit. */
static bool
SetContinuous(const FlowRow *flow, bool continuous)
{
	uint64		changed;

	changed = RunAsOwner("UPDATE medallion.flow SET continuous = $2 WHERE flow_id OPERATOR(pg_catalog.=) $1 "
						 "AND continuous OPERATOR(pg_catalog.<>) $2",
						 2, (Oid[]) {INT4OID, BOOLOID}, (Datum[]) {Int32GetDatum(flow->flow_id), BoolGetDatum(continuous)},
						 SPI_OK_UPDATE);
	ChangeBellRingAtCommit();
	return changed > 0;
}

/*
 * medallion_schedule_flow runs a flow on a pg_cron schedule (creating or
 * replacing its job; returns the job id), or continuously: the flow runner
 * (runner.c) runs it whenever its source may have new changes (returns
 * NULL).  One replaces the other.
 */
Datum
medallion_schedule_flow(PG_FUNCTION_ARGS)
{
	FlowRow		flow;
	char	   *schedule = TextArg(fcinfo, 1, "schedule");
	int			spi_nest;
	int64		job = 0;

	FlowByName(fcinfo, 0, &flow, "schedule");
	if (strcmp(schedule, "continuous") == 0)
	{
		CheckContinuousFlowsAvailable(flow.name);
		(void) RemoveCronJob(&flow);
		(void) SetContinuous(&flow, true);
		PG_RETURN_NULL();
	}
	CheckCronInstalled();
	/* As the caller: the job belongs to them; every run runs as the flow's owner anyway. */
	spi_nest = SpiConnectPinned();
	(void) SpiSelectInt64("SELECT cron.schedule($1, $2, $3)", 3, (Oid[]) {TEXTOID, TEXTOID, TEXTOID},
						  (Datum[]) {CStringGetTextDatum(psprintf("medallion flow %s", flow.name)),
									 CStringGetTextDatum(schedule),
									 CStringGetTextDatum(psprintf("SELECT * FROM medallion.run_flow(%s)",
																  quote_literal_cstr(flow.name)))},
						  &job);
	SpiFinishPinned(spi_nest);
	(void) SetContinuous(&flow, false);
	PG_RETURN_INT64(job);
}

/* medallion_unschedule_flow stops running a flow continuously and removes its pg_cron job; false if it had neither. */
Datum
medallion_unschedule_flow(PG_FUNCTION_ARGS)
{
	FlowRow		flow;
	bool		was_continuous;

	FlowByName(fcinfo, 0, &flow, "schedule");
	was_continuous = SetContinuous(&flow, false);
	if (!was_continuous)
		CheckCronInstalled();
	PG_RETURN_BOOL(RemoveCronJob(&flow) || was_continuous);
}
