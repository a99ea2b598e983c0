import { fail } from '@tsmfs/protocol';

// POSIX ACLs (acl(5)) as Linux keeps them: the entries, their xattr form, and the rules
// of Linux's fs/posix_acl.c (validity, equivalence with a mode, the mask a new node gets,
// the permission walk), written from acl(5) and the kernel's documented behaviour.

export const ACL_USER_OBJ = 0x01;
export const ACL_USER = 0x02;
export const ACL_GROUP_OBJ = 0x04;
export const ACL_GROUP = 0x08;
export const ACL_MASK = 0x10;
export const ACL_OTHER = 0x20;

/** The id of entries that name nobody (e_id of owner, owning group, mask, other). */
const ACL_UNDEFINED_ID = 0xffff_ffff;
/** The xattr form's version (posix_acl_xattr_header.a_version). */
const ACL_XATTR_VERSION = 2;

export const ACL_ACCESS_XATTR = 'system.posix_acl_access';
export const ACL_DEFAULT_XATTR = 'system.posix_acl_default';

export interface AclEntry {
  tag: number;
  /** rwx as 4/2/1. */
  perm: number;
  /** uid or gid of ACL_USER / ACL_GROUP entries; absent on the others. */
  id?: number;
}

/** A whole ACL, entries in acl(5)'s order: owner, users by uid, owning group, groups by gid, mask, other. */
export type Acl = AclEntry[];

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

/** Whether an xattr name is one of the two ACLs (handled here, not stored as an xattr). */
export function isAclXattr(name: string): boolean {
  return name === ACL_ACCESS_XATTR || name === ACL_DEFAULT_XATTR;
}

/**
 * The kernel's xattr form (posix_acl_from_xattr): u32 version 2, then per entry u16 tag,
 * u16 perm, u32 id, little-endian. A header alone is "no ACL" (null). Errors as Linux:
 * EINVAL for a torn size, EOPNOTSUPP for another version; then the ACL must be valid.
 */
export function decodeAclXattr(value: Uint8Array): Acl | null {
  const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (buf.length < 4) throw fail('EINVAL', 'ACL shorter than its header');
  if (buf.readUInt32LE(0) !== ACL_XATTR_VERSION) throw fail('ENOTSUP', 'ACL xattr version');
  if ((buf.length - 4) % 8 !== 0) throw fail('EINVAL', 'ACL size is not a whole number of entries');
  const acl: Acl = [];
  for (let at = 4; at < buf.length; at += 8) {
    const tag = buf.readUInt16LE(at);
    const entry: AclEntry = { tag, perm: buf.readUInt16LE(at + 2) };
    if (tag === ACL_USER || tag === ACL_GROUP) entry.id = buf.readUInt32LE(at + 4);
    acl.push(entry);
  }
  if (acl.length === 0) return null;
  checkValid(acl);
  return acl;
}

export function encodeAclXattr(acl: Acl): Buffer {
  const buf = Buffer.alloc(4 + 8 * acl.length);
  buf.writeUInt32LE(ACL_XATTR_VERSION, 0);
  acl.forEach((e, k) => {
    buf.writeUInt16LE(e.tag, 4 + 8 * k);
    buf.writeUInt16LE(e.perm, 6 + 8 * k);
    buf.writeUInt32LE(e.id ?? ACL_UNDEFINED_ID, 8 + 8 * k);
  });
  return buf;
}

/**
 * posix_acl_valid: one owner, users, one owning group, groups, a mask (required once
 * anything is named), one other, in that order, perms within rwx. Named ids must also be
 * ascending and distinct (setfacl sorts them so; two entries for one uid would make the
 * answer depend on their order).
 */
function checkValid(acl: Acl): void {
  const order = [ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_GROUP, ACL_MASK, ACL_OTHER];
  let rank = -1;
  let lastId = -1;
  let named = false;
  for (const e of acl) {
    if (e.perm & ~7) throw fail('EINVAL', 'ACL permission beyond rwx');
    const r = order.indexOf(e.tag);
    if (r < 0) throw fail('EINVAL', `ACL tag ${e.tag}`);
    const repeatable = e.tag === ACL_USER || e.tag === ACL_GROUP;
    if (r < rank || (r === rank && !repeatable)) throw fail('EINVAL', 'ACL entries out of order');
    if (r > rank) lastId = -1;
    if (repeatable) {
      if (e.id === undefined || e.id === ACL_UNDEFINED_ID || e.id <= lastId) throw fail('EINVAL', 'ACL names an id twice or out of order');
      lastId = e.id;
      named = true;
    }
    rank = r;
  }
  const has = (tag: number) => acl.some((e) => e.tag === tag);
  if (!has(ACL_USER_OBJ) || !has(ACL_GROUP_OBJ) || !has(ACL_OTHER)) throw fail('EINVAL', 'ACL without owner, group or other');
  if (named && !has(ACL_MASK)) throw fail('EINVAL', 'ACL with named entries needs a mask');
}

function perm(acl: Acl, tag: number): number | undefined {
  return acl.find((e) => e.tag === tag)?.perm;
}

/**
 * posix_acl_equiv_mode: the rwx bits the ACL stands for (the mask, if any, as the group
 * class), and whether the mode alone says it all (no mask, nothing named).
 */
export function aclMode(acl: Acl): { mode: number; equivalent: boolean } {
  const group = perm(acl, ACL_MASK) ?? perm(acl, ACL_GROUP_OBJ)!;
  const mode = (perm(acl, ACL_USER_OBJ)! << 6) | (group << 3) | perm(acl, ACL_OTHER)!;
  return { mode, equivalent: !acl.some((e) => e.tag === ACL_MASK || e.tag === ACL_USER || e.tag === ACL_GROUP) };
}

/** What of an access ACL the mode does not hold, or null when the mode holds all of it. */
export function extendedPart(acl: Acl): ExtendedAcl | null {
  if (aclMode(acl).equivalent) return null;
  return { group: perm(acl, ACL_GROUP_OBJ)!, named: acl.filter((e) => e.tag === ACL_USER || e.tag === ACL_GROUP).map((e) => ({ ...e })) };
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
