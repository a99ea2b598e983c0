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
/** Directories and attributes leased at once; beyond, new answers are not leased (ended ones are dropped first). */
const MAX_LEASED = 100_000;

interface DirLease {
  until: number;
  /** The lease time it was granted for: past half of it, lookups go to the master again to renew it. */
  span: number;
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

/**
 * What the master leased to this mount (docs/mount.md, "Leases"): a directory's entries,
 * negative ones included, and nodes' attributes, each until its lease ends or the master
 * recalls it. A lease counts from the request's sending (the master counts from its
 * reception, later), and an answer is leased only if no recall arrived while it was on
 * its way: it may predate the change the recall was for. A directory's names are kept
 * across a renewal only when the renewal arrived before the previous lease ended here
 * (so the master's had not ended either): otherwise a change may have gone unrecalled.
 */
export class LeaseCache {
  private readonly dirs = new Map<number, DirLease>();
  private readonly attrs = new Map<number, { until: number; attr: Attr }>();
  /**
   * Inodes leased as having no extended attribute, until when. Apart from `attrs`: this
   * mount's own writes drop the attributes it holds (the size moves) but not this, and
   * the kernel asks for security.capability before every write.
   */
  private readonly noXattrs = new Map<number, { until: number }>();
  /**
   * Told of every change of `noXattrs`, so that the FUSE binding answers those inodes'
   * getxattr and listxattr itself (mount.ts); set once mounted.
   */
  noXattrsMirror: NoXattrsMirror | undefined;
  /** Recalls (and link losses) seen: answers to requests sent before one are not leased. */
  recalls = 0;

  ticket(leaseMs: number): Ticket {
    return { at: performance.now(), leaseMs, recalls: this.recalls };
  }

  /** The leased answer of a lookup: its attributes, null for a leased "no such name", undefined when not leased. */
  entry(parent: number, name: string): Attr | null | undefined {
    // '.', '..' and over-long names are the master's to answer (a complete directory holds none of them).
    if (name === '.' || name === '..' || Buffer.byteLength(name) > MAX_NAME_LENGTH) return undefined;
    const d = this.liveDir(parent);
    // In its second half a lease is renewed by the next lookup, so that a directory used
    // all along stays known (and complete) instead of starting over when it ends.
    if (!d || d.until - performance.now() < d.span / 2) return undefined;
    const inode = d.names.get(name);
    if (inode === undefined) return d.complete ? null : undefined;
    if (inode === null) return null;
    return this.attr(inode);
  }

  /**
   * Every name of `dir` with its attributes, as a listing from the master would give
   * them: only while the directory is leased complete, in the first half of its lease
   * (the second half goes to the master, renewing it, as lookups do), and each name's
   * attributes are leased too; undefined otherwise.
   */
  listing(dir: number): { name: string; attr: Attr }[] | undefined {
    const d = this.liveDir(dir);
    if (!d || !d.complete || d.until - performance.now() < d.span / 2) return undefined;
    const out: { name: string; attr: Attr }[] = [];
    for (const [name, inode] of d.names) {
      if (inode === null) continue;
      const attr = this.attr(inode);
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
    const a = this.attrs.get(inode);
    if (!a) return undefined;
    if (a.until > performance.now()) return a.attr;
    this.attrs.delete(inode);
    return undefined;
  }

  /** Whether `inode` is leased as having no extended attribute. */
  hasNoXattrs(inode: number): boolean {
    const until = this.noXattrs.get(inode)?.until;
    if (until === undefined) return false;
    if (until > performance.now()) return true;
    this.dropNoXattrs(inode);
    return false;
  }

  /** This mount set or removed an extended attribute of `inode` (or its lease on that ended). */
  dropNoXattrs(inode: number): void {
    if (this.noXattrs.delete(inode)) this.noXattrsMirror?.drop(inode);
  }

  /** Whether `dir`'s names are not to be kept by the kernel (DirLease.uncached); undefined: no live lease says. */
  namesUncached(dir: number): boolean | undefined {
    return this.liveDir(dir)?.uncached;
  }

  /** Seconds `name`'s entry in `parent` stays leased (0: not leased). */
  entrySec(parent: number, name: string): number {
    const d = this.liveDir(parent);
    return d && d.names.has(name) ? remainingSec(d.until) : 0;
  }

  /** Seconds `inode`'s attributes stay leased (0: not leased). */
  attrSec(inode: number): number {
    const a = this.attrs.get(inode);
    return a ? remainingSec(a.until) : 0;
  }

  /**
   * Records `name` in `parent` (inode, or null: no such name) as answered for a request
   * sent at `t`; `grant`: the answer came with a lease on the directory (a lookup, a
   * listing), else (this mount's own create, link…) the name is kept only while the
   * directory's lease lasts.
   */
  putEntry(parent: number, name: string, inode: number | null, t: Ticket, grant?: DirGrant): void {
    if (!this.current(t)) {
      this.dropName(parent, name);
      return;
    }
    // A create's answer carries no lease on its directory: the name joins a live one only.
    const d = grant ? this.dirLease(parent, t, grant) : this.liveDir(parent);
    if (d) d.names.set(name, inode);
  }

  /**
   * Every name of `parent` has been put (with putEntry, same ticket) — a whole listing,
   * or an empty directory this mount just made: from now on a name not there is missing.
   */
  putComplete(parent: number, t: Ticket, grant: DirGrant): void {
    if (!this.current(t)) return;
    const d = this.dirLease(parent, t, grant);
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
      return;
    }
    if (!this.noXattrs.has(a.inode) && !this.room(this.noXattrs)) return;
    const until = t.at + t.leaseMs - MARGIN_MS;
    this.noXattrs.set(a.inode, { until });
    this.noXattrsMirror?.set(a.inode, until);
  }

