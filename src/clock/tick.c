/*-------------------------------------------------------------------------
 *
 * tick.c
 *	  Closing one version: medallion._tick() in a transaction of its own,
 *	  in whichever process closes it (the resident ticker, ticker.c, or a
 *	  dynamic tick worker, version.c).
 *
 * medallion._tick() takes an EXCLUSIVE lock on medallion.tick and only then
 * its snapshot, so ticks are totally ordered with their snapshots; the lock
 * is held until this transaction commits, which is why no caller's own
 * transaction ever ticks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "clock/tick.h"

#include "base/spi.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

/* RunTickTransaction closes the open version in a transaction of its own; returns the newest version. */
static int64
RunTickTransaction(void)
{
	int			spi_nest;
	int64		version;
	bool		isnull;

	StartTransactionCommand();
	SetConfigOption("lock_timeout", "30s", PGC_SUSET, PGC_S_OVERRIDE);
	spi_nest = SpiConnectPinned();
	PushActiveSnapshot(GetTransactionSnapshot());
	(void) SpiExecute("SELECT medallion._tick()", 0, NULL, NULL, false, 1, SPI_OK_SELECT);
	version = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SpiFinishPinned(spi_nest);
	PopActiveSnapshot();
	CommitTransactionCommand();
	return version;
}

/*
 * TickOnce closes the open version of the connected database and reports
 * failures as a message instead of exiting; the ticker worker shares it.
 */
bool
TickOnce(int64 *version, char *message, size_t message_size)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	volatile bool ok = true;

	DefaultXactIsoLevel = XACT_READ_COMMITTED;
	PG_TRY();
	{
		*version = RunTickTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		strlcpy(message, edata->message, message_size);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}
