/*-------------------------------------------------------------------------
 *
 * merge_sql.c
 *	  The SQL of apply_changes.
 *
 * The source (often a consume() that advances a watermark) is read exactly
 * once, by one statement, and everything commits or fails together.  Two
 * shapes:
 *
 * The whole-batch statement (MergeStatementSql; SCD2, and SCD1 with a
 * truncate rule, e.g. feeds), made of CTEs, in order:
 *
 *   __src    the source once, applied columns cast to the target's types,
 *            delete/truncate rules evaluated (feeds: pre-images of updates
 *            that keep their key are dropped, others delete the old key),
 *            exact copies collapsed (SCD1), sorted once by key and
 *            sequence: each key's newest change and the size of each
 *            (key, sequence) group come from that one sort
 *   __conflict  (key, sequence) groups whose changes differ
 *   __rej    rejected rows and why: NULL key, NULL sequence, conflict;
 *            they go to medallion.quarantine (__quar)
 *   SCD1:  __win (newest change per key), __cls (what tombstones and the
 *          newest truncate say about it), then one MERGE into the target
 *          and tombstone upkeep
 *   SCD2:  new events go to the event log; for the keys they touch, the
 *          whole history is recomputed from the log (so a late change lands
 *          in the middle correctly) and diffed against the target
 *
 * The streaming statement (MergeStreamSql; SCD1 without a truncate rule)
 * pipes the sorted batch into the MERGE without copying it and sets aside
 * the few rows that need the whole-batch treatment; two statements after
 * it keep the tombstones (MergeTombstoneSql) and merge the rows set aside
 * (MergeStatementSql over MergeDeferredSource).  A key's winner is decided
 * by one of the two merges, never both.
 *
 * Data-modifying CTEs of one statement must not touch the same row twice;
 * each CTE below works on a disjoint set of keys, said next to it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "merge/merge_sql.h"

#include "access/htup_details.h"
#include "access/stratnum.h"
#include "catalog/pg_operator.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#define Q(name) quote_identifier(name)

/*
 * The statements run as the caller, under the caller's search_path, where
 * an operator of any schema that matches its argument types exactly beats
 * pg_catalog's polymorphic one (anyenum = anyenum).  So nothing here names
 * an operator, a function or a type bare: the SQL's own comparisons (of
 * ranks, counts, flags, _change_type) use pg_catalog's operators through
 * OPERATOR(), and comparisons of the user's columns use their type's
 * default btree (or hash) operators, qualified with those operators' own
 * schema (MergeColumn.op, MergeColumnOperators).  IN and IS [NOT] DISTINCT
 * FROM, which look `=` up by name, are written with qualified operators.
 * Only the user's fragments (source, delete_when, truncate_when) resolve
 * names as the user wrote them.
 */
#define OP(name) "OPERATOR(pg_catalog." name ")"

/* Operator names by btree strategy, for types without the operator. */
static const char *const strategy_names[] = {NULL, "<", "<=", "=", ">=", ">"};

/* MergeOperatorSql returns `OPERATOR(schema.name)` naming operator opno wherever the search_path points. */
char *
MergeOperatorSql(Oid opno)
{
	HeapTuple	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
	Form_pg_operator form;
	char	   *sql;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", opno);
	form = (Form_pg_operator) GETSTRUCT(tup);
	sql = psprintf("OPERATOR(%s.%s)", quote_identifier(get_namespace_name(form->oprnamespace)),
				   NameStr(form->oprname));
	ReleaseSysCache(tup);
	return sql;
}

/*
 * MergeColumnOperators fills a column's comparison operators (and
 * has_equality, has_order, is_row) from its type's default btree or hash
 * operator class, as the type cache has them: the operators the merge's
 * sorts, DISTINCT ON and unique indexes use too.  A domain compares as its
 * base type.  Where the type has none, pg_catalog's (the text ones, for
 * columns compared as text; never used otherwise).
 */
void
MergeColumnOperators(MergeColumn *c)
{
	TypeCacheEntry *tc = lookup_type_cache(getBaseType(c->typid),
										   TYPECACHE_EQ_OPR | TYPECACHE_LT_OPR | TYPECACHE_GT_OPR |
										   TYPECACHE_BTREE_OPFAMILY);
	int			s;

	c->has_equality = OidIsValid(tc->eq_opr);
	c->has_order = OidIsValid(tc->lt_opr);
	c->is_row = type_is_rowtype(c->typid);
	for (s = BTLessStrategyNumber; s <= BTGreaterStrategyNumber; s++)
	{
		Oid			opno = InvalidOid;

		if (s == BTEqualStrategyNumber)
			opno = tc->eq_opr;
		else if (s == BTLessStrategyNumber)
			opno = tc->lt_opr;
		else if (s == BTGreaterStrategyNumber)
			opno = tc->gt_opr;
		else if (OidIsValid(tc->lt_opr) && OidIsValid(tc->btree_opf))
			opno = get_opfamily_member(tc->btree_opf, tc->btree_opintype, tc->btree_opintype, s);
		c->op[s] = OidIsValid(opno) ? MergeOperatorSql(opno)
			: psprintf("OPERATOR(pg_catalog.%s)", strategy_names[s]);
	}
}

/* AppendColumns appends `alias."a", alias."b"` (no alias: bare names). */
static void
AppendColumns(StringInfo buf, const char *alias, List *cols)
{
	ListCell   *lc;

	foreach(lc, cols)
	{
		MergeColumn *c = lfirst(lc);

		appendStringInfo(buf, "%s%s%s%s", foreach_current_index(lc) > 0 ? ", " : "",
						 alias ? alias : "", alias ? "." : "", Q(c->name));
	}
}

/* AppendKeysAndSequence appends the key columns, then the sequence columns (see AppendColumns). */
static void
AppendKeysAndSequence(StringInfo buf, const char *alias, const MergeSpec *spec)
{
	AppendColumns(buf, alias, spec->keys);
	appendStringInfoString(buf, ", ");
	AppendColumns(buf, alias, spec->sequence);
}

/* AppendRow appends ROW(alias."a", ...): row comparison orders by sequence columns in priority. */
static void
AppendRow(StringInfo buf, const char *alias, List *cols)
{
	appendStringInfoString(buf, "ROW(");
	AppendColumns(buf, alias, cols);
	appendStringInfoChar(buf, ')');
}

/* SharedOperator returns the operator of a strategy that every column has, or NULL if they differ. */
static const char *
SharedOperator(List *cols, int strategy)
{
	ListCell   *lc;
	const char *op = NULL;

	foreach(lc, cols)
	{
		MergeColumn *c = lfirst(lc);

		if (op != NULL && strcmp(op, c->op[strategy]) != 0)
			return NULL;
		op = c->op[strategy];
	}
	return op;
}

/*
 * AppendExpandedCompare appends the row comparison `ROW(lhs) op ROW(rhs)`
 * (op by btree strategy) spelt out column by column, for columns whose
 * operators live in different schemas (one OPERATOR() cannot name them):
 * `(l1 < r1 OR (l1 = r1 AND l2 < r2))`, NULL where the row comparison is.
 */
static void
AppendExpandedCompare(StringInfo buf, List *lhs, int strategy, List *rhs, List *cols)
{
	int			n = list_length(cols);
	int			strict = strategy <= BTLessEqualStrategyNumber ? BTLessStrategyNumber : BTGreaterStrategyNumber;
	int			i;

	appendStringInfoChar(buf, '(');
	for (i = 0; i < n; i++)
	{
		MergeColumn *c = list_nth(cols, i);
		const char *l = list_nth(lhs, i);
		const char *r = list_nth(rhs, i);

		if (strategy == BTEqualStrategyNumber)
			appendStringInfo(buf, "%s%s %s %s", i > 0 ? " AND " : "", l, c->op[strategy], r);
		else if (i < n - 1)
			appendStringInfo(buf, "(%s %s %s OR (%s %s %s AND ", l, c->op[strict], r,
							 l, c->op[BTEqualStrategyNumber], r);
		else
			appendStringInfo(buf, "%s %s %s", l, c->op[strategy], r);
	}
	if (strategy != BTEqualStrategyNumber)
		for (i = 0; i < n - 1; i++)
			appendStringInfoString(buf, "))");
	appendStringInfoChar(buf, ')');
}

