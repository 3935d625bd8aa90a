/*-------------------------------------------------------------------------
 *
 * slot.c
 *	  The database's replication slot (medallion_<database oid>): created by
 *	  the first logical feed, dropped with the last one, and dropped when
 *	  the extension goes, so no slot is left holding WAL back forever.
 *
 * A slot is not transactional: it is created before the feed's
 * transaction writes, and dropped at pre-commit, when what removed the
 * last reason for it (disable_feed or DROP TABLE of the last logical feed,
 * DROP EXTENSION, DROP SCHEMA ... CASCADE, DROP OWNED) can no longer be
 * rolled back by anything but a failed commit record.
 * A slot the background puller holds is dropped by the puller itself once
 * it sees the registration or the extension gone (puller.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "logical/slot.h"

#include "base/privilege.h"
#include "base/spi.h"
#include "base/export.h"

#include "access/xact.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "replication/origin.h"
#include "replication/slot.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(medallion_note_extension_drop);
PG_FUNCTION_INFO_V1(medallion_resume_logical_feeds);

/* Advisory lock key (with the database oid) of the slot's lifecycle: "MEDA". */
#define MEDALLION_SLOT_LOCK_KEY 0x4D454441
#define MEDALLION_SLOT_LOCKTAG 0x4D53	/* not 1 or 2, which SQL advisory locks use */

/* The slot may have lost its last reason in this transaction (see DropUnusedSlot): check at pre-commit. */
static bool check_slot_at_commit = false;

/*
 * LogicalPrepareSlot makes sure the database's slot exists and is
 * registered.  Creating a slot is only possible before the transaction
 * writes anything, and it waits for running transactions, so enable_feed
 * calls this before it assigns an xid or locks the source.
 */
void
LogicalPrepareSlot(void)
{
	char	   *slot = SlotName();
	bool		registered;
	bool		exists;

	/*
	 * The common case, a slot that exists and is registered: only hold off a
	 * concurrent drop of the last logical feed's slot (it takes SHARE ROW
	 * EXCLUSIVE), not pulls or other roles' enables, until this commits.
	 */
	if (SlotExists(slot))
	{
		RunAsOwner("LOCK TABLE medallion.logical_slot IN ROW EXCLUSIVE MODE", 0, NULL, NULL, SPI_OK_UTILITY);
		if (RunAsOwner("SELECT 1 FROM medallion.logical_slot", 0, NULL, NULL, SPI_OK_SELECT) > 0 && SlotExists(slot))
			return;
	}

	/* Slot and registration change together, under these locks (the puller's drops take them too). */
	LockSlotLifecycle();
	RunAsOwner("LOCK TABLE medallion.logical_slot IN SHARE ROW EXCLUSIVE MODE", 0, NULL, NULL, SPI_OK_UTILITY);
	registered = RunAsOwner("SELECT 1 FROM medallion.logical_slot", 0, NULL, NULL, SPI_OK_SELECT) > 0;
	exists = SlotExists(slot);
	if (!exists)
	{
		if (GetTopTransactionIdIfAny() != InvalidTransactionId)
			ereport(ERROR,
					(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
					 errmsg("the database's replication slot must be created before any write in its transaction"),
					 errdetail("The first logical feed of a database, and resuming broken ones, create it; PostgreSQL allows that only then."),
					 errhint("Call medallion.enable_feed(..., mode => 'logical') or medallion.resume_logical_feeds() "
							 "in a transaction of its own.")));
		RunAsOwner(psprintf("SELECT pg_catalog.pg_create_logical_replication_slot(%s, 'pg_medallion')",
							quote_literal_cstr(slot)), 0, NULL, NULL, SPI_OK_SELECT);
	}
	if (!registered)
		RunAsOwner(psprintf("INSERT INTO medallion.logical_slot (slot_name, stored_lsn) "
							"SELECT slot_name, confirmed_flush_lsn FROM pg_catalog.pg_replication_slots "
							"WHERE slot_name = %s", quote_literal_cstr(slot)), 0, NULL, NULL, SPI_OK_INSERT);
}

/*
 * LogicalDropSlotIfUnused unregisters the slot once no logical feed is left
 * (disable_feed, a dropped source) and has it dropped at commit: a rolled
 * back disable keeps feeds, registration and slot together.
 */
