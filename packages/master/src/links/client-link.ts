import type { Service } from '@tsmfs/daemon';
import { type MessageName, type Request, Status, TsmfsError } from '@tsmfs/protocol';
import { type Connection, type Hello, RpcServer } from '@tsmfs/rpc';
import type { Logger } from 'pino';
import { type ChunkRequests, isChunkRequest } from '../chunks/chunk-requests.js';
import type { Changelog } from '../durability/changelog.js';
import { type NamespaceMessage, type Session, type Sessions, isNamespaceMessage } from '../sessions.js';

export interface ClientLinkOptions {
  host: string;
  port: number;
  sessions: Sessions;
  changelog: Changelog;
  epoch: () => number;
  log: Logger;
  /** The chunk half of readChunk/writeChunk/writeChunkEnd/setattr(size)/fileinfo, once chunkservers are served. */
  chunks?: ChunkRequests;
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
    conn.serve(async (name: MessageName, body: unknown) => {
      switch (name) {
        case 'ping':
          return {};
        case 'register': {
          const previous = session;
          session = sessions.register(body as Request<'register'>, { address, nonce: hello.nonce, link: conn });
          if (previous && previous !== session) sessions.detach(previous, conn);
          return sessions.registerReply(session);
        }
        case 'handshake':
          throw new TsmfsError(Status.EPROTO, 'handshake was already done on this link');
        default:
          if (name === 'fileinfo' && this.options.chunks) {
            if (!session) throw new TsmfsError(Status.EPERM, `${name} before register: open a session first`);
            return this.options.chunks.serve(session.id, name, body, () => undefined);
          }
          if (!isNamespaceMessage(name)) throw new TsmfsError(Status.ENOSYS, `${name} is not served on the client port`);
          if (!session) throw new TsmfsError(Status.EPERM, `${name} before register: open a session first`);
          return this.durably(session, name, body);
      }
    });
    conn.on('close', (err) => {
      if (session) sessions.detach(session, conn);
      if (err) log.debug({ remote: conn.remote, err: err.message }, 'client link closed');
    });
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
