/*-------------------------------------------------------------------------
 *
 * tick.c
 *	  Closing one version: CloseOpenVersion, in a transaction of its own,
 *	  in whichever process closes it (the resident ticker, ticker.c, or a
 *	  dynamic tick worker, version.c); also SQL-callable as medallion._tick().
 *
 * A tick takes an EXCLUSIVE lock on medallion.tick and only then its
 * snapshot, so ticks are totally ordered with their snapshots (snapshot(v)
 * sees everything snapshot(v - 1) sees); the lock is held until the ticking
 * transaction commits, which is why no caller's own transaction ever ticks.
 * A tick that finds nothing committed since the last one closes nothing.
 * Its fixed statements run through kept plans, and the partitions feeds need
 * next are made here too (EnsureNextPartitions, which remembers when none is
 * due): a tick costs two index lookups and one insert.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "clock/tick.h"

#include "base/change_bell.h"
#include "base/export.h"
#include "base/objects.h"
#include "base/spi.h"
#include "base/xid.h"
#include "capture/partition.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "lib/qunique.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(medallion_tick);

/* medallion.tick: version, snapshot_xmin, snapshot_xmax, snapshot_xip, committed_at, tick_xid. */
#define TICK_COLUMNS 6

/* int64 comparison for qsort: snapshot xids ascending. */
static int
CompareInt64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/*
 * ReadNewestTick reads the newest tick that `snap` sees, by a backward scan
 * of medallion.tick's primary key (never a plan: the table only grows);
 * false if there is none.  Our own catalog, read as data: no privilege
 * check, nothing of it returned but the tick.
 */
bool
ReadNewestTick(Snapshot snap, NewestTick *newest)
{
	Relation	rel = table_open(get_relname_relid("tick", MedallionSchemaOid()), AccessShareLock);
	Relation	index = index_open(RelationGetPrimaryKeyIndex(rel), AccessShareLock);
	SysScanDesc scan = systable_beginscan_ordered(rel, index, snap, 0, NULL);
	HeapTuple	tuple = systable_getnext_ordered(scan, BackwardScanDirection);
	bool		found = HeapTupleIsValid(tuple);

	if (found)
	{
		Datum		values[TICK_COLUMNS];
		bool		nulls[TICK_COLUMNS];
		ArrayType  *xip;

		if (RelationGetDescr(rel)->natts != TICK_COLUMNS)
			elog(ERROR, "medallion.tick has %d columns, not %d", RelationGetDescr(rel)->natts, TICK_COLUMNS);
		heap_deform_tuple(tuple, RelationGetDescr(rel), values, nulls);
		newest->version = DatumGetInt64(values[0]);
		newest->xmax = DatumGetInt64(values[2]);
		xip = DatumGetArrayTypeP(values[3]);
		newest->nxip = ArrayGetNItems(ARR_NDIM(xip), ARR_DIMS(xip));
		if (ARR_HASNULL(xip) || ARR_ELEMTYPE(xip) != INT8OID)
			elog(ERROR, "medallion.tick version " INT64_FORMAT " has a malformed snapshot", newest->version);
		newest->xip = palloc(sizeof(int64) * Max(newest->nxip, 1));
		memcpy(newest->xip, ARR_DATA_PTR(xip), sizeof(int64) * newest->nxip);
		newest->committed_at = DatumGetTimestampTz(values[4]);
		newest->tick_xid = nulls[5] ? -1 : DatumGetInt64(values[5]);
	}
	systable_endscan_ordered(scan);
	index_close(index, AccessShareLock);
	table_close(rel, AccessShareLock);
	return found;
}

/* WidenSnapshot fills the full-xid form of a snapshot, as pg_current_snapshot() gives it (xip sorted). */
static void
WidenSnapshot(Snapshot snap, int64 *xmin, int64 *xmax, int64 **xip, int *nxip)
{
	FullTransactionId next = ReadNextFullTransactionId();
	int			i;

	*xmin = WidenXid(snap->xmin, next);
	*xmax = WidenXid(snap->xmax, next);
	*xip = palloc(sizeof(int64) * Max(snap->xcnt, 1));
	for (i = 0; i < (int) snap->xcnt; i++)
		(*xip)[i] = WidenXid(snap->xip[i], next);
	qsort(*xip, snap->xcnt, sizeof(int64), CompareInt64);
	*nxip = (int) qunique(*xip, snap->xcnt, sizeof(int64), CompareInt64);
}

