import { join } from 'node:path';
import type { MasterSession, SessionOptions } from '@tsmfs/client';
import type { ConfigEntries } from './config-file.js';
import { Chunkserver, type ChunkserverOptions, Master, type MasterOptions, type MasterPorts, Metalogger, type MetaloggerOptions } from './daemons.js';
import type { Etcd } from './etcd.js';
import { HaGroup } from './ha-group.js';
import { Mount, type MountOptions } from './mount.js';
import { freePorts } from './ports.js';
import { makeTempDir } from './temp-dirs.js';

/** Starts of a master on freshly drawn ports when the drawn ones were taken meanwhile. */
const PORT_ATTEMPTS = 3;

export interface ClusterOptions {
  /** Where every daemon keeps config and data (default: a new temp dir). */
  dir?: string;
  master?: MasterOptions;
  /** Fixed master ports (`npm start`); default: free loopback ports. */
  ports?: MasterPorts;
  /** Do not start the master (config tests start it themselves). */
  noStart?: boolean;
  /** Append each daemon's output to DIR/NAME.log as well. */
  logDir?: string;
  /**
   * An HA group instead of one master (docs/ha.md): masters on these loopback addresses
   * (on `ports`, or the same free ports on each), electing on `etcd`; chunkservers,
   * metaloggers and mounts get the list of them. `master.config` applies to every master.
   */
  ha?: { etcd: Etcd; hosts: string[]; clusterName?: string };
}

export interface AddChunkserversOptions extends ChunkserverOptions {
  /** Start them (and wait for their registration); default true. */
  start?: boolean;
  /** Their data ports (default: free loopback ports). */
  ports?: number[];
  /** The name of the i-th chunkserver of the cluster (1-based); default csI. */
  name?: (i: number) => string;
  /** The disks of the chunkserver named NAME (`disks` only applies when adding one). */
  disksOf?: (name: string) => string[];
}

/**
 * The daemons of one cluster in one folder: a master, then chunkservers, metaloggers
 * and mounts hanging off it. Tests, benchmarks and `npm start` all start clusters here.
 */
export class Cluster {
  readonly metaloggers: Metalogger[] = [];
  readonly chunkservers: Chunkserver[] = [];
  readonly mounts: Mount[] = [];

  private constructor(
    readonly dir: string,
    /** The master, or the group's first master (not necessarily its leader). */
    readonly master: Master,
    private readonly logDir: string | undefined,
    /** The HA group, when the cluster has one. */
    readonly group?: HaGroup,
  ) {}

  static async create(options: ClusterOptions = {}): Promise<Cluster> {
    const dir = options.dir ?? makeTempDir();
    if (options.ha) {
      const group = await HaGroup.create(options.ha.etcd, { dir, hosts: options.ha.hosts, ports: options.ports, config: options.master?.config, clusterName: options.ha.clusterName });
      const cluster = new Cluster(dir, group.masters[0]!, options.logDir, group);
      for (const m of group.masters) cluster.logTo(m);
      if (!options.noStart) await group.start();
      return cluster;
    }
    // Ports drawn free can still be taken by another process before the master binds
    // them (another run's daemons on the same machine): then the master is started again
    // on fresh ones. Ports given by the caller are the caller's to choose.
    for (let attempt = 1; ; attempt++) {
      const [matocl, matocs, matoml, http] = options.ports ? [] : await freePorts(4);
      const ports = options.ports ?? { matocl: matocl!, matocs: matocs!, matoml: matoml!, http: http! };
      const cluster = new Cluster(dir, new Master(dir, ports, options.master), options.logDir);
      cluster.logTo(cluster.master);
      try {
        if (!options.noStart) await cluster.master.start();
        return cluster;
      } catch (err) {
        if (options.ports || attempt >= PORT_ATTEMPTS || !/already in use/.test(String(err))) throw err;
      }
    }
  }

  /** Every master of the cluster: the group's, or the one. */
  get masters(): Master[] {
    return this.group?.masters ?? [this.master];
  }

  /** MASTER_HOST (and MASTER_PORT) naming every master on the port `port` serves. */
  private masterKeys(port: keyof MasterPorts): ConfigEntries {
    if (!this.group) return {};
    return { MASTER_HOST: this.group.masterHost(port), MASTER_PORT: this.master.ports[port] };
  }

  /** A metalogger following this cluster's master(s) (started unless told not to). */
  async addMetalogger(options: MetaloggerOptions & { start?: boolean; name?: string } = {}): Promise<Metalogger> {
    const config = { ...this.masterKeys('matoml'), ...options.config };
    const ml = this.logTo(new Metalogger(this.dir, this.master.ports, { ...options, config }, options.name));
    this.metaloggers.push(ml);
    if (options.start ?? true) await ml.start();
    return ml;
  }

  /**
   * `n` chunkservers registering with this cluster's master, each with its own disk and
   * data port (free ports unless `ports` are given); started in parallel and registered
   * unless told not to. `name(i)` names the i-th (1-based in the cluster) chunkserver.
   */
  async addChunkservers(n: number, options: AddChunkserversOptions = {}): Promise<Chunkserver[]> {
    if (options.disks && n !== 1) throw new Error('addChunkservers: `disks` names the disks of one chunkserver; use disksOf for several');
    const ports = options.ports ?? (await freePorts(n));
    const first = this.chunkservers.length + 1;
    const added = ports.map((port, k) => {
      const name = options.name?.(first + k) ?? `cs${first + k}`;
      const disks = options.disksOf?.(name) ?? (n === 1 ? options.disks : undefined);
      const config = { ...this.masterKeys('matocs'), ...options.config };
      return this.logTo(new Chunkserver(this.dir, this.master.ports, port, name, { config, disks }));
    });
    this.chunkservers.push(...added);
    if (options.start ?? true) await Promise.all(added.map((cs) => cs.start()));
    return added;
  }

  /** A mount of this cluster (default: at a new temp dir, on this cluster's master). */
  async mount(options: Partial<MountOptions> = {}): Promise<Mount> {
    const path = options.path ?? makeTempDir('tsmfs-mnt-');
    const logFile = this.logDir ? join(this.logDir, 'mount.log') : undefined;
    const m = await Mount.start({ masters: this.masters.map((x) => x.address), logFile, ...options, path });
    this.mounts.push(m);
    return m;
  }

  /** A client session on the master, closed with everything else. */
  session(options: Partial<SessionOptions> = {}): Promise<MasterSession> {
    return this.master.session({ masters: this.masters.map((x) => x.address), ...options });
  }

  /** Stops every daemon of this cluster cleanly, mounts first, master last. */
  async stop(): Promise<void> {
    for (const m of this.mounts) await m.unmount();
    for (const ml of this.metaloggers) if (ml.process?.running) await ml.stop();
    await Promise.all(this.chunkservers.filter((cs) => cs.process?.running).map((cs) => cs.stop()));
    await Promise.all(this.masters.filter((m) => m.process?.running).map((m) => m.stop()));
  }

  private logTo<T extends { name: string; logFile: string | undefined }>(daemon: T): T {
    if (this.logDir) daemon.logFile = join(this.logDir, `${daemon.name}.log`);
    return daemon;
  }
}
