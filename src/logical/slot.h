/*-------------------------------------------------------------------------
 *
 * slot.h
 *	  The database's replication slot and the watermark of what pulls
 *	  stored (slot.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_LOGICAL_SLOT_H
#define MEDALLION_LOGICAL_SLOT_H

#include "access/xlogdefs.h"

extern char *SlotName(void);
extern void SlotInit(void);
extern void LogicalPrepareSlot(void);
extern void LogicalDropSlotIfUnused(void);
extern void LockSlotLifecycle(void);
extern bool SlotExists(const char *slot);
extern int	SlotHolder(const char *slot);
extern void DropOrphanSlot(void);
extern void DropUnregisteredSlot(void);
extern void CheckLogicalFeedsHaveSlot(void);
extern void CheckSlotNotLost(const char *slot);
extern XLogRecPtr ReadStoredLsn(bool for_update);
extern void WriteStoredLsn(XLogRecPtr lsn);

#endif							/* MEDALLION_LOGICAL_SLOT_H */
