/*-------------------------------------------------------------------------
 *
 * xid.h
 *	  Full (64-bit) transaction ids as the extension stores them: change
 *	  rows' _xid, partition bounds and tick snapshots are int8 full xids.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_BASE_XID_H
#define MEDALLION_BASE_XID_H

#include "access/transam.h"

/* CurrentFullXid returns the next full transaction id to be assigned, as int64. */
static inline int64
CurrentFullXid(void)
{
	return (int64) U64FromFullTransactionId(ReadNextFullTransactionId());
}

/*
 * WidenXid returns the full xid of `xid`, a running or recent transaction's
 * id, given the next full xid (as pg_current_snapshot() widens a snapshot):
 * an xid above next's lies in the epoch before.
 */
static inline int64
WidenXid(TransactionId xid, FullTransactionId next)
{
	uint32		epoch = EpochFromFullTransactionId(next);

	if (xid > XidFromFullTransactionId(next))
		epoch--;
	return (int64) U64FromFullTransactionId(FullTransactionIdFromEpochAndXid(epoch, xid));
}

#endif							/* MEDALLION_BASE_XID_H */
