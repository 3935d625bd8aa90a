/*-------------------------------------------------------------------------
 *
 * version.c
 *	  The version clock as callers see it: asking for a closed version, and
 *	  mapping xids to versions.
 *
 * A tick (tick.c) holds its lock on medallion.tick until its transaction
 * commits.  If a caller's own transaction ticked, a long transaction would
 * block every other tick, so current_version() never ticks in the caller's
 * transaction.  RequestTick answers in the cheapest of three ways: nothing
 * committed since the last tick (one index read and a snapshot, in the
 * caller); the resident ticker of this database, when preloaded (latch and
 * condition variable, no process started); otherwise a short-lived dynamic
 * background worker that ticks in a transaction of its own and reports back
 * through a small DSM segment (a free max_worker_processes slot needed).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "clock/version.h"

#include "clock/tick.h"
#include "clock/ticker.h"
#include "base/catalog.h"
#include "base/objects.h"
#include "base/spi.h"
#include "base/xid.h"
#include "base/export.h"

#include "access/relation.h"
#include "access/transam.h"
#include "storage/lmgr.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(medallion_current_version);
PG_FUNCTION_INFO_V1(medallion_version_from_timestamp);
PG_FUNCTION_INFO_V1(medallion_version_to_timestamp);
PG_FUNCTION_INFO_V1(medallion_first_version);

PGDLLEXPORT void medallion_tick_worker_main(Datum main_arg);

/* What a caller and its tick worker share. */
typedef struct TickRequest
{
	Oid			database;
	Oid			user;
	int			status;			/* 0: no answer, 1: ticked, -1: failed */
	int64		version;
	char		message[512];
} TickRequest;


/* medallion_tick_worker_main is the entry of the dynamic worker that closes one version. */
void
medallion_tick_worker_main(Datum main_arg)
{
	dsm_segment *seg;
	TickRequest *request;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	CurrentResourceOwner = ResourceOwnerCreate(NULL, "pg_medallion tick");
	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		proc_exit(0);			/* the caller gave up: nothing to do */
	request = (TickRequest *) dsm_segment_address(seg);

	BackgroundWorkerInitializeConnectionByOid(request->database, request->user, 0);
	pgstat_report_appname("pg_medallion tick");

	if (TickOnce(&request->version, request->message, sizeof(request->message)))
		request->status = 1;
	else
		request->status = -1;

	dsm_detach(seg);
	proc_exit(0);
}

static bool SelectInt64(const char *query, int nargs, Oid *argtypes, Datum *args, int64 *result);

/*
 * NothingNewVersion answers "would a tick now close nothing?" without a
 * worker: one read of the newest tick and a fresh snapshot, compared as
 * medallion._tick() compares them (same running transactions and no xid
 * assigned since, the tick's own aside).  Returns that tick's version, or -1
 * when a tick might close something (or cannot be judged here: a caller
 * with an xid of its own, or a transaction snapshot).  Nothing committed
 * that the caller could see is left out: a commit since the tick changed the
 * running set or advanced xmax.
 */
static int64
NothingNewVersion(void)
{
	NewestTick	newest;
	Snapshot	snap;
	int64		version = -1;

	if (IsolationUsesXactSnapshot() || GetTopTransactionIdIfAny() != InvalidTransactionId)
		return -1;
	snap = RegisterSnapshot(GetLatestSnapshot());
	if (ReadNewestTick(snap, &newest) && SnapshotAddsNothing(&newest, snap))
		version = newest.version;
	UnregisterSnapshot(snap);
	return version;
}

/*
 * RequestTick closes the open version in a worker's own transaction; returns
 * the newest version.  With nothing new since the last tick it starts no
 * worker (NothingNewVersion).
 */
