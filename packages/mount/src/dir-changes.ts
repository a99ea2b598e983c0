import type { Attr } from '@tsmfs/protocol';
import type { Ticket } from './lease-cache.js';
import type { MetadataCache } from './metadata-cache.js';

/**
 * The changes of names this mount has in flight, by directory (docs/mount.md, "A change's
 * directories"): the kernel holds each such directory locked until the change is
 * answered, and the change's reply carries the directory's attributes as of right after
 * it, kept unless a later change of the same directory was sent meanwhile.
 */
export class DirChanges {
  /** Per directory: changes in flight, and a count of changes sent since the first of them. */
  private readonly busy = new Map<number, { busy: number; sent: number }>();

  /** `kept`: called for each directory's attributes kept from a change's reply (the mount counts them). */
  constructor(
    private readonly cache: MetadataCache,
    private readonly kept: () => void,
  ) {}

  /** Whether a change of `dir` by this mount is in flight (the kernel holds it locked). */
  has(dir: number): boolean {
    return this.busy.has(dir);
  }

  /** This mount changes `inode`'s attributes: a change of names in it already in flight answers older ones. */
  touch(inode: number): void {
    const b = this.busy.get(inode);
    if (b) b.sent++;
  }

  /**
   * Sends a change of directories `dirs` (`send` passes `onParents` to the session), then
   * `apply` updates the caches for its answer (given the directories' attributes the
   * reply carried). The kernel drops a directory's attributes after every create, unlink
   * or rename in it and asks for them again (default_permissions checks the next
   * operation against them): the master's reply carries them as of right after the
   * change, kept here as a getattr sent with the change (ticket `t`) would be. Not when
   * this mount sent another change of that directory after this one: that one's answer,
   * newer, may have come first.
   */
  async changing<T, R>(dirs: number[], t: Ticket, send: (onParents: (attrs: Attr[]) => void) => Promise<T>, apply: (result: T, parents: Attr[]) => R): Promise<R> {
    const unique = [...new Set(dirs)];
    const sent = new Map<number, number>();
    for (const d of unique) {
      const b = this.busy.get(d) ?? { busy: 0, sent: 0 };
      b.busy++;
      sent.set(d, ++b.sent);
      this.busy.set(d, b);
    }
    let parents: Attr[] = [];
    try {
      const result = await send((attrs) => (parents = attrs));
      const out = apply(result, parents);
      for (const a of parents) {
        const mine = sent.get(a.inode);
        if (mine === undefined || this.busy.get(a.inode)?.sent !== mine) continue;
        this.kept();
        this.cache.putAttr(a, t);
      }
      return out;
    } finally {
      for (const d of unique) {
        const b = this.busy.get(d)!;
        if (--b.busy === 0) this.busy.delete(d);
      }
    }
  }
}
