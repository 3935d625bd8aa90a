/*-------------------------------------------------------------------------
 *
 * timetravel.c
 *	  as_of: a fed table's rows as they were at a version, rebuilt from the
 *	  table as it is now and the feed's changes since that version.
 *
 * One statement, so one snapshot S reads both the table and the change
 * table: the changes after version v are exactly the change rows visible
 * in S whose writer is not visible in snapshot(v), i.e. whose xid is at
 * or above xmax(v) or was in progress at v.  Then:
 *   - with a primary key: keys without such a change are as they are now;
 *     a changed key was, at v, the before-image of its first change after
 *     v (a delete or an update's pre-image), or absent (its first change
 *     is an insert or a post-image).  The same-row order key (_seq) orders
 *     changes of a row across transactions.
 *   - without one: as multisets, rows(v) = rows(now) + removed - added.
 * A TRUNCATE after v removed rows the feed never listed: refused.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "clock/version.h"
#include "base/catalog.h"
#include "base/objects.h"
#include "base/privilege.h"
#include "base/spi.h"
#include "base/export.h"
#include "base/result.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "parser/parse_type.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/portal.h"
#include "utils/typcache.h"

PG_FUNCTION_INFO_V1(medallion_as_of);

#define AS_OF_FETCH_ROWS 10000

/* SourceOfRowType returns the fed table whose row type the polymorphic argument has. */
static Oid
SourceOfRowType(FunctionCallInfo fcinfo, FeedRow *feed)
{
	Oid			type = get_fn_expr_argtype(fcinfo->flinfo, 0);
	Oid			relid = OidIsValid(type) ? typeidTypeRelid(type) : InvalidOid;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("as_of needs the table's row type as its first argument"),
				 errhint("Call it as medallion.as_of(NULL::schema.table, version).")));
	if (!LookupFeedBySource(relid, feed))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table %s has no change feed", RelationDisplayName(relid)),
				 errhint("Time travel reads a table's feed: call medallion.enable_feed() first.")));
	return relid;
}

/* CheckVersionReachable errors unless every change after `version` is still kept and no truncate is among them. */
static void
CheckVersionReachable(const FeedRow *feed, int64 version, int64 newest)
{
	int64		first = FeedFirstVersion(feed);
	int64		oldest = (first >= 0 && feed->retained_from > first) ? feed->retained_from - 1 : first;

	if (version > newest)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("version " INT64_FORMAT " is past the newest version " INT64_FORMAT, version, newest),
				 errhint("Call medallion.current_version() to close the open version.")));
	if (first < 0 || version < oldest)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("version " INT64_FORMAT " of table %s cannot be rebuilt", version,
						RelationDisplayName(feed->source)),
				 errdetail(first < 0 ? "The feed has no closed version yet."
						   : "The changes since then are not all kept (feed start or retention)."),
				 first < 0 ? 0 : errhint("The oldest version that can be rebuilt is " INT64_FORMAT ".", oldest)));
}

