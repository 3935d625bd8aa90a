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

#include "access/table.h"
#include "commands/extension.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
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

PGDLLEXPORT void medallion_puller_main(Datum main_arg);

/* SlotName returns this database's slot name: one slot serves every logical feed of the database. */
static char *
SlotName(void)
{
	return psprintf("medallion_%u", MyDatabaseId);
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
	char	   *slot = SlotName();
	bool		registered;
	bool		exists;

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
	RunAsOwner(psprintf("DELETE FROM medallion.logical_slot;\n"
						"SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM pg_catalog.pg_replication_slots "
						"WHERE slot_name = %s", quote_literal_cstr(SlotName())), 0, NULL, NULL, SPI_OK_SELECT);
}

/* StoreFeedChanges inserts one feed's decoded changes of the batch; returns how many change rows. */
static uint64
StoreFeedChanges(int32 feed_id, Oid source, Oid change_table, XLogRecPtr enabled_lsn, int64 pull_xid)
{
	Relation	rel = table_open(source, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData cols;
	int			i;
	char	   *sql;

	initStringInfo(&cols);
	for (i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped)
			appendStringInfo(&cols, "%s, ", quote_identifier(NameStr(TupleDescAttr(desc, i)->attname)));
	table_close(rel, AccessShareLock);

	/* An update gives a pre-image (sub 1, from "old") and a post-image (sub 2, from "new"). */
	sql = psprintf("INSERT INTO %s (%s_xid, _seq, _change_type, _role, _app) "
				   "SELECT (r.rec).*, %lld, pg_catalog.nextval('medallion.change_seq'), "
				   "r.kind::medallion.change_type, 0, 0 FROM ("
				   "SELECT b.ord, x.sub, x.kind, pg_catalog.jsonb_populate_record(NULL::%s, x.img) AS rec "
				   "FROM pg_temp.medallion_pull AS b, LATERAL (VALUES "
				   "(1, CASE b.j->>'change' WHEN 'update' THEN 'update_preimage' WHEN 'delete' THEN 'delete' END, b.j->'old'), "
				   "(2, CASE b.j->>'change' WHEN 'insert' THEN 'insert' WHEN 'update' THEN 'update_postimage' "
				   "    WHEN 'truncate' THEN 'truncate' END, b.j->'new')) AS x(sub, kind, img) "
				   "WHERE b.j->>'table' = %s AND x.kind IS NOT NULL "
				   "AND (b.j->>'commit_lsn')::pg_catalog.pg_lsn > '%X/%X'::pg_catalog.pg_lsn "
				   "ORDER BY b.ord, x.sub) AS r",
				   RelationDisplayName(change_table), cols.data, (long long) pull_xid,
				   RelationDisplayName(source), quote_literal_cstr(RelationDisplayName(source)),
				   LSN_FORMAT_ARGS(enabled_lsn));
	return RunAsOwner(sql, 0, NULL, NULL, SPI_OK_INSERT);
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
	char	   *slot = SlotName();
	char	   *limit = PG_ARGISNULL(0) ? "NULL" : psprintf(INT64_FORMAT, PG_GETARG_INT64(0));
	Oid			save_userid;
	int			save_sec;
	uint64		i;
	int64		pull_xid;
	List	   *feeds = NIL;
	ListCell   *lc;
	MemoryContext outer = CurrentMemoryContext;

	if (!PG_ARGISNULL(0) && PG_GETARG_INT64(0) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_changes must be at least 1"),
				 errhint("Pass NULL to pull everything decoded so far.")));
	InitMaterializedSRF(fcinfo, 0);

	/* One pull at a time: the second waits here, then sees what the first stored. */
	if (RunAsOwner("SELECT 1 FROM medallion.logical_slot FOR UPDATE", 0, NULL, NULL, SPI_OK_SELECT) == 0)
		return (Datum) 0;		/* no logical feed ever: nothing to pull */

	/* A slot that lost WAL (max_slot_wal_keep_size) can no longer give every change: never a silent gap. */
	if (RunAsOwner(psprintf("SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = %s "
							"AND wal_status = 'lost' UNION ALL SELECT 1 WHERE NOT EXISTS "
							"(SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = %s)",
							quote_literal_cstr(slot), quote_literal_cstr(slot)), 0, NULL, NULL, SPI_OK_SELECT) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the logical feeds of this database are broken: replication slot \"%s\" is lost", slot),
				 errdetail("Changes between the last pull and now are gone from the WAL; storing later ones would leave a silent gap."),
				 errhint("Disable and enable the logical feeds again (their change tables restart), or raise max_slot_wal_keep_size.")));

	/* What an earlier, committed pull stored is acknowledged to the slot only now. */
	RunAsOwner(psprintf("SELECT pg_catalog.pg_replication_slot_advance(s.slot_name, l.stored_lsn) "
						"FROM pg_catalog.pg_replication_slots s JOIN medallion.logical_slot l USING (slot_name) "
						"WHERE s.slot_name = %s AND s.confirmed_flush_lsn < l.stored_lsn",
						quote_literal_cstr(slot)), 0, NULL, NULL, SPI_OK_SELECT);

	/* The batch, read once; changes at or below the watermark were stored before a crash. */
	if (RunAsOwner("SELECT 1 WHERE pg_catalog.to_regclass('pg_temp.medallion_pull') IS NOT NULL",
				   0, NULL, NULL, SPI_OK_SELECT) > 0)
		RunAsOwner("DROP TABLE pg_temp.medallion_pull", 0, NULL, NULL, SPI_OK_UTILITY);
	RunAsOwner(psprintf("CREATE TEMP TABLE medallion_pull ON COMMIT DROP AS "
						"SELECT p.ord, p.data::jsonb AS j FROM pg_catalog.pg_logical_slot_peek_changes(%s, NULL, %s, "
						"'include-timestamp', 'false', 'exclude-schemas', 'medallion,medallion_changes,medallion_state') "
						"WITH ORDINALITY AS p(lsn, xid, data, ord) "
						"WHERE (p.data::jsonb->>'commit_lsn')::pg_catalog.pg_lsn > "
						"(SELECT stored_lsn FROM medallion.logical_slot)",
						quote_literal_cstr(slot), limit), 0, NULL, NULL, SPI_OK_UTILITY);

	/* Rows carry the pull's own xid: they belong to the version the pull commits in. */
	pull_xid = (int64) U64FromFullTransactionId(GetTopFullTransactionId());
	SwitchToOwner(MedallionExtensionOwner(), &save_userid, &save_sec);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT feed_id, source::oid, change_table::oid, enabled_lsn::text FROM medallion.feed "
					"WHERE mode = 'logical' ORDER BY feed_id", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "listing logical feeds failed");
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		MemoryContext spi = MemoryContextSwitchTo(outer);
		Datum	   *row = palloc(sizeof(Datum) * 4);

		row[0] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		row[1] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
		row[2] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull);
		row[3] = DirectFunctionCall1(pg_lsn_in, CStringGetDatum(SPI_getvalue(SPI_tuptable->vals[i],
																		   SPI_tuptable->tupdesc, 4)));
		feeds = lappend(feeds, row);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	RestoreUser(save_userid, save_sec);

	foreach(lc, feeds)
	{
		Datum	   *row = lfirst(lc);
		FeedRow		feed;
		Datum		values[2];
		bool		nulls[2] = {false, false};
		uint64		n;

		if (!LookupFeedById(DatumGetInt32(row[0]), &feed))
			continue;
		EnsureChangePartitions(&feed, pull_xid, false);
		n = StoreFeedChanges(feed.feed_id, DatumGetObjectId(row[1]), DatumGetObjectId(row[2]),
							 DatumGetLSN(row[3]), pull_xid);
		values[0] = row[1];
		values[1] = Int64GetDatum((int64) n);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	/* The watermark moves with the rows, in this transaction. */
	RunAsOwner("UPDATE medallion.logical_slot SET stored_lsn = GREATEST(stored_lsn, "
			   "(SELECT pg_catalog.max((j->>'commit_lsn')::pg_catalog.pg_lsn) FROM pg_temp.medallion_pull)), "
			   "pulled_at = pg_catalog.now()", 0, NULL, NULL, SPI_OK_UPDATE);
	return (Datum) 0;
}

