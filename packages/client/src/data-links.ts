import type { Address } from '@tsmfs/protocol';
import { type Connection, dial } from '@tsmfs/rpc';

export interface DataLinksOptions {
  name: string;
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
}

/**
 * Links to chunkservers' data ports (9422). Reads share one link per chunkserver
 * (requests are pipelined and matched by id). A write takes a link of its own from an
 * idle pool: a chunkserver holds one write per chunk per link, and a write that failed
 * half-way is abandoned by closing its link, which must not cut other readers off.
 */
export class DataLinks {
  private readonly shared = new Map<string, Promise<Connection>>();
  private readonly idle = new Map<string, Connection[]>();
  private closed = false;

  constructor(private readonly options: DataLinksOptions) {}

  /** The shared link to `to` (for reads), dialled on first use and again after it closed. */
  async reader(to: Address): Promise<Connection> {
    const key = keyOf(to);
    let link = this.shared.get(key);
    if (!link) {
      link = this.open(to);
      this.shared.set(key, link);
      link.then(
        (conn) => conn.once('close', () => this.shared.get(key) === link && this.shared.delete(key)),
        () => this.shared.get(key) === link && this.shared.delete(key),
      );
    }
    return link;
  }

  /** A link of its own for one chunk write; hand it back with `done` (or close it). */
  async writer(to: Address): Promise<Connection> {
    const pool = this.idle.get(keyOf(to));
    while (pool && pool.length > 0) {
      const conn = pool.pop()!;
      if (!conn.closed) return conn;
    }
    return this.open(to);
  }

  /** A write finished cleanly: its link can serve the next write. */
  done(to: Address, conn: Connection): void {
    if (conn.closed) return;
    if (this.closed) return conn.close();
    const key = keyOf(to);
    const pool = this.idle.get(key) ?? [];
    if (pool.length >= 8) return conn.close();
    pool.push(conn);
    this.idle.set(key, pool);
  }

  close(): void {
    this.closed = true;
    for (const link of this.shared.values()) link.then((c) => c.close(), () => {});
    this.shared.clear();
    for (const pool of this.idle.values()) for (const c of pool) c.close();
    this.idle.clear();
  }

  private async open(to: Address): Promise<Connection> {
    const { conn } = await dial({
      host: to.host,
      port: to.port,
      role: 'client',
      name: this.options.name,
      requestTimeoutMs: this.options.requestTimeoutMs ?? 30_000,
      connectTimeoutMs: this.options.connectTimeoutMs ?? 5_000,
    });
    return conn;
  }
}

function keyOf(a: Address): string {
  return `${a.host}:${a.port}`;
}