/* ColumnRefs returns `alias."a"`, ... as a list of strings. */
static List *
ColumnRefs(const char *alias, List *cols)
{
	ListCell   *lc;
	List	   *refs = NIL;

	foreach(lc, cols)
		refs = lappend(refs, psprintf("%s.%s", alias, Q(((MergeColumn *) lfirst(lc))->name)));
	return refs;
}

/*
 * AppendCompare appends `ROW(a."s", ...) op ROW(b."s", ...)` (op by btree
 * strategy): sequences compare in priority order.
 */
static void
AppendCompare(StringInfo buf, const char *a, int strategy, const char *b, List *cols)
{
	const char *op = SharedOperator(cols, strategy);

	if (op == NULL)
	{
		AppendExpandedCompare(buf, ColumnRefs(a, cols), strategy, ColumnRefs(b, cols), cols);
		return;
	}
	AppendRow(buf, a, cols);
	appendStringInfo(buf, " %s ", op);
	AppendRow(buf, b, cols);
}

/*
 * AppendCompareQuery appends `ROW(a."s", ...) op (SELECT "s", ... rest)`,
 * rest being the query after its select list, returning at most one row
 * (no row: NULL).  Spelt out, each column reads its own one-row subquery
 * (each evaluated once, like the row subquery).
 */
static void
AppendCompareQuery(StringInfo buf, const char *a, int strategy, List *cols, const char *rest)
{
	const char *op = SharedOperator(cols, strategy);
	ListCell   *lc;
	List	   *rhs = NIL;

	if (op != NULL)
	{
		AppendRow(buf, a, cols);
		appendStringInfo(buf, " %s (SELECT ", op);
		AppendColumns(buf, NULL, cols);
		appendStringInfo(buf, "%s)", rest);
		return;
	}
	foreach(lc, cols)
		rhs = lappend(rhs, psprintf("(SELECT %s%s)", Q(((MergeColumn *) lfirst(lc))->name), rest));
	AppendExpandedCompare(buf, ColumnRefs(a, cols), strategy, rhs, cols);
}

/*
 * AppendIn appends `ROW(alias."a", ...) IN (SELECT * FROM rel)`, rel having
 * those columns: `= ANY` with the columns' equality, or, when their
 * operators live in different schemas, EXISTS with one equality per column
 * (false, not NULL, where a NULL in rel matches nothing).
 */
static void
AppendIn(StringInfo buf, const char *alias, List *cols, const char *rel)
{
	const char *op = SharedOperator(cols, BTEqualStrategyNumber);

	if (op != NULL)
	{
		AppendRow(buf, alias, cols);
		appendStringInfo(buf, " %s ANY (SELECT * FROM %s)", op, rel);
		return;
	}
	appendStringInfo(buf, "EXISTS (SELECT 1 FROM %s AS \"__q\" WHERE ", rel);
	AppendExpandedCompare(buf, ColumnRefs("\"__q\"", cols), BTEqualStrategyNumber, ColumnRefs(alias, cols), cols);
	appendStringInfoChar(buf, ')');
}

/* AppendOrder appends `alias."a" DESC, ...` for ORDER BY. */
static void
AppendOrder(StringInfo buf, const char *alias, List *cols, const char *direction)
{
	ListCell   *lc;

	foreach(lc, cols)
	{
		MergeColumn *c = lfirst(lc);

		appendStringInfo(buf, "%s%s%s%s %s", foreach_current_index(lc) > 0 ? ", " : "",
						 alias ? alias : "", alias ? "." : "", Q(c->name), direction);
	}
}

/* AppendEqual appends `a."k" = b."k" AND ...` (keys: the unique index guarantees equality). */
static void
AppendEqual(StringInfo buf, const char *a, const char *b, List *cols)
{
	ListCell   *lc;

	foreach(lc, cols)
	{
		MergeColumn *c = lfirst(lc);

		appendStringInfo(buf, "%s%s.%s %s %s.%s", foreach_current_index(lc) > 0 ? " AND " : "",
						 a, Q(c->name), c->op[BTEqualStrategyNumber], b, Q(c->name));
	}
}

/*
 * AppendNotDistinct appends `l IS NOT DISTINCT FROM r` with the column's
 * qualified equality (`eq`: the type's, or text's when compared as text):
 * COALESCE(l = r, l IS NULL AND r IS NULL), true or false, never NULL
 * (equality operators are strict).  A composite's IS NULL would test its
 * fields, so it is asked through ROW(), which tests the value itself.
 */
static void
AppendNotDistinct(StringInfo buf, const char *l, const char *r, const char *eq, bool is_row)
{
	if (is_row)
		appendStringInfo(buf, "COALESCE(%s %s %s, ROW(%s) IS NULL AND ROW(%s) IS NULL)", l, eq, r, l, r);
	else
		appendStringInfo(buf, "COALESCE(%s %s %s, %s IS NULL AND %s IS NULL)", l, eq, r, l, r);
}

/* AppendColumnNotDistinct appends AppendNotDistinct of two expressions of a column; text for types without =. */
static void
AppendColumnNotDistinct(StringInfo buf, const char *l, const char *r, const MergeColumn *c)
{
	if (c->has_equality)
		AppendNotDistinct(buf, l, r, c->op[BTEqualStrategyNumber], c->is_row);
	else
		AppendNotDistinct(buf, psprintf("%s::pg_catalog.text", l), psprintf("%s::pg_catalog.text", r),
						  OP("="), false);
}

/* AppendSame appends a NULL-safe equality of every column (true for no columns); text for types without =. */
static void
AppendSame(StringInfo buf, const char *a, const char *b, List *cols)
{
	ListCell   *lc;

	if (cols == NIL)
	{
		appendStringInfoString(buf, "true");
		return;
	}
	foreach(lc, cols)
	{
		MergeColumn *c = lfirst(lc);

		if (foreach_current_index(lc) > 0)
			appendStringInfoString(buf, " AND ");
		AppendColumnNotDistinct(buf, psprintf("%s.%s", a, Q(c->name)), psprintf("%s.%s", b, Q(c->name)), c);
	}
}

/* AppendAnyNull appends `(alias."a" IS NULL OR ...)`. */
static void
AppendAnyNull(StringInfo buf, const char *alias, List *cols)
{
	ListCell   *lc;

	appendStringInfoChar(buf, '(');
	foreach(lc, cols)
	{
		MergeColumn *c = lfirst(lc);

		appendStringInfo(buf, "%s%s.%s IS NULL", foreach_current_index(lc) > 0 ? " OR " : "",
						 alias, Q(c->name));
	}
	appendStringInfoChar(buf, ')');
}

/* FindApplied returns the applied column of that name, or NULL. */
static MergeColumn *
FindApplied(const MergeSpec *spec, const char *name)
{
	ListCell   *lc;

	foreach(lc, spec->applied)
	{
		MergeColumn *c = lfirst(lc);

		if (strcmp(c->name, name) == 0)
			return c;
	}
	return NULL;
}

/* AppendOk appends the condition "row alias is a valid change" (not rejected, not a truncate). */
static void
AppendOk(StringInfo buf, const MergeSpec *spec, const char *alias)
{
	appendStringInfo(buf, "(NOT %s.\"__m_trunc\" AND NOT ", alias);
	AppendAnyNull(buf, alias, spec->keys);
	appendStringInfoString(buf, " AND NOT ");
	AppendAnyNull(buf, alias, spec->sequence);
	appendStringInfo(buf, " AND NOT (%s.\"__m_dup\" AND ", alias);
	AppendIn(buf, alias, list_concat_copy(spec->keys, spec->sequence), "\"__conflict\"");
	appendStringInfoString(buf, "))");
}

