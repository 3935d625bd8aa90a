/*-------------------------------------------------------------------------
 *
 * runner.h
 *	  The flow runner (runner.c): the background worker that runs the
 *	  continuous flows of pg_medallion.database.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_FLOW_RUNNER_H
#define MEDALLION_FLOW_RUNNER_H

extern void RegisterFlowRunnerWorker(void);
extern void CheckContinuousFlowsAvailable(const char *flow_name);

#endif							/* MEDALLION_FLOW_RUNNER_H */
