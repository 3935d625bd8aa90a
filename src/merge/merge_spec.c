/*-------------------------------------------------------------------------
 *
 * merge_spec.c
 *	  What one apply_changes call merges (MergeSpec): its arguments read
 *	  and checked, the source described, the target's columns typed, and
 *	  the merge state registered (medallion.apply_target) and created.
 *
 * Every check happens before anything is written: a bad call changes
 * nothing.  The state table is created as the target's owner; the name it
 * takes is locked (MERGE_STATE_NAME_LOCKTAG) until commit, so two first
 * merges never race for it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "merge/merge_spec.h"

#include "merge/merge_sql.h"

#include "base/objects.h"
#include "base/spi.h"
#include "settings.h"
#include "base/export.h"

#include "common/hashfn.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_coerce.h"
#include "parser/parser.h"
#include "parser/parsetree.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/fmgroids.h"
#include "utils/snapmgr.h"
#include "access/xact.h"
#include "utils/guc.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"
#include "utils/varlena.h"

PG_FUNCTION_INFO_V1(medallion_drop_merge_state);

/* Columns of feed readers that are metadata, not data: never applied unless named. */
static const char *const feed_metadata_columns[] = {
	"_change_type", "_commit_version", "_commit_timestamp", "_change_seq", NULL
};

/* TextArrayToList returns a text[] argument as a list of C strings; NULL elements and duplicates are errors. */
static List *
TextArrayToList(Datum array, const char *argname)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;
	List	   *result = NIL;

	deconstruct_array(DatumGetArrayTypeP(array), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		char	   *name;
		ListCell   *lc;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL", argname),
					 errhint("List column names.")));
		name = TextDatumGetCString(elems[i]);
		foreach(lc, result)
			if (strcmp(lfirst(lc), name) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column \"%s\" appears twice in %s", name, argname),
						 errhint("List each column once.")));
		result = lappend(result, name);
	}
	return result;
}

/* ListHas says whether a list of names holds name. */
static bool
ListHas(List *names, const char *name)
{
	ListCell   *lc;

	foreach(lc, names)
		if (strcmp(lfirst(lc), name) == 0)
			return true;
	return false;
}

/* IsSelectQuery says whether source text is a query (else it names a table or view). */
static bool
IsSelectQuery(const char *source)
{
	const char *p = source;
	static const char *const starts[] = {"select", "with", "values", "table", NULL};
	const char *const *s;

	while (*p && isspace((unsigned char) *p))
		p++;
	if (*p == '(')
		return true;
	for (s = starts; *s; s++)
	{
		size_t		len = strlen(*s);

		if (pg_strncasecmp(p, *s, len) == 0 && (p[len] == '\0' || isspace((unsigned char) p[len]) || p[len] == '('))
			return true;
	}
	return false;
}

/* ParseOrExplain raw-parses sql; a syntax error is reported as a bad argument, with the parser's words as detail. */
static List *
ParseOrExplain(const char *sql, const char *argname, const char *given)
{
	MemoryContext cxt = CurrentMemoryContext;
	List	   *parsed = NIL;

	PG_TRY();
	{
		parsed = raw_parser(sql, RAW_PARSE_DEFAULT);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/* The raw parser touches no shared state: catching its error is safe. */
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("%s does not parse: %s", argname, given),
				 errdetail("%s", edata->message),
				 errhint("Pass %s.", strcmp(argname, "source") == 0
						 ? "a table or view name, or one SELECT query"
						 : "one condition over the source's columns, e.g. op = 'D'")));
	}
	PG_END_TRY();
	return parsed;
}

