/*-------------------------------------------------------------------------
 *
 * puller.c
 *	  The background puller (pg_medallion.logical_worker = on, preloaded):
 *	  stores the logical feeds of pg_medallion.database continuously.
 *
 * Unlike medallion.pull(), which starts decoding at the slot's restart
 * point every time (re-reading up to one running-transactions interval of
 * WAL), the puller keeps one decoding context open, as a walsender does:
 * each round decodes only the WAL written since the last round, outside
 * any transaction, then stores the buffered changes and the watermark in a
 * short transaction, and after it committed confirms that position to the
 * slot.  A crash between commit and confirmation re-decodes changes the
 * watermark already covers; they are skipped (exactly once, as for pull).
 *
 * While the puller holds the slot a manual pull is refused (it would wait
 * forever); disable_feed of the last logical feed leaves the slot to the
 * puller, which drops it once no registration is left, and so does DROP
 * EXTENSION (slot.c); the puller locks the registration table in each of
 * its transactions, so the extension cannot vanish in the middle of one.
 * On any error the puller logs it and exits; the postmaster restarts it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "logical/puller.h"

#include "base/objects.h"
#include "base/spi.h"
#include "settings.h"
#include "logical/pull.h"
#include "logical/slot.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/slot.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/wait_event.h"

PGDLLEXPORT void medallion_puller_main(Datum main_arg);

/* The puller's lasting state: the decoding context and the pull state its sink points to. */
static LogicalDecodingContext *puller_ctx = NULL;
static PullState puller_state;
static MemoryContext round_context = NULL;

/* PullerStop ends decoding and gives the slot back. */
static void
PullerStop(void)
{
	if (puller_ctx != NULL || MyReplicationSlot != NULL)
		PullDecoderStop(puller_ctx);
	puller_ctx = NULL;
}

/*
 * LockRegistration locks the slot's registration table against DROP
 * EXTENSION for the rest of the transaction, and says whether it exists:
 * the extension cannot vanish between the puller's statements then.
 */
static bool
LockRegistration(void)
{
	Oid			schema = get_namespace_oid(MEDALLION_SCHEMA, true);
	Oid			registration = OidIsValid(schema) ? get_relname_relid("logical_slot", schema) : InvalidOid;

	if (!OidIsValid(registration))
		return false;
	LockRelationOid(registration, AccessShareLock);
	/* Locking processed invalidations: a drop that committed meanwhile is seen now. */
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(registration)))
	{
		UnlockRelationOid(registration, AccessShareLock);
		return false;
	}
	return true;
}

/*
 * PullerRound decodes what was written since the last round and stores it;
 * returns whether it stored changes (then the next round starts at once).
 */
static bool
PullerRound(void)
{
	char	   *slot;
	bool		installed;
	bool		registered = false;
	XLogRecPtr	stored_lsn = InvalidXLogRecPtr;
	XLogRecPtr	end;
	int64		stored = 0;
	MemoryContext old;

	MemoryContextReset(round_context);
	old = MemoryContextSwitchTo(round_context);
	slot = SlotName();

	/* What to decode for: the feeds and the watermark, read in a short transaction. */
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	installed = LockRegistration();
	if (installed)
	{
		CheckLogicalFeedsHaveSlot();	/* restored from a dump: say so, every few seconds */
		registered = RunAsOwner("SELECT 1 FROM medallion.logical_slot", 0, NULL, NULL, SPI_OK_SELECT) > 0;
	}
	if (registered)
	{
		stored_lsn = ReadStoredLsn(false);
		CheckSlotNotLost(slot);
		MemoryContextSwitchTo(round_context);
		LoadPullFeeds(&puller_state);
	}
	else if (puller_ctx == NULL && SlotExists(slot))
	{
		/* No registration, or no extension: the last use went while we held the slot (slot.c left it to us). */
		if (installed)
			DropUnregisteredSlot();
		else
			DropOrphanSlot();
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(round_context);

	if (!registered)
	{
		if (puller_ctx != NULL)
		{
			PullerStop();
			MemoryContextSwitchTo(old);
			return true;		/* come back at once to drop the slot */
		}
		MemoryContextSwitchTo(old);
		return false;
	}
	if (puller_ctx == NULL)
	{
		if (SlotHolder(slot) != 0)
		{
			ReleasePullFeeds(&puller_state);
			MemoryContextSwitchTo(old);
			return false;		/* a manual pull is running: try again later */
		}
		puller_state.stored_lsn = stored_lsn;
		MemoryContextSwitchTo(TopMemoryContext);
		puller_ctx = PullDecoderStart(&puller_state, slot);
		MemoryContextSwitchTo(round_context);
	}
	puller_state.stored_lsn = stored_lsn;
	end = PullDecode(puller_ctx, &puller_state, 0);

	if (end > stored_lsn && (puller_state.changes > 0 || end - stored_lsn >= PULL_RECORD_SKIPPED_WAL))
	{
		int			i;

		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (!LockRegistration() || ReadStoredLsn(true) != stored_lsn)
		{
			/*
			 * A manual pull stored in between: what was buffered may be
			 * stored already.  Or the extension was dropped.
			 */
			PopActiveSnapshot();
			AbortCurrentTransaction();
			ReleasePullFeeds(&puller_state);
			PullerStop();
			MemoryContextSwitchTo(old);
			return true;
		}
		for (i = 0; i < puller_state.nfeeds; i++)
			stored += StorePullFeed(&puller_state.feeds[i],
									(int64) U64FromFullTransactionId(GetTopFullTransactionId()));
		WriteStoredLsn(end);
		PopActiveSnapshot();
		CommitTransactionCommand();
		/* Committed: the slot may forget it. */
		LogicalConfirmReceivedLocation(end);
		ReplicationSlotMarkDirty();
	}
	ReleasePullFeeds(&puller_state);
	MemoryContextSwitchTo(old);
	return stored > 0;
}

/* PullerExit releases the slot when the puller stops. */
static void
PullerExit(int code, Datum arg)
{
	if (MyReplicationSlot != NULL)
		ReplicationSlotRelease();
}

/* RegisterPullerWorker registers the background puller at postmaster start. */
void
RegisterPullerWorker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_medallion");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "medallion_puller_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_medallion puller");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pg_medallion puller");
	RegisterBackgroundWorker(&worker);
}

/*
 * medallion_puller_main stores the logical feeds of pg_medallion.database
 * while pg_medallion.logical_worker is on: a round after every
 * pg_medallion.pull_interval, or at once after a round that stored changes.
 * An error is logged and ends the process (the postmaster restarts it).
 */
void
medallion_puller_main(Datum main_arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(medallion_database, NULL, 0);
	pgstat_report_appname("pg_medallion puller");
	before_shmem_exit(PullerExit, (Datum) 0);
	round_context = AllocSetContextCreate(TopMemoryContext, "pg_medallion puller round", ALLOCSET_DEFAULT_SIZES);
	PullStateInit(&puller_state, false);

	for (;;)
	{
		bool		busy = false;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (medallion_logical_worker)
		{
			busy = PullerRound();
			pgstat_report_stat(true);
		}
		else if (puller_ctx != NULL)
			PullerStop();
		if (!busy)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 medallion_logical_worker ? medallion_pull_interval_ms : 60000, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}
}
