import type { Cred } from '@tsmfs/protocol';
import { type Metadata, TYPE_CODE } from './metadata.js';

/** access(2) mask bits. */
export const R_OK = 4;
export const W_OK = 2;
export const X_OK = 1;

export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;
export const S_ISVTX = 0o1000;
export const S_IXGRP = 0o010;

export function isRoot(cred: Cred): boolean {
  return cred.uid === 0;
}

export function inGroup(cred: Cred, gid: number): boolean {
  return cred.gid === gid || cred.groups.includes(gid);
}

export function isOwnerOrRoot(md: Metadata, inode: number, cred: Cred): boolean {
  return cred.uid === 0 || cred.uid === md.uid[inode];
}

/**
 * generic_permission as Linux does it: the owner class alone decides for the owner,
 * the group class for group members, others otherwise. Root passes everything except
 * execute on a non-directory without any x bit.
 */
export function permits(md: Metadata, inode: number, cred: Cred, mask: number): boolean {
  if (mask === 0) return true;
  const mode = md.mode[inode]!;
  if (cred.uid === 0) {
    return !(mask & X_OK) || md.type[inode] === TYPE_CODE.dir || (mode & 0o111) !== 0;
  }
  let bits: number;
  if (cred.uid === md.uid[inode]) bits = mode >> 6;
  else if (inGroup(cred, md.gid[inode]!)) bits = mode >> 3;
  else bits = mode;
  return (bits & mask & 7) === mask;
}

/** The sticky-directory rule: in a +t dir only the file's owner, the dir's owner or root may remove or rename. */
export function stickyForbids(md: Metadata, dir: number, victim: number, cred: Cred): boolean {
  if (!(md.mode[dir]! & S_ISVTX) || cred.uid === 0) return false;
  return cred.uid !== md.uid[victim] && cred.uid !== md.uid[dir];
}

/**
 * fs.protected_hardlinks = 1 (the default on Linux): a user may hard-link only files it
 * owns, or regular non-setuid files it can read and write.
 */
export function mayHardlink(md: Metadata, inode: number, cred: Cred): boolean {
  if (isOwnerOrRoot(md, inode, cred)) return true;
  const mode = md.mode[inode]!;
  if (md.type[inode] !== TYPE_CODE.file) return false;
  if (mode & S_ISUID) return false;
  if ((mode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP)) return false;
  return permits(md, inode, cred, R_OK | W_OK);
}

/**
 * What a write, truncate or chown by `cred` leaves of the setuid/setgid bits of a
 * non-directory (Linux's should_remove_suid / setattr_should_drop_sgid): setuid goes,
 * setgid goes when it means "setgid executable" (group x set).
 */
export function modeWithoutPrivs(mode: number): number {
  let m = mode & ~S_ISUID;
  if ((m & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP)) m &= ~S_ISGID;
  return m;
}

/**
 * The mode after a write or truncate by `cred` (Linux's setattr_should_drop_suidgid):
 * nothing changes for root (CAP_FSETID); anyone else drops setuid, and setgid when it
 * is "setgid executable" or the writer is not in the file's group.
 */
export function modeAfterWrite(mode: number, gid: number, cred: Cred): number {
  if (isRoot(cred)) return mode;
  let m = mode & ~S_ISUID;
  if (m & S_IXGRP || !inGroup(cred, gid)) m &= ~S_ISGID;
  return m;
}