void
LogicalDropSlotIfUnused(void)
{
	if (RunAsOwner("SELECT 1 FROM medallion.feed WHERE mode = 'logical'", 0, NULL, NULL, SPI_OK_SELECT) > 0)
		return;
	RunAsOwner("LOCK TABLE medallion.logical_slot IN SHARE ROW EXCLUSIVE MODE;\n"
			   "DELETE FROM medallion.logical_slot", 0, NULL, NULL, SPI_OK_DELETE);
	check_slot_at_commit = true;
}

/*
 * LockSlotLifecycle serialises creating the slot with the puller's drop of
 * a slot whose extension is gone, until the end of the transaction.  An
 * advisory lock, because the extension's tables may not exist.
 */
void
LockSlotLifecycle(void)
{
	LOCKTAG		tag;

	/* A fourth field of our own: with 2, pg_advisory_lock(int4, int4) could take it from SQL. */
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, MEDALLION_SLOT_LOCK_KEY, 0, MEDALLION_SLOT_LOCKTAG);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/*
 * DropOrphanSlot drops the database's slot if the extension is not
 * installed and no process holds the slot: the extension was dropped while
 * the background puller held it.  Called by the puller in a transaction.
 */
void
DropOrphanSlot(void)
{
	char	   *slot = SlotName();

	LockSlotLifecycle();
	/* Look at the catalogs as of now, after the lock: a feed enabled since then has its extension. */
	InvalidateCatalogSnapshot();
	if (OidIsValid(get_extension_oid("pg_medallion", true)))
		return;
	if (SlotExists(slot) && SlotHolder(slot) == 0)
	{
		ReplicationSlotDrop(slot, true);
		ereport(LOG,
				(errmsg("dropped replication slot \"%s\": extension pg_medallion is no longer installed", slot)));
	}
}

/*
 * DropUnregisteredSlot drops the database's slot if no logical feed is
 * registered and no process holds it: the last logical feed went while the
 * background puller held the slot (or was storing).  Called by the puller
 * in a transaction.  enable_feed creates and registers under the same
 * lock, so after the lock either its registration is visible or it has not
 * made its slot yet.
 */
void
DropUnregisteredSlot(void)
{
	RunAsOwner("LOCK TABLE medallion.logical_slot IN SHARE ROW EXCLUSIVE MODE", 0, NULL, NULL, SPI_OK_UTILITY);
	RunAsOwner(psprintf("SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM pg_catalog.pg_replication_slots "
						"WHERE slot_name = %s AND active_pid IS NULL "
						"AND NOT EXISTS (SELECT 1 FROM medallion.logical_slot)", quote_literal_cstr(SlotName())),
			   0, NULL, NULL, SPI_OK_SELECT);
}

/* SlotExists says whether the named replication slot exists. */
bool
SlotExists(const char *slot)
{
	bool		exists;

	LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
	exists = SearchNamedReplicationSlot(slot, false) != NULL;
	LWLockRelease(ReplicationSlotControlLock);
	return exists;
}

/* SlotHolder returns the pid of the process using the slot (0: none). */
int
SlotHolder(const char *slot)
{
	ReplicationSlot *s;
	int			pid = 0;

	LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
	s = SearchNamedReplicationSlot(slot, false);
	if (s != NULL)
	{
		SpinLockAcquire(&s->mutex);
		pid = s->active_pid;
		SpinLockRelease(&s->mutex);
	}
	LWLockRelease(ReplicationSlotControlLock);
	return pid == MyProcPid ? 0 : pid;
}

/*
 * medallion_note_extension_drop is the ddl_command_start event trigger of
 * DROP EXTENSION, DROP SCHEMA and DROP OWNED: any of them may take the
 * extension along, and with it the only record that the slot is ours.
 * Whether it did is known only at commit, so this just asks for a look then.
 */
Datum
medallion_note_extension_drop(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("medallion._note_extension_drop() must be called as an event trigger")));
	check_slot_at_commit = true;
	PG_RETURN_VOID();
}

/*
 * DropUnusedSlot drops the database's slot at commit when nothing uses it
 * any more: the extension is gone, or no logical feed is registered.  A
 * slot the background puller holds is left to the puller, which drops it
 * when it sees that too; one held by any other process is left with a
 * warning.
 */
