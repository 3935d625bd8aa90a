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
#include "decoder.h"

#include "access/detoast.h"
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

/*
 * What one pull does for one logical feed: the source's current columns,
 * and the decoded changes buffered (spilling to disk past work_mem) until
 * decoding ends and they are written to the change table.
 */
typedef struct PullFeed
{
	FeedRow		feed;
	XLogRecPtr	enabled_lsn;	/* changes committed after it are the feed's */
	TupleDesc	desc;			/* the source's current attributes, then int4 change type */
	int			nsource;		/* attributes of the source's current descriptor */
	Oid		   *input_func;		/* per attribute: input function, for columns whose type changed */
	Oid		   *input_ioparam;
	Tuplestorestate *store;
	int64		changes;
} PullFeed;

/* The decoder's sink during one pull (the sink must come first). */
typedef struct PullState
{
	DecoderSink sink;
	PullFeed   *feeds;
	int			nfeeds;
	XLogRecPtr	stored_lsn;		/* transactions committed before it were stored by earlier pulls */
	int64		changes;		/* change rows buffered */
	bool		probe;			/* only find the oldest unstored commit time */
	TimestampTz oldest_commit;
	Datum	   *values;
	bool	   *nulls;
} PullState;

/* FindPullFeed returns the feed of a decoded relation, or NULL. */
static PullFeed *
FindPullFeed(PullState *ps, Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	int			i;

	for (i = 0; i < ps->nfeeds; i++)
		if (ps->feeds[i].feed.source == relid)
			return &ps->feeds[i];
	return NULL;
}

/* Wanted says whether a decoded transaction's changes to a feed are still to be stored. */
static bool
Wanted(PullState *ps, PullFeed *pf, ReorderBufferTXN *txn)
{
	if (pf == NULL || txn->final_lsn < ps->stored_lsn || txn->final_lsn <= pf->enabled_lsn)
		return false;
	if (ps->probe)
	{
		/* Commits are decoded in commit order: the first one seen is the oldest. */
		if (ps->oldest_commit == 0)
			ps->oldest_commit = txn->xact_time.commit_time;
		return false;
	}
	return true;
}

/*
 * BufferChange converts one decoded row to the source's current layout and
 * buffers it.  Decoded rows have the columns the table had when the change
 * was made; attribute numbers survive renames, so columns match by number:
 * a column added since is NULL (as in a trigger feed's change table), a
 * dropped one is left out, one whose type changed goes through the types'
 * text forms.  TOASTed values are copied out of the decoder's memory; an
 * unchanged TOASTed value of an update is not in the WAL and comes from
 * the full old row.
 */
static void
BufferChange(PullState *ps, PullFeed *pf, TupleDesc decoded_desc, HeapTuple tuple, HeapTuple old_row,
			 ChangeType type, Relation rel)
{
	int			ndecoded = decoded_desc->natts;
	Datum	   *dvalues = palloc(sizeof(Datum) * Max(ndecoded, 1));
	bool	   *dnulls = palloc(sizeof(bool) * Max(ndecoded, 1));
	Datum	   *ovalues = NULL;
	bool	   *onulls = NULL;
	int			i;

	if (tuple)
		heap_deform_tuple(tuple, decoded_desc, dvalues, dnulls);
	for (i = 0; i < pf->nsource; i++)
	{
		Form_pg_attribute current = TupleDescAttr(pf->desc, i);
		Form_pg_attribute decoded;
		Datum		value;

		ps->values[i] = (Datum) 0;
		ps->nulls[i] = true;
		if (tuple == NULL || current->attisdropped || i >= ndecoded)
			continue;
		decoded = TupleDescAttr(decoded_desc, i);
		if (decoded->attisdropped || dnulls[i])
			continue;
		value = dvalues[i];
		if (decoded->attlen == -1 && VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(value)))
		{
			if (old_row != NULL && ovalues == NULL)
			{
				ovalues = palloc(sizeof(Datum) * ndecoded);
				onulls = palloc(sizeof(bool) * ndecoded);
				heap_deform_tuple(old_row, decoded_desc, ovalues, onulls);
			}
			if (ovalues == NULL || onulls[i] || VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(ovalues[i])))
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("an update of table %s left column \"%s\" unchanged and TOASTed, and the WAL has no copy of it",
								RelationDisplayName(pf->feed.source), NameStr(decoded->attname)),
						 errdetail("The table's REPLICA IDENTITY was not FULL when the update was made."),
						 errhint("Disable and enable the logical feed (its change table restarts); keep REPLICA IDENTITY FULL.")));
			value = ovalues[i];
		}
		if (decoded->attlen == -1 && VARATT_IS_EXTERNAL(DatumGetPointer(value)))
			value = PointerGetDatum(detoast_external_attr((struct varlena *) DatumGetPointer(value)));
		if (decoded->atttypid != current->atttypid)
		{
			Oid			output;
			bool		varlena;

			getTypeOutputInfo(decoded->atttypid, &output, &varlena);
			value = OidInputFunctionCall(pf->input_func[i], OidOutputFunctionCall(output, value),
										 pf->input_ioparam[i], current->atttypmod);
		}
		ps->values[i] = value;
		ps->nulls[i] = false;
	}
	ps->values[pf->nsource] = Int32GetDatum((int32) type);
	ps->nulls[pf->nsource] = false;
	tuplestore_putvalues(pf->store, pf->desc, ps->values, ps->nulls);
	pf->changes++;
	ps->changes++;
}

