/*-------------------------------------------------------------------------
 *
 * schema_evolution.c
 *	  Schema evolution: ALTER TABLE on a fed source is carried over to its
 *	  change table and typed readers, in the same transaction.
 *
 * Change table columns are matched to source columns by name (capture.c),
 * so keeping names and types in step keeps every recorded change mapped
 * to the right column:
 *   - ADD COLUMN: added to the change table; older changes read NULL.
 *   - RENAME COLUMN: renamed in the change table; older changes follow.
 *   - ALTER COLUMN TYPE: the change table column is converted with the
 *     same cast; if a recorded value does not convert, the ALTER fails
 *     with that value's error (never a garbled column).
 *   - DROP COLUMN: the change table keeps the column (older changes keep
 *     their values, visible in table_changes' jsonb); the typed readers,
 *     regenerated from the source, no longer return it.
 * Every such command is recorded in medallion.schema_change with the xid
 * of its transaction, so the version it took effect in is known.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "feed/schema_evolution.h"

#include "base/catalog.h"
#include "base/objects.h"
#include "base/privilege.h"
#include "base/spi.h"
#include "feed/readers.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

/* DescColumnByName returns the live attribute of that name, or NULL. */
static Form_pg_attribute
DescColumnByName(TupleDesc desc, const char *name)
{
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0)
			return a;
	}
	return NULL;
}

/*
 * UntrustedCastFunction returns the function a cast from `from` to `to`
 * (with typmod coercion) would run that a superuser does not own, or
 * InvalidOid.  The change table is converted by the extension owner, so a
 * cast written by another role must not run there.
 */
static Oid
UntrustedCastFunction(Oid from, Oid to)
{
	Oid			funcid = InvalidOid;
	CoercionPathType path = find_coercion_pathway(to, from, COERCION_EXPLICIT, &funcid);

	if (path == COERCION_PATH_FUNC && OidIsValid(funcid) && !FunctionOwnedBySuperuser(funcid))
		return funcid;
	if (path == COERCION_PATH_ARRAYCOERCE)
	{
		Oid			inner = UntrustedCastFunction(get_element_type(from), get_element_type(to));

		if (OidIsValid(inner))
			return inner;
	}
	if (path == COERCION_PATH_COERCEVIAIO)
	{
		Oid			func;
		bool		varlena;
		Oid			ioparam;

		getTypeOutputInfo(from, &func, &varlena);
		if (!FunctionOwnedBySuperuser(func))
			return func;
		getTypeInputInfo(to, &func, &ioparam);
		if (!FunctionOwnedBySuperuser(func))
			return func;
	}
	funcid = InvalidOid;
	if (find_typmod_coercion_function(to, &funcid) == COERCION_PATH_FUNC && OidIsValid(funcid) &&
		!FunctionOwnedBySuperuser(funcid))
		return funcid;
	return InvalidOid;
}