/* AppendSourceColumns appends every source column of "__s", the applied ones cast to the target's types. */
static void
AppendSourceColumns(StringInfo buf, const MergeSpec *spec)
{
	ListCell   *lc;

	foreach(lc, spec->source_columns)
	{
		const char *name = lfirst(lc);
		MergeColumn *c = FindApplied(spec, name);

		if (foreach_current_index(lc) > 0)
			appendStringInfoString(buf, ", ");
		if (c)
			appendStringInfo(buf, "CAST(\"__s\".%s AS %s) AS %s", Q(name), c->type_sql, Q(name));
		else
			appendStringInfo(buf, "\"__s\".%s", Q(name));
	}
}

/*
 * AppendCopyKey appends what makes two changes of the batch exact copies,
 * for DISTINCT ON (sorted: with the sequence descending, for its ORDER
 * BY): keys, sequence, applied values (text for types without ordering)
 * and the delete flag.  Copies are one change: all but one are skipped
 * before anything else, so they never look like conflicts.  Rows with a
 * NULL key or sequence, and truncates, are each rejected or counted on
 * their own: a per-row number keeps them apart.
 */
static void
AppendCopyKey(StringInfo buf, const MergeSpec *spec, bool sorted)
{
	ListCell   *lc;

	AppendColumns(buf, NULL, spec->keys);
	appendStringInfoString(buf, ", ");
	if (sorted)
		AppendOrder(buf, NULL, spec->sequence, "DESC");
	else
		AppendColumns(buf, NULL, spec->sequence);
	foreach(lc, spec->values)
	{
		MergeColumn *c = lfirst(lc);

		appendStringInfo(buf, ", %s%s", Q(c->name), c->has_order ? "" : "::pg_catalog.text");
	}
	appendStringInfoString(buf, ", \"__m_del\", CASE WHEN ");
	AppendAnyNull(buf, "\"__s\"", spec->keys);
	appendStringInfoString(buf, " OR ");
	AppendAnyNull(buf, "\"__s\"", spec->sequence);
	appendStringInfo(buf, " OR COALESCE((%s), false) THEN medallion._merge_ordinal() END", spec->truncate_expr);
}

/*
 * AppendCommonCtes appends __raw (feeds), __src, __conflict, __rej and
 * __quar: the source read once and typed, and the rejected rows.
 *
 * __src sorts the batch once, by key and sequence descending, and one
 * window pass over that sort (medallion._merge_rank, merge_place.c) gives
 * each row its rank in its key (1 = the key's newest change) and whether
 * a neighbour shares the key and sequence.  Rows that are truncates, have
 * NULLs or share a (key, sequence) are "odd" and copied to __odd, the only
 * rows the reject, conflict and truncate checks read.
 */
static void
AppendCommonCtes(StringInfo buf, const MergeSpec *spec)
{
	ListCell   *lc;
	const char *from = spec->source_from;

	appendStringInfoString(buf, "WITH ");
	if (spec->pair_preimages)
	{
		appendStringInfo(buf, "\"__raw\" AS MATERIALIZED (SELECT * FROM %s AS \"__s\"),\n", from);
		from = "\"__raw\"";
	}

	appendStringInfoString(buf, "\"__src\" AS MATERIALIZED (\n  SELECT \"__y\".*, (\"__y\".\"__m_trunc\" OR \"__y\".\"__m_dup\" OR ");
	AppendAnyNull(buf, "\"__y\"", spec->keys);
	appendStringInfoString(buf, " OR ");
	AppendAnyNull(buf, "\"__y\"", spec->sequence);
	appendStringInfoString(buf, ") AS \"__m_odd\"\n"
						   "  FROM (SELECT \"__z\".*, \"__z\".\"__m_rank\" " OP(">>") " 1 AS \"__m_rn\", "
						   "(\"__z\".\"__m_rank\" " OP("&") " 1) " OP("=") " 1 AS \"__m_dup\"\n"
						   "  FROM (SELECT \"__x\".*, medallion._merge_rank(");
	AppendColumns(buf, "\"__x\"", spec->sequence);
	appendStringInfoString(buf, ") OVER \"__k\" AS \"__m_rank\"\n  FROM (SELECT ");
	if (spec->scd_type == 1)
	{
		appendStringInfoString(buf, "DISTINCT ON (");
		AppendCopyKey(buf, spec, false);
		appendStringInfoString(buf, ") ");
	}
	AppendSourceColumns(buf, spec);
	appendStringInfo(buf, ",\n    COALESCE((%s), false) AS \"__m_del\", COALESCE((%s), false) AS \"__m_trunc\"\n"
					 "  FROM %s AS \"__s\"",
					 spec->delete_expr, spec->truncate_expr, from);
	/*
	 * Feeds: an update that keeps its key is replaced by its post-image
	 * (next order key, same version), so its pre-image is dropped.  SCD1
	 * counts every other row as skipped as it is read (exact copies stay
	 * so); what goes, is rejected or is a truncate is taken back later.
	 */
	if (spec->pair_preimages)
	{
		appendStringInfo(buf,
						 "\n  WHERE CASE WHEN \"__s\".\"_change_type\" " OP("=") " 'update_preimage'%s AND EXISTS ("
						 "SELECT 1 FROM \"__raw\" AS \"__p\" WHERE \"__p\".\"_change_type\" " OP("=") " 'update_postimage'%s"
						 " AND \"__p\".\"_commit_version\" " OP("=") " \"__s\".\"_commit_version\""
						 " AND \"__p\".\"_change_seq\" " OP("=") " (\"__s\".\"_change_seq\" " OP("+") " 1) AND ",
						 spec->change_type_cast, spec->change_type_cast);
		AppendEqual(buf, "\"__p\"", "\"__s\"", spec->keys);
		appendStringInfo(buf, ") THEN false ELSE %s END", spec->scd_type == 1 ? "medallion._merge_tally(4, 1)" : "true");
	}
	else if (spec->scd_type == 1)
		appendStringInfoString(buf, "\n  WHERE medallion._merge_tally(4, 1)");
	if (spec->scd_type == 1)
	{
		appendStringInfoString(buf, "\n  ORDER BY ");
		AppendCopyKey(buf, spec, true);
	}
	appendStringInfoString(buf, ") AS \"__x\"\n  WINDOW \"__k\" AS (PARTITION BY ");
	AppendColumns(buf, "\"__x\"", spec->keys);
	appendStringInfoString(buf, " ORDER BY ");
	AppendOrder(buf, "\"__x\"", spec->sequence, "DESC");
	appendStringInfoString(buf, ")) AS \"__z\") AS \"__y\"");
	appendStringInfoString(buf, "\n),\n");

	/* The few rows that need a closer look: truncates, NULLs, shared (key, sequence). */
	appendStringInfoString(buf, "\"__odd\" AS MATERIALIZED (SELECT * FROM \"__src\" WHERE \"__m_odd\"),\n");

	/* Same key and sequence but different content: nothing says which is right. */
	appendStringInfoString(buf, "\"__conflict\" AS MATERIALIZED (\n  SELECT ");
	AppendKeysAndSequence(buf, NULL, spec);
	appendStringInfoString(buf, " FROM \"__odd\" WHERE \"__m_dup\" AND NOT \"__m_trunc\" GROUP BY ");
	AppendKeysAndSequence(buf, NULL, spec);
	appendStringInfoString(buf, "\n  HAVING pg_catalog.count(DISTINCT ROW(");
	AppendColumns(buf, NULL, spec->applied);
	appendStringInfoString(buf, ", \"__m_del\")::pg_catalog.text) " OP(">") " 1\n),\n");

	/* Rejected rows and why: NULL key, NULL sequence, a conflict (SCD2: also truncates). */
	appendStringInfoString(buf, "\"__rej\" AS MATERIALIZED (\n  SELECT \"__c\".*, CASE WHEN \"__c\".\"__m_trunc\" THEN ");
	if (spec->scd_type == 2)
		appendStringInfoString(buf, "'truncate is not supported with scd_type 2'");
	else
		appendStringInfoString(buf, "'null sequence'");
	appendStringInfoString(buf, "\n    WHEN ");
	AppendAnyNull(buf, "\"__c\"", spec->keys);
	appendStringInfoString(buf, " THEN 'null key'\n    WHEN ");
	AppendAnyNull(buf, "\"__c\"", spec->sequence);
	appendStringInfoString(buf, " THEN 'null sequence'\n"
						   "    ELSE 'conflicting changes with the same key and sequence' END AS \"__m_reason\"\n"
						   "  FROM \"__odd\" AS \"__c\" WHERE ");
	if (spec->scd_type == 2)
		appendStringInfoString(buf, "\"__c\".\"__m_trunc\"");
	else
	{
		appendStringInfoString(buf, "(\"__c\".\"__m_trunc\" AND ");
		AppendAnyNull(buf, "\"__c\"", spec->sequence);
		appendStringInfoChar(buf, ')');
	}
	appendStringInfoString(buf, " OR (NOT \"__c\".\"__m_trunc\" AND NOT ");
	AppendOk(buf, spec, "\"__c\"");
	appendStringInfoString(buf, ")\n),\n");

	/*
	 * Rejected rows go to quarantine once per target and reason, with the
	 * columns the merge applies (keys, sequence, values) and no other: the
	 * quarantine shows a row to whoever may read the target, who may see
	 * those columns but not a source column left out (except_columns).
	 */
	appendStringInfoString(buf, "\"__quar\" AS (\n  INSERT INTO medallion.quarantine (target, reason, record, run_id)\n"
						   "  SELECT $1, \"__c\".\"__m_reason\", (SELECT pg_catalog.to_jsonb(\"__r\") FROM (SELECT ");
	foreach(lc, spec->applied)
		appendStringInfo(buf, "%s\"__c\".%s", foreach_current_index(lc) > 0 ? ", " : "",
						 Q(((MergeColumn *) lfirst(lc))->name));
	/* And a feed's metadata, which says what the change was and when: no source data in it. */
	foreach(lc, spec->source_columns)
	{
		const char *name = lfirst(lc);

		if ((strcmp(name, "_change_type") == 0 || strcmp(name, "_commit_version") == 0 ||
			 strcmp(name, "_commit_timestamp") == 0 || strcmp(name, "_change_seq") == 0) &&
			FindApplied(spec, name) == NULL)
			appendStringInfo(buf, ", \"__c\".%s", Q(name));
	}
	appendStringInfoString(buf, ") AS \"__r\"),\n"
						   "    pg_catalog.current_setting('pg_medallion.run_id', true)\n"
						   "  FROM \"__rej\" AS \"__c\"\n"
						   "  ON CONFLICT (target, reason, pg_catalog.md5(record::pg_catalog.text)) DO NOTHING RETURNING 1\n),\n");
}

