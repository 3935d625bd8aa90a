/*-------------------------------------------------------------------------
 *
 * change_bell.h
 *	  The change bell (change_bell.c): one listener (the flow runner) is
 *	  woken when changes may be ready to read.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_BASE_CHANGE_BELL_H
#define MEDALLION_BASE_CHANGE_BELL_H

#include "storage/latch.h"

extern void ChangeBellInit(void);
extern bool ChangeBellAvailable(void);
extern void ChangeBellListen(Latch *latch, bool armed);
extern void ChangeBellForget(void);
extern void ChangeBellNoteCapture(void);
extern void ChangeBellRingAtCommit(void);
extern uint64 ChangeBellRings(void);

#endif							/* MEDALLION_BASE_CHANGE_BELL_H */
