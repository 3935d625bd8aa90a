/*-------------------------------------------------------------------------
 *
 * privilege.c
 *	  What runs as whom (docs/design.md): switching to the extension owner
 *	  or a table's owner in a security-restricted operation, pinning
 *	  search_path, the checks that keep other roles' code (domains, casts
 *	  to json) out of elevated and foreign sessions, and the cursor guards
 *	  that code runs between.
 *
 * Invariants: every switch is undone by its End* call or by (sub)transaction
 * abort; elevated code sees search_path = pg_catalog, pg_temp; the flag
 * InOwnDdl() is set only while our own DDL runs, so the event triggers
 * leave it alone, and is reset on error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "base/privilege.h"

#include "base/objects.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/transam.h"
#include "catalog/namespace.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/portal.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/syscache.h"

/* Set while our own DDL runs (RunAsOwner): the event triggers leave it alone. */
static bool in_own_ddl = false;

/* InOwnDdl says whether the DDL now running is ours (RunAsOwner), not a user's. */
bool
InOwnDdl(void)
{
	return in_own_ddl;
}

/* SetInOwnDdl sets the flag and returns its previous value, to restore on exit and on error. */
bool
SetInOwnDdl(bool value)
{
	bool		was = in_own_ddl;

	in_own_ddl = value;
	return was;
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

