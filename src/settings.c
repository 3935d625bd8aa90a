/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  The pg_medallion.* settings: their variables and definitions.
 *
 * The bottom of the module graph: any module reads a setting; only
 * _PG_init (init.c) defines them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "settings.h"

#include <limits.h>

#include "miscadmin.h"
#include "utils/guc.h"

int			medallion_tick_interval_ms = 0;
char	   *medallion_database = "postgres";
int			medallion_flow_run_timeout_ms = 300000;
char	   *medallion_run_id = NULL;
int			medallion_partition_xids = 4194304;
int			medallion_retention_s = 7 * 24 * 3600;
int			medallion_run_retention_s = 30 * 24 * 3600;
bool		medallion_logical_worker = false;
int			medallion_pull_interval_ms = 200;
int			medallion_min_retention_s = 3600;
bool		medallion_merge_streaming = true;

/* DefineSettings defines the pg_medallion.* settings (postmaster-level ones only while preloading). */
void
DefineSettings(void)
{
	DefineCustomIntVariable("pg_medallion.tick_interval",
							"Interval at which the background ticker closes versions (0 = off).",
							"Needs pg_medallion in shared_preload_libraries. "
							"Reads close the open version themselves; the ticker only bounds version lag.",
							&medallion_tick_interval_ms,
							0, 0, 24 * 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	/*
	 * Read only by the background workers, which exist only when preloaded;
	 * PostgreSQL refuses (FATAL) to define a postmaster-level setting in a
	 * backend that loads the library later.
	 */
	if (process_shared_preload_libraries_in_progress)
		DefineCustomStringVariable("pg_medallion.database",
								   "Database the background ticker and puller work in.",
								   NULL,
								   &medallion_database,
								   "postgres",
								   PGC_POSTMASTER, 0,
								   NULL, NULL, NULL);
	DefineCustomIntVariable("pg_medallion.partition_xids",
							"Transaction ids per change table partition for feeds enabled from now on.",
							"Retention drops whole partitions; smaller spans free space sooner, larger ones make fewer partitions.",
							&medallion_partition_xids,
							4194304, 1024, 1 << 30,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomStringVariable("pg_medallion.run_id",
							   "Run id that consume() and advance_watermark() record with the watermarks they move.",
							   "Set it per flow run, e.g. SET LOCAL pg_medallion.run_id = 'orders-2026-11-23T10:00'.",
							   &medallion_run_id,
							   "",
							   PGC_USERSET, 0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("pg_medallion.retention",
							"How long medallion.vacuum keeps versions (and merge tombstones) by default.",
							"medallion.set_retention() overrides it per feed or merge target.",
							&medallion_retention_s,
							7 * 24 * 3600, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_medallion.run_retention",
							"How long medallion.vacuum keeps the run log of flows (medallion.runs).",
							"vacuum() with no source removes the runs, older than this, of the flows of roles the caller is a member of.",
							&medallion_run_retention_s,
							30 * 24 * 3600, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_medallion.min_retention",
							"Shortest retention medallion.vacuum accepts without force.",
							NULL,
							&medallion_min_retention_s,
							3600, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_medallion.flow_run_timeout",
							"Longest a run of a continuous flow by the flow runner may take (0 = no limit).",
							"A run past it is cancelled and recorded as failed, so one flow cannot hold the others back.",
							&medallion_flow_run_timeout_ms,
							300000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("pg_medallion.logical_worker",
							 "Pulls the logical feeds of pg_medallion.database continuously in a background worker.",
							 "Needs pg_medallion in shared_preload_libraries; medallion.pull() works without it.",
							 &medallion_logical_worker,
							 false,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("pg_medallion.pull_interval",
							"How long the background puller waits after a pull that found nothing.",
							NULL,
							&medallion_pull_interval_ms,
							200, 10, 60000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("pg_medallion.merge_streaming",
							 "Lets apply_changes (SCD1) stream the sorted batch into its MERGE.",
							 "Off: every merge reads the batch as a whole, in one statement (slower; same result).",
							 &medallion_merge_streaming,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("pg_medallion");
}
