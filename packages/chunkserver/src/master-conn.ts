import type { Logger } from '@tsmfs/daemon';
import { type Address, type ChunkRef, type MessageName, type Request, fail, grantKeyFromAuthCode } from '@tsmfs/protocol';
import { Backoff, type Connection, Pause, dial, leaderHint } from '@tsmfs/rpc';
import type { MasterLinkOptions } from './master-link.js';

/** Chunks per chunkReport frame (the message allows 50,000; this keeps frames near 1 MiB). */
const REPORT_BATCH = 20_000;

/** What a MasterConn asks of the set of links it belongs to (master-link.ts). */
export interface MasterConnOwner {
  /** The highest epoch seen: a master whose handshake is below it (and not 0) is a deposed leader. */
  readonly epoch: number;
  /** Registered: `leader` is the master's own word (absent from a master before HA: true). */
  registered(conn: MasterConn, epoch: number, leader: boolean, leaderAt: string | undefined): void;
  /** The link closed. */
  closed(conn: MasterConn): void;
  /** A master named another as the leader (a refused registration's hint): link to it too. */
  hinted(address: Address): void;
  /** A command from this master. */
  command(conn: MasterConn, name: MessageName, body: unknown): Promise<object>;
}

/** A report that must reach this master; one made while its link is down or reporting waits. */
type Report = { name: 'chunksLost' | 'chunksDamaged' | 'chunksChanged' | 'chunksNew' | 'chunksMarked'; body: object };

/**
 * The chunkserver's link to one master (MooseFS's masterconn): register with our space
 * and labels, report every chunk, then heartbeat; serve the master's commands on the same
 * link (the owner decides whether they are obeyed); pass on reports. When the master goes
 * away we keep our chunks and reconnect with back-off, registering afresh (with the id
 * it gave us, so it recognises us).
 */
export class MasterConn {
  /** Set once registered and the chunk report is complete. */
  conn: Connection | undefined;
  /** Registered, chunk report in progress: reports made now wait for its end (a report batch would overwrite them). */
  private reporting: Connection | undefined;
  private readonly queued: Report[] = [];
  private csid: number | undefined;
  /** What this master said of itself at our last registration. */
  private leads = true;
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly pause = new Pause();
  readonly where: string;

  constructor(
    readonly address: Address,
    private readonly owner: MasterConnOwner,
    private readonly options: MasterLinkOptions,
    private readonly log: Logger,
  ) {
    this.where = `${address.host}:${address.port}`;
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.conn?.close();
    this.reporting?.close();
    this.pause.wake();
    await this.loop;
  }

  get connected(): boolean {
    return this.conn !== undefined && !this.conn.closed;
  }

  private async run(): Promise<void> {
    // At most 2 s: a master of an HA group that comes back must know our copies before it may lead again.
    const backoff = new Backoff(this.options.reconnectMinMs ?? 500, this.options.reconnectMaxMs ?? 2000);
    while (this.running) {
      try {
        const conn = await this.connect();
        backoff.reset();
        // `leader`: what the master said of itself (a follower of an HA group: false).
        this.log.info({ master: this.where, csid: this.csid, chunks: this.options.hdd.chunkCount, leader: this.leads }, 'registered with the master');
        await this.heartbeats(conn);
        if (this.running) this.log.warn({ master: this.where }, 'master link lost; reconnecting');
      } catch (err) {
        if (!this.running) break;
        this.log.warn({ master: this.where, err: (err as Error).message }, 'cannot register with the master');
        // A master that refuses us may name the leader: link to it too.
        const hint = leaderHint(err);
        if (hint && (hint.host !== this.address.host || hint.port !== this.address.port)) this.owner.hinted(hint);
      } finally {
        this.conn?.close();
        this.conn = undefined;
        this.reporting = undefined;
        this.owner.closed(this);
        // Lost copies need no report after a reconnect (the new chunk report omits them),
        // nor do changes; damaged copies do (the report does not say which are damaged).
        const keep = this.queued.filter((r) => r.name === 'chunksDamaged');
        this.queued.splice(0, this.queued.length, ...keep);
      }
      await this.pause.sleep(backoff.delay());
    }
  }

