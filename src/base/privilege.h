/*-------------------------------------------------------------------------
 *
 * privilege.h
 *	  What runs as whom (privilege.c): identity switches, the pinned
 *	  search_path, and the checks on other roles' code.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_BASE_PRIVILEGE_H
#define MEDALLION_BASE_PRIVILEGE_H

/* An identity switch: what BeginAsRole saved for EndAsRole. */
typedef struct OwnerSwitch
{
	Oid			save_userid;
	int			save_sec;
	int			save_nestlevel;
	Oid			switched_to;
} OwnerSwitch;

struct PortalData;

extern void BeginAsRole(Oid role, OwnerSwitch *sw);
extern void BeginAsOwner(OwnerSwitch *sw);
extern void EndAsRole(OwnerSwitch *sw);
#define EndAsOwner(sw) EndAsRole(sw)
extern void AsTableOwnerAgain(OwnerSwitch *sw, Oid role);
extern void OwnerAgain(OwnerSwitch *sw);
extern int	BeginPinnedPath(void);
extern void EndPinnedPath(int nestlevel);
extern bool InOwnDdl(void);
extern bool SetInOwnDdl(bool value);

extern void CheckSourceReadable(Oid source);
extern bool TypeRunsOnlyTrustedCode(Oid type);
extern bool FunctionOwnedBySuperuser(Oid funcid);
extern bool TypeHasUntrustedJsonCast(Oid type);
extern void CheckJsonReadRunsNoForeignCode(Oid rowtype, Oid table_owner, Oid source);

extern void GuardCursor(struct PortalData *portal);
extern void ReleaseCursorGuard(struct PortalData *portal);
extern void CheckCursorUntouched(struct PortalData *portal, uint64 position);

#endif							/* MEDALLION_BASE_PRIVILEGE_H */
