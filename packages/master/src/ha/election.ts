import { performance } from 'node:perf_hooks';
import type { Logger, Service } from '@tsmfs/daemon';
import { Pause, notLeader } from '@tsmfs/rpc';
import { noop } from 'cockatiel';
import { Etcd3, type IKeyValue, type Watcher } from 'etcd3';
import type { HaGate, LeaderAddresses, Port } from './gate.js';
import type { HaSettings } from './ha-config.js';
import { PROBE_TIMEOUT_MS, portRefuses } from './leader-probe.js';

export interface ElectionOptions {
  settings: HaSettings;
  /** What this master publishes when it leads. */
  self: LeaderAddresses;
  log: Logger;
  /** This master stopped leading: every link it serves must go and find the new leader. */
  onStepDown: (why: string) => void;
  /**
   * How long to hold back a campaign once the key is gone (0: campaign at once). A shadow
   * master that was behind the leader holds back, so that a caught-up one wins the key
   * (docs/ha.md, "Who takes over").
   */
  campaignDelayMs?: () => number;
  /**
   * This master has just become the leader (won the key, or resumed it), called before
   * anything is served as leader: the chunk locations it hands out are computed then.
   */
  onElected?: () => void;
}

/**
 * /tsmfs/CLUSTER/sync with HA_SYNC_STANDBYS > 0 (docs/ha.md, "Synchronous standbys"): the
 * leader that wrote it and the members (advertised client addresses) that hold every
 * change it acknowledged. Only they may take over. Not on a lease: it must outlive the
 * leader that wrote it.
 */
export interface SyncSetValue {
  leader: string;
  epoch: number;
  members: string[];
}

/** What GET /api/status and /metrics show of the group. */
export interface HaStatus {
  role: 'leader' | 'follower';
  cluster: string;
  epoch: number;
  leader: LeaderAddresses | null;
  /** Leader only: mutations are admitted now (its lease confirmed with the safety margin). */
  mutable: boolean;
  /** The TTL etcd granted (it raises what HA_LEASE_TTL asks to its minimum). */
  leaseTtlMs: number;
  /** Leader changes this master has seen since it started (the first leader it saw is not one). */
  failovers: number;
}

/**
 * The leader election on etcd (docs/ha.md; Curve's design: a lease and a compare-and-swap).
 * Every master keeps a lease of HA_LEASE_TTL alive; the leader is the one whose lease
 * holds /tsmfs/CLUSTER/leader, which it created by a transaction that succeeds only when
 * the key does not exist (create-revision 0). Its epoch is the etcd revision of that
 * transaction: etcd's revisions only grow, so every later leader's epoch is higher.
 *
 * One loop, every TTL/4: renew the lease, read the key; campaign when there is none, step
 * down when it is gone or another's. A watch on the key cuts the wait when it is deleted.
 *
 * Safety: mutations are admitted only while less than TTL − margin (margin = TTL/3) has
 * passed since this master SENT the last keepalive etcd confirmed (etcd restarts its TTL
 * when it receives it, later), measured on the monotonic clock and on the wall clock,
 * whichever moved more (a suspended host stops the first, NTP steps move the second).
 */
export class Election implements Service, HaGate {
  readonly name = 'election';
  role: 'leader' | 'follower' = 'follower';
  epoch = 0;
  leader: LeaderAddresses | undefined;
  failovers = 0;
  private etcd: Etcd3 | undefined;
  private watcher: Watcher | undefined;
  private leaseId: string | undefined;
  private ttlMs: number;
  /** When the last keepalive (or the grant) that etcd confirmed was sent. */
  private confirmedAt: { mono: number; wall: number } | undefined;
  private seenRevision = 0;
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly pause = new Pause();
  /** The watch saw the key change while a tick was running: the next tick starts at once. */
  private woken = false;
  /** Mutations held while the lease is unconfirmed, woken at every change. */
  private readonly waiters = new Set<() => void>();
  private etcdReachable = true;
  /** When this master first found the key gone and held its campaign back (campaignDelayMs). */
  private heldSince: number | undefined;
  private readonly key: string;
  readonly syncKey: string;
  /** A dead leader's lease is being looked at (leaderLinkLost). */
  private revoking = false;
  /** Logged once per wait: this follower is not in the synchronous set and may not campaign. */
  private toldIneligible = false;
  private readonly log: Logger;