  private async connect(): Promise<Connection> {
    const timeout = this.options.requestTimeoutMs ?? 30_000;
    const authCode = this.options.authCode ?? '';
    const { conn, server, authenticated } = await dial({ host: this.address.host, port: this.address.port, role: 'chunkserver', name: this.options.name, requestTimeoutMs: timeout, authCode });
    try {
      if (!this.running) throw fail('ECONNRESET', 'stopping');
      // As in MooseFS, AUTH_CODE is used when the master asks (that is how it is switched on without downtime).
      if (authCode !== '' && !authenticated) this.log.warn({ master: this.where }, 'AUTH_CODE is set here but the master does not ask for it');
      // Epoch 0: an HA member that has not seen a leader yet (it commands nothing).
      if (server.epoch !== 0 && server.epoch < this.owner.epoch) throw fail('ESTALE', `master at epoch ${server.epoch}, a leader at epoch ${this.owner.epoch} was seen: a deposed leader`);
      conn.serve((name, body) => this.owner.command(this, name, body));
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
      this.options.tokens.set(reply.grantKey ?? (authenticated ? grantKeyFromAuthCode(authCode) : undefined), offset, this.where, reply.csid);
      this.reporting = conn;
      this.leads = reply.leader ?? true;
      this.owner.registered(this, server.epoch, this.leads, reply.leaderAt);
      await this.reportChunks(conn);
      this.reporting = undefined;
      this.conn = conn;
      for (const r of this.queued.splice(0)) void this.send(r);
      return conn;
    } catch (err) {
      conn.close();
      throw err;
    }
  }

  /** Every copy, in batches; those on disks marked for removal in frames naming their disk. */
  private async reportChunks(conn: Connection): Promise<void> {
    const marked = this.options.hdd.markedChunks();
    const onMarked = new Set([...marked.values()].flatMap((l) => l.map((c) => c.chunkId)));
    const groups: [string | undefined, ChunkRef[]][] = [[undefined, this.options.hdd.chunkList().filter((c) => !onMarked.has(c.chunkId))], ...marked];
    const frames: Request<'chunkReport'>[] = [];
    for (const [disk, chunks] of groups) {
      for (let i = 0; i === 0 || i < chunks.length; i += REPORT_BATCH) {
        if (chunks.length === 0 && disk !== undefined) break;
        frames.push({ chunks: chunks.slice(i, i + REPORT_BATCH), last: false, ...(disk === undefined ? {} : { markedForRemoval: disk }) });
      }
    }
    frames.at(-1)!.last = true;
    for (const frame of frames) await conn.request('chunkReport', frame);
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
          this.log.warn({ master: this.where, err: err.message }, 'heartbeat failed');
          conn.close(err);
        });
    }
  }

  /**
   * Sends a report now, after the chunk report in progress, or (damaged copies only)
   * after the next registration. Resolves once this master holds it; rejects when the
   * link is not up (or fails meanwhile).
   */
  report(name: Exclude<Report['name'], 'chunksMarked'>, chunks: ChunkRef[], gone: ChunkRef[] = []): Promise<void> {
    return this.submit({ name, body: name === 'chunksChanged' ? { chunks, gone } : { chunks } });
  }

  /** Copies whose disk a reload marked for removal or put back in service (a registration's report carries the marks anyway). */
  reportMarked(disk: string, marked: boolean, chunks: ChunkRef[]): Promise<void> {
    return this.submit({ name: 'chunksMarked', body: { disk, marked, chunks } });
  }

  private submit(r: Report): Promise<void> {
    const { name } = r;
    if (!this.connected) {
      if (this.reporting && !this.reporting.closed) {
        this.queued.push(r);
        return Promise.resolve();
      }
      if (name === 'chunksDamaged') this.queued.push(r);
      return Promise.reject(fail('ECONNRESET', `not registered with the master at ${this.where}`));
    }
    return this.send(r);
  }

  private async send(r: Report): Promise<void> {
    const conn = this.conn;
    if (!conn || conn.closed) throw fail('ECONNRESET', `not registered with the master at ${this.where}`);
    try {
      await conn.request(r.name, r.body as never);
    } catch (err) {
      this.log.warn({ master: this.where, report: r.name, err: (err as Error).message }, 'report to the master failed');
      if (r.name === 'chunksDamaged') this.queued.push(r);
      throw err;
    }
  }
}
