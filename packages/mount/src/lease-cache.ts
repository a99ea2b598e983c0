import { type Attr, MAX_NAME_LENGTH } from '@tsmfs/protocol';

/** When a request was sent and what the mount knew then: its answer is leased only if no recall came since. */
export interface Ticket {
  /** performance.now() before the request was sent. */
  at: number;
  /** The session's lease time then (0: none). */
  leaseMs: number;
  /** LeaseCache.recalls then. */
  recalls: number;
}

/** What the kernel must forget: entries (directory, name) and inodes' attributes. */
export interface KernelForget {
  entries: [number, string][];
  inodes: number[];
}

/** Kept short of the master's end of a lease: the two clocks run at the same rate, this absorbs timer slop. */
const MARGIN_MS = 50;
/** Directories, attributes and "no xattrs" leased at once (each); past it the oldest are let go, a sixteenth at a time. */
const MAX_LEASED = 100_000;
/** Names known in leased directories, all together (a listing of a huge directory is leased whole); past it the oldest directories are let go. */
const MAX_NAMES = 1_000_000;

interface DirLease {
  /** name → inode, or null for a name that does not exist. */
  names: Map<string, number | null>;
  /**
   * `names` holds every name of the directory (a whole listing, or a directory made
   * here, was read under this lease): any other name does not exist. What makes the
   * lookup before each create local (CephFS's "complete" directories).
   */
  complete: boolean;
  /**
   * The directory has noentrycache (the kernel keeps none of its names), as the last
   * lookup in it or listing of it said; undefined until one did (a negative lookup's
   * answer, an error, says nothing). A change of the flag recalls the lease.
   */
  uncached?: boolean;
}

/** Where the "no extended attributes" leases are copied to: inodes (the master's numbers), until when (performance.now() ms). */
export interface NoXattrsMirror {
  set(inode: number, until: number): void;
  drop(inode: number): void;
  clear(): void;
}

/** What an answer that leases a directory says of it: its noentrycache, when the answer tells. */
export interface DirGrant {
  uncached?: boolean;
}

/** Leases this mount let go of and the master still counts (LeaseCache.takeReleases). */
export interface LeaseReleases {
  dirs: number[];
  inodes: number[];
}

/**
 * What the master leased to this mount (docs/mount.md, "Leases"): a directory's entries,
 * negative ones included, and nodes' attributes, each until the master recalls it, this
 * mount lets it go, or the session's term ends. The term is one for all of them, as
 * NFSv4's lease is per client: it lasts the lease time from the sending of the last
 * request the master answered (the master counts from its reception, later), and
 * `lease-renewal.ts` keeps it alive when the mount has nothing else to ask. When it ends
 * without renewal, everything leased in it is void (the master's term ended too; a change
 * since may have gone unrecalled).
 *
 * An answer is leased only if no recall arrived while it was on its way (it may predate
 * the change the recall was for), nor a release left (it may carry a grant the release
 * undoes). Whatever this mount stops answering from, other than by a recall, is given
 * back to the master with the next renewal, so that the master's tables hold what the
 * mount holds.
 */
export class LeaseCache {
  private readonly dirs = new Map<number, DirLease>();
  private readonly attrs = new Map<number, Attr>();
  /**
   * Inodes leased as having no extended attribute. Apart from `attrs`: this mount's own
   * writes drop the attributes it holds (the size moves) but not this, and the kernel asks
   * for security.capability before every write.
   */
  private readonly noXattrs = new Set<number>();
  /** When the term ends (performance.now() ms); 0: no term. */
  private until = 0;
  /** Names held in `dirs`, all together (MAX_NAMES). */
  private names = 0;
  /** Leases let go here (not recalled) that the master still counts, to be released. */
  private readonly unheld = { dirs: new Set<number>(), inodes: new Set<number>() };
  /** The kernel's and the mount's other caches forgetting what was evicted: awaited before its release. */
  private evicting: Promise<void>[] = [];
  /**
   * Told of every change of `noXattrs`, so that the FUSE binding answers those inodes'
   * getxattr and listxattr itself (mount.ts); set once mounted.
   */
  noXattrsMirror: NoXattrsMirror | undefined;
  /**
   * Told of leases let go for room, which the kernel (and the mount's caches of chunks
   * and pages) may still hold: they must forget them before the master stops recalling
   * them (set by lease-forgetting.ts).
   */
  onEvict: ((forget: KernelForget) => Promise<void>) | undefined;
  /** Told when the term ended without renewal and every lease with it (set by lease-forgetting.ts). */
  onTermEnd: (() => void) | undefined;
  /** Recalls, releases and link losses seen: answers to requests sent before one are not leased. */
  recalls = 0;

