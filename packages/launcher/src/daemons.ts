import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MasterSession, type SessionOptions } from '@tsmfs/client';
import type { Address } from '@tsmfs/protocol';
import { MASTER_FILES, METALOGGER_FILES } from '@tsmfs/metastore';
import { changelogVersionsIn, lastChangelogVersion } from './changelog-files.js';
import { type ConfigEntries, writeConfig } from './config-file.js';
import { DaemonProcess, type ExitInfo, type LogLine } from './daemon-process.js';
import { live } from './live.js';
import { BIN } from './paths.js';
import { until } from './poll.js';
import { settings } from './settings.js';

/** A client session registered in `live`, closed with everything else. */
export async function openSession(options: SessionOptions): Promise<MasterSession> {
  const s = await MasterSession.open(options);
  live.sessions.add(s);
  return s;
}

/**
 * What every daemon shares: a config file written the way an operator would, the
 * processes it has been (for log assertions across restarts), crash and clean-stop
 * semantics. Its config, data and ports stay fixed across kill/restart.
 */
abstract class Daemon {
  process: DaemonProcess | undefined;
  /** Every process this daemon has been, oldest first. */
  readonly history: DaemonProcess[] = [];
  /** Where its output is appended as well (`npm start`), if anywhere. */
  logFile: string | undefined;

  protected constructor(
    readonly name: string,
    private readonly bin: string,
  ) {}

  abstract readonly configFile: string;

  /** The running process's ChildProcess (for /proc figures and signals). */
  get child(): DaemonProcess['child'] {
    if (!this.process) throw new Error(`${this.name} was never started`);
    return this.process.child;
  }

  protected spawn(): DaemonProcess {
    if (this.process?.running) throw new Error(`${this.name} already running (pid ${this.process.pid})`);
    const p = new DaemonProcess(this.name, [this.bin, '-c', this.configFile], { logFile: this.logFile });
    this.process = p;
    this.history.push(p);
    return p;
  }

  /** Signals the running daemon and waits for it to exit. SIGKILL by default: a crash. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<ExitInfo> {
    if (!this.process) throw new Error(`${this.name} was never started`);
    return this.process.kill(signal);
  }

  /** A clean stop (SIGTERM); rejects unless it exits 0. */
  async stop(): Promise<void> {
    const exit = await this.kill('SIGTERM');
    if (exit.code !== 0) throw new Error(`${this.name} stopped with code ${exit.code} signal ${exit.signal}:\n${this.process!.output().slice(-4000)}`);
  }

  /** Every log line of every process this daemon has been. */
  logs(): LogLine[] {
    return this.history.flatMap((p) => p.logs());
  }
}

export interface MasterPorts {
  /** clients and CLI tools */
  matocl: number;
  /** chunkservers */
  matocs: number;
  /** metaloggers and shadow masters */
  matoml: number;
  http: number;
}

export interface MasterOptions {
  /** Extra or overriding config keys. */
  config?: ConfigEntries;
  /** Lines of the exports file (mfsexports.cfg syntax). */
  exports?: string[];
  /** Lines of the topology file (mfstopology.cfg syntax); default: none, one rack. */
  topology?: string[];
  /** DATA_PATH to use instead of DIR/master (a promoted metalogger's folder). */
  dataPath?: string;
  /** Names the config/exports files and the process label, for a second master in one cluster. */
  name?: string;
  /** The loopback address it listens on (default 127.0.0.1): masters of an HA group on .1, .2, .3. */
  host?: string;
}

/** Exports that let a local cluster do anything (root stays root). */
export const OPEN_EXPORTS = ['127.0.0.1  /  rw,alldirs,admin,maproot=0:0', '127.0.0.1  .  rw'];

export class Master extends Daemon {
  readonly dataPath: string;
  readonly configFile: string;
  readonly exportsFile: string;
  /** Not the machine's /etc/tsmfs one: a cluster has a topology only when given one (`topology`). */
  readonly topologyFile: string;
  /** Line of each key in the config file, for assertions on error messages. */
  readonly configLines: Record<string, number>;
  readonly host: string;

