/*-------------------------------------------------------------------------
 *
 * capture.c
 *	  The capture trigger: AFTER ... FOR EACH STATEMENT with transition tables.
 *
 * One call per statement reads the transition tuplestores directly (an
 * UPDATE's old and new rows pair up by position) and multi-inserts change
 * rows straight into the change table's partition for the writer's xid.
 * No SPI and no catalog lookups per row: what a statement needs (the feed,
 * the partition, the column map) is cached per trigger relation and dropped
 * by the relcache callback when the source or the change table changes.
 *
 * Order key (_seq): a statement number (order_key.c; another one per 2^20
 * rows), shifted left 20 bits, plus the row's ordinal.  The trigger runs at
 * the end of the statement, while the writer still holds the row locks of
 * every row it changed, so for one row the transaction that changed it
 * first always draws the smaller number, whatever the xids are.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "capture/capture.h"

#include "capture/application.h"
#include "capture/order_key.h"
#include "capture/partition.h"
#include "base/catalog.h"
#include "base/change_bell.h"
#include "base/objects.h"
#include "base/export.h"

#include "access/genam.h"
#include "catalog/partition.h"
#include "access/heapam.h"
#include "catalog/pg_am.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(medallion_capture);
PG_FUNCTION_INFO_V1(medallion_truncate_guard);

#define CAPTURE_BATCH_SIZE 1000

/* What one trigger relation needs to capture a statement; rebuilt after invalidation. */
typedef struct CaptureEntry
{
	Oid			relid;			/* hash key: the relation the trigger fires on */
	bool		valid;
	FeedRow		feed;
	int64		partition_chunk;	/* chunk of `partition`, -1 if none yet */
	Oid			partition;
	int			natts;			/* attributes of the partition's descriptor */
	AttrNumber *source_attnum;	/* per partition attribute: source attnum or 0 */
	int			xid_att;		/* 0-based positions of the metadata columns */
	int			seq_att;
	int			type_att;
	int			role_att;
	int			app_att;
	bool		splice;			/* change rows can be spliced from source tuples: see SpliceChange */
	Oid			change_type_label[CHANGE_TYPE_COUNT];
	Oid			seq_oid;
} CaptureEntry;

/* The state of one statement's capture. */
typedef struct CaptureBatch
{
	CaptureEntry *entry;
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	bool		xid_brin_only;	/* every index is a BRIN on _xid alone: see FlushBatch */
	BlockNumber *last_block;	/* per index: heap block last summarised (fast path) */
	BulkInsertState bistate;
	CommandId	cid;
	TupleTableSlot *slots[CAPTURE_BATCH_SIZE];
	int			nslots;
	Datum	   *values;
	bool	   *nulls;
	int64		xid;
	Oid			role;			/* who writes: stored in every change row (_role) */
	int32		app;			/* and from which application (_app) */
	int64		seq_block;
	int64		ordinal;
} CaptureBatch;

static HTAB *capture_cache = NULL;

/* CaptureInvalidate is the relcache callback: forgets entries that depend on `relid`. */
static void
CaptureInvalidate(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	CaptureEntry *entry;

	if (capture_cache == NULL)
		return;
	hash_seq_init(&status, capture_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (relid == InvalidOid || entry->relid == relid ||
			entry->feed.change_table == relid || entry->partition == relid)
			entry->valid = false;
	}
}

