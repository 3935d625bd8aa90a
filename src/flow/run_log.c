/*-------------------------------------------------------------------------
 *
 * run_log.c
 *	  A failed run is recorded although its work rolled back: a dynamic
 *	  background worker inserts the run's row into medallion.flow_run in a
 *	  transaction of its own, as the extension owner, while the caller waits;
 *	  then the caller raises the run's error (so a scheduler's own log shows
 *	  the failure too).
 *
 * The row travels as jsonb text in a DSM segment and is inserted with
 * jsonb_populate_record: values are parameters, never SQL text.  Starting a
 * worker costs milliseconds, paid by failed runs only.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "flow/run_log.h"

#include "base/export.h"
#include "base/objects.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

PGDLLEXPORT void medallion_run_log_worker_main(Datum main_arg);

#define RUN_LOG_MAX_JSON 16384

/* What the caller and its worker share. */
typedef struct RunLogRequest
{
	Oid			database;
	Oid			user;
	int			status;			/* 0: no answer, 1: recorded, -1: failed */
	char		message[512];
	char		json[RUN_LOG_MAX_JSON];
} RunLogRequest;

/*
 * RecordInOwnTransaction inserts one medallion.flow_run row, given as jsonb
 * text, in a transaction of its own; false with a message if it could not.
 */
bool
RecordInOwnTransaction(const char *run_json, char *message, size_t message_size)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	dsm_segment *seg;
	RunLogRequest *request;
	bool		ok;

	if (strlen(run_json) >= RUN_LOG_MAX_JSON)
	{
		strlcpy(message, "the run's row is too long to record", message_size);
		return false;
	}
	seg = dsm_create(sizeof(RunLogRequest), 0);
	request = (RunLogRequest *) dsm_segment_address(seg);
	memset(request, 0, sizeof(RunLogRequest));
	request->database = MyDatabaseId;
	request->user = MedallionExtensionOwner();
	strlcpy(request->json, run_json, sizeof(request->json));

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_medallion");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "medallion_run_log_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_medallion run log");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pg_medallion run log");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		strlcpy(message, "no free background worker slot (max_worker_processes)", message_size);
		dsm_detach(seg);
		return false;
	}
	if (WaitForBackgroundWorkerShutdown(handle) == BGWH_POSTMASTER_DIED)
		ereport(FATAL,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("postmaster exited while recording a failed run")));
	ok = request->status == 1;
	if (!ok)
		strlcpy(message, request->status == 0 ? "the run log worker stopped without an answer" : request->message,
				message_size);
	dsm_detach(seg);
	return ok;
}

/* medallion_run_log_worker_main is the entry of the worker that records one failed run. */
void
medallion_run_log_worker_main(Datum main_arg)
{
	dsm_segment *seg;
	RunLogRequest *request;
	MemoryContext oldcontext;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	CurrentResourceOwner = ResourceOwnerCreate(NULL, "pg_medallion run log");
	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		proc_exit(0);
	request = (RunLogRequest *) dsm_segment_address(seg);
	BackgroundWorkerInitializeConnectionByOid(request->database, request->user, 0);
	pgstat_report_appname("pg_medallion run log");
	oldcontext = CurrentMemoryContext;
	PG_TRY();
	{
		Oid			argtypes[1] = {TEXTOID};
		Datum		args[1] = {CStringGetTextDatum(request->json)};

		StartTransactionCommand();
		SetCurrentStatementStartTimestamp();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute_with_args("INSERT INTO medallion.flow_run SELECT * FROM "
								  "pg_catalog.jsonb_populate_record(NULL::medallion.flow_run, $1::pg_catalog.jsonb)",
								  1, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "inserting the run failed");
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		request->status = 1;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		strlcpy(request->message, edata->message ? edata->message : "(no message)", sizeof(request->message));
		request->status = -1;
	}
	PG_END_TRY();
	dsm_detach(seg);
	proc_exit(0);
}
