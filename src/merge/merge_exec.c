/*-------------------------------------------------------------------------
 *
 * merge_exec.c
 *	  apply_changes: plans a merge (once per target, options and source)
 *	  and runs it: the streaming statement with its side outputs (rows set
 *	  aside, tombstones) or the whole-batch statement, and counts results.
 *	  What is merged is decided by merge_spec.c; the SQL is written by
 *	  merge_sql.c.
 *
 * Calls on one target are serialised by LockMergeTarget before the
 * statement's snapshot, so in READ COMMITTED the second call sees what the
 * first committed (readers and other writers of the target are not
 * blocked).  Plans are kept per (target, options, source) and dropped by a
 * relcache callback when the target, its state table or a relation the
 * statement reads changes (and when any function changes).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "merge/merge_exec.h"

#include "merge/merge_spec.h"
#include "merge/merge_sql.h"

#include "base/objects.h"
#include "base/spi.h"
#include "settings.h"
#include "base/export.h"
#include "base/result.h"

#include "common/hashfn.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_coerce.h"
#include "parser/parser.h"
#include "parser/parsetree.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/fmgroids.h"
#include "utils/snapmgr.h"
#include "access/xact.h"
#include "utils/guc.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"
#include "utils/varlena.h"

PG_FUNCTION_INFO_V1(medallion_apply_changes);
PG_FUNCTION_INFO_V1(medallion_merge_tally);
PG_FUNCTION_INFO_V1(medallion_merge_stash);
PG_FUNCTION_INFO_V1(medallion_merge_ordinal);
PG_FUNCTION_INFO_V1(medallion_merge_stashed);
PG_FUNCTION_INFO_V1(medallion_merge_statements);

#define MERGE_RESULT_COLUMNS 6

/*
 * Counts of the running merge, in result column order (inserted, updated,
 * deleted, unchanged, stale_skipped, rejected).  The SCD1 statement is a
 * MERGE, which returns no rows: the executor's own MERGE counters give
 * inserted/updated/deleted (read in an ExecutorEnd hook), and
 * medallion._merge_tally adds the rest from inside the statement.
 */
#define MERGE_TALLY_RAW 6		/* the streaming statement's batch rows, before exact copies go */
static int64 merge_tally[MERGE_RESULT_COLUMNS + 1];
static bool merge_tally_active = false;
static ExecutorEnd_hook_type prev_executor_end = NULL;

/*
 * The streaming statement's side output (merge_sql.c, MergeStreamSql):
 * rows it sets aside (kind 0) and tombstones to keep (kind 1), each a
 * tuplestore of one anonymous row type, filled by _merge_stash while the
 * streaming statement runs and handed to the statement that reads it by
 * _merge_stashed.  Lives for one apply_changes call.
 */
#define MERGE_STASH_KINDS 2
typedef enum MergeStashPhase
{
	STASH_NONE,					/* no streaming merge running */
	STASH_FILLING,				/* the streaming statement runs */
	STASH_READING				/* the statements after it run */
} MergeStashPhase;
static MergeStashPhase merge_stash_phase = STASH_NONE;
static MemoryContext merge_stash_context = NULL;
static Tuplestorestate *merge_stash[MERGE_STASH_KINDS];
static Oid	merge_stash_type[MERGE_STASH_KINDS];
static int32 merge_stash_typmod[MERGE_STASH_KINDS];
#define MERGE_PLAN_LIMIT 64

/* A prepared merge, kept across calls. */
typedef struct MergePlan
{
	char	   *key;			/* target oid and every option, source text last */
	Oid			target;
	Oid			state_table;
	SPIPlanPtr	plan;
	SPIPlanPtr	tombstone_plan; /* streaming only: MergeTombstoneSql */
	SPIPlanPtr	deferred_plan;	/* streaming only: MergeStatementSql over the rows set aside */
	bool		sorted_lookups; /* streaming over a join-free source: planned without hash joins */
	List	   *relations;		/* every relation the statement reads (the source's too), in merge_plan_context */
	bool		valid;
} MergePlan;

static List *merge_plans = NIL;
static MemoryContext merge_plan_context = NULL;