/* CaptureCacheInit creates the cache and registers its invalidation callback, once per backend. */
void
CaptureCacheInit(void)
{
	HASHCTL		ctl;

	if (capture_cache != NULL)
		return;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(CaptureEntry);
	ctl.hcxt = CacheMemoryContext;
	capture_cache = hash_create("pg_medallion capture cache", 64, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	CacheRegisterRelcacheCallback(CaptureInvalidate, (Datum) 0);
}

/*
 * BuildColumnMap maps each partition attribute to the source attribute of the
 * same name, finds the metadata columns, and decides whether change rows can
 * be spliced: the data columns are exactly the source's, in order, with the
 * same storage, and the metadata columns follow them.
 */
static void
BuildColumnMap(CaptureEntry *entry, TupleDesc source_desc, TupleDesc part_desc)
{
	int			i;

	if (entry->source_attnum)
		pfree(entry->source_attnum);
	entry->natts = part_desc->natts;
	entry->source_attnum = MemoryContextAllocZero(CacheMemoryContext,
												  sizeof(AttrNumber) * part_desc->natts);
	entry->xid_att = entry->seq_att = entry->type_att = entry->role_att = entry->app_att = -1;
	for (i = 0; i < part_desc->natts; i++)
	{
		Form_pg_attribute pattr = TupleDescAttr(part_desc, i);
		int			j;

		if (pattr->attisdropped)
			continue;
		if (strcmp(NameStr(pattr->attname), "_xid") == 0)
			entry->xid_att = i;
		else if (strcmp(NameStr(pattr->attname), "_seq") == 0)
			entry->seq_att = i;
		else if (strcmp(NameStr(pattr->attname), "_change_type") == 0)
			entry->type_att = i;
		else if (strcmp(NameStr(pattr->attname), "_role") == 0)
			entry->role_att = i;
		else if (strcmp(NameStr(pattr->attname), "_app") == 0)
			entry->app_att = i;
		else
		{
			for (j = 0; j < source_desc->natts; j++)
			{
				Form_pg_attribute sattr = TupleDescAttr(source_desc, j);

				if (sattr->attisdropped || strcmp(NameStr(sattr->attname), NameStr(pattr->attname)) != 0)
					continue;
				if (getBaseType(sattr->atttypid) != pattr->atttypid)
					ereport(ERROR,
							(errcode(ERRCODE_DATATYPE_MISMATCH),
							 errmsg("column \"%s\" of the change table has type %s, the source column has type %s",
									NameStr(pattr->attname), format_type_be(pattr->atttypid),
									format_type_be(sattr->atttypid)),
							 errdetail("The source table was altered after its feed was enabled."),
							 errhint("Disable and enable the feed again to capture the new layout.")));
				entry->source_attnum[i] = sattr->attnum;
				break;
			}
		}
	}
	if (entry->xid_att < 0 || entry->seq_att < 0 || entry->type_att < 0 || entry->role_att < 0 ||
		entry->app_att < 0)
		elog(ERROR, "a change table partition lacks its metadata columns");

	entry->splice = (part_desc->natts == source_desc->natts + CHANGE_META_COLUMNS &&
					 entry->xid_att == source_desc->natts &&
					 entry->seq_att == source_desc->natts + 1 &&
					 entry->type_att == source_desc->natts + 2 &&
					 entry->role_att == source_desc->natts + 3 &&
					 entry->app_att == source_desc->natts + 4);
	for (i = 0; entry->splice && i < source_desc->natts; i++)
	{
		Form_pg_attribute pattr = TupleDescAttr(part_desc, i);
		Form_pg_attribute sattr = TupleDescAttr(source_desc, i);

		if (sattr->attisdropped || pattr->attisdropped || entry->source_attnum[i] != i + 1 ||
			sattr->attlen != pattr->attlen || sattr->attalign != pattr->attalign ||
			sattr->attbyval != pattr->attbyval)
			entry->splice = false;
	}
}

/*
 * CheckTriggerOwnsFeed errors unless `relid` is the feed's source or one of
 * its partitions: a capture trigger attached elsewhere (by hand, with
 * another feed's id) would write forged changes into that feed.
 */
static void
CheckTriggerOwnsFeed(Oid relid, const FeedRow *feed)
{
	if (relid == feed->source)
		return;
	if (get_rel_relispartition(relid) && list_member_oid(get_partition_ancestors(relid), feed->source))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("table %s is not captured by feed %d", RelationDisplayName(relid), feed->feed_id),
			 errdetail("The feed captures table %s.", RelationDisplayName(feed->source)),
			 errhint("Capture triggers are created by medallion.enable_feed(); drop this trigger.")));
}

/*
 * GetCaptureEntry returns the valid cache entry for relation `relid` (the
 * trigger's relation, or a logical feed's source), building it on a miss.
 */
