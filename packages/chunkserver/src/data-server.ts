import type { Logger, Service } from '@tsmfs/daemon';
import {
  BLOCK_SIZE,
  CHUNK_SIZE,
  type ChunkRef,
  type DataBlock,
  DataFrameError,
  DataFrameType,
  type Frame,
  type MessageName,
  REPLY_FLAG,
  type Reply,
  type Request,
  Status,
  TsmfsError,
  dataBlockCrcOk,
  dataCrc,
  decodeDataBlock,
  decodeDataWriteStatus,
  encodeDataBlockHeader,
  encodeDataWriteStatus,
  fail,
  type GrantVerifier,
} from '@tsmfs/protocol';
import { type Connection, type Hello, type LinkLimits, RpcServer, dial } from '@tsmfs/rpc';
import { ZERO_BLOCK_CRC } from './chunk-file.js';
import type { ChunkHandle, HddManager } from './hdd-manager.js';
import { WrittenChunks } from './written-chunks.js';

export interface DataServerOptions {
  host: string;
  port: number;
  hdd: HddManager;
  log: Logger;
  /** Our name in handshakes with the next chunkserver of a chain. */
  name: string;
  /** How long a forwarded piece or chain set-up may wait for the next chunkserver. */
  chainTimeoutMs?: number;
  /**
   * fsync every chunk at the end of each write (HDD_FSYNC_BEFORE_CLOSE = 1). Off by
   * default as in MooseFS: POSIX promises durability after fsync(2), which reaches us as
   * `dataSync`, not after close(2).
   */
  fsyncBeforeClose?: boolean;
  /** MAX_CONNECTIONS and the other limits of the port (docs/security.md). */
  limits?: LinkLimits;
  /**
   * Checks the master's grant tokens (grant-token.ts): a dataRead or dataChunkInfo needs
   * a read token for that chunk and version, a dataWriteInit a write token, before
   * anything is opened.
   */
  tokens: GrantVerifier;
  /**
   * Queues the report of a copy a write's init created ('create' grants) to every master
   * (master-link.ts: they go in batches, off the write's path; the leader learns of the
   * copy from the write's end and our receipt). Without it (no master link) a 'create'
   * init is refused.
   */
  created?: (chunk: ChunkRef) => void;
}

/** Blocks read from disk at once for a `dataRead`, then sent as one data frame each. */
const READ_BATCH_BLOCKS = 16;
/**
 * Batches of one link's reads read from disk or being sent at once. A read's next batch
 * comes off the disk while the one before is sent, and the reads of a link overlap, so
 * the disk is never idle while the socket drains; a peer that does not read its replies
 * holds at most this many batches (4 MiB) here.
 */
const READ_BATCHES_PER_LINK = 4;

/**
 * Requests (write pieces and reads) a link may have in flight before we stop reading its
 * socket (TCP then slows the writer down): MAX_REQUESTS_IN_FLIGHT's default here. 64
 * pieces = 4 MiB per link, the client's write window.
 */
export const DATA_MAX_IN_FLIGHT = 64;

/**
 * A write open on one link: the local chunk and, unless we are the chain's last link,
 * the link to the next chunkserver. Registered as soon as its init arrives, before
 * either is open, so that pieces sent right behind the init wait for them here (in
 * arrival order: each waits on the same promises, whose callbacks run in order). Every
 * piece is written here and forwarded there at once; its acknowledgement goes upstream
 * only when both are done.
 */
class WriteSession {
  private readonly inflight = new Set<Promise<void>>();

  constructor(
    readonly version: number,
    readonly chunk: Promise<ChunkHandle>,
    /** The link to the next chunkserver once the init was sent on it (pieces may follow at once); undefined at the chain's end. */
    readonly next: Promise<Connection | undefined>,
    /** Settles when the local chunk and the rest of the chain are both open, with the first failure. */
    readonly opened: Promise<void>,
    /** "host:port" of `next`, where its link goes back to the idle pool. */
    readonly nextAddress: string,
    /** A copy this init created: our creation receipt for the master, once it exists (the end answers with it). */
    readonly receipt: Promise<Buffer> | undefined,
  ) {
    // Awaited by the end only; a write abandoned before its end must not leave it unhandled.
    receipt?.catch(() => undefined);
  }

