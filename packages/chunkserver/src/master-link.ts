import type { Logger, Service } from '@tsmfs/daemon';
import { type ChunkRef, type DataAddress, type GrantVerifier, type MessageName, type Request, type Address, fail, grantKeyFromAuthCode } from '@tsmfs/protocol';
import { Backoff, type Connection, Pause, dial, leaderHint, resolveAddressList } from '@tsmfs/rpc';
import type { HddManager } from './hdd-manager.js';

export interface MasterLinkOptions {
  /** Master addresses, tried in turn (HA: any of them may be the leader). */
  masters: readonly Address[];
  hdd: HddManager;
  log: Logger;
  name: string;
  /** Where clients reach our data server; host '' lets the master use the link's source address. */
  dataAddress: () => Address;
  labels: readonly string[];
  /** Carries out a chunkReplicate command. */
  replicate: (chunkId: number, version: number, sources: readonly DataAddress[]) => Promise<void>;
  /** AUTH_CODE ('' = none), proved when the master asks (docs/security.md). */
  authCode?: string;
  /** Where the grant token key the master gives at registration goes (the data server checks tokens with it). */
  tokens: GrantVerifier;
  heartbeatMs?: number;
  /** Data bytes served and stored so far (DataServer.traffic), for the master's throughput charts. */
  traffic?: () => { bytesRead: number; bytesWritten: number };
  /** Back-off between connection attempts: doubles from min to max. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  requestTimeoutMs?: number;
}

/** Chunks per chunkReport frame (the message allows 50,000; this keeps frames near 1 MiB). */
const REPORT_BATCH = 20_000;

/**
 * The chunkserver's link to the master (MooseFS's masterconn): register with our space
 * and labels, report every chunk, then heartbeat; serve the master's chunk commands on
 * the same link; report lost and damaged copies as the disks find them. When the master
 * goes away we keep our chunks and reconnect with back-off, registering afresh (with
 * the id we were given, so the master recognises us).
 */
export class MasterLink implements Service {
  readonly name = 'master link';
  private conn: Connection | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private csid: number | undefined;
  /**
   * The highest master epoch seen (docs/ha.md, fencing): a master below it is a deposed
   * leader, whose handshake and commands are refused. Never goes down while we run.
   */
  private epoch = 0;
  /** The leader a follower master named: dialled next. */
  private hinted: Address | undefined;
  private readonly pause = new Pause();
  /** New copies waiting for this turn to end, to go to the master as one chunksNew. */
  private newBatch: { chunks: ChunkRef[]; sent: Promise<void> } | undefined;
  /** Reports made while no master was listening, sent after the next registration. */
  private pendingDamaged: ChunkRef[] = [];
  private readonly log: Logger;
  private readonly onLost = (chunks: ChunkRef[]): void => void this.report('chunksLost', chunks);
  private readonly onDamaged = (chunk: ChunkRef): void => void this.report('chunksDamaged', [chunk]);

  constructor(private readonly options: MasterLinkOptions) {
    this.log = options.log.child({ component: 'masterconn' });
  }

  async start(): Promise<void> {
    this.running = true;
    this.options.hdd.on('chunksLost', this.onLost);
    this.options.hdd.on('chunkDamaged', this.onDamaged);
    // Never waits for the master: the data server serves reads while the master is away.
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.options.hdd.off('chunksLost', this.onLost);
    this.options.hdd.off('chunkDamaged', this.onDamaged);
    this.conn?.close();
    this.pause.wake();
    await this.loop;
  }

  /** True while registered with a master. */
  get connected(): boolean {
    return this.conn !== undefined && !this.conn.closed;
  }