/*
 * AppendMergeActions appends the end of an SCD1 MERGE whose source is
 * aliased "__w": the join on the keys and what to do with each winner.
 * Inserted, updated and deleted rows are counted by the executor; a
 * winner no newer than the target row is tallied (conditions after a
 * match are evaluated left to right).
 */
static void
AppendMergeActions(StringInfo buf, const MergeSpec *spec)
{
	ListCell   *lc;

	appendStringInfoString(buf, "\n) AS \"__w\"\nON ");
	AppendEqual(buf, "\"__t\"", "\"__w\"", spec->keys);
	appendStringInfoString(buf, "\nWHEN MATCHED AND ");
	AppendCompare(buf, "\"__t\"", BTEqualStrategyNumber, "\"__w\"", spec->sequence);
	appendStringInfoString(buf, " AND medallion._merge_tally(3, 1) THEN DO NOTHING\nWHEN MATCHED AND ");
	AppendCompare(buf, "\"__t\"", BTGreaterStrategyNumber, "\"__w\"", spec->sequence);
	appendStringInfoString(buf, " AND medallion._merge_tally(4, 1) THEN DO NOTHING\n"
						   "WHEN MATCHED AND \"__w\".\"__m_del\" THEN DELETE\nWHEN MATCHED THEN UPDATE SET ");
	foreach(lc, spec->sequence)
	{
		MergeColumn *c = lfirst(lc);

		appendStringInfo(buf, "%s%s = \"__w\".%s", foreach_current_index(lc) > 0 ? ", " : "",
						 Q(c->name), Q(c->name));
	}
	foreach(lc, spec->values)
	{
		MergeColumn *c = lfirst(lc);

		if (spec->ignore_null_updates)
			appendStringInfo(buf, ", %s = COALESCE(\"__w\".%s, \"__t\".%s)", Q(c->name), Q(c->name), Q(c->name));
		else
			appendStringInfo(buf, ", %s = \"__w\".%s", Q(c->name), Q(c->name));
	}
	appendStringInfoString(buf, "\nWHEN NOT MATCHED AND \"__w\".\"__m_del\" AND medallion._merge_tally(3, 1) THEN DO NOTHING\n"
						   "WHEN NOT MATCHED THEN INSERT (");
	AppendColumns(buf, NULL, spec->applied);
	appendStringInfoString(buf, ") VALUES (");
	AppendColumns(buf, "\"__w\"", spec->applied);
	appendStringInfoString(buf, ")");
}

/*
 * AppendTombstoneUpkeep appends three data-modifying CTEs (no trailing
 * comma) that keep the tombstones from the winners in `from` that go,
 * with columns keys, sequence, __m_del and __m_tombed (whether the key has
 * a tombstone): a delete records its key's tombstone (INSERT) or advances
 * it (UPDATE); an upsert drops it (DELETE).  Nothing else writes them
 * meanwhile (the merge holds the state table's ExclusiveLock; tombstone
 * expiry's DELETE needs RowExclusiveLock), so plain statements do.
 */
static void
AppendTombstoneUpkeep(StringInfo buf, const MergeSpec *spec, const char *from)
{
	ListCell   *lc;

	appendStringInfo(buf, "\"__tomb\" AS (\n  INSERT INTO %s (", spec->state_sql);
	AppendKeysAndSequence(buf, NULL, spec);
	appendStringInfoString(buf, ") SELECT ");
	AppendKeysAndSequence(buf, NULL, spec);
	appendStringInfo(buf, " FROM %s WHERE \"__m_del\" AND NOT \"__m_tombed\"\n),\n", from);
	appendStringInfo(buf, "\"__retomb\" AS (\n  UPDATE %s AS \"__b\" SET ", spec->state_sql);
	foreach(lc, spec->sequence)
	{
		MergeColumn *c = lfirst(lc);

		appendStringInfo(buf, "%s = \"__g\".%s, ", Q(c->name), Q(c->name));
	}
	appendStringInfo(buf, "\"_deleted_at\" = pg_catalog.now() FROM %s AS \"__g\"\n"
					 "  WHERE \"__g\".\"__m_del\" AND \"__g\".\"__m_tombed\" AND ", from);
	AppendEqual(buf, "\"__b\"", "\"__g\"", spec->keys);
	appendStringInfoString(buf, " AND ");
	AppendCompare(buf, "\"__b\"", BTLessStrategyNumber, "\"__g\"", spec->sequence);
	appendStringInfoString(buf, "\n),\n");
	appendStringInfo(buf, "\"__untomb\" AS (\n  DELETE FROM %s AS \"__b\" USING %s AS \"__g\" "
					 "WHERE NOT \"__g\".\"__m_del\" AND \"__g\".\"__m_tombed\" AND ", spec->state_sql, from);
	AppendEqual(buf, "\"__b\"", "\"__g\"", spec->keys);
	appendStringInfoString(buf, "\n)");
}

/*
 * AppendScd1 appends the SCD type 1 merge.  Tombstone table: keys,
 * sequence, _truncate (one row with NULL keys holds the newest truncate).
 */