static void
DropUnusedSlot(void)
{
	char	   *slot = SlotName();
	bool		installed = OidIsValid(get_extension_oid("pg_medallion", true));
	int			holder;

	if (!SlotExists(slot))
		return;
	if (installed)
	{
		bool		registered;

		/* Pre-commit runs without an active snapshot; queries need one. */
		PushActiveSnapshot(GetTransactionSnapshot());
		registered = RunAsOwner("SELECT 1 FROM medallion.logical_slot", 0, NULL, NULL, SPI_OK_SELECT) > 0;
		PopActiveSnapshot();
		if (registered)
			return;				/* registered again, or the unregistering was rolled back to a savepoint */
	}
	holder = SlotHolder(slot);
	if (holder != 0)
	{
		PGPROC	   *proc = BackendPidGetProc(holder);

		/* The background puller holds the slot while it runs, and drops it when it sees the same. */
		if (proc != NULL && proc->isBackgroundWorker)
			return;
		ereport(WARNING,
				(errmsg("unused replication slot \"%s\" of pg_medallion is in use by process %d", slot, holder),
				 errdetail("It holds back WAL until it is dropped."),
				 errhint("SELECT pg_drop_replication_slot('%s'); once that process has let it go.", slot)));
		return;
	}
	if (MyReplicationSlot != NULL)
		return;					/* cannot happen: pulls release the slot before they return */
	ReplicationSlotDrop(slot, true);
}

/* SlotXactCallback runs the pre-commit check and forgets the request on abort. */
static void
SlotXactCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (check_slot_at_commit)
			{
				check_slot_at_commit = false;
				DropUnusedSlot();
			}
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (check_slot_at_commit)
				ereport(WARNING,
						(errmsg("a prepared transaction does not drop pg_medallion's replication slot \"%s\"",
								SlotName()),
						 errhint("After COMMIT PREPARED, SELECT pg_drop_replication_slot('%s'); if no logical feed "
								 "is left, or it holds back WAL.", SlotName())));
			check_slot_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			check_slot_at_commit = false;
			break;
		default:
			break;
	}
}

/* SlotInit registers the pre-commit check (from _PG_init). */
void
SlotInit(void)
{
	RegisterXactCallback(SlotXactCallback, NULL);
}

/*
 * CheckLogicalFeedsHaveSlot errors when the database has logical feeds but
 * no registered slot: a database restored from a dump (slots are not part
 * of it) would otherwise capture nothing, silently.
 */
void
CheckLogicalFeedsHaveSlot(void)
{
	if (RunAsOwner("SELECT 1 FROM medallion.feed WHERE mode = 'logical' "
				   "AND NOT EXISTS (SELECT 1 FROM medallion.logical_slot)", 0, NULL, NULL, SPI_OK_SELECT) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the logical feeds of this database have no replication slot"),
				 errdetail("The database was restored from a dump (slots are not dumped), or the slot's registration was "
						   "removed: changes written since then are not in the feeds."),
				 errhint("SELECT medallion.resume_logical_feeds(); captures from then on, in a transaction of its own.")));
}

/*
 * medallion_resume_logical_feeds gives broken logical feeds a new slot:
 * after a restore from a dump, or after the slot was lost
 * (max_slot_wal_keep_size) or dropped by hand.  The feeds, their change
 * tables, versions and consumers go on; what was committed between the
 * last stored change and the returned LSN is not in them, and the notice
 * says so.  Calling it while the slot is fine changes nothing.
 */
