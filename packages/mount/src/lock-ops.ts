import type { MasterSession } from '@tsmfs/client';
import { type FileLock, LockType, type RequestContext } from '@tsmfs/fuse';
import { type Request, fail } from '@tsmfs/protocol';

/** flock(2)'s op bits. */
const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
/** The master's "to the end of the file" (its locks' ends are inclusive safe integers). */
const LOCK_EOF = Number.MAX_SAFE_INTEGER;

type LockArgs = Omit<Request<'lockSet'>, 'wait'>;

/**
 * The mount's side of the locks every mount shares (docs/mount.md, "Locks"): flock and
 * POSIX locks (fcntl, OFD locks included: the kernel sends those as POSIX locks owned by
 * the open file) go to the master, which holds them; blocking waits ask it until granted
 * and end with EINTR when the kernel interrupts them (the caller got a signal).
 *
 * Releases, since the kernel keeps no record of locks a file system holds:
 * - POSIX: every close(2) sends a flush with the closing process's owner: its locks on
 *   the file go (POSIX's rule), for the owners that took one here;
 * - flock: the last close of the open file (release with the flock flag) unlocks its owner;
 * - OFD: the last close of the open file (release) unlocks the owners used only through
 *   that open file (an OFD lock's owner is the open file itself).
 * A session that ends (its mount died) loses its locks at the master.
 */
export class LockOps {
  private nextWait = 1;
  /** master inode → POSIX owners that took a lock through this mount (a close unlocks them). */
  private readonly posixOwners = new Map<number, Set<bigint>>();
  /** fh → the POSIX owners that locked through it. */
  private readonly ownersByFh = new Map<number, Set<bigint>>();
  readonly stats = { waits: 0, interrupted: 0 };

  constructor(private readonly session: MasterSession) {}

  async getlk(inode: number, lock: FileLock, owner: bigint): Promise<FileLock> {
    const conflict = await this.session.lockTest(posixArgs(inode, lock, owner));
    if (!conflict) return { ...lock, type: LockType.UNLOCK };
    return { type: conflict.type, start: conflict.start, length: conflict.end >= LOCK_EOF ? 0 : conflict.end - conflict.start + 1, pid: conflict.pid };
  }

  async setlk(ctx: RequestContext, inode: number, fh: number, lock: FileLock, owner: bigint, sleep: boolean): Promise<void> {
    const args = posixArgs(inode, lock, owner);
    if (args.type !== LockType.UNLOCK) {
      // Remembered before it is asked for: a close racing with the grant still unlocks it.
      let owners = this.posixOwners.get(inode);
      if (!owners) this.posixOwners.set(inode, (owners = new Set()));
      owners.add(owner);
      let byFh = this.ownersByFh.get(fh);
      if (!byFh) this.ownersByFh.set(fh, (byFh = new Set()));
      byFh.add(owner);
    }
    await (sleep ? this.wait(ctx, args) : this.session.lockSet(args));
  }

  async flock(ctx: RequestContext, inode: number, op: number, owner: bigint): Promise<void> {
    const type = op & LOCK_UN ? LockType.UNLOCK : op & LOCK_EX ? LockType.WRITE : op & LOCK_SH ? LockType.READ : undefined;
    if (type === undefined) throw fail('EINVAL');
    const args: LockArgs = { inode, kind: 'flock', owner: owner.toString(), type, start: 0, end: LOCK_EOF, pid: ctx.pid };
    await (type !== LockType.UNLOCK && !(op & LOCK_NB) ? this.wait(ctx, args) : this.session.lockSet(args));
  }

  /** A close(2) by `owner`: its POSIX locks on the file go. */
  async flushed(inode: number, owner: bigint): Promise<void> {
    const owners = this.posixOwners.get(inode);
    if (!owners?.delete(owner)) return;
    if (!owners.size) this.posixOwners.delete(inode);
    await this.unlockPosix(inode, owner);
  }

  /** The last close of open file `fh`: its flock lock, and its OFD locks. */
  async released(inode: number, fh: number, flockRelease: boolean, owner: bigint): Promise<void> {
    const byFh = this.ownersByFh.get(fh);
    this.ownersByFh.delete(fh);
    const done: Promise<unknown>[] = [];
    if (flockRelease) done.push(this.session.lockSet({ inode, kind: 'flock', owner: owner.toString(), type: LockType.UNLOCK, start: 0, end: LOCK_EOF, pid: 0 }));
    for (const o of byFh ?? []) {
      // A process's owner locks through any of its descriptors: left to its own close (flush).
      if ([...this.ownersByFh.values()].some((set) => set.has(o))) continue;
      const owners = this.posixOwners.get(inode);
      if (!owners?.delete(o)) continue;
      if (!owners.size) this.posixOwners.delete(inode);
      done.push(this.unlockPosix(inode, o));
    }
    await Promise.all(done);
  }

  private unlockPosix(inode: number, owner: bigint): Promise<boolean> {
    return this.session.lockSet({ inode, kind: 'posix', owner: owner.toString(), type: LockType.UNLOCK, start: 0, end: LOCK_EOF, pid: 0 });
  }

  /**
   * A blocking lock: asked again (same wait id, so the master keeps its place) until
   * granted. An interrupt cancels the wait at the master; the wait then ends with EINTR,
   * unless the grant came first (then the lock is ours and the call succeeds).
   */
  private async wait(ctx: RequestContext, args: LockArgs): Promise<void> {
    const wait = this.nextWait++;
    this.stats.waits++;
    for (;;) {
      if (ctx.signal.aborted) return this.interrupted(wait, undefined);
      const pending = this.session.lockSet({ ...args, wait });
      const outcome = await Promise.race([pending.then((granted) => ({ granted }), (err: unknown) => ({ err })), abortOf(ctx.signal)]);
      if (outcome === 'aborted') return this.interrupted(wait, pending);
      if ('err' in outcome) throw outcome.err;
      if (outcome.granted) return;
    }
  }

  private async interrupted(wait: number, pending: Promise<boolean> | undefined): Promise<void> {
    this.stats.interrupted++;
    await this.session.lockCancel(wait).catch(() => undefined);
    if (pending && (await pending.catch(() => false))) return;
    throw fail('EINTR');
  }
}

function posixArgs(inode: number, lock: FileLock, owner: bigint): LockArgs {
  if (lock.type !== LockType.READ && lock.type !== LockType.WRITE && lock.type !== LockType.UNLOCK) throw fail('EINVAL');
  const start = Math.min(lock.start, LOCK_EOF);
  const end = lock.length === 0 ? LOCK_EOF : Math.min(lock.start + lock.length - 1, LOCK_EOF);
  return { inode, kind: 'posix', owner: owner.toString(), type: lock.type, start, end, pid: lock.pid };
}

/** Resolves 'aborted' when `signal` aborts (never otherwise; the listener goes with the signal). */
function abortOf(signal: AbortSignal): Promise<'aborted'> {
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve('aborted'), { once: true }));
}
