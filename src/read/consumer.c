/*-------------------------------------------------------------------------
 *
 * consumer.c
 *	  Consumers: named readers of feeds with a watermark per feed, the last
 *	  version they fully consumed (inclusive: the next read starts at
 *	  watermark + 1).
 *
 * consume() reads (watermark, cut] and moves the watermark to `cut` in the
 * caller's transaction: commit acknowledges the read, rollback means it is
 * read again.  The consumer's row in medallion.consumer_feed is locked FOR
 * UPDATE first, so a second consume of the same consumer and feed waits (or,
 * with nowait, fails as busy) and then reads the next range: two callers
 * never process the same versions.
 *
 * The cut is the newest version when the consumer is first read in a
 * transaction (closing the open version first); later reads of the same
 * consumer in that transaction reuse it, so all its feeds are read up to one
 * version: a consistent cut for joins.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "clock/version.h"
#include "base/catalog.h"
#include "base/objects.h"
#include "base/privilege.h"
#include "base/spi.h"
#include "read/read.h"
#include "base/export.h"
#include "base/result.h"

#include "utils/memutils.h"
#include "utils/portal.h"

#include "access/xact.h"
#include "commands/sequence.h"
#include "utils/snapmgr.h"
#include "utils/rel.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(medallion_create_consumer);
PG_FUNCTION_INFO_V1(medallion_drop_consumer);
PG_FUNCTION_INFO_V1(medallion_reset_consumer);
PG_FUNCTION_INFO_V1(medallion_consume);
PG_FUNCTION_INFO_V1(medallion_peek);
PG_FUNCTION_INFO_V1(medallion_consume_typed);

#define CONSUMER_NAME_MAX 200

/* The cut of the consumer read last in this transaction. */
static LocalTransactionId cut_lxid = InvalidLocalTransactionId;
static char cut_consumer[CONSUMER_NAME_MAX + 1];
static int64 cut_version = -1;

/* ConsumerName returns argument `argno` as a consumer name, or errors if it is NULL, empty or too long. */
static char *
ConsumerName(FunctionCallInfo fcinfo, int argno)
{
	char	   *name;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("consumer name must not be NULL"),
				 errhint("Pass the consumer's name, e.g. 'silver_orders'.")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (name[0] == '\0' || strlen(name) > CONSUMER_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("consumer name must have 1 to %d characters", CONSUMER_NAME_MAX),
				 errhint("Name consumers after the pipeline step that reads, e.g. 'silver_orders'.")));
	return name;
}

/* CheckConsumerAccess errors unless the consumer exists and the current user acts for its owner. */
static void
CheckConsumerAccess(const char *consumer)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(consumer)};
	Oid			owner = InvalidOid;
	OwnerSwitch as_owner;

	BeginAsOwner(&as_owner);
	SpiConnect();
	(void) SpiExecuteKept("SELECT owner::oid FROM medallion.consumer WHERE consumer OPERATOR(pg_catalog.=) $1",
						  1, argtypes, args, NULL, false, 1, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		bool		isnull;

		owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();
	EndAsOwner(&as_owner);

	if (!OidIsValid(owner))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("consumer \"%s\" does not exist", consumer),
				 errhint("Create it with medallion.create_consumer(); see medallion.consumers.")));
	if (!has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for consumer \"%s\"", consumer),
				 errdetail("Consumers are used by their owner, %s.", GetUserNameFromId(owner, false)),
				 errhint("Run as a member of the owner role.")));
}

/* FeedArgument returns the feed of a source argument, or errors naming it. */
static void
FeedArgument(FunctionCallInfo fcinfo, int argno, FeedRow *feed)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("feed must not be NULL"),
				 errhint("Pass the source table of the feed, e.g. 'bronze.orders'.")));
	if (!LookupFeedBySource(PG_GETARG_OID(argno), feed))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table %s has no change feed", RelationDisplayName(PG_GETARG_OID(argno))),
				 errhint("Call medallion.enable_feed() first.")));
}

/* OldestReadable returns the oldest version of a feed still readable: its first, or the first retention kept. */
static int64
OldestReadable(const FeedRow *feed)
{
	int64		first = FeedFirstVersion(feed);

	return (first >= 0 && feed->retained_from > first) ? feed->retained_from : first;
}

