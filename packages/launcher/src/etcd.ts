import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DaemonProcess } from './daemon-process.js';
import { freePorts } from './ports.js';
import { makeTempDir } from './temp-dirs.js';

/** Debian's etcd-server (scripts/debian-packages.txt); TSMFS_ETCD_BIN names another. */
export const ETCD_BIN = process.env.TSMFS_ETCD_BIN ?? '/usr/bin/etcd';

export interface EtcdOptions {
  /** Its data folder (kept across kill/start: a restarted etcd keeps its keys and leases); default a new temp dir. */
  dir: string;
  /** Client and peer ports (default: free ones). */
  clientPort?: number;
  peerPort?: number;
  /** Where its output is appended as well (`npm start`). */
  logFile?: string;
}

/**
 * One etcd member on 127.0.0.1, the engine of the masters' election (docs/ha.md), run as
 * a DaemonProcess so that it is stopped by pid with everything else. For the HA tests,
 * the HA benchmark and `npm start -- --ha`.
 */
export class Etcd {
  process: DaemonProcess | undefined;
  private constructor(
    readonly dir: string,
    readonly clientPort: number,
    readonly peerPort: number,
    private readonly logFile: string | undefined,
  ) {}

  static async start(options: Partial<EtcdOptions> = {}): Promise<Etcd> {
    const [clientPort, peerPort] = options.clientPort && options.peerPort ? [options.clientPort, options.peerPort] : await freePorts(2);
    const dir = options.dir ?? makeTempDir('tsmfs-etcd-');
    mkdirSync(dir, { recursive: true });
    const etcd = new Etcd(dir, clientPort!, peerPort!, options.logFile);
    await etcd.start();
    return etcd;
  }

  /** What HA_ETCD_ENDPOINTS takes. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  async start(): Promise<void> {
    const client = this.endpoint;
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const p = new DaemonProcess(
      'etcd',
      [
        '--name=tsmfs',
        `--data-dir=${join(this.dir, 'data')}`,
        `--listen-client-urls=${client}`,
        `--advertise-client-urls=${client}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=tsmfs=${peer}`,
        '--logger=zap',
        '--log-outputs=stderr',
      ],
      { command: ETCD_BIN, logFile: this.logFile },
    );
    this.process = p;
    await p.waitForText('serving client traffic', 20_000);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.process?.kill(signal);
  }
}