/* MergePlanInvalidate marks plans of a changed relation (or of every relation) for rebuild. */
static void
MergePlanInvalidate(Datum arg, Oid relid)
{
	ListCell   *lc;

	foreach(lc, merge_plans)
	{
		MergePlan  *p = lfirst(lc);

		if (!OidIsValid(relid) || p->target == relid || p->state_table == relid || list_member_oid(p->relations, relid))
			p->valid = false;
	}
}

/*
 * MergePlanInvalidateAll drops every kept merge when a function changes: the
 * generated SQL names the source's columns as they were when it was built,
 * and a source's columns can come from a function (a feed's reader,
 * replaced when its table's columns change).
 */
static void
MergePlanInvalidateAll(Datum arg, int cacheid, uint32 hashvalue)
{
	MergePlanInvalidate(arg, InvalidOid);
}

/* PlanKey returns the cache key of a call: the target and every option that shapes the SQL. */
static char *
PlanKey(const MergeArgs *a, FunctionCallInfo fcinfo)
{
	static const int option_args[] = {2, 3, 4, 5, 6, 7, 10};
	StringInfoData buf;
	size_t		i;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%u|%d|%d|%d", a->target, a->scd_type, a->ignore_null_updates,
					 medallion_merge_streaming);
	for (i = 0; i < lengthof(option_args); i++)
	{
		int			n = option_args[i];
		char	   *value;

		if (PG_ARGISNULL(n))
		{
			appendStringInfoString(&buf, "|-");
			continue;
		}
		value = (n == 4 || n == 5) ? TextDatumGetCString(PG_GETARG_DATUM(n))
			: OidOutputFunctionCall(F_ARRAY_OUT, PG_GETARG_DATUM(n));
		appendStringInfo(&buf, "|%zu:%s", strlen(value), value);
	}
	appendStringInfo(&buf, "|%s", a->source);
	return buf.data;
}

/* FreePlans frees a kept merge's prepared statements. */
static void
FreePlans(MergePlan *p)
{
	if (p->plan)
		SPI_freeplan(p->plan);
	if (p->tombstone_plan)
		SPI_freeplan(p->tombstone_plan);
	if (p->deferred_plan)
		SPI_freeplan(p->deferred_plan);
	p->plan = p->tombstone_plan = p->deferred_plan = NULL;
}

/* PrepareKept prepares one statement of a merge ($1 = the target) and keeps it. */
static SPIPlanPtr
PrepareKept(const MergeSpec *spec, const char *sql, int cursor_options)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, 1, (Oid[]) {REGCLASSOID}, cursor_options);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare of the merge failed: %s", SPI_result_code_string(SPI_result));
	elog(DEBUG1, "pg_medallion merge of %s: %s", spec->target_sql, sql);
	SPI_keepplan(plan);
	return plan;
}

