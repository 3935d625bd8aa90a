/*-------------------------------------------------------------------------
 *
 * decoder.c
 *	  The logical decoding output plugin: pg_create_logical_replication_slot
 *	  ('s', 'pg_medallion') makes a slot whose changes are JSON objects, one
 *	  per row change, for pg_recvlogical, connectors and (next) the
 *	  extension's own logical feeds.
 *
 * One line per change:
 *   {"xid":N,"lsn":"X/X","commit_lsn":"X/X","commit_time":"...",
 *    "table":"schema.name","change":"insert|update|delete|truncate",
 *    "new":{...},"old":{...}}
 * "old" is the whole old row when the table's REPLICA IDENTITY is FULL;
 * otherwise "old_key" holds the identity columns, when PostgreSQL logs
 * them (a delete, an update of the key); an unchanged TOASTed value
 * of an update is taken from "old" when present, else it is left out and
 * named in "unchanged_toast".  A truncate lists its tables, one line each.
 * Numbers and booleans are JSON numbers and booleans, json/jsonb embedded,
 * everything else a string in the type's text form.
 *
 * Options are checked strictly (an unknown one is an error):
 *   include-xid, include-timestamp (booleans, default true),
 *   exclude-schemas (comma-separated schema names not to write).
 * Each change is built in a memory context reset after it is written.
 *
 * Changes written by medallion.pull into change tables carry the origin
 * DoNotReplicateId and are filtered out before the reorder buffer queues
 * them: decoding never pays for the extension's own derived rows.  Inside
 * pull the plugin runs in binary mode (decoder.h): changes go straight to
 * pull's sink, no text is made.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "logical/decoder.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "replication/output_plugin.h"
#include "utils/builtins.h"
#include "utils/varlena.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/rel.h"
#include "catalog/pg_class.h"

extern PGDLLEXPORT void _PG_output_plugin_init(OutputPluginCallbacks *cb);

/* Per-slot state: options and the per-change memory context. */
typedef struct DecoderState
{
	MemoryContext change_context;
	bool		include_xid;
	bool		include_timestamp;
	List	   *exclude_schemas;	/* schema names whose tables are not written */
	DecoderSink *sink;			/* binary mode (pull), or NULL */
} DecoderState;

static DecoderSink *next_sink = NULL;

/* DecoderSetSink makes decoding contexts started from now on feed `sink` (NULL: text). */
void
DecoderSetSink(DecoderSink *sink)
{
	next_sink = sink;
}

/* DecoderStartup parses the options strictly and sets up the per-change context. */
static void
DecoderStartup(LogicalDecodingContext *ctx, OutputPluginOptions *opt, bool is_init)
{
	DecoderState *state = palloc0(sizeof(DecoderState));
	ListCell   *lc;

	state->change_context = AllocSetContextCreate(ctx->context, "pg_medallion decoder change",
												  ALLOCSET_DEFAULT_SIZES);
	state->include_xid = true;
	state->include_timestamp = true;
	state->sink = next_sink;
	foreach(lc, ctx->output_plugin_options)
	{
		DefElem    *elem = lfirst(lc);
		bool	   *target = NULL;

		if (strcmp(elem->defname, "include-xid") == 0)
			target = &state->include_xid;
		else if (strcmp(elem->defname, "include-timestamp") == 0)
			target = &state->include_timestamp;
		else if (strcmp(elem->defname, "exclude-schemas") == 0)
		{
			if (elem->arg == NULL || !SplitIdentifierString(pstrdup(strVal(elem->arg)), ',', &state->exclude_schemas))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"exclude-schemas\" needs a comma-separated list of schema names"),
						 errhint("For example 'audit,staging'.")));
			continue;
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" is not recognized by the pg_medallion output plugin", elem->defname),
					 errhint("Valid options are include-xid, include-timestamp and exclude-schemas.")));
		if (elem->arg == NULL)
			*target = true;
		else if (!parse_bool(strVal(elem->arg), target))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" needs a boolean, not \"%s\"", elem->defname, strVal(elem->arg)),
					 errhint("Pass true or false.")));
	}
	ctx->output_plugin_private = state;
	opt->output_type = OUTPUT_PLUGIN_TEXTUAL_OUTPUT;
	opt->receive_rewrites = false;
}

