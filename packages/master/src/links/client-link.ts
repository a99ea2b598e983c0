import type { Service } from '@tsmfs/daemon';
import { type MessageName, type Request, Status, TsmfsError } from '@tsmfs/protocol';
import { type Connection, type Hello, type LinkLimits, RpcServer } from '@tsmfs/rpc';
import type { Logger } from 'pino';
import { type ChunkRequests, isChunkRequest } from '../chunks/chunk-requests.js';
import type { Changelog } from '../durability/changelog.js';
import { type ToolRequest, type ToolRequests, MUTATING_TOOL_REQUESTS, isToolRequest } from '../chunks/tool-requests.js';
import { type NamespaceMessage, type Session, type Sessions, isNamespaceMessage, mapCred } from '../sessions.js';

/** Sees every request served on the port: the monitor's operation rates and latencies. */
export interface RequestObserver {
  observe(name: MessageName, seconds: number, ok: boolean): void;
}

export interface ClientLinkOptions {
  host: string;
  port: number;
  sessions: Sessions;
  changelog: Changelog;
  epoch: () => number;
  log: Logger;
  /** MAX_CONNECTIONS and the other limits of the port (docs/security.md). */
  limits?: LinkLimits;
  /** The chunk half of readChunk/writeChunk/writeChunkEnd/setattr(size)/fileinfo, once chunkservers are served. */
  chunks?: ChunkRequests;
  /** dirinfo, checkfile, filerepair, appendchunks (the CLI tools). */
  tools?: ToolRequests;
  stats?: RequestObserver;
}

/**
 * matoclserv: the master's port for clients (mounts) and CLI tools. A link must register
 * a session before anything else; every request that changed metadata is answered only
 * once its changelog entries are durable. Requests that changed nothing are answered at
 * once (they may show a change whose fsync is still running, as MooseFS does).
 */
export class ClientLink implements Service {
  readonly name = 'client-link';
  private server: RpcServer | undefined;

  constructor(private readonly options: ClientLinkOptions) {}

  async start(): Promise<void> {
    const { host, port, epoch, log } = this.options;
    const server = new RpcServer({
      ...this.options.limits,
      host,
      port,
      accept: ['client', 'cli'],
      role: 'master',
      epoch,
      onConnection: (conn, hello) => this.accept(conn, hello),
      onRejected: (remote, reason) => log.warn({ remote, reason }, 'client link refused'),
      onHandlerError: (name, err) => log.error({ request: name, err: (err as Error).stack ?? String(err) }, 'request failed with a bug'),
    });
    await server.start();
    this.server = server;
    log.info({ host, port: server.port }, 'listening for clients');
  }

  async stop(): Promise<void> {
    await this.server?.stop();
    this.server = undefined;
    this.options.sessions.clear();
  }

  /** The bound port (differs from the configured one when that was 0). */
  get port(): number {
    return this.server?.port ?? this.options.port;
  }

  private accept(conn: Connection, hello: Hello): void {
    const { sessions, log } = this.options;
    let session: Session | undefined;
    const address = conn.socket.remoteAddress ?? '';
    const serve = async (name: MessageName, body: unknown): Promise<unknown> => {
      switch (name) {
        case 'ping':
          return {};
        case 'register': {
          const previous = session;
          session = sessions.register(body as Request<'register'>, { address, nonce: hello.nonce, link: conn, role: hello.role });
          if (previous && previous !== session) sessions.replace(previous, conn);
          return sessions.registerReply(session);
        }
        case 'handshake':
          throw new TsmfsError(Status.EPROTO, 'handshake was already done on this link');
        default:
          if (name === 'fileinfo' && this.options.chunks) {
            if (!session) throw new TsmfsError(Status.EPERM, `${name} before register: open a session first`);
            return this.options.chunks.serve(session.id, name, body, () => undefined);
          }
          if (isToolRequest(name) && this.options.tools) {
            if (!session) throw new TsmfsError(Status.EPERM, `${name} before register: open a session first`);
            return this.tool(session, name, body);
          }
          if (!isNamespaceMessage(name)) throw new TsmfsError(Status.ENOSYS, `${name} is not served on the client port`);
          if (!session) throw new TsmfsError(Status.EPERM, `${name} before register: open a session first`);
          return this.durably(session, name, body);
      }
    };
    const stats = this.options.stats;
    conn.serve(
      stats
        ? async (name: MessageName, body: unknown) => {
            const t0 = performance.now();
            let ok = false;
            try {
              const reply = await serve(name, body);
              ok = true;
              return reply;
            } finally {
              stats.observe(name, (performance.now() - t0) / 1000, ok);
            }
          }
        : serve,
    );
    conn.on('close', (err) => {
      if (session) sessions.detach(session, conn);
      if (err) log.debug({ remote: conn.remote, err: err.message }, 'client link closed');
    });
  }

  /** A CLI tool's request, with the session's export rules: read-only, uid mapping, no meta session. */
  private async tool(session: Session, name: ToolRequest, body: unknown): Promise<unknown> {
    const tools = this.options.tools!;
    if (session.meta) throw new TsmfsError(Status.EPERM, `${name} is not served on a meta session`);
    if (session.readonly && MUTATING_TOOL_REQUESTS.has(name)) throw new TsmfsError(Status.EROFS, `session ${session.id} is read-only (export rule ${session.rule.where})`);
    const req = body as Record<string, unknown>;
    const mapped = 'cred' in req ? { ...req, cred: mapCred(session.rule, req.cred as Request<'filerepair'>['cred']) } : req;
    const { changelog } = this.options;
    const before = changelog.version;
    try {
      return await (tools[name] as (r: unknown) => unknown).call(tools, mapped);
    } finally {
      if (changelog.version !== before) await changelog.durable(changelog.version);
    }
  }

  /** Serves a request; if it appended to the changelog, answers only once that is durable. */
  private async durably(session: Session, name: NamespaceMessage, body: unknown): Promise<unknown> {
    const { changelog, sessions } = this.options;
    const before = changelog.version;
    const chunks = this.options.chunks;
    try {
      const next = () => sessions.serve(session, name, body as Request<typeof name>);
      return chunks && isChunkRequest(name) ? await chunks.serve(session.id, name, body, next) : next();
    } finally {
      // Also on error: a failed request must not be answered ahead of an entry it made.
      if (changelog.version !== before) await changelog.durable(changelog.version);
    }
  }
}
