/*-------------------------------------------------------------------------
 *
 * partition.c
 *	  Change tables are partitioned by RANGE on the writer's full xid, one
 *	  partition per `partition_span` xids, so retention can drop whole
 *	  partitions instead of deleting rows, and reads prune to the xid range
 *	  of the versions they cover.
 *
 * Partitions are created ahead of need by enable_feed and by every tick (in
 * the tick's own short transaction, skipping a feed whose parent is busy).
 * A writer that still finds no partition for its xid creates it itself:
 * CREATE TABLE ... (LIKE parent) then ATTACH PARTITION, which locks the
 * parent in SHARE UPDATE EXCLUSIVE mode only, so readers are never blocked;
 * two writers racing for the same partition serialise on that lock and the
 * second finds the first one's partition after the lock is granted.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "capture/partition.h"

#include "base/catalog.h"
#include "base/objects.h"
#include "base/spi.h"
#include "base/xid.h"
#include "base/export.h"

#include "access/brin.h"
#include "access/genam.h"
#include "access/table.h"
#include "access/transam.h"
#include "catalog/partition.h"
#include "catalog/pg_am.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(medallion_ensure_partitions);

/* ChangePartitionName returns the name of a feed's partition number `chunk`. */
static char *
ChangePartitionName(int32 feed_id, int64 chunk)
{
	return psprintf("_feed%d_p" INT64_FORMAT, feed_id, chunk);
}

/* CreateChangePartition creates partition `chunk` unless it exists; returns its oid (Invalid if busy and nowait). */
static Oid
CreateChangePartition(const FeedRow *feed, int64 chunk, bool nowait)
{
	Oid			schema = MedallionChangesSchemaOid();
	char	   *name = ChangePartitionName(feed->feed_id, chunk);
	Oid			partition;
	char	   *parent_name;
	char	   *qualified;
	StringInfoData sql;

	if (nowait)
	{
		if (!ConditionalLockRelationOid(feed->change_table, ShareUpdateExclusiveLock))
			return InvalidOid;
	}
	else
		LockRelationOid(feed->change_table, ShareUpdateExclusiveLock);

	/* Somebody may have created it while we waited for the lock. */
	partition = get_relname_relid(name, schema);
	if (OidIsValid(partition))
		return partition;

	parent_name = quote_qualified_identifier(MEDALLION_CHANGES_SCHEMA,
											 get_rel_name(feed->change_table));
	qualified = quote_qualified_identifier(MEDALLION_CHANGES_SCHEMA, name);

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE TABLE %s (LIKE %s); ", qualified, parent_name);
	appendStringInfo(&sql, "ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM ("
					 INT64_FORMAT ") TO (" INT64_FORMAT "); ",
					 parent_name, qualified,
					 chunk * feed->partition_span, (chunk + 1) * feed->partition_span);

	/*
	 * Building a BRIN index on the empty table summarised block range 0 as
	 * empty, so every statement writing there would rewrite that summary
	 * (a new _xid each time).  Unsummarised, the range costs inserts nothing
	 * and scans read it whole, as they do the growing last range anyway.
	 */
	appendStringInfo(&sql, "SELECT pg_catalog.brin_desummarize_range(i.indexrelid, 0) "
					 "FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.indexrelid "
					 "JOIN pg_catalog.pg_am a ON a.oid OPERATOR(pg_catalog.=) c.relam "
					 "WHERE i.indrelid OPERATOR(pg_catalog.=) %s::pg_catalog.regclass "
					 "AND a.amname OPERATOR(pg_catalog.=) 'brin'",
					 quote_literal_cstr(qualified));

	RunAsOwner(sql.data, 0, NULL, NULL, SPI_OK_SELECT);

	partition = get_relname_relid(name, schema);
	if (!OidIsValid(partition))
		elog(ERROR, "change partition %s vanished after creation", qualified);
	return partition;
}

/*
 * ChangePartitionFor returns the partition of a feed's change table that holds
 * changes written by `xid`, creating it if `create`; InvalidOid if it does not
 * exist and `create` is false.
 */