int64
RequestTick(void)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	BgwHandleStatus status;
	dsm_segment *seg;
	TickRequest *request;
	int64		version;

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot close a version during recovery"),
				 errhint("Versions are closed on the primary; read versions that are already closed.")));

	/*
	 * A transaction that locked medallion.tick itself (by hand: nothing of
	 * ours does since 'snapshot' consumer starts stopped closing versions in
	 * the caller's transaction) holds it until it commits: a worker would
	 * wait for it.  The newest version it can read is the answer then.
	 */
	{
		Oid			tick = get_relname_relid("tick", MedallionSchemaOid());
		Relation	rel = OidIsValid(tick) ? try_relation_open(tick, AccessShareLock) : NULL;
		bool		held = rel != NULL && CheckRelationLockedByMe(rel, ExclusiveLock, true);

		if (rel != NULL)
			relation_close(rel, NoLock);
		if (held)
			return NewestReadableVersion();
	}

	version = NothingNewVersion();
	if (version >= 0)
		return version;
	/* The resident ticker of this database, when there is one: no process started per tick. */
	if (TickByTicker(&version))
		return version;

	seg = dsm_create(sizeof(TickRequest), 0);
	request = (TickRequest *) dsm_segment_address(seg);
	memset(request, 0, sizeof(TickRequest));
	request->database = MyDatabaseId;
	request->user = MedallionExtensionOwner();

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_medallion");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "medallion_tick_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_medallion tick");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pg_medallion tick");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start a worker to close the open version"),
				 errdetail("All background worker slots are in use."),
				 errhint("You might need to increase max_worker_processes.")));

	status = WaitForBackgroundWorkerShutdown(handle);
	if (status == BGWH_POSTMASTER_DIED)
		ereport(FATAL,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("postmaster exited while closing a version")));

	if (request->status != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not close the open version: %s",
						request->status == 0 ? "the tick worker stopped without an answer"
						: request->message),
				 errhint("See the server log for the tick worker's messages.")));
	version = request->version;
	dsm_detach(seg);
	return version;
}

/* SelectInt64 runs a one-value query with fresh snapshots, search_path pinned; false if it gave NULL or no row. */
static bool
SelectInt64(const char *query, int nargs, Oid *argtypes, Datum *args, int64 *result)
{
	int			spi_nest = SpiConnectPinned();
	bool		found = SpiSelectInt64(query, nargs, argtypes, args, result);

	SpiFinishPinned(spi_nest);
	return found;
}

/*
 * NewestReadableVersion returns the newest version visible to the caller:
 * in READ COMMITTED the newest committed tick, in REPEATABLE READ the newest
 * one the transaction's snapshot sees (it cannot see the changes of later
 * versions, so it must not read them either).
 */
int64
NewestReadableVersion(void)
{
	NewestTick	newest;

	return ReadNewestTick(GetTransactionSnapshot(), &newest) ? newest.version : 0;
}

/* VersionOfXid returns the first version whose snapshot sees `xid`, or -1 if none does yet. */
static int64
VersionOfXid(int64 xid)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(xid)};
	int64		version = -1;

	/* Snapshots only grow, so the first tick whose xmax passed xid starts the search. */
	int			spi_nest;

	spi_nest = SpiConnectPinned();
	(void) SpiSelectInt64Kept("SELECT t.version FROM medallion.tick AS t "
				"WHERE t.version OPERATOR(pg_catalog.>=) "
				"  (SELECT f.version FROM medallion.tick AS f "
				"   WHERE f.snapshot_xmax OPERATOR(pg_catalog.>) $1 "
				"   ORDER BY f.snapshot_xmax, f.version LIMIT 1) "
				"AND ($1 OPERATOR(pg_catalog.<) t.snapshot_xmin "
				"     OR NOT $1 OPERATOR(pg_catalog.=) ANY (t.snapshot_xip)) "
				"ORDER BY t.version LIMIT 1",
				1, argtypes, args, &version);
	SpiFinishPinned(spi_nest);
	return version;
}

/* LoadTicks returns the ticks of versions [from_version, to_version], in order, or errors if one is missing. */
TickSnapshot *
LoadTicks(int64 from_version, int64 to_version, int *nticks)
{
	int			spi_nest;
	MemoryContext outer = CurrentMemoryContext;
	TickSnapshot *ticks;
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		args[2] = {Int64GetDatum(from_version), Int64GetDatum(to_version)};
	int64		expected = to_version - from_version + 1;
	uint64		i;

	spi_nest = SpiConnectPinned();
	(void) SpiExecuteKept("SELECT version, snapshot_xmin, snapshot_xmax, snapshot_xip, committed_at "
						  "FROM medallion.tick WHERE version BETWEEN $1 AND $2 ORDER BY version",
						  2, argtypes, args, NULL, false, 0, SPI_OK_SELECT);
	if ((int64) SPI_processed != expected)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("versions " INT64_FORMAT " to " INT64_FORMAT " are not all available",
						from_version, to_version),
				 errdetail("Found " UINT64_FORMAT " of " INT64_FORMAT " versions in medallion.tick.",
						   SPI_processed, expected),
				 errhint("Versions removed by retention can no longer be read.")));

	ticks = MemoryContextAllocZero(outer, sizeof(TickSnapshot) * SPI_processed);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		ArrayType  *xip;
		Datum	   *elems;
		int			nelems;
		int			j;

		ticks[i].version = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		ticks[i].xmin = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		ticks[i].xmax = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
		xip = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 4, &isnull));
		ticks[i].committed_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 5, &isnull));
		deconstruct_array(xip, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, NULL, &nelems);
		ticks[i].nxip = nelems;
		ticks[i].xip = MemoryContextAlloc(outer, sizeof(int64) * Max(nelems, 1));
		for (j = 0; j < nelems; j++)
			ticks[i].xip[j] = DatumGetInt64(elems[j]);
	}
	*nticks = (int) SPI_processed;
	SpiFinishPinned(spi_nest);
	return ticks;
}