/* PullOnce runs one pull in a transaction of its own; false (and the error in message) if it failed. */
static bool
PullOnce(int64 *stored, char *message, size_t message_size)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		*stored = 0;
		if (SPI_execute("SELECT coalesce(sum(changes), 0)::bigint FROM medallion.pull()", false, 0) == SPI_OK_SELECT &&
			SPI_processed == 1)
		{
			bool		isnull;

			*stored = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
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

/* RegisterPullerWorker registers the background puller at postmaster start. */
void
RegisterPullerWorker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_medallion");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "medallion_puller_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_medallion puller");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pg_medallion puller");
	RegisterBackgroundWorker(&worker);
}

/*
 * medallion_puller_main pulls the logical feeds of pg_medallion.database
 * every pg_medallion.pull_interval while pg_medallion.logical_worker is on;
 * after a pull that stored changes it pulls again at once.
 */
void
medallion_puller_main(Datum main_arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(medallion_database, NULL, 0);
	pgstat_report_appname("pg_medallion puller");

	for (;;)
	{
		int64		stored = 0;
		char		message[512];
		bool		busy = false;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (medallion_logical_worker)
		{
			bool		installed;

			StartTransactionCommand();
			installed = OidIsValid(get_extension_oid("pg_medallion", true));
			CommitTransactionCommand();
			if (installed && !PullOnce(&stored, message, sizeof(message)))
				ereport(LOG,
						(errmsg("pg_medallion puller could not pull: %s", message)));
			busy = stored > 0;
			pgstat_report_stat(true);
		}
		if (!busy)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 medallion_logical_worker ? medallion_pull_interval_ms : 60000, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}
}
