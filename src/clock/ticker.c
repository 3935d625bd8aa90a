/*-------------------------------------------------------------------------
 *
 * ticker.c
 *	  The background ticker (registered when preloaded): closes a version
 *	  every pg_medallion.tick_interval in pg_medallion.database, so versions
 *	  stay fresh even when nobody reads, and closes one on request: a caller
 *	  of that database (current_version(), a read up to the newest version)
 *	  counts a request in shared memory, sets the ticker's latch and sleeps on
 *	  a condition variable until a tick whose snapshot was taken after its
 *	  request has committed.  Callers asking at once share one tick.  Without
 *	  the ticker (not preloaded, another database, the ticker gone) callers
 *	  start a worker per tick, as before (version.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "clock/ticker.h"

#include "base/objects.h"
#include "capture/partition.h"
#include "clock/tick.h"
#include "settings.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/condition_variable.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/timestamp.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

PGDLLEXPORT void medallion_ticker_main(Datum main_arg);

#define TICK_SERVICE_SHMEM_NAME "pg_medallion tick service"

/*
 * How often, at most, the ticker summarises change tables' filled BRIN
 * ranges: every SUMMARIZE_INTERVAL_MS, or less often when a pass's overhead
 * (the time not spent summarising: looking at every feed) is long, so that
 * it takes at most a tenth of the ticker's time.  Reads of recent versions
 * recheck every row of the unsummarised tail, so the tail is kept short: at
 * 100 ms, a tenth of a second of writes.  The summarising itself is bounded
 * per pass (SUMMARIZE_RANGES_PER_PASS) and does not slow the next pass: a
 * bulk load must not leave the tail unsummarised for seconds.
 */
#define SUMMARIZE_INTERVAL_MS 100
#define SUMMARIZE_SHARE 10

/* What callers and the ticker share. */
typedef struct TickService
{
	slock_t		mutex;			/* protects what follows but the condition variable */
	Latch	   *ticker_latch;	/* the running ticker's, or NULL */
	Oid			database;		/* the database it serves */
	uint64		requested;		/* requests counted so far */
	uint64		served;			/* every request up to this one has its tick */
	bool		ok;				/* the last served tick closed (or found nothing new) */
	int64		version;		/* its newest version */
	char		message[256];	/* why it failed */
	ConditionVariable served_cv;	/* broadcast when `served` moves */
} TickService;

static TickService *tick_service = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* TickServiceShmemRequest asks for the shared state (preloaded only). */
static void
TickServiceShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(TickService)));
}

/* TickServiceShmemStartup attaches to the shared state, creating it with no ticker. */
static void
TickServiceShmemStartup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	tick_service = ShmemInitStruct(TICK_SERVICE_SHMEM_NAME, sizeof(TickService), &found);
	if (!found)
	{
		memset(tick_service, 0, sizeof(TickService));
		SpinLockInit(&tick_service->mutex);
		ConditionVariableInit(&tick_service->served_cv);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* TickServiceInit installs the shared-memory hooks; called from _PG_init while preloading. */
void
TickServiceInit(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = TickServiceShmemRequest;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = TickServiceShmemStartup;
}

/*
 * TickByTicker asks the running ticker of this database to close the open
 * version and waits for it; true with *version set when it did, false when
 * there is no ticker for this database (or it stopped answering, or its
 * tick failed: the caller then starts a worker, which reports the error).
 * The wait is bounded: a ticker that does not serve a request within
 * 10 s is treated as gone.
 */
bool
TickByTicker(int64 *version)
{
	uint64		mine;
	Latch	   *latch;
	int			waited_ms = 0;
	bool		ok = false;

	if (tick_service == NULL)
		return false;
	SpinLockAcquire(&tick_service->mutex);
	latch = tick_service->ticker_latch;
	if (latch == NULL || tick_service->database != MyDatabaseId)
	{
		SpinLockRelease(&tick_service->mutex);
		return false;
	}
	mine = ++tick_service->requested;
	SpinLockRelease(&tick_service->mutex);
	SetLatch(latch);

	ConditionVariablePrepareToSleep(&tick_service->served_cv);
	for (;;)
	{
		bool		served;

		SpinLockAcquire(&tick_service->mutex);
		served = tick_service->served >= mine;
		if (served)
		{
			ok = tick_service->ok;
			*version = tick_service->version;
		}
		SpinLockRelease(&tick_service->mutex);
		if (served || waited_ms >= 10000)
			break;
		if (ConditionVariableTimedSleep(&tick_service->served_cv, 100, PG_WAIT_EXTENSION))
			waited_ms += 100;
	}
	ConditionVariableCancelSleep();
	return ok;
}

/* TickerDetach forgets the ticker's latch when it exits: callers fall back to workers. */
static void
TickerDetach(int code, Datum arg)
{
	if (tick_service == NULL)
		return;
	SpinLockAcquire(&tick_service->mutex);
	tick_service->ticker_latch = NULL;
	SpinLockRelease(&tick_service->mutex);
	ConditionVariableBroadcast(&tick_service->served_cv);
}

/* RegisterTickerWorker registers the ticker at postmaster start. */
void
RegisterTickerWorker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_medallion");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "medallion_ticker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_medallion ticker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pg_medallion ticker");
	RegisterBackgroundWorker(&worker);
}