/* XidVisibleInTick returns whether a full xid is visible in a tick's snapshot (committed or aborted before it). */
bool
XidVisibleInTick(const TickSnapshot *tick, int64 xid)
{
	int			lo = 0,
				hi = tick->nxip - 1;

	if (xid < tick->xmin)
		return true;
	if (xid >= tick->xmax)
		return false;
	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (tick->xip[mid] == xid)
			return false;
		if (tick->xip[mid] < xid)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return true;
}

/*
 * TickIndexOfXid returns the index of the first tick whose snapshot sees
 * `xid`, or -1.  Visibility only grows with the version, so binary search.
 */
int
TickIndexOfXid(const TickSnapshot *ticks, int nticks, int64 xid)
{
	int			lo = 0,
				hi = nticks;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (XidVisibleInTick(&ticks[mid], xid))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo < nticks ? lo : -1;
}

/* medallion_current_version closes the open version; returns the newest readable version. */
Datum
medallion_current_version(PG_FUNCTION_ARGS)
{
	int64		version = RequestTick();

	/* In REPEATABLE READ only what the transaction's snapshot sees is readable. */
	if (IsolationUsesXactSnapshot())
		version = NewestReadableVersion();
	PG_RETURN_INT64(version);
}

/* medallion_version_from_timestamp returns the first version closed at or after a timestamp. */
Datum
medallion_version_from_timestamp(PG_FUNCTION_ARGS)
{
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		args[1];
	int64		version;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("from_timestamp must not be NULL"),
				 errhint("Pass the timestamp the read starts at.")));
	args[0] = PG_GETARG_DATUM(0);
	if (!SelectInt64("SELECT min(version) FROM medallion.tick WHERE committed_at OPERATOR(pg_catalog.>=) $1",
					 1, argtypes, args, &version))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no version was closed at or after %s",
						timestamptz_to_str(PG_GETARG_TIMESTAMPTZ(0))),
				 errhint("Call medallion.current_version() to close the open version, or start earlier.")));
	PG_RETURN_INT64(version);
}

/* medallion_version_to_timestamp returns the last version closed at or before a timestamp (NULL: newest). */
Datum
medallion_version_to_timestamp(PG_FUNCTION_ARGS)
{
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		args[1];
	int64		version;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();		/* the reader closes the open version itself */
	args[0] = PG_GETARG_DATUM(0);
	if (!SelectInt64("SELECT max(version) FROM medallion.tick WHERE committed_at OPERATOR(pg_catalog.<=) $1",
					 1, argtypes, args, &version))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no version was closed at or before %s",
						timestamptz_to_str(PG_GETARG_TIMESTAMPTZ(0))),
				 errhint("Pass a later to_timestamp.")));
	PG_RETURN_INT64(version);
}

/* FeedFirstVersion returns the version a feed's enable committed in, or -1 if no closed version sees it yet. */
int64
FeedFirstVersion(const FeedRow *feed)
{
	return VersionOfXid(feed->enabled_xid);
}

/* medallion_first_version returns a feed's first version (closing the open version if needed), or NULL while its enable is uncommitted. */
Datum
medallion_first_version(PG_FUNCTION_ARGS)
{
	Oid			source = PG_GETARG_OID(0);
	FeedRow		feed;
	int64		version;

	if (!LookupFeedBySource(source, &feed))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table %s has no change feed", RelationDisplayName(source)),
				 errhint("Call medallion.enable_feed() first.")));
	version = FeedFirstVersion(&feed);
	if (version < 0)
	{
		/* The enable may have committed after the last tick: close the open version. */
		RequestTick();
		version = FeedFirstVersion(&feed);
	}
	if (version < 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(version);
}
