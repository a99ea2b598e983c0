import { EATTR, O_ACCMODE, O_APPEND, O_RDONLY, O_TRUNC, type RecursiveCounts, type Request, fail } from '@tsmfs/protocol';
import type { Metadata } from './metadata.js';
import type { Mutation } from './mutation.js';
import { forEachNode } from './tree-walk.js';

// The rules of MooseFS's extra attributes (EATTR, in @tsmfs/protocol): who may change
// them, what a new node inherits, and what each refuses.

/** Set only by root on an admin session (MooseFS: "admin only; not inherited"). */
export const EATTR_ADMIN_ONLY = EATTR.undeletable | EATTR.appendonly | EATTR.immutable;
/**
 * What a new node takes from its parent directory (mfseattr(1), "INHERITANCE"). Not
 * snapshot: MooseFS 3.0 marks only what makesnapshot made (a file created later in a
 * snapshot's directory is unmarked, so rmsnapshot without -f refuses the tree).
 */
export const EATTR_INHERITED = EATTR.noowner | EATTR.noattrcache | EATTR.noentrycache | EATTR.nodatacache;

/**
 * seteattr's per-node rule, the same for the top of a recursive call as for every node
 * under it: root or the owner; the admin-only flags root on an admin session only.
 */
export function mayChangeEattr(md: Metadata, inode: number, uid: number, admin: boolean, touched: number): boolean {
  if (touched & EATTR_ADMIN_ONLY && !(uid === 0 && admin)) return false;
  return uid === 0 || md.uid[inode] === uid;
}

/** Applies a 'seteattr' entry: `set` bits on, `clear` bits off, on the node or its whole tree. */
export function applySeteattr(md: Metadata, m: Extract<Mutation, { op: 'seteattr' }>): RecursiveCounts {
  const counts: RecursiveCounts = { changed: 0, notChanged: 0, denied: 0 };
  forEachNode(md, m.inode, m.recursive, (inode) => {
    // MooseFS keeps noentrycache on directories only: on another node it is neither set
    // nor kept (nor counted as changed), as mfsseteattr answers.
    const kept = md.isDir(inode) ? 0xff : ~EATTR.noentrycache;
    const now = md.eattr[inode]! & kept;
    const next = ((now & ~m.clear) | m.set) & kept;
    if (!mayChangeEattr(md, inode, m.uid, m.admin, now ^ next)) {
      counts.denied++;
      return;
    }
    if (next === now) {
      md.eattr[inode] = now;
      counts.notChanged++;
      return;
    }
    md.eattr[inode] = next;
    md.setCtime(inode, m.ts);
    counts.changed++;
  });
  return counts;
}

// ---- what the flags refuse (Linux's S_IMMUTABLE / S_APPEND rules, MooseFS's undeletable) ----

function has(md: Metadata, inode: number, bits: number): boolean {
  return (md.eattr[inode]! & bits) !== 0;
}

/**
 * Linux's may_delete for flagged nodes, and MooseFS's undeletable: nothing leaves an
 * immutable or append-only directory, and an immutable, append-only or undeletable node
 * is neither unlinked nor renamed away nor replaced (EPERM).
 */
export function refuseRemoval(md: Metadata, dir: number, victim: number): void {
  if (has(md, dir, EATTR.immutable | EATTR.appendonly)) throw fail('EPERM', 'the directory is immutable or append-only');
  if (has(md, victim, EATTR.immutable | EATTR.appendonly | EATTR.undeletable)) throw fail('EPERM', 'immutable, append-only or undeletable');
}

/** Nothing is added to an immutable directory (Linux: MAY_WRITE on it is EPERM, before EACCES). */
export function refuseNewName(md: Metadata, dir: number): void {
  if (has(md, dir, EATTR.immutable)) throw fail('EPERM', 'the directory is immutable');
}

/** vfs_link: no new name for an immutable or append-only node. */
export function refuseLink(md: Metadata, inode: number): void {
  if (has(md, inode, EATTR.immutable | EATTR.appendonly)) throw fail('EPERM', 'immutable or append-only');
}

/**
 * notify_change and do_truncate: an immutable node changes nothing; an append-only one
 * takes only "now" times (a touch): no chmod, chown, set times, nor any truncate.
 */
export function refuseSetattr(md: Metadata, inode: number, req: Request<'setattr'>): void {
  if (has(md, inode, EATTR.immutable)) throw fail('EPERM', 'immutable');
  if (!has(md, inode, EATTR.appendonly)) return;
  if (req.mode !== undefined || req.uid !== undefined || req.gid !== undefined || req.size !== undefined || req.atime !== undefined || req.mtime !== undefined) {
    throw fail('EPERM', 'append-only');
  }
}

/** may_open: no opening an immutable file for writing; an append-only one only with O_APPEND and without O_TRUNC. */
export function refuseOpen(md: Metadata, inode: number, flags: number): void {
  const writing = (flags & O_ACCMODE) !== O_RDONLY || (flags & O_TRUNC) !== 0;
  if (!writing) return;
  if (has(md, inode, EATTR.immutable)) throw fail('EPERM', 'immutable');
  if (has(md, inode, EATTR.appendonly) && ((flags & O_APPEND) === 0 || (flags & O_TRUNC) !== 0)) throw fail('EPERM', 'append-only: open with O_APPEND');
}

/**
 * A write grant: none for an immutable file (a descriptor opened before the flag was set
 * included, as ext4's write checks), none for an append-only file's chunks wholly before
 * its last one (the master sees chunks, not offsets: a write inside the last chunk is kept
 * to the end by O_APPEND, which refuseOpen demands).
 */
export function refuseWrite(md: Metadata, inode: number, index: number, chunkSize: number): void {
  if (has(md, inode, EATTR.immutable)) throw fail('EPERM', 'immutable');
  if (has(md, inode, EATTR.appendonly) && (index + 1) * chunkSize <= md.size[inode]!) throw fail('EPERM', 'append-only: write before the end');
}

/** xattr_permission: no xattr change on an immutable or append-only node. */
export function refuseXattrChange(md: Metadata, inode: number): void {
  if (has(md, inode, EATTR.immutable | EATTR.appendonly)) throw fail('EPERM', 'immutable or append-only');
}

/**
 * The flags a new node starts with: its directory's inheritable ones; noentrycache only
 * for a directory, the one kind of node MooseFS keeps it on (it says what the kernel may
 * keep of the names in a directory: namesUncached).
 */
export function inheritedEattr(md: Metadata, parent: number, isDir: boolean): number {
  return md.eattr[parent]! & EATTR_INHERITED & (isDir ? 0xff : ~EATTR.noentrycache);
}

/**
 * noentrycache, MooseFS's meaning: the kernel keeps none of the names in this directory
 * (a lookup in it, or a listing of it, says so to the client; not the node's own name).
 */
export function namesUncached(md: Metadata, dir: number): boolean {
  return has(md, dir, EATTR.noentrycache);
}

/** Whether a node is a snapshot's (rmsnapshot removes only those). */
export function isSnapshotNode(md: Metadata, inode: number): boolean {
  return has(md, inode, EATTR.snapshot);
}
