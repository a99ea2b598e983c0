import type { Service } from '@tsmfs/daemon';
import type { Logger } from 'pino';
import type { DumpWritten } from '@tsmfs/metastore';

export interface DumpSchedulerOptions {
  /** METADATA_SAVE_FREQ in ms. */
  everyMs: number;
  dump: () => Promise<DumpWritten>;
  /** Starts a new changelog file once the dump is safe (changelog.0 → changelog.1). */
  rotateChangelog: () => Promise<void>;
  /** Signal that asks for a dump now (the operator's lever; SIGUSR2). */
  signal?: NodeJS.Signals;
  log: Logger;
}

/**
 * Writes a metadata dump every METADATA_SAVE_FREQ hours and on SIGUSR2 (SIGUSR1 is
 * Node's debugger signal), then rotates the changelog. The shutdown dump is the metadata
 * store's own, written after the client port is closed and the changelog flushed.
 */
export class DumpScheduler implements Service {
  readonly name = 'dump-scheduler';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly onSignal = (): void => void this.dumpNow('signal');

  constructor(private readonly options: DumpSchedulerOptions) {}

  async start(): Promise<void> {
    this.timer = setInterval(() => void this.dumpNow('scheduled'), this.options.everyMs);
    this.timer.unref();
    if (this.options.signal) process.on(this.options.signal, this.onSignal);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.options.signal) process.off(this.options.signal, this.onSignal);
    await this.running;
  }

  /** Dumps now, unless a dump is already being written (then waits for that one). */
  dumpNow(reason: string): Promise<void> {
    this.running ??= this.run(reason).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async run(reason: string): Promise<void> {
    const { log } = this.options;
    try {
      const written = await this.options.dump();
      await this.options.rotateChangelog();
      log.info({ ...written, reason }, 'metadata dumped');
    } catch (err) {
      // The changelog still holds everything: a failed dump costs start-up time, not data.
      log.error({ err: (err as Error).message, reason }, 'metadata dump failed');
    }
  }
}