  private async run(): Promise<void> {
    const backoff = new Backoff(this.options.reconnectMinMs ?? 500, this.options.reconnectMaxMs ?? 10_000);
    let round: Address[] = [];
    for (let attempt = 0; this.running; attempt++) {
      // Each pass over MASTER_HOST resolves its names again: one name may stand for every master of a group.
      if (attempt % Math.max(1, round.length) === 0) {
        round = await resolveAddressList(this.options.masters);
        attempt = 0;
      }
      const master = this.hinted ?? round[attempt]!;
      const followingHint = this.hinted !== undefined;
      this.hinted = undefined;
      const where = `${master.host}:${master.port}`;
      try {
        const conn = await this.connect(master);
        backoff.reset();
        this.log.info({ master: where, csid: this.csid, chunks: this.options.hdd.chunkCount }, 'registered with the master');
        await this.heartbeats(conn);
        if (this.running) this.log.warn({ master: where }, 'master link lost; reconnecting');
      } catch (err) {
        if (!this.running) break;
        this.log.warn({ master: where, err: (err as Error).message }, 'cannot register with the master');
        // A follower of an HA group names its leader: go there now (once, then in turn again).
        const hint = leaderHint(err);
        if (hint && !followingHint && (hint.host !== master.host || hint.port !== master.port)) {
          this.hinted = hint;
          continue;
        }
      } finally {
        this.conn?.close();
        this.conn = undefined;
      }
      await this.pause.sleep(backoff.delay());
    }
  }

  private async connect(master: Address): Promise<Connection> {
    const timeout = this.options.requestTimeoutMs ?? 30_000;
    const authCode = this.options.authCode ?? '';
    const { conn, server, authenticated } = await dial({ host: master.host, port: master.port, role: 'chunkserver', name: this.options.name, requestTimeoutMs: timeout, authCode });
    try {
      if (!this.running) throw fail('ECONNRESET', 'stopping');
      // As in MooseFS, AUTH_CODE is used when the master asks (that is how it is switched on without downtime).
      if (authCode !== '' && !authenticated) this.log.warn({ master: `${master.host}:${master.port}` }, 'AUTH_CODE is set here but the master does not ask for it');
      if (server.epoch < this.epoch) throw fail('ESTALE', `master at epoch ${server.epoch}, a leader at epoch ${this.epoch} was seen: a deposed leader`);
      this.epoch = server.epoch;
      conn.serve((name, body) => this.command(name, body));
      const space = await this.options.hdd.space();
      const data = this.options.dataAddress();
      const sentAt = Date.now();
      const reply = await conn.request('chunkserverRegister', {
        host: data.host,
        port: data.port,
        labels: [...this.options.labels],
        totalSpace: space.totalSpace,
        usedSpace: space.usedSpace,
        chunkCount: space.chunkCount,
        csid: this.csid,
      });
      this.csid = reply.csid;
      // The master's clock, as of the middle of the round trip: token expiries are its.
      const offset = reply.clock === undefined ? 0 : reply.clock - (sentAt + Date.now()) / 2;
      this.options.tokens.set(reply.grantKey ?? (authenticated ? grantKeyFromAuthCode(authCode) : undefined), offset);
      await this.reportChunks(conn);
      this.conn = conn;
      const damaged = this.pendingDamaged.splice(0);
      if (damaged.length > 0) void this.report('chunksDamaged', damaged);
      return conn;
    } catch (err) {
      conn.close();
      throw err;
    }
  }

  private async reportChunks(conn: Connection): Promise<void> {
    const chunks = this.options.hdd.chunkList();
    for (let i = 0; i === 0 || i < chunks.length; i += REPORT_BATCH) {
      const batch = chunks.slice(i, i + REPORT_BATCH);
      await conn.request('chunkReport', { chunks: batch, last: i + REPORT_BATCH >= chunks.length });
    }
  }

  private async heartbeats(conn: Connection): Promise<void> {
    const every = this.options.heartbeatMs ?? 1000;
    const closed = new Promise<void>((resolve) => conn.once('close', () => resolve()));
    while (this.running && !conn.closed) {
      const tick = new Promise<void>((resolve) => setTimeout(resolve, every).unref());
      await Promise.race([tick, closed]);
      if (!this.running || conn.closed) break;
      const space = await this.options.hdd.space();
      await conn
        .request('chunkserverHeartbeat', {
          totalSpace: space.totalSpace,
          usedSpace: space.usedSpace,
          chunkCount: space.chunkCount,
          damagedDisks: space.damagedDisks,
          disks: space.disks.map(({ damaged, ...d }) => (damaged === undefined ? d : { ...d, damaged })),
          ...this.options.traffic?.(),
        })
        .catch((err: Error) => {
          this.log.warn({ err: err.message }, 'heartbeat failed');
          conn.close(err);
        });
    }
  }

