import { randomBytes } from 'node:crypto';
import { type Server, type Socket, createServer } from 'node:net';
import {
  FrameDecoder,
  FrameError,
  MAX_CONTROL_BODY,
  Messages,
  PROTOCOL_VERSION,
  type Request,
  type Role,
  Status,
  decodeFrame,
  encodeErrorReply,
  encodeReply,
  handshakeRefusal,
} from '@tsmfs/protocol';
import { Connection, type ConnectionOptions } from './connection.js';

export interface Hello {
  role: Role;
  name: string;
  /** Random bytes sent to the peer at the handshake, for password digests. */
  nonce: Buffer;
}

export interface RpcServerOptions extends ConnectionOptions {
  host: string;
  port: number;
  /** Roles this port serves; any other is refused at the handshake. */
  accept: readonly Role[];
  /** Our own role, told to peers. */
  role: Role;
  /** The master's epoch (0 elsewhere), so peers can tell a new leader from an old one. */
  epoch: () => number;
  handshakeTimeoutMs?: number;
  onConnection: (conn: Connection, hello: Hello) => void;
  /** A peer that broke the protocol before or during the handshake. */
  onRejected?: (remote: string, reason: string) => void;
}

/**
 * A listener whose every connection must open with a valid handshake frame before any
 * other message is decoded. Each connection's failures stay its own.
 */
export class RpcServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly options: RpcServerOptions) {}

  async start(): Promise<void> {
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
  }

  /** The port actually bound (differs from the configured one when that was 0). */
  get port(): number {
    const addr = this.server?.address();
    return typeof addr === 'object' && addr ? addr.port : this.options.port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const decoder = new FrameDecoder(MAX_CONTROL_BODY);
    const timer = setTimeout(() => this.reject(socket, remote, 'no handshake in time'), this.options.handshakeTimeoutMs ?? 10_000);
    const onData = (chunk: Buffer): void => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        clearTimeout(timer);
        this.reject(socket, remote, (err as FrameError).message);
        return;
      }
      if (frames.length === 0) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
      this.onHandshake(socket, remote, frames[0]!, decoder.pending > 0 || frames.length > 1);
    };
    socket.on('data', onData);
  }

  private onHandshake(socket: Socket, remote: string, frame: { type: number; requestId: number; body: Buffer }, extra: boolean): void {
    let hello: Request<'handshake'>;
    try {
      const decoded = decodeFrame(frame);
      if (decoded.kind !== 'request' || decoded.name !== 'handshake') throw new FrameError('malformed', 'first frame is not a handshake');
      hello = decoded.body as Request<'handshake'>;
    } catch (err) {
      this.reject(socket, remote, (err as Error).message);
      return;
    }
    const refusal = handshakeRefusal(hello, this.options.accept);
    if (refusal !== undefined) {
      socket.end(encodeErrorReply(Messages.handshake.id, frame.requestId, Status.EPROTO, refusal));
      this.options.onRejected?.(remote, refusal);
      return;
    }
    if (extra) {
      // A peer must wait for the handshake reply before it speaks again.
      this.reject(socket, remote, 'frames sent before the handshake was answered');
      return;
    }
    const nonce = randomBytes(32);
    const conn = new Connection(socket, this.options);
    socket.write(
      encodeReply('handshake', frame.requestId, { role: this.options.role, version: PROTOCOL_VERSION, epoch: this.options.epoch(), nonce }),
    );
    socket.resume();
    this.options.onConnection(conn, { role: hello.role, name: hello.name, nonce });
  }

  private reject(socket: Socket, remote: string, reason: string): void {
    this.options.onRejected?.(remote, reason);
    socket.destroy();
  }
}
