/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Lookups of the extension's own objects and of the feed catalog, and
 *	  the privilege checks every entry point shares.
 *
 * Lookups by name go through the syscache (cheap hash lookups); reads of
 * medallion.feed go through SPI, and callers on hot paths cache the result
 * (see capture.c), so nothing here runs per row.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_medallion.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "catalog/pg_proc.h"
#include "access/transam.h"
#include "parser/parse_coerce.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "access/table.h"
#include "access/relation.h"
#include "access/genam.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/guc.h"
#include "utils/portal.h"

static const char *const change_type_labels[CHANGE_TYPE_COUNT] = {
	"insert", "update_preimage", "update_postimage", "delete", "truncate"
};

/* RelationDisplayName returns a relation's quoted, schema-qualified name for messages and SQL. */
char *
RelationDisplayName(Oid relid)
{
	char	   *relname = get_rel_name(relid);

	if (relname == NULL)
		return psprintf("(dropped relation %u)", relid);
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), relname);
}

/* RelationOwner returns the owner of a relation (errors if it is gone). */
Oid
RelationOwner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with oid %u does not exist", relid),
				 errhint("The table was dropped; pass an existing one.")));
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/* MedallionSchemaOid returns the oid of schema medallion, or errors if the extension is missing. */
Oid
MedallionSchemaOid(void)
{
	Oid			oid = get_namespace_oid(MEDALLION_SCHEMA, true);

	if (!OidIsValid(oid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"pg_medallion\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION pg_medallion.")));
	return oid;
}

/* MedallionChangesSchemaOid returns the oid of schema medallion_changes. */
Oid
MedallionChangesSchemaOid(void)
{
	Oid			oid = get_namespace_oid(MEDALLION_CHANGES_SCHEMA, true);

	if (!OidIsValid(oid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("schema \"%s\" is missing", MEDALLION_CHANGES_SCHEMA),
				 errhint("Reinstall the extension pg_medallion.")));
	return oid;
}

/* MedallionExtensionOwner returns the role that owns the extension: it owns change tables too. */
Oid
MedallionExtensionOwner(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			owner = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("pg_medallion"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	if (!OidIsValid(owner))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"pg_medallion\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION pg_medallion.")));
	return owner;
}

/* MedallionChangeTypeOid returns the oid of type medallion.change_type. */
Oid
MedallionChangeTypeOid(void)
{
	Oid			typoid = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
										 CStringGetDatum("change_type"),
										 ObjectIdGetDatum(MedallionSchemaOid()));

	if (!OidIsValid(typoid))
		elog(ERROR, "type medallion.change_type is missing");
	return typoid;
}

/* MedallionChangeTypeLabel returns the enum value (a pg_enum oid) of a change type. */
Oid
MedallionChangeTypeLabel(ChangeType type)
{
	Oid			label = GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid,
										ObjectIdGetDatum(MedallionChangeTypeOid()),
										CStringGetDatum(change_type_labels[type]));

	if (!OidIsValid(label))
		elog(ERROR, "label \"%s\" of medallion.change_type is missing", change_type_labels[type]);
	return label;
}

/* MedallionChangeSeqOid returns the oid of sequence medallion.change_seq. */
Oid
MedallionChangeSeqOid(void)
{
	Oid			seq = get_relname_relid("change_seq", MedallionSchemaOid());

	if (!OidIsValid(seq))
		elog(ERROR, "sequence medallion.change_seq is missing");
	return seq;
}

/* FeedHasBrokenColumn says whether medallion.feed has the column broken (0.2.0 and later). */
static bool
FeedHasBrokenColumn(void)
{
	Oid			feed = get_relname_relid("feed", MedallionSchemaOid());

	return OidIsValid(feed) && get_attnum(feed, "broken") != InvalidAttrNumber;
}

/*
 * CheckFeedNotBroken errors if a logical feed is broken: a pull could not
 * store one of its changes (a value that does not convert to a retyped
 * column), stored the other feeds' changes and moved on, and marked this one
 * instead of stopping every logical feed of the database for it.
 */
