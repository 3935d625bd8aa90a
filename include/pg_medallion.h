/*-------------------------------------------------------------------------
 *
 * pg_medallion.h
 *	  Shared declarations of pg_medallion: feeds, the version clock, reads.
 *
 * Vocabulary (see README.md): a *feed* captures the changes of one source
 * table into its *change table*; a *version* is a tick of the extension's
 * clock, recorded as a snapshot in medallion.tick.  The changes of version v
 * are the rows whose writer xid is visible in snapshot(v) and not visible in
 * snapshot(v - 1).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_MEDALLION_H
#define PG_MEDALLION_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/timestamp.h"

/* Names of the extension's schemas and catalog objects. */
#define MEDALLION_SCHEMA			"medallion"
#define MEDALLION_CHANGES_SCHEMA	"medallion_changes"

/* Change tables hold the source's columns, then these metadata columns: _xid, _seq, _change_type, _role, _app. */
#define CHANGE_META_COLUMNS 5

/* Order keys: a statement number (order_key.c) shifted left, plus a row ordinal. */
#define SEQ_ORDINAL_BITS		20
#define SEQ_ORDINAL_LIMIT		(((int64) 1) << SEQ_ORDINAL_BITS)

/* Change types, in the order of the enum medallion.change_type. */
typedef enum ChangeType
{
	CHANGE_INSERT = 0,
	CHANGE_UPDATE_PREIMAGE,
	CHANGE_UPDATE_POSTIMAGE,
	CHANGE_DELETE,
	CHANGE_TRUNCATE,
	CHANGE_TYPE_COUNT
} ChangeType;

/* One row of medallion.feed, as the C code needs it. */
typedef struct FeedRow
{
	int32		feed_id;
	Oid			source;
	Oid			change_table;
	int64		enabled_xid;
	int64		partition_span;
	int64		retained_from;	/* oldest readable version (0: nothing removed yet) */
	bool		broken;			/* a logical feed pull could not store (medallion.feed.broken) */
	char		mode[16];
} FeedRow;

/* One tick of the version clock: a snapshot of full xids and its time. */
typedef struct TickSnapshot
{
	int64		version;
	int64		xmin;
	int64		xmax;
	int			nxip;
	int64	   *xip;			/* sorted ascending */
	TimestampTz committed_at;
} TickSnapshot;

/* An identity switch (catalog.c): what BeginAsRole saved for EndAsRole. */
typedef struct OwnerSwitch
{
	Oid			save_userid;
	int			save_sec;
	int			save_nestlevel;
	Oid			switched_to;
} OwnerSwitch;

/* init.c: settings */
extern int	medallion_tick_interval_ms;
extern char *medallion_database;
extern int	medallion_partition_xids;
extern int	medallion_retention_s;
extern bool medallion_logical_worker;
extern int	medallion_pull_interval_ms;
extern int	medallion_min_retention_s;
extern bool medallion_merge_streaming;

/* catalog.c */
extern char *RelationDisplayName(Oid relid);
extern Oid	MedallionSchemaOid(void);
extern Oid	MedallionChangesSchemaOid(void);
extern Oid	MedallionExtensionOwner(void);
extern Oid	MedallionChangeTypeOid(void);
extern Oid	MedallionChangeTypeLabel(ChangeType type);
extern Oid	MedallionChangeSeqOid(void);
extern bool LookupFeedBySource(Oid source, FeedRow *feed);
extern bool LookupFeedById(int32 feed_id, FeedRow *feed);
extern void CheckSourceReadable(Oid source);
extern void CheckFeedNotBroken(const FeedRow *feed);
extern void BeginAsRole(Oid role, OwnerSwitch *sw);
extern void BeginAsOwner(OwnerSwitch *sw);
extern void EndAsRole(OwnerSwitch *sw);
extern void AsTableOwnerAgain(OwnerSwitch *sw, Oid role);
extern void OwnerAgain(OwnerSwitch *sw);
struct PortalData;
extern void GuardCursor(struct PortalData *portal);
extern void ReleaseCursorGuard(struct PortalData *portal);
extern void CheckCursorUntouched(struct PortalData *portal, uint64 position);
#define EndAsOwner(sw) EndAsRole(sw)
extern int	BeginPinnedPath(void);
extern void EndPinnedPath(int nestlevel);
extern int	SpiConnectPinned(void);
extern void SpiFinishPinned(int nestlevel);
extern uint64 RunAsOwner(const char *sql, int nargs, Oid *argtypes, Datum *args, int expected);
extern uint64 RunAsRole(Oid role, const char *sql, int nargs, Oid *argtypes, Datum *args, int expected);
extern Oid	RelationOwner(Oid relid);
extern bool TypeRunsOnlyTrustedCode(Oid type);
extern bool FunctionOwnedBySuperuser(Oid funcid);
extern bool TypeHasUntrustedJsonCast(Oid type);
extern void CheckJsonReadRunsNoForeignCode(Oid rowtype, Oid table_owner, Oid source);