/* AsOfSql returns the statement that rebuilds the table at a version ($1 xmin, $2 xmax, $3 xip of its tick). */
static char *
AsOfSql(const FeedRow *feed, TupleDesc desc)
{
	StringInfoData sql;
	StringInfoData cols;
	StringInfoData changed_cols;
	char	   *source = RelationDisplayName(feed->source);
	char	   *changes = quote_qualified_identifier(MEDALLION_CHANGES_SCHEMA, get_rel_name(feed->change_table));
	Oid			constraint;
	Bitmapset  *pk = get_primary_key_attnos(feed->source, false, &constraint);
	int			i;

	initStringInfo(&cols);
	initStringInfo(&changed_cols);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (a->attisdropped)
			continue;
		appendStringInfo(&cols, "%ss.%s", cols.len ? ", " : "", quote_identifier(NameStr(a->attname)));
		/*
		 * Change tables store domains as their base type, the same datum: no
		 * cast here, whose domain check would run elevated; medallion_as_of
		 * checks domains as the caller.
		 */
		appendStringInfo(&changed_cols, "%sc.%s", changed_cols.len ? ", " : "",
						 quote_identifier(NameStr(a->attname)));
	}

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "WITH after AS MATERIALIZED (SELECT * FROM %s AS c WHERE c._xid OPERATOR(pg_catalog.>=) $1 "
					 "AND (c._xid OPERATOR(pg_catalog.>=) $2 OR c._xid OPERATOR(pg_catalog.=) ANY ($3))), "
					 "truncated AS (SELECT pg_catalog.count(*) AS n FROM after WHERE _change_type OPERATOR(pg_catalog.=) 'truncate') ",
					 changes);
	if (pk != NULL)
	{
		StringInfoData keys;
		StringInfoData match;
		int			member = -1;

		initStringInfo(&keys);
		initStringInfo(&match);
		while ((member = bms_next_member(pk, member)) >= 0)
		{
			AttrNumber	attno = member + FirstLowInvalidHeapAttributeNumber;
			const char *name = quote_identifier(NameStr(TupleDescAttr(desc, attno - 1)->attname));

			appendStringInfo(&keys, "%sc.%s", keys.len ? ", " : "", name);
			appendStringInfo(&match, "%sa.%s OPERATOR(pg_catalog.=) s.%s", match.len ? " AND " : "", name, name);
		}
		appendStringInfo(&sql,
						 "SELECT (SELECT n FROM truncated), %s FROM %s AS s "
						 "WHERE NOT EXISTS (SELECT 1 FROM after AS a WHERE %s) "
						 "UNION ALL SELECT (SELECT n FROM truncated), %s FROM "
						 "(SELECT DISTINCT ON (%s) * FROM after AS c ORDER BY %s, c._seq) AS c "
						 "WHERE c._change_type OPERATOR(pg_catalog.=) ANY ('{update_preimage,delete}')",
						 cols.data, source, match.data, changed_cols.data, keys.data, keys.data);
	}
	else
		appendStringInfo(&sql,
						 "SELECT (SELECT n FROM truncated), * FROM ("
						 "SELECT %s FROM %s AS s UNION ALL "
						 "SELECT %s FROM after AS c WHERE c._change_type OPERATOR(pg_catalog.=) ANY ('{update_preimage,delete}') "
						 "EXCEPT ALL SELECT %s FROM after AS c WHERE c._change_type OPERATOR(pg_catalog.=) ANY ('{insert,update_postimage}')"
						 ") AS rebuilt",
						 cols.data, source, changed_cols.data, changed_cols.data);
	return sql.data;
}

/*
 * medallion_as_of returns the rows of a fed table as they were at a version
 * (SETOF the table's row type).
 */