/* PullChangeSink receives one decoded row change (the decoder's per-change context is current). */
static void
PullChangeSink(DecoderSink *sink, ReorderBufferTXN *txn, Relation rel, ReorderBufferChange *change)
{
	PullState  *ps = (PullState *) sink;
	PullFeed   *pf = FindPullFeed(ps, rel);
	TupleDesc	desc = RelationGetDescr(rel);
	HeapTuple	newtup = change->data.tp.newtuple ? &change->data.tp.newtuple->tuple : NULL;
	HeapTuple	oldtup = change->data.tp.oldtuple ? &change->data.tp.oldtuple->tuple : NULL;

	if (!Wanted(ps, pf, txn))
		return;
	if ((change->action == REORDER_BUFFER_CHANGE_UPDATE || change->action == REORDER_BUFFER_CHANGE_DELETE) &&
		(oldtup == NULL || rel->rd_rel->relreplident != REPLICA_IDENTITY_FULL))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("a change of table %s has no full old row in the WAL", RelationDisplayName(pf->feed.source)),
				 errdetail("The table's REPLICA IDENTITY was not FULL when the change was made (transaction %u).",
						   txn->xid),
				 errhint("Disable and enable the logical feed (its change table restarts); keep REPLICA IDENTITY FULL.")));
	switch (change->action)
	{
		case REORDER_BUFFER_CHANGE_INSERT:
			BufferChange(ps, pf, desc, newtup, NULL, CHANGE_INSERT, rel);
			break;
		case REORDER_BUFFER_CHANGE_UPDATE:
			BufferChange(ps, pf, desc, oldtup, NULL, CHANGE_UPDATE_PREIMAGE, rel);
			BufferChange(ps, pf, desc, newtup, oldtup, CHANGE_UPDATE_POSTIMAGE, rel);
			break;
		case REORDER_BUFFER_CHANGE_DELETE:
			BufferChange(ps, pf, desc, oldtup, NULL, CHANGE_DELETE, rel);
			break;
		default:
			break;
	}
}

/* PullTruncateSink receives one truncated relation. */
static void
PullTruncateSink(DecoderSink *sink, ReorderBufferTXN *txn, Relation rel)
{
	PullState  *ps = (PullState *) sink;
	PullFeed   *pf = FindPullFeed(ps, rel);

	if (Wanted(ps, pf, txn))
		BufferChange(ps, pf, RelationGetDescr(rel), NULL, NULL, CHANGE_TRUNCATE, rel);
}

/* In binary mode the plugin writes no text; these are never called. */
static void
PullPrepareWrite(LogicalDecodingContext *ctx, XLogRecPtr lsn, TransactionId xid, bool last_write)
{
	elog(ERROR, "pg_medallion's pull does not take text output");
}

static void
PullWrite(LogicalDecodingContext *ctx, XLogRecPtr lsn, TransactionId xid, bool last_write)
{
	elog(ERROR, "pg_medallion's pull does not take text output");
}

