import type { Service } from '@tsmfs/daemon';
import { type MessageName, type Request, type SessionMessage, Status, TsmfsError, isSessionMessage } from '@tsmfs/protocol';
import { type Connection, type Hello, type LinkLimits, RpcServer } from '@tsmfs/rpc';
import type { Logger } from 'pino';
import type { Changelog } from '@tsmfs/metastore';
import { ALONE, type HaGate, LeadershipLost } from '../ha/gate.js';
import { changes } from '../session-rules.js';
import type { Session } from '../sessions.js';
import type { ClientRequests } from './client-requests.js';

/** Sees every request served on the port: the monitor's operation rates and latencies. */
export interface RequestObserver {
  observe(name: MessageName, seconds: number, ok: boolean): void;
}

export interface ClientLinkOptions {
  host: string;
  port: number;
  /** The requests of a session, with the export's rules (client-requests.ts). */
  requests: ClientRequests;
  changelog: Changelog;
  epoch: () => number;
  /** The HTTP monitor's address, told in the handshake reply (tsmfs-cli -P with the client port). */
  monitor?: { host: string; port: number };
  /** The HA group (docs/ha.md): a follower refuses sessions, mutations wait for a confirmed lease. Default: alone. */
  ha?: HaGate;
  log: Logger;
  /** MAX_CONNECTIONS and the other limits of the port (docs/security.md). */
  limits?: LinkLimits;
  stats?: RequestObserver;
}

/**
 * matoclserv: the master's port for clients (mounts) and CLI tools. A link must register
 * a session before anything else; every request that changed metadata is answered only
 * once its changelog entries are saved as CHANGELOG_SAVE_MODE requires (metaSync: until
 * fsynced). Requests that changed nothing are answered at once (they may show a change
 * not yet saved, as MooseFS does).
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
      monitor: this.options.monitor,
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
    this.options.requests.sessions.clear();
  }

  /** The bound port (differs from the configured one when that was 0). */
  get port(): number {
    return this.server?.port ?? this.options.port;
  }

  /** Closes every client link (this master stopped leading): the clients go and find the leader. */
  dropAll(): void {
    this.server?.disconnectAll();
  }

  private accept(conn: Connection, hello: Hello): void {
    const { requests, log } = this.options;
    const { sessions } = requests;
    let session: Session | undefined;
    const order: LinkOrder = { held: undefined };
    const address = conn.socket.remoteAddress ?? '';
    // The link's own requests, then those of its session: the catalogue says which are
    // served here (messages.ts), client-requests.ts how.
    const serve = async (name: MessageName, body: unknown): Promise<unknown> => {
      if (name === 'ping') return {};
      if (name === 'handshake') throw new TsmfsError(Status.EPROTO, 'handshake was already done on this link');
      const ha = this.options.ha ?? ALONE;
      // A follower's metadata is not the group's: it serves nothing and names the leader.
      if (ha.role === 'follower') throw ha.refusal('client');
      if (name === 'register') {
        const previous = session;
        const before = this.options.changelog.version;
        session = sessions.register(body as Request<'register'>, { address, nonce: hello.nonce, link: conn, role: hello.role });
        if (previous && previous !== session) sessions.replace(previous, conn);
        const reply = sessions.registerReply(session);
        // A new session is recorded (client-state.ts): answered once that is saved (and held
        // by the synchronous standbys), so a client never holds an id the next leader cannot know.
        const { changelog } = this.options;
        const gate = this.options.ha ?? ALONE;
        if (changelog.version !== before) await Promise.all([changelog.saved(changelog.version), gate.replicated?.(changelog.version)]);
        return reply;
      }
      if (!isSessionMessage(name)) throw new TsmfsError(Status.ENOSYS, `${name} is not served on the client port`);
      if (!session) throw new TsmfsError(Status.EPERM, `${name} before register: open a session first`);
      return this.durably(session, name, body as Request<typeof name>, order);
    };
    const stats = this.options.stats;
    const answered = async (name: MessageName, body: unknown): Promise<unknown> => {
      try {
        return await serve(name, body);
      } catch (err) {
        // Applied here, unconfirmed by the standbys, and we no longer lead: no answer at
        // all (the link closes first, so none is written): the client's outcome is unknown.
        if (err instanceof LeadershipLost) conn.close();
        throw err;
      }
    };
    conn.serve(
      stats
        ? async (name: MessageName, body: unknown) => {
            const t0 = performance.now();
            let ok = false;
            try {
              const reply = await answered(name, body);
              ok = true;
              return reply;
            } finally {
              stats.observe(name, (performance.now() - t0) / 1000, ok);
            }
          }
        : answered,
    );
    conn.on('close', (err) => {
      if (session) sessions.detach(session, conn);
      if (err) log.debug({ remote: conn.remote, err: err.message }, 'client link closed');
    });
  }

  /**
   * Serves a request; if it appended to the changelog, answers only once that is saved
   * (CHANGELOG_SAVE_MODE) and, with HA_SYNC_STANDBYS, held by the synchronous set.
   */
  private async durably<N extends SessionMessage>(session: Session, name: N, body: Request<N>, order: LinkOrder): Promise<unknown> {
    const { changelog, requests } = this.options;
    const gate = this.options.ha ?? ALONE;
    const mutation = changes(name, body);
    // Applied in the order the link sent them, with no await on the way when the gate
    // admits at once: a client pipelines a getattr right behind the mkdir in that
    // directory and must get the mtime the mkdir set (one await here once let rsync -a
    // see a stale one). While a leader waits for etcd to confirm its lease, its changes
    // queue in order and reads are still answered (docs/ha.md): a mount serves every
    // process on one link, and one held mkdir must not stop the others' reads.
    if (mutation && (order.held || !gate.mayMutate())) await holdInOrder(order, () => gate.admitMutation('client'));
    const before = changelog.version;
    const leases = requests.leases;
    let recalls: Promise<void>[] = [];
    try {
      if (!leases) return await requests.serve(session, name, body);
      // A change is answered once the other sessions' leases on what it changed are given
      // back or have ended: after the reply, no other mount answers the old state.
      const served = await leases.serve(session, async () => {
        try {
          return { ok: true as const, value: await requests.serve(session, name, body) };
        } catch (err) {
          return { ok: false as const, err };
        }
      });
      recalls = served.recalls;
      if (!served.result.ok) throw served.result.err;
      return served.result.value;
    } finally {
      // Also on error: a failed request must not be answered ahead of an entry it made.
      const appended = changelog.version !== before;
      await Promise.all([appended ? changelog.saved(changelog.version) : undefined, appended ? gate.replicated?.(changelog.version) : undefined, ...recalls]);
    }
  }
}

/** A link's changes held behind one that waits for admission (an HA leader confirming its lease). */
interface LinkOrder {
  held: Promise<void> | undefined;
}

/**
 * Waits for the changes held before this one, then for `admit` (its own admission);
 * the changes that come after wait for this one. A refused admission throws for this
 * request only.
 */
async function holdInOrder(order: LinkOrder, admit: () => Promise<void>): Promise<void> {
  const ahead = order.held;
  const mine = (async () => {
    await ahead;
    await admit();
  })();
  const settled = mine.then(
    () => undefined,
    () => undefined,
  );
  order.held = settled;
  void settled.then(() => {
    if (order.held === settled) order.held = undefined;
  });
  await mine;
}
