/*-------------------------------------------------------------------------
 *
 * tick.h
 *	  Closing one version in a transaction of its own (tick.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_CLOCK_TICK_H
#define MEDALLION_CLOCK_TICK_H

extern bool TickOnce(int64 *version, char *message, size_t message_size);

#endif							/* MEDALLION_CLOCK_TICK_H */