/*
 * LoadPullFeeds reads the logical feeds and what converting their decoded
 * rows needs, before decoding starts (catalog reads then see the present).
 */
static void
LoadPullFeeds(PullState *ps)
{
	Oid			save_userid;
	int			save_sec;
	uint64		i;
	int			maxatts = 1;
	MemoryContext outer = CurrentMemoryContext;

	SwitchToOwner(MedallionExtensionOwner(), &save_userid, &save_sec);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT feed_id, enabled_lsn::text FROM medallion.feed WHERE mode = 'logical' ORDER BY feed_id",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "listing logical feeds failed");
	ps->feeds = MemoryContextAllocZero(outer, sizeof(PullFeed) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int32		feed_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		char	   *lsn = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		PullFeed   *pf = &ps->feeds[ps->nfeeds];
		MemoryContext spi = MemoryContextSwitchTo(outer);
		Relation	rel;
		TupleDesc	source_desc;
		int			a;

		if (!LookupFeedById(feed_id, &pf->feed))
		{
			MemoryContextSwitchTo(spi);
			continue;
		}
		pf->enabled_lsn = lsn ? DatumGetLSN(DirectFunctionCall1(pg_lsn_in, CStringGetDatum(lsn))) : InvalidXLogRecPtr;
		rel = table_open(pf->feed.source, AccessShareLock);
		source_desc = RelationGetDescr(rel);
		pf->nsource = source_desc->natts;
		pf->desc = CreateTemplateTupleDesc(pf->nsource + 1);
		pf->input_func = palloc(sizeof(Oid) * Max(pf->nsource, 1));
		pf->input_ioparam = palloc(sizeof(Oid) * Max(pf->nsource, 1));
		for (a = 0; a < pf->nsource; a++)
		{
			TupleDescCopyEntry(pf->desc, a + 1, source_desc, a + 1);
			if (!TupleDescAttr(source_desc, a)->attisdropped)
				getTypeInputInfo(TupleDescAttr(source_desc, a)->atttypid, &pf->input_func[a],
								 &pf->input_ioparam[a]);
		}
		TupleDescInitEntry(pf->desc, pf->nsource + 1, "_change_kind", INT4OID, -1, 0);
		table_close(rel, AccessShareLock);
		/* Not tied to a resource owner: decoding runs in subtransactions it rolls back. */
		pf->store = tuplestore_begin_heap(false, true, work_mem);
		maxatts = Max(maxatts, pf->nsource + 1);
		ps->nfeeds++;
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	RestoreUser(save_userid, save_sec);
	ps->values = palloc(sizeof(Datum) * maxatts);
	ps->nulls = palloc(sizeof(bool) * maxatts);
}

/*
 * DecodeSlot runs the database's slot through the plugin in binary mode
 * into the pull state, from the slot's restart point to the end of flushed
 * WAL, stopping early after a transaction that brings the buffered changes
 * to max_changes (0: no limit) or, when probing, at the first wanted one.
 * Returns the WAL position before which every transaction was seen.
 *
 * First the slot is told what earlier, committed pulls stored (stored_lsn):
 * that only moves its confirmed position, it needs no decoding.
 */
static XLogRecPtr
DecodeSlot(PullState *ps, const char *slot, int64 max_changes)
{
	LogicalDecodingContext *volatile ctx = NULL;
	XLogRecPtr	end;
	/* Decoding replays in subtransactions, which leave the top transaction's owner current. */
	ResourceOwner owner = CurrentResourceOwner;

	CheckLogicalDecodingRequirements();
	ReplicationSlotAcquire(slot, false);
	PG_TRY();
	{
		XLogRecPtr	end_of_wal;

		if (!ps->probe && MyReplicationSlot->data.confirmed_flush < ps->stored_lsn)
		{
			LogicalConfirmReceivedLocation(ps->stored_lsn);
			ReplicationSlotMarkDirty();
		}
		if (MyReplicationSlot->data.confirmed_flush > ps->stored_lsn)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("replication slot \"%s\" was moved past what the logical feeds stored", slot),
					 errdetail("The slot confirms %X/%X, the feeds stored up to %X/%X: the changes in between are gone.",
							   LSN_FORMAT_ARGS(MyReplicationSlot->data.confirmed_flush),
							   LSN_FORMAT_ARGS(ps->stored_lsn)),
					 errhint("Do not advance or consume the slot outside medallion.pull; disable and enable the logical feeds to restart them.")));

		DecoderSetSink(&ps->sink);
		ctx = CreateDecodingContext(InvalidXLogRecPtr, NIL, false,
									XL_ROUTINE(.page_read = read_local_xlog_page,
											   .segment_open = wal_segment_open,
											   .segment_close = wal_segment_close),
									PullPrepareWrite, PullWrite, NULL);
		DecoderSetSink(NULL);
		end_of_wal = GetFlushRecPtr(NULL);
		XLogBeginRead(ctx->reader, MyReplicationSlot->data.restart_lsn);
		InvalidateSystemCaches();
		while (ctx->reader->EndRecPtr < end_of_wal)
		{
			char	   *errm = NULL;
			XLogRecord *record = XLogReadRecord(ctx->reader, &errm);

			if (errm)
				elog(ERROR, "could not read WAL for logical decoding: %s", errm);
			if (record != NULL)
				LogicalDecodingProcessRecord(ctx, ctx->reader);
			if (ps->probe ? ps->oldest_commit != 0 : (max_changes > 0 && ps->changes >= max_changes))
				break;
			CHECK_FOR_INTERRUPTS();
		}
		end = ctx->reader->EndRecPtr;
		CurrentResourceOwner = owner;
		InvalidateSystemCaches();
		FreeDecodingContext(ctx);
		ReplicationSlotRelease();
	}
	PG_CATCH();
	{
		CurrentResourceOwner = owner;
		DecoderSetSink(NULL);
		InvalidateSystemCaches();
		if (MyReplicationSlot != NULL)
			ReplicationSlotRelease();
		PG_RE_THROW();
	}
	PG_END_TRY();
	return end;
}

