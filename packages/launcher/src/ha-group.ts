import { join } from 'node:path';
import type { Address } from '@tsmfs/protocol';
import type { ConfigEntries } from './config-file.js';
import { Chunkserver, Master, type MasterPorts } from './daemons.js';
import type { Etcd } from './etcd.js';
import { until } from './poll.js';
import { freePorts } from './ports.js';

/** What `GET /api/status` answers (docs/ha.md). */
export interface GroupStatus {
  role: 'leader' | 'follower' | 'alone';
  epoch: number;
  metadataVersion: number;
  follower: { appliedVersion: number; leaderVersion: number; lag: number } | null;
  /** The leader's synchronous set and each shadow master's acked version (HA_SYNC_STANDBYS > 0), else null. */
  sync: { standbys: number; set: string[]; followers: { member: string; acked: number; state: 'out' | 'joining' | 'in'; connected: boolean }[] } | null;
  /** A new leader's grace period for write leases: the former leader's sessions not back yet, and the time left; else null. */
  grace: { waitingFor: number; remainingMs: number } | null;
  mutable: boolean;
  failovers: number;
  leaseTtlMs: number;
  leader: { client: string; cs: string; ml: string; http: string } | null;
  self: { client: string; cs: string; ml: string; http: string };
}

export interface HaGroupOptions {
  /** Where the masters keep configs and DATA_PATHs (DIR/mI). */
  dir: string;
  /** Masters in the group (default: one per host, or 3). */
  n?: number;
  /**
   * One loopback address per master, all on the same ports (`ports`, or free ones):
   * how the group runs on one machine as on three. Default: every master on 127.0.0.1,
   * each on its own free ports.
   */
  hosts?: string[];
  /** The ports of every master (with `hosts`): the standard ones for `npm start -- --ha`. */
  ports?: MasterPorts;
  /** Extra master keys (HA_LEASE_TTL, HA_SYNC_STANDBYS, …). */
  config?: ConfigEntries;
  /** HA_CLUSTER_NAME (default: a name no other group on the etcd has). */
  clusterName?: string;
}

/**
 * Masters of one HA group (docs/ha.md) on one etcd, each with its own DATA_PATH: one
 * leader, the others shadow masters applying its changelog.
 */
export class HaGroup {
  private constructor(
    readonly dir: string,
    readonly masters: Master[],
    readonly clusterName: string,
  ) {}

  /** The group's masters, created (not started: see start()). */
  static async create(etcd: Etcd, options: HaGroupOptions): Promise<HaGroup> {
    const hosts = options.hosts ?? Array.from({ length: options.n ?? 3 }, () => '127.0.0.1');
    if (options.n !== undefined && options.n !== hosts.length) throw new Error(`HaGroup: ${options.n} masters on ${hosts.length} hosts`);
    const clusterName = options.clusterName ?? `t${process.pid}x${Math.floor(Math.random() * 1e9)}`;
    const distinct = new Set(hosts).size === hosts.length;
    if (options.ports && !distinct) throw new Error('HaGroup: fixed ports need one distinct host per master');
    // All in one call: ports released between calls could be handed out twice.
    const free = options.ports ? [] : await freePorts(distinct ? 4 : 4 * hosts.length);
    const masters = hosts.map((host, k) => {
      const i = distinct ? 0 : k;
      const ports = options.ports ?? { matocl: free[4 * i]!, matocs: free[4 * i + 1]!, matoml: free[4 * i + 2]!, http: free[4 * i + 3]! };
      return new Master(options.dir, ports, {
        name: `m${k + 1}`,
        host,
        dataPath: join(options.dir, `m${k + 1}`),
        config: { HA_ETCD_ENDPOINTS: etcd.endpoint, HA_CLUSTER_NAME: clusterName, HA_LEASE_TTL: 2, ...options.config },
      });
    });
    return new HaGroup(options.dir, masters, clusterName);
  }

  /**
   * Starts every master and waits until each is ready. Three masters creating their file
   * systems at once (a dump fsynced each) can take longer than one on a loaded machine.
   */
  async start(readyTimeoutMs = 60_000): Promise<void> {
    await Promise.all(this.masters.map(async (m) => (await m.start({ waitReady: false })).waitReady(readyTimeoutMs)));
  }

  /** Every master's client address, as a client's list of masters. */
  get addresses(): Address[] {
    return this.masters.map((m) => m.address);
  }

  /**
   * The masters as one MASTER_HOST value for chunkservers and metaloggers: hosts only when
   * they share their ports (then MASTER_PORT says which), else HOST:PORT of `port`.
   */
  masterHost(port: keyof Master['ports']): string {
    const same = this.masters.every((m) => m.ports[port] === this.masters[0]!.ports[port]);
    return this.masters.map((m) => (same ? m.host : `${m.host}:${m.ports[port]}`)).join(',');
  }

  /** `n` chunkservers reporting to every master of the group (MASTER_HOST), started (not waited for). */
  async chunkservers(n: number): Promise<Chunkserver[]> {
    const all = await this.makeChunkservers(n);
    await Promise.all(all.map((cs) => cs.start({ waitRegistered: false })));
    return all;
  }

  /** `n` chunkservers of the group, made (their disks exist) but not started. */
  async makeChunkservers(n: number): Promise<Chunkserver[]> {
    const ports = await freePorts(n);
    const list = this.masters.map((m) => `${m.host}:${m.ports.matocs}`).join(',');
    return ports.map((p, i) => new Chunkserver(this.dir, this.masters[0]!.ports, p, `cs${i + 1}`, { config: { MASTER_HOST: list } }));
  }

  running(): Master[] {
    return this.masters.filter((m) => m.process?.running);
  }

  /** The single leader among `among` once they agree on it (every one of them sees it). */
  async leader(among: Master[] = this.running(), timeoutMs = 20_000): Promise<{ leader: Master; status: GroupStatus }> {
    return until(
      `one leader among ${among.map((m) => m.name).join(', ')}`,
      async () => {
        const all = await Promise.all(among.map((m) => status(m).catch(() => undefined)));
        if (all.some((s) => s === undefined)) return undefined;
        const leaders = among.filter((_, i) => all[i]!.role === 'leader');
        if (leaders.length !== 1) return undefined;
        const mine = all[among.indexOf(leaders[0]!)]!;
        // The others follow that leader, at its epoch.
        if (!all.every((s) => s!.epoch === mine.epoch && s!.leader?.client === mine.self.client)) return undefined;
        return { leader: leaders[0]!, status: mine };
      },
      timeoutMs,
      100,
    );
  }
}

/** Waits until `others` have applied everything `leader` has; returns that version. */
export async function caughtUp(leader: Master, others: Master[]): Promise<number> {
  return until(
    "followers at the leader's version",
    async () => {
      const v = (await status(leader)).metadataVersion;
      const all = await Promise.all(others.map((m) => status(m)));
      return all.every((s) => s.metadataVersion === v && s.follower?.lag === 0) ? v : undefined;
    },
    30_000,
    50,
  );
}

export async function status(m: Master): Promise<GroupStatus> {
  const res = await fetch(`${m.httpUrl}/api/status`);
  if (!res.ok) throw new Error(`${m.name}: /api/status ${res.status}`);
  return (await res.json()) as GroupStatus;
}

export async function metrics(m: Master): Promise<string> {
  return (await fetch(`${m.httpUrl}/metrics`)).text();
}
