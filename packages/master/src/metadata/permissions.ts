import { type Cred, EATTR, MAX_XATTR_NAME, type Request, fail } from '@tsmfs/protocol';
import { type Metadata, TYPE_CODE } from './metadata.js';
import { aclGrants } from '../acl/posix-acl.js';

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
  return cred.uid === 0 || isOwner(md, inode, cred);
}

/** The caller owns the node, or the node is `noowner` (MooseFS: everyone is its owner). */
function isOwner(md: Metadata, inode: number, cred: Cred): boolean {
  return cred.uid === md.uid[inode] || (md.eattr[inode]! & EATTR.noowner) !== 0;
}

/**
 * generic_permission as Linux does it: the owner class alone decides for the owner; then
 * an access ACL, when the group class (its mask) grants anything (acl_permission_check:
 * with a mask of 0 Linux goes by the mode alone); else the group class for group members,
 * others otherwise. Root passes everything except execute on a non-directory without any
 * x bit.
 */
export function permits(md: Metadata, inode: number, cred: Cred, mask: number): boolean {
  if (mask === 0) return true;
  const mode = md.mode[inode]!;
  if (cred.uid === 0) {
    return !(mask & X_OK) || md.type[inode] === TYPE_CODE.dir || (mode & 0o111) !== 0;
  }
  let bits: number;
  if (isOwner(md, inode, cred)) bits = mode >> 6;
  else {
    const acl = mode & 0o070 ? md.acls.access(inode) : undefined;
    if (acl) return aclGrants(acl, mode, md.gid[inode]!, { uid: cred.uid, inGroup: (gid) => inGroup(cred, gid) }, mask);
    bits = inGroup(cred, md.gid[inode]!) ? mode >> 3 : mode;
  }
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

/**
 * May `cred` change the file's contents: write permission, or a descriptor open for
 * writing (`viaWritableHandle`, which Sessions believes only for an inode the session
 * has open for writing): ftruncate(2) needs nothing beyond its descriptor.
 */
export function mayWrite(md: Metadata, inode: number, cred: Cred, viaWritableHandle = false): boolean {
  return viaWritableHandle || permits(md, inode, cred, W_OK);
}

/**
 * The kernel's "kill-priv" request: a FUSE kernel that did not grant
 * FUSE_CAP_HANDLE_KILLPRIV clears setuid/setgid on a write or truncate itself, by
 * fuse_setattr, as the writer, as a mode change: setuid, and setgid when
 * group-executable, cleared. Recognised as such (not as a chmod) only when the mount marks
 * the setattr as possibly one (`killPrivNotice`: its kernel sends them), it is a regular
 * file and the new mode only clears bits that a write by `cred` clears anyway. Without the
 * mark a non-owner's chmod(2) of such a mode is refused as on ext4 (the mount asks for
 * HANDLE_KILLPRIV, so its kernel never sends a notice).
 */
export function isKillPrivNotice(md: Metadata, inode: number, requested: number, cred: Cred): boolean {
  const mode = md.mode[inode]! & 0o7777;
  const cleared = mode & ~requested;
  const writeClears = mode & ~modeAfterWrite(mode, md.gid[inode]!, cred);
  return md.type[inode] === TYPE_CODE.file && (requested & ~mode) === 0 && cleared !== 0 && (cleared & ~writeClears) === 0;
}

/**
 * setattr's checks in Linux's order: truncate's own (type, then write permission or a
 * descriptor open for writing), then chown, chgrp, chmod, times. A mode change by someone
 * other than the owner or root is refused (EPERM) unless it is a kill-priv notice from a
 * caller who may write the file. Returns whether it is one.
 */
export function checkSetattr(md: Metadata, inode: number, req: Request<'setattr'>): boolean {
  const { cred } = req;
  const owner = isOwnerOrRoot(md, inode, cred);
  if (req.size !== undefined) {
    if (md.isDir(inode)) throw fail('EISDIR');
    if (md.type[inode] !== TYPE_CODE.file) throw fail('EINVAL');
    if (!mayWrite(md, inode, cred, req.viaWritableHandle)) throw fail('EACCES');
  }
  if (req.uid !== undefined && !isRoot(cred) && !(req.uid === md.uid[inode] && cred.uid === md.uid[inode])) {
    throw fail('EPERM', 'chown');
  }
  if (req.gid !== undefined && !isRoot(cred) && !(cred.uid === md.uid[inode] && (req.gid === md.gid[inode] || inGroup(cred, req.gid)))) {
    throw fail('EPERM', 'chgrp');
  }
  const killPriv =
    req.mode !== undefined &&
    req.killPrivNotice === true &&
    !owner &&
    isKillPrivNotice(md, inode, req.mode, cred) &&
    mayWrite(md, inode, cred, req.viaWritableHandle);
  if (req.mode !== undefined && !owner && !killPriv) throw fail('EPERM', 'chmod');
  if ((req.atime !== undefined || req.mtime !== undefined) && !owner) throw fail('EPERM', 'utimes');
  if ((req.atimeNow || req.mtimeNow) && !owner && !permits(md, inode, cred, W_OK)) throw fail('EACCES');
  return killPriv;
}

/**
 * The mode a setattr leaves: a chmod's (setgid dropped when the caller is not in the
 * group); setuid/setgid dropped by a chown of a non-directory; and by a truncate or a
 * kill-priv notice exactly as a write by the caller drops them (so that a notice, which
 * follows the FUSE kernel's older rule, still ends as on ext4).
 */
export function modeAfterSetattr(md: Metadata, inode: number, req: Request<'setattr'>, killPriv: boolean): number {
  const { cred } = req;
  let mode = md.mode[inode]!;
  if (req.mode !== undefined && !killPriv) {
    mode = req.mode & 0o7777;
    if (!isRoot(cred) && !inGroup(cred, req.gid ?? md.gid[inode]!)) mode &= ~S_ISGID;
  } else if (!md.isDir(inode) && (req.uid !== undefined || req.gid !== undefined)) {
    mode = modeWithoutPrivs(mode);
    if (!isRoot(cred) && !inGroup(cred, md.gid[inode]!)) mode &= ~S_ISGID;
  }
  if (killPriv || (req.size !== undefined && req.mode === undefined)) mode = modeAfterWrite(mode, req.gid ?? md.gid[inode]!, cred);
  return mode;
}

/** Namespaces tsmfs stores as xattrs; of system.*, the POSIX ACLs are acl/'s, anything else is not supported. */
const XATTR_PREFIXES = ['user.', 'trusted.', 'security.'] as const;

/**
 * Linux's xattr_permission plus the LSM rule for security.*: user.* only on files and
 * directories (and on a sticky dir only its owner writes), trusted.* and writing
 * security.* root only; other system.* names than the ACLs' are not supported.
 */
export function checkXattrAccess(md: Metadata, inode: number, cred: Cred, name: string, write: boolean): void {
  if (name.length === 0 || Buffer.byteLength(name) > MAX_XATTR_NAME) throw fail('ERANGE');
  const prefix = XATTR_PREFIXES.find((p) => name.startsWith(p));
  if (prefix === 'security.') {
    if (write && !isRoot(cred)) throw fail('EPERM');
  } else if (prefix === 'trusted.') {
    if (!isRoot(cred)) throw write ? fail('EPERM') : fail('ENODATA');
  } else {
    const type = md.type[inode];
    if (prefix === 'user.' && type !== TYPE_CODE.file && type !== TYPE_CODE.dir) {
      throw write ? fail('EPERM') : fail('ENODATA');
    }
    if (prefix === 'user.' && write && type === TYPE_CODE.dir && md.mode[inode]! & 0o1000 && !isOwnerOrRoot(md, inode, cred)) {
      throw fail('EPERM');
    }
    if (!permits(md, inode, cred, write ? W_OK : R_OK)) throw fail('EACCES');
    // Linux checks permission before it looks for a handler: unknown prefixes fail here.
    if (prefix === undefined) throw fail('ENOTSUP');
  }
  if (name.length === prefix.length) throw fail('EINVAL', 'empty xattr name after the prefix');
}