/* DecoderShutdown releases the per-change context. */
static void
DecoderShutdown(LogicalDecodingContext *ctx)
{
	DecoderState *state = ctx->output_plugin_private;

	MemoryContextDelete(state->change_context);
}

/* DecoderBegin and DecoderCommit write nothing: every line carries its transaction's identity. */
static void
DecoderBegin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
}

static void
DecoderCommit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr commit_lsn)
{
}

/* AppendValue appends one column value as JSON. */
static void
AppendValue(StringInfo out, Oid type, Datum value)
{
	Oid			outfunc;
	bool		varlena;
	char	   *text;

	getTypeOutputInfo(type, &outfunc, &varlena);
	text = OidOutputFunctionCall(outfunc, value);
	switch (getBaseType(type))
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			/* NaN and Infinity are not JSON numbers. */
			if (strpbrk(text, "0123456789") != NULL && strchr(text, 'N') == NULL && strchr(text, 'I') == NULL)
			{
				appendStringInfoString(out, text);
				return;
			}
			break;
		case BOOLOID:
			appendStringInfoString(out, strcmp(text, "t") == 0 ? "true" : "false");
			return;
		case JSONOID:
		case JSONBOID:
			appendStringInfoString(out, text);
			return;
		default:
			break;
	}
	escape_json(out, text);
}

/*
 * AppendTuple appends {"col":value,...}; with `fallback` (the old row), an
 * unchanged TOASTed value of the new row is taken from it, else the column
 * is left out and listed in *unchanged.
 */
static void
AppendTuple(StringInfo out, TupleDesc desc, HeapTuple tuple, HeapTuple fallback, List **unchanged,
			bool skip_nulls)
{
	int			i;
	bool		first = true;

	appendStringInfoChar(out, '{');
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);
		bool		isnull;
		Datum		value;

		if (attr->attisdropped || attr->attnum < 0)
			continue;
		value = heap_getattr(tuple, i + 1, desc, &isnull);
		/* A TOAST pointer into the user table cannot be followed while decoding: never output one. */
		if (!isnull && attr->attlen == -1 && VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(value)) && !unchanged)
			continue;
		if (!isnull && attr->attlen == -1 && VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(value)) && unchanged)
		{
			/* Not rewritten by the update: the WAL has no new copy of it. */
			bool		old_null = true;

			if (fallback)
				value = heap_getattr(fallback, i + 1, desc, &old_null);
			if (fallback == NULL || (!old_null && VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(value))))
			{
				*unchanged = lappend(*unchanged, NameStr(attr->attname));
				continue;
			}
			isnull = old_null;
		}
		if (isnull && skip_nulls)
			continue;
		if (!first)
			appendStringInfoChar(out, ',');
		first = false;
		escape_json(out, NameStr(attr->attname));
		appendStringInfoChar(out, ':');
		if (isnull)
			appendStringInfoString(out, "null");
		else
			AppendValue(out, attr->atttypid, value);
	}
	appendStringInfoChar(out, '}');
}

/* AppendHeader appends the fields every line starts with. */
static void
AppendHeader(StringInfo out, DecoderState *state, ReorderBufferTXN *txn, XLogRecPtr lsn, Relation rel,
			 const char *change)
{
	appendStringInfoChar(out, '{');
	if (state->include_xid)
		appendStringInfo(out, "\"xid\":%u,", txn->xid);
	appendStringInfo(out, "\"lsn\":\"%X/%X\",\"commit_lsn\":\"%X/%X\",", LSN_FORMAT_ARGS(lsn),
					 LSN_FORMAT_ARGS(txn->final_lsn));
	if (state->include_timestamp)
	{
		appendStringInfoString(out, "\"commit_time\":");
		escape_json(out, timestamptz_to_str(txn->xact_time.commit_time));
		appendStringInfoChar(out, ',');
	}
	appendStringInfoString(out, "\"table\":");
	escape_json(out, quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												RelationGetRelationName(rel)));
	appendStringInfo(out, ",\"change\":\"%s\"", change);
}

/* Excluded says whether a relation's schema is in the exclude-schemas option. */
static bool
Excluded(DecoderState *state, Relation rel)
{
	ListCell   *lc;
	char	   *schema;

	if (state->exclude_schemas == NIL)
		return false;
	schema = get_namespace_name(RelationGetNamespace(rel));
	foreach(lc, state->exclude_schemas)
		if (strcmp(lfirst(lc), schema) == 0)
			return true;
	return false;
}

