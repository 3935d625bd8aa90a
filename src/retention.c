/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  vacuum and set_retention: removing old versions of feeds by dropping
 *	  whole change table partitions, and expiring merge tombstones.
 *
 * Which versions go: those closed before now() - retain, but never one a
 * registered consumer has not consumed (unless force).  If c is the newest
 * version removed, every change row with _xid < xmin(snapshot(c)) belongs
 * to a version <= c (its writer had finished when c was cut), so every
 * partition whose xid range ends at or below that xmin is dropped whole:
 * the cost grows with partitions, not rows.  Rows of removed versions in a
 * partition that also holds kept versions stay until the whole partition
 * qualifies; they are never read, because the feed's retained_from (the
 * oldest readable version) moves to c + 1 in the same transaction.
 *
 * Readers see all of a version or an error: dropping a partition takes an
 * ACCESS EXCLUSIVE lock on the change table, and readers lock the change
 * table before they check retained_from (read.c), so a read either ends
 * before a vacuum or starts after it committed and sees its new bound.
 * Two vacuums of one feed serialise on its catalog row (FOR UPDATE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "clock/version.h"
#include "base/catalog.h"
#include "base/objects.h"
#include "base/privilege.h"
#include "base/spi.h"
#include "settings.h"
#include "base/export.h"
#include "base/result.h"

#include "access/table.h"
#include "catalog/pg_type.h"
#include "catalog/objectaddress.h"
#include "optimizer/plancat.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(medallion_vacuum);
PG_FUNCTION_INFO_V1(medallion_set_retention);

#define VACUUM_RESULT_COLUMNS 6

/* What vacuum did (or, in a dry run, would do) to one feed or merge target. */
typedef struct VacuumResult
{
	Oid			relation;
	int64		versions_removed;
	int64		rows_removed;
	int64		bytes_freed;
	int64		oldest_kept;	/* -1: not a feed */
	List	   *pinned_by;		/* consumer names, (char *) */
} VacuumResult;

/* QueryInt64 runs a one-value query as `role`; false if it returned no row or NULL. */
static bool
QueryInt64(Oid role, const char *sql, int nargs, Oid *argtypes, Datum *args, int64 *result)
{
	OwnerSwitch as_owner;
	bool		found;

	BeginAsRole(role, &as_owner);
	SpiConnect();
	found = SpiSelectInt64(sql, nargs, argtypes, args, result);
	SPI_finish();
	EndAsOwner(&as_owner);
	return found;
}

/* The longest retention accepted, in days: longer would overflow now() - retain. */
#define RETAIN_MAX_DAYS ((int64) 1000 * 366)

/* RetainSeconds returns the retention that applies: the argument, the feed's setting, or the GUC. */
static int64
RetainSeconds(bool retain_given, Interval *retain, int32 feed_id)
{
	int64		secs;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(feed_id)};

	if (retain_given)
	{
		/* Each part checked on its own: a negative part or a sum past 1000 years is refused, never wrapped. */
		if (retain->time < 0 || retain->day < 0 || retain->month < 0)
			return -1;
		if (retain->month > RETAIN_MAX_DAYS / DAYS_PER_MONTH || retain->day > RETAIN_MAX_DAYS ||
			retain->time / USECS_PER_DAY > RETAIN_MAX_DAYS ||
			(int64) retain->month * DAYS_PER_MONTH + retain->day + retain->time / USECS_PER_DAY > RETAIN_MAX_DAYS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("retain must be at most 1000 years"),
					 errhint("Pass how long versions are kept, e.g. interval '7 days'.")));
		return (int64) (retain->time / USECS_PER_SEC + (int64) retain->day * SECS_PER_DAY +
						(int64) retain->month * DAYS_PER_MONTH * SECS_PER_DAY);
	}
	if (feed_id > 0 &&
		QueryInt64(MedallionExtensionOwner(), "SELECT pg_catalog.date_part('epoch', retention)::bigint FROM medallion.feed "
				   "WHERE feed_id OPERATOR(pg_catalog.=) $1", 1, argtypes, args, &secs))
		return secs;
	return medallion_retention_s;
}