/* StartWatermark returns where a new consumer of `feed` starts: the last version it counts as consumed. */
static int64
StartWatermark(const FeedRow *feed, const char *start, int64 newest)
{
	int64		first = OldestReadable(feed);

	if (strcmp(start, "latest") == 0)
		return newest;
	if (strcmp(start, "earliest") == 0)
		return first < 0 ? newest : first - 1;
	if (strspn(start, "0123456789") == strlen(start) && strlen(start) > 0 && strlen(start) < 19)
	{
		int64		version = pg_strtoint64(start);

		if (version < 1 || version > newest + 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("start version " INT64_FORMAT " is not between 1 and the next version " INT64_FORMAT,
							version, newest + 1),
					 errhint("Start at a closed version, or at the next one to read only what comes.")));
		if (first < 0 || version < first)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("start version " INT64_FORMAT " is before the first version of the feed of table %s",
							version, RelationDisplayName(feed->source)),
					 first < 0 ? errhint("Start at 'latest' or 'earliest'.")
					 : errhint("Start at version " INT64_FORMAT " or later, or at 'earliest'.", first)));
		return version - 1;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid start \"%s\"", start),
			 errhint("Valid starts are 'latest', 'earliest', 'snapshot' and a version number.")));
	return 0;					/* keep the compiler quiet */
}

/* SourceColumnList returns the source's live columns as a quoted list. */
static char *
SourceColumnList(Oid source)
{
	Relation	rel = table_open(source, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped)
			appendStringInfo(&buf, "%s%s", buf.len ? ", " : "",
							 quote_identifier(NameStr(TupleDescAttr(desc, i)->attname)));
	table_close(rel, AccessShareLock);
	return buf.data;
}

/*
 * SnapshotStart copies each source's rows as of one closed version into a
 * snapshot table and returns that version.  The version is closed by the
 * clock as any other (no lock on medallion.tick is held in the caller's
 * transaction, so nobody's clock waits for it); the copy is the source's
 * rows at that version, rebuilt by time travel (as_of: the rows now, minus
 * the changes after the version).  A feed enabled in this very transaction
 * has no change yet: its rows are copied as they are.  The copy runs as the
 * caller (the source's types' domain checks and the caller's rights apply),
 * into a table of the extension owner's that the caller may write only
 * during the copy.
 */
static int64
SnapshotStart(const FeedRow *feeds, int nfeeds, Oid *tables)
{
	int64		version;
	int			i;
	const char *caller = quote_identifier(GetUserNameFromId(GetUserId(), false));

	RequestTick();
	version = NewestReadableVersion();

	for (i = 0; i < nfeeds; i++)
	{
		char	   *name = psprintf("_snapshot_" INT64_FORMAT, nextval_internal(MedallionChangeSeqOid(), false));
		char	   *qualified = quote_qualified_identifier(MEDALLION_CHANGES_SCHEMA, name);
		char	   *columns = SourceColumnList(feeds[i].source);
		char	   *source = RelationDisplayName(feeds[i].source);
		char	   *from;
		int			spi_nest;

		RunAsOwner(psprintf("CREATE TABLE %s AS SELECT %s FROM %s WITH NO DATA;\nGRANT INSERT ON %s TO %s",
							qualified, columns, source, qualified, caller),
				   0, NULL, NULL, SPI_OK_UTILITY);
		tables[i] = get_relname_relid(name, MedallionChangesSchemaOid());

		if (FeedFirstVersion(&feeds[i]) < 0)
			from = source;
		else
			from = psprintf("medallion.as_of(NULL::%s, " INT64_FORMAT ")", source, version);
		spi_nest = SpiConnectPinned();
		(void) SpiExecute(psprintf("INSERT INTO %s SELECT %s FROM %s", qualified, columns, from), 0, NULL, NULL, false, 0, SPI_OK_INSERT);
		SpiFinishPinned(spi_nest);
		RunAsOwner(psprintf("REVOKE INSERT ON %s FROM %s", qualified, caller), 0, NULL, NULL, SPI_OK_UTILITY);
	}
	return version;
}