/* GetMergePlan returns a valid kept plan for the call, building (and registering state) on a miss. */
static MergePlan *
GetMergePlan(const MergeArgs *args, FunctionCallInfo fcinfo)
{
	char	   *key = PlanKey(args, fcinfo);
	ListCell   *lc;
	MergePlan  *entry = NULL;
	MergeSpec  *spec;
	SPIPlanPtr	plan,
				tombstone_plan = NULL,
				deferred_plan = NULL;
	MergeStatements statements;
	MemoryContext old;

	if (merge_plan_context == NULL)
	{
		merge_plan_context = AllocSetContextCreate(CacheMemoryContext, "pg_medallion merge plans",
												   ALLOCSET_SMALL_SIZES);
		CacheRegisterRelcacheCallback(MergePlanInvalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(PROCOID, MergePlanInvalidateAll, (Datum) 0);
	}
	foreach(lc, merge_plans)
	{
		MergePlan  *p = lfirst(lc);

		if (strcmp(p->key, key) == 0)
		{
			entry = p;
			break;
		}
	}
	if (entry && entry->valid && SearchSysCacheExists1(RELOID, ObjectIdGetDatum(entry->state_table)))
		return entry;
	if (entry)
		FreePlans(entry);

	spec = BuildSpec(args);
	spec->state_table = RegisteredState(spec, args);
	if (!OidIsValid(spec->state_table))
	{
		/*
		 * The caller holds the target's merge lock (LockMergeTarget): a
		 * concurrent first merge waited for it and, in READ COMMITTED, found
		 * the state the first one registered.  Under a transaction snapshot
		 * that registration may be invisible: a serialization failure, not
		 * a second state table.
		 */
		if (IsolationUsesXactSnapshot() && TargetRegisteredNow(spec->target))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to a concurrent first merge into %s", spec->target_sql),
					 errhint("Retry the transaction.")));
		spec->state_table = CreateState(spec, args);
	}
	spec->state_sql = RelationDisplayName(spec->state_table);

	MergeStatementsOf(spec, &statements);
	/* Streaming: generic, ExecuteStreaming plans it before running it (its $1 is unused). */
	plan = PrepareKept(spec, statements.main, spec->streaming ? CURSOR_OPT_GENERIC_PLAN : 0);
	if (spec->streaming)
	{
		tombstone_plan = PrepareKept(spec, statements.tombstones, 0);
		deferred_plan = PrepareKept(spec, statements.set_aside, 0);
	}

	old = MemoryContextSwitchTo(merge_plan_context);
	if (entry == NULL && list_length(merge_plans) >= MERGE_PLAN_LIMIT)
	{
		/* Sources that embed values in their text would grow the cache forever: drop the oldest. */
		MergePlan  *oldest = linitial(merge_plans);

		FreePlans(oldest);
		list_free(oldest->relations);
		pfree(oldest->key);
		pfree(oldest);
		merge_plans = list_delete_first(merge_plans);
	}
	if (entry == NULL)
	{
		entry = palloc0(sizeof(MergePlan));
		entry->key = pstrdup(key);
		merge_plans = lappend(merge_plans, entry);
	}
	MemoryContextSwitchTo(old);
	entry->target = spec->target;
	entry->state_table = spec->state_table;
	entry->plan = plan;
	entry->tombstone_plan = tombstone_plan;
	entry->deferred_plan = deferred_plan;
	entry->sorted_lookups = spec->streaming && spec->source_joins_nothing;
	/*
	 * The generated SQL names the source's columns as they are now: a source
	 * table (or one a source query reads) altered, or dropped and made anew
	 * with other columns, must rebuild it, not just re-plan it.
	 */
	list_free(entry->relations);
	old = MemoryContextSwitchTo(merge_plan_context);
	entry->relations = NIL;
	{
		ListCell   *ps;

		foreach(ps, SPI_plan_get_plan_sources(plan))
			entry->relations = list_concat_unique_oid(entry->relations,
													  ((CachedPlanSource *) lfirst(ps))->relationOids);
	}
	MemoryContextSwitchTo(old);
	entry->valid = true;
	return entry;
}

