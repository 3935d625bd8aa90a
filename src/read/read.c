/*-------------------------------------------------------------------------
 *
 * read.c
 *	  table_changes: the changes of a feed in versions [from, to], both
 *	  inclusive (Delta Lake change data feed semantics).
 *
 * One pass: the ticks of versions from-1 .. to are loaded, the change table
 * is scanned only over the xid range [xmin(from - 1), xmax(to)) (partition
 * pruning plus a BRIN index on _xid), each row's version is found by binary
 * search over the ticks (visibility only grows with the version), rows of
 * other versions are dropped, and the rest are sorted by (version, _seq).
 *
 * Every answer is final: `to` must be a closed version (NULL closes the
 * open one first), and `from` must not precede the feed's first version.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "read/read.h"

#include "clock/version.h"
#include "base/catalog.h"
#include "base/objects.h"
#include "base/privilege.h"
#include "base/spi.h"
#include "read/net.h"
#include "base/export.h"
#include "base/result.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "nodes/makefuncs.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"
#include "utils/tuplesort.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(medallion_table_changes);
PG_FUNCTION_INFO_V1(medallion_changes_typed);

#define READ_FETCH_ROWS 10000
#define READ_META_COLUMNS 4		/* _change_type, _commit_version, _commit_timestamp, _change_seq */

/* ResolveRange checks a requested range and returns it as closed versions in *from, *to. */
static void
ResolveRange(const FeedRow *feed, bool from_null, int64 from, bool to_null, int64 to,
			 int64 *from_out, int64 *to_out)
{
	int64		newest;
	int64		first;

	if (from_null)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("from_version must not be NULL"),
				 errhint("Pass the first version to read; medallion.first_version() gives the feed's first.")));
	if (from < 0 || (!to_null && to < 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("versions must not be negative"),
				 errhint("Versions count up from 1.")));

	if (to_null)
		RequestTick();			/* NULL means the newest version: close the open one first */
	newest = NewestReadableVersion();
	if (to_null)
		to = newest;
	else if (to > newest)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("to_version " INT64_FORMAT " is past the newest version " INT64_FORMAT, to, newest),
				 errhint("Call medallion.current_version() to close the open version, or pass NULL.")));
	if (from > newest)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_version " INT64_FORMAT " is past the newest version " INT64_FORMAT, from, newest),
				 errhint("Call medallion.current_version() to close the open version, or read from an earlier version.")));
	if (from > to)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_version " INT64_FORMAT " is after to_version " INT64_FORMAT, from, to),
				 errhint("Both bounds are inclusive: from_version <= to_version.")));

	first = FeedFirstVersion(feed);
	if (first < 0 || from < first)
	{
		if (first < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the feed of table %s has no closed version yet",
							RelationDisplayName(feed->source)),
					 errhint("Call medallion.current_version() after the feed was enabled.")));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("version " INT64_FORMAT " is before the first version " INT64_FORMAT " of the feed of table %s",
						from, first, RelationDisplayName(feed->source)),
				 errhint("Read from version " INT64_FORMAT " or later.", first)));
	}
	*from_out = from;
	*to_out = to;
}

/*
 * CheckRetained errors if version `from` of the feed was removed by
 * retention.  The change table is locked first: medallion.vacuum drops
 * partitions under an ACCESS EXCLUSIVE lock on it and moves retained_from
 * in the same transaction, so what we read after the lock is either all
 * before or all after a vacuum, never a half-removed version.
 */
void
CheckRetained(const FeedRow *feed, int64 from)
{
	FeedRow		now;

	LockRelationOid(feed->change_table, AccessShareLock);
	if (!LookupFeedById(feed->feed_id, &now))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the feed of table %s was disabled", RelationDisplayName(feed->source)),
				 errhint("Enable the feed again to capture changes.")));
	CheckFeedNotBroken(&now);
	if (from < now.retained_from)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("version " INT64_FORMAT " of the feed of table %s was removed by retention",
						from, RelationDisplayName(feed->source)),
				 errdetail("The oldest readable version is " INT64_FORMAT ".", now.retained_from),
				 errhint("Read from version " INT64_FORMAT " or later.", now.retained_from)));
}

/*
 * DataSelectList returns the SELECT list of data columns for the output
 * columns (all but the metadata); for jsonb output the whole change row,
 * turned into jsonb later as the caller (RowToJsonb).
 */
static char *
DataSelectList(TupleDesc outdesc, bool as_json)
{
	StringInfoData buf;
	int			i;

	if (as_json)
		return "c";
	initStringInfo(&buf);
	for (i = 0; i < outdesc->natts - READ_META_COLUMNS; i++)
		appendStringInfo(&buf, "%sc.%s", i ? ", " : "",
						 quote_identifier(NameStr(TupleDescAttr(outdesc, i)->attname)));
	return buf.data;
}