static CaptureEntry *
GetCaptureEntry(Oid relid, int32 feed_id)
{
	CaptureEntry *entry;
	bool		found;
	int			t;

	CaptureCacheInit();
	entry = hash_search(capture_cache, &relid, HASH_ENTER, &found);
	if (!found)
	{
		entry->valid = false;
		entry->source_attnum = NULL;
	}
	if (entry->valid && entry->feed.feed_id == feed_id)
		return entry;

	/* Invalid until every check passed: an entry left half-built must not skip them next time. */
	entry->valid = false;
	if (!LookupFeedById(feed_id, &entry->feed))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("feed %d of table %s is not in medallion.feed", feed_id, RelationDisplayName(relid)),
				 errhint("Call medallion.disable_feed() and medallion.enable_feed() to repair it.")));
	CheckTriggerOwnsFeed(relid, &entry->feed);
	for (t = 0; t < CHANGE_TYPE_COUNT; t++)
		entry->change_type_label[t] = MedallionChangeTypeLabel((ChangeType) t);
	entry->seq_oid = MedallionChangeSeqOid();
	entry->partition = InvalidOid;
	entry->partition_chunk = -1;
	entry->valid = true;
	return entry;
}

/* OpenPartition opens the change partition for the statement's xid, refreshing the column map if it moved. */
static Relation
OpenPartition(CaptureEntry *entry, Relation source, int64 xid)
{
	int64		chunk = xid / entry->feed.partition_span;
	Relation	rel = NULL;

	if (entry->partition_chunk == chunk && OidIsValid(entry->partition))
		rel = try_table_open(entry->partition, RowExclusiveLock);
	if (rel == NULL)
	{
		Oid			partition = ChangePartitionFor(&entry->feed, xid, true);

		/* Creating a partition may have invalidated the entry: keep the feed, redo the map. */
		rel = table_open(partition, RowExclusiveLock);
		BuildColumnMap(entry, RelationGetDescr(source), RelationGetDescr(rel));
		entry->partition = partition;
		entry->partition_chunk = chunk;
		entry->valid = true;
	}
	return rel;
}

/*
 * AllIndexesAreXidBrin returns whether every index of the partition is a
 * plain BRIN index on _xid (what enable_feed creates).  Then FlushBatch may
 * skip most index insertions: every row of a statement has the same _xid, so
 * one insertion per heap block gives the block range the same summary as
 * one insertion per row.
 */
static bool
AllIndexesAreXidBrin(ResultRelInfo *rri, AttrNumber xid_attnum)
{
	int			i;

	for (i = 0; i < rri->ri_NumIndices; i++)
	{
		Relation	index = rri->ri_IndexRelationDescs[i];
		IndexInfo  *info = rri->ri_IndexRelationInfo[i];

		if (index->rd_rel->relam != BRIN_AM_OID || info->ii_NumIndexAttrs != 1 ||
			info->ii_IndexAttrNumbers[0] != xid_attnum ||
			info->ii_Expressions != NIL || info->ii_Predicate != NIL)
			return false;
	}
	return true;
}

/* BeginBatch prepares one statement's insertion into the change partition. */
static void
BeginBatch(CaptureBatch *batch, CaptureEntry *entry, Relation source, int64 xid, int64 nrows, Oid role,
		   int32 app)
{
	int			i;

	memset(batch, 0, sizeof(CaptureBatch));
	batch->entry = entry;
	batch->xid = xid;
	batch->role = role;
	batch->app = app;
	batch->rel = OpenPartition(entry, source, xid);
	batch->estate = CreateExecutorState();
	batch->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(batch->rri, batch->rel, 1, NULL, 0);
	ExecOpenIndices(batch->rri, false);
	batch->xid_brin_only = AllIndexesAreXidBrin(batch->rri, entry->xid_att + 1);
	batch->last_block = palloc(sizeof(BlockNumber) * Max(batch->rri->ri_NumIndices, 1));
	for (i = 0; i < batch->rri->ri_NumIndices; i++)
		batch->last_block[i] = InvalidBlockNumber;
	batch->cid = GetCurrentCommandId(true);
	batch->bistate = nrows > CAPTURE_BATCH_SIZE ? GetBulkInsertState() : NULL;
	for (i = 0; i < Min(nrows, CAPTURE_BATCH_SIZE); i++)
		batch->slots[i] = MakeSingleTupleTableSlot(RelationGetDescr(batch->rel), &TTSOpsHeapTuple);
	batch->values = palloc(sizeof(Datum) * entry->natts);
	batch->nulls = palloc(sizeof(bool) * entry->natts);
	batch->seq_block = -1;
}

