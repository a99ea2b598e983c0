import { type Acl, ACL_GROUP, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER, ACL_USER, ACL_USER_OBJ, type AclEntry, aclMode, aclPerm } from '@tsmfs/protocol';

// The master's side of POSIX ACLs: what of an access ACL is stored beside the mode, and
// Linux's permission walk (fs/posix_acl.c). The entries and their xattr form: @tsmfs/protocol.

/**
 * An access ACL beyond what the mode says. Owner, mask and other are the mode's bits
 * (the group class of a file with an extended ACL *is* its mask, so chmod changes the mask
 * and nothing else, as acl(5) asks); what is left is the owning group's entry and the
 * named users and groups. An ACL the mode says entirely is not stored at all.
 */
export interface ExtendedAcl {
  group: number;
  /** ACL_USER entries by uid, then ACL_GROUP entries by gid. */
  named: AclEntry[];
}

/** What of an access ACL the mode does not hold, or null when the mode holds all of it. */
export function extendedPart(acl: Acl): ExtendedAcl | null {
  if (aclMode(acl).equivalent) return null;
  return { group: aclPerm(acl, ACL_GROUP_OBJ)!, named: acl.filter((e) => e.tag === ACL_USER || e.tag === ACL_GROUP).map((e) => ({ ...e })) };
}

/** The whole access ACL of a node with mode `mode` and extended part `ext`. */
export function accessAcl(mode: number, ext: ExtendedAcl): Acl {
  return [
    { tag: ACL_USER_OBJ, perm: (mode >> 6) & 7 },
    ...ext.named.filter((e) => e.tag === ACL_USER),
    { tag: ACL_GROUP_OBJ, perm: ext.group },
    ...ext.named.filter((e) => e.tag === ACL_GROUP),
    { tag: ACL_MASK, perm: (mode >> 3) & 7 },
    { tag: ACL_OTHER, perm: mode & 7 },
  ];
}

/** Who asks, as permission checks see it. */
export interface AclCaller {
  uid: number;
  inGroup(gid: number): boolean;
}

/**
 * posix_acl_permission for a caller who is not the owner (the owner class is the mode's,
 * checked before): a named user entry, else every group entry that matches (the owning
 * group's and named groups'; one granting all of `want` suffices), each limited by the
 * mask; a caller matching a group entry but granted by none is refused, anyone else gets
 * other. `mode`'s group bits are the mask.
 */
export function aclGrants(ext: ExtendedAcl, mode: number, ownerGid: number, caller: AclCaller, want: number): boolean {
  const mask = (mode >> 3) & 7;
  const masked = (p: number) => (p & mask & want) === want;
  for (const e of ext.named) if (e.tag === ACL_USER && e.id === caller.uid) return masked(e.perm);
  let found = false;
  const groups: [number, number][] = [[ownerGid, ext.group], ...ext.named.filter((e) => e.tag === ACL_GROUP).map((e): [number, number] => [e.id!, e.perm])];
  for (const [gid, p] of groups) {
    if (!caller.inGroup(gid)) continue;
    found = true;
    if ((p & want) === want) return masked(p);
  }
  return !found && (mode & 7 & want) === want;
}