Oid
ChangePartitionFor(const FeedRow *feed, int64 xid, bool create)
{
	int64		chunk = xid / feed->partition_span;
	char	   *name = ChangePartitionName(feed->feed_id, chunk);
	Oid			partition = get_relname_relid(name, MedallionChangesSchemaOid());

	/* Only a partition of this feed's change table: never another table that took the name. */
	if (OidIsValid(partition) &&
		(!get_rel_relispartition(partition) || get_partition_parent(partition, true) != feed->change_table))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("relation %s is not a partition of the change table of table %s",
						RelationDisplayName(partition), RelationDisplayName(feed->source)),
				 errhint("Rename or drop that relation; names of the form _feed<id>_p<n> in %s belong to the feeds.",
						 MEDALLION_CHANGES_SCHEMA)));
	if (OidIsValid(partition) || !create)
		return partition;
	return CreateChangePartition(feed, chunk, false);
}

/*
 * EnsureChangePartitions makes sure the partitions for `xid` and the span
 * after it exist; false if one is missing because the change table was busy
 * (nowait).
 */
bool
EnsureChangePartitions(const FeedRow *feed, int64 xid, bool nowait)
{
	int64		chunk = xid / feed->partition_span;
	int64		c;
	bool		all = true;

	for (c = chunk; c <= chunk + 1; c++)
	{
		if (OidIsValid(get_relname_relid(ChangePartitionName(feed->feed_id, c),
										 MedallionChangesSchemaOid())))
			continue;
		all &= OidIsValid(CreateChangePartition(feed, c, nowait));
	}
	return all;
}

/*
 * The xid below which no trigger feed needs a partition the tick has not
 * made yet, as this process last found it, and when: until the clock reaches
 * it, a tick has no partition upkeep to do.  A feed enabled meanwhile made
 * its own partitions for the xids around it (enable_feed); a writer that
 * still finds none creates its own.  Rechecked at least every
 * PARTITION_RECHECK_MS all the same.
 */
#define PARTITION_RECHECK_MS 10000
static int64 partitions_ensured_below = 0;
static TimestampTz partitions_checked_at = 0;

/*
 * EnsureNextPartitions creates the partitions every trigger feed will need
 * next (those for next_xid and the span after); called by each tick, so
 * writers rarely have to.  Feeds whose change table is busy are skipped (the
 * next tick retries).  Logical feeds' partitions are made by pull.
 */
void
EnsureNextPartitions(int64 next_xid)
{
	int			spi_nest;
	List	   *feed_ids = NIL;
	ListCell   *lc;
	uint64		i;
	int64		below = PG_INT64_MAX;
	MemoryContext outer = CurrentMemoryContext;
	TimestampTz now = GetCurrentTimestamp();

	if (next_xid < partitions_ensured_below &&
		!TimestampDifferenceExceeds(partitions_checked_at, now, PARTITION_RECHECK_MS))
		return;

	spi_nest = SpiConnectPinned();
	(void) SpiExecute("SELECT feed_id FROM medallion.feed WHERE mode OPERATOR(pg_catalog.=) 'trigger'", 0, NULL, NULL,
					  true, 0, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int32		feed_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
														  SPI_tuptable->tupdesc, 1, &isnull));
		MemoryContext spi = MemoryContextSwitchTo(outer);

		feed_ids = lappend_int(feed_ids, feed_id);
		MemoryContextSwitchTo(spi);
	}
	SpiFinishPinned(spi_nest);

	foreach(lc, feed_ids)
	{
		FeedRow		feed;

		if (!LookupFeedById(lfirst_int(lc), &feed))
			continue;
		/* A feed skipped as busy is checked again by the next tick. */
		if (!EnsureChangePartitions(&feed, next_xid, true))
			below = 0;
		/* From the start of the span after next_xid's, it needs the one after that. */
		below = Min(below, (next_xid / feed.partition_span + 1) * feed.partition_span);
	}
	partitions_ensured_below = below;
	partitions_checked_at = now;
}

/* medallion_ensure_partitions is EnsureNextPartitions as SQL (0.1.0's PL/pgSQL _tick calls it). */
Datum
medallion_ensure_partitions(PG_FUNCTION_ARGS)
{
	EnsureNextPartitions(CurrentFullXid());
	PG_RETURN_VOID();
}

/*
 * Where the summarising of each change partition's BRIN index stopped, per
 * process (the resident ticker's): ranges below next_block are summarised.
 */
typedef struct SummarizedUpTo
{
	Oid			index;
	BlockNumber next_block;
} SummarizedUpTo;

static List *summarized = NIL;	/* of SummarizedUpTo *, in TopMemoryContext */