/* MergeExecutorEnd reads the executor's MERGE counters of the merge statement while one runs. */
static void
MergeExecutorEnd(QueryDesc *queryDesc)
{
	/* Nested statements (triggers on the target) end first; the merge's own MERGE ends last. */
	if (merge_tally_active && queryDesc->operation == CMD_MERGE && queryDesc->planstate &&
		IsA(queryDesc->planstate, ModifyTableState))
	{
		ModifyTableState *mt = (ModifyTableState *) queryDesc->planstate;

		merge_tally[0] = (int64) mt->mt_merge_inserted;
		merge_tally[1] = (int64) mt->mt_merge_updated;
		merge_tally[2] += (int64) mt->mt_merge_deleted;
	}
	if (prev_executor_end)
		prev_executor_end(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

/* MergeInit installs the executor hook that counts MERGE results; called once from _PG_init. */
void
MergeInit(void)
{
	prev_executor_end = ExecutorEnd_hook;
	ExecutorEnd_hook = MergeExecutorEnd;
}

/* ExecuteTallied runs the SCD1 statement with the counts reset and collected. */
static int
ExecuteTallied(SPIPlanPtr plan, Datum target_arg)
{
	int			rc = 0;

	memset(merge_tally, 0, sizeof(merge_tally));
	merge_tally_active = true;
	PG_TRY();
	{
		rc = SPI_execute_plan(plan, &target_arg, NULL, false, 0);
	}
	PG_FINALLY();
	{
		merge_tally_active = false;
	}
	PG_END_TRY();
	return rc;
}

/* medallion_merge_tally adds n to count kind of the running merge; true, so it can sit in a condition. */
Datum
medallion_merge_tally(PG_FUNCTION_ARGS)
{
	int32		kind = PG_GETARG_INT32(0);

	if (merge_tally_active && kind >= 0 && kind <= MERGE_TALLY_RAW)
		merge_tally[kind] += PG_GETARG_INT64(1);
	PG_RETURN_BOOL(true);
}

/* medallion_merge_ordinal returns the next number of the session: rows that must not look like copies. */
Datum
medallion_merge_ordinal(PG_FUNCTION_ARGS)
{
	static int64 ordinal = 0;

	PG_RETURN_INT64(++ordinal);
}

/* StashKind returns the stash kind argument after checking the phase allows the call. */
static int
StashKind(FunctionCallInfo fcinfo, MergeStashPhase phase, const char *fname)
{
	int32		kind = PG_ARGISNULL(0) ? -1 : PG_GETARG_INT32(0);

	if (merge_stash_phase != phase || kind < 0 || kind >= MERGE_STASH_KINDS)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("medallion.%s is internal to apply_changes", fname),
				 errhint("Call medallion.apply_changes instead.")));
	return kind;
}

/* medallion_merge_stash adds a row to a stash of the running streaming merge; true. */
Datum
medallion_merge_stash(PG_FUNCTION_ARGS)
{
	int			kind = StashKind(fcinfo, STASH_FILLING, "_merge_stash");
	HeapTupleHeader rec;
	HeapTupleData tuple;
	MemoryContext old;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("medallion._merge_stash got a NULL row"),
				 errhint("medallion._merge_stash is internal to apply_changes; do not call it.")));
	rec = PG_GETARG_HEAPTUPLEHEADER(1);
	old = MemoryContextSwitchTo(merge_stash_context);
	if (merge_stash[kind] == NULL)
	{
		merge_stash[kind] = tuplestore_begin_heap(false, false, work_mem);
		merge_stash_type[kind] = HeapTupleHeaderGetTypeId(rec);
		merge_stash_typmod[kind] = HeapTupleHeaderGetTypMod(rec);
	}
	else if (HeapTupleHeaderGetTypeId(rec) != merge_stash_type[kind] ||
			 HeapTupleHeaderGetTypMod(rec) != merge_stash_typmod[kind])
	{
		/* A row of another layout (a caller's own call from its source query) would be read back as this one. */
		MemoryContextSwitchTo(old);
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("medallion._merge_stash got a row of another type than the rows set aside"),
				 errhint("medallion._merge_stash is internal to apply_changes; do not call it.")));
	}
	tuple.t_len = HeapTupleHeaderGetDatumLength(rec);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = rec;
	tuplestore_puttuple(merge_stash[kind], &tuple);
	MemoryContextSwitchTo(old);
	PG_RETURN_BOOL(true);
}

/*
 * medallion_merge_stashed returns a stash as a set of records, handing its
 * tuplestore to the executor (which ends it); read once.
 */
Datum
medallion_merge_stashed(PG_FUNCTION_ARGS)
{
	int			kind = StashKind(fcinfo, STASH_READING, "_merge_stashed");
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext old;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) || !(rsinfo->allowedModes & SFRM_Materialize) ||
		rsinfo->expectedDesc == NULL)
		elog(ERROR, "_merge_stashed must be called in FROM with a column definition list");
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	rsinfo->returnMode = SFRM_Materialize;
	if (merge_stash[kind] != NULL)
	{
		/* The executor checks this row type against the column definition list. */
		rsinfo->setDesc = lookup_rowtype_tupdesc_copy(merge_stash_type[kind], merge_stash_typmod[kind]);
		rsinfo->setResult = merge_stash[kind];
		merge_stash[kind] = NULL;
	}
	else
	{
		rsinfo->setDesc = CreateTupleDescCopy(rsinfo->expectedDesc);
		rsinfo->setResult = tuplestore_begin_heap(false, false, work_mem);
	}
	MemoryContextSwitchTo(old);
	PG_RETURN_NULL();
}

