/*-------------------------------------------------------------------------
 *
 * logical.c
 *	  Logical feeds: changes decoded from the WAL by the output plugin
 *	  (decoder.c) through the database's slot, stored into the same change
 *	  tables as trigger feeds by medallion.pull().
 *
 * Exactly once without two-phase commit: a pull decodes the slot
 * in-process (pull.c), writes the change rows and its LSN watermark
 * (medallion.logical_slot.stored_lsn) in the caller's transaction, and the
 * slot is confirmed up to the stored watermark only at the start of the
 * next pull, after that transaction committed.  A crash in between decodes
 * again what was stored, and pull skips every transaction that committed
 * before the watermark.  Pulls serialise on the slot's catalog row; the
 * slot's own lifecycle is in slot.c, the background puller in puller.c.
 *
 * Versions stay one clock: change rows carry the *pull's* xid, so a pulled
 * change belongs to the version the pull committed in, through the same
 * snapshot ticks as trigger captures (invariants 1-3 hold as they do for
 * triggers; a logical change lands in a version after its own commit).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "logical/logical.h"

#include "base/objects.h"
#include "base/spi.h"
#include "logical/pull.h"
#include "logical/slot.h"
#include "base/export.h"
#include "base/result.h"

#include "nodes/value.h"
#include "parser/parse_func.h"
#include "miscadmin.h"
#include "utils/acl.h"

#include "access/xlog.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "replication/logical.h"
#include "replication/slot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/varlena.h"

PG_FUNCTION_INFO_V1(medallion_pull);
PG_FUNCTION_INFO_V1(medallion_oldest_unpulled_for_status);
PG_FUNCTION_INFO_V1(medallion_oldest_unpulled);


/*
 * LogicalCheckSource errors unless a table can have a logical feed: WAL at
 * logical level, full pre-images, not partitioned.
 */
void
LogicalCheckSource(Relation rel)
{
	if (wal_level < WAL_LEVEL_LOGICAL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("logical feeds need wal_level = logical"),
				 errhint("Set wal_level = logical in postgresql.conf and restart, or use mode 'trigger'.")));
	CheckPluginAllowed();
	if (rel->rd_rel->relreplident != REPLICA_IDENTITY_FULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s needs REPLICA IDENTITY FULL for a logical feed",
						RelationDisplayName(RelationGetRelid(rel))),
				 errdetail("Without it the WAL holds no complete pre-images of updates and deletes."),
				 errhint("ALTER TABLE %s REPLICA IDENTITY FULL;", RelationDisplayName(RelationGetRelid(rel)))));
	if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("logical feeds of partitioned tables are not supported yet"),
				 errhint("Use mode 'trigger' for partitioned tables.")));
}

/*
 * medallion_pull stores the decoded changes of every logical feed of the
 * database into their change tables, in the caller's transaction, and
 * returns per feed how many change rows it stored.
 */
Datum
medallion_pull(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *slot = SlotName();
	int64		max_changes = PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0);
	PullState	ps;
	LogicalDecodingContext *volatile ctx = NULL;
	volatile XLogRecPtr end = InvalidXLogRecPtr;
	volatile int64 total = 0;

	if (!PG_ARGISNULL(0) && max_changes < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_changes must be at least 1"),
				 errhint("Pass NULL to pull everything decoded so far.")));
	MaterializeResult(fcinfo, 0);

	CheckLogicalFeedsHaveSlot();
	if (RunAsOwner("SELECT 1 FROM medallion.logical_slot", 0, NULL, NULL, SPI_OK_SELECT) == 0)
		return (Datum) 0;		/* no logical feed ever: nothing to pull */
	PullStateInit(&ps, false);
	/* One pull at a time: the second waits here, then sees what the first stored. */
	ps.stored_lsn = ReadStoredLsn(true);
	if (SlotHolder(slot) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("replication slot \"%s\" is in use by process %d", slot, SlotHolder(slot)),
				 errdetail("The background puller (pg_medallion.logical_worker) or another pull is storing the logical feeds."),
				 errhint("With the background puller on, changes are stored continuously; turn it off to pull by hand.")));
	CheckSlotNotLost(slot);
	LoadPullFeeds(&ps);

	PG_TRY();
	{
		int64		pull_xid;
		int			i;

		ctx = PullDecoderStart(&ps, slot);
		end = PullDecode(ctx, &ps, max_changes);
		PullDecoderStop(ctx);
		ctx = NULL;

		/* Rows carry the pull's own xid: they belong to the version the pull commits in. */
		pull_xid = (int64) U64FromFullTransactionId(GetTopFullTransactionId());
		for (i = 0; i < ps.nfeeds; i++)
		{
			Datum		values[2];
			bool		nulls[2] = {false, false};
			int64		n = StorePullFeed(&ps.feeds[i], pull_xid);

			values[0] = ObjectIdGetDatum(ps.feeds[i].feed.source);
			values[1] = Int64GetDatum(n);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			total += n;
		}
	}
	PG_FINALLY();
	{
		if (ctx != NULL || MyReplicationSlot != NULL)
			PullDecoderStop(ctx);
		ReleasePullFeeds(&ps);
	}
	PG_END_TRY();

	/* The watermark moves with the rows, in this transaction; the slot follows at the next pull. */
	if (end > ps.stored_lsn && (total > 0 || end - ps.stored_lsn >= PULL_RECORD_SKIPPED_WAL))
		WriteStoredLsn(end);
	return (Datum) 0;
}

/*
 * medallion_oldest_unpulled returns the commit time of the oldest
 * transaction with changes to a logical feed that no pull stored yet (NULL:
 * none).  It decodes the slot up to that transaction, storing nothing.
 * While another process holds the slot (the background puller, which
 * stores continuously) it cannot look and returns NULL.
 */
Datum
medallion_oldest_unpulled(PG_FUNCTION_ARGS)
{
	char	   *slot = SlotName();
	PullState	ps;
	LogicalDecodingContext *volatile ctx = NULL;

	if (RunAsOwner("SELECT 1 FROM medallion.logical_slot", 0, NULL, NULL, SPI_OK_SELECT) == 0)
		PG_RETURN_NULL();
	if (SlotHolder(slot) != 0)
		PG_RETURN_NULL();
	PullStateInit(&ps, true);
	ps.stored_lsn = ReadStoredLsn(false);
	CheckSlotNotLost(slot);
	LoadPullFeeds(&ps);
	PG_TRY();
	{
		ctx = PullDecoderStart(&ps, slot);
		(void) PullDecode(ctx, &ps, 0);
	}
	PG_FINALLY();
	{
		PullDecoderStop(ctx);
		ReleasePullFeeds(&ps);
	}
	PG_END_TRY();
	if (ps.oldest_commit == 0)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(ps.oldest_commit);
}

/*
 * medallion_oldest_unpulled_for_status is oldest_unpulled_commit for the
 * view medallion.logical_status, which everyone may read: roles that may not
 * execute oldest_unpulled_commit() (it takes the slot and decodes WAL) get
 * NULL without anything being touched.
 */
Datum
medallion_oldest_unpulled_for_status(PG_FUNCTION_ARGS)
{
	Oid			fn = LookupFuncName(list_make2(makeString(MEDALLION_SCHEMA), makeString("oldest_unpulled_commit")),
									0, NULL, true);

	if (!OidIsValid(fn) || pg_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
		PG_RETURN_NULL();
	return medallion_oldest_unpulled(fcinfo);
}
