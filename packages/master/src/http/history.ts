import type { Service } from '@tsmfs/daemon';

/** One sample of the monitor's charts. */
export interface Sample {
  /** ms since the epoch */
  t: number;
  /** client-port requests per second since the previous sample */
  opsPerSec: number;
  /** chunkserver data bytes per second (all servers) */
  readBytesPerSec: number;
  writeBytesPerSec: number;
  usedSpace: number;
  totalSpace: number;
}

/** Cumulative counters the sampler turns into rates, and the space now. */
export interface Counters {
  ops: number;
  bytesRead: number;
  bytesWritten: number;
  usedSpace: number;
  totalSpace: number;
}

/** A fixed-size ring of samples: memory stays bounded however long the master runs. */
export class Ring<T> {
  private readonly items: T[] = [];
  private next = 0;

  constructor(readonly capacity: number) {}

  push(item: T): void {
    if (this.items.length < this.capacity) this.items.push(item);
    else this.items[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Oldest first. */
  toArray(): T[] {
    if (this.items.length < this.capacity) return [...this.items];
    return [...this.items.slice(this.next), ...this.items.slice(0, this.next)];
  }

  get size(): number {
    return this.items.length;
  }
}

export interface HistoryOptions {
  read: () => Counters;
  /** ms between samples */
  everyMs: number;
  /** samples kept */
  keep: number;
  now?: () => number;
}

/**
 * The monitor's memory of the last hours: every `everyMs` the cumulative counters are
 * read and the rates since the last sample kept in a ring (default 5 s × 4320 = 6 h).
 * In memory only, like MooseFS's CGI charts' short ranges; a restart starts afresh.
 */
export class History implements Service {
  readonly name = 'http-history';
  readonly samples: Ring<Sample>;
  readonly everyMs: number;
  private timer: NodeJS.Timeout | undefined;
  private last: { t: number; c: Counters } | undefined;
  private readonly now: () => number;

  constructor(private readonly options: HistoryOptions) {
    this.samples = new Ring(options.keep);
    this.everyMs = options.everyMs;
    this.now = options.now ?? Date.now;
  }

  async start(): Promise<void> {
    this.last = { t: this.now(), c: this.options.read() };
    this.timer = setInterval(() => this.sample(), this.options.everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  sample(): Sample {
    const t = this.now();
    const c = this.options.read();
    const prev = this.last ?? { t: t - this.options.everyMs, c };
    const secs = Math.max(0.001, (t - prev.t) / 1000);
    // A chunkserver that restarted reports counters from zero: never a negative rate.
    const rate = (a: number, b: number): number => Math.max(0, (a - b) / secs);
    const s: Sample = {
      t,
      opsPerSec: rate(c.ops, prev.c.ops),
      readBytesPerSec: rate(c.bytesRead, prev.c.bytesRead),
      writeBytesPerSec: rate(c.bytesWritten, prev.c.bytesWritten),
      usedSpace: c.usedSpace,
      totalSpace: c.totalSpace,
    };
    this.last = { t, c };
    this.samples.push(s);
    return s;
  }
}
