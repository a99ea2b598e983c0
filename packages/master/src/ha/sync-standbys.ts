import { performance } from 'node:perf_hooks';
import type { Logger, Service } from '@tsmfs/daemon';
import type { Changelog } from '@tsmfs/metastore';
import type { Election } from './election.js';
import { LeadershipLost } from './gate.js';

export interface SyncStandbysOptions {
  election: Election;
  changelog: Changelog;
  /** HA_SYNC_STANDBYS (> 0). */
  n: number;
  /** HA_SYNC_TIMEOUT_MS: a member that leaves a change unconfirmed this long is dropped from the set. */
  timeoutMs: number;
  log: Logger;
}

/**
 * out: not in the set. joining: releases wait for it, not yet in etcd (it must first hold
 * everything released before it joined). in: in the set, or being written there.
 */
type State = 'out' | 'joining' | 'in';

interface Standby {
  member: string;
  /** The highest version it told us it holds on its current link. */
  acked: number;
  /** The link it acks on (undefined once closed). */
  link: object | undefined;
  state: State;
  /** joining: the highest version released when it began to join; it must hold it before it goes into etcd. */
  joinFrom: number;
  /** When it began to join: a change waiting since before then is not overdue on its account until HA_SYNC_TIMEOUT_MS after. */
  joinedAt: number;
}

interface Waiter {
  version: number;
  since: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** /api/status on the leader: the set, and every shadow master that acked on this leader. */
export interface SyncStatus {
  standbys: number;
  /** The set as etcd last confirmed it. */
  set: string[];
  followers: { member: string; acked: number; state: State; connected: boolean }[];
}

/**
 * A follower further behind than this many entries does not join: releases would wait for
 * it to catch up (at most HA_SYNC_TIMEOUT_MS, then it is dropped again).
 */
const JOIN_LAG = 1000;
/** How often members are checked for acks overdue, at most. */
const CHECK_MS = 100;

/**
 * The leader's synchronous standbys (HA_SYNC_STANDBYS = N > 0; docs/ha.md, "Synchronous
 * standbys"). Shadow masters tell the leader the version they hold (mlAck); a change is
 * released (its client answered) only once every member etcd may list in
 * /tsmfs/CLUSTER/sync — and every member joining — holds it.
 *
 * The invariant: every member etcd may list holds every change released. Hence, when a
 * member drops out (its link closed, or no ack within HA_SYNC_TIMEOUT_MS), it stays
 * required until etcd confirmed the smaller set: nothing is released without it before.
 * A follower joins in two steps: first releases wait for it (joining), then, once it holds
 * everything released before that, it is written into etcd. With fewer than N followers
 * the set is smaller (Patroni's non-strict mode); with none, only the leader may take over.
 */
export class SyncStandbys implements Service {
  readonly name = 'sync-standbys';
  private readonly standbys = new Map<string, Standby>();
  /** Members etcd may hold: the set it confirmed last, with those of a write in flight. */
  private inEtcd = new Set<string>();
  private confirmed: string[] = [];
  private waiters: Waiter[] = [];
  /** The highest version released (answered) while leading; at election, all we held. */
  private released = 0;
  private leading = false;
  /** The set's writer loop while it runs: one write at a time, and a new term waits for it. */
  private writer: Promise<void> | undefined;
  /** Counts leaderships (and their ends): a write of an earlier one never updates a later one's state. */
  private term = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly log: Logger;

  constructor(private readonly options: SyncStandbysOptions) {
    this.log = options.log;
  }

  async start(): Promise<void> {
    this.timer = setInterval(() => this.check(), Math.min(CHECK_MS, this.options.timeoutMs / 4));
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.lost();
  }

  /**
   * Just elected, before any mutation is admitted: the set becomes {leader: us, members:
   * []}. The previous set named the previous leader and followers that have not yet
   * confirmed anything of ours. Throws when etcd did not take it.
   */
  async lead(): Promise<void> {
    const { election, changelog } = this.options;
    this.leading = false;
    this.term++;
    // A write of the previous leadership still in flight lands first, then ours over it.
    await this.writer;
    this.inEtcd = new Set();
    this.confirmed = [];
    // Followers may have connected (and acked) since we were elected: kept, but all out.
    for (const s of this.standbys.values()) s.state = 'out';
    if (!(await election.writeSyncSet([]))) throw new Error('the synchronous set was not written: this master no longer holds the leadership key');
    // The previous leader may have acknowledged anything we hold: a member joins only
    // once it holds all of it.
    this.released = changelog.version;
    this.leading = true;
    this.log.info({ epoch: election.epoch, version: this.released }, 'synchronous set written: no standby yet');
    this.considerAll();
  }

  /** Leading with the set written (Shadow re-writes it if a step-down came and went unseen). */
  get isLeading(): boolean {
    return this.leading;
  }

  /** This master stopped leading: a change waiting for its standbys has an unknown outcome. */
  lost(): void {
    this.leading = false;
    this.term++;
    this.standbys.clear();
    this.inEtcd = new Set();
    this.confirmed = [];
    for (const w of this.waiters.splice(0)) w.reject(new LeadershipLost('no longer the leader before the synchronous standbys confirmed the change'));
  }

