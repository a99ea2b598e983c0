import type { MasterSession } from '@tsmfs/client';
import type { DirChanges } from './dir-changes.js';
import type { InodeMap } from './kernel-attr.js';
import type { KernelForget } from './lease-cache.js';
import type { MetadataCache } from './metadata-cache.js';
import type { PageCacheVersions } from './page-cache.js';

/** What forgetting needs of the FUSE session (FuseSession's invalidation calls). */
export interface KernelCaches {
  invalidateEntry(parent: number, name: string): Promise<number>;
  invalidateInode(ino: number, offset?: number, length?: number): Promise<number>;
}

export interface LeaseForgettingOptions {
  session: MasterSession;
  cache: MetadataCache;
  pages: PageCacheVersions;
  inodes: InodeMap;
  dirChanges: DirChanges;
  /** The kernel's caches, once mounted. */
  kernel: () => KernelCaches | undefined;
  count: (op: string) => void;
}

/**
 * What the mount forgets when leases stop being its own (docs/mount.md, "Leases"):
 * recalled by the master (another session changed them), evicted for room before their
 * release, or all of them when the link drops (the master cannot recall over a lost
 * one). The kernel is told to forget the entries and attributes it was handed under
 * them, and the mount's caches of those files' chunks and pages go.
 */
export class LeaseForgetting {
  constructor(private readonly o: LeaseForgettingOptions) {
    o.session.onRecall((r) => this.recalled(r.dirs, r.inodes));
    o.cache.leases.onEvict = (forget) => {
      for (const inode of forget.inodes) this.forgetFile(inode);
      return this.inKernel(forget);
    };
    // Opens held on files whose leases ended: nothing would tell this mount to let go.
    o.cache.leases.onTermEnd = () => o.session.letGoHeld();
    o.session.on('disconnect', () => {
      o.pages.leasesLost();
      o.session.letGoHeld();
      void this.inKernel(o.cache.leases.recallAll());
    });
  }

  /**
   * The master takes back leases another session's change broke: this mount and its
   * kernel forget them, then the master answers that change. The kernel's invalidation of
   * a directory waits for that directory's lock, which the kernel holds through a change
   * of it this mount is making right now, and that change may itself wait at the master
   * for another mount's answer: for such a directory the answer does not wait for the
   * kernel (which forgets as soon as the change is answered).
   */
  private async recalled(dirs: readonly number[], inodes: readonly number[]): Promise<void> {
    this.o.count('lease_recall');
    // Another session changed these nodes: a file's cached chunk grants (and the length in
    // them) may predate the change, whether a read or this mount's own write's end brought them.
    for (const inode of inodes) this.forgetFile(inode);
    await this.inKernel(this.o.cache.leases.recall(dirs, inodes));
  }

  /** The kernel forgets these entries and attributes (master inodes). */
  async inKernel(forget: KernelForget): Promise<void> {
    const kernel = this.o.kernel();
    if (!kernel) return;
    const waits: Promise<number>[] = [];
    for (const [dir, name] of forget.entries) {
      const done = kernel.invalidateEntry(this.o.inodes.toKernel(dir), name);
      if (!this.o.dirChanges.has(dir)) waits.push(done);
    }
    for (const inode of forget.inodes) waits.push(kernel.invalidateInode(this.o.inodes.toKernel(inode), -1));
    await Promise.all(waits);
  }

  /** The caches of `inode`'s data go, and its held open (another session changed it, or it is evicted). */
  private forgetFile(inode: number): void {
    this.o.session.io.forgetFile(inode);
    this.o.pages.forget(inode);
    this.o.session.letGoHeld([inode]);
  }
}