  ticket(leaseMs: number): Ticket {
    return { at: performance.now(), leaseMs, recalls: this.recalls };
  }

  /** The leased answer of a lookup: its attributes, null for a leased "no such name", undefined when not leased. */
  entry(parent: number, name: string): Attr | null | undefined {
    // '.', '..' and over-long names are the master's to answer (a complete directory holds none of them).
    if (name === '.' || name === '..' || Buffer.byteLength(name) > MAX_NAME_LENGTH) return undefined;
    if (!this.live()) return undefined;
    const d = this.dirs.get(parent);
    if (!d) return undefined;
    const inode = d.names.get(name);
    if (inode === undefined) return d.complete ? null : undefined;
    if (inode === null) return null;
    return this.attrs.get(inode);
  }

  /**
   * Every name of `dir` with its attributes, as a listing from the master would give
   * them: only while the directory is leased complete and each name's attributes are
   * leased too; undefined otherwise.
   */
  listing(dir: number): { name: string; attr: Attr }[] | undefined {
    if (!this.live()) return undefined;
    const d = this.dirs.get(dir);
    if (!d || !d.complete) return undefined;
    const out: { name: string; attr: Attr }[] = [];
    for (const [name, inode] of d.names) {
      if (inode === null) continue;
      const attr = this.attrs.get(inode);
      if (!attr) return undefined;
      out.push({ name, attr });
    }
    return out;
  }

  /** The inode this mount last knew `name` in `parent` by, if any (whatever the lease's age). */
  inodeOf(parent: number, name: string): number | undefined {
    return this.dirs.get(parent)?.names.get(name) ?? undefined;
  }

  attr(inode: number): Attr | undefined {
    return this.live() ? this.attrs.get(inode) : undefined;
  }

  /** Whether `inode` is leased as having no extended attribute. */
  hasNoXattrs(inode: number): boolean {
    return this.live() && this.noXattrs.has(inode);
  }

  /**
   * `inode`'s getxattr or listxattr was answered here from its "no xattrs" lease: the
   * binding's copy had run out at the term's end as it was when set, and is set again
   * with the term's end now, so that the next ones are answered there.
   */
  answeredNoXattrs(inode: number): void {
    this.noXattrsMirror?.set(inode, this.until);
  }

  /** This mount set or removed an extended attribute of `inode` (or its lease on that ended). */
  dropNoXattrs(inode: number): void {
    if (!this.noXattrs.delete(inode)) return;
    this.noXattrsMirror?.drop(inode);
    this.unheld.inodes.add(inode);
  }

  /** Whether `dir`'s names are not to be kept by the kernel (DirLease.uncached); undefined: no live lease says. */
  namesUncached(dir: number): boolean | undefined {
    return this.live() ? this.dirs.get(dir)?.uncached : undefined;
  }

  /** Seconds `name`'s entry in `parent` stays leased unless renewed (0: not leased). */
  entrySec(parent: number, name: string): number {
    return this.live() && this.dirs.get(parent)?.names.has(name) ? this.remainingSec() : 0;
  }

  /** Seconds `inode`'s attributes stay leased unless renewed (0: not leased). */
  attrSec(inode: number): number {
    return this.live() && this.attrs.has(inode) ? this.remainingSec() : 0;
  }

  /**
   * Records `name` in `parent` (inode, or null: no such name) as answered for a request
   * sent at `t`; `grant`: the answer came with a lease on the directory (a lookup, a
   * listing), else (this mount's own create, link…) the name is kept only while the
   * directory is leased already.
   */
  putEntry(parent: number, name: string, inode: number | null, t: Ticket, grant?: DirGrant): void {
    if (!this.current(t)) {
      this.dropName(parent, name);
      if (grant && !this.dirs.has(parent)) this.unheld.dirs.add(parent);
      return;
    }
    if (!this.renewed(t)) return;
    // A create's answer carries no lease on its directory: the name joins a held one only.
    const d = grant ? this.dirLease(parent, grant) : this.dirs.get(parent);
    if (!d) return;
    if (!d.names.has(name)) this.names++;
    d.names.set(name, inode);
    if (this.names > MAX_NAMES) this.evict(this.dirs, this.names - (MAX_NAMES * 15) / 16, 'names');
  }

