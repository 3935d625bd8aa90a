/*-------------------------------------------------------------------------
 *
 * order_key.h
 *	  Order keys of change rows (order_key.c): a statement number shifted
 *	  left, plus the row's ordinal in its statement.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_CAPTURE_ORDER_KEY_H
#define MEDALLION_CAPTURE_ORDER_KEY_H

#define SEQ_ORDINAL_BITS		20
#define SEQ_ORDINAL_LIMIT		(((int64) 1) << SEQ_ORDINAL_BITS)

extern void OrderKeyInit(void);
extern int64 DrawStatementNumber(Oid seq_oid);

#endif							/* MEDALLION_CAPTURE_ORDER_KEY_H */