  constructor(
    readonly dir: string,
    readonly ports: MasterPorts,
    options: MasterOptions = {},
  ) {
    super(options.name ?? 'master', BIN.master);
    this.host = options.host ?? '127.0.0.1';
    const suffix = options.name ? `-${options.name}` : '';
    this.dataPath = options.dataPath ?? join(dir, 'master');
    mkdirSync(this.dataPath, { recursive: true });
    this.exportsFile = join(dir, `mfsexports${suffix}.cfg`);
    this.topologyFile = join(dir, `mfstopology${suffix}.cfg`);
    if (options.topology) writeFileSync(this.topologyFile, options.topology.join('\n') + '\n');
    writeFileSync(this.exportsFile, (options.exports ?? OPEN_EXPORTS).join('\n') + '\n');
    this.configFile = join(dir, `mfsmaster${suffix}.cfg`);
    this.configLines = writeConfig(this.configFile, { ...this.defaultConfig(), ...options.config });
  }

  get address(): Address {
    return { host: this.host, port: this.ports.matocl };
  }

  /** Its HTTP root (monitor, /api/status, /metrics). */
  get httpUrl(): string {
    return `http://${this.host}:${this.ports.http}`;
  }

  /** Spawns the master; waits for "ready" unless told not to. */
  async start(options: { waitReady?: boolean } = {}): Promise<DaemonProcess> {
    const p = this.spawn();
    if (options.waitReady ?? true) await p.waitReady();
    return p;
  }

  /** Starts again on the same DATA_PATH and ports (stopping it first if it runs). */
  async restart(): Promise<DaemonProcess> {
    if (this.process?.running) await this.stop();
    return this.start();
  }

  /** The last version in its changelog files (durable or about to be). */
  changelogVersion(): number {
    return lastChangelogVersion(this.dataPath, MASTER_FILES);
  }

  session(options: Partial<SessionOptions> = {}): Promise<MasterSession> {
    return openSession({ masters: [this.address], hostname: 'launcher', mountpoint: '/launcher', ...options });
  }

  private defaultConfig(): ConfigEntries {
    return {
      DATA_PATH: this.dataPath,
      EXPORTS_FILENAME: this.exportsFile,
      TOPOLOGY_FILENAME: this.topologyFile,
      MATOCL_LISTEN_HOST: this.host,
      MATOCL_LISTEN_PORT: this.ports.matocl,
      MATOCS_LISTEN_HOST: this.host,
      MATOCS_LISTEN_PORT: this.ports.matocs,
      MATOML_LISTEN_HOST: this.host,
      MATOML_LISTEN_PORT: this.ports.matoml,
      HTTP_LISTEN_HOST: this.host,
      HTTP_LISTEN_PORT: this.ports.http,
    };
  }
}

export interface MetaloggerOptions {
  /** Extra or overriding config keys (MASTER_HOST may list several masters). */
  config?: ConfigEntries;
}

/** One metalogger following a master; its DATA_PATH and config stay fixed across restarts. */
export class Metalogger extends Daemon {
  readonly dataPath: string;
  readonly configFile: string;

  constructor(
    readonly dir: string,
    master: MasterPorts,
    options: MetaloggerOptions = {},
    name = 'metalogger',
  ) {
    super(name, BIN.metalogger);
    this.dataPath = join(dir, name);
    mkdirSync(this.dataPath, { recursive: true });
    this.configFile = join(dir, `mfs${name}.cfg`);
    writeConfig(this.configFile, {
      DATA_PATH: this.dataPath,
      MASTER_HOST: '127.0.0.1',
      MASTER_PORT: master.matoml,
      MASTER_RECONNECTION_DELAY: 1,
      MASTER_TIMEOUT: 4,
      ...options.config,
    });
  }