void
CheckFeedNotBroken(const FeedRow *feed)
{
	char	   *why = NULL;

	if (!feed->broken)
		return;
	{
		Oid			argtypes[1] = {INT4OID};
		Datum		args[1] = {Int32GetDatum(feed->feed_id)};
		OwnerSwitch as_owner;
		MemoryContext outer = CurrentMemoryContext;

		BeginAsOwner(&as_owner);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute_with_args("SELECT broken FROM medallion.feed WHERE feed_id OPERATOR(pg_catalog.=) $1",
								  1, argtypes, args, NULL, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
		{
			char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

			why = v ? MemoryContextStrdup(outer, v) : NULL;
		}
		SPI_finish();
		EndAsOwner(&as_owner);
	}
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("the logical feed of table %s is broken", RelationDisplayName(feed->source)),
			 errdetail("%s", why ? why : "A pull could not store one of its changes."),
			 errhint("Its changes since then were not stored. Disable and enable the feed to capture again.")));
}

/* LookupFeedWhere fills *feed from the first medallion.feed row matching a condition. */
static bool
LookupFeedWhere(const char *condition, Oid argtype, Datum arg, FeedRow *feed)
{
	bool		found = false;
	char	   *query;
	OwnerSwitch as_owner;

	/* broken came with 0.2.0: a library newer than the installed SQL reads false. */
	query = psprintf("SELECT feed_id, source::oid, change_table::oid, enabled_xid, "
					 "partition_span, mode, retained_from, %s FROM medallion.feed WHERE %s",
					 FeedHasBrokenColumn() ? "broken IS NOT NULL" : "false", condition);

	BeginAsOwner(&as_owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(query, 1, &argtype, &arg, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read medallion.feed");
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *mode;

		feed->feed_id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		feed->source = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		feed->change_table = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
		feed->enabled_xid = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
		feed->partition_span = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
		mode = SPI_getvalue(tup, desc, 6);
		strlcpy(feed->mode, mode, sizeof(feed->mode));
		feed->retained_from = DatumGetInt64(SPI_getbinval(tup, desc, 7, &isnull));
		feed->broken = DatumGetBool(SPI_getbinval(tup, desc, 8, &isnull));
		found = true;
	}
	SPI_finish();
	EndAsOwner(&as_owner);
	pfree(query);
	return found;
}

/* LookupFeedBySource fills *feed for a source table; false if it has no feed. */
bool
LookupFeedBySource(Oid source, FeedRow *feed)
{
	return LookupFeedWhere("source OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
						   OIDOID, ObjectIdGetDatum(source), feed);
}

/* LookupFeedById fills *feed for a feed id; false if there is none. */
bool
LookupFeedById(int32 feed_id, FeedRow *feed)
{
	return LookupFeedWhere("feed_id OPERATOR(pg_catalog.=) $1",
						   INT4OID, Int32GetDatum(feed_id), feed);
}

/*
 * CheckSourceReadable errors unless the current user may read every row of
 * the source: SELECT on the table, and no row-level security policy that
 * would filter what this role sees (a feed cannot apply policies to change
 * rows, so it refuses rather than leak).
 */
void
CheckSourceReadable(Oid source)
{
	if (pg_class_aclcheck(source, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read the changes of table %s",
						RelationDisplayName(source)),
				 errdetail("Reading a feed requires SELECT on its source table."),
				 errhint("GRANT SELECT ON the source table to this role.")));

	if (check_enable_rls(source, InvalidOid, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("table %s has row-level security enabled for this role",
						RelationDisplayName(source)),
				 errdetail("A change feed cannot apply row-level security policies to change rows."),
				 errhint("Read the feed as the table owner or as a role with BYPASSRLS.")));
}

/*
 * RunAsOwner runs generated SQL (DDL or catalog DML) through SPI as the
 * extension owner and returns SPI_processed; anything but `expected` is a
 * can't-happen error.  Our own DDL is flagged so the partition event trigger
 * leaves it alone.
 */
uint64
RunAsOwner(const char *sql, int nargs, Oid *argtypes, Datum *args, int expected)
{
	return RunAsRole(MedallionExtensionOwner(), sql, nargs, argtypes, args, expected);
}

/*
 * RunAsRole is RunAsOwner for another role: DML on a user's table (merge
 * state, SCD2 history) runs as that table's owner, so its triggers and
 * rules never run with the extension owner's rights.
 */