static void
AppendScd1(StringInfo buf, const MergeSpec *spec)
{
	const char *t = spec->target_sql;
	const char *tb = spec->state_sql;
	const char *k1 = Q(((MergeColumn *) linitial(spec->keys))->name);

	/* The batch's newest truncate, when newer than the stored one. */
	appendStringInfoString(buf, "\"__newtr\" AS MATERIALIZED (\n  SELECT \"__b\".* FROM (SELECT ");
	AppendColumns(buf, NULL, spec->sequence);
	appendStringInfoString(buf, " FROM \"__odd\" AS \"__c\" WHERE \"__c\".\"__m_trunc\" AND NOT ");
	AppendAnyNull(buf, "\"__c\"", spec->sequence);
	appendStringInfoString(buf, " ORDER BY ");
	AppendOrder(buf, NULL, spec->sequence, "DESC");
	appendStringInfo(buf, " LIMIT 1) AS \"__b\"\n  WHERE NOT EXISTS (SELECT 1 FROM %s AS \"__m\" WHERE \"__m\".\"_truncate\" AND ", tb);
	AppendCompare(buf, "\"__m\"", BTGreaterEqualStrategyNumber, "\"__b\"", spec->sequence);
	appendStringInfoString(buf, ")\n),\n");

	/* The newest truncate overall: changes at or before it are stale. */
	appendStringInfoString(buf, "\"__tr\" AS MATERIALIZED (\n  SELECT * FROM (SELECT ");
	AppendColumns(buf, NULL, spec->sequence);
	appendStringInfoString(buf, " FROM \"__newtr\" UNION ALL SELECT ");
	AppendColumns(buf, NULL, spec->sequence);
	appendStringInfo(buf, " FROM %s WHERE \"_truncate\") AS \"__t\" ORDER BY ", tb);
	AppendOrder(buf, NULL, spec->sequence, "DESC");
	appendStringInfoString(buf, " LIMIT 1\n),\n");

	/*
	 * Per key, the newest valid change wins: row_number 1 when valid, else
	 * (rare: the newest is rejected or a truncate) the newest valid one.
	 */
	appendStringInfoString(buf, "\"__badtop\" AS MATERIALIZED (\n  SELECT ");
	AppendColumns(buf, "\"__d\"", spec->keys);
	appendStringInfoString(buf, " FROM \"__odd\" AS \"__d\" WHERE \"__d\".\"__m_rn\" " OP("=") " 1 AND NOT ");
	AppendAnyNull(buf, "\"__d\"", spec->keys);
	appendStringInfoString(buf, " AND NOT ");
	AppendOk(buf, spec, "\"__d\"");
	appendStringInfoString(buf, "\n),\n");
	/*
	 * Not materialized: the winners are not copied an extra time, and the
	 * MERGE reads them in __src's order, by key.  "rn = 1" on purpose: the
	 * planner has no statistics on a window's output and guesses 0.5% of
	 * the batch, so it probes the target's unique index per winner -- in
	 * key order, so along the index -- rather than hash the whole target
	 * or sort the winners again for a merge join.
	 */
	appendStringInfoString(buf, "\"__win\" AS NOT MATERIALIZED (\n"
						   "  SELECT * FROM \"__src\" AS \"__c\" WHERE \"__c\".\"__m_rn\" " OP("=") " 1 AND NOT \"__c\".\"__m_odd\"\n"
						   "  UNION ALL SELECT * FROM \"__odd\" AS \"__c\" WHERE \"__c\".\"__m_rn\" " OP("<") " 2 AND ");
	AppendOk(buf, spec, "\"__c\"");
	appendStringInfoString(buf, "\n  UNION ALL (SELECT DISTINCT ON (");
	AppendColumns(buf, "\"__c\"", spec->keys);
	appendStringInfoString(buf, ") \"__c\".* FROM \"__src\" AS \"__c\"\n"
						   "    WHERE EXISTS (SELECT 1 FROM \"__badtop\") AND \"__c\".\"__m_rn\" " OP(">") " 1 AND ");
	AppendIn(buf, "\"__c\"", spec->keys, "\"__badtop\"");
	appendStringInfoString(buf, " AND ");
	AppendOk(buf, spec, "\"__c\"");
	appendStringInfoString(buf, "\n    ORDER BY ");
	AppendColumns(buf, "\"__c\"", spec->keys);
	appendStringInfoString(buf, ", ");
	AppendOrder(buf, "\"__c\"", spec->sequence, "DESC");
	appendStringInfoString(buf, ")\n),\n");

	/*
	 * What the tombstones and the newest truncate say about each winner,
	 * before looking at the target: stale, already applied (same), or go.
	 * The newest truncate is a one-row subquery: evaluated once, not joined.
	 * Not materialized: the MERGE reads it in the batch's key order (see
	 * there), the tombstone upkeep picks its few rows out of it.
	 */
	appendStringInfo(buf, "\"__cls\" AS NOT MATERIALIZED (\n"
					 "  SELECT \"__w\".*, \"__b\".%s IS NOT NULL AS \"__m_tombed\", CASE\n"
					 "    WHEN ", k1);
	AppendCompareQuery(buf, "\"__w\"", BTLessEqualStrategyNumber, spec->sequence, " FROM \"__tr\"");
	appendStringInfo(buf, " THEN 'stale'\n    WHEN \"__b\".%s IS NOT NULL AND ", k1);
	AppendCompare(buf, "\"__b\"", BTGreaterStrategyNumber, "\"__w\"", spec->sequence);
	appendStringInfo(buf, " THEN 'stale'\n    WHEN \"__b\".%s IS NOT NULL AND ", k1);
	AppendCompare(buf, "\"__b\"", BTEqualStrategyNumber, "\"__w\"", spec->sequence);
	appendStringInfo(buf, " THEN 'same'\n    ELSE 'go' END AS \"__m_pre\"\n"
					 "  FROM \"__win\" AS \"__w\" LEFT JOIN %s AS \"__b\" ON ", tb);
	AppendEqual(buf, "\"__b\"", "\"__w\"", spec->keys);
	appendStringInfoString(buf, "\n),\n");

	/*
	 * Tombstones do not depend on the target (a tombstone older than a
	 * live row is redundant either way: that row's own sequence guards the
	 * key); __cls knows which keys have one.  The few rows involved are
	 * picked out of __cls once.
	 */
	appendStringInfoString(buf, "\"__totomb\" AS MATERIALIZED (\n  SELECT * FROM \"__cls\" "
						   "WHERE \"__m_pre\" " OP("=") " 'go' AND (\"__m_del\" OR \"__m_tombed\")\n),\n");
	AppendTombstoneUpkeep(buf, spec, "\"__totomb\"");
	appendStringInfoString(buf, ",\n");

	/* A new truncate removes rows older than it, except keys the MERGE below writes. */
	appendStringInfo(buf, "\"__tdel\" AS (\n  DELETE FROM %s AS \"__t\" USING \"__newtr\" AS \"__n\" WHERE (", t);
	AppendCompare(buf, "\"__t\"", BTGreaterEqualStrategyNumber, "\"__n\"", spec->sequence);
	appendStringInfoString(buf, ") IS NOT TRUE\n    AND NOT EXISTS (SELECT 1 FROM \"__cls\" AS \"__g\" "
						   "WHERE \"__g\".\"__m_pre\" " OP("=") " 'go' AND ");
	AppendEqual(buf, "\"__g\"", "\"__t\"", spec->keys);
	appendStringInfoString(buf, ")\n  RETURNING medallion._merge_tally(2, 1)\n),\n");

	/* The truncate marker row (NULL keys) is replaced by a newer one. */
	appendStringInfo(buf, "\"__unmark\" AS (\n  DELETE FROM %s AS \"__b\" WHERE \"__b\".\"_truncate\" "
					 "AND EXISTS (SELECT 1 FROM \"__newtr\")\n),\n", tb);
	appendStringInfo(buf, "\"__mark\" AS (\n  INSERT INTO %s (", tb);
	AppendColumns(buf, NULL, spec->sequence);
	appendStringInfoString(buf, ", \"_truncate\") SELECT ");
	AppendColumns(buf, NULL, spec->sequence);
	appendStringInfoString(buf, ", true FROM \"__newtr\"\n)\n");

	/*
	 * One MERGE writes the target: one join, each row written in place.
	 * Inserted, updated and deleted rows are counted by the executor (read
	 * in merge.c); the rest is tallied: every batch row as skipped in
	 * __src, winners that go or were applied before taken back here (one
	 * CASE, so the tallies run only for those rows, whatever order the
	 * planner gives the quals), rejected rows and truncates too (an
	 * uncorrelated subquery, so an InitPlan run once), and per row for the
	 * DO NOTHING branches (conditions after a match, evaluated left to
	 * right).  No ORDER BY: the winners come in key order already.
	 */
	appendStringInfo(buf, "MERGE INTO %s AS \"__t\"\nUSING (SELECT \"__g\".* FROM \"__cls\" AS \"__g\"\n"
					 "  WHERE CASE WHEN \"__g\".\"__m_pre\" " OP("=") " 'go' THEN medallion._merge_tally(4, -1)\n"
					 "    WHEN \"__g\".\"__m_pre\" " OP("=") " 'same' THEN NOT (medallion._merge_tally(4, -1) AND medallion._merge_tally(3, 1))\n"
					 "    ELSE false END\n"
					 "  AND (SELECT medallion._merge_tally(5, (SELECT pg_catalog.count(*) FROM \"__rej\"))\n"
					 "    AND medallion._merge_tally(4, " OP("-") " ((SELECT pg_catalog.count(*) FROM \"__odd\" WHERE \"__m_trunc\")\n"
					 "      " OP("+") " (SELECT pg_catalog.count(*) FILTER (WHERE NOT \"__m_trunc\") FROM \"__rej\"))))", t);
	AppendMergeActions(buf, spec);
}

