import type { Service } from '@tsmfs/daemon';
import type { Logger } from 'pino';
import { type ExportRule, loadExports } from './exports.js';
import { type Topology, loadTopology } from './chunks/topology.js';

/**
 * A configuration file of its own (exports, topology) as a service: read at start-up (a
 * mistake stops the master, naming file and line), re-read on SIGHUP like MooseFS's
 * reload (a mistake then keeps what is in force, and is logged).
 */
export class ReloadedFile<T> implements Service {
  private current: T | undefined;
  private readonly onHangup = (): void => this.reload();

  constructor(
    readonly name: string,
    private readonly read: () => T,
    private readonly log: Logger,
  ) {}

  get value(): T {
    if (this.current === undefined) throw new Error(`${this.name} read before the master started`);
    return this.current;
  }

  async start(): Promise<void> {
    this.current = this.read();
    process.on('SIGHUP', this.onHangup);
  }

  async stop(): Promise<void> {
    process.off('SIGHUP', this.onHangup);
  }

  private reload(): void {
    try {
      this.current = this.read();
    } catch (err) {
      this.log.error({ err: (err as Error).message }, `${this.name} not reloaded; what was in force stays`);
    }
  }
}

/** The exports file (EXPORTS_FILENAME). Existing sessions keep the rule they were admitted by. */
export function exportsFile(file: string, log: Logger): ReloadedFile<readonly ExportRule[]> {
  return new ReloadedFile(
    'exports',
    () => {
      const loaded = loadExports(file);
      for (const w of loaded.warnings) log.warn(w);
      if (loaded.usedDefault) {
        log.warn({ file }, "exports file not found: using MooseFS's default rules (* / rw,alldirs,admin,maproot=0:0 and * . rw)");
      } else {
        log.info({ file, rules: loaded.rules.length }, 'exports loaded');
      }
      return loaded.rules;
    },
    log,
  );
}

/** The topology file (TOPOLOGY_FILENAME), optional: without it every server is in one rack. */
export function topologyFile(file: string, log: Logger): ReloadedFile<Topology> {
  return new ReloadedFile(
    'topology',
    () => {
      const topology = loadTopology(file);
      if (topology.lines > 0) log.info({ file, lines: topology.lines }, 'topology loaded');
      return topology;
    },
    log,
  );
}