/* DropSnapshotTables drops the pending snapshot tables of a consumer (one feed, or all for 0). */
static void
DropSnapshotTables(const char *consumer, int32 feed_id)
{
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		args[2] = {CStringGetTextDatum(consumer), Int32GetDatum(feed_id)};

	{
		MemoryContext outer = CurrentMemoryContext;
		List	   *tables = NIL;
		ListCell   *lc;
		uint64		i;
		int			spi_nest;

		spi_nest = SpiConnectPinned();
		(void) SpiExecute("SELECT snapshot_table::oid FROM medallion.consumer_feed "
								  "WHERE consumer OPERATOR(pg_catalog.=) $1 AND snapshot_table IS NOT NULL "
								  "AND ($2 OPERATOR(pg_catalog.=) 0 OR feed_id OPERATOR(pg_catalog.=) $2)", 2, argtypes, args, false, 0, SPI_OK_SELECT);
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			Oid			table = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
			MemoryContext spi = MemoryContextSwitchTo(outer);

			tables = lappend_oid(tables, table);
			MemoryContextSwitchTo(spi);
		}
		SpiFinishPinned(spi_nest);
		foreach(lc, tables)
			RunAsOwner(psprintf("DROP TABLE IF EXISTS %s", RelationDisplayName(lfirst_oid(lc))),
					   0, NULL, NULL, SPI_OK_UTILITY);
		RunAsOwner("UPDATE medallion.consumer_feed SET snapshot_table = NULL "
				   "WHERE consumer OPERATOR(pg_catalog.=) $1 "
				   "AND ($2 OPERATOR(pg_catalog.=) 0 OR feed_id OPERATOR(pg_catalog.=) $2)",
				   2, argtypes, args, SPI_OK_UPDATE);
	}
}

/*
 * medallion_create_consumer registers a consumer of one or more feeds and
 * returns, per feed, its starting watermark (the next read starts after it).
 */
Datum
medallion_create_consumer(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *consumer = ConsumerName(fcinfo, 0);
	char	   *start = PG_ARGISNULL(2) ? "latest" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	ArrayType  *feeds;
	Datum	   *elems;
	bool	   *nulls;
	int			nfeeds;
	FeedRow    *rows;
	Oid		   *tables = NULL;
	int64		newest;
	int			i,
				j;
	Oid			argtypes[4] = {TEXTOID, INT4OID, INT8OID, TEXTOID};
	Datum		args[4];

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("feeds must not be NULL"),
				 errhint("Pass the source tables to read, e.g. ARRAY['bronze.orders']::regclass[].")));
	feeds = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(feeds) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feeds must be a one-dimensional array"),
				 errhint("Pass the source tables to read, e.g. ARRAY['bronze.orders']::regclass[].")));
	deconstruct_array(feeds, REGCLASSOID, sizeof(Oid), true, TYPALIGN_INT, &elems, &nulls, &nfeeds);
	if (nfeeds == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a consumer reads at least one feed"),
				 errhint("Pass the source tables to read, e.g. ARRAY['bronze.orders']::regclass[].")));

	rows = palloc(sizeof(FeedRow) * nfeeds);
	for (i = 0; i < nfeeds; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("feeds must not contain NULL"),
					 errhint("Remove the NULL from the array.")));
		if (!LookupFeedBySource(DatumGetObjectId(elems[i]), &rows[i]))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("table %s has no change feed", RelationDisplayName(DatumGetObjectId(elems[i]))),
					 errhint("Call medallion.enable_feed() first.")));
		for (j = 0; j < i; j++)
			if (rows[j].feed_id == rows[i].feed_id)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("table %s is listed twice", RelationDisplayName(rows[i].source)),
						 errhint("List each feed once.")));
		CheckSourceReadable(rows[i].source);
	}

	args[0] = CStringGetTextDatum(consumer);
	if (RunAsOwner("SELECT 1 FROM medallion.consumer WHERE consumer OPERATOR(pg_catalog.=) $1",
					  1, argtypes, args, SPI_OK_SELECT) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("consumer \"%s\" already exists", consumer),
				 errhint("Drop it first, or reset it with medallion.reset_consumer().")));

	if (strcmp(start, "snapshot") == 0)
	{
		tables = palloc0(sizeof(Oid) * nfeeds);
		newest = SnapshotStart(rows, nfeeds, tables);
		for (i = 0; i < nfeeds; i++)
		{
			int64		first = FeedFirstVersion(&rows[i]);

			if (first < 0 || first > newest)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("the feed of table %s is not committed yet", RelationDisplayName(rows[i].source)),
						 errhint("Create the consumer after the transaction that enabled the feed has committed.")));
		}
	}
	else
	{
		RequestTick();
		newest = NewestReadableVersion();
	}
	args[1] = ObjectIdGetDatum(GetUserId());
	args[3] = CStringGetTextDatum(start);
	argtypes[1] = OIDOID;
	RunAsOwner("INSERT INTO medallion.consumer (consumer, owner, start) VALUES ($1, $2::pg_catalog.regrole, $4)",
				  4, argtypes, args, SPI_OK_INSERT);
	argtypes[1] = INT4OID;

	MaterializeResult(fcinfo, 0);
	for (i = 0; i < nfeeds; i++)
	{
		int64		watermark = tables ? newest : StartWatermark(&rows[i], start, newest);
		Datum		values[2];
		bool		isnull[2] = {false, false};

		args[1] = Int32GetDatum(rows[i].feed_id);
		args[2] = Int64GetDatum(watermark);
		args[3] = ObjectIdGetDatum(tables ? tables[i] : InvalidOid);
		argtypes[3] = OIDOID;
		RunAsOwner("INSERT INTO medallion.consumer_feed (consumer, feed_id, watermark, snapshot_table) "
				   "VALUES ($1, $2, $3, NULLIF($4, 0::pg_catalog.oid)::pg_catalog.regclass); "
					  "INSERT INTO medallion.watermark_log (name, source, action, new_value) "
					  "VALUES ($1, (SELECT f.source::text FROM medallion.feed f WHERE f.feed_id OPERATOR(pg_catalog.=) $2), "
					  "'create', $3::text)",
					  4, argtypes, args, SPI_OK_INSERT);
		values[0] = ObjectIdGetDatum(rows[i].source);
		values[1] = Int64GetDatum(watermark);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, isnull);
	}
	return (Datum) 0;
}

