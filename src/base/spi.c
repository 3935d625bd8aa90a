/*-------------------------------------------------------------------------
 *
 * spi.c
 *	  The SPI calls every module shares: connect (with search_path pinned
 *	  when the caller's path would otherwise apply), run one statement and
 *	  insist on its result, read one value, and run generated SQL as the
 *	  extension owner or a table's owner.
 *
 * A failure here is a can't-happen (our own SQL against our own catalog):
 * elog, naming the statement, never a user-facing ereport.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "base/spi.h"

#include "base/objects.h"
#include "base/privilege.h"

#include "executor/spi_priv.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/plancache.h"

static bool SpiFirstInt64(uint64 processed, int64 *result);

/* SpiConnect connects to SPI; for code that already runs elevated (BeginAsRole pins the path). */
void
SpiConnect(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/* SpiConnectPinned connects to SPI with search_path pinned (BeginPinnedPath); returns what SpiFinishPinned needs. */
int
SpiConnectPinned(void)
{
	SpiConnect();
	return BeginPinnedPath();
}

/* SpiFinishPinned undoes SpiConnectPinned. */
void
SpiFinishPinned(int nestlevel)
{
	SPI_finish();
	EndPinnedPath(nestlevel);
}

/*
 * SpiExecute runs one statement with parameters and returns SPI_processed;
 * a result other than `expected` (an SPI_OK_* code) is a can't-happen error
 * naming the statement.  count limits the rows (0: all).
 */
uint64
SpiExecute(const char *sql, int nargs, Oid *argtypes, Datum *args, bool read_only, long count, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, argtypes, args, NULL, read_only, count);

	if (rc != expected)
		elog(ERROR, "statement failed (%s): %s", SPI_result_code_string(rc), sql);
	return SPI_processed;
}

/*
 * Statements prepared once per process and kept (SPI_keepplan), by text, so
 * hot paths (the clock, consume, reads) do not parse, analyse and plan the
 * same statement on every call.  Two stores: our fixed statements (their
 * number is bounded by the code: overflowing it is a bug), and generated
 * reads of change tables (one text per feed and column list: the least
 * recently used is dropped when the store is full).
 *
 * A kept statement always runs its generic plan, built with sequential
 * scans disabled: every kept statement finds its rows through an index
 * (our catalog by key, change tables through their BRIN index), and a plan
 * built while a table was small must not keep scanning it whole as it grows.
 * The plan cache rebuilds the plan when the tables it touches change (DDL,
 * ANALYZE, VACUUM, new partitions, a dropped and recreated extension); the
 * rebuild happens here, under the same setting, whenever the plan is found
 * invalid before it runs.
 */
typedef struct KeptPlan
{
	char	   *sql;
	SPIPlanPtr	plan;
	uint64		last_used;
} KeptPlan;

#define KEPT_FIXED_MAX 48
#define KEPT_GENERATED_MAX 32
static KeptPlan kept_fixed[KEPT_FIXED_MAX];
static int	nkept_fixed = 0;
static KeptPlan kept_generated[KEPT_GENERATED_MAX];
static int	nkept_generated = 0;
static uint64 kept_clock = 0;

/* PrepareKept prepares and keeps a statement forced to its generic plan. */
static SPIPlanPtr
PrepareKept(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);

	if (plan == NULL)
		elog(ERROR, "could not prepare (%s): %s", SPI_result_code_string(SPI_result), sql);
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "could not keep the plan of: %s", sql);
	return plan;
}

/*
 * PlanIndexed makes sure a kept plan's generic plan exists and is valid,
 * building it with sequential scans disabled (see above).  The setting is in
 * force only while the plan is built, never while it runs (the statement may
 * fire a user's triggers, which plan with the session's settings).
 */
static void
PlanIndexed(SPIPlanPtr plan)
{
	CachedPlanSource *source = (CachedPlanSource *) linitial(plan->plancache_list);
	CachedPlan *cplan;
	int			guc_level;

	AcceptInvalidationMessages();
	if (source->is_valid && source->gplan != NULL && source->gplan->is_valid)
		return;
	guc_level = NewGUCNestLevel();
	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	cplan = SPI_plan_get_cached_plan(plan);
	AtEOXact_GUC(true, guc_level);
	if (cplan == NULL)
		elog(ERROR, "could not plan the kept statement");
	ReleaseCachedPlan(cplan, CurrentResourceOwner);
}

/* SpiKeptPlan returns the kept plan of one of our fixed statements, ready to run (SPI connected). */
SPIPlanPtr
SpiKeptPlan(const char *sql, int nargs, Oid *argtypes)
{
	int			i;

	for (i = 0; i < nkept_fixed; i++)
		if (strcmp(kept_fixed[i].sql, sql) == 0)
			break;
	if (i == nkept_fixed)
	{
		if (nkept_fixed >= KEPT_FIXED_MAX)
			elog(ERROR, "too many kept statements");
		kept_fixed[i].plan = PrepareKept(sql, nargs, argtypes);
		kept_fixed[i].sql = MemoryContextStrdup(TopMemoryContext, sql);
		nkept_fixed++;
	}
	PlanIndexed(kept_fixed[i].plan);
	return kept_fixed[i].plan;
}