/* SourceFromItem returns the FROM item of a source: a parenthesised single SELECT or a quoted relation. */
static char *
SourceFromItem(const char *source)
{
	if (IsSelectQuery(source))
	{
		char	   *query = pstrdup(source);
		size_t		len = strlen(query);
		List	   *parsed;

		/* A trailing semicolon is harmless; anything after it is not. */
		while (len > 0 && (isspace((unsigned char) query[len - 1]) || query[len - 1] == ';'))
			query[--len] = '\0';
		parsed = ParseOrExplain(query, "source", source);
		if (list_length(parsed) != 1 || !IsA(((RawStmt *) linitial(parsed))->stmt, SelectStmt))
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("source must be a table, a view or a single SELECT query"),
					 errhint("Pass one query without other statements, e.g. SELECT * FROM medallion_changes.t('consumer').")));
		return psprintf("(%s\n)", query);
	}
	else
	{
		List	   *parts = NIL;
		List	   *names;
		RangeVar   *rv;
		Oid			relid;

		if (!SplitIdentifierString(pstrdup(source), '.', &parts) || parts == NIL || list_length(parts) > 3)
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("source \"%s\" is neither a table or view name nor a query", source),
					 errhint("Pass a table or view name, or a query starting with SELECT, WITH, VALUES or TABLE.")));
		names = stringToQualifiedNameList(source);
		rv = makeRangeVarFromNameList(names);
		relid = RangeVarGetRelid(rv, NoLock, true);

		if (!OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("source \"%s\" is neither a table or view nor a query", source),
					 errhint("Pass a table or view name, or a query starting with SELECT, WITH, VALUES or TABLE.")));
		return RelationDisplayName(relid);
	}
}

/* HasWindowCall is a raw-tree walker: true at a function call with OVER. */
static bool
HasWindowCall(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncCall) && ((FuncCall *) node)->over != NULL)
		return true;
	return raw_expression_tree_walker(node, HasWindowCall, context);
}

/* CheckExpression errors unless sql is one scalar expression (so it cannot smuggle in a statement). */
static void
CheckExpression(const char *sql, const char *argname)
{
	List	   *parsed = ParseOrExplain(psprintf("SELECT (%s\n)", sql), argname, sql);
	SelectStmt *sel;
	bool		ok = false;

	if (list_length(parsed) == 1 && IsA(((RawStmt *) linitial(parsed))->stmt, SelectStmt))
	{
		sel = (SelectStmt *) ((RawStmt *) linitial(parsed))->stmt;
		ok = sel->op == SETOP_NONE && list_length(sel->targetList) == 1 && sel->fromClause == NIL &&
			sel->whereClause == NULL && sel->groupClause == NIL && sel->havingClause == NULL &&
			sel->windowClause == NIL && sel->sortClause == NIL && sel->limitCount == NULL &&
			sel->limitOffset == NULL && sel->withClause == NULL && sel->intoClause == NULL &&
			sel->lockingClause == NIL && sel->distinctClause == NIL && sel->valuesLists == NIL;
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("%s is not a boolean expression: %s", argname, sql),
				 errhint("Write a condition over the source's columns, e.g. op = 'D'.")));
	/* A window function would see the generated statement's rows, not the row it is asked about. */
	if (raw_expression_tree_walker((Node *) sel->targetList, HasWindowCall, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_WINDOWING_ERROR),
				 errmsg("%s must not use a window function: %s", argname, sql),
				 errhint("Write a condition over one change row's columns, e.g. op = 'D'.")));
}

/*
 * QueryJoinsNothing says whether a (rewritten) source query reads a single
 * table, function or VALUES list, through any number of views or
 * subqueries in FROM, without joins, sublinks, CTEs or set operations.
 */
static bool
QueryJoinsNothing(const Query *query)
{
	RangeTblEntry *rte;

	if (query->setOperations != NULL || query->cteList != NIL || query->hasSubLinks ||
		query->jointree == NULL || list_length(query->jointree->fromlist) != 1 ||
		!IsA(linitial(query->jointree->fromlist), RangeTblRef))
		return false;
	rte = rt_fetch(((RangeTblRef *) linitial(query->jointree->fromlist))->rtindex, query->rtable);
	switch (rte->rtekind)
	{
		case RTE_RELATION:
		case RTE_FUNCTION:
		case RTE_VALUES:
			return true;
		case RTE_SUBQUERY:
			return QueryJoinsNothing(rte->subquery);
		default:
			return false;
	}
}

/*
 * DescribeSource returns the source's result columns without running it;
 * *joins_nothing says whether it is join-free (QueryJoinsNothing).
 */
