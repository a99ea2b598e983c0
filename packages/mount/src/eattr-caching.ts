import type { Attr as KernelAttr, RequestContext } from '@tsmfs/fuse';
import { type Attr, EATTR } from '@tsmfs/protocol';

/**
 * What a node's extra attributes (`Attr.eattr`, MooseFS's mfseattr(1)) change in how the
 * kernel caches it, as mfsmount does: noattrcache, its attributes are not kept (timeout
 * 0); nodatacache, its data is not kept (opened with direct_io: every read reaches the
 * mount). A noowner node's owner is the caller, so its attributes, which differ per
 * caller, are never kept either. noentrycache is a directory's and concerns the names in
 * it: entryTimeout.
 */
export function attrTimeout(a: Attr, sec: number): number {
  return a.eattr !== undefined && (a.eattr & (EATTR.noattrcache | EATTR.noowner)) !== 0 ? 0 : sec;
}

/**
 * The kernel's timeout for a name in a directory, MooseFS's noentrycache: none of the
 * names in a directory that has it are kept (mfsmount answers them with entry timeout 0:
 * its master marks every node it answers through such a directory), whatever the node's
 * own flags; `dirUncached`, the directory has it (the lookup's or listing's answer says
 * so, or the directory's attributes: namesUncachedIn).
 */
export function entryTimeout(dirUncached: boolean, sec: number): number {
  return dirUncached ? 0 : sec;
}

/** Whether a directory's attributes carry noentrycache (false for unknown ones). */
export function namesUncachedIn(dir: Attr | undefined): boolean {
  return dir?.eattr !== undefined && (dir.eattr & EATTR.noentrycache) !== 0;
}

export function directIo(a: Attr): boolean {
  return a.eattr !== undefined && (a.eattr & EATTR.nodatacache) !== 0;
}

/**
 * noowner: every caller but root sees itself as the owner, and the owner's permission bits
 * for group and others too (as MooseFS 3.0 shows it: 0600 reads 0666); the master grants
 * it the owner's rights.
 */
export function withOwner(k: KernelAttr, a: Attr, ctx: RequestContext | undefined): KernelAttr {
  if (ctx === undefined || ctx.uid === 0 || a.eattr === undefined || (a.eattr & EATTR.noowner) === 0) return k;
  const owner = k.mode & 0o700;
  return { ...k, uid: ctx.uid, gid: ctx.gid, mode: (k.mode & ~0o077) | (owner >> 3) | (owner >> 6) };
}
