/*-------------------------------------------------------------------------
 *
 * init.c
 *	  Module entry: defines the settings, installs the caches and hooks,
 *	  and, when preloaded, registers the ticker and the puller.
 *
 * Everything works without shared_preload_libraries; preloading only adds
 * the background ticker (pg_medallion.tick_interval).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "base/change_bell.h"
#include "capture/capture.h"
#include "capture/order_key.h"
#include "clock/ticker.h"
#include "logical/puller.h"
#include "logical/slot.h"
#include "flow/runner.h"
#include "merge/merge_exec.h"
#include "settings.h"

#include "fmgr.h"
#include "miscadmin.h"

PG_MODULE_MAGIC;

extern PGDLLEXPORT void _PG_init(void);

/* _PG_init defines the pg_medallion.* settings and hooks and, when preloaded, the background workers. */
void
_PG_init(void)
{
	DefineSettings();


	CaptureCacheInit();
	MergeInit();
	SlotInit();
	if (process_shared_preload_libraries_in_progress)
	{
		OrderKeyInit();
		TickServiceInit();
		ChangeBellInit();
		RegisterTickerWorker();
		RegisterPullerWorker();
		RegisterFlowRunnerWorker();
	}
}
