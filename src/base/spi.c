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

#include "executor/spi.h"
#include "utils/memutils.h"

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
 * Statements prepared once per process and kept (SPI_keepplan), by text: for
 * our own fixed statements on hot paths (the clock), which would otherwise be
 * parsed and planned on every call.  The plan cache replans them when the
 * tables they touch change (or are dropped and created again), but not as a
 * table grows: keep only statements whose plan cannot go stale that way
 * (INSERT ... VALUES), never a scan of a growing table.  Never pass
 * generated text: every distinct text stays for the life of the process.
 */
typedef struct KeptPlan
{
	const char *sql;
	SPIPlanPtr	plan;
} KeptPlan;

#define KEPT_PLANS_MAX 16
static KeptPlan kept_plans[KEPT_PLANS_MAX];
static int	nkept_plans = 0;

/* SpiKeptPlan returns the kept plan of a fixed statement, preparing it on first use (SPI connected). */
SPIPlanPtr
SpiKeptPlan(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan;
	int			i;

	for (i = 0; i < nkept_plans; i++)
		if (strcmp(kept_plans[i].sql, sql) == 0)
			return kept_plans[i].plan;
	if (nkept_plans >= KEPT_PLANS_MAX)
		elog(ERROR, "too many kept statements");
	plan = SPI_prepare(sql, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "could not prepare (%s): %s", SPI_result_code_string(SPI_result), sql);
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "could not keep the plan of: %s", sql);
	kept_plans[nkept_plans].sql = MemoryContextStrdup(TopMemoryContext, sql);
	kept_plans[nkept_plans].plan = plan;
	nkept_plans++;
	return plan;
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