static TupleDesc
DescribeSource(const char *from_item, bool *joins_nothing)
{
	char	   *sql = psprintf("SELECT * FROM %s AS \"__s\"", from_item);
	SPIPlanPtr	plan = SPI_prepare(sql, 0, NULL);
	CachedPlanSource *ps;

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for the source: %s", SPI_result_code_string(SPI_result));
	ps = linitial(SPI_plan_get_plan_sources(plan));
	if (ps->resultDesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("source returns no rows"),
				 errhint("Pass a SELECT query.")));
	*joins_nothing = list_length(ps->query_list) == 1 && QueryJoinsNothing(linitial(ps->query_list));
	return CreateTupleDescCopy(ps->resultDesc);
}

/* DescColumn returns the attribute of a live column by name, or NULL. */
static Form_pg_attribute
DescColumn(TupleDesc desc, const char *name)
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

/* QualifiedTypeSql names a type with its typmod for the generated SQL: schema-qualified (or an SQL keyword). */
static char *
QualifiedTypeSql(Oid typid, int32 typmod)
{
	return format_type_extended(typid, typmod, FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
}

/* MakeColumn validates one applied column in source and target and returns it typed as the target's. */
static MergeColumn *
MakeColumn(const char *name, TupleDesc source, Relation target, const char *role)
{
	Form_pg_attribute s = DescColumn(source, name);
	Form_pg_attribute t = DescColumn(RelationGetDescr(target), name);
	MergeColumn *c = palloc0(sizeof(MergeColumn));

	if (t == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s column \"%s\" does not exist in target %s", role, name,
						RelationDisplayName(RelationGetRelid(target))),
				 errhint("Add the column to the target, or choose the applied columns with columns => or except_columns =>.")));
	if (s == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s column \"%s\" does not exist in the source", role, name),
				 errhint("The source must provide every key, sequence and applied column.")));
	if (t->attgenerated || t->attidentity == ATTRIBUTE_IDENTITY_ALWAYS)
		ereport(ERROR,
				(errcode(ERRCODE_GENERATED_ALWAYS),
				 errmsg("target column \"%s\" is generated and cannot be applied", name),
				 errhint("Leave it out with except_columns =>.")));
	if (!can_coerce_type(1, &s->atttypid, &t->atttypid, COERCION_ASSIGNMENT))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" is %s in the source but %s in the target", name,
						format_type_be(s->atttypid), format_type_be(t->atttypid)),
				 errhint("Cast the column in a source query, or change the target's type.")));
	c->name = pstrdup(name);
	c->typid = t->atttypid;
	c->typmod = t->atttypmod;
	c->type_sql = QualifiedTypeSql(t->atttypid, t->atttypmod);
	MergeColumnOperators(c);
	if (strcmp(role, "sequence") == 0 && !c->has_order)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("sequence column \"%s\" of type %s cannot be ordered", name, format_type_be(t->atttypid)),
				 errhint("Order by a column with a btree ordering (numbers, timestamps, text, ...).")));
	return c;
}

/* FindMergeColumn returns the column of that name in a list, or NULL. */
static MergeColumn *
FindMergeColumn(List *cols, const char *name)
{
	ListCell   *lc;

	foreach(lc, cols)
		if (strcmp(((MergeColumn *) lfirst(lc))->name, name) == 0)
			return lfirst(lc);
	return NULL;
}

