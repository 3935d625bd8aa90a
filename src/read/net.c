/*-------------------------------------------------------------------------
 *
 * net.c
 *	  Net changes (consume/peek with net => true): a range collapsed to its
 *	  effect per primary key, Snowflake-stream style.
 *
 * The rows of the range are sorted by key, then version and order key.
 * Per key, a change either *arrives* (insert, update_postimage) or *leaves*
 * (delete, update_preimage); what counts is the state before the range (the
 * key existed iff its first change leaves, with that image) and after it
 * (exists iff its last change arrives, with that image):
 *
 *	 before  after   emitted
 *	 no      no      nothing                  (insert ... delete)
 *	 no      yes     insert of the final image (insert ... updates)
 *	 yes     no      delete of the first image
 *	 yes     yes     update_preimage + update_postimage, or nothing if equal
 *
 * A TRUNCATE in the range is emitted once (the last one); changes before it
 * no longer matter and no key existed right after it.  Emitted rows carry the
 * version, timestamp and order key of the key's last change, and are ordered
 * by them (pre-image before post-image).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "read/net.h"

#include "base/catalog.h"
#include "base/objects.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "parser/parse_oper.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

/* NetKeysOf fills *keys with the source's primary key columns, or errors if it has none. */
void
NetKeysOf(const FeedRow *feed, NetKeys *keys)
{
	Oid			constraint;
	Bitmapset  *attnos = get_primary_key_attnos(feed->source, false, &constraint);
	Relation	rel;
	StringInfoData select;
	int			member = -1;

	if (attnos == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("net changes need a primary key on table %s", RelationDisplayName(feed->source)),
				 errhint("Add a primary key to the table, or read with net => false.")));

	rel = table_open(feed->source, AccessShareLock);
	initStringInfo(&select);
	keys->nkeys = 0;
	while ((member = bms_next_member(attnos, member)) >= 0)
	{
		AttrNumber	attno = member + FirstLowInvalidHeapAttributeNumber;
		Form_pg_attribute attr = TupleDescAttr(RelationGetDescr(rel), attno - 1);

		if (keys->nkeys == NET_MAX_KEYS)
			elog(ERROR, "primary key has more than %d columns", NET_MAX_KEYS);
		keys->types[keys->nkeys] = getBaseType(attr->atttypid);
		keys->collations[keys->nkeys] = attr->attcollation;
		keys->names[keys->nkeys] = pstrdup(NameStr(attr->attname));
		appendStringInfo(&select, ", c.%s", quote_identifier(NameStr(attr->attname)));
		keys->nkeys++;
	}
	table_close(rel, AccessShareLock);
	keys->select_list = select.data;
}

/* NetWorkDesc returns the output descriptor followed by one column per key column. */
TupleDesc
NetWorkDesc(TupleDesc outdesc, const NetKeys *keys)
{
	TupleDesc	work = CreateTemplateTupleDesc(outdesc->natts + keys->nkeys);
	int			i;

	for (i = 0; i < outdesc->natts; i++)
		TupleDescCopyEntry(work, i + 1, outdesc, i + 1);
	for (i = 0; i < keys->nkeys; i++)
	{
		TupleDescInitEntry(work, outdesc->natts + i + 1, keys->names[i], keys->types[i], -1, 0);
		TupleDescInitEntryCollation(work, outdesc->natts + i + 1, keys->collations[i]);
	}
	return work;
}

/* NetBeginSort starts a sort of work rows by key, then version, then order key. */
Tuplesortstate *
NetBeginSort(TupleDesc workdesc, int nout, const NetKeys *keys)
{
	int			n = keys->nkeys + 2;
	AttrNumber *cols = palloc(sizeof(AttrNumber) * n);
	Oid		   *ops = palloc(sizeof(Oid) * n);
	Oid		   *colls = palloc(sizeof(Oid) * n);
	bool	   *nulls_first = palloc0(sizeof(bool) * n);
	int			i;

	for (i = 0; i < keys->nkeys; i++)
	{
		Oid			eq;
		bool		hashable;

		cols[i] = nout + i + 1;
		get_sort_group_operators(keys->types[i], true, true, false, &ops[i], &eq, NULL, &hashable);
		colls[i] = keys->collations[i];
	}
	cols[n - 2] = nout - 2;		/* _commit_version */
	cols[n - 1] = nout;			/* _change_seq */
	ops[n - 2] = ops[n - 1] = Int8LessOperator;
	colls[n - 2] = colls[n - 1] = InvalidOid;
	return tuplesort_begin_heap(workdesc, n, cols, ops, colls, nulls_first, work_mem, NULL, TUPLESORT_NONE);
}

