import type { FileIo } from '@tsmfs/client';
import type { Attr } from '@tsmfs/protocol';
import type { Ticket } from './lease-cache.js';
import type { MetadataCache } from './metadata-cache.js';
import type { OpenFiles } from './open-files.js';

/** What a write's end needs of the mount: its caches, and the kernel's (once mounted). */
export interface WriteEndsContext {
  io: Pick<FileIo, 'onLengthChange' | 'busy'>;
  cache: MetadataCache;
  files: OpenFiles;
  /** Makes the kernel forget `inode`'s attributes (a notification, through libuv's pool); resolves once it has. */
  invalidateKernelAttrs(inode: number): Promise<void>;
  /** A write ended with nothing more of the file buffered or in flight here: `attr` answered a request sent at `ticket`. */
  writtenThrough(attr: Attr, ticket: Ticket): void;
}

/**
 * A chunk write's end moves the master's length and mtime of a file: what the mount and
 * its kernel hold of them from before is stale. The end's answer carries the attributes
 * right after it, leased as a getattr's (messages.ts, writeChunkEnd): the mount keeps them
 * when nothing more of the file is buffered or in flight here, so the stat that follows
 * a close (git's, tar's, cp's) is answered here; otherwise only what they say of the
 * file's xattrs. The kernel forgets a file's mtime and
 * size at each of its writes (fuse_write_update_attr): only attributes it was handed
 * since — an fstat before the close, git's — predate the end, and only those are
 * invalidated, since a notification costs two thread hops (sent for every written file,
 * it made tar -x 18 % slower: docs/benchmarks.md, "A write's end brings the file's
 * attributes").
 */
export class WriteEnds {
  /** Files whose attributes the kernel was handed, while a write of theirs was buffered or in flight, since their last write. */
  private readonly kernelAttrsSinceWrite = new Set<number>();
  /** The kernel's invalidations in flight, by inode: a close returns after them. */
  private readonly invalidations = new Map<number, Promise<void>>();

  constructor(private readonly ctx: WriteEndsContext) {
    ctx.io.onLengthChange(
      (inode, ended) => {
        ctx.files.changed(inode);
        if (this.kernelAttrsSinceWrite.delete(inode)) this.invalidate(inode);
        ctx.cache.dropAttr(inode);
        if (!ended) return;
        if (!ctx.io.busy(inode)) {
          ctx.cache.putAttr(ended.attr, ended.ticket);
          ctx.writtenThrough(ended.attr, ended.ticket);
        }
        // More of the file is on its way: its size and times are not kept, but the lease
        // still says whether it has xattrs, which the kernel asks before every write
        // (security.capability): a long random write went on asking the master 0.14
        // times per write once the lease from its open had ended.
        else ctx.cache.putNoXattrs(ended.attr, ended.ticket);
      },
      () => ctx.cache.ticket(),
    );
  }

  /** The kernel is handed `inode`'s attributes (a file's): remembered while a write of it is pending. */
  handedToKernel(inode: number): void {
    if (this.ctx.io.busy(inode)) this.kernelAttrsSinceWrite.add(inode);
  }

  /**
   * Resolves once the kernel forgot what the ended writes of `inode` made stale. close(2)
   * and fsync(2) return after it: under load the notification came after the close had
   * returned, and the stat that followed showed the mtime from before the write
   * (test/mount-write-end-attrs.test.ts). Only attributes are invalidated, which takes no
   * lock the close's own request holds.
   */
  settled(inode: number): Promise<void> {
    return this.invalidations.get(inode) ?? Promise.resolve();
  }

  private invalidate(inode: number): void {
    const done: Promise<void> = this.ctx.invalidateKernelAttrs(inode).then(() => {
      if (this.invalidations.get(inode) === done) this.invalidations.delete(inode);
    });
    this.invalidations.set(inode, done);
  }

  /** A write of `inode` was answered: the kernel drops its mtime and size of the file itself. */
  wrote(inode: number): void {
    this.kernelAttrsSinceWrite.delete(inode);
  }
}