/*
 * ExecuteStreaming runs a streaming SCD1 merge: the streaming statement,
 * then, if it set anything aside, the tombstone upkeep and the full
 * statement over the rows set aside.  counts gets the sum of both merges.
 */
static void
ExecuteStreaming(MergePlan *mp, Datum target_arg, int64 *counts)
{
	int			rc,
				i;
	int64		raw;

	merge_stash_context = AllocSetContextCreate(CurrentMemoryContext, "pg_medallion merge stash",
												ALLOCSET_DEFAULT_SIZES);
	memset(merge_stash, 0, sizeof(merge_stash));
	PG_TRY();
	{
		CachedPlan *cplan = NULL;

		merge_stash_phase = STASH_FILLING;

		/*
		 * The batch leaves its sort in key order, and the target and the
		 * tombstones both have a btree on the key: merge joins (or index
		 * probes, for a small batch) read them in that order.  The planner,
		 * misled by the filters' default selectivities, picks a hash join
		 * for the tombstones, which costs ~15% of a re-applied batch
		 * (bench merge_reapply).  So the statement is planned without hash
		 * joins when the source joins nothing itself (a view's or a query's
		 * own joins keep every join method).  Only planned so: the setting
		 * is over before it runs, so queries planned while it runs (the
		 * target's triggers) do not inherit it.  Should an invalidation
		 * arrive in between, it is replanned as usual: slower, not wrong.
		 */
		if (mp->sorted_lookups)
		{
			int			guc_level = NewGUCNestLevel();

			(void) set_config_option("enable_hashjoin", "off", PGC_USERSET, PGC_S_SESSION,
									 GUC_ACTION_SAVE, true, 0, false);
			cplan = SPI_plan_get_cached_plan(mp->plan);
			AtEOXact_GUC(true, guc_level);
		}
		rc = ExecuteTallied(mp->plan, target_arg);
		if (cplan != NULL)
			ReleaseCachedPlan(cplan, CurrentResourceOwner);
		if (rc != SPI_OK_MERGE)
			elog(ERROR, "the merge statement returned %s", SPI_result_code_string(rc));
		memcpy(counts, merge_tally, sizeof(int64) * MERGE_RESULT_COLUMNS);
		raw = merge_tally[MERGE_TALLY_RAW];
		merge_stash_phase = STASH_READING;
		/* Tombstones first: the rows set aside are judged against them. */
		if (merge_stash[1] != NULL)
		{
			rc = SPI_execute_plan(mp->tombstone_plan, &target_arg, NULL, false, 0);
			if (rc != SPI_OK_SELECT)
				elog(ERROR, "the tombstone statement returned %s", SPI_result_code_string(rc));
		}
		if (merge_stash[0] != NULL)
		{
			rc = ExecuteTallied(mp->deferred_plan, target_arg);
			if (rc != SPI_OK_MERGE)
				elog(ERROR, "the merge statement returned %s", SPI_result_code_string(rc));
			for (i = 0; i < MERGE_RESULT_COLUMNS; i++)
				counts[i] += merge_tally[i];
		}
		/* Every row is counted once; the exact copies the streaming statement dropped are skipped. */
		for (i = 0; i < MERGE_RESULT_COLUMNS; i++)
			raw -= counts[i];
		counts[4] += raw;
	}
	PG_FINALLY();
	{
		merge_stash_phase = STASH_NONE;
		for (i = 0; i < MERGE_STASH_KINDS; i++)
			if (merge_stash[i] != NULL)
				tuplestore_end(merge_stash[i]);
		memset(merge_stash, 0, sizeof(merge_stash));
		MemoryContextDelete(merge_stash_context);
		merge_stash_context = NULL;
	}
	PG_END_TRY();
}

/*
 * medallion_apply_changes merges a batch of changes into a target and
 * returns one row of counts.  Everything happens in the caller's
 * transaction; one statement reads the source, once.
 */