/* StoreFeed writes one feed's buffered changes into its change table; returns how many. */
static int64
StoreFeed(PullFeed *pf, int64 pull_xid)
{
	Relation	source;
	ChangeWriter *writer;
	TupleTableSlot *slot;

	if (pf->changes == 0)
		return 0;
	EnsureChangePartitions(&pf->feed, pull_xid, false);
	source = table_open(pf->feed.source, AccessShareLock);
	slot = MakeSingleTupleTableSlot(pf->desc, &TTSOpsMinimalTuple);
	writer = BeginChangeWriter(&pf->feed, source, pull_xid, pf->changes, InvalidOid, 0);
	/* The change rows are derived data: decoding skips them (see decoder.c). */
	replorigin_session_origin = DoNotReplicateId;
	PG_TRY();
	{
		while (tuplestore_gettupleslot(pf->store, true, false, slot))
		{
			bool		isnull;
			ChangeType	type = (ChangeType) DatumGetInt32(slot_getattr(slot, pf->nsource + 1, &isnull));

			WriteChange(writer, type, type == CHANGE_TRUNCATE ? NULL : slot);
		}
		EndChangeWriter(writer);
	}
	PG_FINALLY();
	{
		replorigin_session_origin = InvalidRepOriginId;
	}
	PG_END_TRY();
	ExecDropSingleTupleTableSlot(slot);
	table_close(source, AccessShareLock);
	return pf->changes;
}

/* ReadStoredLsn returns the watermark of what committed pulls stored. */
static XLogRecPtr
ReadStoredLsn(bool for_update)
{
	Oid			save_userid;
	int			save_sec;
	XLogRecPtr	lsn = InvalidXLogRecPtr;

	SwitchToOwner(MedallionExtensionOwner(), &save_userid, &save_sec);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute(for_update ? "SELECT stored_lsn FROM medallion.logical_slot FOR UPDATE"
					: "SELECT stored_lsn FROM medallion.logical_slot", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading medallion.logical_slot failed");
	if (SPI_processed == 1)
	{
		bool		isnull;

		lsn = DatumGetLSN(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();
	RestoreUser(save_userid, save_sec);
	return lsn;
}

/* CheckSlotNotLost errors if the slot is gone or lost WAL (max_slot_wal_keep_size): never a silent gap. */
static void
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
				 errhint("Disable and enable the logical feeds again (their change tables restart), or raise max_slot_wal_keep_size.")));
}