  /** Resolves once every required member holds `version`. */
  replicated(version: number): Promise<void> {
    if (!this.leading) return Promise.reject(new LeadershipLost('not leading: the change cannot be confirmed by the synchronous standbys'));
    if (version <= this.minAcked()) {
      this.released = Math.max(this.released, version);
      return Promise.resolve();
    }
    // Followers are sent only fsynced entries: in save modes 0 and 1 the fsync is asked for now.
    const { changelog } = this.options;
    if (changelog.saveMode < 2) changelog.durable(version).catch(() => undefined);
    return new Promise((resolve, reject) => this.waiters.push({ version, since: performance.now(), resolve, reject }));
  }

  /** mlAck from a shadow master on `link`. */
  acked(member: string, version: number, link: object): void {
    let s = this.standbys.get(member);
    if (s && s.link !== link) {
      // A new link: what it holds now may be less than it told us before (a restart).
      if (s.state !== 'out') this.drop(s, 'reconnected');
      s.link = link;
      s.acked = version;
    } else if (s) {
      s.acked = Math.max(s.acked, version);
    } else {
      s = { member, acked: version, link, state: 'out', joinFrom: 0, joinedAt: 0 };
      this.standbys.set(member, s);
    }
    if (!this.leading) return; // the set is being written at election: lead() considers it next
    this.consider(s);
    this.settle();
  }

  /** A follower's link closed. */
  gone(link: object): void {
    for (const s of this.standbys.values()) {
      if (s.link !== link) continue;
      s.link = undefined;
      this.drop(s, 'link closed');
    }
  }

  status(): SyncStatus {
    return {
      standbys: this.options.n,
      set: [...this.confirmed],
      followers: [...this.standbys.values()].map((s) => ({ member: s.member, acked: s.acked, state: s.state, connected: s.link !== undefined })),
    };
  }

  /** The set as etcd confirmed it (0 when not leading). */
  get size(): number {
    return this.leading ? this.confirmed.length : 0;
  }

  // ---- membership ---------------------------------------------------------------

  private consider(s: Standby): void {
    const { n, changelog } = this.options;
    const taken = [...this.standbys.values()].filter((o) => o.state !== 'out').length;
    if (s.state === 'out' && s.link && taken < n && s.acked >= changelog.durableUpTo - JOIN_LAG) {
      s.state = 'joining';
      s.joinFrom = this.released;
      s.joinedAt = performance.now();
      this.log.info({ member: s.member, acked: s.acked, from: s.joinFrom }, 'standby joining the synchronous set');
    }
    if (s.state === 'joining' && s.acked >= s.joinFrom) {
      s.state = 'in';
      this.writeSet();
    }
  }

  private drop(s: Standby, why: string): void {
    if (s.state === 'out') return;
    this.log.warn({ member: s.member, acked: s.acked, why }, 'standby leaves the synchronous set');
    s.state = 'out';
    // Another follower may take its place now, without waiting for its next ack.
    this.considerAll(s);
    this.writeSet();
    this.settle();
  }

  private considerAll(except?: Standby): void {
    if (!this.leading) return;
    for (const o of this.standbys.values()) if (o !== except) this.consider(o);
  }

  /** Writes the desired set until etcd holds it; while in flight, both old and new members are required. */
  private writeSet(): void {
    // A running loop writes the latest desired set next.
    this.writer ??= this.writeLoop().finally(() => (this.writer = undefined));
  }

  private async writeLoop(): Promise<void> {
    const term = this.term;
    for (;;) {
      const want = [...this.standbys.values()].filter((s) => s.state === 'in').map((s) => s.member).sort();
      if (!this.leading || term !== this.term || sameMembers(want, this.confirmed)) return;
      for (const m of want) this.inEtcd.add(m);
      try {
        if (!(await this.options.election.writeSyncSet(want))) return; // deposed: lost() follows from the step-down
      } catch (err) {
        this.log.warn({ err: (err as Error).message, want }, 'cannot write the synchronous set to etcd: changes wait');
        await new Promise((r) => setTimeout(r, CHECK_MS));
        continue;
      }
      if (!this.leading || term !== this.term) return;
      this.confirmed = want;
      this.inEtcd = new Set(want);
      this.log.info({ set: want }, 'synchronous set written');
      this.settle();
    }
  }

  // ---- releases -------------------------------------------------------------------

  /** The lowest version every required member holds (Infinity: none is required). */
  private minAcked(): number {
    let min = Infinity;
    for (const m of this.inEtcd) min = Math.min(min, this.standbys.get(m)?.acked ?? 0);
    for (const s of this.standbys.values()) if (s.state !== 'out') min = Math.min(min, s.acked);
    return min;
  }

  private settle(): void {
    if (!this.leading || this.waiters.length === 0) return;
    const min = this.minAcked();
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) {
      if (w.version <= min) {
        this.released = Math.max(this.released, w.version);
        w.resolve();
      } else {
        this.waiters.push(w);
      }
    }
  }

  /** Drops a member (joining or in) that has left a change unconfirmed for HA_SYNC_TIMEOUT_MS. */
  private check(): void {
    if (!this.leading || this.waiters.length === 0) return;
    const now = performance.now();
    for (const s of this.standbys.values()) {
      if (s.state === 'out') continue;
      const overdue = this.waiters.some((w) => w.version > s.acked && now - Math.max(w.since, s.joinedAt) > this.options.timeoutMs);
      if (overdue) this.drop(s, `no ack within HA_SYNC_TIMEOUT_MS (${this.options.timeoutMs} ms)`);
    }
  }
}

function sameMembers(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((m, i) => m === b[i]);
}
