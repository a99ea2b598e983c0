import type { Timespec } from '@tsmfs/protocol';
import type { LockChange } from '../locks/lock-table.js';
import type { SessionRecord } from './client-state.js';
import type { Metadata } from './metadata.js';
import type { Mutation, UnlinkFate } from './mutation.js';

/**
 * The namespace's entries about clients (client-state.ts): sessions opened and ended,
 * who holds a file that becomes sustained, the opens a re-attaching session claims, and
 * the sustained files nobody will come back for. Its changes go through the namespace's
 * commit, like every other change.
 */
export class ClientEntries {
  /** Who holds `inode` open (the client sessions; set by the master): recorded when it becomes sustained. */
  holdersOf: ((inode: number) => number[]) | undefined;
  /** Sustained files whose last recorded holder ended: purgeAbandoned's candidates. */
  private readonly abandonable = new Set<number>();

  constructor(
    private readonly md: Metadata,
    private readonly commit: (m: Mutation) => void,
    private readonly clock: () => Timespec,
    /** The namespace's open counts (in memory only). */
    private readonly openCount: Map<number, number>,
  ) {}

  /** A client session opened on this leader: recorded so that a new leader knows its id. */
  openSession(rec: SessionRecord): void {
    this.commit({ op: 'session', ts: this.clock(), ...rec });
  }

  /** A session ended: its record, request results and holds go; sustained files only it held are purged. */
  endSession(id: number): void {
    const c = this.md.clients;
    if (!c.sessions.has(id) && !c.results.has(id) && ![...c.sustainedBy.values()].some((h) => h.includes(id)) && !c.locks.hasSession(id)) return;
    for (const [inode, holders] of c.sustainedBy) if (holders.length === 1 && holders[0] === id) this.abandonable.add(inode);
    this.commit({ op: 'sessionEnd', ts: this.clock(), id });
    this.purgeAbandoned();
  }

  /** A lock set or unlocked (locks/lock-manager.ts checked it): replicated, so a takeover keeps it. */
  lock(change: LockChange): void {
    this.commit({ op: 'lock', ts: this.clock(), ...change });
  }

  /** The `held` of an entry that makes `inode` `fate`. */
  heldBy(inode: number, fate: UnlinkFate): { held?: { inode: number; sessions: number[] } } {
    const sessions = fate === 'sustained' ? this.holdersOf?.(inode) : undefined;
    return sessions?.length ? { held: { inode, sessions } } : {};
  }

  /**
   * Opens a re-attaching session claims (a takeover or a restart: open counts live in
   * memory only). Returns whether they were taken: a file that still has a name, or a
   * sustained file this session was recorded holding.
   */
  reclaimOpen(session: number, inode: number, count: number): boolean {
    const { md } = this;
    const ok = md.exists(inode) && (md.sustained.has(inode) ? (md.clients.sustainedBy.get(inode) ?? []).includes(session) : !md.trash.has(inode));
    if (ok) this.openCount.set(inode, (this.openCount.get(inode) ?? 0) + count);
    return ok;
  }

  /**
   * Purges the sustained files whose recorded holders have all ended and that nobody here
   * has open (a former leader's client that never came back). Files sustained with no
   * record of their holders are left as before (purgeUnopenedSustained).
   */
  private purgeAbandoned(): void {
    for (const inode of this.abandonable) {
      if (!this.md.sustained.has(inode) || (this.openCount.get(inode) ?? 0) > 0 || this.md.clients.sustainedBy.has(inode)) continue;
      this.commit({ op: 'purge', ts: this.clock(), inode });
    }
    this.abandonable.clear();
  }
}
