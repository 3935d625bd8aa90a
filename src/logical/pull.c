/*-------------------------------------------------------------------------
 *
 * pull.c
 *	  Decoding the database's slot into the change tables of its logical
 *	  feeds: the output plugin runs in binary mode (decoder.h) and hands
 *	  each decoded row to the sink here, which converts it to the source's
 *	  current layout and buffers it per feed in a tuplestore (memory up to
 *	  work_mem, then disk); after decoding, the buffers are written to the
 *	  change tables through the same writer as trigger captures.
 *
 * Writes cannot happen during decoding: PostgreSQL replays each decoded
 * transaction in a subtransaction that it rolls back.  Hence decode, then
 * store.  The change rows carry the origin DoNotReplicateId, which the
 * plugin filters before the reorder buffer queues them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "logical/pull.h"

#include "capture/capture.h"
#include "capture/partition.h"
#include "base/catalog.h"
#include "base/objects.h"
#include "base/privilege.h"
#include "base/spi.h"
#include "logical/decoder.h"

#include "utils/memutils.h"
#include "access/xact.h"

#include "access/detoast.h"
#include "access/heapam.h"
#include "access/table.h"
#include "access/xlog.h"
#include "access/xlogutils.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "replication/decode.h"
#include "replication/origin.h"
#include "replication/slot.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/pg_lsn.h"
#include "utils/varlena.h"
#include "utils/rel.h"
#include "utils/resowner.h"

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

/* IsRegType says whether a type is one of the reg* object-name types (their input reads the catalog). */
static bool
IsRegType(Oid type)
{
	switch (type)
	{
		case REGCLASSOID:
		case REGTYPEOID:
		case REGPROCOID:
		case REGPROCEDUREOID:
		case REGOPEROID:
		case REGOPERATOROID:
		case REGCONFIGOID:
		case REGDICTIONARYOID:
		case REGNAMESPACEOID:
		case REGROLEOID:
		case REGCOLLATIONOID:
			return true;
		default:
			return false;
	}
}

/*
 * ConvertRetyped converts a value of a column whose type changed since the
 * change was made, through the types' text forms, into the base type of the
 * column's new type (change tables store base types: no domain check, which
 * is its owner's code, runs here; a type holding a domain deeper down is
 * refused).  A value that does not convert breaks this feed only (see
 * MarkBroken): false, and a reason that names the column, never the value.
 * The conversion runs in a subtransaction, so a failed one is rolled back.
 */
