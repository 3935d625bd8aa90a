/*-------------------------------------------------------------------------
 *
 * ticker.c
 *	  The optional background ticker: closes a version every
 *	  pg_medallion.tick_interval in pg_medallion.database, so versions stay
 *	  fresh even when nobody reads.  Registered only when preloaded; nothing
 *	  depends on it (readers close the open version themselves).
 *
 *-------------------------------------------------------------------------
 */
#include "pg_medallion.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

PGDLLEXPORT void medallion_ticker_main(Datum main_arg);

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

/* ExtensionInstalled returns whether pg_medallion exists in the connected database. */
static bool
ExtensionInstalled(void)
{
	bool		installed;

	StartTransactionCommand();
	installed = OidIsValid(get_extension_oid("pg_medallion", true));
	CommitTransactionCommand();
	return installed;
}

/* medallion_ticker_main closes a version every tick_interval until shutdown. */
void
medallion_ticker_main(Datum main_arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(medallion_database, NULL, 0);
	pgstat_report_appname("pg_medallion ticker");

	for (;;)
	{
		long		timeout = medallion_tick_interval_ms > 0 ? medallion_tick_interval_ms : 60000;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (medallion_tick_interval_ms <= 0 || !ExtensionInstalled())
			continue;
		{
			int64		version;
			char		message[512];

			if (!TickOnce(&version, message, sizeof(message)))
				ereport(LOG,
						(errmsg("pg_medallion ticker could not close a version: %s", message)));
		}
		pgstat_report_stat(true);
	}
}
