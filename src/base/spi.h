/*-------------------------------------------------------------------------
 *
 * spi.h
 *	  SPI helpers every module shares (spi.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_BASE_SPI_H
#define MEDALLION_BASE_SPI_H

extern void SpiConnect(void);
extern int	SpiConnectPinned(void);
extern void SpiFinishPinned(int nestlevel);
extern uint64 SpiExecute(const char *sql, int nargs, Oid *argtypes, Datum *args, bool read_only, long count,
						 int expected);
struct _SPI_plan;
extern struct _SPI_plan *SpiKeptPlan(const char *sql, int nargs, Oid *argtypes);
extern uint64 SpiExecuteKept(const char *sql, int nargs, Oid *argtypes, Datum *args, const char *nulls,
							 bool read_only, long count, int expected);
extern struct _SPI_plan *SpiKeptGeneratedPlan(const char *sql, int nargs, Oid *argtypes);
extern bool SpiSelectInt64(const char *sql, int nargs, Oid *argtypes, Datum *args, int64 *result);
extern bool SpiSelectInt64Kept(const char *sql, int nargs, Oid *argtypes, Datum *args, int64 *result);
extern uint64 RunAsOwner(const char *sql, int nargs, Oid *argtypes, Datum *args, int expected);
extern uint64 RunAsOwnerKept(const char *sql, int nargs, Oid *argtypes, Datum *args, int expected);
extern uint64 RunAsRole(Oid role, const char *sql, int nargs, Oid *argtypes, Datum *args, int expected);

#endif							/* MEDALLION_BASE_SPI_H */