/* FlushBatch writes the buffered change rows and their index entries. */
static void
FlushBatch(CaptureBatch *batch)
{
	ResultRelInfo *rri = batch->rri;
	int			i,
				j;

	if (batch->nslots == 0)
		return;
	table_multi_insert(batch->rel, batch->slots, batch->nslots, batch->cid, 0, batch->bistate);
	for (i = 0; i < batch->nslots; i++)
	{
		TupleTableSlot *slot = batch->slots[i];

		if (batch->xid_brin_only)
		{
			BlockNumber block = ItemPointerGetBlockNumber(&slot->tts_tid);
			Datum		value = Int64GetDatum(batch->xid);
			bool		isnull = false;

			for (j = 0; j < rri->ri_NumIndices; j++)
			{
				if (batch->last_block[j] == block)
					continue;
				index_insert(rri->ri_IndexRelationDescs[j], &value, &isnull, &slot->tts_tid,
							 batch->rel, UNIQUE_CHECK_NO, false, rri->ri_IndexRelationInfo[j]);
				batch->last_block[j] = block;
			}
		}
		else if (rri->ri_NumIndices > 0)
			list_free(ExecInsertIndexTuples(rri, slot, batch->estate, false, false, NULL, NIL));
		ExecClearTuple(slot);
	}
	batch->nslots = 0;
}

/* NextOrderKey returns the next order key of the statement: its number (order_key.c), then the row's ordinal. */
static inline int64
NextOrderKey(CaptureBatch *batch)
{
	if (batch->seq_block < 0 || batch->ordinal >= SEQ_ORDINAL_LIMIT)
	{
		batch->seq_block = DrawStatementNumber(batch->entry->seq_oid);
		batch->ordinal = 0;
	}
	return (batch->seq_block << SEQ_ORDINAL_BITS) | batch->ordinal++;
}

/*
 * SpliceChange returns the change row for a source tuple without deforming
 * it: when the change table's data columns are the source's (entry->splice),
 * a change row is the source tuple's null bitmap and data bytes as they are,
 * followed by the metadata columns (_xid, _seq, _change_type, _role, _app).  Null if the tuple does not fit
 * (fewer attributes than the relation, after ADD COLUMN with a default).
 */