/*
 * SnapshotAddsNothing says whether a tick with snapshot `snap` would close
 * an empty version after `newest`: the same transactions running and no xid
 * assigned since, the newest tick's own aside.
 */
bool
SnapshotAddsNothing(const NewestTick *newest, Snapshot snap)
{
	int64		xmin,
				xmax,
			   *xip;
	int			nxip;

	WidenSnapshot(snap, &xmin, &xmax, &xip, &nxip);
	return nxip == newest->nxip &&
		(nxip == 0 || memcmp(xip, newest->xip, sizeof(int64) * nxip) == 0) &&
		(xmax == newest->xmax || (newest->tick_xid == newest->xmax && xmax == newest->xmax + 1));
}

/*
 * CloseOpenVersion closes the open version if anything committed since the
 * last tick, and returns the newest version.  Runs in the ticking
 * transaction, SPI connected with search_path pinned; the caller commits.
 */
static int64
CloseOpenVersion(void)
{
	NewestTick	last;
	Snapshot	snap;
	int64		xmin,
				xmax,
			   *xip;
	int			nxip;
	int			i;
	Datum	   *xip_datums;
	Oid			argtypes[6] = {INT8OID, INT8OID, INT8OID, INT8ARRAYOID, TIMESTAMPTZOID, INT8OID};
	Datum		args[6];

	LockRelationOid(get_relname_relid("tick", MedallionSchemaOid()), ExclusiveLock);

	/* Taken after the lock was granted: it sees every tick committed before, and is the version's snapshot. */
	snap = RegisterSnapshot(GetLatestSnapshot());
	if (!ReadNewestTick(snap, &last))
		elog(ERROR, "medallion.tick has no version 0");
	WidenSnapshot(snap, &xmin, &xmax, &xip, &nxip);
	if (xmax < last.xmax)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("transaction ids are behind the newest version: version " INT64_FORMAT
						" was closed at xid " INT64_FORMAT ", this cluster is at xid " INT64_FORMAT,
						last.version, last.xmax, xmax),
				 errhint("medallion.tick was restored from another cluster. Recreate the extension and the feeds in this cluster.")));
	if (SnapshotAddsNothing(&last, snap))
	{
		UnregisterSnapshot(snap);
		return last.version;
	}
	UnregisterSnapshot(snap);

	xip_datums = palloc(sizeof(Datum) * Max(nxip, 1));
	for (i = 0; i < nxip; i++)
		xip_datums[i] = Int64GetDatum(xip[i]);
	args[0] = Int64GetDatum(last.version + 1);
	args[1] = Int64GetDatum(xmin);
	args[2] = Int64GetDatum(xmax);
	args[3] = PointerGetDatum(construct_array(xip_datums, nxip, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
											  TYPALIGN_DOUBLE));
	args[4] = TimestampTzGetDatum(Max(GetCurrentTimestamp(), last.committed_at));
	args[5] = Int64GetDatum((int64) U64FromFullTransactionId(GetTopFullTransactionId()));
	(void) SpiExecuteKept("INSERT INTO medallion.tick (version, snapshot_xmin, snapshot_xmax, snapshot_xip, "
						  "committed_at, tick_xid) VALUES ($1, $2, $3, $4, $5, $6)",
						  6, argtypes, args, NULL, false, 0, SPI_OK_INSERT);
	EnsureNextPartitions(CurrentFullXid());
	/* Continuous flows read it once it commits. */
	ChangeBellRingAtCommit();
	return last.version + 1;
}

/* medallion_tick is medallion._tick(): closes the open version in the caller's transaction; returns the newest. */
Datum
medallion_tick(PG_FUNCTION_ARGS)
{
	int			spi_nest = SpiConnectPinned();
	int64		version = CloseOpenVersion();

	SpiFinishPinned(spi_nest);
	PG_RETURN_INT64(version);
}

/* RunTickTransaction closes the open version in a transaction of its own; returns the newest version. */
static int64
RunTickTransaction(void)
{
	int			spi_nest;
	int64		version;

	StartTransactionCommand();
	SetConfigOption("lock_timeout", "30s", PGC_SUSET, PGC_S_OVERRIDE);
	if (!OidIsValid(get_namespace_oid(MEDALLION_SCHEMA, true)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("pg_medallion is not installed in database \"%s\"", get_database_name(MyDatabaseId))));
	spi_nest = SpiConnectPinned();
	PushActiveSnapshot(GetTransactionSnapshot());
	version = CloseOpenVersion();
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
