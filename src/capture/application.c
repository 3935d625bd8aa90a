/*-------------------------------------------------------------------------
 *
 * application.c
 *	  Who wrote a change: the application_name of the writing session, as
 *	  a small id stored in every change row (_app), named in
 *	  medallion.application.
 *
 * The id is a hash of the name, so capture never waits on the dictionary:
 * the name is recorded once per session and name (best effort, in a
 * subtransaction whose failure is ignored), and history shows the id
 * alone if the row that names it was lost with an aborted writer.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "capture/application.h"

#include "base/spi.h"

#include "common/hashfn.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

extern char *application_name;

static char cached_name[NAMEDATALEN];
static int32 cached_id = 0;
static bool cached = false;

/* NameId returns the id of an application name: 0 for none, else a positive 31-bit hash. */
static int32
NameId(const char *name)
{
	if (name == NULL || name[0] == '\0')
		return 0;
	return (int32) ((hash_bytes((const unsigned char *) name, strlen(name)) & 0x7ffffffe) + 1);
}

/* NamingErrorIsExpected says whether RecordName may swallow an error with this SQLSTATE. */
static bool
NamingErrorIsExpected(int sqlerrcode)
{
	switch (sqlerrcode)
	{
		case ERRCODE_UNIQUE_VIOLATION:
		case ERRCODE_T_R_SERIALIZATION_FAILURE:
		case ERRCODE_T_R_DEADLOCK_DETECTED:
		case ERRCODE_LOCK_NOT_AVAILABLE:
		case ERRCODE_READ_ONLY_SQL_TRANSACTION:
			return true;
		default:
			return false;
	}
}

/* RecordName inserts (id, name) into medallion.application; expected errors are swallowed. */
static void
RecordName(int32 id, const char *name)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		RunAsOwner("INSERT INTO medallion.application (app_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
				   2, (Oid[]) {INT4OID, TEXTOID}, (Datum[]) {Int32GetDatum(id), CStringGetTextDatum(name)},
				   SPI_OK_INSERT);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/*
		 * Naming is a courtesy: a conflict or a lock the name's row cannot
		 * get does not fail the writer.  Anything else (a cancel, a
		 * statement_timeout, out of memory) is the writer's error.
		 */
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (!NamingErrorIsExpected(edata->sqlerrcode))
			ReThrowError(edata);
		FreeErrorData(edata);
	}
	PG_END_TRY();
}

/* CurrentApplicationId returns the id of the session's application_name, naming it once per session. */
int32
CurrentApplicationId(void)
{
	const char *name = application_name;

	if (name == NULL || name[0] == '\0')
		return 0;
	if (cached && strncmp(cached_name, name, NAMEDATALEN) == 0)
		return cached_id;
	cached_id = NameId(name);
	strlcpy(cached_name, name, NAMEDATALEN);
	cached = true;
	RecordName(cached_id, name);
	return cached_id;
}
