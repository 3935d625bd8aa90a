/*-------------------------------------------------------------------------
 *
 * isolate.h
 *	  Finding the rows of a flow's batch that its transform refuses, when
 *	  the batch as a whole raised a data error (isolate.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_FLOW_ISOLATE_H
#define MEDALLION_FLOW_ISOLATE_H

extern void TransformIsolatingRows(Oid batch_table, const char *range_insert, const char *range_insert_noting,
								   const char *quarantine_insert, int64 run_id, int64 *rows_out, int64 *refused);

#endif							/* MEDALLION_FLOW_ISOLATE_H */