  async start(options: { waitReady?: boolean } = {}): Promise<DaemonProcess> {
    const p = this.spawn();
    if (options.waitReady ?? true) await p.waitReady();
    return p;
  }

  /** Versions in its changelog_ml files, oldest file first, in file order (for gap/duplicate checks). */
  changelogVersions(): number[] {
    return changelogVersionsIn(this.dataPath, METALOGGER_FILES);
  }

  /** The last version it has written (0 if none). */
  lastVersion(): number {
    return lastChangelogVersion(this.dataPath, METALOGGER_FILES);
  }

  /** Waits until its changelog holds `version`. */
  async waitForVersion(version: number, timeoutMs = 15_000): Promise<void> {
    await until(`${this.name} at version ${version}`, () => (this.lastVersion() >= version ? true : undefined), timeoutMs, 20);
  }
}

export interface ChunkserverOptions {
  /** Extra or overriding config keys. */
  config?: ConfigEntries;
  /** Disk directories (default: one, DIR/<name>/hdd1); created if missing. */
  disks?: string[];
}

/** One chunkserver with its own disks, registering with a master. */
export class Chunkserver extends Daemon {
  readonly dataPath: string;
  readonly configFile: string;
  readonly hddFile: string;
  readonly disks: string[];

  constructor(
    readonly dir: string,
    master: MasterPorts,
    readonly port: number,
    name: string,
    options: ChunkserverOptions = {},
  ) {
    super(name, BIN.chunkserver);
    this.dataPath = join(dir, name);
    mkdirSync(this.dataPath, { recursive: true });
    this.disks = options.disks ?? [join(this.dataPath, 'hdd1')];
    for (const d of this.disks) mkdirSync(d, { recursive: true });
    this.hddFile = join(dir, `mfshdd-${name}.cfg`);
    writeFileSync(this.hddFile, this.disks.join('\n') + '\n');
    this.configFile = join(dir, `mfschunkserver-${name}.cfg`);
    writeConfig(this.configFile, {
      MASTER_HOST: '127.0.0.1',
      MASTER_PORT: master.matocs,
      CSSERV_LISTEN_HOST: '127.0.0.1',
      CSSERV_LISTEN_PORT: port,
      HDD_CONF_FILENAME: this.hddFile,
      DATA_PATH: this.dataPath,
      HDD_LEAVE_SPACE_DEFAULT: '4MiB',
      ...options.config,
    });
  }

  get address(): Address {
    return { host: '127.0.0.1', port: this.port };
  }

  /** Spawns it and waits until it has registered and reported its chunks (unless told not to). */
  async start(options: { waitRegistered?: boolean } = {}): Promise<DaemonProcess> {
    const p = this.spawn();
    if (options.waitRegistered ?? true) await this.waitRegistered();
    return p;
  }

  /**
   * Resolves once the current process has registered with the master (chunk report
   * included) — in an HA group, with the leader (it registers with every master).
   */
  async waitRegistered(timeoutMs = settings.readyTimeoutMs): Promise<void> {
    await this.process!.waitForLog((l) => l.msg === 'registered with the master' && l.leader !== false, timeoutMs, 'registration with the master');
  }

  /** Resolves once the current process has registered with the master at `cs` ("host:port"), leader or not. */
  async waitRegisteredWith(cs: string, timeoutMs = settings.readyTimeoutMs): Promise<void> {
    await this.process!.waitForLog((l) => l.msg === 'registered with the master' && l.master === cs, timeoutMs, `registration with the master at ${cs}`);
  }

  /** Paths of the chunk files on its disks (chunk_<id>_<version>.tsmfs). */
  chunkFiles(): string[] {
    const out: string[] = [];
    for (const disk of this.disks) {
      for (const sub of readdirSync(disk)) {
        if (!/^[0-9A-F]{2}$/.test(sub)) continue;
        for (const f of readdirSync(join(disk, sub))) if (f.startsWith('chunk_')) out.push(join(disk, sub, f));
      }
    }
    return out;
  }
}
