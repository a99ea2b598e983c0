import type { MasterSession } from '@tsmfs/client';
import { MAX_LEASE_RELEASES } from '@tsmfs/protocol';
import type { LeaseCache } from './lease-cache.js';

/** How often, without leases (LEASE_TIME 0) or without a link, the session's lease time is looked at again. */
const IDLE_CHECK_MS = 5_000;

/**
 * Keeps the session's leases alive, as an NFSv4 client renews its lease: every third of
 * the lease time, unless an answer from the master renewed the term lately, one
 * `leaseRenew`, which also gives back the leases this mount let go of
 * (LeaseCache.takeReleases). So a tree read a minute ago (an extraction, then `find`,
 * `du`, `git status`) is still answered here instead of name by name at the master, and
 * the master's tables hold what this mount holds. A holder that stops renewing (dead,
 * stopped, cut off) still lets go within LEASE_TIME.
 */
export class LeaseRenewal {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly session: MasterSession,
    private readonly leases: LeaseCache,
    /** Told of each renewal answered (`lease_renewals` in `.stats`). */
    private readonly count: (op: string) => void,
  ) {}

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    const leaseMs = this.session.leaseMs;
    this.timer = setTimeout(() => void this.tick().finally(() => this.schedule()), leaseMs > 0 ? leaseMs / 3 : IDLE_CHECK_MS);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const leaseMs = this.session.leaseMs;
    if (leaseMs <= 0 || !this.session.connected) return;
    // What was evicted is forgotten by the kernel before the master stops recalling it.
    await this.leases.evicted();
    // Taken and sent in one turn: no answer is leased between the two (takeReleases).
    const releases = this.leases.takeReleases(MAX_LEASE_RELEASES);
    // The master will not recall these any more: their held opens go with them.
    if (releases) this.session.letGoHeld(releases.inodes);
    // Two thirds of the term left: an answer renewed it lately, nothing to ask.
    // Nothing held: no term to keep.
    if (!releases && (this.leases.empty || !this.leases.endsWithin((2 * leaseMs) / 3))) return;
    const t = this.leases.ticket(leaseMs);
    try {
      await this.session.call('leaseRenew', releases ?? { dirs: [], inodes: [] });
      this.leases.renewed(t);
      this.count('lease_renewals');
    } catch {
      // A lost link (every lease ends with it) or a master without renewals (ENOSYS): the
      // term ends as it would have.
    }
  }
}
