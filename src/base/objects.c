/*-------------------------------------------------------------------------
 *
 * objects.c
 *	  The extension's own objects, found by name: its schemas, its owner,
 *	  the change_type enum, the change sequence; and how relations are
 *	  named in messages and generated SQL.
 *
 * Everything here is a syscache or index lookup: cheap enough for every
 * call, never per row.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "base/objects.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/proc.h"
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

/*
 * MedallionExtensionOwner returns the role that owns the extension: it owns
 * change tables too.  Every switch to the owner asks, several times per call
 * of a flow or a consume: the answer is kept for the rest of the command
 * (same transaction, same command id: a DROP, CREATE or REASSIGN OWNED in
 * between advances the command id).
 */
Oid
MedallionExtensionOwner(void)
{
	static LocalTransactionId kept_lxid = InvalidLocalTransactionId;
	static CommandId kept_cid = InvalidCommandId;
	static Oid	kept_owner = InvalidOid;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			owner = InvalidOid;
	bool		in_transaction = IsTransactionState() && MyProc != NULL;

	if (in_transaction && kept_lxid == MyProc->lxid && kept_cid == GetCurrentCommandId(false) &&
		OidIsValid(kept_owner))
		return kept_owner;

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
	if (in_transaction)
	{
		kept_lxid = MyProc->lxid;
		kept_cid = GetCurrentCommandId(false);
		kept_owner = owner;
	}
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

