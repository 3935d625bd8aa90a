/*-------------------------------------------------------------------------
 *
 * run_log.h
 *	  Recording a failed flow run durably although its work rolled back
 *	  (run_log.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_FLOW_RUN_LOG_H
#define MEDALLION_FLOW_RUN_LOG_H

extern bool RecordInOwnTransaction(const char *run_json, char *message, size_t message_size);

#endif							/* MEDALLION_FLOW_RUN_LOG_H */
