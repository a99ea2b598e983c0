import { fail } from './status.js';

// POSIX ACLs (acl(5)) as Linux keeps them: the entries, their xattr form (what travels as
// system.posix_acl_* between the mount and the master), validity and the mode an ACL stands
// for, written from acl(5) and Linux's fs/posix_acl.c. The master's storage and permission
// walk: master/src/acl/; the client reads a default ACL to check a re-sent create (resend.ts).

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

export function aclPerm(acl: Acl, tag: number): number | undefined {
  return acl.find((e) => e.tag === tag)?.perm;
}

/**
 * posix_acl_equiv_mode: the rwx bits the ACL stands for (the mask, if any, as the group
 * class), and whether the mode alone says it all (no mask, nothing named).
 */
export function aclMode(acl: Acl): { mode: number; equivalent: boolean } {
  const group = aclPerm(acl, ACL_MASK) ?? aclPerm(acl, ACL_GROUP_OBJ)!;
  const mode = (aclPerm(acl, ACL_USER_OBJ)! << 6) | (group << 3) | aclPerm(acl, ACL_OTHER)!;
  return { mode, equivalent: !acl.some((e) => e.tag === ACL_MASK || e.tag === ACL_USER || e.tag === ACL_GROUP) };
}