/* CheckRetainAllowed refuses a retention shorter than pg_medallion.min_retention unless forced. */
static void
CheckRetainAllowed(int64 retain_s, bool force)
{
	if (retain_s < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retain must not be negative"),
				 errhint("Pass how long versions are kept, e.g. interval '7 days'.")));
	if (retain_s < medallion_min_retention_s && !force)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retain of " INT64_FORMAT " seconds is shorter than pg_medallion.min_retention (%d seconds)",
						retain_s, medallion_min_retention_s),
				 errdetail("Versions newer than the minimum retention are kept for readers in flight."),
				 errhint("Pass a longer retain, lower pg_medallion.min_retention, or pass force => true.")));
}

/* PinningConsumers returns the consumers of a feed whose watermark is below version, and their lowest watermark. */
static List *
PinningConsumers(int32 feed_id, int64 version, int64 *min_watermark)
{
	List	   *names = NIL;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(feed_id)};
	OwnerSwitch as_owner;
	uint64		i;
	MemoryContext outer = CurrentMemoryContext;

	*min_watermark = PG_INT64_MAX;
	BeginAsOwner(&as_owner);
	SpiConnect();
	(void) SpiExecute("SELECT consumer, watermark FROM medallion.consumer_feed "
							  "WHERE feed_id OPERATOR(pg_catalog.=) $1 ORDER BY watermark, consumer", 1, argtypes, args, false, 0, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		w = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		MemoryContext spi;

		if (w < *min_watermark)
			*min_watermark = w;
		if (w >= version)
			continue;
		spi = MemoryContextSwitchTo(outer);
		names = lappend(names, pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1)));
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	EndAsOwner(&as_owner);
	return names;
}

/*
 * DropPartitionsBelow drops (or in a dry run only measures) the partitions
 * of a change table whose xid range ends at or below bound.  Rows are
 * PostgreSQL's estimate (exact for analyzed partitions): counting would
 * make vacuum cost grow with rows.
 */
