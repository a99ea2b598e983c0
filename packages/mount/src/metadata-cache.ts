import type { Attr } from '@tsmfs/protocol';
import { LRUCache } from 'lru-cache';
import { namesUncachedIn } from './eattr-caching.js';
import { LeaseCache, type Ticket } from './lease-cache.js';

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
  /** What the master leased: while the session has leases, the only cache answers come from. */
  readonly leases = new LeaseCache();
  hits = 0;
  misses = 0;

  /** `leaseMs`: the session's lease time now (0: no leases, the TTL caches serve). */
  constructor(
    readonly timeouts: CacheTimeouts,
    private readonly leaseMs: () => number = () => 0,
    max = 100_000,
  ) {
    this.attrs = new LRUCache({ max, ttl: Math.max(1, timeouts.attrSec * 1000) });
    this.entries = new LRUCache({ max, ttl: Math.max(1, timeouts.entrySec * 1000) });
  }

  get enabled(): boolean {
    return this.timeouts.attrSec > 0 && this.timeouts.entrySec > 0;
  }

  /** Leases are granted: the TTL caches are not used (their TTL is all they know of freshness). */
  get leasing(): boolean {
    return this.leaseMs() > 0;
  }

  /** Taken before a request whose answer is to be cached. */
  ticket(): Ticket {
    return this.leases.ticket(this.leaseMs());
  }

  attr(inode: number): Attr | undefined {
    if (this.leasing) return this.count(this.leases.attr(inode));
    if (this.timeouts.attrSec <= 0) return undefined;
    const a = this.attrs.get(inode);
    if (a) this.hits++;
    else this.misses++;
    return a;
  }

  /** The cached attr of `name` in `parent`, when both the entry and the attr are fresh; null: leased as missing. */
  entry(parent: number, name: string): Attr | null | undefined {
    if (this.leasing) {
      const a = this.leases.entry(parent, name);
      return a === null ? (this.hits++, null) : this.count(a);
    }
    if (!this.enabled) return undefined;
    const inode = this.entries.get(key(parent, name));
    const a = inode === undefined ? undefined : this.attrs.get(inode);
    if (a) this.hits++;
    else this.misses++;
    return a;
  }

  /**
   * Whether `dir` has noentrycache when no answer at hand says: as the lease on its names
   * knows it, else its leased attributes (a change of the flag recalls both); not known,
   * not kept (the safe side: the kernel's lookups are still answered under the lease).
   * Without leases no name of such a directory is kept here (putEntry), so a name this
   * cache answers is not in one.
   */
  namesUncached(dir: number): boolean {
    if (!this.leasing) return false;
    const said = this.leases.namesUncached(dir);
    if (said !== undefined) return said;
    const a = this.leases.attr(dir);
    return a ? namesUncachedIn(a) : true;
  }

  /** Attributes asked for with ticket `t` (leased when the session leases). */
  putAttr(a: Attr, t: Ticket): void {
    if (t.leaseMs > 0) this.leases.putAttr(a, t);
    else if (this.timeouts.attrSec > 0) this.attrs.set(a.inode, a);
  }

  /** What attributes asked for with ticket `t` say of the node's extended attributes (LeaseCache.putNoXattrs); under a lease only. */
  putNoXattrs(a: Attr, t: Ticket): void {
    if (t.leaseMs > 0) this.leases.putNoXattrs(a, t);
  }

  /** The master said `name` does not exist in `parent`: kept only under a lease (the error says nothing of the directory's flags). */
  putMissing(parent: number, name: string, t: Ticket): void {
    if (t.leaseMs > 0) this.leases.putEntry(parent, name, null, t, {});
  }

  /**
   * `withAttr` false: the name only (the attributes may predate a change made here since
   * they were asked for); `renews` false: the answer leased no directory
   * (LeaseCache.putEntry); `uncached`: the directory has noentrycache. Without leases
   * such a name is not kept here either: nothing would tell this cache of another
   * client's change of it, and the flag asks for every lookup to see those at once.
   */
  putEntry(parent: number, name: string, a: Attr, t: Ticket, o: { withAttr: boolean; renews: boolean; uncached: boolean }): void {
    if (t.leaseMs > 0) {
      this.leases.putEntry(parent, name, a.inode, t, o.renews ? { uncached: o.uncached } : undefined);
      if (o.withAttr) this.leases.putAttr(a, t);
      else this.leases.dropAttr(a.inode);
      return;
    }
    if (!this.enabled) return;
    if (o.uncached) this.entries.delete(key(parent, name));
    else this.entries.set(key(parent, name), a.inode);
    if (o.withAttr) this.attrs.set(a.inode, a);
    else this.attrs.delete(a.inode);
  }

  dropAttr(inode: number): void {
    this.attrs.delete(inode);
    this.leases.dropAttr(inode);
  }

  /** Forgets a name (and the attr of what it named: its nlink or ctime changes); `gone`: it no longer exists. */
  dropEntry(parent: number, name: string, gone = false): void {
    const known = this.leases.inodeOf(parent, name);
    if (known !== undefined) this.leases.dropAttr(known);
    this.leases.dropName(parent, name, gone);
    this.leases.dropAttr(parent);
    const k = key(parent, name);
    const inode = this.entries.get(k);
    if (inode !== undefined) this.attrs.delete(inode);
    this.entries.delete(k);
    // The directory's mtime, ctime and nlink move too.
    this.attrs.delete(parent);
  }

  private count(a: Attr | undefined): Attr | undefined {
    if (a) this.hits++;
    else this.misses++;
    return a;
  }

  clear(): void {
    this.attrs.clear();
    this.entries.clear();
  }
}

function key(parent: number, name: string): string {
  return `${parent}/${name}`;
}
