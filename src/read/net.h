/*-------------------------------------------------------------------------
 *
 * net.h
 *	  Net changes: a range of changes collapsed to its effect per primary key.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_NET_H
#define MEDALLION_NET_H

#include "base/catalog.h"

#include "utils/tuplesort.h"
#include "utils/tuplestore.h"

#define NET_MAX_KEYS 32

/* The primary key of a feed's source, as the change table knows it. */
typedef struct NetKeys
{
	int			nkeys;
	Oid			types[NET_MAX_KEYS];
	Oid			collations[NET_MAX_KEYS];
	char	   *names[NET_MAX_KEYS];
	char	   *select_list;	/* ", c.k1, c.k2" */
} NetKeys;

extern void NetKeysOf(const FeedRow *feed, NetKeys *keys);
extern TupleDesc NetWorkDesc(TupleDesc outdesc, const NetKeys *keys);
extern Tuplesortstate *NetBeginSort(TupleDesc workdesc, int nout, const NetKeys *keys);
extern void NetEmit(Tuplesortstate *sorted, TupleDesc workdesc, TupleDesc outdesc, const NetKeys *keys,
					int64 trunc_version, int64 trunc_seq, Tuplestorestate *result);

#endif							/* MEDALLION_NET_H */