/* medallion_drop_consumer removes a consumer and its watermarks (the drop is logged). */
Datum
medallion_drop_consumer(PG_FUNCTION_ARGS)
{
	char	   *consumer = ConsumerName(fcinfo, 0);
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(consumer)};

	CheckConsumerAccess(consumer);
	DropSnapshotTables(consumer, 0);
	RunAsOwner("INSERT INTO medallion.watermark_log (name, source, action, old_value) "
				  "SELECT cf.consumer, f.source::text, 'drop', cf.watermark::text "
				  "FROM medallion.consumer_feed cf JOIN medallion.feed f USING (feed_id) "
				  "WHERE cf.consumer OPERATOR(pg_catalog.=) $1; "
				  "DELETE FROM medallion.consumer WHERE consumer OPERATOR(pg_catalog.=) $1",
				  1, argtypes, args, SPI_OK_DELETE);
	PG_RETURN_VOID();
}

/*
 * medallion_reset_consumer moves a consumer's watermark to `to_version` (the
 * last version counted as consumed) on one feed or all of them: an explicit,
 * logged rewind or skip.  It waits for a running consume of the consumer.
 */
Datum
medallion_reset_consumer(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *consumer = ConsumerName(fcinfo, 0);
	int64		to_version;
	int64		newest;
	FeedRow		only;
	bool		one_feed = !PG_ARGISNULL(2);
	Oid			argtypes[3] = {TEXTOID, INT8OID, INT4OID};
	Datum		args[3];
	MemoryContext outer = CurrentMemoryContext;
	int32	   *feed_ids = NULL;
	int64	   *old_marks = NULL;
	int			nrows = 0;
	int			r;
	uint64		i;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("to_version must not be NULL"),
				 errhint("Pass the last version to count as consumed; the next read starts after it.")));
	to_version = PG_GETARG_INT64(1);
	CheckConsumerAccess(consumer);
	if (one_feed)
		FeedArgument(fcinfo, 2, &only);
	newest = NewestReadableVersion();
	if (to_version < 0 || to_version > newest)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("to_version " INT64_FORMAT " is not between 0 and the newest version " INT64_FORMAT,
						to_version, newest),
				 errhint("A watermark is a closed version; call medallion.current_version() to close the open one.")));

	args[0] = CStringGetTextDatum(consumer);
	args[2] = Int32GetDatum(one_feed ? only.feed_id : 0);
	{
		OwnerSwitch as_owner;

		BeginAsOwner(&as_owner);
		SpiConnect();
		(void) SpiExecute("SELECT feed_id, watermark FROM medallion.consumer_feed "
								  "WHERE consumer OPERATOR(pg_catalog.=) $1 "
								  "AND ($3 OPERATOR(pg_catalog.=) 0 OR feed_id OPERATOR(pg_catalog.=) $3) "
								  "ORDER BY feed_id FOR UPDATE", 3, argtypes, args, false, 0, SPI_OK_SELECT);
		nrows = (int) SPI_processed;
		feed_ids = MemoryContextAlloc(outer, sizeof(int32) * Max(nrows, 1));
		old_marks = MemoryContextAlloc(outer, sizeof(int64) * Max(nrows, 1));
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;

			feed_ids[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
			old_marks[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		}
		SPI_finish();
		EndAsOwner(&as_owner);
	}
	if (nrows == 0 && !one_feed)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("consumer \"%s\" reads no feed", consumer),
				 errdetail("The tables it read were dropped, and their feeds with them."),
				 errhint("Drop the consumer with medallion.drop_consumer() and create a new one.")));
	if (nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("consumer \"%s\" does not read the feed of table %s", consumer,
						RelationDisplayName(only.source)),
				 errhint("See medallion.consumers for the feeds it reads.")));

	MaterializeResult(fcinfo, 0);
	for (r = 0; r < nrows; r++)
	{
		FeedRow		feed;
		int64		first;
		Datum		values[3];
		bool		isnull[3] = {false, false, false};

		if (!LookupFeedById(feed_ids[r], &feed))
			elog(ERROR, "feed %d vanished", feed_ids[r]);
		first = OldestReadable(&feed);
		if (first >= 0 && to_version < first - 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("to_version " INT64_FORMAT " is before the oldest readable version " INT64_FORMAT " of the feed of table %s",
							to_version, first, RelationDisplayName(feed.source)),
					 errhint("Reset to " INT64_FORMAT " or later: older versions are gone or were never captured.", first - 1)));
		DropSnapshotTables(consumer, feed.feed_id);
		args[1] = Int64GetDatum(to_version);
		args[2] = Int32GetDatum(feed.feed_id);
		RunAsOwner("INSERT INTO medallion.watermark_log (name, source, action, old_value, new_value) "
					  "SELECT cf.consumer, f.source::text, 'reset', cf.watermark::text, $2::text "
					  "FROM medallion.consumer_feed cf JOIN medallion.feed f USING (feed_id) "
					  "WHERE cf.consumer OPERATOR(pg_catalog.=) $1 AND cf.feed_id OPERATOR(pg_catalog.=) $3; "
					  "UPDATE medallion.consumer_feed SET watermark = $2, updated_at = pg_catalog.now() "
					  "WHERE consumer OPERATOR(pg_catalog.=) $1 AND feed_id OPERATOR(pg_catalog.=) $3",
					  3, argtypes, args, SPI_OK_UPDATE);
		values[0] = ObjectIdGetDatum(feed.source);
		values[1] = Int64GetDatum(old_marks[r]);
		values[2] = Int64GetDatum(to_version);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, isnull);
	}
	/* A reset inside a transaction that already read this consumer starts a new cut. */
	cut_lxid = InvalidLocalTransactionId;
	return (Datum) 0;
}