/*
 * AppendScd2 appends the SCD type 2 merge.  Event log: keys, sequence,
 * values, _deleted; one row per (key, sequence) ever applied.  History row
 * of a version: the sequence of the event that opened it, _valid_from = its
 * first sequence column, _valid_to = the first sequence column of the event
 * that ended it (NULL while current); tracked values from the opening event,
 * untracked values from the version's newest event.
 */
static void
AppendScd2(StringInfo buf, const MergeSpec *spec)
{
	ListCell   *lc;
	const char *t = spec->target_sql;
	const char *ev = spec->state_sql;
	const char *s1 = Q(((MergeColumn *) linitial(spec->sequence))->name);

	/* One row per (key, sequence); exact duplicates collapse. */
	appendStringInfoString(buf, "\"__ok\" AS MATERIALIZED (\n  SELECT DISTINCT ON (");
	AppendKeysAndSequence(buf, NULL, spec);
	appendStringInfoString(buf, ") * FROM \"__src\" AS \"__c\" WHERE ");
	AppendOk(buf, spec, "\"__c\"");
	appendStringInfoString(buf, "\n),\n");

	/* Events not in the log yet: a (key, sequence) applied before is already reflected. */
	appendStringInfo(buf, "\"__new\" AS MATERIALIZED (\n  SELECT \"__o\".* FROM \"__ok\" AS \"__o\" "
					 "WHERE NOT EXISTS (SELECT 1 FROM %s AS \"__e\" WHERE ", ev);
	AppendEqual(buf, "\"__e\"", "\"__o\"", spec->keys);
	appendStringInfoString(buf, " AND ");
	AppendEqual(buf, "\"__e\"", "\"__o\"", spec->sequence);
	appendStringInfoString(buf, ")\n),\n");

	appendStringInfo(buf, "\"__log\" AS (\n  INSERT INTO %s (", ev);
	AppendKeysAndSequence(buf, NULL, spec);
	foreach(lc, spec->values)
		appendStringInfo(buf, ", %s", Q(((MergeColumn *) lfirst(lc))->name));
	appendStringInfoString(buf, ", \"_deleted\") SELECT ");
	AppendKeysAndSequence(buf, NULL, spec);
	foreach(lc, spec->values)
		appendStringInfo(buf, ", %s", Q(((MergeColumn *) lfirst(lc))->name));
	appendStringInfoString(buf, ", \"__m_del\" FROM \"__new\" RETURNING 1\n),\n");

	appendStringInfoString(buf, "\"__keys\" AS MATERIALIZED (\n  SELECT DISTINCT ");
	AppendColumns(buf, NULL, spec->keys);
	appendStringInfoString(buf, " FROM \"__new\"\n),\n");

	/* Every event of the touched keys: the log (without this statement's inserts) plus the new ones. */
	appendStringInfoString(buf, "\"__all\" AS MATERIALIZED (\n  SELECT ");
	AppendKeysAndSequence(buf, "\"__e\"", spec);
	foreach(lc, spec->values)
		appendStringInfo(buf, ", \"__e\".%s", Q(((MergeColumn *) lfirst(lc))->name));
	appendStringInfo(buf, ", \"__e\".\"_deleted\" FROM %s AS \"__e\" WHERE EXISTS (SELECT 1 FROM \"__keys\" AS \"__k\" WHERE ", ev);
	AppendEqual(buf, "\"__k\"", "\"__e\"", spec->keys);
	appendStringInfoString(buf, ")\n  UNION ALL SELECT ");
	AppendKeysAndSequence(buf, NULL, spec);
	foreach(lc, spec->values)
		appendStringInfo(buf, ", %s", Q(((MergeColumn *) lfirst(lc))->name));
	appendStringInfoString(buf, ", \"__m_del\" FROM \"__new\"\n),\n");

	/* An upsert opens a version after a delete, at the start, or when a tracked column changes. */
	appendStringInfoString(buf, "\"__mark\" AS MATERIALIZED (\n  SELECT \"__a\".*, CASE WHEN \"__a\".\"_deleted\" THEN 0\n"
						   "    WHEN (pg_catalog.lag(\"__a\".\"_deleted\") OVER \"__w\") IS NOT FALSE THEN 1\n"
						   "    WHEN ");
	if (spec->tracked == NIL)
		appendStringInfoString(buf, "true");
	foreach(lc, spec->tracked)
	{
		MergeColumn *c = lfirst(lc);

		if (foreach_current_index(lc) > 0)
			appendStringInfoString(buf, " AND ");
		/* The same window function twice is computed once. */
		AppendColumnNotDistinct(buf, psprintf("(pg_catalog.lag(\"__a\".%s) OVER \"__w\")", Q(c->name)),
								psprintf("\"__a\".%s", Q(c->name)), c);
	}
	appendStringInfo(buf, " THEN 0 ELSE 1 END AS \"__m_start\",\n"
					 "    pg_catalog.lead(\"__a\".%s) OVER \"__w\" AS \"__m_next\"\n"
					 "  FROM \"__all\" AS \"__a\" WINDOW \"__w\" AS (PARTITION BY ", s1);
	AppendColumns(buf, "\"__a\"", spec->keys);
	appendStringInfoString(buf, " ORDER BY ");
	AppendOrder(buf, "\"__a\"", spec->sequence, "ASC");
	appendStringInfoString(buf, ")\n),\n");

	appendStringInfoString(buf, "\"__grp\" AS MATERIALIZED (\n  SELECT \"__m\".*, pg_catalog.sum(\"__m\".\"__m_start\") OVER (PARTITION BY ");
	AppendColumns(buf, "\"__m\"", spec->keys);
	appendStringInfoString(buf, " ORDER BY ");
	AppendOrder(buf, "\"__m\"", spec->sequence, "ASC");
	appendStringInfoString(buf, " ROWS UNBOUNDED PRECEDING) AS \"__m_g\" FROM \"__mark\" AS \"__m\"\n),\n");

	/* The wanted history of the touched keys: one row per version. */
	/* Qualified throughout: in ORDER BY a bare name would mean the output column (first_value). */
	appendStringInfoString(buf, "\"__want\" AS MATERIALIZED (\n  SELECT DISTINCT ON (");
	AppendColumns(buf, "\"__g\"", spec->keys);
	appendStringInfoString(buf, ", \"__g\".\"__m_g\") ");
	AppendColumns(buf, "\"__g\"", spec->keys);
	foreach(lc, spec->sequence)
		appendStringInfo(buf, ", pg_catalog.first_value(\"__g\".%s) OVER \"__v\" AS %s",
						 Q(((MergeColumn *) lfirst(lc))->name), Q(((MergeColumn *) lfirst(lc))->name));
	foreach(lc, spec->values)
		appendStringInfo(buf, ", \"__g\".%s", Q(((MergeColumn *) lfirst(lc))->name));
	appendStringInfo(buf, ",\n    pg_catalog.first_value(\"__g\".%s) OVER \"__v\" AS \"_valid_from\", "
					 "\"__g\".\"__m_next\" AS \"_valid_to\"\n"
					 "  FROM \"__grp\" AS \"__g\" WHERE NOT \"__g\".\"_deleted\"\n  WINDOW \"__v\" AS (PARTITION BY ", s1);
	AppendColumns(buf, "\"__g\"", spec->keys);
	appendStringInfoString(buf, ", \"__g\".\"__m_g\" ORDER BY ");
	AppendOrder(buf, "\"__g\"", spec->sequence, "ASC");
	appendStringInfoString(buf, ")\n  ORDER BY ");
	AppendColumns(buf, "\"__g\"", spec->keys);
	appendStringInfoString(buf, ", \"__g\".\"__m_g\", ");
	AppendOrder(buf, "\"__g\"", spec->sequence, "DESC");
	appendStringInfoString(buf, "\n),\n");

	/* Diff against the target, each on disjoint rows: same (key, sequence) updated, others inserted or deleted. */
	appendStringInfo(buf, "\"__upd\" AS (\n  UPDATE %s AS \"__t\" SET \"_valid_from\" = \"__v\".\"_valid_from\", "
					 "\"_valid_to\" = \"__v\".\"_valid_to\"", t);
	foreach(lc, spec->values)
		appendStringInfo(buf, ", %s = \"__v\".%s", Q(((MergeColumn *) lfirst(lc))->name),
						 Q(((MergeColumn *) lfirst(lc))->name));
	appendStringInfoString(buf, "\n  FROM \"__want\" AS \"__v\" WHERE ");
	AppendEqual(buf, "\"__t\"", "\"__v\"", spec->keys);
	appendStringInfoString(buf, " AND ");
	AppendEqual(buf, "\"__t\"", "\"__v\"", spec->sequence);
	/* _valid_from and _valid_to have the first sequence column's type. */
	appendStringInfoString(buf, "\n    AND NOT (");
	AppendColumnNotDistinct(buf, "\"__t\".\"_valid_from\"", "\"__v\".\"_valid_from\"", linitial(spec->sequence));
	appendStringInfoString(buf, " AND ");
	AppendColumnNotDistinct(buf, "\"__t\".\"_valid_to\"", "\"__v\".\"_valid_to\"", linitial(spec->sequence));
	appendStringInfoString(buf, " AND ");
	AppendSame(buf, "\"__t\"", "\"__v\"", spec->values);
	appendStringInfoString(buf, ") RETURNING 1\n),\n");

	appendStringInfo(buf, "\"__ins\" AS (\n  INSERT INTO %s (", t);
	AppendKeysAndSequence(buf, NULL, spec);
	foreach(lc, spec->values)
		appendStringInfo(buf, ", %s", Q(((MergeColumn *) lfirst(lc))->name));
	appendStringInfoString(buf, ", \"_valid_from\", \"_valid_to\") SELECT ");
	AppendKeysAndSequence(buf, "\"__v\"", spec);
	foreach(lc, spec->values)
		appendStringInfo(buf, ", \"__v\".%s", Q(((MergeColumn *) lfirst(lc))->name));
	appendStringInfo(buf, ", \"__v\".\"_valid_from\", \"__v\".\"_valid_to\"\n  FROM \"__want\" AS \"__v\" "
					 "WHERE NOT EXISTS (SELECT 1 FROM %s AS \"__t\" WHERE ", t);
	AppendEqual(buf, "\"__t\"", "\"__v\"", spec->keys);
	appendStringInfoString(buf, " AND ");
	AppendEqual(buf, "\"__t\"", "\"__v\"", spec->sequence);
	appendStringInfoString(buf, ") RETURNING 1\n),\n");

	appendStringInfo(buf, "\"__del\" AS (\n  DELETE FROM %s AS \"__t\" WHERE EXISTS (SELECT 1 FROM \"__keys\" AS \"__k\" WHERE ", t);
	AppendEqual(buf, "\"__k\"", "\"__t\"", spec->keys);
	appendStringInfoString(buf, ")\n    AND NOT EXISTS (SELECT 1 FROM \"__want\" AS \"__v\" WHERE ");
	AppendEqual(buf, "\"__t\"", "\"__v\"", spec->keys);
	appendStringInfoString(buf, " AND ");
	AppendEqual(buf, "\"__t\"", "\"__v\"", spec->sequence);
	appendStringInfoString(buf, ") RETURNING 1\n)\n");

	appendStringInfoString(buf,
						   "SELECT (SELECT pg_catalog.count(*) FROM \"__ins\"),\n"
						   "  (SELECT pg_catalog.count(*) FROM \"__upd\"),\n"
						   "  (SELECT pg_catalog.count(*) FROM \"__del\"),\n"
						   "  (SELECT pg_catalog.count(*) FROM \"__src\") " OP("-") " (SELECT pg_catalog.count(*) FROM \"__rej\")\n"
						   "    " OP("-") " (SELECT pg_catalog.count(*) FROM \"__new\"),\n"
						   "  0::pg_catalog.int8,\n"
						   "  (SELECT pg_catalog.count(*) FROM \"__rej\"),\n"
						   "  (SELECT pg_catalog.count(*) FROM \"__log\") " OP("+") " (SELECT pg_catalog.count(*) FROM \"__quar\")");
}