/* One key's first and last change after the last truncate. */
typedef struct NetGroup
{
	HeapTuple	first;
	HeapTuple	last;
} NetGroup;

/* SameKey returns whether two work rows have equal keys (key columns are never NULL in a group). */
static bool
SameKey(TupleTableSlot *a, HeapTuple b, TupleDesc workdesc, int nout, const NetKeys *keys, FmgrInfo *eqs)
{
	int			i;

	for (i = 0; i < keys->nkeys; i++)
	{
		bool		anull,
					bnull;
		Datum		av = slot_getattr(a, nout + i + 1, &anull);
		Datum		bv = heap_getattr(b, nout + i + 1, workdesc, &bnull);

		if (anull || bnull)
			return false;
		if (!DatumGetBool(FunctionCall2Coll(&eqs[i], keys->collations[i], av, bv)))
			return false;
	}
	return true;
}

/* Arrives returns whether a work row's change makes its key exist (insert or post-image). */
static bool
Arrives(HeapTuple tuple, TupleDesc workdesc, int ndata, Oid insert_label, Oid post_label)
{
	bool		isnull;
	Oid			type = DatumGetObjectId(heap_getattr(tuple, ndata + 1, workdesc, &isnull));

	return type == insert_label || type == post_label;
}

/* Emit puts one output row: the data of `image`, the metadata of `when`, change type `type`. */
static void
Emit(Tuplesortstate *out, TupleTableSlot *outslot, HeapTuple image, HeapTuple when, Oid type,
	 TupleDesc workdesc, int ndata)
{
	TupleDesc	outdesc = outslot->tts_tupleDescriptor;
	int			i;

	ExecClearTuple(outslot);
	for (i = 0; i < ndata; i++)
		outslot->tts_values[i] = heap_getattr(image, i + 1, workdesc, &outslot->tts_isnull[i]);
	outslot->tts_values[ndata] = ObjectIdGetDatum(type);
	outslot->tts_isnull[ndata] = false;
	for (i = ndata + 1; i < outdesc->natts; i++)
		outslot->tts_values[i] = heap_getattr(when, i + 1, workdesc, &outslot->tts_isnull[i]);
	ExecStoreVirtualTuple(outslot);
	tuplesort_puttupleslot(out, outslot);
}

/* SameData returns whether two work rows have identical data columns. */
static bool
SameData(HeapTuple a, HeapTuple b, TupleDesc workdesc, int ndata)
{
	int			i;

	for (i = 0; i < ndata; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(workdesc, i);
		bool		anull,
					bnull;
		Datum		av = heap_getattr(a, i + 1, workdesc, &anull);
		Datum		bv = heap_getattr(b, i + 1, workdesc, &bnull);

		if (anull != bnull)
			return false;
		if (!anull && !datum_image_eq(av, bv, attr->attbyval, attr->attlen))
			return false;
	}
	return true;
}

/* FinishGroup emits the net effect of one key (see the table at the top of this file). */
static void
FinishGroup(NetGroup *g, bool truncated, Tuplesortstate *out, TupleTableSlot *outslot,
			TupleDesc workdesc, int ndata, Oid *labels)
{
	bool		before,
				after;

	if (g->first == NULL)
		return;
	before = !truncated && !Arrives(g->first, workdesc, ndata, labels[CHANGE_INSERT], labels[CHANGE_UPDATE_POSTIMAGE]);
	after = Arrives(g->last, workdesc, ndata, labels[CHANGE_INSERT], labels[CHANGE_UPDATE_POSTIMAGE]);
	if (!before && after)
		Emit(out, outslot, g->last, g->last, labels[CHANGE_INSERT], workdesc, ndata);
	else if (before && !after)
		Emit(out, outslot, g->first, g->last, labels[CHANGE_DELETE], workdesc, ndata);
	else if (before && after && !SameData(g->first, g->last, workdesc, ndata))
	{
		Emit(out, outslot, g->first, g->last, labels[CHANGE_UPDATE_PREIMAGE], workdesc, ndata);
		Emit(out, outslot, g->last, g->last, labels[CHANGE_UPDATE_POSTIMAGE], workdesc, ndata);
	}
}

