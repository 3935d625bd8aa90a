/*-------------------------------------------------------------------------
 *
 * isolate.c
 *	  When a flow's transform raises a data error (SQLSTATE class 22: a bad
 *	  cast, malformed JSON) over its whole batch, the batch is transformed
 *	  again in ranges of rows (ctid ranges of the staged batch), each in a
 *	  subtransaction, until the rows that raise are alone; those go to the
 *	  quarantine with their error, every other row to the output once.
 *
 * Finding the rows: each attempt notes the rows as they enter the
 * transform (medallion._flow_row_seen).  A transform that takes rows one by
 * one raises on the row noted last, so an attempt over "the rest of the
 * batch" points at the next refused row: that row is tried alone and
 * quarantined, the rows before it go in as one range, and the search goes
 * on after it -- about three attempts per refused row.  When the noted row
 * turns out fine (a transform that sorts or aggregates reads everything
 * before it raises), or the owner may not note, the batch is tried a heap
 * page at a time and a page that raises is split in halves down to single
 * rows.  A row at a time would pay a subtransaction and an executor start
 * for every row of the batch.
 *
 * The statements come prepared from medallion._flow_run, which knows the
 * staging tables and the transform; they run as the flow's owner, like the
 * rest of the run (the caller switched).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "flow/isolate.h"
#include "base/export.h"
#include "base/objects.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "parser/parse_func.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/itemptr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

PG_FUNCTION_INFO_V1(medallion_flow_row_seen);

/* The row that entered the transform last, while an isolation notes them. */
static bool Noting = false;
static bool RowSeenValid = false;
static ItemPointerData RowSeen;

/*
 * medallion_flow_row_seen notes a batch row as it enters the transform of
 * an isolating attempt; true.  Outside one it notes nothing.
 */
Datum
medallion_flow_row_seen(PG_FUNCTION_ARGS)
{
	if (Noting)
	{
		ItemPointer row = (ItemPointer) PG_GETARG_POINTER(0);

		/* Only a real line pointer: the search steps past it by one. */
		if (ItemPointerGetOffsetNumberNoCheck(row) >= FirstOffsetNumber &&
			ItemPointerGetOffsetNumberNoCheck(row) <= MaxHeapTuplesPerPage)
		{
			RowSeen = *row;
			RowSeenValid = true;
		}
	}
	PG_RETURN_BOOL(true);
}

typedef struct Isolation
{
	SPIPlanPtr	range_insert;	/* $1, $2: [from, to) ctids of the batch: transform those rows into the output */
	SPIPlanPtr	quarantine_insert;	/* $1 ctid, $2 run id, $3 error: quarantine that row */
	bool		noting;			/* range_insert notes the rows it reads, and the notes have been right */
	int64		run_id;
	int64		rows_out;
	int64		refused;
	int64		attempts;
} Isolation;

/* The first row position of block b, and the position after row (b, o). */
static ItemPointerData
Position(BlockNumber block, OffsetNumber offset)
{
	ItemPointerData p;

	ItemPointerSet(&p, block, offset);
	return p;
}

/*
 * TryRange transforms the batch rows in [from, to) in a subtransaction.  A
 * data error rolls it back and is returned in *error; any other error is
 * the run's and propagates.  The last row noted is left in RowSeen.
 */
static bool
TryRange(Isolation *iso, ItemPointerData from, ItemPointerData to, ErrorData **error)
{
	MemoryContext outer = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	CHECK_FOR_INTERRUPTS();
	iso->attempts++;
	RowSeenValid = false;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(outer);
	PG_TRY();
	{
		Datum		args[2] = {PointerGetDatum(&from), PointerGetDatum(&to)};
		int			rc;

		Noting = iso->noting;
		rc = SPI_execute_plan(iso->range_insert, args, NULL, false, 0);
		Noting = false;
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "transforming a range of a flow's batch returned %s", SPI_result_code_string(rc));
		iso->rows_out += SPI_processed;
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(outer);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		Noting = false;
		MemoryContextSwitchTo(outer);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(outer);
		CurrentResourceOwner = owner;
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION)
			ReThrowError(edata);
		*error = edata;
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/* Quarantine puts the one row at `row` in the quarantine with the error its transform raised. */
static void
Quarantine(Isolation *iso, ItemPointerData row, const ErrorData *error)
{
	Datum		args[3];
	int			rc;

	args[0] = PointerGetDatum(&row);
	args[1] = Int64GetDatum(iso->run_id);
	args[2] = CStringGetTextDatum(psprintf("%s: %s", unpack_sql_state(error->sqlerrcode),
										   error->message ? error->message : "(no message)"));
	rc = SPI_execute_plan(iso->quarantine_insert, args, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "quarantining a row of a flow's batch returned %s", SPI_result_code_string(rc));
	/* No row there: the transform raises with no row of the batch at all; that error is the run's. */
	if (SPI_processed != 1)
		ReThrowError((ErrorData *) error);
	iso->refused++;
}

/*
 * Halve transforms [from, to), known to raise `error`, by halves: across
 * pages by whole pages, within a page by line pointers, down to single rows,
 * which are quarantined.  `to` is (block, offset) with offset
 * FirstOffsetNumber meaning "up to the end of the block before".
 */
