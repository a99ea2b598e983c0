import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import {
  type DecodedFrame,
  type Frame,
  FrameDecoder,
  FrameError,
  MAX_CONTROL_BODY,
  type MessageName,
  Messages,
  type Reply,
  type Request,
  Status,
  TsmfsError,
  decodeFrame,
  encodeErrorReply,
  encodeReply,
  encodeFrameHeader,
  encodeRequest,
  FRAME_HEADER_SIZE,
  isDataFrameType,
  REPLY_FLAG,
  replyError,
} from '@tsmfs/protocol';

/**
 * Answers one request; throw a TsmfsError to reply with its status. `requestId` lets a
 * handler stream data frames belonging to this request before its reply (sendData).
 */
export type RequestHandler = (name: MessageName, body: unknown, conn: Connection, requestId: number) => unknown | Promise<unknown>;

/**
 * Receives a data frame the peer sent as a request (see data-frames.ts), raw. It answers
 * with sendData(type | REPLY_FLAG, frame.requestId, …) itself; a returned promise keeps
 * the frame in flight (FlowLimits) until it settles. A throw or rejection means the peer
 * broke the protocol: the link is closed.
 */
export type DataFrameHandler = (frame: Frame, conn: Connection) => void | Promise<void>;

/**
 * How much of a peer's work one connection takes on before it stops reading that peer
 * (docs/security.md, "Limits"). A request is in flight from its arrival until its reply
 * is written; frames that arrive beyond the cap wait, undecoded past their header, and
 * the socket is paused, so TCP slows the sender instead of our memory growing.
 */
export interface FlowLimits {
  /** Requests (control and data) served at once on one connection. */
  maxInFlight?: number;
  /** Bytes queued for the peer beyond which nothing more of its is served until it reads. */
  writeHighWater?: number;
}

/** Defaults of FlowLimits: room for the pipelining of a busy mount or a bench window. */
export const DEFAULT_MAX_IN_FLIGHT = 256;
export const DEFAULT_WRITE_HIGH_WATER = 1024 * 1024;
/** Requests of one connection started in one event-loop turn before the others get theirs. */
const DISPATCH_PER_TURN = 16;

export interface ConnectionOptions extends FlowLimits {
  maxBody?: number;
  /** Default time a request waits for its reply before failing with ETIMEDOUT. */
  requestTimeoutMs?: number;
  /** Told of handler failures that are bugs (not TsmfsErrors); the peer gets EIO. */
  onHandlerError?: (name: MessageName, err: unknown) => void;
}