/*
 * InitRowToJsonb prepares pg_catalog.to_jsonb for rows of `rowtype`; with
 * drop_meta the change table's metadata columns are left out.  to_jsonb
 * calls the casts to json of the row's column types, which belong to their
 * owners: RowToJsonb must run as the caller, never elevated.
 */
void
InitRowToJsonb(JsonbConverter *conv, Oid rowtype, bool drop_meta)
{
	Datum		keys[CHANGE_META_COLUMNS];

	keys[0] = CStringGetTextDatum("_xid");
	keys[1] = CStringGetTextDatum("_seq");
	keys[2] = CStringGetTextDatum("_change_type");
	keys[3] = CStringGetTextDatum("_role");
	keys[4] = CStringGetTextDatum("_app");
	fmgr_info(F_TO_JSONB, &conv->flinfo);
	fmgr_info_set_expr((Node *) makeFuncExpr(F_TO_JSONB, JSONBOID,
											 list_make1(makeNullConst(rowtype, -1, InvalidOid)),
											 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL),
					   &conv->flinfo);
	conv->meta_keys = drop_meta ?
		PointerGetDatum(construct_array(keys, CHANGE_META_COLUMNS, TEXTOID, -1, false, TYPALIGN_INT)) : (Datum) 0;
}

/* RowToJsonb returns a row as jsonb (see InitRowToJsonb); run it as the caller. */
Datum
RowToJsonb(JsonbConverter *conv, Datum row)
{
	Datum		json = FunctionCall1(&conv->flinfo, row);

	if (conv->meta_keys != (Datum) 0)
		json = DirectFunctionCall2(jsonb_delete_array, json, conv->meta_keys);
	return json;
}

/*
 * CheckColumnDefinitions errors unless a reader's column definition list
 * matches the feed: every data column is a column of the change table of
 * exactly its type (or one jsonb column), then the four metadata columns.
 * The list comes from the caller (medallion._changes and _consume are
 * callable with any list): nothing is read under a type it does not have.
 */
void
CheckColumnDefinitions(TupleDesc outdesc, const FeedRow *feed, bool as_json)
{
	int			ndata = outdesc->natts - READ_META_COLUMNS;
	Relation	ct;
	TupleDesc	ctdesc;
	int			i;

	if (ndata < 1 || (as_json && ndata != 1) ||
		(as_json && TupleDescAttr(outdesc, 0)->atttypid != JSONBOID) ||
		TupleDescAttr(outdesc, ndata)->atttypid != MedallionChangeTypeOid() ||
		TupleDescAttr(outdesc, ndata + 1)->atttypid != INT8OID ||
		TupleDescAttr(outdesc, ndata + 2)->atttypid != TIMESTAMPTZOID ||
		TupleDescAttr(outdesc, ndata + 3)->atttypid != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the column definition list does not match the feed"),
				 errhint("Call the feed's reader in medallion_changes instead.")));
	if (as_json)
		return;
	ct = table_open(feed->change_table, AccessShareLock);
	ctdesc = RelationGetDescr(ct);
	for (i = 0; i < ndata; i++)
	{
		Form_pg_attribute want = TupleDescAttr(outdesc, i);
		int			j;
		bool		found = false;

		for (j = 0; j < ctdesc->natts && !found; j++)
		{
			Form_pg_attribute have = TupleDescAttr(ctdesc, j);

			if (have->attisdropped || strcmp(NameStr(have->attname), NameStr(want->attname)) != 0)
				continue;
			if (have->atttypid != want->atttypid)
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("column \"%s\" of the change table has type %s, the reader expects %s",
								NameStr(want->attname), format_type_be(have->atttypid),
								format_type_be(want->atttypid)),
						 errhint("The reader is out of date: disable and enable the feed again.")));
			found = true;
		}
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("the change table of table %s has no column \"%s\"",
							RelationDisplayName(feed->source), NameStr(want->attname)),
					 errhint("The reader is out of date: disable and enable the feed again.")));
	}
	table_close(ct, AccessShareLock);
}

/* CheckDataTypes errors if the change table's columns do not match what the caller expects. */
static void
CheckDataTypes(TupleDesc got, TupleDesc outdesc, int ndata)
{
	int			i;

	for (i = 0; i < ndata; i++)
	{
		Oid			want = TupleDescAttr(outdesc, i)->atttypid;
		Oid			have = SPI_gettypeid(got, i + 1);

		if (want != have)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of the change table has type %s, the reader expects %s",
							NameStr(TupleDescAttr(outdesc, i)->attname),
							format_type_be(have), format_type_be(want)),
					 errhint("The reader is out of date: disable and enable the feed again.")));
	}
}

