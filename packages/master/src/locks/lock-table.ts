/**
 * The locks every mount shares (docs/master.md, "Locks"): POSIX record locks (fcntl,
 * including open file description locks, which reach us as POSIX locks whose owner is
 * the open file) and flock(2) locks, per inode. This is the replicated state: it lives in
 * ClientState, so it reaches a follower and a restarted master through the changelog's
 * `lock` entries and the dump, and a takeover keeps every lock held. Applying an entry is
 * deterministic and never checks conflicts: the leader (lock-manager.ts) did that before
 * writing it.
 *
 * An owner is (session, the kernel's lock owner id): the kernel's id is unique on its
 * machine only (a process's file table for POSIX locks, the open file for flock and OFD
 * locks), so the session tells two mounts' owners apart.
 */

/** l_type as the wire carries it (Linux's F_RDLCK/F_WRLCK/F_UNLCK numbering in fuse's FileLock). */
export const LOCK_READ = 0;
export const LOCK_WRITE = 1;
export const LOCK_UNLOCK = 2;
export type LockType = typeof LOCK_READ | typeof LOCK_WRITE | typeof LOCK_UNLOCK;

/** The last byte of a lock "to the end of the file" (l_len 0): inclusive ends stay exact numbers. */
export const LOCK_EOF = Number.MAX_SAFE_INTEGER;

export type LockKind = 'posix' | 'flock';

/** A held lock: a byte range for POSIX locks; a flock lock is the whole file (0..LOCK_EOF). */
export interface HeldLock {
  /** Session id. */
  s: number;
  /** The kernel's lock owner id (a u64, as a decimal string). */
  o: string;
  type: typeof LOCK_READ | typeof LOCK_WRITE;
  /** First and last byte, inclusive. */
  start: number;
  end: number;
  /** The process that set it, for F_GETLK. */
  pid: number;
}

/** One change of the table: a lock set (read or write) or a range unlocked, by one owner. */
export interface LockChange {
  kind: LockKind;
  inode: number;
  s: number;
  o: string;
  type: LockType;
  start: number;
  end: number;
  pid: number;
}

/** Two locks of different owners that cannot both be held: they overlap and one of them writes. */
export function conflicting(a: Pick<HeldLock, 'type' | 'start' | 'end'>, b: Pick<HeldLock, 'type' | 'start' | 'end'>): boolean {
  return a.start <= b.end && b.start <= a.end && (a.type === LOCK_WRITE || b.type === LOCK_WRITE);
}

export function sameOwner(a: { s: number; o: string }, b: { s: number; o: string }): boolean {
  return a.s === b.s && a.o === b.o;
}

/**
 * POSIX's rule for an owner's locks on one file: a new lock (or an unlock) replaces what
 * the owner held on its range, splitting a lock it cuts through; the owner's locks of one
 * type that touch or overlap merge into one. Returns the new list (the owner's locks
 * sorted by start, after everyone else's, in their order).
 */
export function setRange(list: readonly HeldLock[], c: Omit<LockChange, 'kind' | 'inode'>): HeldLock[] {
  const others = list.filter((l) => !sameOwner(l, c));
  const mine: HeldLock[] = [];
  for (const l of list) {
    if (!sameOwner(l, c)) continue;
    if (l.end < c.start || c.end < l.start) {
      mine.push(l);
      continue;
    }
    if (l.start < c.start) mine.push({ ...l, end: c.start - 1 });
    if (l.end > c.end) mine.push({ ...l, start: c.end + 1 });
  }
  if (c.type !== LOCK_UNLOCK) {
    const merged: HeldLock = { s: c.s, o: c.o, type: c.type, start: c.start, end: c.end, pid: c.pid };
    const kept: HeldLock[] = [];
    for (const l of mine) {
      // Touching (end + 1 = start) merges too, as Linux does.
      if (l.type === merged.type && l.start <= merged.end + 1 && merged.start <= l.end + 1) {
        merged.start = Math.min(merged.start, l.start);
        merged.end = Math.max(merged.end, l.end);
      } else kept.push(l);
    }
    kept.push(merged);
    mine.length = 0;
    mine.push(...kept);
  }
  mine.sort((a, b) => a.start - b.start);
  return [...others, ...mine];
}

/** The first lock of another owner that `want` conflicts with. */
export function firstConflict(list: readonly HeldLock[] | undefined, want: Omit<LockChange, 'kind' | 'inode'>): HeldLock | undefined {
  if (want.type === LOCK_UNLOCK || !list) return undefined;
  return list.find((l) => !sameOwner(l, want) && conflicting(l, want as HeldLock));
}

export class LockTable {
  /** inode → POSIX locks held on it. */
  readonly posix = new Map<number, HeldLock[]>();
  /** inode → flock locks held on it (each the whole file). */
  readonly flock = new Map<number, HeldLock[]>();

  private of(kind: LockKind): Map<number, HeldLock[]> {
    return kind === 'posix' ? this.posix : this.flock;
  }

  held(kind: LockKind, inode: number): readonly HeldLock[] | undefined {
    return this.of(kind).get(inode);
  }

  /** Applies one change (the `lock` changelog entry). */
  apply(c: LockChange): void {
    const table = this.of(c.kind);
    const now = table.get(c.inode) ?? [];
    // A flock lock is one per owner: a conversion replaces it whole.
    const change = c.kind === 'flock' ? { ...c, start: 0, end: LOCK_EOF } : c;
    const next = setRange(now, change);
    if (next.length) table.set(c.inode, next);
    else table.delete(c.inode);
  }

  /** Drops every lock of session `s` (it ended); returns the inodes that had some. */
  dropSession(s: number): number[] {
    const touched = new Set<number>();
    for (const table of [this.posix, this.flock]) {
      for (const [inode, list] of table) {
        const rest = list.filter((l) => l.s !== s);
        if (rest.length === list.length) continue;
        touched.add(inode);
        if (rest.length) table.set(inode, rest);
        else table.delete(inode);
      }
    }
    return [...touched];
  }

  /** Whether session `s` holds any lock. */
  hasSession(s: number): boolean {
    for (const table of [this.posix, this.flock]) for (const list of table.values()) if (list.some((l) => l.s === s)) return true;
    return false;
  }

  get size(): number {
    let n = 0;
    for (const table of [this.posix, this.flock]) for (const list of table.values()) n += list.length;
    return n;
  }

  toJSON(): unknown {
    return { posix: [...this.posix], flock: [...this.flock] };
  }

  static fromJSON(data: unknown): LockTable {
    const table = new LockTable();
    const d = data as { posix?: [number, HeldLock[]][]; flock?: [number, HeldLock[]][] } | undefined;
    for (const [inode, list] of d?.posix ?? []) table.posix.set(inode, list);
    for (const [inode, list] of d?.flock ?? []) table.flock.set(inode, list);
    return table;
  }
}
