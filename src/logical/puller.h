/*-------------------------------------------------------------------------
 *
 * puller.h
 *	  The background puller (puller.c), when preloaded.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_LOGICAL_PULLER_H
#define MEDALLION_LOGICAL_PULLER_H

extern void RegisterPullerWorker(void);

#endif							/* MEDALLION_LOGICAL_PULLER_H */
