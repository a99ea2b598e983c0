import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { Service } from '@tsmfs/daemon';
import type { Logger } from 'pino';
import {
  type ClusterSources,
  chunkserversView,
  disksView,
  exportsView,
  infoView,
  type MemoryView,
  memoryView,
  overview,
  sessionsView,
} from './cluster-view.js';
import { healthView } from './health-view.js';
import type { GroupStatus } from '../ha/ha-status.js';
import { quotasView } from './quota-view.js';
import { sclassesView } from './sclass-view.js';
import type { History } from './history.js';
import type { MasterMetrics } from './metrics.js';
import { MONITOR_HTML, MONITOR_JS } from './monitor-page.js';

export interface HttpServerOptions {
  host: string;
  port: number;
  /** HTTP_MAX_CONNECTIONS: beyond it, new connections are closed at once. */
  maxConnections?: number;
  /** HTTP_REQUEST_TIMEOUT in ms: the time a client has to send a whole request. */
  requestTimeoutMs?: number;
  sources: ClusterSources;
  history: History;
  metrics: MasterMetrics;
  /** The master's place in its HA group (GET /api/status, docs/ha.md). */
  status: () => GroupStatus;
  log: Logger;
}

/** The page may load only what this server serves: no CDN, no third-party anything. */
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

/** Requests a connection may have pipelined ahead of the responses it has read. */
const HTTP_MAX_PIPELINED = 16;

type Route = (url: URL) => { type: string; body: string } | Promise<{ type: string; body: string }>;

/**
 * The master's HTTP port (HTTP_LISTEN_HOST/PORT, 9425): the web monitor, its JSON API
 * (/api/v1/…) and /metrics for Prometheus. Read-only: GET and HEAD only, nothing here
 * changes the master. Everything is computed from memory at request time.
 */
export class HttpServer implements Service {
  readonly name = 'http';
  private server: Server | undefined;
  private readonly routes: Record<string, Route>;
  /** Responses started and not yet closed, per connection. */
  private readonly pending = new WeakMap<object, number>();

  constructor(private readonly options: HttpServerOptions) {
    const { sources, history, metrics, status } = options;
    const json = (value: unknown) => ({ type: 'application/json; charset=utf-8', body: JSON.stringify(value) });
    this.routes = {
      '/': () => ({ type: 'text/html; charset=utf-8', body: MONITOR_HTML }),
      '/monitor.js': () => ({ type: 'text/javascript; charset=utf-8', body: MONITOR_JS }),
      '/api/status': () => json(status()),
      '/api/v1/overview': () => json(overview(sources)),
      '/api/v1/info': () => json(infoView(sources)),
      '/api/v1/chunkservers': () => json(chunkserversView(sources)),
      '/api/v1/disks': () => json(disksView(sources)),
      '/api/v1/sessions': () => json(sessionsView(sources)),
      '/api/v1/health': () => json(healthView(sources)),
      '/api/v1/exports': () => json(exportsView(sources)),
      '/api/v1/quotas': () => json(quotasView(sources.md())),
      '/api/v1/sclasses': () => json(sclassesView(sources.md(), sources.chunks)),
      '/api/v1/memory': (url) => json(memoryAfterGc(url.searchParams.get('gc') === '1')),
      '/api/v1/history': (url) => json({ everyMs: history.everyMs, samples: lastMinutes(history, url.searchParams.get('minutes')) }),
      '/metrics': async () => {
        const health = healthView(sources);
        const body = await metrics.render({
          info: infoView(sources, health),
          health,
          chunkservers: chunkserversView(sources),
          sessions: sources.sessions().length,
          loop: sources.loop,
          group: status(),
        });
        return { type: metrics.contentType, body };
      },
    };
  }

  async start(): Promise<void> {
    const { host, port, log } = this.options;
    const requestTimeout = this.options.requestTimeoutMs ?? 10_000;
    // Node pauses a pipelining client that does not read its responses by itself; these
    // bound the rest: sockets held at once, and slow or silent senders (slowloris).
    const server = createServer({ requestTimeout, headersTimeout: requestTimeout, keepAliveTimeout: 5000, connectionsCheckingInterval: 1000 }, (req, res) => void this.handle(req, res));
    server.maxConnections = this.options.maxConnections ?? 64;
    server.on('drop', (d) => log.warn({ remote: `${d?.remoteAddress}:${d?.remotePort}`, reason: `too many connections (HTTP_MAX_CONNECTIONS ${server.maxConnections})` }, 'HTTP connection refused'));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    log.info({ host, port: this.port }, 'listening for HTTP (monitor, /api/v1, /metrics)');
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  get port(): number {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : this.options.port;
  }

  /**
   * Node stops reading a pipelining client only after parsing a whole TCP read, which
   * may hold thousands of requests: a connection with more than HTTP_MAX_PIPELINED
   * responses not yet flushed is a client that does not read them, and is dropped.
   */
  private tooManyPending(req: IncomingMessage, res: ServerResponse): boolean {
    const socket = req.socket;
    const n = (this.pending.get(socket) ?? 0) + 1;
    this.pending.set(socket, n);
    res.once('close', () => this.pending.set(socket, (this.pending.get(socket) ?? 1) - 1));
    if (n <= HTTP_MAX_PIPELINED) return false;
    if (!socket.destroyed) this.options.log.warn({ remote: `${socket.remoteAddress}:${socket.remotePort}`, reason: `more than ${HTTP_MAX_PIPELINED} responses unread` }, 'HTTP connection dropped');
    socket.destroy();
    return true;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.tooManyPending(req, res)) return;
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = this.routes[url.pathname];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'read-only: GET and HEAD only\n', { allow: 'GET, HEAD' });
    if (!route) return send(res, 404, 'text/plain', `no such page: ${url.pathname}\n`);
    try {
      const { type, body } = await route(url);
      send(res, 200, type, req.method === 'HEAD' ? '' : body, PAGE_HEADERS);
    } catch (err) {
      this.options.log.error({ path: url.pathname, err: (err as Error).stack ?? String(err) }, 'HTTP request failed');
      send(res, 500, 'text/plain', 'internal error (see the master log)\n');
    }
  }
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

function lastMinutes(history: History, minutes: string | null) {
  const all = history.samples.toArray();
  const m = minutes === null ? NaN : Number(minutes);
  if (!(m > 0)) return all;
  const since = Date.now() - m * 60_000;
  return all.filter((s) => s.t >= since);
}

/**
 * The process's memory; with `gc`, after a full garbage collection when the master runs
 * with node's --expose-gc (benchmarks do, to measure what is live rather than what the
 * collector has not reclaimed yet). Without that flag there is no GC to run: a monitor
 * page must not be able to make the master pause.
 */
function memoryAfterGc(gc: boolean): MemoryView & { gc: boolean } {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (gc && collect) collect();
  return { ...memoryView(), gc: gc && collect !== undefined };
}
