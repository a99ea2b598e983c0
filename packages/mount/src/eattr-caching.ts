import type { Attr as KernelAttr, RequestContext } from '@tsmfs/fuse';
import { type Attr, EATTR } from '@tsmfs/protocol';

/**
 * What a node's extra attributes (`Attr.eattr`, MooseFS's mfseattr(1)) change in how the
 * kernel caches it, as mfsmount does: noattrcache, its attributes are not kept (timeout
 * 0); noentrycache, names leading to it are not kept; nodatacache, its data is not kept
 * (opened with direct_io: every read reaches the mount). A noowner node's owner is the
 * caller, so its attributes, which differ per caller, are never kept either.
 */
export function attrTimeout(a: Attr, sec: number): number {
  return a.eattr !== undefined && (a.eattr & (EATTR.noattrcache | EATTR.noowner)) !== 0 ? 0 : sec;
}

export function entryTimeout(a: Attr, sec: number): number {
  return a.eattr !== undefined && (a.eattr & EATTR.noentrycache) !== 0 ? 0 : sec;
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