Datum
medallion_as_of(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FeedRow		feed;
	Oid			relid;
	int64		version;
	int64		newest;
	TickSnapshot *tick;
	int			nticks;
	Relation	rel;
	TupleDesc	desc;
	char	   *sql;
	Datum	   *xip;
	Oid			argtypes[3] = {INT8OID, INT8OID, INT8ARRAYOID};
	Datum		args[3];
	SPIPlanPtr	plan;
	Portal		portal;
	OwnerSwitch as_owner;
	Datum	   *values;
	bool	   *nulls;
	void	  **domain_extra;
	bool		has_domains = false;
	Oid			source_owner;
	uint64		portal_pos = 0;
	int			i;

	relid = SourceOfRowType(fcinfo, &feed);
	source_owner = RelationOwner(relid);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("version must not be NULL"),
				 errhint("Pass a version, or a timestamp to use the version closed at or before it.")));
	version = PG_GETARG_INT64(1);
	CheckSourceReadable(relid);
	newest = NewestReadableVersion();
	/* Locked before the retention check, as in CheckRetained: no vacuum slips in between. */
	LockRelationOid(feed.change_table, AccessShareLock);
	if (!LookupFeedById(feed.feed_id, &feed))
		elog(ERROR, "feed vanished");
	CheckFeedNotBroken(&feed);
	CheckVersionReachable(&feed, version, newest);

	MaterializeResult(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	rel = table_open(relid, AccessShareLock);
	desc = CreateTupleDescCopy(RelationGetDescr(rel));
	table_close(rel, NoLock);
	sql = AsOfSql(&feed, desc);

	tick = LoadTicks(version, version, &nticks);
	xip = palloc(sizeof(Datum) * Max(tick->nxip, 1));
	for (i = 0; i < tick->nxip; i++)
		xip[i] = Int64GetDatum(tick->xip[i]);
	args[0] = Int64GetDatum(tick->xmin);
	args[1] = Int64GetDatum(tick->xmax);
	args[2] = PointerGetDatum(construct_array(xip, tick->nxip, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

	values = palloc(sizeof(Datum) * desc->natts);
	nulls = palloc(sizeof(bool) * desc->natts);
	domain_extra = palloc0(sizeof(void *) * desc->natts);
	for (i = 0; i < desc->natts; i++)
		has_domains |= !TupleDescAttr(desc, i)->attisdropped &&
			get_typtype(TupleDescAttr(desc, i)->atttypid) == TYPTYPE_DOMAIN;
	/*
	 * The recorded values passed their domains' checks when they were
	 * written.  They are checked again (as the table's owner) only for a
	 * caller acting for that owner: another role's check would run in the
	 * caller's session, where it could reach the caller's cursors and locks.
	 */
	has_domains = has_domains && is_member_of_role_nosuper(GetUserId(), source_owner);

	/* The change table belongs to the extension owner; the caller's right to read was checked above. */
	BeginAsOwner(&as_owner);
	SpiConnect();
	/* A truncate after the version removed rows the feed never listed (checked again per row below). */
	(void) SpiExecute(psprintf("SELECT 1 FROM %s AS c WHERE c._xid OPERATOR(pg_catalog.>=) $1 "
									   "AND (c._xid OPERATOR(pg_catalog.>=) $2 OR c._xid OPERATOR(pg_catalog.=) ANY ($3)) "
									   "AND c._change_type OPERATOR(pg_catalog.=) 'truncate' LIMIT 1",
									   quote_qualified_identifier(MEDALLION_CHANGES_SCHEMA, get_rel_name(feed.change_table))), 3, argtypes, args, true, 1, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s was truncated after version " INT64_FORMAT, RelationDisplayName(relid), version),
				 errdetail("A TRUNCATE does not list the rows it removed, so they cannot be rebuilt."),
				 errhint("Travel to a version after the truncate.")));
	plan = SPI_prepare(sql, 3, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", sql);
	portal = SPI_cursor_open(NULL, plan, args, NULL, true);
	GuardCursor(portal);
	for (;;)
	{
		uint64		r;

		SPI_cursor_fetch(portal, true, AS_OF_FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			bool		isnull;
			int			col = 2;

			if (DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull)) > 0)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("table %s was truncated after version " INT64_FORMAT, RelationDisplayName(relid), version),
						 errdetail("A TRUNCATE does not list the rows it removed, so they cannot be rebuilt."),
						 errhint("Travel to a version after the truncate.")));
			for (i = 0; i < desc->natts; i++)
			{
				if (TupleDescAttr(desc, i)->attisdropped)
				{
					values[i] = (Datum) 0;
					nulls[i] = true;
					continue;
				}
				values[i] = SPI_getbinval(tup, SPI_tuptable->tupdesc, col++, &nulls[i]);
			}
			if (has_domains)
			{
				/* Domain checks are user code: as the table's owner, restricted; never elevated, never the caller. */
				portal_pos = portal->portalPos;
				AsTableOwnerAgain(&as_owner, source_owner);
				for (i = 0; i < desc->natts; i++)
					if (!TupleDescAttr(desc, i)->attisdropped &&
						get_typtype(TupleDescAttr(desc, i)->atttypid) == TYPTYPE_DOMAIN)
						domain_check(values[i], nulls[i], TupleDescAttr(desc, i)->atttypid, &domain_extra[i],
									 rsinfo->econtext->ecxt_per_query_memory);
				OwnerAgain(&as_owner);
				CheckCursorUntouched(portal, portal_pos);
			}
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	ReleaseCursorGuard(portal);
	SPI_cursor_close(portal);
	SPI_finish();
	EndAsOwner(&as_owner);
	return (Datum) 0;
}