static HeapTuple
SpliceChange(CaptureBatch *batch, MinimalTuple src, int64 seq, Oid type)
{
	TupleDesc	desc = RelationGetDescr(batch->rel);
	int			nsrc = desc->natts - CHANGE_META_COLUMNS;
	bool		hasnull = (src->t_infomask & HEAP_HASNULL) != 0;
	char	   *src_data = (char *) src + src->t_hoff - MINIMAL_TUPLE_OFFSET;
	Size		data_len = src->t_len - (src->t_hoff - MINIMAL_TUPLE_OFFSET);
	Size		hoff;
	Size		off;
	Size		xid_off,
				seq_off,
				type_off,
				role_off,
				app_off;
	Size		len;
	HeapTuple	tuple;
	HeapTupleHeader td;
	int			i;

	if (HeapTupleHeaderGetNatts(src) != nsrc)
		return NULL;

	hoff = MAXALIGN(SizeofHeapTupleHeader + (hasnull ? BITMAPLEN(desc->natts) : 0));
	off = att_align_nominal(data_len, TYPALIGN_DOUBLE);
	xid_off = off;
	off += sizeof(int64);
	seq_off = off;
	off += sizeof(int64);
	off = att_align_nominal(off, TYPALIGN_INT);
	type_off = off;
	off += sizeof(Oid);
	role_off = off;				/* oid and int4: int-aligned like the enum before them */
	off += sizeof(Oid);
	app_off = off;
	off += sizeof(int32);
	len = hoff + off;

	tuple = (HeapTuple) palloc0(HEAPTUPLESIZE + len);
	tuple->t_len = len;
	ItemPointerSetInvalid(&tuple->t_self);
	tuple->t_tableOid = InvalidOid;
	td = (HeapTupleHeader) ((char *) tuple + HEAPTUPLESIZE);
	tuple->t_data = td;
	HeapTupleHeaderSetDatumLength(td, len);
	HeapTupleHeaderSetTypeId(td, desc->tdtypeid);
	HeapTupleHeaderSetTypMod(td, desc->tdtypmod);
	ItemPointerSetInvalid(&td->t_ctid);
	HeapTupleHeaderSetNatts(td, desc->natts);
	td->t_hoff = hoff;
	td->t_infomask = src->t_infomask & (HEAP_HASNULL | HEAP_HASVARWIDTH | HEAP_HASEXTERNAL);
	if (hasnull)
	{
		/* The source's bits, then set bits: metadata is never NULL. */
		memcpy(td->t_bits, src->t_bits, BITMAPLEN(nsrc));
		for (i = nsrc; i < desc->natts; i++)
			td->t_bits[i >> 3] |= (bits8) (1 << (i & 0x07));
	}
	memcpy((char *) td + hoff, src_data, data_len);
	*(int64 *) ((char *) td + hoff + xid_off) = batch->xid;
	*(int64 *) ((char *) td + hoff + seq_off) = seq;
	*(Oid *) ((char *) td + hoff + type_off) = type;
	*(Oid *) ((char *) td + hoff + role_off) = batch->role;
	*(int32 *) ((char *) td + hoff + app_off) = batch->app;
	return tuple;
}

/* AddChange buffers one change row built from a source slot (NULL: all data columns NULL). */
static void
AddChange(CaptureBatch *batch, ChangeType type, TupleTableSlot *source_slot)
{
	CaptureEntry *entry = batch->entry;
	TupleTableSlot *slot = batch->slots[batch->nslots];
	HeapTuple	tuple = NULL;
	int64		seq = NextOrderKey(batch);
	int			i;

	if (source_slot && entry->splice && TTS_IS_MINIMALTUPLE(source_slot))
		tuple = SpliceChange(batch, ((MinimalTupleTableSlot *) source_slot)->mintuple, seq,
							 entry->change_type_label[type]);
	if (tuple == NULL)
	{
		if (source_slot)
			slot_getallattrs(source_slot);
		for (i = 0; i < entry->natts; i++)
		{
			AttrNumber	src = entry->source_attnum[i];

			if (src == 0 || source_slot == NULL)
			{
				batch->values[i] = (Datum) 0;
				batch->nulls[i] = true;
			}
			else
			{
				batch->values[i] = source_slot->tts_values[src - 1];
				batch->nulls[i] = source_slot->tts_isnull[src - 1];
			}
		}
		batch->values[entry->xid_att] = Int64GetDatum(batch->xid);
		batch->nulls[entry->xid_att] = false;
		batch->values[entry->seq_att] = Int64GetDatum(seq);
		batch->nulls[entry->seq_att] = false;
		batch->values[entry->type_att] = ObjectIdGetDatum(entry->change_type_label[type]);
		batch->nulls[entry->type_att] = false;
		batch->values[entry->role_att] = ObjectIdGetDatum(batch->role);
		batch->nulls[entry->role_att] = false;
		batch->values[entry->app_att] = Int32GetDatum(batch->app);
		batch->nulls[entry->app_att] = false;
		tuple = heap_form_tuple(RelationGetDescr(batch->rel), batch->values, batch->nulls);
	}
	ExecStoreHeapTuple(tuple, slot, true);
	if (++batch->nslots == CAPTURE_BATCH_SIZE)
		FlushBatch(batch);
}

