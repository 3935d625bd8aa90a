/*-------------------------------------------------------------------------
 *
 * logical.c
 *	  Logical feeds: changes decoded from the WAL by the output plugin
 *	  (decoder.c) through the database's slot, stored into the same change
 *	  tables as trigger feeds by medallion.pull().
 *
 * Exactly once without two-phase commit: pull peeks the slot, writes the
 * change rows and its LSN watermark (medallion.logical_slot.stored_lsn) in
 * the caller's transaction, and the slot is advanced to the stored
 * watermark only by a later pull, after that transaction committed.  A
 * crash in between re-reads changes at or below the watermark, which are
 * skipped.  Pulls serialise on the slot's catalog row.
 *
 * Versions stay one clock: change rows carry the *pull's* xid, so a pulled
 * change belongs to the version the pull committed in, through the same
 * snapshot ticks as trigger captures (invariants 1-3 hold as they do for
 * triggers; a logical change lands in a version after its own commit).
 *
 *-------------------------------------------------------------------------
 */
#include "pg_medallion.h"
#include "pull.h"

#include "replication/slot.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "access/heapam.h"
#include "access/xlogutils.h"
#include "executor/tuptable.h"
#include "replication/decode.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "replication/slot.h"
#include "utils/inval.h"
#include "utils/resowner.h"
#include "utils/tuplestore.h"

#include "access/table.h"
#include "commands/extension.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/varlena.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/pg_lsn.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(medallion_pull);
PG_FUNCTION_INFO_V1(medallion_oldest_unpulled);


/*
 * CheckPluginAllowed errors unless this library may be loaded as an output
 * plugin: Debian's PostgreSQL only loads those listed in the superuser
 * setting output_plugin_libraries (builds without it load any).
 */
void
CheckPluginAllowed(void)
{
	const char *setting = GetConfigOption("output_plugin_libraries", true, false);
	char	   *copy;
	List	   *names = NIL;
	ListCell   *lc;
	StringInfoData list;

	if (setting == NULL)
		return;

	copy = pstrdup(setting);
	initStringInfo(&list);
	if (SplitDirectoriesString(copy, ',', &names))
		foreach(lc, names)
		{
			const char *name = lfirst(lc);
			const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;

			if (strcmp(base, "pg_medallion") == 0 || strcmp(base, "pg_medallion.so") == 0)
				return;
			appendStringInfo(&list, "%s, ", quote_literal_cstr(name));
		}
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("logical feeds need pg_medallion in output_plugin_libraries"),
			 errdetail("This PostgreSQL build loads only the output plugins listed there (now '%s').", setting),
			 errhint("ALTER SYSTEM SET output_plugin_libraries = %s'pg_medallion'; SELECT pg_reload_conf();",
					 list.data)));
}

/*
 * LogicalCheckSource errors unless a table can have a logical feed: WAL at
 * logical level, full pre-images, not partitioned.
 */
void
LogicalCheckSource(Relation rel)
{
	if (wal_level < WAL_LEVEL_LOGICAL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("logical feeds need wal_level = logical"),
				 errhint("Set wal_level = logical in postgresql.conf and restart, or use mode 'trigger'.")));
	CheckPluginAllowed();
	if (rel->rd_rel->relreplident != REPLICA_IDENTITY_FULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s needs REPLICA IDENTITY FULL for a logical feed",
						RelationDisplayName(RelationGetRelid(rel))),
				 errdetail("Without it the WAL holds no complete pre-images of updates and deletes."),
				 errhint("ALTER TABLE %s REPLICA IDENTITY FULL;", RelationDisplayName(RelationGetRelid(rel)))));
	if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("logical feeds of partitioned tables are not supported yet"),
				 errhint("Use mode 'trigger' for partitioned tables.")));
}

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

	/* Slot and registration change together, under this lock (the puller's drop takes it too). */
	RunAsOwner("LOCK TABLE medallion.logical_slot IN SHARE ROW EXCLUSIVE MODE", 0, NULL, NULL, SPI_OK_UTILITY);
	registered = RunAsOwner("SELECT 1 FROM medallion.logical_slot", 0, NULL, NULL, SPI_OK_SELECT) > 0;
	exists = RunAsOwner(psprintf("SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = %s",
								 quote_literal_cstr(slot)), 0, NULL, NULL, SPI_OK_SELECT) > 0;
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

