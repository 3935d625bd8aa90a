/*-------------------------------------------------------------------------
 *
 * readers.c
 *	  What a feed's change table and typed readers look like: the column
 *	  list of a source (reserved names refused, domains stored as their
 *	  base type) and the reader functions in medallion_changes.
 *
 * Shared by enable_feed (feed.c) and schema evolution
 * (schema_evolution.c), which re-creates the readers when columns change.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "feed/readers.h"

#include "base/spi.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/ruleutils.h"

/* Column names a source may not use: the change table and readers use them. */
static const char *const reserved_columns[] = {
	"_xid", "_seq", "_change_type", "_role", "_app", "_commit_version", "_commit_timestamp", "_change_seq", NULL
};

/*
 * ColumnListSql returns "name type [COLLATE c], ..." for the source's live
 * columns (COLLATE only with_collation: a change table has it, a function's
 * RETURNS TABLE cannot); checks reserved names.
 */
char *
ColumnListSql(TupleDesc desc, bool with_collation)
{
	StringInfoData buf;
	int			i;
	bool		first = true;

	initStringInfo(&buf);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);
		int32		typmod = attr->atttypmod;
		Oid			basetype;
		const char *const *r;

		if (attr->attisdropped)
			continue;
		for (r = reserved_columns; *r; r++)
			if (strcmp(NameStr(attr->attname), *r) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("column name \"%s\" is reserved by pg_medallion", *r),
						 errhint("Rename the column before enabling the feed.")));
		/* Domains would refuse the NULLs of truncate rows: store the base type. */
		basetype = getBaseTypeAndTypmod(attr->atttypid, &typmod);
		appendStringInfo(&buf, "%s%s %s", first ? "" : ", ",
						 quote_identifier(NameStr(attr->attname)),
						 format_type_extended(basetype, typmod, FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY));
		if (with_collation && OidIsValid(attr->attcollation) && attr->attcollation != get_typcollation(basetype))
			appendStringInfo(&buf, " COLLATE %s", generate_collation_name(attr->attcollation));
		first = false;
	}
	if (first)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a table without columns cannot have a change feed"),
				 errhint("Add a column first.")));
	return buf.data;
}

/* CreateReaders creates the typed reader functions of a feed, by version and by timestamp. */
void
CreateReaders(const char *reader, int32 feed_id, const char *columns)
{
	const char *meta = "_change_type medallion.change_type, _commit_version bigint, "
		"_commit_timestamp pg_catalog.timestamptz, _change_seq bigint";
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "CREATE FUNCTION %s(from_version bigint, to_version bigint DEFAULT NULL) "
					 "RETURNS TABLE(%s, %s) LANGUAGE sql VOLATILE AS $medallion$ "
					 "SELECT * FROM medallion._changes(%d, $1, $2) AS c(%s, %s) $medallion$;\n",
					 reader, columns, meta, feed_id, columns, meta);
	appendStringInfo(&sql,
					 "CREATE FUNCTION %s(from_timestamp timestamptz, to_timestamp timestamptz DEFAULT NULL) "
					 "RETURNS TABLE(%s, %s) LANGUAGE sql VOLATILE AS $medallion$ "
					 "SELECT * FROM medallion._changes(%d, medallion._version_from_timestamp($1), "
					 "medallion._version_to_timestamp($2)) AS c(%s, %s) $medallion$;\n",
					 reader, columns, meta, feed_id, columns, meta);
	appendStringInfo(&sql,
					 "CREATE FUNCTION %s(consumer text, max_versions integer DEFAULT NULL, "
					 "nowait boolean DEFAULT false, peek boolean DEFAULT false, net boolean DEFAULT false) "
					 "RETURNS TABLE(%s, %s) LANGUAGE sql VOLATILE AS $medallion$ "
					 "SELECT * FROM medallion._consume(%d, $1, $2, $3, $4, $5) AS c(%s, %s) $medallion$;\n",
					 reader, columns, meta, feed_id, columns, meta);
	appendStringInfo(&sql, "COMMENT ON FUNCTION %s(text, integer, boolean, boolean, boolean) IS "
					 "'Typed changes of feed %d that a consumer has not consumed; advances its watermark unless peek';\n",
					 reader, feed_id);
	appendStringInfo(&sql, "COMMENT ON FUNCTION %s(bigint, bigint) IS "
					 "'Typed changes of feed %d in versions [from_version, to_version], both inclusive';\n",
					 reader, feed_id);
	appendStringInfo(&sql, "COMMENT ON FUNCTION %s(timestamptz, timestamptz) IS "
					 "'Typed changes of feed %d in the versions closed in [from_timestamp, to_timestamp]';\n",
					 reader, feed_id);
	RunAsOwner(sql.data, 0, NULL, NULL, SPI_OK_UTILITY);
}