/* CheckUniqueIndex errors unless the target has a unique index on exactly these columns. */
static void
CheckUniqueIndex(Relation target, List *cols, const char *what)
{
	List	   *indexes = RelationGetIndexList(target);
	ListCell   *lc;
	StringInfoData names;

	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index idx;
		bool		match;
		int			i;

		if (!HeapTupleIsValid(tup))
			continue;
		idx = (Form_pg_index) GETSTRUCT(tup);
		match = idx->indisunique && idx->indimmediate && idx->indisvalid &&
			heap_attisnull(tup, Anum_pg_index_indpred, NULL) &&
			heap_attisnull(tup, Anum_pg_index_indexprs, NULL) &&
			idx->indnkeyatts == list_length(cols);
		for (i = 0; match && i < idx->indnkeyatts; i++)
		{
			AttrNumber	att = idx->indkey.values[i];

			match = att > 0 &&
				FindMergeColumn(cols, NameStr(TupleDescAttr(RelationGetDescr(target), att - 1)->attname)) != NULL;
		}
		ReleaseSysCache(tup);
		if (match)
			return;
	}
	initStringInfo(&names);
	foreach(lc, cols)
		appendStringInfo(&names, "%s%s", foreach_current_index(lc) > 0 ? ", " : "",
						 quote_identifier(((MergeColumn *) lfirst(lc))->name));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
			 errmsg("target %s has no unique index on %s (%s)",
					RelationDisplayName(RelationGetRelid(target)), what, names.data),
			 errhint("CREATE UNIQUE INDEX ON %s (%s); the merge relies on it to find each key's row.",
					 RelationDisplayName(RelationGetRelid(target)), names.data)));
}

/* CheckValidityColumn errors unless the SCD2 target has the column, typed like the first sequence column. */
static void
CheckValidityColumn(Relation target, const char *name, const MergeColumn *first_seq)
{
	Form_pg_attribute a = DescColumn(RelationGetDescr(target), name);

	if (a == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("scd_type 2 target %s has no column \"%s\"", RelationDisplayName(RelationGetRelid(target)), name),
				 errhint("ALTER TABLE %s ADD COLUMN %s %s;", RelationDisplayName(RelationGetRelid(target)),
						 quote_identifier(name), format_type_with_typemod(first_seq->typid, first_seq->typmod))));
	if (a->atttypid != first_seq->typid || a->atttypmod != first_seq->typmod)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" is %s but the first sequence column \"%s\" is %s", name,
						format_type_with_typemod(a->atttypid, a->atttypmod), first_seq->name,
						format_type_with_typemod(first_seq->typid, first_seq->typmod)),
				 errhint("Validity columns take the type of the first sequence_by column.")));
}