Datum
medallion_apply_changes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MergeArgs	args;
	MergePlan  *mp;
	Datum		values[MERGE_RESULT_COLUMNS];
	int64		counts[MERGE_RESULT_COLUMNS];
	bool		nulls[MERGE_RESULT_COLUMNS] = {false};
	Datum		target_arg;
	int			rc;
	int			i;
	int			guc_level;

	ReadArgs(fcinfo, &args);
	CheckWritable(args.target, args.target);
	/* After the privilege check (no lock for who may not merge), before anything else. */
	LockMergeTarget(args.target);
	MaterializeResult(fcinfo, 0);

	SpiConnect();
	mp = GetMergePlan(&args, fcinfo);
	CheckWritable(mp->state_table, args.target);

	/* Before the statement's snapshot: one merge per target at a time. */
	LockRelationOid(mp->state_table, ExclusiveLock);

	/*
	 * No JIT for this statement: its plan is costly enough to cross the JIT
	 * thresholds, and compiling its ~200 expressions with inlining costs
	 * seconds, more than executing them.  Set like a function's SET clause
	 * (restored below, or by the error) so it is in force when the cached
	 * plan is built.
	 */
	guc_level = NewGUCNestLevel();
	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

	target_arg = ObjectIdGetDatum(args.target);
	if (args.scd_type == 1)
	{
		/* Not reentrant: a merge inside a merge's source would mix counts. */
		if (merge_tally_active)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("apply_changes cannot run inside another apply_changes"),
					 errhint("Merge the batches one after the other.")));
		if (mp->tombstone_plan != NULL)
			ExecuteStreaming(mp, target_arg, counts);
		else
		{
			rc = ExecuteTallied(mp->plan, target_arg);
			if (rc != SPI_OK_MERGE)
				elog(ERROR, "the merge statement returned %s", SPI_result_code_string(rc));
			memcpy(counts, merge_tally, sizeof(int64) * MERGE_RESULT_COLUMNS);
		}
		for (i = 0; i < MERGE_RESULT_COLUMNS; i++)
			values[i] = Int64GetDatum(counts[i]);
	}
	else
	{
		rc = SPI_execute_plan(mp->plan, &target_arg, NULL, false, 0);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "the merge statement returned %s", SPI_result_code_string(rc));
		for (i = 0; i < MERGE_RESULT_COLUMNS; i++)
		{
			bool		isnull;

			values[i] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull);
		}
	}
	AtEOXact_GUC(true, guc_level);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	SPI_finish();
	return (Datum) 0;
}

/* AddStatement appends one (step, statement) row to a materialized result. */
static void
AddStatement(ReturnSetInfo *rsinfo, const char *step, const char *sql)
{
	Datum		values[2] = {CStringGetTextDatum(step), CStringGetTextDatum(sql)};
	bool		nulls[2] = {false, false};

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * medallion_merge_statements returns the statements apply_changes would run
 * for the same arguments, in the order it runs them, without running them or
 * creating anything: for review (the regress test merge_statements keeps them
 * as golden files) and for debugging a merge.  Needs what apply_changes needs
 * on the target.  A target not merged yet names its state table as
 * medallion_state."(created by the first merge)".
 */
Datum
medallion_merge_statements(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MergeArgs	args;
	MergeSpec  *spec;
	MergeStatements statements;

	ReadArgs(fcinfo, &args);
	CheckWritable(args.target, args.target);
	MaterializeResult(fcinfo, 0);

	SpiConnect();
	spec = BuildSpec(&args);
	spec->state_table = RegisteredState(spec, &args);
	spec->state_sql = OidIsValid(spec->state_table) ? RelationDisplayName(spec->state_table)
		: "medallion_state.\"(created by the first merge)\"";
	MergeStatementsOf(spec, &statements);
	AddStatement(rsinfo, spec->streaming ? "stream" : "merge", statements.main);
	if (spec->streaming)
	{
		AddStatement(rsinfo, "tombstones", statements.tombstones);
		AddStatement(rsinfo, "set_aside", statements.set_aside);
	}
	SPI_finish();
	return (Datum) 0;
}