/* Skipping this much WAL without a feed change is recorded even though nothing was stored. */
#define PULL_RECORD_SKIPPED_WAL (64 * 1024)

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
	int64		max_changes = PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0);
	PullState	ps;
	volatile XLogRecPtr end = InvalidXLogRecPtr;
	int64		pull_xid;
	volatile int64 total = 0;
	int			i;

	if (!PG_ARGISNULL(0) && max_changes < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_changes must be at least 1"),
				 errhint("Pass NULL to pull everything decoded so far.")));
	InitMaterializedSRF(fcinfo, 0);

	/* One pull at a time: the second waits here, then sees what the first stored. */
	if (RunAsOwner("SELECT 1 FROM medallion.logical_slot", 0, NULL, NULL, SPI_OK_SELECT) == 0)
		return (Datum) 0;		/* no logical feed ever: nothing to pull */
	memset(&ps, 0, sizeof(ps));
	ps.sink.change = PullChangeSink;
	ps.sink.truncate = PullTruncateSink;
	ps.stored_lsn = ReadStoredLsn(true);
	CheckSlotNotLost(slot);
	LoadPullFeeds(&ps);

	PG_TRY();
	{
		end = DecodeSlot(&ps, slot, max_changes);

		/* Rows carry the pull's own xid: they belong to the version the pull commits in. */
		pull_xid = (int64) U64FromFullTransactionId(GetTopFullTransactionId());
		for (i = 0; i < ps.nfeeds; i++)
		{
			Datum		values[2];
			bool		nulls[2] = {false, false};
			int64		n = StoreFeed(&ps.feeds[i], pull_xid);

			values[0] = ObjectIdGetDatum(ps.feeds[i].feed.source);
			values[1] = Int64GetDatum(n);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			total += n;
		}
	}
	PG_FINALLY();
	{
		for (i = 0; i < ps.nfeeds; i++)
			tuplestore_end(ps.feeds[i].store);
	}
	PG_END_TRY();

	/* The watermark moves with the rows, in this transaction; the slot follows at the next pull. */
	if (end > ps.stored_lsn && (total > 0 || end - ps.stored_lsn >= PULL_RECORD_SKIPPED_WAL))
	{
		replorigin_session_origin = DoNotReplicateId;	/* bookkeeping: not for decoders either */
		PG_TRY();
		{
			RunAsOwner(psprintf("UPDATE medallion.logical_slot SET stored_lsn = '%X/%X', pulled_at = pg_catalog.now()",
								LSN_FORMAT_ARGS(end)), 0, NULL, NULL, SPI_OK_UPDATE);
		}
		PG_FINALLY();
		{
			replorigin_session_origin = InvalidRepOriginId;
		}
		PG_END_TRY();
	}
	return (Datum) 0;
}

/*
 * medallion_oldest_unpulled returns the commit time of the oldest
 * transaction with changes to a logical feed that no pull stored yet (NULL:
 * none).  It decodes the slot up to that transaction, storing nothing.
 */
Datum
medallion_oldest_unpulled(PG_FUNCTION_ARGS)
{
	PullState	ps;
	int			i;

	memset(&ps, 0, sizeof(ps));
	ps.sink.change = PullChangeSink;
	ps.sink.truncate = PullTruncateSink;
	ps.probe = true;
	if (RunAsOwner("SELECT 1 FROM medallion.logical_slot", 0, NULL, NULL, SPI_OK_SELECT) == 0)
		PG_RETURN_NULL();
	ps.stored_lsn = ReadStoredLsn(false);
	CheckSlotNotLost(SlotName());
	LoadPullFeeds(&ps);
	PG_TRY();
	{
		(void) DecodeSlot(&ps, SlotName(), 0);
	}
	PG_FINALLY();
	{
		for (i = 0; i < ps.nfeeds; i++)
			tuplestore_end(ps.feeds[i].store);
	}
	PG_END_TRY();
	if (ps.oldest_commit == 0)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(ps.oldest_commit);
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