/* BuildSpec validates a call against the target and the source and returns what to merge. */
MergeSpec *
BuildSpec(const MergeArgs *args)
{
	MergeSpec  *spec = palloc0(sizeof(MergeSpec));
	Relation	target = table_open(args->target, AccessShareLock);
	TupleDesc	src;
	ListCell   *lc;
	int			i;

	if (target->rd_rel->relkind != RELKIND_RELATION && target->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("target %s is not a table", RelationDisplayName(args->target)),
				 errhint("apply_changes merges into ordinary or partitioned tables.")));

	spec->target = args->target;
	spec->target_sql = RelationDisplayName(args->target);
	spec->scd_type = args->scd_type;
	spec->ignore_null_updates = args->ignore_null_updates;
	spec->source_from = SourceFromItem(args->source);
	src = DescribeSource(spec->source_from, &spec->source_joins_nothing);
	for (i = 0; i < src->natts; i++)
		if (!TupleDescAttr(src, i)->attisdropped)
			spec->source_columns = lappend(spec->source_columns, pstrdup(NameStr(TupleDescAttr(src, i)->attname)));

	foreach(lc, args->keys)
		spec->keys = lappend(spec->keys, MakeColumn(lfirst(lc), src, target, "key"));
	foreach(lc, args->sequence)
	{
		if (ListHas(args->keys, lfirst(lc)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" is both a key and a sequence column", (char *) lfirst(lc)),
					 errhint("A key names the row; the sequence orders its changes.")));
		spec->sequence = lappend(spec->sequence, MakeColumn(lfirst(lc), src, target, "sequence"));
	}
	foreach(lc, args->except_columns)
	{
		if (!ListHas(spec->source_columns, lfirst(lc)))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("except_columns names \"%s\", which the source does not have", (char *) lfirst(lc)),
					 errhint("List source columns to leave out.")));
		if (ListHas(args->keys, lfirst(lc)) || ListHas(args->sequence, lfirst(lc)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("except_columns cannot leave out key or sequence column \"%s\"", (char *) lfirst(lc)),
					 errhint("Keys and sequence columns are always applied.")));
	}

	/* Applied columns: keys, sequence, then the values (named, or every data column of the source). */
	spec->applied = list_concat_copy(spec->keys, spec->sequence);
	foreach(lc, args->columns_given ? args->columns : spec->source_columns)
	{
		const char *name = lfirst(lc);
		const char *const *m;
		bool		meta = false;

		if (ListHas(args->keys, name) || ListHas(args->sequence, name) || ListHas(args->except_columns, name))
			continue;
		for (m = feed_metadata_columns; *m && !args->columns_given; m++)
			meta |= strcmp(name, *m) == 0;
		if (meta)
			continue;
		if (args->scd_type == 2 && (strcmp(name, "_valid_from") == 0 || strcmp(name, "_valid_to") == 0))
			continue;
		spec->values = lappend(spec->values, MakeColumn(name, src, target, "applied"));
	}
	spec->applied = list_concat(spec->applied, spec->values);

	if (args->scd_type == 1)
		CheckUniqueIndex(target, spec->keys, "the keys");
	else
	{
		if (args->ignore_null_updates)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("ignore_null_updates is not supported with scd_type 2"),
					 errhint("Each history row holds the complete row; fill NULLs in the source query.")));
		CheckValidityColumn(target, "_valid_from", linitial(spec->sequence));
		CheckValidityColumn(target, "_valid_to", linitial(spec->sequence));
		CheckUniqueIndex(target, list_concat_copy(spec->keys, spec->sequence), "the keys and sequence columns");
		foreach(lc, args->track)
			if (FindMergeColumn(spec->values, lfirst(lc)) == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("track_history_columns names \"%s\", which is not an applied value column",
								(char *) lfirst(lc)),
						 errhint("Track applied columns other than the keys and sequence.")));
		foreach(lc, spec->values)
		{
			MergeColumn *c = lfirst(lc);

			if (!args->track_given || ListHas(args->track, c->name))
				spec->tracked = lappend(spec->tracked, c);
			else
				spec->untracked = lappend(spec->untracked, c);
		}
	}

	/*
	 * Feeds: _change_type says what a row is; pre-images pair with the
	 * post-image after them.  The default rules are ours, not the user's:
	 * qualified like the rest (merge_sql.c), the literals typed when the
	 * column is a feed's medallion.change_type (else they take its type).
	 */
	spec->change_type_cast = "";
	if (ListHas(spec->source_columns, "_change_type"))
	{
		Oid			change_type = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid, CStringGetDatum("change_type"),
												  ObjectIdGetDatum(MedallionSchemaOid()));

		if (OidIsValid(change_type) && getBaseType(DescColumn(src, "_change_type")->atttypid) == change_type)
			spec->change_type_cast = "::medallion.change_type";
		spec->delete_expr = args->delete_when ? args->delete_when
			: psprintf("\"_change_type\" OPERATOR(pg_catalog.=) ANY ('{delete,update_preimage}'%s%s)",
					   spec->change_type_cast, *spec->change_type_cast ? "[]" : "");
		spec->truncate_expr = args->truncate_when ? args->truncate_when
			: psprintf("\"_change_type\" OPERATOR(pg_catalog.=) 'truncate'%s", spec->change_type_cast);
		spec->pair_preimages = ListHas(spec->source_columns, "_commit_version") &&
			ListHas(spec->source_columns, "_change_seq");
	}
	else
	{
		spec->delete_expr = args->delete_when ? args->delete_when : "false";
		spec->truncate_expr = args->truncate_when ? args->truncate_when : "false";
	}

	/*
	 * Streaming (SCD1, no truncate rule): rows it sets aside are stashed and
	 * read back through a column definition list, so every source column
	 * needs a nameable type.
	 */
	spec->streaming = medallion_merge_streaming && spec->scd_type == 1 && !spec->pair_preimages &&
		args->truncate_when == NULL && strcmp(spec->truncate_expr, "false") == 0;
	for (i = 0; i < src->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(src, i);
		MergeColumn *c;

		if (a->attisdropped)
			continue;
		c = FindMergeColumn(spec->applied, NameStr(a->attname));
		if (c == NULL && get_typtype(a->atttypid) == TYPTYPE_PSEUDO)
			spec->streaming = false;
		spec->source_types = lappend(spec->source_types,
									 c ? c->type_sql : QualifiedTypeSql(a->atttypid, a->atttypmod));
	}
	table_close(target, NoLock);
	return spec;
}

