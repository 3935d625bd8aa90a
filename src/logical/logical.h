/*-------------------------------------------------------------------------
 *
 * logical.h
 *	  Logical feeds' SQL entry points (logical.c) and their source check.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_LOGICAL_LOGICAL_H
#define MEDALLION_LOGICAL_LOGICAL_H

struct RelationData;

extern void LogicalCheckSource(struct RelationData *rel);

#endif							/* MEDALLION_LOGICAL_LOGICAL_H */
