/*-------------------------------------------------------------------------
 *
 * objects.h
 *	  The extension's own objects (objects.c) and the vocabulary of change
 *	  rows every module shares.
 *
 * A *feed* captures the changes of one source table into its *change
 * table* (schema medallion_changes): the source's columns, then
 * CHANGE_META_COLUMNS metadata columns (_xid, _seq, _change_type, _role,
 * _app).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_BASE_OBJECTS_H
#define MEDALLION_BASE_OBJECTS_H

#define MEDALLION_SCHEMA			"medallion"
#define MEDALLION_CHANGES_SCHEMA	"medallion_changes"

/* Change tables hold the source's columns, then these metadata columns: _xid, _seq, _change_type, _role, _app. */
#define CHANGE_META_COLUMNS 5

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

extern char *RelationDisplayName(Oid relid);
extern Oid	RelationOwner(Oid relid);
extern Oid	MedallionSchemaOid(void);
extern Oid	MedallionChangesSchemaOid(void);
extern Oid	MedallionExtensionOwner(void);
extern Oid	MedallionChangeTypeOid(void);
extern Oid	MedallionChangeTypeLabel(ChangeType type);
extern Oid	MedallionChangeSeqOid(void);

#endif							/* MEDALLION_BASE_OBJECTS_H */