/*
 * MergeStreamSql returns the streaming SCD1 statement, used when the batch
 * cannot hold truncates (no truncate rule).  The batch is read (rows
 * counted as read: tally 6), sorted by key, sequence and content so exact
 * copies collapse (AppendCopyKey), and flows through one window pass
 * straight into the MERGE, never copied: a plain table source is read,
 * sorted and merged in one pipeline.  Each row is routed by one CASE in
 * the MERGE's source:
 *
 *   - a row of a key whose newest change is not a single valid change
 *     (a NULL sequence, another change with the same sequence, or a NULL
 *     key), or an older row that may need rejecting (NULL sequence, a
 *     shared sequence), is set aside with _merge_stash(0, row): after this
 *     statement MergeStatementSql handles those rows (MergeDeferredSource),
 *     so rejects, conflicts and fallbacks keep one implementation;
 *   - an older change of a clean key is superseded: tallied as skipped;
 *   - a key's newest change is classified against its tombstone and the
 *     stored truncate marker (stale, same, go); a delete that goes, or an
 *     upsert over a tombstone, is stashed with _merge_stash(1, ...) for
 *     MergeTombstoneSql, which keeps the tombstones after this statement.
 *
 * A key's winner is decided here or, for a key set aside whole, after:
 * never both.  Older rows set aside from a key merged here end stale or
 * rejected after.  Where a row stands in its key (newest and clean,
 * older and clean, or set aside) comes from one window function,
 * medallion._merge_place (merge_place.c).
 */
