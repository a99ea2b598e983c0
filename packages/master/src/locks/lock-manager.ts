import { type Request, Status, TsmfsError } from '@tsmfs/protocol';
import {
  type HeldLock,
  LOCK_EOF,
  LOCK_UNLOCK,
  type LockChange,
  type LockKind,
  type LockTable,
  type LockType,
  firstConflict,
  sameOwner,
} from './lock-table.js';

/**
 * The leader's side of the shared locks (docs/master.md, "Locks"): it checks conflicts,
 * writes the changes (`lock` entries, applied to the replicated LockTable), and keeps the
 * blocked waiters, which live in memory only: after a takeover each blocked client asks
 * the new leader again.
 *
 * A blocking request is answered when its lock is granted, or with `granted: false`
 * after WAIT_SLICE_MS (well under a client's request timeout, which would otherwise
 * declare the link dead); its waiter keeps its place for WAIT_GRACE_MS for the client's
 * re-send of the same wait id, which also covers a dropped link. Waiters are granted in
 * the order they came, each as soon as nothing held conflicts with it.
 */

/** The part of a session the manager needs: its id, and its link (a waiter is answered only on the link it came on). */
export interface LockSession {
  readonly id: number;
  readonly link: object | undefined;
}

export interface LockManagerOptions {
  /** The replicated table (the metadata's ClientState.locks: replaced when a dump is loaded). */
  table: () => LockTable;
  /** Writes one change (a changelog entry applied to the table). */
  commit: (change: LockChange) => void;
  /**
   * Whether session `id` still exists: the locks of one that ended went with its
   * sessionEnd entry, and its waiters go at the next sweep, when the others get what it held.
   */
  live: (id: number) => boolean;
  /**
   * Why this master may not write a change now (an HA follower, or a leader whose lease
   * is unconfirmed: docs/ha.md), or undefined when it may. A request is refused with it
   * (the client asks again, or asks the leader); a grant waits for the next sweep.
   */
  refusal?: () => Error | undefined;
  waitSliceMs?: number;
  waitGraceMs?: number;
}

const WAIT_SLICE_MS = 10_000;
const WAIT_GRACE_MS = 5_000;
/** How far the deadlock search follows owners waiting on owners (Linux: MAX_DEADLK_ITERATIONS 10). */
const MAX_DEADLOCK_STEPS = 10;
const SWEEP_MS = 500;

type LockArgs = Omit<Request<'lockSet'>, 'wait'>;

interface Waiter {
  session: LockSession;
  wid: number;
  want: LockChange;
  /** The request waiting now; undefined between a slice's answer and the re-send, or after its link dropped. */
  answer: { link: object | undefined; resolve: (granted: boolean) => void; reject: (err: Error) => void; timer: NodeJS.Timeout } | undefined;
  /** When it lost its request (ms, monotonic): dropped WAIT_GRACE_MS later. */
  idleSince: number;
}