static void
DropPartitionsBelow(const FeedRow *feed, int64 bound, bool dry_run, VacuumResult *result)
{
	Oid			argtypes[2] = {OIDOID, INT8OID};
	Datum		args[2] = {ObjectIdGetDatum(feed->change_table), Int64GetDatum(bound)};
	OwnerSwitch as_owner;
	uint64		i;
	List	   *victims = NIL;
	ListCell   *lc;
	MemoryContext outer = CurrentMemoryContext;

	BeginAsOwner(&as_owner);
	SpiConnect();
	/* A partition's upper bound, from its FOR VALUES FROM (..) TO (..) clause. */
	(void) SpiExecute("SELECT c.oid, pg_catalog.pg_total_relation_size(c.oid) FROM pg_catalog.pg_inherits i "
							  "JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid "
							  "WHERE i.inhparent OPERATOR(pg_catalog.=) $1 "
							  "AND pg_catalog.substring(pg_catalog.pg_get_expr(c.relpartbound, c.oid), "
							  "    'TO \\(''?(-?[0-9]+)''?\\)')::bigint OPERATOR(pg_catalog.<=) $2", 2, argtypes, args, false, 0, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			part = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		MemoryContext spi;

		result->bytes_freed += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		spi = MemoryContextSwitchTo(outer);
		victims = lappend_oid(victims, part);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	EndAsOwner(&as_owner);

	foreach(lc, victims)
	{
		Relation	rel = table_open(lfirst_oid(lc), AccessShareLock);
		BlockNumber pages;
		double		tuples;
		double		allvisfrac;

		estimate_rel_size(rel, NULL, &pages, &tuples, &allvisfrac);
		result->rows_removed += (int64) tuples;
		table_close(rel, AccessShareLock);
	}
	if (dry_run)
		return;
	foreach(lc, victims)
		RunAsOwner(psprintf("DROP TABLE %s", RelationDisplayName(lfirst_oid(lc))), 0, NULL, NULL, SPI_OK_UTILITY);
}

/* VacuumFeed removes the expired versions of one feed; the caller checked privileges and retention. */
static VacuumResult *
VacuumFeed(const FeedRow *feed, int64 retain_s, bool dry_run, bool force)
{
	VacuumResult *result = palloc0(sizeof(VacuumResult));
	Oid			argtypes[2] = {INT4OID, INT8OID};
	Datum		args[2] = {Int32GetDatum(feed->feed_id), Int64GetDatum(retain_s)};
	int64		retained_from = 0;
	int64		first = FeedFirstVersion(feed);
	int64		old_from;
	int64		expired = -1;
	int64		min_watermark;
	int64		cutoff;
	int64		bound;

	result->relation = feed->source;

	/* One vacuum per feed at a time: the second waits here, then sees what the first did. */
	(void) QueryInt64(MedallionExtensionOwner(), "SELECT retained_from FROM medallion.feed WHERE feed_id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
					  1, argtypes, args, &retained_from);
	old_from = Max(retained_from, first < 0 ? 0 : first);
	result->oldest_kept = old_from;

	(void) QueryInt64(MedallionExtensionOwner(), "SELECT pg_catalog.max(version) FROM medallion.tick WHERE version OPERATOR(pg_catalog.>) 0 "
					  "AND committed_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) "
					  "pg_catalog.make_interval(secs => $2))", 2, argtypes, args, &expired);
	if (first < 0 || expired < old_from)
		return result;			/* nothing closed long enough ago (or the feed has no version yet) */

	result->pinned_by = PinningConsumers(feed->feed_id, expired, &min_watermark);
	cutoff = force ? expired : Min(expired, min_watermark);
	if (cutoff < old_from)
		return result;

	/* Every change with an xid below xmin(snapshot(cutoff)) belongs to a version <= cutoff. */
	args[1] = Int64GetDatum(cutoff);
	if (!QueryInt64(MedallionExtensionOwner(), "SELECT snapshot_xmin FROM medallion.tick WHERE version OPERATOR(pg_catalog.=) $2",
					2, argtypes, args, &bound))
		elog(ERROR, "version " INT64_FORMAT " has no tick", cutoff);
	DropPartitionsBelow(feed, bound, dry_run, result);

	result->versions_removed = cutoff + 1 - old_from;
	result->oldest_kept = cutoff + 1;
	if (!dry_run)
	{
		args[1] = Int64GetDatum(cutoff + 1);
		RunAsOwner("UPDATE medallion.feed SET retained_from = $2 WHERE feed_id OPERATOR(pg_catalog.=) $1",
				   2, argtypes, args, SPI_OK_UPDATE);
	}
	return result;
}

/* ExpireTombstones removes an SCD1 merge target's tombstones older than retain. */
static VacuumResult *
ExpireTombstones(Oid target, Oid state_table, int64 retain_s, bool dry_run)
{
	VacuumResult *result = palloc0(sizeof(VacuumResult));
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(retain_s)};
	char	   *where = "WHERE NOT \"_truncate\" AND \"_deleted_at\" OPERATOR(pg_catalog.<) "
		"(pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1))";
	int64		n = 0;

	result->relation = target;
	result->oldest_kept = -1;
	(void) QueryInt64(RelationOwner(state_table), psprintf("SELECT pg_catalog.count(*) FROM %s %s", RelationDisplayName(state_table), where),
					  1, argtypes, args, &n);
	result->rows_removed = n;
	if (!dry_run && n > 0)
		RunAsRole(RelationOwner(state_table), psprintf("DELETE FROM %s %s", RelationDisplayName(state_table), where),
				   1, argtypes, args, SPI_OK_DELETE);
	return result;
}

/*
 * ExpireRuns removes the flow runs that finished before now() -
 * pg_medallion.run_retention, of the flows whose owner the caller is a
 * member of, not as a superuser (the run log is bounded, unlike pg_cron's
 * job_run_details).
 * Reported as a row for medallion.flow_run (none when the caller has no
 * runs at all).
 */