/*
 * ReadVersions fills the SRF's tuplestore with the changes of versions
 * [from, to] of a feed (closed versions the caller has checked), ordered by
 * version then order key, after any rows already in it; from > to gives no
 * rows.  The output has the data
 * columns (or one jsonb) followed by the four metadata columns.  The caller
 * has checked that the current user may read the source.
 */
void
ReadVersions(FunctionCallInfo fcinfo, const FeedRow *feed, int64 from, int64 to, bool as_json, bool net)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	outdesc;
	int			ndata;
	TickSnapshot *ticks;
	int			nticks;
	Tuplesortstate *sort;
	AttrNumber	sort_cols[2];
	Oid			sort_ops[2] = {Int8LessOperator, Int8LessOperator};
	Oid			sort_colls[2] = {InvalidOid, InvalidOid};
	bool		sort_nulls[2] = {false, false};
	TupleTableSlot *slot;
	TupleTableSlot *sorted;
	char	   *query;
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		args[2];
	Portal		portal;
	OwnerSwitch as_owner;
	bool		checked = false;
	NetKeys		keys;
	TupleDesc	workdesc;
	int64		trunc_version = -1,
				trunc_seq = -1;
	Oid			truncate_label = MedallionChangeTypeLabel(CHANGE_TRUNCATE);
	JsonbConverter to_json;
	Oid			source_owner = RelationOwner(feed->source);
	uint64		portal_pos = 0;
	MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_medallion jsonb row",
												  ALLOCSET_DEFAULT_SIZES);

	if (rsinfo->setResult == NULL)
		MaterializeResult(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	outdesc = rsinfo->setDesc;
	ndata = outdesc->natts - READ_META_COLUMNS;
	CheckColumnDefinitions(outdesc, feed, as_json);
	if (net)
		NetKeysOf(feed, &keys);
	if (from > to)
		return;
	CheckRetained(feed, from);

	ticks = LoadTicks(from - 1, to, &nticks);
	args[0] = Int64GetDatum(ticks[0].xmin);
	args[1] = Int64GetDatum(ticks[nticks - 1].xmax);

	sort_cols[0] = ndata + 2;	/* _commit_version */
	sort_cols[1] = ndata + 4;	/* _change_seq */
	if (net)
	{
		/* Work rows carry the key columns too, and sort by key first. */
		workdesc = NetWorkDesc(outdesc, &keys);
		sort = NetBeginSort(workdesc, outdesc->natts, &keys);
	}
	else
	{
		workdesc = outdesc;
		sort = tuplesort_begin_heap(outdesc, 2, sort_cols, sort_ops, sort_colls, sort_nulls,
									work_mem, NULL, TUPLESORT_NONE);
	}
	slot = MakeSingleTupleTableSlot(workdesc, &TTSOpsVirtual);

	query = psprintf("SELECT %s, c._change_type, c._xid, c._seq%s FROM %s AS c "
					 "WHERE c._xid OPERATOR(pg_catalog.>=) $1 AND c._xid OPERATOR(pg_catalog.<) $2",
					 DataSelectList(outdesc, as_json), net ? keys.select_list : "",
					 quote_qualified_identifier(MEDALLION_CHANGES_SCHEMA, get_rel_name(feed->change_table)));

	if (as_json)
	{
		CheckJsonReadRunsNoForeignCode(get_rel_type_id(feed->change_table), source_owner, feed->source);
		InitRowToJsonb(&to_json, get_rel_type_id(feed->change_table), true);
	}

	/* Change tables are readable by their owner only; the caller's SELECT on the source was checked. */
	BeginAsOwner(&as_owner);
	SpiConnect();
	/*
	 * Not read-only: in READ COMMITTED that takes a snapshot now, after the
	 * ticks were read, so it sees every row of every version up to `to`.
	 * The statement's own snapshot may predate the tick that closed `to`.
	 */
	portal = SPI_cursor_open(NULL, SpiKeptGeneratedPlan(query, 2, argtypes), args, NULL, false);
	GuardCursor(portal);
	for (;;)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, READ_FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		if (!checked && !as_json)
			CheckDataTypes(SPI_tuptable->tupdesc, outdesc, ndata);
		checked = true;
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			int64		xid = DatumGetInt64(SPI_getbinval(tup, desc, ndata + 2, &isnull));
			int			idx = TickIndexOfXid(ticks, nticks, xid);
			int			j;

			/* Index 0 is version from - 1: already visible before the range. */
			if (idx <= 0)
				continue;
			ExecClearTuple(slot);
			for (j = 0; j < ndata + 1; j++)
				slot->tts_values[j] = SPI_getbinval(tup, desc, j + 1, &slot->tts_isnull[j]);
			if (as_json)
			{
				MemoryContext outer = MemoryContextSwitchTo(row_cxt);

				/* Casts to json of the row's types are user code: as the table's owner, restricted. */
				portal_pos = portal->portalPos;
				AsTableOwnerAgain(&as_owner, source_owner);
				slot->tts_values[0] = RowToJsonb(&to_json, slot->tts_values[0]);
				MemoryContextSwitchTo(outer);
				OwnerAgain(&as_owner);
				CheckCursorUntouched(portal, portal_pos);
			}
			slot->tts_values[ndata + 1] = Int64GetDatum(ticks[idx].version);
			slot->tts_isnull[ndata + 1] = false;
			slot->tts_values[ndata + 2] = TimestampTzGetDatum(ticks[idx].committed_at);
			slot->tts_isnull[ndata + 2] = false;
			slot->tts_values[ndata + 3] = SPI_getbinval(tup, desc, ndata + 3, &slot->tts_isnull[ndata + 3]);
			if (net)
			{
				int64		seq = DatumGetInt64(slot->tts_values[ndata + 3]);
				int			k;

				for (k = 0; k < keys.nkeys; k++)
					slot->tts_values[outdesc->natts + k] =
						SPI_getbinval(tup, desc, ndata + 4 + k, &slot->tts_isnull[outdesc->natts + k]);
				if (DatumGetObjectId(slot->tts_values[ndata]) == truncate_label &&
					(ticks[idx].version > trunc_version ||
					 (ticks[idx].version == trunc_version && seq > trunc_seq)))
				{
					trunc_version = ticks[idx].version;
					trunc_seq = seq;
				}
			}
			ExecStoreVirtualTuple(slot);
			tuplesort_puttupleslot(sort, slot);
			MemoryContextReset(row_cxt);	/* the sort copied the row */
		}
		SPI_freetuptable(SPI_tuptable);
	}
	ReleaseCursorGuard(portal);
	SPI_cursor_close(portal);
	SPI_finish();
	EndAsOwner(&as_owner);

	tuplesort_performsort(sort);
	if (net)
	{
		NetEmit(sort, workdesc, outdesc, &keys, trunc_version, trunc_seq, rsinfo->setResult);
		tuplesort_end(sort);
		ExecDropSingleTupleTableSlot(slot);
		return;
	}
	sorted = MakeSingleTupleTableSlot(outdesc, &TTSOpsMinimalTuple);
	while (tuplesort_gettupleslot(sort, true, false, sorted, NULL))
		tuplestore_puttupleslot(rsinfo->setResult, sorted);
	tuplesort_end(sort);
	ExecDropSingleTupleTableSlot(sorted);
	ExecDropSingleTupleTableSlot(slot);
}

