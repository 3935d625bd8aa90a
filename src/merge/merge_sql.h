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

extern char *MergeOperatorSql(Oid opno);
extern void MergeColumnOperators(MergeColumn *c);
extern char *MergeStatementSql(const MergeSpec *spec);
extern char *MergeStreamSql(const MergeSpec *spec);
extern char *MergeTombstoneSql(const MergeSpec *spec);
extern char *MergeDeferredSource(const MergeSpec *spec);
extern char *MergeStateTableSql(const MergeSpec *spec, const char *state_name);


#endif							/* MEDALLION_MERGE_SQL_H */