static VacuumResult *
ExpireRuns(int64 retain_s, bool dry_run)
{
	VacuumResult *result = palloc0(sizeof(VacuumResult));
	Oid			argtypes[2] = {INT8OID, OIDARRAYOID};
	Datum		args[2];
	const char *where = "WHERE r.finished_at OPERATOR(pg_catalog.<) "
		"(pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1)) "
		"AND r.owner::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($2)";
	int64		n = 0;
	List	   *owners = NIL;
	Datum	   *mine;
	int			count = 0;
	ListCell   *lc;
	Oid			caller = GetUserId();	/* before the switch to the extension owner */

	/*
	 * The owners whose runs are the caller's to remove: roles it is a member
	 * of, not every role because it is a superuser (a superuser's cron job
	 * must not empty other roles' run logs).
	 */
	{
		OwnerSwitch as_owner;
		uint64		i;
		MemoryContext outer = CurrentMemoryContext;

		BeginAsOwner(&as_owner);
		SpiConnect();
		(void) SpiExecute("SELECT DISTINCT r.owner::pg_catalog.oid FROM medallion.flow_run r", 0, NULL, NULL, true, 0,
						  SPI_OK_SELECT);
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			Oid			owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
			MemoryContext spi = MemoryContextSwitchTo(outer);

			if (is_member_of_role_nosuper(caller, owner))
				owners = lappend_oid(owners, owner);
			MemoryContextSwitchTo(spi);
		}
		SPI_finish();
		EndAsOwner(&as_owner);
	}
	/* No row for a caller without runs: vacuum over feeds alone reads as before. */
	if (owners == NIL)
		return NULL;
	mine = palloc(sizeof(Datum) * list_length(owners));
	foreach(lc, owners)
		mine[count++] = ObjectIdGetDatum(lfirst_oid(lc));
	args[0] = Int64GetDatum(retain_s);
	args[1] = PointerGetDatum(construct_array(mine, count, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
	result->relation = get_relname_relid("flow_run", MedallionSchemaOid());
	result->oldest_kept = -1;
	(void) QueryInt64(MedallionExtensionOwner(), psprintf("SELECT pg_catalog.count(*) FROM medallion.flow_run r %s", where),
					  2, argtypes, args, &n);
	result->rows_removed = n;
	if (!dry_run && n > 0)
		RunAsOwner(psprintf("DELETE FROM medallion.flow_run r %s", where), 2, argtypes, args, SPI_OK_DELETE);
	return result;
}

/*
 * ExpireHistory removes an SCD2 target's versions that ended before
 * now() - retain, and the logged events only they needed: per key, those
 * before the oldest version that stays (that version's own opening event
 * stays, so recomputing the key's history later gives the same rows).
 * Only when the first sequence column is a time; otherwise nothing goes.
 */
static VacuumResult *
ExpireHistory(Oid target, Oid state_table, int64 retain_s, bool dry_run)
{
	VacuumResult *result = palloc0(sizeof(VacuumResult));
	Oid			argtypes[2] = {OIDOID, INT8OID};
	Datum		args[2] = {ObjectIdGetDatum(target), Int64GetDatum(retain_s)};
	OwnerSwitch as_owner;
	char	   *seq1 = NULL;
	char	   *type = NULL;
	List	   *keys = NIL;
	StringInfoData match;
	ListCell   *lc;
	char	   *bound;
	int64		n = 0;
	MemoryContext outer = CurrentMemoryContext;

	result->relation = target;
	result->oldest_kept = -1;

	BeginAsOwner(&as_owner);
	SpiConnect();
	if (SPI_execute_with_args("SELECT a.sequence_by[1], pg_catalog.format_type(t.atttypid, NULL), k.key "
							  "FROM medallion.apply_target a "
							  "JOIN pg_catalog.pg_attribute t ON t.attrelid OPERATOR(pg_catalog.=) a.target "
							  "  AND t.attname OPERATOR(pg_catalog.=) a.sequence_by[1] "
							  "CROSS JOIN LATERAL pg_catalog.unnest(a.keys) AS k(key) "
							  "WHERE a.target OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
							  1, argtypes, args, NULL, true, 0) == SPI_OK_SELECT)
	{
		uint64		i;

		for (i = 0; i < SPI_processed; i++)
		{
			MemoryContext spi = MemoryContextSwitchTo(outer);

			seq1 = pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
			type = pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
			keys = lappend(keys, pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3)));
			MemoryContextSwitchTo(spi);
		}
	}
	SPI_finish();
	EndAsOwner(&as_owner);
	if (seq1 == NULL || (strcmp(type, "timestamp with time zone") != 0 &&
						 strcmp(type, "timestamp without time zone") != 0 && strcmp(type, "date") != 0))
		return result;			/* validity is not a time: nothing can be old */

	bound = psprintf("(pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $2))::%s", type);
	initStringInfo(&match);
	foreach(lc, keys)
		appendStringInfo(&match, "%st.%s OPERATOR(pg_catalog.=) e.%s", foreach_current_index(lc) > 0 ? " AND " : "",
						 quote_identifier(lfirst(lc)), quote_identifier(lfirst(lc)));

	(void) QueryInt64(RelationOwner(target), psprintf("SELECT pg_catalog.count(*) FROM %s WHERE \"_valid_to\" OPERATOR(pg_catalog.<) %s",
							   RelationDisplayName(target), bound), 2, argtypes, args, &n);
	result->rows_removed = n;
	if (dry_run || n == 0)
		return result;
	RunAsRole(RelationOwner(target), psprintf("DELETE FROM %s WHERE \"_valid_to\" OPERATOR(pg_catalog.<) %s",
						RelationDisplayName(target), bound), 2, argtypes, args, SPI_OK_DELETE);
	RunAsRole(RelationOwner(state_table), psprintf("DELETE FROM %s AS e WHERE e.%s OPERATOR(pg_catalog.<) COALESCE("
						"(SELECT pg_catalog.min(t.\"_valid_from\") FROM %s AS t WHERE %s), %s)",
						RelationDisplayName(state_table), quote_identifier(seq1), RelationDisplayName(target),
						match.data, bound), 2, argtypes, args, SPI_OK_DELETE);
	return result;
}