static void
Halve(Isolation *iso, ItemPointerData from, ItemPointerData to, ErrorData *error)
{
	BlockNumber first_block = ItemPointerGetBlockNumberNoCheck(&from);
	BlockNumber end_block = ItemPointerGetBlockNumberNoCheck(&to);
	OffsetNumber first = ItemPointerGetOffsetNumberNoCheck(&from);
	ItemPointerData middle;
	ErrorData  *half_error = NULL;
	int			half;

	check_stack_depth();
	if (end_block > first_block + 1 || (end_block == first_block + 1 && ItemPointerGetOffsetNumberNoCheck(&to) > FirstOffsetNumber))
		middle = Position(first_block + Max(1, (end_block - first_block) / 2), FirstOffsetNumber);
	else
	{
		/* One block: line pointers [first, last). */
		OffsetNumber last = end_block == first_block ? ItemPointerGetOffsetNumberNoCheck(&to) : MaxHeapTuplesPerPage + 1;

		if (last - first <= 1)
		{
			Quarantine(iso, from, error);
			FreeErrorData(error);
			return;
		}
		middle = Position(first_block, first + (last - first) / 2);
	}
	FreeErrorData(error);
	for (half = 0; half < 2; half++)
	{
		ItemPointerData a = half == 0 ? from : middle;
		ItemPointerData b = half == 0 ? middle : to;

		if (!TryRange(iso, a, b, &half_error))
			Halve(iso, a, b, half_error);
	}
}

/* ByPages transforms [from, to) a page at a time, halving the pages that raise. */
static void
ByPages(Isolation *iso, ItemPointerData from, ItemPointerData to)
{
	while (ItemPointerCompare(&from, &to) < 0)
	{
		ItemPointerData page_to = Position(ItemPointerGetBlockNumberNoCheck(&from) + 1, FirstOffsetNumber);
		ErrorData  *error = NULL;

		if (ItemPointerCompare(&page_to, &to) > 0)
			page_to = to;
		if (!TryRange(iso, from, page_to, &error))
			Halve(iso, from, page_to, error);
		from = page_to;
	}
}

/*
 * Isolate transforms the batch from `from` to the end (block end_block),
 * following the noted rows while they are right.
 */
static void
Isolate(Isolation *iso, ItemPointerData from, BlockNumber end_block)
{
	ItemPointerData end = Position(end_block, FirstOffsetNumber);

	while (iso->noting && ItemPointerGetBlockNumberNoCheck(&from) < end_block)
	{
		ErrorData  *error = NULL;
		ItemPointerData seen;
		ItemPointerData after_seen;
		ErrorData  *row_error = NULL;

		if (TryRange(iso, from, end, &error))
			return;
		FreeErrorData(error);
		if (!RowSeenValid || ItemPointerCompare(&RowSeen, &from) < 0 || ItemPointerCompare(&RowSeen, &end) >= 0)
		{
			iso->noting = false;
			break;
		}
		seen = RowSeen;
		after_seen = Position(ItemPointerGetBlockNumberNoCheck(&seen), ItemPointerGetOffsetNumberNoCheck(&seen) + 1);
		if (TryRange(iso, seen, after_seen, &row_error))
		{
			/* That row is fine (and now in the output): the transform does not take rows one by one. */
			iso->noting = false;
			ByPages(iso, from, seen);
			from = after_seen;
			break;
		}
		Quarantine(iso, seen, row_error);
		FreeErrorData(row_error);
		/* The rows before it, most likely all fine: one attempt, halved if not. */
		if (ItemPointerCompare(&from, &seen) < 0 && !TryRange(iso, from, seen, &error))
			Halve(iso, from, seen, error);
		from = after_seen;
	}
	ByPages(iso, from, end);
}

/*
 * TransformIsolatingRows transforms every row of the batch into the output
 * and quarantines those that raise.  The output holds nothing of the batch
 * yet: the whole-batch attempt rolled back.  Returns the rows written to
 * the output and the rows quarantined.
 */
void
TransformIsolatingRows(Oid batch_table, const char *range_insert, const char *range_insert_noting,
					   const char *quarantine_insert, int64 run_id, int64 *rows_out, int64 *refused)
{
	Isolation	iso = {0};
	Relation	batch;
	BlockNumber blocks;
	Oid			row_seen;

	batch = relation_open(batch_table, AccessShareLock);
	blocks = RelationGetNumberOfBlocks(batch);
	relation_close(batch, AccessShareLock);

	/* Noting needs EXECUTE on medallion._flow_row_seen, granted to owners by create_flow. */
	row_seen = LookupFuncName(list_make2(makeString(MEDALLION_SCHEMA), makeString("_flow_row_seen")), 1, (Oid[]) {TIDOID}, true);
	iso.noting = OidIsValid(row_seen) && pg_proc_aclcheck(row_seen, GetUserId(), ACL_EXECUTE) == ACLCHECK_OK;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	iso.range_insert = SPI_prepare(iso.noting ? range_insert_noting : range_insert, 2, (Oid[]) {TIDOID, TIDOID});
	iso.quarantine_insert = SPI_prepare(quarantine_insert, 3, (Oid[]) {TIDOID, INT8OID, TEXTOID});
	if (iso.range_insert == NULL || iso.quarantine_insert == NULL)
		elog(ERROR, "could not prepare the isolation of a flow's batch: %s", SPI_result_code_string(SPI_result));
	iso.run_id = run_id;
	Isolate(&iso, Position(0, FirstOffsetNumber), blocks);
	SPI_finish();
	ereport(DEBUG1,
			(errmsg_internal("flow batch isolation: " INT64_FORMAT " rows refused, " INT64_FORMAT " transformed, "
							 INT64_FORMAT " attempts over %u pages, %s",
							 iso.refused, iso.rows_out, iso.attempts, blocks,
							 iso.noting ? "following the noted rows" : "by pages and halves")));
	*rows_out = iso.rows_out;
	*refused = iso.refused;
}
