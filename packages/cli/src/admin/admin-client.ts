import { MasterUnavailableError } from '../exit-codes.js';

/**
 * tsmfs-cli reads the master's HTTP JSON API (/api/v1/…, the same documents the web
 * monitor draws), so there is one implementation of every view, on the master, and
 * the CLI needs no session or export rule: like the monitor, it is read-only.
 */
export class AdminClient {
  constructor(
    readonly host: string,
    readonly port: number,
    private readonly timeoutMs = 10_000,
  ) {}

  /** The same client for another master (the leader of this one's HA group). */
  at(host: string, port: number): AdminClient {
    return new AdminClient(host, port, this.timeoutMs);
  }

  async get<T>(path: string): Promise<T> {
    const url = `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}${path}`;
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new MasterUnavailableError(`cannot reach the master's HTTP port at ${this.host}:${this.port} (${cause?.code ?? cause?.message ?? (err as Error).message}); is HTTP_LISTEN_HOST/PORT set to it?`);
    }
    if (!res.ok) throw new MasterUnavailableError(`${url}: HTTP ${res.status}`);
    return (await res.json()) as T;
  }
}
