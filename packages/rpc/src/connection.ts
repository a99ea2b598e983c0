import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import {
  type DecodedFrame,
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
  encodeRequest,
  replyError,
} from '@tsmfs/protocol';

/** Answers one request; throw a TsmfsError to reply with its status. */
export type RequestHandler = (name: MessageName, body: unknown, conn: Connection) => unknown | Promise<unknown>;

export interface ConnectionOptions {
  maxBody?: number;
  /** Default time a request waits for its reply before failing with ETIMEDOUT. */
  requestTimeoutMs?: number;
  /** Told of handler failures that are bugs (not TsmfsErrors); the peer gets EIO. */
  onHandlerError?: (name: MessageName, err: unknown) => void;
}

interface Pending {
  name: MessageName;
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

  request<N extends MessageName>(name: N, body: Request<N>, timeoutMs = this.options.requestTimeoutMs): Promise<Reply<N>> {
    if (this.closedWith !== null) {
      return Promise.reject(new TsmfsError(Status.ECONNRESET, `link to ${this.remote} is closed`));
    }
    const requestId = this.allocateId();
    return new Promise<Reply<N>>((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.pending.delete(requestId);
              reject(new TsmfsError(Status.ETIMEDOUT, `${name} to ${this.remote} timed out after ${timeoutMs} ms`));
            }, timeoutMs);
      this.pending.set(requestId, { name, resolve: resolve as (b: unknown) => void, reject, timer });
      this.socket.write(encodeRequest(name, requestId, body));
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
    let decoded: DecodedFrame[];
    try {
      decoded = this.decoder.push(chunk).map(decodeFrame);
    } catch (err) {
      this.close(err instanceof FrameError ? err : new FrameError('malformed', String(err)));
      return;
    }
    for (const frame of decoded) {
      if (frame.kind === 'reply') this.onReply(frame);
      else void this.onRequest(frame.name, frame.requestId, frame.body);
    }
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
      const reply = await this.handler(name, body, this);
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
