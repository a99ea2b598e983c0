import type { Service } from '@tsmfs/daemon';
import { type MessageName, type Request, Status, TsmfsError } from '@tsmfs/protocol';
import { type Connection, type Hello, type LinkLimits, RpcServer } from '@tsmfs/rpc';
import type { Logger } from 'pino';
import type { ChunkManager } from '../chunks/chunk-manager.js';
import type { Chunkserver } from '../chunks/chunkserver-registry.js';
import { ALONE, type HaGate } from '../ha/gate.js';

export interface ChunkserverLinkOptions {
  host: string;
  port: number;
  chunks: ChunkManager;
  epoch: () => number;
  /** The HA group (docs/ha.md): a follower refuses registrations and names the leader. Default: alone. */
  ha?: HaGate;
  log: Logger;
  /** MAX_CONNECTIONS and the other limits of the port (docs/security.md). */
  limits?: LinkLimits;
  /** How long a command (a replication of a whole chunk included) may take. */
  commandTimeoutMs?: number;
  /** AUTH_CODE ('' = none): chunkservers must prove it at the handshake. */
  authCode?: () => string;
}

/**
 * matocsserv: the master's port for chunkservers (MATOCS, 9420). A chunkserver opens
 * the link, registers, reports its chunks in batches, then heartbeats; the master
 * sends its commands (create, delete, set version, duplicate, truncate, replicate) as
 * requests on the same link. Everything but registration needs a registered link. In an
 * HA group every master keeps its chunkservers' registrations; only the leader commands.
 */
export class ChunkserverLink implements Service {
  readonly name = 'chunkserver-link';
  private server: RpcServer | undefined;

  constructor(private readonly options: ChunkserverLinkOptions) {}

  async start(): Promise<void> {
    const { host, port, epoch, log } = this.options;
    const server = new RpcServer({
      ...this.options.limits,
      host,
      port,
      accept: ['chunkserver'],
      role: 'master',
      epoch,
      requestTimeoutMs: this.options.commandTimeoutMs ?? 120_000,
      authCode: this.options.authCode,
      onConnection: (conn, hello) => this.accept(conn, hello),
      onRejected: (remote, reason) => log.warn({ remote, reason }, 'chunkserver link refused'),
      onHandlerError: (name, err) => log.error({ request: name, err: (err as Error).stack ?? String(err) }, 'request failed with a bug'),
    });
    await server.start();
    this.server = server;
    log.info({ host, port: server.port }, 'listening for chunkservers');
  }

  async stop(): Promise<void> {
    await this.server?.stop();
    this.server = undefined;
    for (const cs of this.options.chunks.registry.all()) cs.link?.close();
    this.options.chunks.leases.clear();
  }

  get port(): number {
    return this.server?.port ?? this.options.port;
  }

  /** Closes every chunkserver link (this master stopped leading): they register afresh, with it as a follower. */
  dropAll(): void {
    this.server?.disconnectAll();
  }

  private accept(conn: Connection, hello: Hello): void {
    const { chunks } = this.options;
    let cs: Chunkserver | undefined;
    const registered = (name: MessageName): Chunkserver => {
      if (!cs) throw new TsmfsError(Status.EPERM, `${name} before chunkserverRegister`);
      return cs;
    };
    conn.serve((name: MessageName, body: unknown) => {
      switch (name) {
        case 'chunkserverRegister': {
          // A follower keeps the registration too (docs/ha.md): it knows every copy when it
          // takes over. It sends no command (ChunkManager.command, ChunkLoop) and says so.
          const ha = this.options.ha ?? ALONE;
          if (cs) throw new TsmfsError(Status.EPROTO, 'this link is already registered');
          cs = chunks.register(body as Request<'chunkserverRegister'>, conn);
          const leader = ha.role !== 'follower';
          const leaderAt = leader ? undefined : ha.leader?.cs;
          return { csid: cs.csid, ...chunks.tokens.issueKey(cs, hello.authenticated ? this.options.authCode?.() : undefined), leader, ...(leaderAt ? { leaderAt } : {}) };
        }
        case 'chunkReport': {
          const r = body as Request<'chunkReport'>;
          chunks.report(registered(name), r.chunks, r.last, r.markedForRemoval);
          return {};
        }
        case 'chunkserverHeartbeat':
          chunks.registry.heartbeat(registered(name), body as Request<'chunkserverHeartbeat'>);
          return {};
        case 'chunksDamaged':
          chunks.damaged(registered(name), (body as Request<'chunksDamaged'>).chunks);
          return {};
        case 'chunksLost':
          chunks.lost(registered(name), (body as Request<'chunksLost'>).chunks);
          return {};
        case 'chunksNew':
          chunks.created(registered(name), (body as Request<'chunksNew'>).chunks);
          return {};
        case 'chunksMarked': {
          const r = body as Request<'chunksMarked'>;
          chunks.marked(registered(name), r.disk, r.marked, r.chunks);
          return {};
        }
        case 'chunksChanged': {
          const r = body as Request<'chunksChanged'>;
          chunks.changed(registered(name), r.chunks, r.gone);
          return {};
        }
        case 'ping':
          return {};
        case 'handshake':
          throw new TsmfsError(Status.EPROTO, 'handshake was already done on this link');
        default:
          throw new TsmfsError(Status.ENOSYS, `${name} is not served on the chunkserver port`);
      }
    });
    conn.on('close', (err) => {
      if (cs) chunks.disconnected(cs, conn);
      if (err) this.options.log.debug({ remote: conn.remote, err: err.message }, 'chunkserver link closed');
    });
  }
}
