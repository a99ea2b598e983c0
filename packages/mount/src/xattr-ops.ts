import type { MasterSession } from '@tsmfs/client';
import type { GetxattrArgs, ListxattrArgs, RemovexattrArgs, RequestContext, SetxattrArgs } from '@tsmfs/fuse';
import { ACL_ACCESS_XATTR, type Cred, Status, TsmfsError, fail } from '@tsmfs/protocol';
import { LRUCache } from 'lru-cache';
import type { DirChanges } from './dir-changes.js';
import type { HiddenEntries } from './hidden-entries.js';
import type { InodeMap } from './kernel-attr.js';
import type { MetadataCache } from './metadata-cache.js';

/** What the extended-attribute requests need of the mount (mount-ops.ts). */
export interface XattrContext {
  session: MasterSession;
  cache: MetadataCache;
  hidden: HiddenEntries;
  inodes: InodeMap;
  dirChanges: DirChanges;
  count(op: string): void;
  cred(ctx: RequestContext): Cred;
  /** Seconds a missing attribute is remembered without leases (the attribute timeout). */
  attrTimeoutSec: number;
  /**
   * This mount changed `inode`'s access ACL and so its mode: a kernel not handling ACLs
   * must forget the old mode and the names it holds there.
   */
  accessAclChanged(inode: number): void;
}

/**
 * setxattr, getxattr, listxattr, removexattr, POSIX ACLs included (system.posix_acl_*,
 * the kernel's binary form: the master keeps and checks them). The kernel asks for
 * security.capability before every write; "no such attribute" is answered here under a
 * lease (attributes leased with noXattrs), or without leases remembered for the
 * attribute timeout, so that writes do not each wait for the master.
 */
export class XattrOps {
  private readonly missing: LRUCache<string, true>;

  constructor(private readonly m: XattrContext) {
    this.missing = new LRUCache({ max: 10_000, ttl: Math.max(1, m.attrTimeoutSec * 1000) });
  }

  async set(ctx: RequestContext, { ino, name, value, flags }: SetxattrArgs): Promise<void> {
    this.m.count('setxattr');
    if (this.m.hidden.isHidden(ino)) throw fail('EPERM', 'hidden entries are read-only');
    const inode = this.m.inodes.toMaster(ino);
    this.m.dirChanges.touch(inode);
    this.missing.delete(`${inode}/${name}`);
    this.m.cache.leases.dropNoXattrs(inode);
    await this.m.session.setxattr(inode, name, value, flags, { cred: this.m.cred(ctx) });
    this.m.cache.dropAttr(inode);
    if (name === ACL_ACCESS_XATTR) this.m.accessAclChanged(inode);
  }

  async get(ctx: RequestContext, { ino, name }: GetxattrArgs): Promise<Buffer> {
    this.m.count('getxattr');
    if (this.m.hidden.isHidden(ino)) throw fail('ENODATA');
    const inode = this.m.inodes.toMaster(ino);
    const key = `${inode}/${name}`;
    if (this.m.cache.leases.hasNoXattrs(inode)) {
      this.m.count('getxattr_leased_missing');
      this.m.cache.leases.answeredNoXattrs(inode);
      throw fail('ENODATA');
    }
    // While the session leases, only a lease may answer: another mount's setxattr recalls
    // leases, not this time-bounded memory (which would hide it for the attribute timeout).
    const remember = !this.m.cache.leasing;
    if (remember && this.missing.has(key)) throw fail('ENODATA');
    try {
      return await this.m.session.getxattr(inode, name, { cred: this.m.cred(ctx) });
    } catch (err) {
      if (remember && err instanceof TsmfsError && err.status === Status.ENODATA) this.missing.set(key, true);
      throw err;
    }
  }

  async list(ctx: RequestContext, { ino }: ListxattrArgs): Promise<string[]> {
    this.m.count('listxattr');
    if (this.m.hidden.isHidden(ino)) return [];
    const inode = this.m.inodes.toMaster(ino);
    if (this.m.cache.leases.hasNoXattrs(inode)) {
      this.m.cache.leases.answeredNoXattrs(inode);
      return [];
    }
    return this.m.session.listxattr(inode, { cred: this.m.cred(ctx) });
  }

  async remove(ctx: RequestContext, { ino, name }: RemovexattrArgs): Promise<void> {
    this.m.count('removexattr');
    if (this.m.hidden.isHidden(ino)) throw fail('EPERM', 'hidden entries are read-only');
    const inode = this.m.inodes.toMaster(ino);
    this.m.dirChanges.touch(inode);
    await this.m.session.removexattr(inode, name, { cred: this.m.cred(ctx) });
    this.m.cache.dropAttr(inode);
    if (name === ACL_ACCESS_XATTR) this.m.accessAclChanged(inode);
  }
}
