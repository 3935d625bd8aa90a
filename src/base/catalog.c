/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  The feed catalog (medallion.feed) as the C code reads it: a feed by
 *	  source or id, and whether a logical feed is broken.
 *
 * Reads go through SPI as the extension owner; callers on hot paths cache
 * the result (see capture/capture.c), so nothing here runs per row.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "base/catalog.h"

#include "base/objects.h"
#include "base/privilege.h"
#include "base/spi.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/lsyscache.h"

/* FeedHasBrokenColumn says whether medallion.feed has the column broken (0.2.0 and later). */
static bool
FeedHasBrokenColumn(void)
{
	Oid			feed = get_relname_relid("feed", MedallionSchemaOid());

	return OidIsValid(feed) && get_attnum(feed, "broken") != InvalidAttrNumber;
}

/*
 * CheckFeedNotBroken errors if a logical feed is broken: a pull could not
 * store one of its changes (a value that does not convert to a retyped
 * column), stored the other feeds' changes and moved on, and marked this one
 * instead of stopping every logical feed of the database for it.
 */
void
CheckFeedNotBroken(const FeedRow *feed)
{
	char	   *why = NULL;

	if (!feed->broken)
		return;
	{
		Oid			argtypes[1] = {INT4OID};
		Datum		args[1] = {Int32GetDatum(feed->feed_id)};
		OwnerSwitch as_owner;
		MemoryContext outer = CurrentMemoryContext;

		BeginAsOwner(&as_owner);
		SpiConnect();
		if (SpiExecute("SELECT broken FROM medallion.feed WHERE feed_id OPERATOR(pg_catalog.=) $1",
					   1, argtypes, args, true, 1, SPI_OK_SELECT) == 1)
		{
			char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

			why = v ? MemoryContextStrdup(outer, v) : NULL;
		}
		SPI_finish();
		EndAsRole(&as_owner);
	}
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("the logical feed of table %s is broken", RelationDisplayName(feed->source)),
			 errdetail("%s", why ? why : "A pull could not store one of its changes."),
			 errhint("Its changes since then were not stored. Disable and enable the feed to capture again.")));
}

/* LookupFeedWhere fills *feed from the first medallion.feed row matching a condition. */
static bool
LookupFeedWhere(const char *condition, Oid argtype, Datum arg, FeedRow *feed)
{
	bool		found = false;
	char	   *query;
	OwnerSwitch as_owner;

	/* broken came with 0.2.0: a library newer than the installed SQL reads false. */
	query = psprintf("SELECT feed_id, source::oid, change_table::oid, enabled_xid, "
					 "partition_span, mode, retained_from, %s FROM medallion.feed WHERE %s",
					 FeedHasBrokenColumn() ? "broken IS NOT NULL" : "false", condition);

	BeginAsOwner(&as_owner);
	SpiConnect();
	if (SpiExecuteKept(query, 1, &argtype, &arg, NULL, false, 1, SPI_OK_SELECT) == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *mode;

		feed->feed_id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		feed->source = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		feed->change_table = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
		feed->enabled_xid = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
		feed->partition_span = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
		mode = SPI_getvalue(tup, desc, 6);
		strlcpy(feed->mode, mode, sizeof(feed->mode));
		feed->retained_from = DatumGetInt64(SPI_getbinval(tup, desc, 7, &isnull));
		feed->broken = DatumGetBool(SPI_getbinval(tup, desc, 8, &isnull));
		found = true;
	}
	SPI_finish();
	EndAsRole(&as_owner);
	pfree(query);
	return found;
}

/* LookupFeedBySource fills *feed for a source table; false if it has no feed. */
bool
LookupFeedBySource(Oid source, FeedRow *feed)
{
	return LookupFeedWhere("source OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
						   OIDOID, ObjectIdGetDatum(source), feed);
}

/* LookupFeedById fills *feed for a feed id; false if there is none. */
bool
LookupFeedById(int32 feed_id, FeedRow *feed)
{
	return LookupFeedWhere("feed_id OPERATOR(pg_catalog.=) $1",
						   INT4OID, Int32GetDatum(feed_id), feed);
}