char *
MergeStreamSql(const MergeSpec *spec)
{
	StringInfoData buf,
				rest;
	ListCell   *lc;
	const char *k1 = Q(((MergeColumn *) linitial(spec->keys))->name);

	/* The window's one function places each row in its key (merge_place.c). */
	initStringInfo(&buf);
	appendStringInfo(&buf, "MERGE INTO %s AS \"__t\"\nUSING (\n  SELECT \"__y\".* FROM (SELECT \"__x\".*,\n"
					 "    medallion._merge_place(", spec->target_sql);
	AppendColumns(&buf, "\"__x\"", spec->sequence);
	appendStringInfoString(&buf, ") OVER \"__k\" AS \"__m_place\"\n  FROM (SELECT DISTINCT ON (");
	AppendCopyKey(&buf, spec, false);
	appendStringInfoString(&buf, ") ");
	AppendSourceColumns(&buf, spec);
	appendStringInfo(&buf, ",\n    COALESCE((%s), false) AS \"__m_del\" FROM %s AS \"__s\"\n"
					 "    WHERE medallion._merge_tally(6, 1)\n    ORDER BY ", spec->delete_expr, spec->source_from);
	AppendCopyKey(&buf, spec, true);
	appendStringInfoString(&buf, ") AS \"__x\"\n  WINDOW \"__k\" AS (PARTITION BY ");
	AppendColumns(&buf, "\"__x\"", spec->keys);
	appendStringInfoString(&buf, " ORDER BY ");
	AppendOrder(&buf, "\"__x\"", spec->sequence, "DESC");
	appendStringInfo(&buf, ")) AS \"__y\"\n  LEFT JOIN %s AS \"__b\" ON ", spec->state_sql);
	AppendEqual(&buf, "\"__b\"", "\"__y\"", spec->keys);

	/* Set aside: the key's newest change is not clean, or an older row may be rejected. */
	appendStringInfoString(&buf, "\n  WHERE CASE WHEN ");
	AppendAnyNull(&buf, "\"__y\"", spec->keys);
	appendStringInfoString(&buf, " OR \"__y\".\"__m_place\" " OP("=") " 2\n    THEN NOT medallion._merge_stash(0, ROW(");
	foreach(lc, spec->source_columns)
		appendStringInfo(&buf, "\"__y\".%s, ", Q(lfirst(lc)));
	appendStringInfoString(&buf, "\"__y\".\"__m_del\"))\n");
	/* Superseded within the batch. */
	appendStringInfoString(&buf, "    WHEN \"__y\".\"__m_place\" " OP("=") " 1 THEN NOT medallion._merge_tally(4, 1)\n    WHEN ");
	/* At or before the stored truncate marker (left by calls with a truncate rule). */
	initStringInfo(&rest);
	appendStringInfo(&rest, " FROM %s WHERE \"_truncate\" ORDER BY ", spec->state_sql);
	AppendOrder(&rest, NULL, spec->sequence, "DESC");
	appendStringInfoString(&rest, " LIMIT 1");
	AppendCompareQuery(&buf, "\"__y\"", BTLessEqualStrategyNumber, spec->sequence, rest.data);
	appendStringInfo(&buf, " THEN NOT medallion._merge_tally(4, 1)\n"
					 "    WHEN \"__b\".%s IS NOT NULL AND ", k1);
	AppendCompare(&buf, "\"__b\"", BTGreaterStrategyNumber, "\"__y\"", spec->sequence);
	appendStringInfo(&buf, " THEN NOT medallion._merge_tally(4, 1)\n    WHEN \"__b\".%s IS NOT NULL AND ", k1);
	AppendCompare(&buf, "\"__b\"", BTEqualStrategyNumber, "\"__y\"", spec->sequence);
	appendStringInfo(&buf, " THEN NOT medallion._merge_tally(3, 1)\n"
					 "    WHEN \"__y\".\"__m_del\" OR \"__b\".%s IS NOT NULL THEN medallion._merge_stash(1, ROW(", k1);
	AppendKeysAndSequence(&buf, "\"__y\"", spec);
	appendStringInfo(&buf, ", \"__y\".\"__m_del\", \"__b\".%s IS NOT NULL))\n    ELSE true END", k1);
	AppendMergeActions(&buf, spec);
	return buf.data;
}

/* AppendTypedColumns appends `"a" type, ...` for a column definition list. */
static void
AppendTypedColumns(StringInfo buf, List *cols)
{
	ListCell   *lc;

	foreach(lc, cols)
	{
		MergeColumn *c = lfirst(lc);

		appendStringInfo(buf, "%s %s, ", Q(c->name), c->type_sql);
	}
}

/*
 * MergeTombstoneSql returns the statement that keeps the tombstones after
 * MergeStreamSql, from the winners it stashed (AppendTombstoneUpkeep).
 * DISTINCT ON: one row per key even if the executor rechecked a winner.
 */
char *
MergeTombstoneSql(const MergeSpec *spec)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "WITH \"__g\" AS MATERIALIZED (\n  SELECT DISTINCT ON (");
	AppendColumns(&buf, NULL, spec->keys);
	appendStringInfoString(&buf, ") * FROM medallion._merge_stashed(1) AS \"__d\"(");
	AppendTypedColumns(&buf, spec->keys);
	AppendTypedColumns(&buf, spec->sequence);
	appendStringInfoString(&buf, "\"__m_del\" boolean, \"__m_tombed\" boolean)\n  ORDER BY ");
	AppendColumns(&buf, NULL, spec->keys);
	appendStringInfoString(&buf, ", ");
	AppendOrder(&buf, NULL, spec->sequence, "DESC");
	appendStringInfoString(&buf, "\n),\n");
	AppendTombstoneUpkeep(&buf, spec, "\"__g\"");
	appendStringInfoString(&buf, "\nSELECT 1");
	return buf.data;
}

/*
 * MergeDeferredSource returns the source MergeStatementSql reads the rows
 * MergeStreamSql set aside from: every source column (applied ones already
 * cast) and the evaluated delete rule as "__m_d".
 */
char *
MergeDeferredSource(const MergeSpec *spec)
{
	StringInfoData buf;
	ListCell   *lc,
			   *lt;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "(SELECT * FROM medallion._merge_stashed(0) AS \"__d\"(");
	forboth(lc, spec->source_columns, lt, spec->source_types)
		appendStringInfo(&buf, "%s %s, ", Q(lfirst(lc)), (char *) lfirst(lt));
	appendStringInfoString(&buf, "\"__m_d\" boolean))");
	return buf.data;
}

/* MergeStatementSql returns the whole statement of one apply_changes call ($1 = target regclass). */
char *
MergeStatementSql(const MergeSpec *spec)
{
	StringInfoData buf;

	initStringInfo(&buf);
	AppendCommonCtes(&buf, spec);
	if (spec->scd_type == 1)
		AppendScd1(&buf, spec);
	else
		AppendScd2(&buf, spec);
	return buf.data;
}

/* MergeStateTableSql returns the CREATE TABLE and index of a target's merge state table. */
char *
MergeStateTableSql(const MergeSpec *spec, const char *state_name)
{
	StringInfoData buf;
	ListCell   *lc;
	List	   *ks = list_concat_copy(spec->keys, spec->sequence);

	initStringInfo(&buf);
	appendStringInfo(&buf, "CREATE TABLE %s (", state_name);
	foreach(lc, ks)
	{
		MergeColumn *c = lfirst(lc);

		appendStringInfo(&buf, "%s%s %s", foreach_current_index(lc) > 0 ? ", " : "", Q(c->name), c->type_sql);
	}
	if (spec->scd_type == 1)
	{
		appendStringInfo(&buf, ", \"_truncate\" boolean NOT NULL DEFAULT false, "
						 "\"_deleted_at\" pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now());\n"
						 "CREATE UNIQUE INDEX ON %s (", state_name);
		AppendColumns(&buf, NULL, spec->keys);
	}
	else
	{
		foreach(lc, spec->values)
		{
			MergeColumn *c = lfirst(lc);

			appendStringInfo(&buf, ", %s %s", Q(c->name), c->type_sql);
		}
		appendStringInfo(&buf, ", \"_deleted\" boolean NOT NULL, "
						 "\"_applied_at\" pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now());\n"
						 "CREATE UNIQUE INDEX ON %s (", state_name);
		AppendColumns(&buf, NULL, ks);
	}
	appendStringInfoString(&buf, ")");
	return buf.data;
}

/* MergeStatementsOf writes every statement a merge of `spec` runs (see MergeStatements). */
void
MergeStatementsOf(const MergeSpec *spec, MergeStatements *out)
{
	memset(out, 0, sizeof(MergeStatements));
	if (spec->streaming)
	{
		MergeSpec	deferred = *spec;

		out->main = MergeStreamSql(spec);
		out->tombstones = MergeTombstoneSql(spec);
		/* The rows set aside go through the whole-batch statement, their delete verdict precomputed. */
		deferred.source_from = MergeDeferredSource(spec);
		deferred.delete_expr = "\"__s\".\"__m_d\"";
		out->set_aside = MergeStatementSql(&deferred);
	}
	else
		out->main = MergeStatementSql(spec);
}