/* FeedReader returns the qualified name of a feed's typed reader functions. */
static char *
FeedReader(int32 feed_id)
{
	int			spi_nest;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(feed_id)};
	char	   *reader = NULL;
	MemoryContext outer = CurrentMemoryContext;

	spi_nest = SpiConnectPinned();
	if (SPI_execute_with_args("SELECT reader FROM medallion.feed WHERE feed_id OPERATOR(pg_catalog.=) $1",
							  1, argtypes, args, NULL, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
		reader = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	reader = reader ? MemoryContextStrdup(outer, reader) : NULL;
	SpiFinishPinned(spi_nest);
	if (reader == NULL)
		elog(ERROR, "feed %d has no reader", feed_id);
	return reader;
}

/* ConversionContext names what was being converted when a recorded change fails to convert. */
static void
ConversionContext(void *arg)
{
	errcontext("carrying \"%s\" over to the feed's change table, whose recorded changes must convert too", (char *) arg);
}

/*
 * EvolveFeedSchema brings a feed's change table and readers in line with
 * its source after an ALTER TABLE; `rename` is (old, new) for a column
 * rename, else NIL.
 */
void
EvolveFeedSchema(const FeedRow *feed, List *rename, const char *command)
{
	Relation	source = table_open(feed->source, AccessShareLock);
	Relation	changes = table_open(feed->change_table, AccessShareLock);
	TupleDesc	sdesc = CreateTupleDescCopy(RelationGetDescr(source));
	TupleDesc	cdesc = CreateTupleDescCopy(RelationGetDescr(changes));
	char	   *ct = RelationDisplayName(feed->change_table);
	StringInfoData ddl;
	StringInfoData summary;
	char	   *reader;
	int			i;
	ErrorContextCallback callback;

	table_close(changes, AccessShareLock);
	table_close(source, AccessShareLock);
	initStringInfo(&ddl);
	initStringInfo(&summary);

	/* Validates the new layout first: a column named like our metadata is refused here. */
	(void) ColumnListSql(sdesc, true);

	if (rename != NIL && DescColumnByName(cdesc, linitial(rename)) != NULL)
	{
		appendStringInfo(&ddl, "ALTER TABLE %s RENAME COLUMN %s TO %s;\n", ct,
						 quote_identifier(linitial(rename)), quote_identifier(lsecond(rename)));
		appendStringInfo(&summary, "renamed %s to %s; ", (char *) linitial(rename), (char *) lsecond(rename));
		RunAsOwner(ddl.data, 0, NULL, NULL, SPI_OK_UTILITY);
		resetStringInfo(&ddl);
		changes = table_open(feed->change_table, AccessShareLock);
		cdesc = CreateTupleDescCopy(RelationGetDescr(changes));
		table_close(changes, AccessShareLock);
	}

	for (i = 0; i < sdesc->natts; i++)
	{
		Form_pg_attribute s = TupleDescAttr(sdesc, i);
		Form_pg_attribute c;
		int32		typmod = s->atttypmod;
		Oid			base;
		char	   *type;
		char	   *shown;

		if (s->attisdropped)
			continue;
		base = getBaseTypeAndTypmod(s->atttypid, &typmod);
		type = format_type_extended(base, typmod, FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
		shown = format_type_with_typemod(base, typmod);
		c = DescColumnByName(cdesc, NameStr(s->attname));
		if (c == NULL)
		{
			appendStringInfo(&ddl, "ALTER TABLE %s ADD COLUMN %s %s;\n", ct,
							 quote_identifier(NameStr(s->attname)), type);
			appendStringInfo(&summary, "added %s %s; ", NameStr(s->attname), shown);
		}
		else if (c->atttypid != base || c->atttypmod != typmod)
		{
			Oid			untrusted = UntrustedCastFunction(c->atttypid, base);

			/* A domain inside the new type (an array's element, a composite's attribute) checks every value. */
			if (!TypeRunsOnlyTrustedCode(base))
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("cannot carry the new type of column \"%s\" of table %s over to its change table",
								NameStr(s->attname), RelationDisplayName(feed->source)),
						 errdetail("Type %s holds a domain: converting the recorded changes would run its checks with the extension owner's rights.",
								   shown),
						 errhint("Disable the feed (keeping its changes if needed), alter the table, and enable the feed again.")));
			if (OidIsValid(untrusted))
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("cannot carry the new type of column \"%s\" of table %s over to its change table",
								NameStr(s->attname), RelationDisplayName(feed->source)),
						 errdetail("Converting the recorded changes from %s to %s would run function %s, which is not owned by a superuser, with the extension owner's rights.",
								   format_type_be(c->atttypid), shown, format_procedure(untrusted)),
						 errhint("Disable the feed (keeping its changes if needed), alter the table, and enable the feed again.")));
			appendStringInfo(&ddl, "ALTER TABLE %s ALTER COLUMN %s TYPE %s USING %s::%s;\n", ct,
							 quote_identifier(NameStr(s->attname)), type,
							 quote_identifier(NameStr(s->attname)), type);
			appendStringInfo(&summary, "%s became %s; ", NameStr(s->attname), shown);
		}
	}
	for (i = 0; i < cdesc->natts; i++)
	{
		Form_pg_attribute c = TupleDescAttr(cdesc, i);

		if (!c->attisdropped && DescColumnByName(sdesc, NameStr(c->attname)) == NULL &&
			strcmp(NameStr(c->attname), "_xid") != 0 && strcmp(NameStr(c->attname), "_seq") != 0 &&
			strcmp(NameStr(c->attname), "_change_type") != 0 && strcmp(NameStr(c->attname), "_role") != 0 &&
			strcmp(NameStr(c->attname), "_app") != 0)
			appendStringInfo(&summary, "%s kept for older changes; ", NameStr(c->attname));
	}
	if (ddl.len > 0)
	{
		callback.callback = ConversionContext;
		callback.arg = (void *) summary.data;
		callback.previous = error_context_stack;
		error_context_stack = &callback;
		RunAsOwner(ddl.data, 0, NULL, NULL, SPI_OK_UTILITY);
		error_context_stack = callback.previous;
	}
	if (summary.len == 0)
		return;					/* an ALTER that changed no column (a constraint, an index...) */

	/* The typed readers return the source's columns: regenerate them. */
	reader = FeedReader(feed->feed_id);
	RunAsOwner(psprintf("DROP FUNCTION %s(bigint, bigint);\nDROP FUNCTION %s(timestamptz, timestamptz);\n"
						"DROP FUNCTION %s(text, integer, boolean, boolean, boolean)", reader, reader, reader),
			   0, NULL, NULL, SPI_OK_UTILITY);
	CreateReaders(reader, feed->feed_id, ColumnListSql(sdesc, false));

	summary.data[summary.len - 2] = '\0';	/* drop the last "; " */
	RunAsOwner("INSERT INTO medallion.schema_change (feed_id, xid, command, summary) "
			   "VALUES ($1, $2, $3, $4)", 4,
			   (Oid[]) {INT4OID, INT8OID, TEXTOID, TEXTOID},
			   (Datum[]) {Int32GetDatum(feed->feed_id), Int64GetDatum((int64) U64FromFullTransactionId(GetTopFullTransactionId())),
			   CStringGetTextDatum(command), CStringGetTextDatum(summary.data)},
			   SPI_OK_INSERT);
}
