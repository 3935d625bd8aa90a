/*-------------------------------------------------------------------------
 *
 * isolate.c
 *	  When a flow's transform raises a data error (SQLSTATE class 22: a bad
 *	  cast, malformed JSON) over its whole batch, the batch is transformed
 *	  again a heap page at a time, each page in a subtransaction; a page that
 *	  raises is split in halves by line pointer until the rows that raise are
 *	  alone, and those go to the quarantine with their error.
 *
 * Why pages and halves, not a subtransaction per row: with 1% of rows bad,
 * a row at a time pays a subtransaction and an executor start for every
 * row of the batch; this pays one per page (~100 rows) plus about twenty per
 * bad row.  The statements are prepared once (by medallion._flow_run, which
 * knows the staging tables and the transform) with the bounds of a ctid
 * range as parameters, so every attempt is a TID range scan of its rows.
 * Runs as the flow's owner, like the rest of the run: the caller switched.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "flow/isolate.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/itemptr.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

typedef struct Isolation
{
	SPIPlanPtr	range_insert;	/* $1, $2: [from, to) ctids of the batch: transform those rows into the output */
	SPIPlanPtr	quarantine_insert;	/* $1 ctid, $2 run id, $3 error: quarantine that row */
	int64		run_id;
	int64		rows_out;
	int64		refused;
} Isolation;

/*
 * TryRange transforms the batch rows in [from, to) in a subtransaction.  A
 * data error rolls it back and is returned in *error; any other error is
 * the run's and propagates.
 */
static bool
TryRange(Isolation *iso, ItemPointerData from, ItemPointerData to, ErrorData **error)
{
	MemoryContext outer = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(outer);
	PG_TRY();
	{
		Datum		args[2] = {PointerGetDatum(&from), PointerGetDatum(&to)};
		int			rc = SPI_execute_plan(iso->range_insert, args, NULL, false, 0);

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

/* Quarantine puts the one row at *row in the quarantine with the error its transform raised. */
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
	if (rc != SPI_OK_INSERT || SPI_processed != 1)
		elog(ERROR, "quarantining a row of a flow's batch returned %s, " UINT64_FORMAT " rows",
			 SPI_result_code_string(rc), SPI_processed);
	iso->refused++;
}

/* IsolateInPage transforms the rows of page `block` with line pointers in [first, last), halving on error. */
static void
IsolateInPage(Isolation *iso, BlockNumber block, OffsetNumber first, OffsetNumber last)
{
	ItemPointerData from;
	ItemPointerData to;
	ErrorData  *error = NULL;

	CHECK_FOR_INTERRUPTS();
	check_stack_depth();
	ItemPointerSet(&from, block, first);
	ItemPointerSet(&to, block, last);
	if (TryRange(iso, from, to, &error))
		return;
	if (last - first == 1)
	{
		Quarantine(iso, from, error);
		FreeErrorData(error);
		return;
	}
	FreeErrorData(error);
	IsolateInPage(iso, block, first, first + (last - first) / 2);
	IsolateInPage(iso, block, first + (last - first) / 2, last);
}

/*
 * TransformIsolatingRows transforms every row of the batch into the output
 * (range_insert) and quarantines those that raise (quarantine_insert).  The
 * output holds nothing of the batch yet: the whole-batch attempt rolled back.
 * Returns the rows written to the output and the rows quarantined.
 */
void
TransformIsolatingRows(Oid batch_table, const char *range_insert, const char *quarantine_insert,
					   int64 run_id, int64 *rows_out, int64 *refused)
{
	Isolation	iso = {0};
	Relation	batch;
	BlockNumber blocks;
	BlockNumber block;

	batch = relation_open(batch_table, AccessShareLock);
	blocks = RelationGetNumberOfBlocks(batch);
	relation_close(batch, AccessShareLock);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	iso.range_insert = SPI_prepare(range_insert, 2, (Oid[]) {TIDOID, TIDOID});
	iso.quarantine_insert = SPI_prepare(quarantine_insert, 3, (Oid[]) {TIDOID, INT8OID, TEXTOID});
	if (iso.range_insert == NULL || iso.quarantine_insert == NULL)
		elog(ERROR, "could not prepare the isolation of a flow's batch: %s", SPI_result_code_string(SPI_result));
	iso.run_id = run_id;
	/* Offsets past a page's last line pointer select nothing: the upper halves there cost one empty scan. */
	for (block = 0; block < blocks; block++)
		IsolateInPage(&iso, block, FirstOffsetNumber, MaxHeapTuplesPerPage + 1);
	SPI_finish();
	*rows_out = iso.rows_out;
	*refused = iso.refused;
}