/* CanVacuum says whether the current user may vacuum a relation's feed or merge state: its owner. */
static bool
CanVacuum(Oid relid)
{
	return pg_class_ownercheck(relid, GetUserId()) || superuser();
}

/* PutResult appends one result row. */
static void
PutResult(ReturnSetInfo *rsinfo, VacuumResult *r)
{
	Datum		values[VACUUM_RESULT_COLUMNS];
	bool		nulls[VACUUM_RESULT_COLUMNS] = {false};

	values[0] = ObjectIdGetDatum(r->relation);
	values[1] = Int64GetDatum(r->versions_removed);
	values[2] = Int64GetDatum(r->rows_removed);
	values[3] = Int64GetDatum(r->bytes_freed);
	values[4] = Int64GetDatum(r->oldest_kept);
	nulls[4] = r->oldest_kept < 0;
	if (r->oldest_kept < 0)
		nulls[5] = true;
	else
		values[5] = PointerGetDatum(strlist_to_textarray(r->pinned_by));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * medallion_vacuum removes expired versions of one feed (or of every feed
 * the caller owns) and expired merge tombstones, and reports per feed or
 * target what went and who pinned what.
 */
Datum
medallion_vacuum(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		all = PG_ARGISNULL(0);
	Oid			source = all ? InvalidOid : PG_GETARG_OID(0);
	bool		retain_given = !PG_ARGISNULL(1);
	Interval   *retain = retain_given ? PG_GETARG_INTERVAL_P(1) : NULL;
	bool		dry_run = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	bool		force = !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);
	List	   *feeds = NIL;
	List	   *targets = NIL;
	List	   *states = NIL;
	List	   *scd_types = NIL;
	ListCell   *lc,
			   *ls;
	bool		found = false;

	MaterializeResult(fcinfo, 0);
	if (!all && !CanVacuum(source))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s to vacuum its versions", RelationDisplayName(source)),
				 errhint("Run vacuum as the table's owner.")));

	/* Which feeds and merge targets: the one named, or all the caller owns. */
	{
		OwnerSwitch as_owner;
		uint64		i;
		MemoryContext outer = CurrentMemoryContext;

		BeginAsOwner(&as_owner);
		SpiConnect();
		(void) SpiExecute("SELECT 0, feed_id, 0::oid FROM medallion.feed UNION ALL "
						"SELECT scd_type, target::oid::int, state_table::oid FROM medallion.apply_target "
						"ORDER BY 1, 2", 0, NULL, NULL, true, 0, SPI_OK_SELECT);
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			int32		kind = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
			int32		id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
			Oid			state = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull));
			MemoryContext spi = MemoryContextSwitchTo(outer);

			if (kind == 0)
				feeds = lappend_int(feeds, id);
			else
			{
				targets = lappend_oid(targets, (Oid) id);
				states = lappend_oid(states, state);
				scd_types = lappend_int(scd_types, kind);
			}
			MemoryContextSwitchTo(spi);
		}
		SPI_finish();
		EndAsOwner(&as_owner);
	}

	/* Check every retention first: a refused one changes nothing. */
	if (all)
		CheckRetainAllowed(medallion_run_retention_s, force);
	foreach(lc, feeds)
	{
		FeedRow		feed;

		if (!LookupFeedById(lfirst_int(lc), &feed) || (!all && feed.source != source) ||
			(all && !CanVacuum(feed.source)))
			continue;
		CheckRetainAllowed(RetainSeconds(retain_given, retain, feed.feed_id), force);
	}
	foreach(lc, feeds)
	{
		FeedRow		feed;

		if (!LookupFeedById(lfirst_int(lc), &feed) || (!all && feed.source != source) ||
			(all && !CanVacuum(feed.source)))
			continue;
		PutResult(rsinfo, VacuumFeed(&feed, RetainSeconds(retain_given, retain, feed.feed_id), dry_run, force));
		found = true;
	}
	forboth(lc, targets, ls, states)
	{
		Oid			target = lfirst_oid(lc);
		Oid			argtypes[1] = {OIDOID};
		Datum		args[1] = {ObjectIdGetDatum(target)};
		int64		retain_s;

		if ((!all && target != source) || (all && !CanVacuum(target)))
			continue;
		if (retain_given)
			retain_s = RetainSeconds(true, retain, 0);
		else if (!QueryInt64(MedallionExtensionOwner(), "SELECT pg_catalog.date_part('epoch', retain_history)::bigint "
							 "FROM medallion.apply_target WHERE target OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
							 1, argtypes, args, &retain_s))
			retain_s = medallion_retention_s;
		CheckRetainAllowed(retain_s, force);
		if (list_nth_int(scd_types, foreach_current_index(lc)) == 1)
			PutResult(rsinfo, ExpireTombstones(target, lfirst_oid(ls), retain_s, dry_run));
		else
			PutResult(rsinfo, ExpireHistory(target, lfirst_oid(ls), retain_s, dry_run));
		found = true;
	}
	if (all)
	{
		VacuumResult *runs = ExpireRuns(medallion_run_retention_s, dry_run);

		if (runs != NULL)
			PutResult(rsinfo, runs);
	}
	if (!all && !found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table %s has no change feed and is no merge target", RelationDisplayName(source)),
				 errhint("vacuum removes versions of feeds and tombstones of apply_changes targets.")));
	return (Datum) 0;
}