/*
 * LockWatermark returns a consumer's watermark on a feed, locking its row
 * unless `peek`.  A row locked by another transaction makes us wait, or
 * with `nowait` fail as busy.
 */
static int64
LockWatermark(const char *consumer, const FeedRow *feed, bool nowait, bool peek, Oid *snapshot_table)
{
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		args[2] = {CStringGetTextDatum(consumer), Int32GetDatum(feed->feed_id)};
#define WATERMARK_SELECT "SELECT watermark, snapshot_table::oid FROM medallion.consumer_feed " \
		"WHERE consumer OPERATOR(pg_catalog.=) $1 AND feed_id OPERATOR(pg_catalog.=) $2"
	const char *select = WATERMARK_SELECT;
	const char *selects[3] = {WATERMARK_SELECT, WATERMARK_SELECT " FOR UPDATE SKIP LOCKED",
		WATERMARK_SELECT " FOR UPDATE"};
	int			attempt;
	int64		watermark = -1;
	bool		exists = false;
	OwnerSwitch as_owner;

	BeginAsOwner(&as_owner);
	SpiConnect();
	for (attempt = peek ? 0 : 1; attempt <= 2; attempt++)
	{
		bool		isnull;

		(void) SpiExecuteKept(selects[attempt], 2, argtypes, args, NULL, false, 1, SPI_OK_SELECT);
		if (SPI_processed == 1)
		{
			Datum		table;

			watermark = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
			table = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
			*snapshot_table = isnull ? InvalidOid : DatumGetObjectId(table);
			break;
		}
		if (attempt == 0)
			break;
		if (attempt == 1)
		{
			/* Nothing unlocked: is the row there at all, locked by someone else? */
			(void) SpiExecuteKept(select, 2, argtypes, args, NULL, false, 1, SPI_OK_SELECT);
			exists = SPI_processed == 1;
			if (!exists)
				break;
			if (nowait)
				ereport(ERROR,
						(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
						 errmsg("consumer \"%s\" is busy", consumer),
						 errdetail("Another transaction is consuming the feed of table %s for it.",
								   RelationDisplayName(feed->source)),
						 errhint("Retry after that transaction ends, or call without nowait to wait for it.")));
		}
	}
	SPI_finish();
	EndAsOwner(&as_owner);

	if (watermark < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("consumer \"%s\" does not read the feed of table %s", consumer,
						RelationDisplayName(feed->source)),
				 errhint("See medallion.consumers for the feeds it reads.")));
	return watermark;
}