  track(p: Promise<void>): void {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  /** Resolves when every piece received so far has been answered. */
  async settled(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /** Ends the write; a link to the next chunkserver that ended cleanly goes to `keep` for the next write. */
  async close(keep?: (conn: Connection) => void): Promise<void> {
    await this.settled();
    const next = await this.next.catch(() => undefined);
    if (next) {
      if (keep) keep(next);
      else next.close();
    }
    const chunk = await this.chunk.catch(() => undefined);
    await chunk?.release();
  }
}

/** Idle links to a next chunkserver kept per address (a dial and handshake per chunk write cost two round trips). */
const IDLE_NEXT_PER_PEER = 8;

interface LinkState {
  remote: string;
  role: string;
  writes: Map<number, WriteSession>;
  /** Read batches under way on the link (READ_BATCHES_PER_LINK at most), and those waiting for a place. */
  readBatches: number;
  readQueue: (() => void)[];
}

/**
 * The chunkserver's data port (CSSERV, 9422): clients and other chunkservers read
 * chunks, and write them as links of a chain. Control requests (dataRead,
 * dataWriteInit, …) are msgpack frames; chunk bytes travel in data frames.
 */
export class DataServer implements Service {
  readonly name = 'data server';
  private server: RpcServer | undefined;
  private readonly links = new Map<Connection, LinkState>();
  /** Links to next chunkservers of chains, idle between writes, by "host:port". */
  private readonly idleNext = new Map<string, Connection[]>();
  private readonly log: Logger;
  /** Data bytes read for and written by peers since start (the heartbeat carries them to the monitor). */
  readonly traffic = { bytesRead: 0, bytesWritten: 0 };
  /** Copies written and not synced since: what `dataSyncAll` syncs. */
  readonly written = new WrittenChunks((chunkId, version) => this.syncCopy(chunkId, version));

  constructor(private readonly options: DataServerOptions) {
    this.log = options.log.child({ component: 'csserv' });
  }

  async start(): Promise<void> {
    const server = new RpcServer({
      maxInFlight: DATA_MAX_IN_FLIGHT,
      ...this.options.limits,
      host: this.options.host,
      port: this.options.port,
      role: 'chunkserver',
      accept: ['client', 'chunkserver'],
      epoch: () => 0,
      onConnection: (conn, hello) => this.serve(conn, hello),
      onRejected: (remote, reason) => this.log.warn({ remote, reason }, 'link refused'),
      onHandlerError: (name, err) => this.log.error({ request: name, err: (err as Error).stack ?? String(err) }, 'request failed unexpectedly'),
    });
    await server.start();
    this.server = server;
    this.log.info({ host: this.options.host, port: server.port }, 'listening');
  }

  /** The port bound (the configured one unless that was 0). */
  get port(): number {
    return this.server?.port ?? this.options.port;
  }

  async stop(): Promise<void> {
    const links = [...this.links.keys()];
    await this.server?.stop();
    this.server = undefined;
    for (const conn of links) conn.close();
    await Promise.all(links.map((c) => this.closeLink(c)));
    for (const pool of this.idleNext.values()) for (const c of pool) c.close();
    this.idleNext.clear();
  }

  private serve(conn: Connection, hello: Hello): void {
    const link: LinkState = { remote: conn.remote, role: hello.role, writes: new Map(), readBatches: 0, readQueue: [] };
    this.links.set(conn, link);
    this.log.debug({ remote: link.remote, role: hello.role, name: hello.name }, 'link opened');
    conn.serve((name, body, c, requestId) => this.onRequest(link, c, name, body, requestId));
    conn.onDataFrame((frame, c) => this.onDataFrame(link, c, frame));
    conn.once('close', (err) => {
      if (err) this.log.warn({ remote: link.remote, err: err.message }, 'link closed on error');
      void this.closeLink(conn);
    });
  }

  private async closeLink(conn: Connection): Promise<void> {
    const link = this.links.get(conn);
    if (!link) return;
    this.links.delete(conn);
    const sessions = [...link.writes.values()];
    link.writes.clear();
    await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
  }

  private onRequest(link: LinkState, conn: Connection, name: MessageName, body: unknown, requestId: number): Promise<unknown> {
    switch (name) {
      case 'dataRead':
        return this.read(link, conn, requestId, body as Request<'dataRead'>);
      case 'dataWriteInit':
        return this.writeInit(link, body as Request<'dataWriteInit'>);
      case 'dataWriteEnd':
        return this.writeEnd(link, body as Request<'dataWriteEnd'>);
      case 'dataChunkInfo':
        return this.chunkInfo(body as Request<'dataChunkInfo'>);
      case 'dataSync':
        return this.sync(body as Request<'dataSync'>);
      case 'dataSyncAll':
        return this.syncAll();
      case 'ping':
        return Promise.resolve({});
      default:
        return Promise.reject(fail('ENOSYS', `${name} is not served on the data port`));
    }
  }

  // ---- reads ----------------------------------------------------------------------

  /**
   * Streams [offset, offset+length) as data frames of at most one block each, every
   * block CRC-checked on the way off the disk; a damaged block ends the stream with EIO
   * (the reader turns to another copy) and is reported by the hdd manager.
   */
  private async read(link: LinkState, conn: Connection, requestId: number, req: Request<'dataRead'>): Promise<object> {
    if (req.offset + req.length > CHUNK_SIZE) throw fail('EINVAL', `read [${req.offset}, +${req.length}) lies outside the chunk`);
    this.options.tokens.check(req.token, { chunkId: req.chunkId, version: req.version, mode: 'read' });
    const chunk = await this.options.hdd.acquire(req.chunkId, req.version);
    try {
      const stream = { seq: 0 };
      const end = req.offset + req.length;
      // Each batch is read as soon as the link has room and sent after the one before it.
      let sent: Promise<void> = Promise.resolve();
      let failed = false;
      for (let pos = req.offset; pos < end && !conn.closed && !failed; ) {
        const batchEnd = Math.min(end, (Math.floor(pos / BLOCK_SIZE) + READ_BATCH_BLOCKS) * BLOCK_SIZE);
        await this.readPlace(link);
        const crcs: number[] = [];
        const bytes = chunk.read(pos, batchEnd - pos, crcs);
        const from = pos;
        sent = Promise.all([bytes, sent])
          // The last batch's frames and the reply that ends the read (written once `read`
          // resolves, a few microtasks later) leave in one write: the Connection holds a
          // run's frames until it ends.
          .then(([b]) => this.sendBatch(conn, requestId, req, stream, from, b, crcs))
          .finally(() => this.readDone(link));
        sent.catch(() => (failed = true));
        pos = batchEnd;
      }
      await sent;
    } finally {
      await chunk.release();
    }
    return {};
  }

  /** Resolves when the link may start one more read batch. */
  private readPlace(link: LinkState): Promise<void> {
    if (link.readBatches < READ_BATCHES_PER_LINK) {
      link.readBatches++;
      return Promise.resolve();
    }
    return new Promise((resolve) => link.readQueue.push(resolve));
  }

  /** A batch is sent (or failed): its place goes to the next waiting one. */
  private readDone(link: LinkState): void {
    const next = link.readQueue.shift();
    if (next) next();
    else link.readBatches--;
  }

  /**
   * Sends [pos, pos + bytes.length), read from disk, as one data frame per block. A whole
   * block goes with the CRC its header held when it was read and verified (`crcs`, from
   * the block at `pos` on): the same CRC-32 over the same 64 KiB, not computed twice.
   */
  private async sendBatch(conn: Connection, requestId: number, req: Request<'dataRead'>, stream: { seq: number }, pos: number, bytes: Buffer, crcs: number[]): Promise<void> {
    if (conn.closed) return;
    const batchEnd = pos + bytes.length;
    const firstBlock = Math.floor(pos / BLOCK_SIZE);
    this.traffic.bytesRead += bytes.length;
    for (let p = pos; p < batchEnd && !conn.closed; ) {
      const pieceEnd = Math.min(batchEnd, (Math.floor(p / BLOCK_SIZE) + 1) * BLOCK_SIZE);
      const data = bytes.subarray(p - pos, pieceEnd - pos);
      const whole = data.length === BLOCK_SIZE && p % BLOCK_SIZE === 0;
      const crc = whole ? (crcs[p / BLOCK_SIZE - firstBlock] ?? ZERO_BLOCK_CRC) : dataCrc(data);
      const header = encodeDataBlockHeader({ chunkId: req.chunkId, version: req.version, seq: stream.seq++, offset: p, length: data.length, crc });
      if (!conn.sendData(DataFrameType.read | REPLY_FLAG, requestId, [header, data])) await conn.drained();
      p = pieceEnd;
    }
  }

  private async chunkInfo(req: Request<'dataChunkInfo'>): Promise<{ length: number }> {
    this.options.tokens.check(req.token, { chunkId: req.chunkId, version: req.version, mode: 'read' });
    const chunk = await this.options.hdd.acquire(req.chunkId, req.version);
    try {
      return { length: chunk.length };
    } finally {
      await chunk.release();
    }
  }

  /** A client's fsync(2): this copy's completed writes reach the disk. */
  private async sync(req: Request<'dataSync'>): Promise<object> {
    await this.syncCopy(req.chunkId, req.version);
    this.written.synced(req.chunkId, req.version);
    return {};
  }

  /**
   * A client's bound of unsynced files reached: one line per sweep that synced something
   * (a burst of fdatasyncs on the disks); an empty one, which any client may send at will,
   * at debug only.
   */
  private async syncAll(): Promise<Reply<'dataSyncAll'>> {
    const started = performance.now();
    const chunks = await this.written.syncAll();
    this.log[chunks > 0 ? 'info' : 'debug']({ chunks, ms: Math.round(performance.now() - started) }, 'copies written since their last sync synced');
    return { chunks };
  }

  private async syncCopy(chunkId: number, version: number): Promise<void> {
    const chunk = await this.options.hdd.acquire(chunkId, version);
    try {
      await chunk.sync();
    } finally {
      await chunk.release();
    }
  }

  // ---- writes ---------------------------------------------------------------------

  /**
   * Opens our copy and, at the same time, the rest of the chain: the next chunkserver gets
   * the init (and the pieces behind it) before our file is open, so the chain opens in
   * one pass rather than one link after the other. Answered when both are open; a
   * failure of either undoes the other, the local one first.
   */
  private async writeInit(link: LinkState, req: Request<'dataWriteInit'>): Promise<object> {
    if (link.writes.has(req.chunkId)) throw fail('EBUSY', `a write of chunk ${req.chunkId} is already open on this link`);
    // Before anything is opened or forwarded: pieces that follow a refused init find no write (EBADF).
    const signer = this.options.tokens.check(req.token, { chunkId: req.chunkId, version: req.version, mode: req.create ? 'create' : 'write' });
    // The init leaves for the next link before our copy is made: a creation runs on the
    // event loop (ChunkFile.createInline, ~1 ms for the file's creation on this VM's ext4),
    // and the next copy is created meanwhile instead of after it.
    const rest = this.initNext(req);
    const created = req.create ? this.createChunk(req.chunkId, req.version, signer) : undefined;
    const chunk = created ? created.then((c) => c.handle) : this.options.hdd.acquire(req.chunkId, req.version);
    const opened = Promise.allSettled([chunk, rest.reply]).then(([l, r]) => {
      if (l.status === 'rejected') throw l.reason;
      if (r.status === 'rejected') throw r.reason;
    });
    const first = req.chain[0];
    const receipt = created?.then((c) => c.receipt);
    const session = new WriteSession(req.version, chunk, rest.conn, opened, first ? `${first.host}:${first.port}` : '', receipt);
    link.writes.set(req.chunkId, session);
    try {
      await opened;
    } catch (err) {
      if (link.writes.get(req.chunkId) === session) link.writes.delete(req.chunkId);
      await session.close();
      throw err;
    }
    return {};
  }

  /**
   * Our copy of a chunk a 'create' grant writes: created and opened, with our receipt
   * for the master whose key signed the token (`signer`). The write's end answers with
   * the receipt, the client hands it to the master with writeChunkEnd, and the master
   * counts the copy before it answers that end: no write is ended on a copy the master
   * does not know, and no report's round trip is on the write's path (docs/master.md,
   * "Chunk creation"). The report still goes to every master, in a batch later: the
   * followers learn of the copy from it, and the leader if the client never ends the
   * write. A master link lost since the token was checked leaves no key to sign with:
   * the write fails and the client retries on a new grant.
   */
  private async createChunk(chunkId: number, version: number, signer: string): Promise<{ handle: ChunkHandle; receipt: Buffer }> {
    const { hdd, created, tokens } = this.options;
    if (!created) throw fail('ENOSYS', 'this data server cannot create chunks: no master link to report them to');
    await hdd.create(chunkId, version);
    created({ chunkId, version });
    const receipt = tokens.receipt(signer, chunkId, version);
    if (!receipt) throw fail('ECONNRESET', `chunk ${chunkId} created, but the master that granted it is gone: no receipt to give`);
    return { handle: await hdd.acquire(chunkId, version), receipt };
  }

  /**
   * Sends the init to the next chunkserver of the chain (which opens the rest), on an
   * idle link to it or a new one: `conn` once it is sent, `reply` once the rest is open.
   * On an idle link the init is written before this returns (not when the run ends, as
   * the Connection would), so that it is on its way while our copy is created.
   */
  private initNext(req: Request<'dataWriteInit'>): { conn: Promise<Connection | undefined>; reply: Promise<void> } {
    const [first, ...rest] = req.chain;
    if (!first) return { conn: Promise.resolve(undefined), reply: Promise.resolve() };
    const where = `${first.host}:${first.port}`;
    // Each link of the chain checks its own token: the master signed one per copy.
    const init = { chunkId: req.chunkId, version: req.version, token: first.token, chain: rest, ...(req.create ? { create: true } : {}) };
    const timeout = this.options.chainTimeoutMs ?? 30_000;
    const idle = this.takeIdle(where);
    // A reused link is not retried on a new one when it fails: pieces may already have followed the init on it.
    const conn = idle
      ? Promise.resolve(idle)
      : dial({ host: first.host, port: first.port, role: 'chunkserver', name: this.options.name, requestTimeoutMs: timeout, connectTimeoutMs: timeout }).then((d) =>
          this.leaveIdleOnClose(d.conn, where),
        );
    const asked = idle ? idle.request('dataWriteInit', init) : conn.then((c) => c.request('dataWriteInit', init));
    idle?.sendNow();
    const reply = asked.then(
      () => undefined,
      (err: unknown) => {
        const status = err instanceof TsmfsError ? err.status : Status.EIO;
        throw new TsmfsError(status, `next chunkserver of the chain ${where}: ${(err as Error).message}`);
      },
    );
    return { conn, reply };
  }

  private takeIdle(where: string): Connection | undefined {
    const pool = this.idleNext.get(where);
    while (pool && pool.length > 0) {
      const conn = pool.pop()!;
      if (!conn.closed) return conn;
    }
    return undefined;
  }

  private keepIdle(conn: Connection, where: string): void {
    if (conn.closed || !this.server) return conn.close();
    const pool = this.idleNext.get(where) ?? [];
    if (pool.length >= IDLE_NEXT_PER_PEER) return conn.close();
    pool.push(conn);
    this.idleNext.set(where, pool);
  }

  /**
   * A link to a next chunkserver that closes leaves the idle pool. Registered once, when
   * it is dialed, not each time it goes back to the pool: a link is reused for thousands
   * of writes, and a listener per reuse would pile up on it for its whole life.
   */
  private leaveIdleOnClose(conn: Connection, where: string): Connection {
    conn.once('close', () => {
      const pool = this.idleNext.get(where);
      const i = pool?.indexOf(conn) ?? -1;
      if (i >= 0) pool!.splice(i, 1);
    });
    return conn;
  }

  /** One piece of a write: answered with a write status, never by closing the link, unless it does not parse. */
  private onDataFrame(link: LinkState, conn: Connection, frame: Frame): Promise<void> | void {
    if (frame.type !== DataFrameType.write) throw new DataFrameError(`data frame type ${frame.type.toString(16)} is not accepted here`);
    const block = decodeDataBlock(frame.body);
    const answer = (status: number): void => {
      if (!conn.closed) conn.sendData(DataFrameType.write | REPLY_FLAG, frame.requestId, [encodeDataWriteStatus({ chunkId: block.chunkId, seq: block.seq, status })]);
    };
    const session = link.writes.get(block.chunkId);
    if (!session) return answer(Status.EBADF);
    if (block.version !== session.version) return answer(Status.ESTALE);
    if (!dataBlockCrcOk(block)) return answer(Status.EIO);
    // In flight (the connection's FlowLimits) until answered.
    const piece = this.writePiece(session, frame, block).then(answer);
    session.track(piece);
    return piece;
  }

  /** Writes here and forwards to the next link at the same time; the worst status wins. */
  private async writePiece(session: WriteSession, frame: Frame, { offset, data, crc }: DataBlock): Promise<number> {
    // The wire CRC was checked against the bytes: the chunk file need not compute it again.
    const local = session.chunk.then((chunk) => chunk.write(offset, data, crc));
    this.traffic.bytesWritten += data.length;
    const forwarded = session.next.then((next) =>
      next ? next.requestData(DataFrameType.write, [frame.body]).then((body) => decodeDataWriteStatus(body).status) : Status.OK,
    );
    const [l, r] = await Promise.allSettled([local, forwarded]);
    if (l.status === 'rejected') return statusOf(l.reason);
    if (r.status === 'rejected') return statusOf(r.reason);
    return r.value;
  }

  /**
   * Ends the write here and down the chain at the same time: every piece was forwarded
   * as it came, before this request, so the next link has them all and ends its copy
   * while we end ours. Answered when both ended; the first failure is the answer (ours
   * first: a chain that did not open fails our end with the reason). The end follows the
   * pieces at once, without waiting for the next link's answer to the init: that link
   * takes its init, pieces and end in order, and a new chunk's small write then costs one
   * round trip down the chain instead of two.
   */
  private async writeEnd(link: LinkState, req: Request<'dataWriteEnd'>): Promise<Reply<'dataWriteEnd'>> {
    const session = link.writes.get(req.chunkId);
    if (!session || session.version !== req.version) throw fail('EBADF', `no write of chunk ${req.chunkId} v${req.version} is open on this link`);
    link.writes.delete(req.chunkId);
    const rest = session.next.then((next) => next?.request('dataWriteEnd', { chunkId: req.chunkId, version: req.version }));
    const [local, forwarded] = await Promise.allSettled([this.endLocal(session), rest]);
    const clean = local.status === 'fulfilled' && forwarded.status === 'fulfilled';
    await session.close(clean ? (c) => this.keepIdle(c, session.nextAddress) : undefined);
    if (local.status === 'rejected') throw local.reason;
    if (forwarded.status === 'rejected') throw forwarded.reason;
    const created = [...(local.value ? [local.value] : []), ...(forwarded.value?.created ?? [])];
    return created.length > 0 ? { created } : {};
  }

  /**
   * Our copy's part of a write's end: every piece answered, the header with the pieces'
   * CRCs written (before the answer: an ended write must survive a kill of this process
   * undamaged), synced if configured, the descriptor released. Answers with our creation
   * receipt when this write created the copy.
   */
  private async endLocal(session: WriteSession): Promise<Buffer | undefined> {
    await session.opened;
    await session.settled();
    const receipt = await session.receipt;
    const chunk = await session.chunk;
    await chunk.flush();
    if (this.options.fsyncBeforeClose) await chunk.sync();
    else this.written.written(chunk.chunkId, chunk.version);
    await chunk.release();
    return receipt;
  }
}

function statusOf(err: unknown): number {
  return err instanceof TsmfsError ? err.status : Status.EIO;
}