/* ReadChanges reads the versions named by a reader's from/to arguments (1 and 2). */
static void
ReadChanges(FunctionCallInfo fcinfo, const FeedRow *feed, bool as_json)
{
	int64		from,
				to;

	CheckSourceReadable(feed->source);
	ResolveRange(feed, PG_ARGISNULL(1), PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1),
				 PG_ARGISNULL(2), PG_ARGISNULL(2) ? 0 : PG_GETARG_INT64(2), &from, &to);
	ReadVersions(fcinfo, feed, from, to, as_json, false);
}

/* FeedOrError returns the feed of a source table, or errors naming it. */
static void
FeedOfSource(Oid source, FeedRow *feed)
{
	if (!LookupFeedBySource(source, feed))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table %s has no change feed",
						RelationDisplayName(source)),
				 errhint("Call medallion.enable_feed() first.")));
}

/* medallion_table_changes returns the changes of a source in [from, to] with row images as jsonb. */
Datum
medallion_table_changes(PG_FUNCTION_ARGS)
{
	FeedRow		feed;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source must not be NULL"),
				 errhint("Pass the table whose changes to read.")));
	FeedOfSource(PG_GETARG_OID(0), &feed);
	ReadChanges(fcinfo, &feed, true);
	return (Datum) 0;
}

/* medallion_changes_typed returns typed changes of a feed; the generated readers call it. */
Datum
medallion_changes_typed(PG_FUNCTION_ARGS)
{
	FeedRow		feed;

	if (PG_ARGISNULL(0) || !LookupFeedById(PG_GETARG_INT32(0), &feed))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("feed %d does not exist", PG_ARGISNULL(0) ? -1 : PG_GETARG_INT32(0)),
				 errhint("The reader belongs to a feed that was disabled; see medallion.feeds.")));
	ReadChanges(fcinfo, &feed, false);
	return (Datum) 0;
}