/*
 * SummarizeWhenDue summarises the change tables' filled BRIN ranges
 * (SummarizeFilledRanges) when versions were closed since it last did and
 * SUMMARIZE_INTERVAL_MS passed, in a transaction of its own, between ticks:
 * small version ranges then read only the rows of their range.  A failure
 * is logged and retried next time.
 */
static void
SummarizeWhenDue(TimestampTz *summarized_at, int64 *summarized_version, int64 last_version)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	TimestampTz now = GetCurrentTimestamp();
	static long interval_ms = SUMMARIZE_INTERVAL_MS;
	int64		summarize_us = 0;

	if (last_version == *summarized_version ||
		!TimestampDifferenceExceeds(*summarized_at, now, interval_ms))
		return;
	*summarized_at = now;
	*summarized_version = last_version;
	PG_TRY();
	{
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (OidIsValid(get_namespace_oid(MEDALLION_SCHEMA, true)))
			SummarizeFilledRanges(&summarize_us);
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
		ereport(LOG, (errmsg("pg_medallion ticker could not summarise change tables: %s", edata->message)));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	{
		int64		overhead_us = (GetCurrentTimestamp() - now) - summarize_us;

		interval_ms = Max(SUMMARIZE_INTERVAL_MS, SUMMARIZE_SHARE * overhead_us / 1000);
	}
}

/*
 * medallion_ticker_main closes a version every tick_interval, and on request,
 * until shutdown.  A request counted before the tick's snapshot is taken is
 * served by that tick: `served` moves to the count read before ticking.
 */
void
medallion_ticker_main(Datum main_arg)
{
	TimestampTz last_tick = 0;
	TimestampTz summarized_at = 0;
	int64		summarized_version = -1;
	int64		last_version = -1;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(medallion_database, NULL, 0);
	pgstat_report_appname("pg_medallion ticker");
	if (tick_service != NULL)
	{
		on_shmem_exit(TickerDetach, (Datum) 0);
		SpinLockAcquire(&tick_service->mutex);
		tick_service->database = MyDatabaseId;
		tick_service->ticker_latch = MyLatch;
		SpinLockRelease(&tick_service->mutex);
	}

	for (;;)
	{
		/* Wake for summarising only while versions closed since the last pass. */
		long		timeout = Min(medallion_tick_interval_ms > 0 ? medallion_tick_interval_ms : 60000,
								  last_version != summarized_version ? SUMMARIZE_INTERVAL_MS : 60000);
		uint64		asked = 0;
		bool		pending;
		bool		due;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (tick_service != NULL)
		{
			SpinLockAcquire(&tick_service->mutex);
			asked = tick_service->requested;
			pending = asked > tick_service->served;
			SpinLockRelease(&tick_service->mutex);
		}
		else
			pending = false;
		due = medallion_tick_interval_ms > 0 &&
			TimestampDifferenceExceeds(last_tick, GetCurrentTimestamp(), medallion_tick_interval_ms);
		if (!pending && !due)
		{
			SummarizeWhenDue(&summarized_at, &summarized_version, last_version);
			continue;
		}
		{
			int64		version = 0;
			char		message[256];
			bool		ok;

			message[0] = '\0';
			ok = TickOnce(&version, message, sizeof(message));
			last_tick = GetCurrentTimestamp();
			if (ok)
				last_version = version;
			if (!ok && due)
				ereport(LOG,
						(errmsg("pg_medallion ticker could not close a version: %s", message)));
			if (pending)
			{
				SpinLockAcquire(&tick_service->mutex);
				tick_service->served = asked;
				tick_service->ok = ok;
				tick_service->version = version;
				strlcpy(tick_service->message, message, sizeof(tick_service->message));
				SpinLockRelease(&tick_service->mutex);
				ConditionVariableBroadcast(&tick_service->served_cv);
			}
		}
		SummarizeWhenDue(&summarized_at, &summarized_version, last_version);
		pgstat_report_stat(true);
	}
}
