/*-------------------------------------------------------------------------
 *
 * application.h
 *	  The id of the session's application_name, stored with each change
 *	  (application.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_CAPTURE_APPLICATION_H
#define MEDALLION_CAPTURE_APPLICATION_H

extern int32 CurrentApplicationId(void);

#endif							/* MEDALLION_CAPTURE_APPLICATION_H */