/* EndBatch flushes what is left and releases the statement's resources. */
static void
EndBatch(CaptureBatch *batch)
{
	int			i;

	FlushBatch(batch);
	for (i = 0; i < CAPTURE_BATCH_SIZE && batch->slots[i] != NULL; i++)
		ExecDropSingleTupleTableSlot(batch->slots[i]);
	if (batch->bistate)
	{
		FreeBulkInsertState(batch->bistate);
		table_finish_bulk_insert(batch->rel, 0);
	}
	ExecCloseIndices(batch->rri);
	FreeExecutorState(batch->estate);
	table_close(batch->rel, NoLock);
	pfree(batch->values);
	pfree(batch->nulls);
	/* Continuous flows of this database hear of it at commit. */
	ChangeBellNoteCapture();
}

/* BeginRead starts a private scan of a transition table (other triggers may read it too). */
static void
BeginRead(Tuplestorestate *store)
{
	int			ptr = tuplestore_alloc_read_pointer(store, EXEC_FLAG_REWIND);

	tuplestore_select_read_pointer(store, ptr);
	tuplestore_rescan(store);
}

/* CaptureStore adds one change of `type` per row of a transition table. */
static void
CaptureStore(CaptureBatch *batch, Tuplestorestate *store, ChangeType type, TupleDesc desc)
{
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);

	BeginRead(store);
	while (tuplestore_gettupleslot(store, true, false, slot))
		AddChange(batch, type, slot);
	ExecDropSingleTupleTableSlot(slot);
}

/* CaptureUpdate adds a pre-image and a post-image per updated row; old and new rows pair by position. */
static void
CaptureUpdate(CaptureBatch *batch, Tuplestorestate *old_store, Tuplestorestate *new_store, TupleDesc desc)
{
	TupleTableSlot *old_slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	TupleTableSlot *new_slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);

	BeginRead(old_store);
	BeginRead(new_store);
	for (;;)
	{
		bool		has_old = tuplestore_gettupleslot(old_store, true, false, old_slot);
		bool		has_new = tuplestore_gettupleslot(new_store, true, false, new_slot);

		if (has_old != has_new)
			elog(ERROR, "transition tables of an UPDATE differ in length");
		if (!has_old)
			break;
		AddChange(batch, CHANGE_UPDATE_PREIMAGE, old_slot);
		AddChange(batch, CHANGE_UPDATE_POSTIMAGE, new_slot);
	}
	ExecDropSingleTupleTableSlot(old_slot);
	ExecDropSingleTupleTableSlot(new_slot);
}

/*
 * The change writer: the same insertion path for change rows that do not
 * come from a trigger (logical feeds' pull).  `slot` holds a row in the
 * source's current layout (extra trailing attributes are ignored).
 */
struct ChangeWriter
{
	CaptureBatch batch;
};

ChangeWriter *
BeginChangeWriter(const FeedRow *feed, Relation source, int64 xid, int64 nrows, Oid role, int32 app)
{
	ChangeWriter *writer = palloc0(sizeof(ChangeWriter));

	BeginBatch(&writer->batch, GetCaptureEntry(feed->source, feed->feed_id), source, xid, Max(nrows, 1),
			   role, app);
	return writer;
}

void
WriteChange(ChangeWriter *writer, ChangeType type, TupleTableSlot *slot)
{
	AddChange(&writer->batch, type, slot);
}

void
EndChangeWriter(ChangeWriter *writer)
{
	EndBatch(&writer->batch);
	pfree(writer);
}