static bool
ConvertRetyped(PullState *ps, PullFeed *pf, int i, Form_pg_attribute decoded, Form_pg_attribute current,
			   Datum *value)
{
	Oid			output;
	bool		varlena;
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;
	volatile Datum result = (Datum) 0;

	/* Decoding reads the catalog as it was: what the present catalog says was found by LoadPullFeeds. */
	if (!pf->convertible[i])
	{
		pf->broken = MemoryContextStrdup(GetMemoryChunkContext(ps->feeds),
										 psprintf("Changes of column \"%s\" made before its type changed cannot be converted to %s, which holds a domain.",
												  NameStr(current->attname), pf->type_name[i]));
		return false;
	}
	getTypeOutputInfo(decoded->atttypid, &output, &varlena);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		result = OidInputFunctionCall(pf->input_func[i], OidOutputFunctionCall(output, *value),
									  pf->input_ioparam[i], current->atttypmod);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		/*
		 * A value that does not convert breaks the feed, whatever the input
		 * function raised (data exceptions, but regclass raises 42P01,
		 * tsquery 42601...); what belongs to the pull itself does not: a
		 * cancel, a shutdown, a timeout, out of memory.
		 */
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_OPERATOR_INTERVENTION ||
			ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_INSUFFICIENT_RESOURCES ||
			ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_PROGRAM_LIMIT_EXCEEDED ||
			edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ||
			edata->sqlerrcode == ERRCODE_INTERNAL_ERROR)
			ReThrowError(edata);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	if (!ok)
	{
		pf->broken = MemoryContextStrdup(GetMemoryChunkContext(ps->feeds),
										 psprintf("A change of column \"%s\" made before its type changed does not convert to %s (the value is not shown).",
												  NameStr(current->attname), pf->type_name[i]));
		return false;
	}
	*value = result;
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

	if (pf->broken != NULL)
		return;
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
		if (decoded->atttypid != current->atttypid && !ConvertRetyped(ps, pf, i, decoded, current, &value))
		{
			/*
			 * This feed is broken for the pull: drop what it buffered, take
			 * nothing more of it.  ps->changes keeps counting them, so the
			 * pull (or the puller's round) stores, and marks the feed.
			 */
			tuplestore_clear(pf->store);
			pf->changes = 0;
			return;
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
void
LoadPullFeeds(PullState *ps)
{
	OwnerSwitch as_owner;
	uint64		i;
	int			maxatts = 1;
	MemoryContext outer = CurrentMemoryContext;

	BeginAsOwner(&as_owner);
	SpiConnect();
	(void) SpiExecute("SELECT feed_id, enabled_lsn::text FROM medallion.feed WHERE mode = 'logical' ORDER BY feed_id", 0, NULL, NULL, true, 0, SPI_OK_SELECT);
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

		if (!LookupFeedById(feed_id, &pf->feed) || pf->feed.broken)
		{
			/* A broken feed stores nothing until it is disabled and enabled again. */
			MemoryContextSwitchTo(spi);
			continue;
		}
		pf->broken = NULL;
		pf->enabled_lsn = lsn ? DatumGetLSN(DirectFunctionCall1(pg_lsn_in, CStringGetDatum(lsn))) : InvalidXLogRecPtr;
		rel = table_open(pf->feed.source, AccessShareLock);
		source_desc = RelationGetDescr(rel);
		pf->nsource = source_desc->natts;
		pf->desc = CreateTemplateTupleDesc(pf->nsource + 1);
		pf->input_func = palloc(sizeof(Oid) * Max(pf->nsource, 1));
		pf->input_ioparam = palloc(sizeof(Oid) * Max(pf->nsource, 1));
		pf->convertible = palloc0(sizeof(bool) * Max(pf->nsource, 1));
		pf->type_name = palloc0(sizeof(char *) * Max(pf->nsource, 1));
		for (a = 0; a < pf->nsource; a++)
		{
			TupleDescCopyEntry(pf->desc, a + 1, source_desc, a + 1);
			if (!TupleDescAttr(source_desc, a)->attisdropped)
			{
				Oid			type = TupleDescAttr(source_desc, a)->atttypid;

				getTypeInputInfo(getBaseType(type), &pf->input_func[a], &pf->input_ioparam[a]);
				/* reg* inputs look names up in the catalog, which decoding sees as it was: not converted. */
				pf->convertible[a] = TypeRunsOnlyTrustedCode(getBaseType(type)) && !IsRegType(getBaseType(type));
				pf->type_name[a] = format_type_be(type);
			}
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
	EndAsOwner(&as_owner);
	ps->values = palloc(sizeof(Datum) * maxatts);
	ps->nulls = palloc(sizeof(bool) * maxatts);
}

/*
 * PullDecoderStart acquires the database's slot and starts decoding it in
 * binary mode into `ps`, from the slot's restart point.  First the slot is
 * told what earlier, committed pulls stored (ps->stored_lsn): that only
 * moves its confirmed position, it needs no decoding.  A slot that another
 * process is using is an error: a pull never waits behind the puller.
 */
LogicalDecodingContext *
PullDecoderStart(PullState *ps, const char *slot)
{
	LogicalDecodingContext *volatile ctx = NULL;

	CheckLogicalDecodingRequirements();
	CheckPluginAllowed();
	ReplicationSlotAcquire(slot, true);
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
	PG_TRY();
	{
		ctx = CreateDecodingContext(InvalidXLogRecPtr, NIL, false,
									XL_ROUTINE(.page_read = read_local_xlog_page,
											   .segment_open = wal_segment_open,
											   .segment_close = wal_segment_close),
									PullPrepareWrite, PullWrite, NULL);
	}
	PG_FINALLY();
	{
		DecoderSetSink(NULL);
	}
	PG_END_TRY();
	XLogBeginRead(ctx->reader, MyReplicationSlot->data.restart_lsn);
	return ctx;
}

/*
 * PullDecode decodes from where `ctx` stands to the end of flushed WAL,
 * stopping early after a transaction that brings the buffered changes to
 * max_changes (0: no limit) or, when probing, at the first wanted one.
 * Returns the WAL position before which every transaction was seen.
 */
XLogRecPtr
PullDecode(LogicalDecodingContext *ctx, PullState *ps, int64 max_changes)
{
	XLogRecPtr	end_of_wal = GetFlushRecPtr(NULL);

	/* Decoding replays in subtransactions, which leave another owner current. */
	ResourceOwner owner = CurrentResourceOwner;

	/* The WAL reader allocates its buffers in the current context: they must live as long as ctx. */
	MemoryContext caller_context = MemoryContextSwitchTo(ctx->context);

	PG_TRY();
	{
		/* Catalog entries cached from the present must not serve historic lookups. */
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
	}
	PG_FINALLY();
	{
		/* ... and entries cached from the past must not serve the present. */
		CurrentResourceOwner = owner;
		MemoryContextSwitchTo(caller_context);
		InvalidateSystemCaches();
	}
	PG_END_TRY();
	return ctx->reader->EndRecPtr;
}

/* PullDecoderStop ends decoding and releases the slot (also after an error). */
void
PullDecoderStop(LogicalDecodingContext *ctx)
{
	if (ctx)
		FreeDecodingContext(ctx);
	if (MyReplicationSlot != NULL)
		ReplicationSlotRelease();
}

/*
 * MarkBroken records, in the pull's transaction, that a feed's change could
 * not be stored: the other logical feeds share the slot and must not stop
 * for one feed (a role's own ALTER of its own table), so this one is marked
 * and its readers fail loudly (CheckFeedNotBroken) until it is disabled and
 * enabled again.  Without the 0.2.0 catalog there is nowhere to mark it: the
 * pull fails, as before.
 */
static void
MarkBroken(PullFeed *pf)
{
	Oid			feed_rel = get_relname_relid("feed", MedallionSchemaOid());

	if (!OidIsValid(feed_rel) || get_attnum(feed_rel, "broken") == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the logical feed of table %s cannot be stored", RelationDisplayName(pf->feed.source)),
				 errdetail("%s", pf->broken),
				 errhint("Run ALTER EXTENSION pg_medallion UPDATE, or disable and enable the feed.")));
	RunAsOwner("UPDATE medallion.feed SET broken = $2 WHERE feed_id OPERATOR(pg_catalog.=) $1", 2,
			   (Oid[]) {INT4OID, TEXTOID}, (Datum[]) {Int32GetDatum(pf->feed.feed_id), CStringGetTextDatum(pf->broken)},
			   SPI_OK_UPDATE);
	ereport(WARNING,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("the logical feed of table %s is broken and stores nothing more", RelationDisplayName(pf->feed.source)),
			 errdetail("%s", pf->broken),
			 errhint("Disable and enable the feed to capture again; the other logical feeds go on.")));
}

/* StorePullFeed writes one feed's buffered changes into its change table; returns how many. */
int64
StorePullFeed(PullFeed *pf, int64 pull_xid)
{
	Relation	source;
	ChangeWriter *writer;
	TupleTableSlot *slot;

	if (pf->broken != NULL)
	{
		MarkBroken(pf);
		return 0;
	}
	if (pf->changes == 0)
		return 0;
	(void) EnsureChangePartitions(&pf->feed, pull_xid, false);
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

/* PullStateInit prepares an empty pull state whose sink buffers (or, probing, only looks). */
void
PullStateInit(PullState *ps, bool probe)
{
	memset(ps, 0, sizeof(PullState));
	ps->sink.change = PullChangeSink;
	ps->sink.truncate = PullTruncateSink;
	ps->probe = probe;
}

/* ReleasePullFeeds ends the buffers (their files are not tied to a transaction) and forgets the feeds. */
void
ReleasePullFeeds(PullState *ps)
{
	int			i;

	for (i = 0; i < ps->nfeeds; i++)
		if (ps->feeds[i].store)
			tuplestore_end(ps->feeds[i].store);
	ps->nfeeds = 0;
	ps->feeds = NULL;
	ps->changes = 0;
}