/* ConsumerCut returns the version this transaction reads the consumer up to, closing the open version on first use. */
static int64
ConsumerCut(const char *consumer)
{
	if (cut_lxid == MyProc->lxid && strcmp(cut_consumer, consumer) == 0)
		return cut_version;
	RequestTick();
	cut_version = NewestReadableVersion();
	cut_lxid = MyProc->lxid;
	strlcpy(cut_consumer, consumer, sizeof(cut_consumer));
	return cut_version;
}

/* CheckNotStale errors if a version the consumer needs next is no longer in medallion.tick. */
static void
CheckNotStale(const char *consumer, const FeedRow *feed, int64 from)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(from - 1)};
	FeedRow		now;

	/* Locked first, as in CheckRetained: a vacuum is either all before us or all after. */
	LockRelationOid(feed->change_table, AccessShareLock);
	if (LookupFeedById(feed->feed_id, &now) && from < now.retained_from)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("consumer \"%s\" is stale: version " INT64_FORMAT " of the feed of table %s was removed by retention",
						consumer, from, RelationDisplayName(feed->source)),
				 errdetail("medallion.vacuum(force => true) removed versions it had not consumed; the oldest readable version is " INT64_FORMAT ".",
						   now.retained_from),
				 errhint("Call medallion.reset_consumer() to continue from version " INT64_FORMAT " or later.",
						 now.retained_from - 1)));
	if (RunAsOwnerKept("SELECT 1 FROM medallion.tick WHERE version OPERATOR(pg_catalog.=) $1",
					  1, argtypes, args, SPI_OK_SELECT) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("consumer \"%s\" is stale: version " INT64_FORMAT " of the feed of table %s was removed",
						consumer, from, RelationDisplayName(feed->source)),
				 errdetail("Its changes can no longer be read; nothing was skipped silently."),
				 errhint("Call medallion.reset_consumer() to continue from a version that still exists.")));
}

/*
 * ReadSnapshot puts the rows of a 'snapshot' start into the SRF's result as
 * inserts of the version they were copied at, before any change.
 */
