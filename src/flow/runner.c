/*-------------------------------------------------------------------------
 *
 * runner.c
 *	  The flow runner: a background worker (registered when preloaded) that
 *	  runs the continuous flows of pg_medallion.database whenever changes may
 *	  be ready, for freshness below pg_cron's granularity.
 *
 * It sleeps on its latch until the change bell (base/change_bell.c) rings:
 * at the commit of a transaction that captured changes, or that closed a
 * version, or that scheduled, resumed or changed a continuous flow.  Then it
 * runs every continuous flow once, upstream first (graph.c), each by
 * medallion.run_flow(name, nowait => true) in a transaction of its own, as
 * the flow's owner: exactly what a run by the owner does, with the same run
 * log, the same exactly-once merge and the same lock (a run of the flow
 * from elsewhere makes this one answer 'busy').  A pass in which a flow
 * read rows is followed by another (more versions may be waiting); a pass
 * that found every flow up to date sleeps.
 *
 * A run that fails is recorded by run_flow itself; the runner logs it and
 * tries that flow again after a backoff (1 s, doubling up to a minute), so a
 * broken flow neither spins nor holds the others back; a change of its
 * definition (alter_flow, an expectation added or dropped) ends the backoff.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "flow/runner.h"

#include "base/change_bell.h"
#include "base/objects.h"
#include "base/spi.h"
#include "flow/graph.h"
#include "settings.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

PGDLLEXPORT void medallion_flow_runner_main(Datum main_arg);

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 60000
#define BUSY_RETRY_MS 100

/* How one run of a flow by the runner ended. */
typedef enum RunnerOutcome
{
	RUNNER_IDLE,				/* up to date, paused, or nothing read */
	RUNNER_WORKED,				/* it read rows: more may be waiting */
	RUNNER_BUSY,				/* another run of the flow holds it */
	RUNNER_FAILED
} RunnerOutcome;

/* A flow the runner waits before running again: it failed, or was busy. */
typedef struct FlowBackoff
{
	int32		flow_id;		/* hash key */
	int			failures;
	TimestampTz retry_at;
	char		definition_hash[33];	/* of the definition that failed */
} FlowBackoff;

/* CheckContinuousFlowsAvailable errors unless the flow runner can serve this database. */
void
CheckContinuousFlowsAvailable(const char *flow_name)
{
	if (!ChangeBellAvailable())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("flow \"%s\" cannot run continuously: pg_medallion is not preloaded", flow_name),
				 errhint("Add pg_medallion to shared_preload_libraries and restart the server; or schedule the flow with pg_cron, e.g. schedule => '5 seconds'.")));
	if (strcmp(get_database_name(MyDatabaseId), medallion_database) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("flow \"%s\" cannot run continuously: the flow runner works in database \"%s\"",
						flow_name, medallion_database),
				 errhint("Set pg_medallion.database to this database and restart the server; or schedule the flow with pg_cron.")));
}

/* RegisterFlowRunnerWorker registers the flow runner at postmaster start. */
void
RegisterFlowRunnerWorker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_medallion");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "medallion_flow_runner_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_medallion flow runner");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pg_medallion flow runner");
	RegisterBackgroundWorker(&worker);
}

/* ListFlows reads the continuous flows, upstream first, into `context`; NIL without the extension. */
static List *
ListFlows(MemoryContext context)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	List	   *volatile flows = NIL;

	PG_TRY();
	{
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (OidIsValid(get_namespace_oid(MEDALLION_SCHEMA, true)))
			flows = ContinuousFlowsUpstreamFirst(context);
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		ereport(LOG, (errmsg("pg_medallion flow runner could not list the continuous flows: %s", edata->message)));
		FreeErrorData(edata);
		flows = NIL;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcontext);
	return flows;
}

/*
 * RunFlowOnce runs one flow by run_flow(name, nowait => true) in a
 * transaction of its own, as the flow's owner; a failure is returned with
 * its message (run_flow recorded it).
 */