  constructor(private readonly options: ElectionOptions) {
    this.ttlMs = options.settings.ttlSec * 1000;
    this.key = `/tsmfs/${options.settings.cluster}/leader`;
    this.syncKey = `/tsmfs/${options.settings.cluster}/sync`;
    this.log = options.log;
  }

  async start(): Promise<void> {
    this.etcd = new Etcd3({
      hosts: this.options.settings.endpoints,
      // Our own loop retries every TTL/4; etcd3's retries and circuit breaker would hold
      // a call past its deadline, or refuse calls for 5 s after etcd comes back.
      faultHandling: { host: () => noop, global: noop },
      grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 },
    });
    this.running = true;
    this.watch();
    // Never waits for etcd: a master whose etcd is down runs as a follower until it is back.
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.pause.wake();
    await this.loop;
    await this.resign();
    await this.watcher?.cancel().catch(() => undefined);
    this.etcd?.close();
    this.etcd = undefined;
  }

  // ---- HaGate -----------------------------------------------------------------

  mayMutate(): boolean {
    return this.role === 'leader' && this.leaseLeftMs() > 0;
  }

  async admitMutation(port: Port): Promise<void> {
    if (this.mayMutate()) return;
    if (this.role !== 'leader') throw this.refusal(port);
    // A leader whose lease is unconfirmed holds the mutation: etcd may answer the next
    // keepalive (then it goes on), or the lease is gone and another master will lead
    // (then the client is sent there). Held at most one TTL.
    await new Promise<void>((resolve, reject) => {
      const settle = (): void => {
        if (this.mayMutate()) done(resolve);
        else if (this.role !== 'leader') done(() => reject(this.refusal(port)));
      };
      const timer = setTimeout(() => done(() => reject(this.refusal(port))), this.ttlMs);
      const done = (then: () => void): void => {
        clearTimeout(timer);
        this.waiters.delete(settle);
        then();
      };
      this.waiters.add(settle);
    });
  }

  refusal(port: Port): ReturnType<typeof notLeader> {
    const group = this.options.settings.cluster;
    if (this.role === 'leader') return notLeader(`the leader of HA group ${group} cannot confirm its etcd lease: no change is accepted until it can`);
    return notLeader(`this master is a follower in HA group ${group}`, this.leader?.[port]);
  }

  status(): HaStatus {
    return {
      role: this.role,
      cluster: this.options.settings.cluster,
      epoch: this.epoch,
      leader: this.leader ?? null,
      mutable: this.mayMutate(),
      leaseTtlMs: this.ttlMs,
      failovers: this.failovers,
    };
  }

  // ---- the loop -----------------------------------------------------------------

  /** T/4: one failed keepalive leaves the next one inside the 2T/3 window (docs/ha.md). */
  private get tickMs(): number {
    return this.ttlMs / 4;
  }

  /** Time since the last keepalive etcd confirmed was sent: the monotonic or the wall clock, whichever moved more. */
  private sinceConfirmedMs(): number {
    if (!this.confirmedAt) return Infinity;
    return Math.max(performance.now() - this.confirmedAt.mono, Date.now() - this.confirmedAt.wall);
  }

  /** How much longer mutations may be admitted on the last confirmed keepalive (≤ 0: not). */
  private leaseLeftMs(): number {
    const marginMs = this.ttlMs / 3;
    return this.ttlMs - marginMs - this.sinceConfirmedMs();
  }

  private async run(): Promise<void> {
    while (this.running) {
      const started = performance.now();
      this.woken = false;
      const mutable = this.mayMutate();
      try {
        await this.renew();
        await this.observe();
        if (!this.etcdReachable) this.log.info('etcd reachable again');
        this.etcdReachable = true;
      } catch (err) {
        if (this.etcdReachable) this.log.warn({ err: (err as Error).message }, 'etcd unreachable');
        this.etcdReachable = false;
      }
      // A whole TTL unconfirmed: the lease may be gone and another master elected. Stop
      // serving reads too; if etcd kept our lease and key, we take them back (observe).
      if (this.role === 'leader' && this.sinceConfirmedMs() >= this.ttlMs) this.stepDown('lease unconfirmed for a whole TTL: another master may lead');
      if (mutable !== this.mayMutate() && this.role === 'leader') {
        this.log.info({ epoch: this.epoch }, this.mayMutate() ? 'lease confirmed: accepting changes again' : 'lease not confirmed in time: changes are held');
      }
      this.wakeWaiters();
      if (!this.woken) await this.pause.sleep(Math.max(0, this.tickMs - (performance.now() - started)));
    }
  }

  /** Grants our lease if we have none, else keeps it alive; remembers when the confirmed request was sent. */
  private async renew(): Promise<void> {
    const etcd = this.etcd!;
    const sent = { mono: performance.now(), wall: Date.now() };
    if (this.leaseId === undefined) {
      const res = await etcd.leaseClient.leaseGrant({ TTL: this.options.settings.ttlSec }, { deadline: this.deadline() });
      this.leaseId = res.ID;
      this.ttlMs = Number(res.TTL) * 1000;
      this.confirmedAt = sent;
      return;
    }
    const ttl = await this.keepalive(this.leaseId);
    if (ttl > 0) {
      this.confirmedAt = sent;
      return;
    }
    // etcd says the lease is gone: it expired while we could not renew it (or were stopped).
    this.leaseId = undefined;
    this.confirmedAt = undefined;
    this.stepDown('our etcd lease expired');
  }

  private async keepalive(id: string): Promise<number> {
    const stream = await this.etcd!.leaseClient.leaseKeepAlive({ deadline: this.deadline() });
    try {
      const res = await new Promise<{ TTL: string }>((resolve, reject) => {
        stream.on('data', resolve);
        stream.on('error', reject);
        stream.on('end', () => reject(new Error('keepalive stream ended')));
        stream.write({ ID: id });
      });
      return Number(res.TTL);
    } finally {
      stream.end();
    }
  }

  /** Reads the leadership key: campaigns when there is none, steps down when it is not ours. */
  private async observe(): Promise<void> {
    const res = await this.etcd!.kv.range({ key: Buffer.from(this.key) }, { deadline: this.deadline() });
    const kv = res.kvs[0];
    if (kv === undefined) {
      this.stepDown('the leadership key is gone');
      await this.campaign();
      return;
    }
    if (this.role === 'leader' && !this.ours(kv)) this.stepDown('another master holds the leadership key');
    if (this.role !== 'leader' && kv.lease === this.leaseId && this.leaseLeftMs() > 0) {
      // Our own key on our own confirmed lease (we stepped down while etcd was away, and
      // etcd kept both): the leadership is still ours, at the same epoch.
      this.epoch = Number(kv.create_revision);
      this.role = 'leader';
      this.options.onElected?.();
      this.log.info({ epoch: this.epoch }, 'leadership resumed: etcd kept our key and lease');
    }
    this.saw(kv);
  }

  private async campaign(): Promise<void> {
    const etcd = this.etcd!;
    if (this.leaseId === undefined || this.leaseLeftMs() <= 0 || !this.running) return;
    const holdMs = this.options.campaignDelayMs?.() ?? 0;
    this.heldSince ??= performance.now();
    // Retried every tick (T/4) until the hold is over or another master won the key.
    if (performance.now() - this.heldSince < holdMs) return;
    const sync = await this.syncEligibility();
    if (!sync.eligible) return;
    const res = await etcd
      .if(this.key, 'Create', '==', 0)
      // The set read above is still the set: a leader that shrank it meanwhile (then died)
      // makes this campaign fail, and the next tick reads the new one.
      .and(this.syncKey, 'Mod', '==', sync.modRevision)
      .then(etcd.put(this.key).value(JSON.stringify(this.options.self)).lease(this.leaseId))
      .else(etcd.get(this.key))
      .options({ deadline: this.deadline() })
      .commit();
    if (!res.succeeded) {
      const kv = res.responses[0]?.response_range?.kvs[0];
      if (kv) this.saw(kv);
      return;
    }
    // The transaction's revision is the key's create-revision: our epoch.
    this.epoch = Number(res.header.revision);
    this.heldSince = undefined;
    this.role = 'leader';
    this.leader = this.options.self;
    this.options.onElected?.();
    this.countLeader(this.epoch);
    this.log.info({ epoch: this.epoch, key: this.key }, 'elected leader');
  }

  /**
   * Patroni's rule: with synchronous standbys, only a member of the synchronous set, or
   * the leader that wrote it, may take over — only they hold every acknowledged change.
   * No set yet (a new group, or one run with HA_SYNC_STANDBYS = 0 until now): anyone.
   */
  private async syncEligibility(): Promise<{ eligible: boolean; modRevision: string }> {
    if (this.options.settings.syncStandbys === 0) return { eligible: true, modRevision: '0' };
    const res = await this.etcd!.kv.range({ key: Buffer.from(this.syncKey) }, { deadline: this.deadline() });
    const kv = res.kvs[0];
    if (!kv) return { eligible: true, modRevision: '0' };
    const set = parseSyncSet(kv.value);
    const me = this.options.self.client;
    const eligible = set !== undefined && (set.leader === me || set.members.includes(me));
    if (!eligible && !this.toldIneligible) this.log.warn({ set }, 'the leader is gone, but this master is not in the synchronous set: it may lack acknowledged changes and does not campaign');
    this.toldIneligible = !eligible;
    return { eligible, modRevision: kv.mod_revision };
  }

  /**
   * A shadow master's changelog link to the leader at `ml` broke (docs/ha.md, "Taking
   * over when the leader's stream breaks"). With synchronous standbys a member of the set
   * does not wait out a dead leader's lease: when nothing listens on the port the leader
   * published any more (the connection is refused, so its process is gone), it revokes
   * that leader's lease in etcd, which deletes the key, and the election goes on as after
   * an expiry (the watch wakes every follower; Patroni's rule still decides who may win).
   * A leader that is alive but unreachable, stopped or slow is not refused: its lease is
   * waited out as before. Without synchronous standbys never: there, only the lease
   * fences a live old leader's changes.
   */
  async leaderLinkLost(ml: string): Promise<void> {
    const etcd = this.etcd;
    if (!etcd || !this.running || this.role === 'leader' || this.options.settings.syncStandbys === 0) return;
    if (this.leader?.ml !== ml || this.revoking) return;
    this.revoking = true;
    try {
      if (!(await portRefuses(ml, PROBE_TIMEOUT_MS))) return;
      const res = await etcd.kv.range({ key: Buffer.from(this.key) }, { deadline: this.deadline() });
      const kv = res.kvs[0];
      if (!kv) return this.wake();
      let holder: LeaderAddresses | undefined;
      try {
        holder = JSON.parse(kv.value.toString()) as LeaderAddresses;
      } catch {
        return;
      }
      // Still the master we found dead (not one elected meanwhile), and we may succeed it.
      if (holder.ml !== ml || kv.lease === '0' || !(await this.syncEligibility()).eligible) return;
      await etcd.leaseClient.leaseRevoke({ ID: kv.lease }, { deadline: this.deadline() });
      this.log.warn({ leader: ml, epoch: Number(kv.create_revision) }, 'the leader\'s port refuses connections: its process is gone; its lease revoked instead of waited out');
      this.wake();
    } catch (err) {
      this.log.warn({ leader: ml, err: (err as Error).message }, 'could not revoke a dead leader\'s lease: waiting for it to expire');
    } finally {
      this.revoking = false;
    }
  }

  /** The synchronous set as etcd holds it (undefined: none). */
  async syncSet(): Promise<SyncSetValue | undefined> {
    const res = await this.etcd!.kv.range({ key: Buffer.from(this.syncKey) }, { deadline: this.deadline() });
    return res.kvs[0] ? parseSyncSet(res.kvs[0].value) : undefined;
  }

  /**
   * Writes the synchronous set, only while this master's leadership key is the one it
   * created (compare on its epoch): a deposed leader cannot change it. False: not written.
   */
  async writeSyncSet(members: string[]): Promise<boolean> {
    const etcd = this.etcd;
    if (!etcd || this.role !== 'leader') return false;
    const value: SyncSetValue = { leader: this.options.self.client, epoch: this.epoch, members };
    const res = await etcd
      .if(this.key, 'Create', '==', this.epoch)
      .then(etcd.put(this.syncKey).value(JSON.stringify(value)))
      .options({ deadline: this.deadline() })
      .commit();
    return res.succeeded;
  }

  private ours(kv: IKeyValue): boolean {
    return Number(kv.create_revision) === this.epoch && kv.lease === this.leaseId;
  }

  /** The current holder of the key, as a follower sees it (or as the leader confirms itself). */
  private saw(kv: IKeyValue): void {
    this.heldSince = undefined;
    const revision = Number(kv.create_revision);
    if (this.role !== 'leader') this.epoch = revision;
    try {
      this.leader = JSON.parse(kv.value.toString()) as LeaderAddresses;
    } catch {
      this.leader = undefined;
    }
    this.countLeader(revision);
  }

  private countLeader(revision: number): void {
    if (revision === this.seenRevision) return;
    if (this.seenRevision !== 0) this.failovers++;
    this.seenRevision = revision;
  }

  private stepDown(why: string): void {
    if (this.role !== 'leader') return;
    this.role = 'follower';
    this.leader = undefined;
    this.log.warn({ epoch: this.epoch, why }, 'no longer the leader: dropping every link');
    this.wakeWaiters();
    this.options.onStepDown(why);
  }

  private wakeWaiters(): void {
    for (const w of [...this.waiters]) w();
  }

  private wake(): void {
    this.woken = true;
    this.pause.wake();
  }

  /** A deleted key wakes the loop at once: followers campaign without waiting for their tick. */
  private watch(): void {
    void this.etcd!.watch()
      .key(this.key)
      .create()
      .then((w) => {
        if (!this.running) return void w.cancel();
        this.watcher = w;
        w.on('delete', () => this.wake());
        w.on('put', (kv) => {
          if (this.role === 'leader' && !this.ours(kv)) this.wake();
          else if (this.role !== 'leader') this.saw(kv);
        });
        w.on('error', () => undefined);
      })
      .catch((err: Error) => this.log.warn({ err: err.message }, 'cannot watch the leadership key (the loop reads it every TTL/4 anyway)'));
  }

  /**
   * Clean shutdown: stop admitting, delete the key if it is still ours and revoke our
   * lease, so that a follower takes over at once instead of after the TTL.
   */
  private async resign(): Promise<void> {
    const etcd = this.etcd;
    if (!etcd) return;
    const wasLeader = this.role === 'leader';
    this.role = 'follower';
    this.wakeWaiters();
    try {
      if (wasLeader) {
        await etcd.if(this.key, 'Create', '==', this.epoch).then(etcd.delete().key(this.key)).options({ deadline: this.deadline(1000) }).commit();
        this.log.info({ epoch: this.epoch }, 'resigned the leadership');
      }
      if (this.leaseId !== undefined) await etcd.leaseClient.leaseRevoke({ ID: this.leaseId }, { deadline: this.deadline(1000) });
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not resign in etcd: the others take over when the lease expires');
    }
  }

  private deadline(ms = this.tickMs): Date {
    return new Date(Date.now() + ms);
  }
}

function parseSyncSet(value: Buffer): SyncSetValue | undefined {
  try {
    const v = JSON.parse(value.toString()) as SyncSetValue;
    return typeof v.leader === 'string' && Array.isArray(v.members) ? v : undefined;
  } catch {
    return undefined;
  }
}