static void
ReadSnapshot(FunctionCallInfo fcinfo, const FeedRow *feed, Oid snapshot_table, int64 version, bool as_json)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	outdesc;
	int			ndata;
	int			nticks;
	TickSnapshot *tick = LoadTicks(version, version, &nticks);
	Oid			insert_label = MedallionChangeTypeLabel(CHANGE_INSERT);
	StringInfoData select;
	OwnerSwitch as_owner;
	Portal		portal;
	int64		ordinal = 0;
	int			i;
	JsonbConverter to_json;
	Relation	snap;
	Oid			source_owner = RelationOwner(feed->source);
	uint64		portal_pos = 0;
	MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_medallion snapshot row",
												  ALLOCSET_DEFAULT_SIZES);

	MaterializeResult(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	outdesc = rsinfo->setDesc;
	ndata = outdesc->natts - 4;
	CheckColumnDefinitions(outdesc, feed, as_json);
	initStringInfo(&select);
	if (as_json)
	{
		appendStringInfoString(&select, "c");
		CheckJsonReadRunsNoForeignCode(get_rel_type_id(snapshot_table), source_owner, feed->source);
		InitRowToJsonb(&to_json, get_rel_type_id(snapshot_table), false);
	}
	else
	{
		/* Copied from the source, whose columns may be domains over the change table's types. */
		snap = table_open(snapshot_table, AccessShareLock);
		for (i = 0; i < ndata; i++)
		{
			Form_pg_attribute want = TupleDescAttr(outdesc, i);
			int			attnum = SPI_fnumber(RelationGetDescr(snap), NameStr(want->attname));

			if (attnum <= 0 ||
				getBaseType(TupleDescAttr(RelationGetDescr(snap), attnum - 1)->atttypid) != want->atttypid)
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("the snapshot of consumer start does not match the reader's column \"%s\"",
								NameStr(want->attname)),
						 errhint("Reset the consumer with medallion.reset_consumer().")));
			appendStringInfo(&select, "%sc.%s", i ? ", " : "", quote_identifier(NameStr(want->attname)));
		}
		table_close(snap, AccessShareLock);
	}

	BeginAsOwner(&as_owner);
	SpiConnect();
	portal = SPI_cursor_open_with_args(NULL, psprintf("SELECT %s FROM %s AS c", select.data,
													  RelationDisplayName(snapshot_table)),
									   0, NULL, NULL, NULL, false, 0);
	GuardCursor(portal);
	for (;;)
	{
		uint64		r;

		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		for (r = 0; r < SPI_processed; r++)
		{
			MemoryContext outer = MemoryContextSwitchTo(row_cxt);
			Datum	   *values = palloc(sizeof(Datum) * outdesc->natts);
			bool	   *nulls = palloc0(sizeof(bool) * outdesc->natts);

			for (i = 0; i < ndata; i++)
				values[i] = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, i + 1, &nulls[i]);
			if (as_json)
			{
				/* Casts to json of the row's types are user code: as the table's owner, restricted. */
				portal_pos = portal->portalPos;
				AsTableOwnerAgain(&as_owner, source_owner);
				values[0] = RowToJsonb(&to_json, values[0]);
				OwnerAgain(&as_owner);
				CheckCursorUntouched(portal, portal_pos);
			}
			values[ndata] = ObjectIdGetDatum(insert_label);
			values[ndata + 1] = Int64GetDatum(version);
			values[ndata + 2] = TimestampTzGetDatum(tick->committed_at);
			values[ndata + 3] = Int64GetDatum(ordinal++);
			tuplestore_putvalues(rsinfo->setResult, outdesc, values, nulls);
			MemoryContextSwitchTo(outer);
			MemoryContextReset(row_cxt);	/* the tuplestore copied the row */
		}
		SPI_freetuptable(SPI_tuptable);
	}
	ReleaseCursorGuard(portal);
	SPI_cursor_close(portal);
	SPI_finish();
	EndAsOwner(&as_owner);
}

/*
 * Consume reads a consumer's unconsumed range of one feed into the SRF's
 * result and, unless `peek`, moves its watermark to the end of the range in
 * the caller's transaction.
 */