static RunnerOutcome
RunFlowOnce(const ContinuousFlow *flow, char *message, size_t message_size)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	volatile RunnerOutcome outcome = RUNNER_IDLE;
	char		activity[NAMEDATALEN * 2 + 16];

	snprintf(activity, sizeof(activity), "run_flow('%s')", flow->name);
	pgstat_report_activity(STATE_RUNNING, activity);
	PG_TRY();
	{
		Oid			save_userid;
		int			save_sec;
		int			spi_nest;

		/* now() of the run is its own (tombstones, quarantine and watermarks are stamped with it). */
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		/* Bounded, whatever the owner's code does: a timer it cannot reset, and no endless lock waits. */
		if (medallion_flow_run_timeout_ms > 0)
		{
			enable_timeout_after(STATEMENT_TIMEOUT, medallion_flow_run_timeout_ms);
			SetConfigOption("lock_timeout", psprintf("%d", medallion_flow_run_timeout_ms), PGC_SUSET, PGC_S_SESSION);
		}
		PushActiveSnapshot(GetTransactionSnapshot());
		GetUserIdAndSecContext(&save_userid, &save_sec);
		SetUserIdAndSecContext(flow->owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
		spi_nest = SpiConnectPinned();
		(void) SpiExecute("SELECT status, rows_in FROM medallion.run_flow($1, nowait => true)", 1,
						  (Oid[]) {TEXTOID}, (Datum[]) {CStringGetTextDatum(flow->name)}, false, 0, SPI_OK_SELECT);
		if (SPI_processed == 1)
		{
			char	   *status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
			char	   *rows_in = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);

			if (status != NULL && strcmp(status, "busy") == 0)
				outcome = RUNNER_BUSY;
			else if (rows_in != NULL && strcmp(rows_in, "0") != 0)
				outcome = RUNNER_WORKED;
		}
		SpiFinishPinned(spi_nest);
		SetUserIdAndSecContext(save_userid, save_sec);
		PopActiveSnapshot();
		CommitTransactionCommand();
		disable_timeout(STATEMENT_TIMEOUT, false);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		disable_timeout(STATEMENT_TIMEOUT, false);
		AbortCurrentTransaction();
		/*
		 * Every error caught here is the flow's failure, whatever its code (a
		 * transform can raise any SQLSTATE); a real shutdown is FATAL and
		 * never gets here, and a pending one is served after the flow.
		 */
		strlcpy(message, edata->message ? edata->message : "", message_size);
		FreeErrorData(edata);
		outcome = RUNNER_FAILED;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcontext);
	pgstat_report_activity(STATE_IDLE, NULL);
	CHECK_FOR_INTERRUPTS();
	return outcome;
}

/*
 * RunPass runs every continuous flow once, upstream first, except those
 * waiting out a backoff; returns whether any read rows, and lowers
 * *wait_ms to the first backoff that ends.
 */