/* SummarizedEntry returns the memo of an index, adding one at block 0. */
static SummarizedUpTo *
SummarizedEntry(Oid index)
{
	ListCell   *lc;
	SummarizedUpTo *entry;
	MemoryContext old;

	foreach(lc, summarized)
		if (((SummarizedUpTo *) lfirst(lc))->index == index)
			return lfirst(lc);
	old = MemoryContextSwitchTo(TopMemoryContext);
	entry = palloc0(sizeof(SummarizedUpTo));
	entry->index = index;
	summarized = lappend(summarized, entry);
	MemoryContextSwitchTo(old);
	return entry;
}

/*
 * At most this many block ranges of one index per pass (16k pages at 16 per
 * range): a bulk load is summarised over several passes, and the ticker
 * gets back to closing versions in between.
 */
#define SUMMARIZE_RANGES_PER_PASS 1024

/*
 * SummarizePartition summarises the filled block ranges of one partition's
 * BRIN indexes; skips it if busy.  Adds the time spent summarising to
 * *summarize_us.
 */
static void
SummarizePartition(Oid partition, int64 *summarize_us)
{
	Relation	heap;
	List	   *indexes;
	ListCell   *lc;
	BlockNumber nblocks;

	/* What brin_summarize_range takes: never wait for DDL or retention. */
	if (!ConditionalLockRelationOid(partition, ShareUpdateExclusiveLock))
		return;
	heap = table_open(partition, NoLock);
	nblocks = RelationGetNumberOfBlocks(heap);
	indexes = RelationGetIndexList(heap);
	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), ShareUpdateExclusiveLock);
		SummarizedUpTo *entry;
		BlockNumber ppr;

		if (index->rd_rel->relam != BRIN_AM_OID)
		{
			index_close(index, ShareUpdateExclusiveLock);
			continue;
		}
		ppr = BrinGetPagesPerRange(index);
		entry = SummarizedEntry(RelationGetRelid(index));
		if (entry->next_block > nblocks)
			entry->next_block = 0;	/* a new relfilenode (TRUNCATE): start over */
		/* Only ranges writers have left: the last one still filling stays unsummarised (free to insert into). */
		if (entry->next_block + ppr <= nblocks && nblocks - entry->next_block > ppr)
		{
			TimestampTz start = GetCurrentTimestamp();
			int			ranges = 0;

			while (entry->next_block + ppr <= nblocks && nblocks - entry->next_block > ppr &&
				   ranges++ < SUMMARIZE_RANGES_PER_PASS)
			{
				(void) DirectFunctionCall2(brin_summarize_range, ObjectIdGetDatum(RelationGetRelid(index)),
										   Int64GetDatum((int64) entry->next_block));
				entry->next_block += ppr;
			}
			*summarize_us += GetCurrentTimestamp() - start;
		}
		index_close(index, ShareUpdateExclusiveLock);
	}
	table_close(heap, NoLock);
}

/*
 * SummarizeFilledRanges summarises the block ranges of every feed's newest
 * change partition that writers have filled, so a read of a small version
 * range skips them (BRIN leaves new ranges unsummarised until a VACUUM).
 * Run by the resident ticker in a transaction of its own, about ten times a
 * second while versions close; busy partitions wait for the next time.
 * *summarize_us gets the time spent summarising (the rest is the pass's
 * overhead, which grows with the number of feeds).
 */
void
SummarizeFilledRanges(int64 *summarize_us)
{
	List	   *feed_ids = NIL;
	ListCell   *lc;
	int			spi_nest;
	uint64		i;
	int64		next_xid = CurrentFullXid();
	MemoryContext outer = CurrentMemoryContext;

	spi_nest = SpiConnectPinned();
	(void) SpiExecute("SELECT feed_id FROM medallion.feed", 0, NULL, NULL, true, 0, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		MemoryContext spi = MemoryContextSwitchTo(outer);

		feed_ids = lappend_int(feed_ids, DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
																	 SPI_tuptable->tupdesc, 1, &isnull)));
		MemoryContextSwitchTo(spi);
	}
	SpiFinishPinned(spi_nest);
	foreach(lc, feed_ids)
	{
		FeedRow		feed;
		Oid			partition;

		if (!LookupFeedById(lfirst_int(lc), &feed))
			continue;
		partition = ChangePartitionFor(&feed, next_xid, false);
		if (OidIsValid(partition))
			SummarizePartition(partition, summarize_us);
	}
}