export class LockManager {
  /** In arrival order: the grant order. */
  private waiters: Waiter[] = [];
  /** Runs while there are waiters. */
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly options: LockManagerOptions) {}

  get waiting(): number {
    return this.waiters.length;
  }

  private get table(): LockTable {
    return this.options.table();
  }

  /** F_GETLK: the first lock of another owner the request conflicts with. */
  test(session: LockSession, req: LockArgs): HeldLock | undefined {
    const want = change(session, req);
    return firstConflict(this.table.held(want.kind, want.inode), want);
  }

  /** F_SETLK(W) / flock: resolves true when set, false when a wait's slice ran out (ask again with the same id). */
  set(session: LockSession, req: Request<'lockSet'>): boolean | Promise<boolean> {
    const want = change(session, req);
    if (want.type === LOCK_UNLOCK) {
      this.unlock(want);
      return true;
    }
    const held = this.table.held(want.kind, want.inode);
    // flock conversion drops the old lock first, even if the new one must wait or fails (Linux).
    if (want.kind === 'flock' && held?.some((l) => sameOwner(l, want) && l.type !== want.type)) this.unlock({ ...want, type: LOCK_UNLOCK });
    const queued = req.wait === undefined ? undefined : this.waiters.find((w) => w.session.id === session.id && w.wid === req.wait);
    if (!firstConflict(this.table.held(want.kind, want.inode), want)) {
      if (queued) this.remove(queued);
      this.commit(want);
      return true;
    }
    if (req.wait === undefined) throw new TsmfsError(Status.EAGAIN, 'locked by another owner');
    if (want.kind === 'posix' && this.closesCycle(want)) {
      if (queued) this.remove(queued);
      throw new TsmfsError(Status.EDEADLK, 'waiting would deadlock');
    }
    const w = queued ?? { session, wid: req.wait, want, answer: undefined, idleSince: performance.now() };
    if (!queued) {
      this.waiters.push(w);
      this.sweeper ??= setInterval(() => this.sweep(), SWEEP_MS).unref();
    }
    w.session = session;
    w.want = want;
    // A re-send replaces an answer still pending on a dropped link.
    if (w.answer) this.answer(w, false);
    return new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(() => this.answer(w, false), this.options.waitSliceMs ?? WAIT_SLICE_MS);
      w.answer = { link: session.link, resolve, reject, timer };
    });
  }

  /** The wait `wid` was interrupted: its waiter goes; a pending request fails with EINTR. */
  cancel(session: LockSession, wid: number): void {
    const w = this.waiters.find((x) => x.session.id === session.id && x.wid === wid);
    if (!w) return;
    this.remove(w);
    this.answer(w, new TsmfsError(Status.EINTR, 'lock wait interrupted'));
  }


  /**
   * Session `s` released its last open of `inode`: whatever locks it still holds there go
   * (as MooseFS does), whichever owner the client failed to unlock.
   */
  closed(session: LockSession, inode: number): void {
    // Not now (HA: no change may be written): they go with the session at the latest.
    if (this.options.refusal?.()) return;
    for (const kind of ['posix', 'flock'] as const) this.releaseAll(kind, inode, session.id);
  }

  /**
   * Session `id` has been away LOCK_SUSTAIN_TIME (its mount is likely dead): every lock it
   * holds goes, as one unlock entry per owner and file, and the waiters get them. Its
   * session, and the files it holds open, stay until SESSION_SUSTAIN_TIME.
   */
  dropSession(id: number): number {
    if (this.options.refusal?.()) return 0;
    let dropped = 0;
    for (const kind of ['posix', 'flock'] as const) {
      const inodes = [...(kind === 'posix' ? this.table.posix : this.table.flock).keys()];
      for (const inode of inodes) dropped += this.releaseAll(kind, inode, id);
    }
    return dropped;
  }

  /** Unlocks every owner of session `s` holding a `kind` lock on `inode`; returns how many. */
  private releaseAll(kind: LockKind, inode: number, s: number): number {
    const owners = new Set((this.table.held(kind, inode) ?? []).filter((l) => l.s === s).map((l) => l.o));
    for (const o of owners) this.commit({ kind, inode, s, o, type: LOCK_UNLOCK, start: 0, end: LOCK_EOF, pid: 0 });
    return owners.size;
  }

  private unlock(want: LockChange): void {
    // A close unlocks every owner that may have locked: an entry only when something goes.
    const held = this.table.held(want.kind, want.inode);
    if (!held?.some((l) => sameOwner(l, want) && l.start <= want.end && want.start <= l.end)) return;
    this.commit(want);
  }

  private commit(c: LockChange): void {
    const refused = this.options.refusal?.();
    if (refused) throw refused;
    this.options.commit(c);
    this.grant(c.inode);
  }

  /** Grants the waiters of `inode` whose requests are waiting on a live link, in order. */
  private grant(inode: number): void {
    if (this.options.refusal?.()) return;
    for (const w of [...this.waiters]) {
      if (w.want.inode !== inode || !this.attached(w)) continue;
      if (firstConflict(this.table.held(w.want.kind, inode), w.want)) continue;
      this.remove(w);
      this.options.commit(w.want);
      this.answer(w, true);
    }
  }

  /** Whether `w`'s request can still be answered: pending, on the link its session has now. */
  private attached(w: Waiter): boolean {
    if (w.answer && w.answer.link !== undefined && w.answer.link === w.session.link) return true;
    if (w.answer) this.answer(w, false);
    return false;
  }

  private answer(w: Waiter, outcome: boolean | Error): void {
    const a = w.answer;
    if (!a) return;
    w.answer = undefined;
    w.idleSince = performance.now();
    clearTimeout(a.timer);
    if (outcome instanceof Error) a.reject(outcome);
    else a.resolve(outcome);
  }

  private remove(w: Waiter): void {
    this.waiters = this.waiters.filter((x) => x !== w);
  }

  /**
   * Drops the waiters of ended sessions and those nobody asked for again within
   * WAIT_GRACE_MS (a client gone, or interrupted unheard), then grants what the ended
   * sessions held (their locks went with their sessionEnd entries).
   */
  private sweep(): void {
    const now = performance.now();
    const grace = this.options.waitGraceMs ?? WAIT_GRACE_MS;
    for (const w of [...this.waiters]) {
      if (!this.options.live(w.session.id)) {
        this.remove(w);
        this.answer(w, new TsmfsError(Status.ECONNRESET, 'session ended'));
      } else if (!this.attached(w) && now - w.idleSince > grace) this.remove(w);
    }
    for (const inode of new Set(this.waiters.map((w) => w.want.inode))) this.grant(inode);
    if (!this.waiters.length) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  /**
   * Whether `want`, waiting, would close a cycle: an owner it waits for waits (directly
   * or through others) for it. Followed as Linux does, over POSIX waits only.
   */
  private closesCycle(want: LockChange): boolean {
    let frontier = this.blockers(want);
    const seen = new Set<string>();
    for (let step = 0; step < MAX_DEADLOCK_STEPS && frontier.length; step++) {
      const next: HeldLock[] = [];
      for (const holder of frontier) {
        if (sameOwner(holder, want)) return true;
        const key = `${holder.s}:${holder.o}`;
        if (seen.has(key)) continue;
        seen.add(key);
        for (const w of this.waiters) if (w.want.kind === 'posix' && sameOwner(w.want, holder)) next.push(...this.blockers(w.want));
      }
      frontier = next;
    }
    return false;
  }

  /** The locks of other owners that `want` conflicts with. */
  private blockers(want: LockChange): HeldLock[] {
    const held = this.table.held(want.kind, want.inode) ?? [];
    return held.filter((l) => !sameOwner(l, want) && firstConflict([l], want) !== undefined);
  }
}

function change(session: LockSession, req: LockArgs): LockChange {
  if (req.type > LOCK_UNLOCK) throw new TsmfsError(Status.EINVAL, `lock type ${req.type}`);
  if (req.start > req.end || req.end > LOCK_EOF) throw new TsmfsError(Status.EINVAL, `lock range ${req.start}..${req.end}`);
  if (!/^\d+$/.test(req.owner)) throw new TsmfsError(Status.EINVAL, 'lock owner is not a number');
  const whole = req.kind === 'flock';
  return {
    kind: req.kind,
    inode: req.inode,
    s: session.id,
    o: req.owner,
    type: req.type as LockType,
    start: whole ? 0 : req.start,
    end: whole ? LOCK_EOF : req.end,
    pid: req.pid,
  };
}
