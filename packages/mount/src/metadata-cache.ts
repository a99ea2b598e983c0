import type { Attr } from '@tsmfs/protocol';
import { LRUCache } from 'lru-cache';

export interface CacheTimeouts {
  /** Seconds an inode's attributes are trusted without asking the master. */
  attrSec: number;
  /** Seconds a (directory, name) → inode entry is trusted. */
  entrySec: number;
}

/**
 * The mount's own attribute and entry caches, under the kernel's: they answer the
 * lookups and getattrs the kernel sends once its own timeouts ran out, and above all the
 * `ls -l` pattern (readdir, then a lookup per name), which opendir's listing with
 * attributes fills. Short TTLs bound how stale another client's change can look; this
 * mount's own changes drop what they touch at once.
 */
export class MetadataCache {
  private readonly attrs: LRUCache<number, Attr>;
  private readonly entries: LRUCache<string, number>;
  hits = 0;
  misses = 0;

  constructor(readonly timeouts: CacheTimeouts, max = 100_000) {
    this.attrs = new LRUCache({ max, ttl: Math.max(1, timeouts.attrSec * 1000) });
    this.entries = new LRUCache({ max, ttl: Math.max(1, timeouts.entrySec * 1000) });
  }

  get enabled(): boolean {
    return this.timeouts.attrSec > 0 && this.timeouts.entrySec > 0;
  }

  attr(inode: number): Attr | undefined {
    if (this.timeouts.attrSec <= 0) return undefined;
    const a = this.attrs.get(inode);
    if (a) this.hits++;
    else this.misses++;
    return a;
  }

  /** The cached attr of `name` in `parent`, when both the entry and the attr are fresh. */
  entry(parent: number, name: string): Attr | undefined {
    if (!this.enabled) return undefined;
    const inode = this.entries.get(key(parent, name));
    const a = inode === undefined ? undefined : this.attrs.get(inode);
    if (a) this.hits++;
    else this.misses++;
    return a;
  }

  putAttr(a: Attr): void {
    if (this.timeouts.attrSec > 0) this.attrs.set(a.inode, a);
  }

  /** `withAttr` false: the name only (the attributes may predate a change made here since they were asked for). */
  putEntry(parent: number, name: string, a: Attr, withAttr = true): void {
    if (!this.enabled) return;
    this.entries.set(key(parent, name), a.inode);
    if (withAttr) this.attrs.set(a.inode, a);
    else this.attrs.delete(a.inode);
  }

  dropAttr(inode: number): void {
    this.attrs.delete(inode);
  }

  /** Forgets a name (and the attr of what it named: its nlink or ctime changes). */
  dropEntry(parent: number, name: string): void {
    const k = key(parent, name);
    const inode = this.entries.get(k);
    if (inode !== undefined) this.attrs.delete(inode);
    this.entries.delete(k);
    // The directory's mtime, ctime and nlink move too.
    this.attrs.delete(parent);
  }

  clear(): void {
    this.attrs.clear();
    this.entries.clear();
  }
}

function key(parent: number, name: string): string {
  return `${parent}/${name}`;
}
