/*-------------------------------------------------------------------------
 *
 * merge_spec.h
 *	  Building a MergeSpec from one apply_changes call, and its merge
 *	  state (merge_spec.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_MERGE_SPEC_H
#define MEDALLION_MERGE_SPEC_H

#include "merge/merge_types.h"

#include "fmgr.h"

extern MergeSpec *BuildSpec(const MergeArgs *args);
extern Oid	RegisteredState(const MergeSpec *spec, const MergeArgs *args);
extern bool TargetRegisteredNow(Oid target);
extern void LockMergeTarget(Oid target);
extern Oid	CreateState(const MergeSpec *spec, const MergeArgs *args);
extern void CheckWritable(Oid relid, Oid target);
extern void ReadArgs(FunctionCallInfo fcinfo, MergeArgs *a);

#endif							/* MEDALLION_MERGE_SPEC_H */
