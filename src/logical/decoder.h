/*-------------------------------------------------------------------------
 *
 * decoder.h
 *	  The output plugin's binary mode: while pull decodes, changes go to a
 *	  sink in the same backend instead of being written as JSON text.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_DECODER_H
#define MEDALLION_DECODER_H

#include "replication/reorderbuffer.h"
#include "utils/relcache.h"

typedef struct DecoderSink DecoderSink;

/* Called for every row change and every truncated relation of a decoded transaction. */
struct DecoderSink
{
	void		(*change) (DecoderSink *sink, ReorderBufferTXN *txn, Relation rel, ReorderBufferChange *change);
	void		(*truncate) (DecoderSink *sink, ReorderBufferTXN *txn, Relation rel);
};

/* Decoding contexts started while a sink is set feed it (NULL: text output). */
extern void DecoderSetSink(DecoderSink *sink);

#endif							/* MEDALLION_DECODER_H */