/*
 * SpiKeptGeneratedPlan returns the kept plan of a generated statement, ready
 * to run (SPI connected), dropping the least recently used one when the
 * store is full.  A portal opened on a dropped plan keeps what it runs.
 */
SPIPlanPtr
SpiKeptGeneratedPlan(const char *sql, int nargs, Oid *argtypes)
{
	int			i;
	int			oldest = 0;

	for (i = 0; i < nkept_generated; i++)
	{
		if (strcmp(kept_generated[i].sql, sql) == 0)
			break;
		if (kept_generated[i].last_used < kept_generated[oldest].last_used)
			oldest = i;
	}
	if (i == nkept_generated)
	{
		SPIPlanPtr	plan = PrepareKept(sql, nargs, argtypes);

		if (nkept_generated < KEPT_GENERATED_MAX)
			nkept_generated++;
		else
		{
			i = oldest;
			(void) SPI_freeplan(kept_generated[i].plan);
			pfree(kept_generated[i].sql);
		}
		kept_generated[i].plan = plan;
		kept_generated[i].sql = MemoryContextStrdup(TopMemoryContext, sql);
	}
	kept_generated[i].last_used = ++kept_clock;
	PlanIndexed(kept_generated[i].plan);
	return kept_generated[i].plan;
}

/* SpiExecuteKept runs a fixed statement through its kept plan (SpiExecute's contract otherwise). */
uint64
SpiExecuteKept(const char *sql, int nargs, Oid *argtypes, Datum *args, const char *nulls, bool read_only, long count,
			   int expected)
{
	int			rc = SPI_execute_plan(SpiKeptPlan(sql, nargs, argtypes), args, nulls, read_only, count);

	if (rc != expected)
		elog(ERROR, "statement failed (%s): %s", SPI_result_code_string(rc), sql);
	return SPI_processed;
}

/* SpiSelectInt64Kept is SpiSelectInt64 through a kept plan (one of our fixed statements). */
bool
SpiSelectInt64Kept(const char *sql, int nargs, Oid *argtypes, Datum *args, int64 *result)
{
	return SpiFirstInt64(SpiExecuteKept(sql, nargs, argtypes, args, NULL, false, 1, SPI_OK_SELECT), result);
}

/*
 * SpiSelectInt64 runs a query for one bigint (inside a connected SPI);
 * returns false if it gave no row or NULL.
 */
bool
SpiSelectInt64(const char *sql, int nargs, Oid *argtypes, Datum *args, int64 *result)
{
	return SpiFirstInt64(SpiExecute(sql, nargs, argtypes, args, false, 1, SPI_OK_SELECT), result);
}

/* SpiFirstInt64 reads the first column of the first row SPI returned; false if none or NULL. */
static bool
SpiFirstInt64(uint64 processed, int64 *result)
{
	bool		isnull = true;

	if (processed >= 1)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			*result = DatumGetInt64(d);
	}
	return !isnull;
}

/*
 * RunAsOwner runs generated SQL (DDL or catalog DML) through SPI as the
 * extension owner and returns SPI_processed; anything but `expected` is a
 * can't-happen error.  Our own DDL is flagged so the partition event trigger
 * leaves it alone.
 */
uint64
RunAsOwner(const char *sql, int nargs, Oid *argtypes, Datum *args, int expected)
{
	return RunAsRole(MedallionExtensionOwner(), sql, nargs, argtypes, args, expected);
}

/* RunAsOwnerKept is RunAsOwner for one of our fixed catalog statements (not DDL), through its kept plan. */
uint64
RunAsOwnerKept(const char *sql, int nargs, Oid *argtypes, Datum *args, int expected)
{
	OwnerSwitch as_owner;
	uint64		processed;

	BeginAsOwner(&as_owner);
	SpiConnect();
	processed = SpiExecuteKept(sql, nargs, argtypes, args, NULL, false, 0, expected);
	SPI_finish();
	EndAsOwner(&as_owner);
	return processed;
}

/*
 * RunAsRole is RunAsOwner for another role: DML on a user's table (merge
 * state, SCD2 history) runs as that table's owner, so its triggers and
 * rules never run with the extension owner's rights.
 */
uint64
RunAsRole(Oid role, const char *sql, int nargs, Oid *argtypes, Datum *args, int expected)
{
	OwnerSwitch as_owner;
	volatile uint64 processed = 0;
	bool		was_in_own_ddl;

	BeginAsRole(role, &as_owner);
	SpiConnect();
	/* Our own DDL only: a table owner's triggers fired by our DML must not hide their DDL. */
	was_in_own_ddl = SetInOwnDdl(InOwnDdl() || role == MedallionExtensionOwner());
	PG_TRY();
	{
		processed = SpiExecute(sql, nargs, argtypes, args, false, 0, expected);
	}
	PG_FINALLY();
	{
		/* Also on error: a flag left set would hide every later DDL from the event triggers. */
		(void) SetInOwnDdl(was_in_own_ddl);
	}
	PG_END_TRY();
	SPI_finish();
	EndAsRole(&as_owner);
	return processed;
}