/* medallion_capture is the trigger function: captures one statement's changes; returns NULL. */
Datum
medallion_capture(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	source;
	TupleDesc	desc;
	CaptureEntry *entry;
	CaptureBatch batch;
	int64		nrows;
	int64		xid;
	MemoryContext statement_cxt;
	MemoryContext oldcxt;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("medallion._capture() must be an AFTER ... FOR EACH STATEMENT trigger"),
				 errhint("Use medallion.enable_feed() to create capture triggers.")));

	source = trigdata->tg_relation;
	desc = RelationGetDescr(source);
	/* The transition tables enable_feed asks for: a trigger made by hand may lack them. */
	if ((TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) && trigdata->tg_newtable == NULL) ||
		(TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) && trigdata->tg_oldtable == NULL) ||
		(TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) &&
		 (trigdata->tg_oldtable == NULL || trigdata->tg_newtable == NULL)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on table %s lacks the transition tables of a capture trigger",
						trigdata->tg_trigger->tgname, RelationDisplayName(RelationGetRelid(source))),
				 errhint("Capture triggers are created by medallion.enable_feed(); drop this trigger.")));

	if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		nrows = 1;
	else if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		nrows = trigdata->tg_newtable ? tuplestore_tuple_count(trigdata->tg_newtable) : 0;
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		nrows = trigdata->tg_newtable ? 2 * tuplestore_tuple_count(trigdata->tg_newtable) : 0;
	else
		nrows = trigdata->tg_oldtable ? tuplestore_tuple_count(trigdata->tg_oldtable) : 0;
	if (nrows == 0)
		return PointerGetDatum(NULL);

	statement_cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_medallion capture",
										  ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(statement_cxt);

	/* Only the triggers enable_feed made (their names, the feed id as only argument) capture. */
	if (trigdata->tg_trigger->tgnargs != 1 ||
		strncmp(trigdata->tg_trigger->tgname, "medallion_capture_", strlen("medallion_capture_")) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on table %s is not a capture trigger of pg_medallion",
						trigdata->tg_trigger->tgname, RelationDisplayName(RelationGetRelid(source))),
				 errhint("Capture triggers are created by medallion.enable_feed(); drop this trigger.")));
	entry = GetCaptureEntry(RelationGetRelid(source), pg_strtoint32(trigdata->tg_trigger->tgargs[0]));
	xid = (int64) U64FromFullTransactionId(GetTopFullTransactionId());
	BeginBatch(&batch, entry, source, xid, nrows, GetUserId(), CurrentApplicationId());

	if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		AddChange(&batch, CHANGE_TRUNCATE, NULL);
	else if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		CaptureStore(&batch, trigdata->tg_newtable, CHANGE_INSERT, desc);
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		CaptureUpdate(&batch, trigdata->tg_oldtable, trigdata->tg_newtable, desc);
	else
		CaptureStore(&batch, trigdata->tg_oldtable, CHANGE_DELETE, desc);

	EndBatch(&batch);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(statement_cxt);
	return PointerGetDatum(NULL);
}

/*
 * A TRUNCATE of a fed partitioned table fires the BEFORE TRUNCATE triggers of
 * the table first, then of its partitions, and the feed records one
 * `truncate` change.  A partition truncated on its own has no change type
 * that says "these rows are gone", so it is refused: the fed table's guard
 * remembers which command it allowed, the partitions' guards check it.
 */
static int32 truncate_allowed_feed = -1;
static FullTransactionId truncate_allowed_xid;
static CommandId truncate_allowed_cid;

/* medallion_truncate_guard is the BEFORE TRUNCATE trigger of fed tables and their partitions. */
Datum
medallion_truncate_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	int32		feed_id;
	FullTransactionId xid;
	CommandId	cid;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event) ||
		trigdata->tg_trigger->tgnargs != 2)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("medallion._truncate_guard() must be a BEFORE TRUNCATE trigger"),
				 errhint("Use medallion.enable_feed() to create capture triggers.")));
	feed_id = pg_strtoint32(trigdata->tg_trigger->tgargs[0]);
	xid = GetTopFullTransactionId();
	cid = GetCurrentCommandId(false);

	if (strcmp(trigdata->tg_trigger->tgargs[1], "fed") == 0)
	{
		truncate_allowed_feed = feed_id;
		truncate_allowed_xid = xid;
		truncate_allowed_cid = cid;
	}
	else if (truncate_allowed_feed != feed_id ||
			 !FullTransactionIdEquals(truncate_allowed_xid, xid) ||
			 truncate_allowed_cid != cid)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot truncate partition %s of a table with a change feed",
						quote_identifier(RelationGetRelationName(trigdata->tg_relation))),
				 errdetail("The feed captures TRUNCATE of the whole partitioned table only."),
				 errhint("DELETE FROM the partition, or TRUNCATE the partitioned table.")));
	return PointerGetDatum(NULL);
}