/*
 * NetEmit reads work rows sorted by key, version and order key, and puts the
 * net changes into `result`, ordered by version, order key and change type.
 */
void
NetEmit(Tuplesortstate *sorted, TupleDesc workdesc, TupleDesc outdesc, const NetKeys *keys,
		int64 trunc_version, int64 trunc_seq, Tuplestorestate *result)
{
	int			nout = outdesc->natts;
	int			ndata = nout - 4;
	Oid			labels[CHANGE_TYPE_COUNT];
	FmgrInfo   *eqs = palloc(sizeof(FmgrInfo) * keys->nkeys);
	AttrNumber	cols[3] = {nout - 2, nout, nout - 3};
	Oid			ops[3];
	Oid			colls[3] = {InvalidOid, InvalidOid, InvalidOid};
	bool		nulls_first[3] = {false, false, false};
	Tuplesortstate *out;
	TupleTableSlot *in = MakeSingleTupleTableSlot(workdesc, &TTSOpsMinimalTuple);
	TupleTableSlot *outslot = MakeSingleTupleTableSlot(outdesc, &TTSOpsVirtual);
	TupleTableSlot *final = MakeSingleTupleTableSlot(outdesc, &TTSOpsMinimalTuple);
	MemoryContext group_cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_medallion net group",
													ALLOCSET_DEFAULT_SIZES);
	MemoryContext outer = CurrentMemoryContext;
	NetGroup	group = {NULL, NULL};
	bool		truncated = trunc_version >= 0;
	Oid			eq,
				lt;
	bool		hashable;
	int			i;

	for (i = 0; i < CHANGE_TYPE_COUNT; i++)
		labels[i] = MedallionChangeTypeLabel((ChangeType) i);
	for (i = 0; i < keys->nkeys; i++)
	{
		get_sort_group_operators(keys->types[i], true, true, false, &lt, &eq, NULL, &hashable);
		fmgr_info(get_opcode(eq), &eqs[i]);
	}
	ops[0] = ops[1] = Int8LessOperator;
	get_sort_group_operators(MedallionChangeTypeOid(), true, true, false, &ops[2], &eq, NULL, &hashable);
	out = tuplesort_begin_heap(outdesc, 3, cols, ops, colls, nulls_first, work_mem, NULL, TUPLESORT_NONE);

	while (tuplesort_gettupleslot(sorted, true, false, in, NULL))
	{
		bool		isnull;
		int64		version = DatumGetInt64(slot_getattr(in, nout - 2, &isnull));
		int64		seq = DatumGetInt64(slot_getattr(in, nout, &isnull));
		Oid			type = DatumGetObjectId(slot_getattr(in, ndata + 1, &isnull));

		if (type == labels[CHANGE_TRUNCATE])
		{
			/* The last truncate is emitted once, as it is. */
			if (version == trunc_version && seq == trunc_seq)
			{
				HeapTuple	t = ExecCopySlotHeapTuple(in);

				Emit(out, outslot, t, t, type, workdesc, ndata);
				heap_freetuple(t);
			}
			continue;
		}
		if (truncated && (version < trunc_version || (version == trunc_version && seq < trunc_seq)))
			continue;			/* wiped out by the truncate */

		if (group.first != NULL && !SameKey(in, group.first, workdesc, nout, keys, eqs))
		{
			MemoryContextSwitchTo(outer);
			FinishGroup(&group, truncated, out, outslot, workdesc, ndata, labels);
			MemoryContextReset(group_cxt);
			group.first = group.last = NULL;
		}
		MemoryContextSwitchTo(group_cxt);
		if (group.first == NULL)
			group.first = ExecCopySlotHeapTuple(in);
		group.last = ExecCopySlotHeapTuple(in);
		MemoryContextSwitchTo(outer);
	}
	FinishGroup(&group, truncated, out, outslot, workdesc, ndata, labels);

	tuplesort_performsort(out);
	while (tuplesort_gettupleslot(out, true, false, final, NULL))
		tuplestore_puttupleslot(result, final);
	tuplesort_end(out);
	MemoryContextDelete(group_cxt);
	ExecDropSingleTupleTableSlot(in);
	ExecDropSingleTupleTableSlot(outslot);
	ExecDropSingleTupleTableSlot(final);
}
