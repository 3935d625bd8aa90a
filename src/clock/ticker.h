/*-------------------------------------------------------------------------
 *
 * ticker.h
 *	  The resident ticker (ticker.c): a background worker that closes
 *	  versions on request, when the library is preloaded.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_CLOCK_TICKER_H
#define MEDALLION_CLOCK_TICKER_H

extern void RegisterTickerWorker(void);
extern void TickServiceInit(void);
extern bool TickByTicker(int64 *version);

#endif							/* MEDALLION_CLOCK_TICKER_H */