/* RegisteredState returns the target's state table after checking the call matches how it was registered. */
Oid
RegisteredState(const MergeSpec *spec, const MergeArgs *args)
{
	Datum		arg = ObjectIdGetDatum(spec->target);
	int			rc;
	Oid			state = InvalidOid;

	rc = SPI_execute_with_args("SELECT scd_type, keys::pg_catalog.text, sequence_by::pg_catalog.text, "
							   "state_table::pg_catalog.oid, $2::pg_catalog.text[]::pg_catalog.text, "
							   "$3::pg_catalog.text[]::pg_catalog.text FROM medallion.apply_target "
							   "WHERE target OPERATOR(pg_catalog.=) $1",
							   3, (Oid[]) {OIDOID, TEXTARRAYOID, TEXTARRAYOID},
							   (Datum[]) {arg,
							   PointerGetDatum(strlist_to_textarray(args->keys)),
							   PointerGetDatum(strlist_to_textarray(args->sequence))},
							   NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading medallion.apply_target failed");
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int			scd = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		char	   *keys = SPI_getvalue(tup, desc, 2);
		char	   *seq = SPI_getvalue(tup, desc, 3);

		state = DatumGetObjectId(SPI_getbinval(tup, desc, 4, &isnull));
		if (scd != spec->scd_type || strcmp(keys, SPI_getvalue(tup, desc, 5)) != 0 ||
			strcmp(seq, SPI_getvalue(tup, desc, 6)) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("target %s is merged with scd_type %d, keys %s and sequence_by %s",
							spec->target_sql, scd, keys, seq),
					 errdetail("Its merge state (tombstones or history events) depends on them."),
					 errhint("Call with the same keys, sequence_by and scd_type, or drop the state with "
							 "medallion.drop_merge_state(%s).", quote_literal_cstr(spec->target_sql))));
	}
	return state;
}

