/*-------------------------------------------------------------------------
 *
 * settings.h
 *	  The pg_medallion.* settings (settings.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_SETTINGS_H
#define MEDALLION_SETTINGS_H

extern int	medallion_tick_interval_ms;
extern int	medallion_flow_run_timeout_ms;
extern char *medallion_database;
extern int	medallion_partition_xids;
extern int	medallion_retention_s;
extern int	medallion_run_retention_s;
extern bool medallion_logical_worker;
extern int	medallion_pull_interval_ms;
extern int	medallion_min_retention_s;
extern bool medallion_merge_streaming;
extern char *medallion_run_id;

extern void DefineSettings(void);

#endif							/* MEDALLION_SETTINGS_H */