uint64
RunAsRole(Oid role, const char *sql, int nargs, Oid *argtypes, Datum *args, int expected)
{
	OwnerSwitch as_owner;
	int			rc;
	uint64		processed;
	bool		was_in_own_ddl = medallion_in_own_ddl;

	BeginAsRole(role, &as_owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* Our own DDL only: a table owner's triggers fired by our DML must not hide their DDL. */
	medallion_in_own_ddl = was_in_own_ddl || role == MedallionExtensionOwner();
	PG_TRY();
	{
		rc = SPI_execute_with_args(sql, nargs, argtypes, args, NULL, false, 0);
	}
	PG_FINALLY();
	{
		/* Also on error: a flag left set would hide every later DDL from the event triggers. */
		medallion_in_own_ddl = was_in_own_ddl;
	}
	PG_END_TRY();
	if (rc != expected)
		elog(ERROR, "generated statement failed (%s): %s", SPI_result_code_string(rc), sql);
	processed = SPI_processed;
	SPI_finish();
	EndAsOwner(&as_owner);
	return processed;
}

/*
 * BeginAsRole runs what follows as `role` in a security-restricted
 * operation with search_path pinned to pg_catalog, pg_temp under a new GUC
 * nest level (pg_ivm's RefreshImmvByOid pattern): names in our SQL resolve
 * to pg_catalog whatever the caller's path holds, and the restricted
 * operation keeps code reached from here from changing the session (SET
 * ROLE, temporary tables).  Undo with EndAsRole; an error undoes both at
 * (sub)transaction abort.
 */
void
BeginAsRole(Oid role, OwnerSwitch *sw)
{
	GetUserIdAndSecContext(&sw->save_userid, &sw->save_sec);
	sw->switched_to = role;
	SetUserIdAndSecContext(role, sw->save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	sw->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/* BeginAsOwner is BeginAsRole for the extension owner: for our own catalog and change tables only. */
void
BeginAsOwner(OwnerSwitch *sw)
{
	BeginAsRole(MedallionExtensionOwner(), sw);
}

/* EndAsRole (EndAsOwner) gives back the caller's identity and settings. */
void
EndAsRole(OwnerSwitch *sw)
{
	AtEOXact_GUC(false, sw->save_nestlevel);
	SetUserIdAndSecContext(sw->save_userid, sw->save_sec);
}

/*
 * AsTableOwnerAgain runs what follows as `role` (the owner of the table whose
 * values are being read), inside a BeginAsRole (search_path stays pinned),
 * for that owner's code met on the way: a cast to json of a column's type, a
 * domain check.  Never the extension owner, and never the caller either: a
 * privileged role reading another role's table must not run that role's code
 * (PostgreSQL runs index expressions and REFRESH MATERIALIZED VIEW as the
 * table's owner for the same reason).  Still a security-restricted operation:
 * that code must not close the cursor we read with (CLOSE ALL would leave us
 * a freed portal), nor change the session.  OwnerAgain switches back.
 */
void
AsTableOwnerAgain(OwnerSwitch *sw, Oid role)
{
	SetUserIdAndSecContext(role, sw->save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
}

void
OwnerAgain(OwnerSwitch *sw)
{
	SetUserIdAndSecContext(sw->switched_to, sw->save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
}

/*
 * BeginPinnedPath pins search_path for SQL of ours run as the caller (event
 * triggers, catalog reads): the caller's own operators and functions must
 * not replace pg_catalog's in it.  Undo with EndPinnedPath.
 */
int
BeginPinnedPath(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

void
EndPinnedPath(int nestlevel)
{
	AtEOXact_GUC(false, nestlevel);
}

/* SpiConnectPinned connects to SPI with search_path pinned (BeginPinnedPath); returns what SpiFinishPinned needs. */
int
SpiConnectPinned(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	return BeginPinnedPath();
}

/* SpiFinishPinned undoes SpiConnectPinned. */
void
SpiFinishPinned(int nestlevel)
{
	SPI_finish();
	EndPinnedPath(nestlevel);
}

/*
 * TypeRunsOnlyTrustedCode says whether converting to `type` through its
 * input function, or casting to it, can run no other role's code: no
 * domain anywhere in it (element of an array, attribute of a composite at
 * any depth, subtype of a range), since a domain's CHECK is its owner's
 * code.  Base types' and enums' I/O functions are C, created by superusers.
 */
bool
TypeRunsOnlyTrustedCode(Oid type)
{
	HeapTuple	tup;
	Form_pg_type form;
	char		typtype;
	Oid			elem;
	Oid			relid;
	bool		trusted = true;

	check_stack_depth();
	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(type));
	if (!HeapTupleIsValid(tup))
		return false;
	form = (Form_pg_type) GETSTRUCT(tup);
	typtype = form->typtype;
	elem = form->typelem;
	relid = form->typrelid;
	ReleaseSysCache(tup);

	switch (typtype)
	{
		case TYPTYPE_DOMAIN:
		case TYPTYPE_PSEUDO:
			return false;
		case TYPTYPE_ENUM:
			return true;
		case TYPTYPE_BASE:
			return !OidIsValid(elem) || TypeRunsOnlyTrustedCode(elem);
		case TYPTYPE_RANGE:
			return TypeRunsOnlyTrustedCode(get_range_subtype(type));
		case TYPTYPE_MULTIRANGE:
			return TypeRunsOnlyTrustedCode(get_multirange_range(type));
		case TYPTYPE_COMPOSITE:
			{
				Relation	rel = relation_open(relid, AccessShareLock);
				TupleDesc	desc = RelationGetDescr(rel);
				int			i;

				for (i = 0; i < desc->natts && trusted; i++)
					if (!TupleDescAttr(desc, i)->attisdropped)
						trusted = TypeRunsOnlyTrustedCode(TupleDescAttr(desc, i)->atttypid);
				relation_close(rel, AccessShareLock);
				return trusted;
			}
		default:
			return false;
	}
}

/*
 * GuardCursor pins a cursor we read from while other roles' code runs
 * between fetches (AsTableOwnerAgain): PL/pgSQL's CLOSE of a refcursor that
 * names it is not a restricted operation, and dropping it would leave us a
 * freed portal.  ReleaseCursorGuard unpins it before we close it; an abort
 * unpins it by itself.
 */
void
GuardCursor(Portal portal)
{
	PinPortal(portal);
}

void
ReleaseCursorGuard(Portal portal)
{
	UnpinPortal(portal);
}

/* CheckCursorUntouched errors if code run between our fetches moved the cursor (FETCH, MOVE): rows would be skipped. */
void
CheckCursorUntouched(Portal portal, uint64 position)
{
	if (portal->portalPos != position || portal->status != PORTAL_READY)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("a cast or domain check of table data moved the cursor pg_medallion reads with"),
				 errhint("Casts to json and domain checks of a fed table's types must not use cursors they did not open.")));
}

/* FunctionOwnedBySuperuser says whether a superuser owns a function: it may run with the extension owner's rights. */
bool
FunctionOwnedBySuperuser(Oid funcid)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		return false;
	owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
	ReleaseSysCache(tup);
	return superuser_arg(owner);
}

/*
 * TypeHasUntrustedJsonCast says whether turning values of `type` into json
 * (to_jsonb) would run a cast to json that a superuser does not own: to_jsonb
 * calls a type's cast to json when it has one, for the type itself, an
 * array's elements and a composite's attributes.
 */
bool
TypeHasUntrustedJsonCast(Oid type)
{
	Oid			funcid = InvalidOid;
	Oid			base = getBaseType(type);
	Oid			elem;
	Oid			relid;

	check_stack_depth();
	if (base >= FirstNormalObjectId &&
		find_coercion_pathway(JSONOID, base, COERCION_EXPLICIT, &funcid) == COERCION_PATH_FUNC &&
		OidIsValid(funcid) && !FunctionOwnedBySuperuser(funcid))
		return true;
	elem = get_element_type(base);
	if (OidIsValid(elem))
		return TypeHasUntrustedJsonCast(elem);
	relid = get_typ_typrelid(base);
	if (OidIsValid(relid))
	{
		Relation	rel = relation_open(relid, AccessShareLock);
		TupleDesc	desc = RelationGetDescr(rel);
		bool		found = false;
		int			i;

		for (i = 0; i < desc->natts && !found; i++)
			if (!TupleDescAttr(desc, i)->attisdropped)
				found = TypeHasUntrustedJsonCast(TupleDescAttr(desc, i)->atttypid);
		relation_close(rel, AccessShareLock);
		return found;
	}
	return false;
}

/*
 * CheckJsonReadRunsNoForeignCode errors unless turning rows of `rowtype`
 * (a fed table's) into jsonb runs no other role's code in the caller's
 * session: either the caller acts for the table's owner (it is their code),
 * or no cast to json of the row's types belongs to anyone but a superuser.
 * Code running in the caller's session could reach the caller's cursors and
 * session locks, whoever it runs as.
 */
void
CheckJsonReadRunsNoForeignCode(Oid rowtype, Oid table_owner, Oid source)
{
	if (is_member_of_role_nosuper(GetUserId(), table_owner) || !TypeHasUntrustedJsonCast(rowtype))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("reading the changes of table %s as jsonb would run another role's cast to json",
					RelationDisplayName(source)),
			 errdetail("A column type of the table has a cast to json owned by a role that is not a superuser."),
			 errhint("Read the feed with its typed reader in medallion_changes, or as a member of the table's owner.")));
}
