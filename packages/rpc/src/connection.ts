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
 * with sendData(type | REPLY_FLAG, frame.requestId, …) itself. A throw or rejection means
 * the peer broke the protocol: the link is closed.
 */
export type DataFrameHandler = (frame: Frame, conn: Connection) => void | Promise<void>;

export interface ConnectionOptions {
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
  /** The reply is a raw data frame, not a control reply. */
  raw?: boolean;
  resolve: (body: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

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
  readonly remote: string;

  constructor(
    readonly socket: Socket,
    private readonly options: ConnectionOptions = {},
  ) {
    super();
    this.decoder = new FrameDecoder(options.maxBody ?? MAX_CONTROL_BODY);
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.onData(chunk));
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
    return this.send({ name }, timeoutMs, (requestId) => this.socket.write(encodeRequest(name, requestId, body))) as Promise<Reply<N>>;
  }

  /**
   * A control request whose answer is a stream: data frames with REPLY_FLAG and this
   * request's id go to `onData`, in order, until the control reply settles the promise.
   */
  requestStream<N extends MessageName>(
    name: N,
    body: Request<N>,
    onData: (frame: Frame) => void,
    timeoutMs = this.options.requestTimeoutMs,
  ): Promise<Reply<N>> {
    return this.send({ name, onData }, timeoutMs, (requestId) => this.socket.write(encodeRequest(name, requestId, body))) as Promise<Reply<N>>;
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
    const length = parts.reduce((n, p) => n + p.length, 0);
    this.socket.cork();
    this.socket.write(encodeFrameHeader(type, length, requestId));
    let ok = true;
    for (const p of parts) ok = this.socket.write(p);
    this.socket.uncork();
    return ok && !this.socket.writableNeedDrain;
  }

  /** Resolves once the socket can take more (or the link is closed). */
  drained(): Promise<void> {
    if (this.closed || !this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.once('close', done);
    });
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
    return this.socket.write(bytes);
  }

  close(err?: Error): void {
    if (this.closedWith !== null) return;
    this.closedWith = err;
    for (const [id, p] of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(new TsmfsError(Status.ECONNRESET, `link to ${this.remote} closed${err ? `: ${err.message}` : ''}`));
      this.pending.delete(id);
    }
    this.socket.destroy();
    this.emit('close', err);
  }

  private allocateId(): number {
    const id = this.nextId;
    this.nextId = this.nextId >= 0x7fff_ffff ? 1 : this.nextId + 1;
    return id;
  }

  private onData(chunk: Buffer): void {
    try {
      for (const raw of this.decoder.push(chunk)) {
        if (this.closed) return;
        if (isDataFrameType(raw.type)) {
          this.onDataFrameIn(raw);
          continue;
        }
        const frame = decodeFrame(raw);
        if (frame.kind === 'reply') this.onReply(frame);
        else void this.onRequest(frame.name, frame.requestId, frame.body);
      }
    } catch (err) {
      this.close(err instanceof FrameError ? err : new FrameError('malformed', String(err)));
    }
  }

  /**
   * Data frames with REPLY_FLAG answer one of our requests (a stream piece or a data
   * reply); others are the peer's requests, for the data handler. A reply nobody waits
   * for any more (timed out) is dropped, as control replies are.
   */
  private onDataFrameIn(frame: Frame): void {
    if ((frame.type & REPLY_FLAG) !== 0) {
      const p = this.pending.get(frame.requestId);
      if (p?.onData) p.onData(frame);
      else if (p?.raw) this.settle(frame.requestId, p, () => p.resolve(frame.body));
      return;
    }
    if (!this.dataHandler) throw new FrameError('malformed', `data frame type ${frame.type.toString(16)} is not served here`);
    const result = this.dataHandler(frame, this);
    if (result) result.catch((err: unknown) => this.close(err instanceof Error ? err : new Error(String(err))));
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
      if (!this.closed) this.socket.write(encodeReply(name, requestId, (reply ?? {}) as never));
    } catch (err) {
      if (this.closed) return;
      const status = err instanceof TsmfsError ? err.status : Status.EIO;
      const message = err instanceof Error ? err.message : String(err);
      this.socket.write(encodeErrorReply(typeId, requestId, status, message));
      if (!(err instanceof TsmfsError)) this.options.onHandlerError?.(name, err);
    }
  }
}
