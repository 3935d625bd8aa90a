/*-------------------------------------------------------------------------
 *
 * merge_sql.h
 *	  The statements apply_changes runs, written from a MergeSpec
 *	  (merge_sql.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_MERGE_SQL_H
#define MEDALLION_MERGE_SQL_H

#include "merge/merge_types.h"

/*
 * The statements of one merge, in the order they run: the streaming
 * statement, then the tombstones it kept and the rows it set aside (SCD1
 * without truncates); or one whole-batch statement (main only).
 */
typedef struct MergeStatements
{
	char	   *main;
	char	   *tombstones;		/* streaming only */
	char	   *set_aside;		/* streaming only */
} MergeStatements;

extern char *MergeOperatorSql(Oid opno);
extern void MergeColumnOperators(MergeColumn *c);
extern char *MergeStatementSql(const MergeSpec *spec);
extern char *MergeStreamSql(const MergeSpec *spec);
extern char *MergeTombstoneSql(const MergeSpec *spec);
extern char *MergeDeferredSource(const MergeSpec *spec);
extern void MergeStatementsOf(const MergeSpec *spec, MergeStatements *out);
extern char *MergeStateTableSql(const MergeSpec *spec, const char *state_name);


#endif							/* MEDALLION_MERGE_SQL_H */
