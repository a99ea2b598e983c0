import type { Request } from '@tsmfs/protocol';
import type { Logger } from 'pino';
import type { Metadata } from '../metadata/metadata.js';
import type { WriteLeases } from './write-leases.js';

/** A write a client says it has in flight (register's `writes`). */
export type WriteClaim = NonNullable<Request<'register'>['writes']>[number];

/**
 * Write leases across a takeover (docs/ha.md, "Write leases across a takeover"), after
 * NFSv4's grace period. The leases lived in the dead leader's memory only; the writes
 * they covered may still be going to the chunkservers. So the new leader:
 *
 * - gives each re-registering session the leases of the writes it declares in flight
 *   (`registered`), for a slot that still holds that chunk at no newer version — its
 *   writeChunkEnd then ends the lease, and other writers wait for it as for any lease;
 * - from the moment it leads (`lead`) until every session recorded and not linked here
 *   has re-registered, or `graceMs` has passed, grants no free slot: a session not yet
 *   back may still claim it. After that, the usual rules.
 *
 * Claims that come before this master has applied the whole changelog (elected, not yet
 * leading) are judged when it leads, against the metadata as the old leader left it.
 */
export class WriteGrace {
  /** Sessions the grace period waits for; undefined when none runs. */
  private absent: Set<number> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** When the running grace period times out (ms since the epoch). */
  private until = 0;
  /** False between an election and leading: claims wait in `deferred`. */
  private ready = true;
  private readonly deferred = new Map<number, readonly WriteClaim[]>();
  private heldLogged = false;

  constructor(
    private readonly leases: WriteLeases,
    private readonly md: () => Metadata,
    private readonly log: Logger,
  ) {}

  /** Whether free slots are held now. */
  get active(): boolean {
    return this.absent !== undefined;
  }

  /** For /api/status: the sessions still waited for and the time left; null when no grace period runs. */
  status(): { waitingFor: number; remainingMs: number } | null {
    return this.absent ? { waitingFor: this.absent.size, remainingMs: Math.max(0, this.until - Date.now()) } : null;
  }

  /** This master has just been elected: the leases of an earlier term of its own are stale. */
  elected(): void {
    this.end();
    this.leases.clear();
    this.deferred.clear();
    this.ready = false;
  }

  /**
   * This master leads with the whole changelog applied: the claims that came meanwhile are
   * judged (those of sessions still `linked`), and the grace period waits for `absent`
   * (the sessions recorded and not linked here) for at most `graceMs`.
   */
  lead(absent: Iterable<number>, graceMs: number, linked: (session: number) => boolean): void {
    this.ready = true;
    for (const [session, writes] of this.deferred) if (linked(session)) this.claim(session, writes);
    this.deferred.clear();
    const waiting = new Set(absent);
    if (waiting.size === 0 || graceMs <= 0) return;
    this.absent = waiting;
    this.until = Date.now() + graceMs;
    this.heldLogged = false;
    this.leases.holdFree((inode, index) => {
      if (this.heldLogged) return;
      this.heldLogged = true;
      this.log.info({ inode, index, waitingFor: this.absent?.size }, 'write grant held by the grace period: sessions of the former leader are not back yet');
    });
    this.timer = setTimeout(() => {
      this.log.info({ notBack: [...(this.absent ?? [])] }, 'grace period over: sessions did not come back in time');
      this.end();
    }, graceMs);
    this.timer.unref();
    this.log.info({ sessions: waiting.size, graceMs }, 'grace period: free chunk slots wait for the former leader\'s sessions');
  }

  /** Session `session` registered here (new, resumed or re-attached), declaring `writes` in flight. */
  registered(session: number, writes: readonly WriteClaim[] | undefined): void {
    if (writes?.length) {
      if (this.ready) this.claim(session, writes);
      else this.deferred.set(session, writes);
    }
    if (this.absent?.delete(session) && this.absent.size === 0) {
      this.log.info('grace period over: every session of the former leader is back');
      this.end();
    }
  }

  /** Ends the grace period now (every session back, the timeout, a new election, the master stopping). */
  end(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.absent = undefined;
    this.leases.endHold();
  }

  /**
   * A claim holds when the slot still has that chunk at the claimed version or an older
   * one (HA_SYNC_STANDBYS = 0 may have lost the grant's bump): a newer version means the
   * slot was granted again since, and the claimed write can no longer reach the copies.
   */
  private claim(session: number, writes: readonly WriteClaim[]): void {
    const md = this.md();
    let taken = 0;
    for (const w of writes) {
      if (!md.exists(w.inode) || md.typeOf(w.inode) !== 'file') continue;
      const chunkId = md.chunkAt(w.inode, w.index);
      if (chunkId === 0 || chunkId !== w.chunkId || (md.chunks.version[chunkId] ?? 0) > w.version) continue;
      if (this.leases.claim(session, w.inode, w.index, chunkId)) taken++;
    }
    this.log.info({ session, claimed: writes.length, taken }, 'write leases reclaimed');
  }
}
