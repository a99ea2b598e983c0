import type { MessageName } from '@tsmfs/protocol';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { RequestObserver } from '../links/client-link.js';

/** Latency buckets in seconds: metadata requests take microseconds, writes wait for fsync and chunkservers. */
const BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

/**
 * Every request served on the client port, by message: a total for the monitor's
 * operations/s chart, and Prometheus counters and a latency histogram.
 */
export class OperationStats implements RequestObserver {
  /** Requests served since start (all messages); the history sampler takes rates from it. */
  total = 0;
  readonly byName = new Map<string, { count: number; errors: number; seconds: number }>();
  private readonly requests: Counter<'op' | 'status'>;
  private readonly latency: Histogram<'op'>;

  constructor(registry: Registry) {
    this.requests = new Counter({
      name: 'tsmfs_master_requests_total',
      help: 'Requests served on the client port (mounts and CLI tools), by message and outcome',
      labelNames: ['op', 'status'],
      registers: [registry],
    });
    this.latency = new Histogram({
      name: 'tsmfs_master_request_duration_seconds',
      help: 'Time from a request arriving on the client port to its reply (durable changelog included)',
      labelNames: ['op'],
      buckets: BUCKETS,
      registers: [registry],
    });
  }

  observe(name: MessageName, seconds: number, ok: boolean): void {
    this.total++;
    let row = this.byName.get(name);
    if (!row) this.byName.set(name, (row = { count: 0, errors: 0, seconds: 0 }));
    row.count++;
    row.seconds += seconds;
    if (!ok) row.errors++;
    this.requests.inc({ op: name, status: ok ? 'ok' : 'error' });
    this.latency.observe({ op: name }, seconds);
  }
}