static bool
RunPass(HTAB *backoffs, MemoryContext pass_context, long *wait_ms)
{
	List	   *flows;
	ListCell   *lc;
	bool		worked = false;

	MemoryContextReset(pass_context);
	flows = ListFlows(pass_context);
	/* Armed, captured commits ring; with no continuous flow only version closes and schedule changes do. */
	ChangeBellListen(MyLatch, flows != NIL);
	foreach(lc, flows)
	{
		ContinuousFlow *flow = lfirst(lc);
		FlowBackoff *backoff = hash_search(backoffs, &flow->flow_id, HASH_FIND, NULL);
		TimestampTz now = GetCurrentTimestamp();
		char		message[512];
		RunnerOutcome outcome;

		CHECK_FOR_INTERRUPTS();
		/* A flow changed since it failed (alter_flow, an expectation) is tried at once. */
		if (backoff != NULL && strcmp(backoff->definition_hash, flow->definition_hash ? flow->definition_hash : "") != 0)
		{
			(void) hash_search(backoffs, &flow->flow_id, HASH_REMOVE, NULL);
			backoff = NULL;
		}
		if (backoff != NULL && backoff->retry_at > now)
		{
			long		left_ms = (long) ((backoff->retry_at - now) / 1000) + 1;

			*wait_ms = *wait_ms < 0 ? left_ms : Min(*wait_ms, left_ms);
			continue;
		}
		message[0] = '\0';
		outcome = RunFlowOnce(flow, message, sizeof(message));
		if (outcome == RUNNER_WORKED)
			worked = true;
		if (outcome == RUNNER_WORKED || outcome == RUNNER_IDLE)
		{
			if (backoff != NULL)
				(void) hash_search(backoffs, &flow->flow_id, HASH_REMOVE, NULL);
			continue;
		}
		if (backoff == NULL)
		{
			backoff = hash_search(backoffs, &flow->flow_id, HASH_ENTER, NULL);
			backoff->failures = 0;
			strlcpy(backoff->definition_hash, flow->definition_hash ? flow->definition_hash : "",
					sizeof(backoff->definition_hash));
		}
		if (outcome == RUNNER_BUSY)
		{
			/* Busy (a run from elsewhere holds it): 100 ms, doubling to 1 s while it stays busy. */
			long		delay_ms = BUSY_RETRY_MS;
			int			i;

			for (i = 0; i < backoff->failures && delay_ms < 1000; i++)
				delay_ms *= 2;
			backoff->failures++;
			backoff->retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), Min(delay_ms, 1000));
		}
		else
		{
			long		delay_ms = BACKOFF_FIRST_MS;
			int			i;

			for (i = 0; i < backoff->failures && delay_ms < BACKOFF_MAX_MS; i++)
				delay_ms *= 2;
			delay_ms = Min(delay_ms, BACKOFF_MAX_MS);
			backoff->failures++;
			backoff->retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), delay_ms);
			ereport(LOG,
					(errmsg("pg_medallion flow runner: continuous flow \"%s\" failed (%d in a row), next try in %ld ms: %s",
							flow->name, backoff->failures, delay_ms, message)));
		}
		*wait_ms = *wait_ms < 0 ? BUSY_RETRY_MS : Min(*wait_ms, BUSY_RETRY_MS);
	}
	return worked;
}

/* RunnerDetach stops the bell ringing for a runner that exits. */
static void
RunnerDetach(int code, Datum arg)
{
	ChangeBellForget();
}

/*
 * medallion_flow_runner_main runs the continuous flows whenever the change
 * bell rings, until shutdown.  Rings during a pass set the latch again, so
 * nothing committed meanwhile waits for a later ring.
 */
void
medallion_flow_runner_main(Datum main_arg)
{
	HASHCTL		ctl;
	HTAB	   *backoffs;
	MemoryContext pass_context;
	bool		worked = true;	/* the first pass runs at once */
	long		wait_ms = -1;
	uint64		rings;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	pqsignal(SIGINT, StatementCancelHandler);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(medallion_database, NULL, 0);
	pgstat_report_appname("pg_medallion flow runner");
	DefaultXactIsoLevel = XACT_READ_COMMITTED;
	on_shmem_exit(RunnerDetach, (Datum) 0);
	ChangeBellListen(MyLatch, false);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int32);
	ctl.entrysize = sizeof(FlowBackoff);
	backoffs = hash_create("pg_medallion flow backoffs", 16, &ctl, HASH_ELEM | HASH_BLOBS);
	pass_context = AllocSetContextCreate(TopMemoryContext, "pg_medallion flow runner pass", ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		if (!worked)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | (wait_ms >= 0 ? WL_TIMEOUT : 0),
							 wait_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		wait_ms = -1;
		rings = ChangeBellRings();
		worked = RunPass(backoffs, pass_context, &wait_ms);
		/* Rung during the pass (its latch may have been reset since): another pass. */
		if (ChangeBellRings() != rings)
			worked = true;
		pgstat_report_stat(false);
	}
}