  /**
   * Every name of `parent` has been put (with putEntry, same ticket) — a whole listing,
   * or an empty directory this mount just made: from now on a name not there is missing.
   */
  putComplete(parent: number, t: Ticket, grant: DirGrant): void {
    if (!this.current(t) || !this.renewed(t)) return;
    const d = this.dirLease(parent, grant);
    if (d) d.complete = true;
  }

  /**
   * Records only what leased attributes answered for a request sent at `t` say of the
   * node's extended attributes (none, or some): the answer of a chunk write's end while
   * more of the file is being written here, whose size and times the mount does not keep.
   */
  putNoXattrs(a: Attr, t: Ticket): void {
    if (!this.current(t) || !a.noXattrs) {
      this.dropNoXattrs(a.inode);
      if (!this.noXattrs.has(a.inode) && !this.attrs.has(a.inode)) this.unheld.inodes.add(a.inode);
      return;
    }
    if (!this.renewed(t)) return;
    if (!this.noXattrs.delete(a.inode) && !this.room(this.noXattrs)) return;
    this.noXattrs.add(a.inode);
    this.noXattrsMirror?.set(a.inode, this.until);
  }

  /** Until when (performance.now(), ms) an answer to a request sent at `t` is leased; 0 when it is not (no leases, or a recall came meanwhile). */
  leasedUntil(t: Ticket): number {
    return this.current(t) && this.renewed(t) ? this.until : 0;
  }

  /** Records attributes answered for a request sent at `t`. */
  putAttr(a: Attr, t: Ticket): void {
    if (!this.current(t)) {
      // Held or not, the master granted it with this answer: given back (takeReleases).
      this.dropAttr(a.inode);
      this.dropNoXattrs(a.inode);
      this.unheld.inodes.add(a.inode);
      return;
    }
    if (!this.renewed(t)) return;
    // Deleted first, so that the oldest attributes (in the map's order) are the least recently answered.
    if (!this.attrs.delete(a.inode) && !this.room(this.attrs)) return;
    this.attrs.set(a.inode, a);
    this.putNoXattrs(a, t);
  }

  /**
   * This mount changed the name: what it knew of it is gone (its own answer puts the new
   * one). `gone`: the name is known not to exist now (an unlink that succeeded); otherwise
   * the directory is no longer known whole.
   */
  dropName(parent: number, name: string, gone = false): void {
    const d = this.dirs.get(parent);
    if (!d) return;
    if (d.names.delete(name)) this.names--;
    if (!gone) d.complete = false;
  }

  dropAttr(inode: number): void {
    if (this.attrs.delete(inode)) this.unheld.inodes.add(inode);
  }

  /**
   * The master answered a request sent at `t` (a renewal): the term lasts the lease time
   * from then. Whatever recall came meanwhile took its leases out already (recalls and
   * answers come in order on the link), so every lease held here is the master's too.
   */
  renewed(t: Ticket): boolean {
    if (t.leaseMs <= 0) return false;
    // A term that ended is void, and the master's has ended too: start anew.
    this.live();
    this.until = Math.max(this.until, t.at + t.leaseMs - MARGIN_MS);
    return this.live();
  }

  /** Nothing is leased here. */
  get empty(): boolean {
    return this.dirs.size === 0 && this.attrs.size === 0 && this.noXattrs.size === 0;
  }

  /** When the term ends (performance.now() ms), 0 when none lasts: what an answer given here without asking is leased until. */
  termEnd(): number {
    return this.live() ? this.until : 0;
  }

  /** Whether the term ends within `withinMs` (a renewal is due). */
  endsWithin(withinMs: number): boolean {
    return this.until - performance.now() < withinMs;
  }

  /** Evicted leases whose forgetting (onEvict) is still under way: awaited before they are released. */
  async evicted(): Promise<void> {
    const pending = this.evicting;
    this.evicting = [];
    await Promise.all(pending);
  }