/* TargetRegisteredNow says whether the target is registered as seen by a fresh snapshot. */
bool
TargetRegisteredNow(Oid target)
{
	SPIPlanPtr	plan = SPI_prepare("SELECT 1 FROM medallion.apply_target WHERE target OPERATOR(pg_catalog.=) $1",
								   1, (Oid[]) {OIDOID});
	Datum		arg = ObjectIdGetDatum(target);

	if (plan == NULL ||
		SPI_execute_snapshot(plan, &arg, NULL, GetLatestSnapshot(), InvalidSnapshot, true, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading medallion.apply_target failed");
	return SPI_processed > 0;
}

/*
 * LockMergeTarget serialises merges into one target, taken before anything
 * else touches the target or its state (plan building and revalidation,
 * first-call registration): two merges into one target then never hold
 * weaker locks on the state table while asking for the ExclusiveLock that
 * serialises them (issue 21's deadlock).  A transaction-level lock of our
 * own (an advisory locktag with a private fourth field): it conflicts with
 * nothing but another merge into the same target, so writers, readers and
 * (auto)vacuum of the target are not affected.
 */
void
LockMergeTarget(Oid target)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) target, 0, MERGE_TARGET_LOCKTAG);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/* CreateState creates the target's merge state table, owned by the target's owner, and registers it. */
Oid
CreateState(const MergeSpec *spec, const MergeArgs *args)
{
	Oid			ns = get_namespace_oid("medallion_state", false);
	char	   *relname = get_rel_name(spec->target);
	const char *suffix = spec->scd_type == 1 ? "tombstones" : "history_events";
	char	   *name = ChooseRelationName(relname, NULL, suffix, ns, false);
	LOCKTAG		tag;
	char	   *qualified;
	HeapTuple	classtup = SearchSysCache1(RELOID, ObjectIdGetDatum(spec->target));
	char	   *owner;
	Oid			state;

	if (!HeapTupleIsValid(classtup))
		elog(ERROR, "cache lookup failed for relation %u", spec->target);

	/*
	 * Two first merges into targets of the same name (a.orders, b.orders) in
	 * open transactions would choose the same state table name, the second
	 * to wait for the first's commit and fail.  The first to claim a name
	 * holds it to its commit; the other takes a name with its target's oid
	 * in it, which nobody else can want.
	 */
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, hash_bytes((const unsigned char *) name, strlen(name)), 0,
						 MERGE_STATE_NAME_LOCKTAG);
	if (LockAcquire(&tag, ExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		name = ChooseRelationName(psprintf("%.*s_%u", NAMEDATALEN - 30, relname, spec->target), NULL, suffix,
								  ns, false);
	qualified = quote_qualified_identifier("medallion_state", name);
	owner = GetUserNameFromId(((Form_pg_class) GETSTRUCT(classtup))->relowner, false);
	ReleaseSysCache(classtup);
	RunAsOwner(psprintf("%s;\nALTER TABLE %s OWNER TO %s", MergeStateTableSql(spec, qualified), qualified,
						quote_identifier(owner)), 0, NULL, NULL, SPI_OK_UTILITY);
	state = get_relname_relid(name, ns);
	RunAsOwner("INSERT INTO medallion.apply_target (target, scd_type, keys, sequence_by, state_table) "
			   "VALUES ($1, $2, $3, $4, $5)", 5,
			   (Oid[]) {OIDOID, INT4OID, TEXTARRAYOID, TEXTARRAYOID, OIDOID},
			   (Datum[]) {ObjectIdGetDatum(spec->target), Int32GetDatum(spec->scd_type),
			   PointerGetDatum(strlist_to_textarray(args->keys)),
			   PointerGetDatum(strlist_to_textarray(args->sequence)), ObjectIdGetDatum(state)},
			   SPI_OK_INSERT);
	return state;
}

/* CheckWritable errors unless the caller may read and write a relation the merge writes. */
void
CheckWritable(Oid relid, Oid target)
{
	AclMode		needed = ACL_SELECT | ACL_INSERT | ACL_UPDATE | ACL_DELETE;
	char		relkind = get_rel_relkind(relid);

	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with oid %u does not exist", relid),
				 errhint("Pass an existing table as the target.")));
	if (relid == target &&
		(get_rel_namespace(relid) == get_namespace_oid("medallion_state", true) ||
		 get_rel_namespace(relid) == get_namespace_oid(MEDALLION_SCHEMA, true) ||
		 get_rel_namespace(relid) == get_namespace_oid(MEDALLION_CHANGES_SCHEMA, true)))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("target %s belongs to pg_medallion", RelationDisplayName(relid)),
				 errhint("Merge into your own tables; merge state, change tables and catalogs are kept by the extension.")));
	if (relid == target && relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("target %s is not a table", RelationDisplayName(relid)),
				 errhint("apply_changes merges into ordinary or partitioned tables.")));
	if (pg_class_aclmask(relid, GetUserId(), needed, ACLMASK_ALL) == needed)
		return;
	if (relid == target)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to merge into %s", RelationDisplayName(target)),
				 errdetail("apply_changes needs SELECT, INSERT, UPDATE and DELETE on the target."),
				 errhint("GRANT SELECT, INSERT, UPDATE, DELETE ON %s to this role.", RelationDisplayName(target))));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to merge into %s: its merge state %s is not writable by this role",
					RelationDisplayName(target), RelationDisplayName(relid)),
			 errdetail("The merge state belongs to the target's owner."),
			 errhint("GRANT SELECT, INSERT, UPDATE, DELETE ON %s to this role, as on the target.",
					 RelationDisplayName(relid))));
}