static void
Consume(FunctionCallInfo fcinfo, const char *consumer, const FeedRow *feed, int64 max_versions,
		bool nowait, bool peek, bool as_json, bool net)
{
	int64		watermark;
	int64		from,
				to,
				first;
	Oid			snapshot_table = InvalidOid;

	CheckConsumerAccess(consumer);
	CheckSourceReadable(feed->source);
	CheckFeedNotBroken(feed);
	watermark = LockWatermark(consumer, feed, nowait, peek, &snapshot_table);

	to = ConsumerCut(consumer);
	if (max_versions > 0 && watermark + max_versions < to)
		to = watermark + max_versions;
	from = watermark + 1;
	first = FeedFirstVersion(feed);
	if (first < 0)
		from = to + 1;			/* the feed has no closed version yet: nothing to read */
	else if (from < first)
		from = first;			/* versions before the feed's first hold none of its changes */

	if (from <= to)
		CheckNotStale(consumer, feed, from);
	if (OidIsValid(snapshot_table))
		ReadSnapshot(fcinfo, feed, snapshot_table, watermark, as_json);
	ReadVersions(fcinfo, feed, from, to, as_json, net);
	if (OidIsValid(snapshot_table) && !peek)
		DropSnapshotTables(consumer, feed->feed_id);

	if (!peek && to > watermark)
	{
		Oid			argtypes[3] = {TEXTOID, INT4OID, INT8OID};
		Datum		args[3] = {CStringGetTextDatum(consumer), Int32GetDatum(feed->feed_id), Int64GetDatum(to)};

		RunAsOwnerKept("UPDATE medallion.consumer_feed SET watermark = $3, updated_at = pg_catalog.now(), "
				   "last_run_id = NULLIF(pg_catalog.current_setting('pg_medallion.run_id', true), '') "
				   "WHERE consumer OPERATOR(pg_catalog.=) $1 AND feed_id OPERATOR(pg_catalog.=) $2",
				   3, argtypes, args, SPI_OK_UPDATE);
	}
}

/* MaxVersions returns argument `argno` as a positive version count, or 0 for NULL (no limit). */
static int64
MaxVersions(FunctionCallInfo fcinfo, int argno)
{
	int32		max;

	if (PG_ARGISNULL(argno))
		return 0;
	max = PG_GETARG_INT32(argno);
	if (max < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_versions must be at least 1"),
				 errhint("Pass NULL to read every unconsumed version.")));
	return max;
}

/* medallion_consume reads and acknowledges a consumer's unconsumed changes of a feed, images as jsonb. */
Datum
medallion_consume(PG_FUNCTION_ARGS)
{
	char	   *consumer = ConsumerName(fcinfo, 0);
	FeedRow		feed;

	FeedArgument(fcinfo, 1, &feed);
	Consume(fcinfo, consumer, &feed, MaxVersions(fcinfo, 2), !PG_ARGISNULL(3) && PG_GETARG_BOOL(3),
			false, true, !PG_ARGISNULL(4) && PG_GETARG_BOOL(4));
	return (Datum) 0;
}

/* medallion_peek reads a consumer's unconsumed changes of a feed without acknowledging them. */
Datum
medallion_peek(PG_FUNCTION_ARGS)
{
	char	   *consumer = ConsumerName(fcinfo, 0);
	FeedRow		feed;

	FeedArgument(fcinfo, 1, &feed);
	Consume(fcinfo, consumer, &feed, MaxVersions(fcinfo, 2), false, true, true,
			!PG_ARGISNULL(3) && PG_GETARG_BOOL(3));
	return (Datum) 0;
}

/* medallion_consume_typed is consume/peek with typed columns; the generated readers call it. */
Datum
medallion_consume_typed(PG_FUNCTION_ARGS)
{
	FeedRow		feed;
	char	   *consumer;

	if (PG_ARGISNULL(0) || !LookupFeedById(PG_GETARG_INT32(0), &feed))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("feed %d does not exist", PG_ARGISNULL(0) ? -1 : PG_GETARG_INT32(0)),
				 errhint("The reader belongs to a feed that was disabled; see medallion.feeds.")));
	consumer = ConsumerName(fcinfo, 1);
	Consume(fcinfo, consumer, &feed, MaxVersions(fcinfo, 2), !PG_ARGISNULL(3) && PG_GETARG_BOOL(3),
			!PG_ARGISNULL(4) && PG_GETARG_BOOL(4), false, !PG_ARGISNULL(5) && PG_GETARG_BOOL(5));
	return (Datum) 0;
}