/* medallion_set_retention sets how long a feed keeps versions (or a merge target its tombstones); NULL = the default. */
Datum
medallion_set_retention(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Oid			argtypes[2] = {OIDOID, INTERVALOID};
	Datum		args[2];
	char		nulls[2] = {' ', ' '};
	uint64		updated;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source must not be NULL"),
				 errhint("Name the fed table or merge target.")));
	relid = PG_GETARG_OID(0);
	if (!CanVacuum(relid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s to set its retention", RelationDisplayName(relid)),
				 errhint("Run it as the table's owner.")));
	args[0] = ObjectIdGetDatum(relid);
	if (PG_ARGISNULL(1))
	{
		nulls[1] = 'n';
		args[1] = (Datum) 0;
	}
	else
	{
		args[1] = PG_GETARG_DATUM(1);
		if (RetainSeconds(true, PG_GETARG_INTERVAL_P(1), 0) < 0)
			CheckRetainAllowed(-1, false);
	}
	{
		OwnerSwitch as_owner;

		BeginAsOwner(&as_owner);
		SpiConnect();
		if (SPI_execute_with_args("UPDATE medallion.feed SET retention = $2 WHERE source OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
								  2, argtypes, args, nulls, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "updating medallion.feed failed");
		updated = SPI_processed;
		if (SPI_execute_with_args("UPDATE medallion.apply_target SET retain_history = $2 WHERE target OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
								  2, argtypes, args, nulls, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "updating medallion.apply_target failed");
		updated += SPI_processed;
		SPI_finish();
		EndAsOwner(&as_owner);
	}
	if (updated == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table %s has no change feed and is no merge target", RelationDisplayName(relid)),
				 errhint("Call medallion.enable_feed() or medallion.apply_changes() first.")));
	PG_RETURN_VOID();
}