/* ReadArgs collects the call's arguments; NULL where a value is required is an error. */
void
ReadArgs(FunctionCallInfo fcinfo, MergeArgs *a)
{
	static const char *const required[] = {"target", "source", "keys", "sequence_by"};
	int			i;

	for (i = 0; i < 4; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL", required[i]),
					 errhint("apply_changes needs a target, a source, keys and sequence_by.")));
	memset(a, 0, sizeof(MergeArgs));
	a->target = PG_GETARG_OID(0);
	a->source = text_to_cstring(PG_GETARG_TEXT_PP(1));
	a->keys = TextArrayToList(PG_GETARG_DATUM(2), "keys");
	a->sequence = TextArrayToList(PG_GETARG_DATUM(3), "sequence_by");
	if (a->keys == NIL || a->sequence == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must name at least one column", a->keys == NIL ? "keys" : "sequence_by"),
				 errhint("Keys identify a row; sequence_by orders its changes (last columns break ties).")));
	/* The window functions of merge_place.c take one argument per sequence column. */
	if (list_length(a->sequence) > MERGE_SEQUENCE_MAX_COLUMNS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("sequence_by names %d columns, more than the %d apply_changes can order by",
						list_length(a->sequence), MERGE_SEQUENCE_MAX_COLUMNS),
				 errhint("Order by fewer columns, e.g. a timestamp and one tie-breaker.")));
	if (!PG_ARGISNULL(4))
		CheckExpression(a->delete_when = text_to_cstring(PG_GETARG_TEXT_PP(4)), "delete_when");
	if (!PG_ARGISNULL(5))
		CheckExpression(a->truncate_when = text_to_cstring(PG_GETARG_TEXT_PP(5)), "truncate_when");
	if ((a->columns_given = !PG_ARGISNULL(6)))
		a->columns = TextArrayToList(PG_GETARG_DATUM(6), "columns");
	if (!PG_ARGISNULL(7))
		a->except_columns = TextArrayToList(PG_GETARG_DATUM(7), "except_columns");
	if (a->columns_given && !PG_ARGISNULL(7))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pass columns or except_columns, not both"),
				 errhint("columns => lists the applied columns; except_columns => the source columns left out.")));
	if (a->columns_given && a->columns == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("columns must not be empty"),
				 errhint("List the columns to apply, or pass NULL to apply every column the target has.")));
	a->ignore_null_updates = !PG_ARGISNULL(8) && PG_GETARG_BOOL(8);
	a->scd_type = PG_ARGISNULL(9) ? 1 : PG_GETARG_INT32(9);
	if (a->scd_type != 1 && a->scd_type != 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("scd_type must be 1 or 2, not %d", a->scd_type),
				 errhint("1 keeps the current row per key; 2 keeps its history with _valid_from/_valid_to.")));
	if ((a->track_given = !PG_ARGISNULL(10)))
	{
		if (a->scd_type != 2)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("track_history_columns needs scd_type 2"),
					 errhint("Pass scd_type => 2, or leave track_history_columns out.")));
		a->track = TextArrayToList(PG_GETARG_DATUM(10), "track_history_columns");
	}
}

/* medallion_drop_merge_state forgets a target's merge state; true if it had one.  Owner only. */
Datum
medallion_drop_merge_state(PG_FUNCTION_ARGS)
{
	Oid			target = PG_GETARG_OID(0);
	Oid			state = InvalidOid;
	bool		isnull;
	int			spi_nest;

	if (!pg_class_ownercheck(target, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s to drop its merge state", RelationDisplayName(target)),
				 errhint("Run it as the target's owner.")));
	LockMergeTarget(target);
	spi_nest = SpiConnectPinned();
	(void) SpiExecute("SELECT state_table::pg_catalog.oid FROM medallion.apply_target "
							  "WHERE target OPERATOR(pg_catalog.=) $1", 1, (Oid[]) {OIDOID}, (Datum[]) {ObjectIdGetDatum(target)}, false, 1, SPI_OK_SELECT);
	if (SPI_processed == 1)
		state = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SpiFinishPinned(spi_nest);
	if (!OidIsValid(state))
		PG_RETURN_BOOL(false);
	LockRelationOid(state, AccessExclusiveLock);
	RunAsOwner(psprintf("DELETE FROM medallion.apply_target WHERE target OPERATOR(pg_catalog.=) %u::pg_catalog.oid;\n"
						"DROP TABLE IF EXISTS %s",
						target, RelationDisplayName(state)), 0, NULL, NULL, SPI_OK_UTILITY);
	PG_RETURN_BOOL(true);
}