  /** Until when (performance.now(), ms) an answer to a request sent at `t` is leased; 0 when it is not (no leases, or a recall came meanwhile). */
  leasedUntil(t: Ticket): number {
    return this.current(t) ? t.at + t.leaseMs - MARGIN_MS : 0;
  }

  /** Records attributes answered for a request sent at `t`. */
  putAttr(a: Attr, t: Ticket): void {
    if (!this.current(t)) {
      this.attrs.delete(a.inode);
      this.dropNoXattrs(a.inode);
      return;
    }
    if (!this.attrs.has(a.inode) && !this.room(this.attrs)) return;
    this.attrs.set(a.inode, { until: t.at + t.leaseMs - MARGIN_MS, attr: a });
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
    d.names.delete(name);
    if (!gone) d.complete = false;
  }

  dropAttr(inode: number): void {
    this.attrs.delete(inode);
  }

  /** The master's recall: forgets the leases and says what the kernel was told under them. */
  recall(dirs: readonly number[], inodes: readonly number[]): KernelForget {
    this.recalls++;
    const out: KernelForget = { entries: [], inodes: [] };
    for (const dir of dirs) {
      const d = this.dirs.get(dir);
      if (!d) continue;
      this.dirs.delete(dir);
      for (const [name, inode] of d.names) if (inode !== null) out.entries.push([dir, name]);
    }
    for (const inode of inodes) {
      this.dropNoXattrs(inode);
      if (this.attrs.delete(inode)) out.inodes.push(inode);
    }
    return out;
  }

  /** The link dropped (or a reconnect): no lease holds any more. */
  recallAll(): KernelForget {
    this.noXattrs.clear();
    this.noXattrsMirror?.clear();
    return this.recall([...this.dirs.keys()], [...this.attrs.keys()]);
  }

  /** The lease of `parent` extended by an answer to a request sent at `t`, or a new one if it had ended. */
  private dirLease(parent: number, t: Ticket, grant: DirGrant): DirLease | undefined {
    const now = performance.now();
    const until = t.at + t.leaseMs - MARGIN_MS;
    let d = this.dirs.get(parent);
    if (!d || d.until <= now) {
      if (!d && !this.room(this.dirs)) return undefined;
      d = { until, span: t.leaseMs, names: new Map(), complete: false };
      this.dirs.set(parent, d);
    } else d.until = Math.max(d.until, until);
    if (grant.uncached !== undefined) d.uncached = grant.uncached;
    return d;
  }

  private current(t: Ticket): boolean {
    return t.leaseMs > 0 && t.recalls === this.recalls;
  }

  private liveDir(dir: number): DirLease | undefined {
    const d = this.dirs.get(dir);
    if (!d) return undefined;
    if (d.until > performance.now()) return d;
    this.dirs.delete(dir);
    return undefined;
  }

  /** Whether one more lease fits, after dropping the ended ones if need be. */
  private room(table: Map<number, { until: number }>): boolean {
    if (table.size < MAX_LEASED) return true;
    const now = performance.now();
    for (const [k, v] of table) {
      if (v.until > now) continue;
      table.delete(k);
      if (table === this.noXattrs) this.noXattrsMirror?.drop(k);
    }
    return table.size < MAX_LEASED;
  }
}

function remainingSec(until: number): number {
  return Math.max(0, (until - performance.now()) / 1000);
}