/* DecoderChange writes one row change. */
static void
DecoderChange(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, Relation rel, ReorderBufferChange *change)
{
	DecoderState *state = ctx->output_plugin_private;
	MemoryContext old = MemoryContextSwitchTo(state->change_context);
	TupleDesc	desc = RelationGetDescr(rel);
	HeapTuple	newtup = change->data.tp.newtuple ? &change->data.tp.newtuple->tuple : NULL;
	HeapTuple	oldtup = change->data.tp.oldtuple ? &change->data.tp.oldtuple->tuple : NULL;
	const char *kind;
	List	   *unchanged = NIL;

	if (state->sink)
	{
		state->sink->change(state->sink, txn, rel, change);
		MemoryContextSwitchTo(old);
		MemoryContextReset(state->change_context);
		return;
	}
	if (Excluded(state, rel))
	{
		MemoryContextSwitchTo(old);
		return;
	}
	switch (change->action)
	{
		case REORDER_BUFFER_CHANGE_INSERT:
			kind = "insert";
			break;
		case REORDER_BUFFER_CHANGE_UPDATE:
			kind = "update";
			break;
		case REORDER_BUFFER_CHANGE_DELETE:
			kind = "delete";
			break;
		default:
			MemoryContextSwitchTo(old);
			return;
	}

	OutputPluginPrepareWrite(ctx, true);
	AppendHeader(ctx->out, state, txn, change->lsn, rel, kind);
	if (newtup)
	{
		appendStringInfoString(ctx->out, ",\"new\":");
		AppendTuple(ctx->out, desc, newtup, oldtup, &unchanged, false);
	}
	if (oldtup && rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL)
	{
		appendStringInfoString(ctx->out, ",\"old\":");
		AppendTuple(ctx->out, desc, oldtup, NULL, NULL, false);
	}
	else if (oldtup)
	{
		/* Only the replica identity's columns were logged: the rest would read as false NULLs. */
		appendStringInfoString(ctx->out, ",\"old_key\":");
		AppendTuple(ctx->out, desc, oldtup, NULL, NULL, true);
	}
	if (unchanged != NIL)
	{
		ListCell   *lc;

		appendStringInfoString(ctx->out, ",\"unchanged_toast\":[");
		foreach(lc, unchanged)
		{
			if (foreach_current_index(lc) > 0)
				appendStringInfoChar(ctx->out, ',');
			escape_json(ctx->out, lfirst(lc));
		}
		appendStringInfoChar(ctx->out, ']');
	}
	appendStringInfoChar(ctx->out, '}');
	OutputPluginWrite(ctx, true);

	MemoryContextSwitchTo(old);
	MemoryContextReset(state->change_context);
}

/* DecoderTruncate writes one line per truncated table. */
static void
DecoderTruncate(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, int nrelations, Relation relations[],
				ReorderBufferChange *change)
{
	DecoderState *state = ctx->output_plugin_private;
	MemoryContext old = MemoryContextSwitchTo(state->change_context);
	int			i;

	for (i = 0; i < nrelations; i++)
	{
		if (state->sink)
		{
			state->sink->truncate(state->sink, txn, relations[i]);
			continue;
		}
		if (Excluded(state, relations[i]))
			continue;
		OutputPluginPrepareWrite(ctx, true);
		AppendHeader(ctx->out, state, txn, change->lsn, relations[i], "truncate");
		appendStringInfoChar(ctx->out, '}');
		OutputPluginWrite(ctx, true);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(state->change_context);
}

/* DecoderFilterByOrigin drops pull's own writes (origin DoNotReplicateId) before they are queued. */
static bool
DecoderFilterByOrigin(LogicalDecodingContext *ctx, RepOriginId origin_id)
{
	return origin_id == DoNotReplicateId;
}

/* _PG_output_plugin_init makes the library usable as a logical decoding output plugin. */
void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
	cb->startup_cb = DecoderStartup;
	cb->begin_cb = DecoderBegin;
	cb->change_cb = DecoderChange;
	cb->truncate_cb = DecoderTruncate;
	cb->commit_cb = DecoderCommit;
	cb->shutdown_cb = DecoderShutdown;
	cb->filter_by_origin_cb = DecoderFilterByOrigin;
}
