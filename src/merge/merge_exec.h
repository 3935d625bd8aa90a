/*-------------------------------------------------------------------------
 *
 * merge_exec.h
 *	  Running apply_changes (merge_exec.c): the hook it installs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_MERGE_EXEC_H
#define MEDALLION_MERGE_EXEC_H

extern void MergeInit(void);

#endif							/* MEDALLION_MERGE_EXEC_H */
