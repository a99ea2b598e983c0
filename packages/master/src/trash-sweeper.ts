import type { Service } from '@tsmfs/daemon';
import type { Logger } from 'pino';

export interface TrashSweeperOptions {
  /** EMPTY_TRASH_PERIOD in ms. */
  periodMs: number;
  /** Inodes whose trash time ran out by `nowSec`, and the purge of one. */
  expired: (nowSec: number) => number[];
  purge: (inode: number) => void;
  nowSec: () => number;
  log: Logger;
}

/**
 * Purges trashed files whose trash time has run out, every EMPTY_TRASH_PERIOD seconds.
 * Each purge is a changelog entry like any other; nobody waits for its fsync.
 */
export class TrashSweeper implements Service {
  readonly name = 'trash-sweeper';
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: TrashSweeperOptions) {}

  async start(): Promise<void> {
    this.timer = setInterval(() => this.sweep(), this.options.periodMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One sweep; returns how many files were purged. */
  sweep(): number {
    const { expired, purge, nowSec, log } = this.options;
    let purged = 0;
    for (const inode of expired(nowSec())) {
      try {
        purge(inode);
        purged++;
      } catch (err) {
        log.warn({ inode, err: (err as Error).message }, 'could not purge an expired trash file');
      }
    }
    if (purged > 0) log.info({ purged }, 'expired trash purged');
    return purged;
  }
}