  private async report(name: 'chunksLost' | 'chunksDamaged', chunks: ChunkRef[]): Promise<void> {
    const conn = this.conn;
    if (!conn || conn.closed) {
      // Lost copies need no report after a reconnect: the new chunk report omits them.
      if (name === 'chunksDamaged') this.pendingDamaged.push(...chunks);
      return;
    }
    for (let i = 0; i < chunks.length; i += REPORT_BATCH) {
      await conn.request(name, { chunks: chunks.slice(i, i + REPORT_BATCH) }).catch((err: Error) => {
        this.log.warn({ report: name, err: err.message }, 'report to the master failed');
        if (name === 'chunksDamaged') this.pendingDamaged.push(...chunks.slice(i, i + REPORT_BATCH));
      });
    }
  }

  /**
   * A copy a write's init created: reported (chunksNew) with the others created in the
   * same turn, one request for all of them; resolves once the master holds it. Fails
   * while no master is registered with (the write is then retried on a new grant, and the
   * copy reaches the master with our next chunk report).
   */
  created(chunk: ChunkRef): Promise<void> {
    if (!this.conn || this.conn.closed) return Promise.reject(fail('ECONNRESET', `no master to report new chunk ${chunk.chunkId} to`));
    const batch = (this.newBatch ??= this.sendNew());
    batch.chunks.push(chunk);
    return batch.sent;
  }

  private sendNew(): { chunks: ChunkRef[]; sent: Promise<void> } {
    const chunks: ChunkRef[] = [];
    const sent = new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
      this.newBatch = undefined;
      const conn = this.conn;
      if (!conn || conn.closed) throw fail('ECONNRESET', `no master to report ${chunks.length} new chunks to`);
      await conn.request('chunksNew', { chunks });
    });
    return { chunks, sent };
  }

  /** The master's commands. A command from an older epoch (a deposed leader) is refused. */
  private async command(name: MessageName, body: unknown): Promise<object> {
    const epoch = (body as { epoch?: number }).epoch;
    if (epoch !== undefined && epoch < this.epoch) {
      this.log.warn({ epoch, seen: this.epoch, command: name }, 'command from a deposed master refused');
      throw fail('ESTALE', `command from epoch ${epoch}, the master's is ${this.epoch}`);
    }
    const hdd = this.options.hdd;
    switch (name) {
      case 'chunkCreate': {
        const r = body as Request<'chunkCreate'>;
        await hdd.create(r.chunkId, r.version);
        break;
      }
      case 'chunkDelete': {
        const r = body as Request<'chunkDelete'>;
        await hdd.delete(r.chunkId, r.version);
        break;
      }
      case 'chunkSetVersion': {
        const r = body as Request<'chunkSetVersion'>;
        await hdd.setVersion(r.chunkId, r.version, r.newVersion);
        break;
      }
      case 'chunkDuplicate': {
        const r = body as Request<'chunkDuplicate'>;
        await hdd.duplicate(r.chunkId, r.version, r.newChunkId, r.newVersion);
        break;
      }
      case 'chunkTruncate': {
        const r = body as Request<'chunkTruncate'>;
        await hdd.truncate(r.chunkId, r.version, r.newVersion, r.length);
        break;
      }
      case 'chunkReplicate': {
        const r = body as Request<'chunkReplicate'>;
        await this.options.replicate(r.chunkId, r.version, r.sources);
        break;
      }
      case 'ping':
        break;
      default:
        throw fail('ENOSYS', `${name} is not a chunkserver command`);
    }
    return {};
  }

}