/* feed.c */
extern bool medallion_in_own_ddl;
extern char *ColumnListSql(TupleDesc desc, bool with_collation);
extern void CreateReaders(const char *reader, int32 feed_id, const char *columns);

/* logical.c */
struct RelationData;
extern void LogicalCheckSource(struct RelationData *rel);
extern void CheckPluginAllowed(void);
extern void LogicalPrepareSlot(void);
extern void LogicalDropSlotIfUnused(void);
extern void SlotInit(void);
extern void OrderKeyInit(void);
extern int64 DrawStatementNumber(Oid seq_oid);
extern void RegisterPullerWorker(void);

/* schema.c */
extern void EvolveFeedSchema(const FeedRow *feed, List *rename, const char *command);

/* partition.c */
extern Oid	ChangePartitionFor(const FeedRow *feed, int64 xid, bool create);
extern void EnsureChangePartitions(const FeedRow *feed, int64 xid, bool nowait);

/* version.c */
extern int64 RequestTick(void);
extern int64 NewestReadableVersion(void);
extern TickSnapshot *LoadTicks(int64 from_version, int64 to_version, int *nticks);
extern bool XidVisibleInTick(const TickSnapshot *tick, int64 xid);
extern int	TickIndexOfXid(const TickSnapshot *ticks, int nticks, int64 xid);
extern int64 CurrentFullXid(void);
extern int64 FeedFirstVersion(const FeedRow *feed);
extern bool TickOnce(int64 *version, char *message, size_t message_size);

/* read.c */
typedef struct RowToJsonb
{
	FmgrInfo	flinfo;
	Datum		meta_keys;		/* text[] of metadata columns to leave out, or 0 */
} JsonbConverter;
extern void InitRowToJsonb(JsonbConverter *conv, Oid rowtype, bool drop_meta);
extern Datum RowToJsonb(JsonbConverter *conv, Datum row);
extern void CheckColumnDefinitions(TupleDesc outdesc, const FeedRow *feed, bool as_json);
extern void CheckRetained(const FeedRow *feed, int64 from);
extern void ReadVersions(FunctionCallInfo fcinfo, const FeedRow *feed, int64 from, int64 to, bool as_json,
						 bool net);

/* ticker.c */
extern void RegisterTickerWorker(void);
extern void TickServiceInit(void);
extern bool TickByTicker(int64 *version);

/* application.c */
extern int32 CurrentApplicationId(void);

/* capture.c */
struct TupleTableSlot;
struct RelationData;
typedef struct ChangeWriter ChangeWriter;
extern void CaptureCacheInit(void);
extern ChangeWriter *BeginChangeWriter(const FeedRow *feed, struct RelationData *source, int64 xid, int64 nrows,
									   Oid role, int32 app);
extern void WriteChange(ChangeWriter *writer, ChangeType type, struct TupleTableSlot *slot);
extern void EndChangeWriter(ChangeWriter *writer);

#endif							/* PG_MEDALLION_H */