  /**
   * Takes (up to `max` of each) the leases let go here that the master still counts and
   * this mount has not been granted again since, to be sent in a release right away.
   * Answers already on their way are no longer leased: one may carry a grant of a key
   * the release will undo at the master.
   */
  takeReleases(max: number): LeaseReleases | undefined {
    // Evicted while the caller awaited evicted(): the kernel may not have forgotten them yet (next time).
    if (this.evicting.length > 0) return undefined;
    const out: LeaseReleases = { dirs: [], inodes: [] };
    for (const dir of this.unheld.dirs) {
      if (out.dirs.length >= max) break;
      this.unheld.dirs.delete(dir);
      if (!this.dirs.has(dir)) out.dirs.push(dir);
    }
    for (const inode of this.unheld.inodes) {
      if (out.inodes.length >= max) break;
      this.unheld.inodes.delete(inode);
      if (!this.attrs.has(inode) && !this.noXattrs.has(inode)) out.inodes.push(inode);
    }
    if (out.dirs.length === 0 && out.inodes.length === 0) return undefined;
    this.recalls++;
    return out;
  }

  /** The master's recall: forgets the leases and says what the kernel was told under them. */
  recall(dirs: readonly number[], inodes: readonly number[]): KernelForget {
    this.recalls++;
    const out: KernelForget = { entries: [], inodes: [] };
    for (const dir of dirs) {
      const d = this.dirs.get(dir);
      this.unheld.dirs.delete(dir);
      if (!d) continue;
      this.dirs.delete(dir);
      this.names -= d.names.size;
      for (const [name, inode] of d.names) if (inode !== null) out.entries.push([dir, name]);
    }
    for (const inode of inodes) {
      if (this.noXattrs.delete(inode)) this.noXattrsMirror?.drop(inode);
      if (this.attrs.delete(inode)) out.inodes.push(inode);
      this.unheld.inodes.delete(inode);
    }
    return out;
  }

  /** The link dropped (or a reconnect): no lease holds any more, the master has dropped them all. */
  recallAll(): KernelForget {
    this.noXattrs.clear();
    this.noXattrsMirror?.clear();
    const out = this.recall([...this.dirs.keys()], [...this.attrs.keys()]);
    this.unheld.dirs.clear();
    this.unheld.inodes.clear();
    this.until = 0;
    return out;
  }

  /** The lease on `parent`'s names, held or new. */
  private dirLease(parent: number, grant: DirGrant): DirLease | undefined {
    let d = this.dirs.get(parent);
    if (!d) {
      if (!this.room(this.dirs)) return undefined;
      d = { names: new Map(), complete: false };
      this.dirs.set(parent, d);
    }
    if (grant.uncached !== undefined) d.uncached = grant.uncached;
    return d;
  }

  private current(t: Ticket): boolean {
    return t.leaseMs > 0 && t.recalls === this.recalls;
  }

  /** Whether the term lasts; one that ended voids everything held in it. */
  private live(): boolean {
    if (this.until > performance.now()) return true;
    if (this.until !== 0) {
      this.until = 0;
      this.dirs.clear();
      this.names = 0;
      this.attrs.clear();
      this.noXattrs.clear();
      this.noXattrsMirror?.clear();
      // The master's term has ended too, and with it every lease it counted.
      this.unheld.dirs.clear();
      this.unheld.inodes.clear();
      this.onTermEnd?.();
    }
    return false;
  }

  private remainingSec(): number {
    return Math.max(0, (this.until - performance.now()) / 1000);
  }

  /**
   * Whether one more lease fits in `table`; when full, its oldest sixteenth is let go
   * (evict).
   */
  private room(table: Map<number, unknown> | Set<number>): boolean {
    if (table.size >= MAX_LEASED) this.evict(table, MAX_LEASED / 16);
    return table.size < MAX_LEASED;
  }

  /**
   * Lets go of the oldest leases of `table`: `n` of them, or (`names`, of `dirs`) as many
   * directories as hold `n` names. They are forgotten by the kernel and the mount's caches
   * (onEvict), then released at the master.
   */
  private evict(table: Map<number, unknown> | Set<number>, n: number, unit: 'leases' | 'names' = 'leases'): void {
    const forget: KernelForget = { entries: [], inodes: [] };
    for (const key of table.keys()) {
      if (n <= 0) break;
      if (table === this.dirs) {
        const d = this.dirs.get(key)!;
        for (const [name, inode] of d.names) if (inode !== null) forget.entries.push([key, name]);
        this.dirs.delete(key);
        this.names -= d.names.size;
        this.unheld.dirs.add(key);
        n -= unit === 'names' ? Math.max(1, d.names.size) : 1;
      } else {
        table.delete(key);
        if (table === this.noXattrs) this.noXattrsMirror?.drop(key);
        forget.inodes.push(key);
        this.unheld.inodes.add(key);
        n--;
      }
    }
    if (this.onEvict) this.evicting.push(this.onEvict(forget));
  }
}
