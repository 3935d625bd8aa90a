/*-------------------------------------------------------------------------
 *
 * slot.c
 *	  The database's replication slot (medallion_<database oid>): created by
 *	  the first logical feed, dropped with the last one, and dropped when
 *	  the extension goes, so no slot is left holding WAL back forever.
 *
 * A slot is not transactional: it is created before the feed's
 * transaction writes, and dropped at pre-commit, when what removed the
 * last reason for it (DROP EXTENSION, DROP SCHEMA ... CASCADE, DROP OWNED)
 * can no longer be rolled back by anything but a failed commit record.
 * A slot the background puller holds is dropped by the puller itself once
 * it sees the registration or the extension gone (puller.c).
 *
 *-------------------------------------------------------------------------
 */
#include "pg_medallion.h"
#include "pull.h"

#include "access/xact.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "replication/slot.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(medallion_note_extension_drop);

/* Advisory lock key (with the database oid) of the slot's lifecycle: "MEDA". */
#define MEDALLION_SLOT_LOCK_KEY 0x4D454441

/* A command that may drop the extension ran in this transaction: check at pre-commit. */
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
	char	   *slot = PullSlotName();
	bool		registered;
	bool		exists;

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
					 errmsg("the first logical feed of a database must be enabled before any write in its transaction"),
					 errdetail("It creates the database's replication slot, which PostgreSQL allows only then."),
					 errhint("Call medallion.enable_feed(..., mode => 'logical') in a transaction of its own.")));
		RunAsOwner(psprintf("SELECT pg_catalog.pg_create_logical_replication_slot(%s, 'pg_medallion')",
							quote_literal_cstr(slot)), 0, NULL, NULL, SPI_OK_SELECT);
	}
	if (!registered)
		RunAsOwner(psprintf("INSERT INTO medallion.logical_slot (slot_name, stored_lsn) "
							"SELECT slot_name, confirmed_flush_lsn FROM pg_catalog.pg_replication_slots "
							"WHERE slot_name = %s", quote_literal_cstr(slot)), 0, NULL, NULL, SPI_OK_INSERT);
}

/* LogicalDropSlotIfUnused drops the slot once no logical feed is left (called by disable_feed). */
void
LogicalDropSlotIfUnused(void)
{
	if (RunAsOwner("SELECT 1 FROM medallion.feed WHERE mode = 'logical'", 0, NULL, NULL, SPI_OK_SELECT) > 0)
		return;
	/* A slot the background puller holds is dropped by the puller when it sees no registration. */
	RunAsOwner(psprintf("LOCK TABLE medallion.logical_slot IN SHARE ROW EXCLUSIVE MODE;\n"
						"DELETE FROM medallion.logical_slot;\n"
						"SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM pg_catalog.pg_replication_slots "
						"WHERE slot_name = %s AND active_pid IS NULL", quote_literal_cstr(PullSlotName())),
			   0, NULL, NULL, SPI_OK_SELECT);
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

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, MEDALLION_SLOT_LOCK_KEY, 0, 2);
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
	char	   *slot = PullSlotName();

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
 * DropSlotOfDroppedExtension drops the database's slot when the extension
 * is gone at commit.  A slot in use by another process (the puller, which
 * drops it itself when it sees the extension gone) is left with a warning.
 */
static void
DropSlotOfDroppedExtension(void)
{
	char	   *slot;
	int			holder;

	if (OidIsValid(get_extension_oid("pg_medallion", true)))
		return;
	slot = PullSlotName();
	if (!SlotExists(slot))
		return;
	holder = SlotHolder(slot);
	if (holder != 0)
	{
		PGPROC	   *proc = BackendPidGetProc(holder);

		/* The background puller holds the slot while it runs, and drops it when it sees the extension gone. */
		if (proc != NULL && proc->isBackgroundWorker)
			return;
		ereport(WARNING,
				(errmsg("replication slot \"%s\" of the dropped extension pg_medallion is in use by process %d",
						slot, holder),
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
				DropSlotOfDroppedExtension();
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PRE_PREPARE:	/* a prepared drop leaves the slot to pg_drop_replication_slot() */
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