Datum
medallion_resume_logical_feeds(PG_FUNCTION_ARGS)
{
	char	   *slot = SlotName();
	bool		registered;
	int			holder;
	XLogRecPtr	resume_at;

	if (RunAsOwner("SELECT 1 FROM medallion.feed WHERE mode = 'logical'", 0, NULL, NULL, SPI_OK_SELECT) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this database has no logical feeds to resume"),
				 errhint("Enable one with medallion.enable_feed(..., mode => 'logical').")));
	registered = RunAsOwner("SELECT 1 FROM medallion.logical_slot", 0, NULL, NULL, SPI_OK_SELECT) > 0;
	if (registered && SlotExists(slot) &&
		RunAsOwner(psprintf("SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = %s AND wal_status = 'lost'",
							quote_literal_cstr(slot)), 0, NULL, NULL, SPI_OK_SELECT) == 0)
	{
		ereport(NOTICE,
				(errmsg("the logical feeds of this database are not broken: nothing to resume")));
		PG_RETURN_NULL();
	}
	holder = SlotHolder(slot);
	if (holder != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("replication slot \"%s\" is in use by process %d", slot, holder),
				 errhint("Turn the background puller off (pg_medallion.logical_worker = off) while resuming.")));
	/* A lost slot is dropped and made anew (not transactional, like creating it). */
	if (SlotExists(slot))
		ReplicationSlotDrop(slot, true);
	LogicalPrepareSlot();
	/* The new slot starts here: the feeds take what commits from now on, the watermark too. */
	RunAsOwner(psprintf("UPDATE medallion.logical_slot l SET stored_lsn = s.confirmed_flush_lsn, pulled_at = NULL "
						"FROM pg_catalog.pg_replication_slots s WHERE s.slot_name = l.slot_name AND l.slot_name = %s;\n"
						"UPDATE medallion.feed SET enabled_lsn = (SELECT stored_lsn FROM medallion.logical_slot) "
						"WHERE mode = 'logical'", quote_literal_cstr(slot)), 0, NULL, NULL, SPI_OK_UPDATE);
	resume_at = ReadStoredLsn(false);
	ereport(NOTICE,
			(errmsg("logical feeds resume at %X/%X", LSN_FORMAT_ARGS(resume_at)),
			 errdetail("Changes committed after the last pull and before this point are not in the feeds.")));
	PG_RETURN_LSN(resume_at);
}

/* ReadStoredLsn returns the watermark of what committed pulls stored. */
XLogRecPtr
ReadStoredLsn(bool for_update)
{
	OwnerSwitch as_owner;
	XLogRecPtr	lsn = InvalidXLogRecPtr;

	BeginAsOwner(&as_owner);
	SpiConnect();
	if (SpiExecute(for_update ? "SELECT stored_lsn FROM medallion.logical_slot FOR UPDATE"
				   : "SELECT stored_lsn FROM medallion.logical_slot", 0, NULL, NULL, false, 0, SPI_OK_SELECT) == 1)
	{
		bool		isnull;

		lsn = DatumGetLSN(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();
	EndAsOwner(&as_owner);
	return lsn;
}

/* CheckSlotNotLost errors if the slot is gone or lost WAL (max_slot_wal_keep_size): never a silent gap. */
void
CheckSlotNotLost(const char *slot)
{
	if (RunAsOwner(psprintf("SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = %s "
							"AND wal_status = 'lost' UNION ALL SELECT 1 WHERE NOT EXISTS "
							"(SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = %s)",
							quote_literal_cstr(slot), quote_literal_cstr(slot)), 0, NULL, NULL, SPI_OK_SELECT) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the logical feeds of this database are broken: replication slot \"%s\" is lost", slot),
				 errdetail("Changes between the last pull and now are gone from the WAL; storing later ones would leave a silent gap."),
				 errhint("SELECT medallion.resume_logical_feeds(); captures from then on (the changes in between stay missing). "
						 "Raise max_slot_wal_keep_size or pull more often to avoid it.")));
}

/* WriteStoredLsn moves the watermark, in the caller's transaction. */
void
WriteStoredLsn(XLogRecPtr lsn)
{
	replorigin_session_origin = DoNotReplicateId;	/* bookkeeping: not for decoders either */
	PG_TRY();
	{
		RunAsOwner(psprintf("UPDATE medallion.logical_slot SET stored_lsn = '%X/%X', pulled_at = pg_catalog.now()",
							LSN_FORMAT_ARGS(lsn)), 0, NULL, NULL, SPI_OK_UPDATE);
	}
	PG_FINALLY();
	{
		replorigin_session_origin = InvalidRepOriginId;
	}
	PG_END_TRY();
}

/* SlotName returns this database's slot name: one slot serves every logical feed of the database. */
char *
SlotName(void)
{
	return psprintf("medallion_%u", MyDatabaseId);
}
