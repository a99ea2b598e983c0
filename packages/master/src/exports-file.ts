import type { Service } from '@tsmfs/daemon';
import type { Logger } from 'pino';
import { type ExportRule, loadExports } from './exports.js';

/**
 * The exports file as a service: read at start-up (a mistake stops the master, naming
 * file and line), re-read on SIGHUP like MooseFS's reload (a mistake then keeps the
 * rules in force and is logged). Existing sessions keep the rule they were admitted by.
 */
export class ExportsFile implements Service {
  readonly name = 'exports';
  private current: readonly ExportRule[] = [];
  private readonly onHangup = (): void => this.reload();

  constructor(
    private readonly file: string,
    private readonly log: Logger,
  ) {}

  get rules(): readonly ExportRule[] {
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
      this.log.error({ err: (err as Error).message }, 'exports not reloaded; the previous rules stay in force');
    }
  }

  private read(): ExportRule[] {
    const loaded = loadExports(this.file);
    for (const w of loaded.warnings) this.log.warn(w);
    if (loaded.usedDefault) {
      this.log.warn({ file: this.file }, "exports file not found: using MooseFS's default rules (* / rw,alldirs,admin,maproot=0:0 and * . rw)");
    } else {
      this.log.info({ file: this.file, rules: loaded.rules.length }, 'exports loaded');
    }
    return loaded.rules;
  }
}