/* SlotHolder returns the pid of the process using the slot (0: none). */
static int
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
 * medallion_pull stores the decoded changes of every logical feed of the
 * database into their change tables, in the caller's transaction, and
 * returns per feed how many change rows it stored.
 */
Datum
medallion_pull(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *slot = PullSlotName();
	int64		max_changes = PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0);
	PullState	ps;
	LogicalDecodingContext *volatile ctx = NULL;
	volatile XLogRecPtr end = InvalidXLogRecPtr;
	volatile int64 total = 0;

	if (!PG_ARGISNULL(0) && max_changes < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_changes must be at least 1"),
				 errhint("Pass NULL to pull everything decoded so far.")));
	InitMaterializedSRF(fcinfo, 0);

	if (RunAsOwner("SELECT 1 FROM medallion.logical_slot", 0, NULL, NULL, SPI_OK_SELECT) == 0)
		return (Datum) 0;		/* no logical feed ever: nothing to pull */
	PullStateInit(&ps, false);
	/* One pull at a time: the second waits here, then sees what the first stored. */
	ps.stored_lsn = ReadStoredLsn(true);
	if (SlotHolder(slot) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("replication slot \"%s\" is in use by process %d", slot, SlotHolder(slot)),
				 errdetail("The background puller (pg_medallion.logical_worker) or another pull is storing the logical feeds."),
				 errhint("With the background puller on, changes are stored continuously; turn it off to pull by hand.")));
	CheckSlotNotLost(slot);
	LoadPullFeeds(&ps);

	PG_TRY();
	{
		int64		pull_xid;
		int			i;

		ctx = PullDecoderStart(&ps, slot);
		end = PullDecode(ctx, &ps, max_changes);
		PullDecoderStop(ctx);
		ctx = NULL;

		/* Rows carry the pull's own xid: they belong to the version the pull commits in. */
		pull_xid = (int64) U64FromFullTransactionId(GetTopFullTransactionId());
		for (i = 0; i < ps.nfeeds; i++)
		{
			Datum		values[2];
			bool		nulls[2] = {false, false};
			int64		n = StorePullFeed(&ps.feeds[i], pull_xid);

			values[0] = ObjectIdGetDatum(ps.feeds[i].feed.source);
			values[1] = Int64GetDatum(n);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			total += n;
		}
	}
	PG_FINALLY();
	{
		if (ctx != NULL || MyReplicationSlot != NULL)
			PullDecoderStop(ctx);
		ReleasePullFeeds(&ps);
	}
	PG_END_TRY();

	/* The watermark moves with the rows, in this transaction; the slot follows at the next pull. */
	if (end > ps.stored_lsn && (total > 0 || end - ps.stored_lsn >= PULL_RECORD_SKIPPED_WAL))
		WriteStoredLsn(end);
	return (Datum) 0;
}

/*
 * medallion_oldest_unpulled returns the commit time of the oldest
 * transaction with changes to a logical feed that no pull stored yet (NULL:
 * none).  It decodes the slot up to that transaction, storing nothing.
 * While another process holds the slot (the background puller, which
 * stores continuously) it cannot look and returns NULL.
 */
Datum
medallion_oldest_unpulled(PG_FUNCTION_ARGS)
{
	char	   *slot = PullSlotName();
	PullState	ps;
	LogicalDecodingContext *volatile ctx = NULL;

	if (RunAsOwner("SELECT 1 FROM medallion.logical_slot", 0, NULL, NULL, SPI_OK_SELECT) == 0)
		PG_RETURN_NULL();
	if (SlotHolder(slot) != 0)
		PG_RETURN_NULL();
	PullStateInit(&ps, true);
	ps.stored_lsn = ReadStoredLsn(false);
	CheckSlotNotLost(slot);
	LoadPullFeeds(&ps);
	PG_TRY();
	{
		ctx = PullDecoderStart(&ps, slot);
		(void) PullDecode(ctx, &ps, 0);
	}
	PG_FINALLY();
	{
		PullDecoderStop(ctx);
		ReleasePullFeeds(&ps);
	}
	PG_END_TRY();
	if (ps.oldest_commit == 0)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(ps.oldest_commit);
}