interface Pending {
  name: MessageName | 'data';
  /** Data frames answering this request before its final reply (a read stream). */
  onData?: (frame: Frame) => void;
  /** onData's frames are lent: their bodies are valid only while it runs (see StreamOptions). */
  lent?: boolean;
  /** The reply is a raw data frame, not a control reply. */
  raw?: boolean;
  resolve: (body: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

export interface StreamOptions {
  timeoutMs?: number;
  /**
   * onData copies what it keeps: each frame's body may be a view of a buffer the link
   * reuses for the next frame (no allocation per frame on a link that reads into one).
   */
  lent?: boolean;
}

/**
 * How a Connection gets its bytes: from its socket's 'data' events (chunks it owns), or
 * from its creator through `receive` (dial's sockets read into one reused buffer).
 */
export type Feed = 'data-events' | 'receive';

/**
 * One framed, request/response link over a TCP socket, symmetric: either side may
 * send requests (the master pushes commands to chunkservers over the link they opened).
 * Requests are pipelined; replies are matched by request id, in any order.
 * A malformed frame closes this link only.
 */
export class Connection extends EventEmitter<{ close: [Error | undefined] }> {
  private readonly decoder: FrameDecoder;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private handler: RequestHandler | undefined;
  private dataHandler: DataFrameHandler | undefined;
  private closedWith: Error | undefined | null = null;
  /** The peer's requests being served (its control requests and data-frame requests). */
  private inFlight = 0;
  /** The peer's requests not served yet, in arrival order, from backlogHead on. */
  private readonly backlog: Frame[] = [];
  private backlogHead = 0;
  private pumpScheduled = false;
  private paused = false;
  /** The wait of every drained() caller until the socket drains or the link closes. */
  private drainWait: Promise<void> | undefined;
  /** The socket is corked by `out` until the current run ends. */
  private holding = false;
  private readonly maxInFlight: number;
  private readonly writeHighWater: number;
  readonly remote: string;

  constructor(
    readonly socket: Socket,
    private readonly options: ConnectionOptions = {},
    feed: Feed = 'data-events',
  ) {
    super();
    this.decoder = new FrameDecoder(options.maxBody ?? MAX_CONTROL_BODY, (type, requestId) => (type & REPLY_FLAG) !== 0 && isDataFrameType(type) && this.pending.get(requestId)?.lent === true);
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    this.writeHighWater = options.writeHighWater ?? DEFAULT_WRITE_HIGH_WATER;
    socket.setNoDelay(true);
    if (feed === 'data-events') socket.on('data', (chunk: Buffer) => this.receive(chunk, true));
    socket.on('drain', () => this.pump());
    socket.on('error', (err) => this.close(err));
    socket.on('close', () => this.close(undefined));
  }

  get closed(): boolean {
    return this.closedWith !== null;
  }

  /** Installs the handler for requests the peer sends us. */
  serve(handler: RequestHandler): void {
    this.handler = handler;
  }

  /** Installs the handler for data frames the peer sends as requests (writes to a chunkserver). */
  onDataFrame(handler: DataFrameHandler): void {
    this.dataHandler = handler;
  }

  request<N extends MessageName>(name: N, body: Request<N>, timeoutMs = this.options.requestTimeoutMs): Promise<Reply<N>> {
    return this.send({ name }, timeoutMs, (requestId) => this.outFrame(encodeRequest(name, requestId, body))) as Promise<Reply<N>>;
  }

  /**
   * A control request whose answer is a stream: data frames with REPLY_FLAG and this
   * request's id go to `onData`, in order, until the control reply settles the promise.
   */
  requestStream<N extends MessageName>(name: N, body: Request<N>, onData: (frame: Frame) => void, options: StreamOptions = {}): Promise<Reply<N>> {
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
    return this.send({ name, onData, lent: options.lent }, timeoutMs, (requestId) => this.outFrame(encodeRequest(name, requestId, body))) as Promise<Reply<N>>;
  }

  /**
   * Sends a data frame of `type` as a request and resolves with the body of the data
   * frame that answers it (same type with REPLY_FLAG, same request id), raw.
   */
  requestData(type: number, parts: readonly Uint8Array[], timeoutMs = this.options.requestTimeoutMs): Promise<Buffer> {
    return this.send({ name: 'data', raw: true }, timeoutMs, (requestId) => this.sendData(type, requestId, parts)) as Promise<Buffer>;
  }

  /**
   * Writes one data frame: the frame header, then `parts` as they are (no copy of the
   * payload). Returns false when the socket's buffer is full: await drained() before more.
   */
  sendData(type: number, requestId: number, parts: readonly Uint8Array[]): boolean {
    let length = 0;
    for (const p of parts) length += p.length;
    this.out(FRAME_HEADER_SIZE + length, encodeFrameHeader(type, length, requestId), ...parts);
    return !this.socket.writableNeedDrain;
  }

  /**
   * Resolves once the socket can take more (or the link is closed). Every waiter shares
   * one wait: the chunk writes of a mount share a data link, and a listener each on the
   * socket passed Node's limit of 10 (MaxListenersExceededWarning in the suite's log).
   */
  drained(): Promise<void> {
    if (this.closed || !this.socket.writableNeedDrain) return Promise.resolve();
    this.drainWait ??= new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.off('close', done);
        this.drainWait = undefined;
        resolve();
      };
      this.socket.on('drain', done);
      this.once('close', done);
    });
    return this.drainWait;
  }

  private send(p: Omit<Pending, 'resolve' | 'reject' | 'timer'>, timeoutMs: number | undefined, write: (requestId: number) => void): Promise<unknown> {
    if (this.closedWith !== null) {
      return Promise.reject(new TsmfsError(Status.ECONNRESET, `link to ${this.remote} is closed`));
    }
    const requestId = this.allocateId();
    return new Promise<unknown>((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.pending.delete(requestId);
              reject(new TsmfsError(Status.ETIMEDOUT, `${p.name} to ${this.remote} timed out after ${timeoutMs} ms`));
            }, timeoutMs);
      this.pending.set(requestId, { ...p, resolve, reject, timer });
      write(requestId);
    });
  }

  /** Writes raw bytes (pre-encoded frames); for data links that frame their own payloads. */
  write(bytes: Buffer): boolean {
    this.outFrame(bytes);
    return !this.socket.writableNeedDrain;
  }

  /**
   * Writes one frame of `size` bytes, in parts. Small frames written in one run of callbacks and
   * microtasks leave together, in one writev, when the run ends (process.nextTick): a
   * chunkserver that forwards and acknowledges the dozen pieces of one socket read makes
   * one system call and wakes its peer once instead of once per frame (docs/benchmarks.md,
   * "Small frames of one run in one write"). A frame of the socket's high-water mark or
   * more goes at once, behind what is held: held, it would raise writableNeedDrain
   * before the kernel refused anything, and a writer of 64 KiB pieces would wait a turn
   * for 'drain' after each.
   */
  private out(size: number, ...parts: Uint8Array[]): void {
    if (size >= this.socket.writableHighWaterMark) {
      this.flush();
      if (parts.length === 1) {
        this.socket.write(parts[0]!);
        return;
      }
      this.socket.cork();
      for (const p of parts) this.socket.write(p);
      this.socket.uncork();
      return;
    }
    if (!this.holding) {
      this.holding = true;
      this.socket.cork();
      process.nextTick(this.flush);
    }
    for (const p of parts) this.socket.write(p);
    if (this.socket.writableLength >= this.socket.writableHighWaterMark) this.flush();
  }

  /** `out` of a frame in one buffer. */
  private outFrame(frame: Uint8Array): void {
    this.out(frame.length, frame);
  }

  /**
   * Writes the frames held so far now rather than when the run ends: for a sender about
   * to keep the event loop busy (a chunkserver creating its copy of a chunk on the event
   * loop forwards the write's init first, so that the next copy is created meanwhile).
   */
  sendNow(): void {
    this.flush();
  }

  /** Sends what `out` held; close() flushes too, so that an error reply queued before it leaves. */
  private readonly flush = (): void => {
    if (!this.holding) return;
    this.holding = false;
    this.socket.uncork();
  };

  close(err?: Error): void {
    if (this.closedWith !== null) return;
    this.closedWith = err;
    for (const [id, p] of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(new TsmfsError(Status.ECONNRESET, `link to ${this.remote} closed${err ? `: ${err.message}` : ''}`));
      this.pending.delete(id);
    }
    if (!this.socket.destroyed) this.flush();
    this.socket.destroy();
    this.emit('close', err);
  }

  private allocateId(): number {
    const id = this.nextId;
    this.nextId = this.nextId >= 0x7fff_ffff ? 1 : this.nextId + 1;
    return id;
  }

  /**
   * Bytes from the peer. `owned`: the caller will not overwrite them (a 'data' chunk);
   * otherwise they are copied or used before this returns (a reused read buffer).
   */
  receive(bytes: Buffer, owned: boolean): void {
    try {
      this.decoder.feed(bytes, owned, this.onFrame);
    } catch (err) {
      this.close(err instanceof FrameError ? err : new FrameError('malformed', String(err)));
      return;
    }
    this.pump();
  }

  /** Replies are handled at once (a lent body is used before the next frame); requests queue. */
  private readonly onFrame = (raw: Frame): void => {
    if (this.closed) return;
    if ((raw.type & REPLY_FLAG) !== 0) this.onReplyFrame(raw);
    else this.backlog.push(raw);
  };

  /** The peer has as much in progress as we take: its further requests wait. */
  private saturated(): boolean {
    return this.inFlight >= this.maxInFlight || this.socket.writableLength > this.writeHighWater;
  }

  /**
   * Serves waiting requests while there is room, DISPATCH_PER_TURN per event-loop turn
   * (so that one peer's burst neither delays the other connections for long nor runs
   * ahead of its replies' backpressure); reads the socket again once none wait.
   */
  private pump(): void {
    if (this.pumpScheduled) return;
    let served = 0;
    try {
      for (; this.backlogHead < this.backlog.length && !this.saturated() && !this.closed; served++) {
        if (served === DISPATCH_PER_TURN) {
          this.pumpScheduled = true;
          setImmediate(() => {
            this.pumpScheduled = false;
            this.pump();
          });
          break;
        }
        const raw = this.backlog[this.backlogHead]!;
        this.backlog[this.backlogHead++] = undefined as never;
        this.dispatch(raw);
      }
    } catch (err) {
      this.close(err instanceof FrameError ? err : new FrameError('malformed', String(err)));
      return;
    }
    if (this.backlogHead === this.backlog.length) {
      this.backlog.length = 0;
      this.backlogHead = 0;
    }
    const waiting = this.backlog.length > 0;
    if (waiting !== this.paused && !this.closed) {
      this.paused = waiting;
      if (waiting) this.socket.pause();
      else this.socket.resume();
    }
  }

  /** A reply (control or data) to one of our requests: never held back, it frees our side. */
  private onReplyFrame(raw: Frame): void {
    if (isDataFrameType(raw.type)) {
      void this.onDataFrameIn(raw);
      return;
    }
    const frame = decodeFrame(raw);
    if (frame.kind === 'reply') this.onReply(frame);
  }

  /** Starts serving one of the peer's requests; it counts as in flight until answered. */
  private dispatch(raw: Frame): void {
    let served: Promise<void> | void;
    if (isDataFrameType(raw.type)) served = this.onDataFrameIn(raw);
    else {
      const frame = decodeFrame(raw);
      if (frame.kind !== 'request') return;
      served = this.onRequest(frame.name, frame.requestId, frame.body);
    }
    if (!served) return;
    this.inFlight++;
    void served.finally(() => {
      this.inFlight--;
      this.pump();
    });
  }

  /**
   * Data frames with REPLY_FLAG answer one of our requests (a stream piece or a data
   * reply); others are the peer's requests, for the data handler. A reply nobody waits
   * for any more (timed out) is dropped, as control replies are.
   */
  private onDataFrameIn(frame: Frame): Promise<void> | void {
    if ((frame.type & REPLY_FLAG) !== 0) {
      const p = this.pending.get(frame.requestId);
      if (p?.onData) p.onData(frame);
      else if (p?.raw) this.settle(frame.requestId, p, () => p.resolve(frame.body));
      return;
    }
    if (!this.dataHandler) throw new FrameError('malformed', `data frame type ${frame.type.toString(16)} is not served here`);
    const result = this.dataHandler(frame, this);
    if (result) return result.catch((err: unknown) => this.close(err instanceof Error ? err : new Error(String(err))));
  }

  private settle(requestId: number, p: Pending, how: () => void): void {
    this.pending.delete(requestId);
    if (p.timer) clearTimeout(p.timer);
    how();
  }

  private onReply(frame: Extract<DecodedFrame, { kind: 'reply' }>): void {
    const p = this.pending.get(frame.requestId);
    if (!p) return; // timed out already; the late reply has nobody to go to
    this.pending.delete(frame.requestId);
    if (p.timer) clearTimeout(p.timer);
    if (frame.status !== Status.OK) p.reject(replyError(frame));
    else p.resolve(frame.body);
  }

  private async onRequest(name: MessageName, requestId: number, body: unknown): Promise<void> {
    const typeId = Messages[name].id;
    try {
      if (!this.handler) throw new TsmfsError(Status.ENOSYS, `${name} is not served here`);
      const reply = await this.handler(name, body, this, requestId);
      if (!this.closed) this.outFrame(this.fitted(name, requestId, encodeReply(name, requestId, (reply ?? {}) as never)));
    } catch (err) {
      if (this.closed) return;
      const status = err instanceof TsmfsError ? err.status : Status.EIO;
      const message = err instanceof Error ? err.message : String(err);
      this.outFrame(encodeErrorReply(typeId, requestId, status, message));
      if (!(err instanceof TsmfsError)) this.options.onHandlerError?.(name, err);
    }
  }

  /**
   * A reply larger than the frame limit would make the peer drop the whole link: it is
   * answered EOVERFLOW instead (a bug to fix where it is built: replies page or cap).
   */
  private fitted(name: MessageName, requestId: number, frame: Buffer): Buffer {
    const limit = this.options.maxBody ?? MAX_CONTROL_BODY;
    if (frame.length - FRAME_HEADER_SIZE <= limit) return frame;
    const message = `${name} reply of ${frame.length - FRAME_HEADER_SIZE} bytes exceeds the frame limit of ${limit}`;
    this.options.onHandlerError?.(name, new Error(message));
    return encodeErrorReply(Messages[name].id, requestId, Status.EOVERFLOW, message);
  }
}
