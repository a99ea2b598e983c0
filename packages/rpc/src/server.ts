import { randomBytes } from 'node:crypto';
import { type Server, type Socket, createServer } from 'node:net';
import {
  FrameDecoder,
  FrameError,
  Messages,
  PROTOCOL_VERSION,
  type Request,
  type Role,
  Status,
  type Frame,
  decodeFrame,
  encodeErrorReply,
  encodeReply,
  handshakeRefusal,
  peerProof,
  sameBytes,
  serverProof,
} from '@tsmfs/protocol';
import { Connection, type ConnectionOptions, type FlowLimits } from './connection.js';

export interface Hello {
  role: Role;
  name: string;
  /** Random bytes sent to the peer at the handshake, for password digests. */
  nonce: Buffer;
  /** The peer proved it knows AUTH_CODE (always true where the server has one: others are refused). */
  authenticated: boolean;
}

/**
 * Caps on who may hold a socket of this port (docs/security.md, "Limits"). A connection
 * over a cap is answered with a handshake refusal (EAGAIN, naming the cap) and closed;
 * the refusal is logged through onRejected.
 */
export interface ConnectionLimits {
  /** Connections open at once on this port. */
  maxConnections?: number;
  /** Connections open at once from one address. */
  maxConnectionsPerIp?: number;
  /** Connections that have not completed their handshake yet. */
  maxUnauthenticated?: number;
  /** How long a connection may take to complete its handshake. */
  handshakeTimeoutMs?: number;
}

/** Everything a daemon configures for one of its ports. */
export type LinkLimits = ConnectionLimits & FlowLimits;

export const DEFAULT_CONNECTION_LIMITS = {
  maxConnections: 1000,
  maxConnectionsPerIp: 100,
  maxUnauthenticated: 100,
  handshakeTimeoutMs: 5000,
} as const satisfies Required<ConnectionLimits>;

/**
 * Largest frame accepted before the handshake: a handshake is a few hundred bytes, and
 * a stranger must not make us buffer the 4 MiB a control frame may carry.
 */
export const HANDSHAKE_MAX_BODY = 4096;

export interface RpcServerOptions extends ConnectionOptions, ConnectionLimits {
  host: string;
  port: number;
  /** Roles this port serves; any other is refused at the handshake. */
  accept: readonly Role[];
  /** Our own role, told to peers. */
  role: Role;
  /** The master's epoch (0 elsewhere), so peers can tell a new leader from an old one. */
  epoch: () => number;
  /** Told in the handshake reply: where this daemon's HTTP monitor listens (the master's client port). */
  monitor?: { host: string; port: number };
  onConnection: (conn: Connection, hello: Hello) => void;
  /** A peer that broke the protocol before or during the handshake, or failed AUTH_CODE. */
  onRejected?: (remote: string, reason: string) => void;
  /**
   * AUTH_CODE ('' = none): when set, every peer must answer the challenge (auth.ts) with
   * an `authenticate` request before anything else; a wrong or missing proof is refused.
   * Read at each handshake.
   */
  authCode?: () => string;
}

/** How long a refused connection is kept for its answer to reach the peer. */
const REFUSAL_LINGER_MS = 1000;

/**
 * A listener whose every connection must open with a valid handshake frame before any
 * other message is decoded. Each connection's failures stay its own.
 */
export class RpcServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** Open sockets per remote address, for maxConnectionsPerIp. */
  private readonly perIp = new Map<string, number>();
  /** Sockets whose handshake is not done yet. */
  private readonly unauthenticated = new Set<Socket>();
  private readonly limits: Required<ConnectionLimits>;

  constructor(private readonly options: RpcServerOptions) {
    const given = Object.fromEntries(Object.entries(options).filter(([k, v]) => k in DEFAULT_CONNECTION_LIMITS && v !== undefined));
    this.limits = { ...DEFAULT_CONNECTION_LIMITS, ...given };
  }

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

  /** Closes every link open on the port and keeps listening (an HA master that stepped down). */
  disconnectAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const ip = socket.remoteAddress ?? '';
    socket.on('error', () => socket.destroy());
    const over = this.overCap(ip);
    if (over !== undefined) return this.refuse(socket, remote, over);
    this.sockets.add(socket);
    this.unauthenticated.add(socket);
    this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.unauthenticated.delete(socket);
      const n = (this.perIp.get(ip) ?? 1) - 1;
      if (n > 0) this.perIp.set(ip, n);
      else this.perIp.delete(ip);
    });
    const decoder = new FrameDecoder(HANDSHAKE_MAX_BODY);
    const timer = setTimeout(() => this.reject(socket, remote, `no handshake within ${this.limits.handshakeTimeoutMs} ms`), this.limits.handshakeTimeoutMs);
    // A peer that left is no longer late: its timer would log a second, false refusal.
    socket.once('close', () => clearTimeout(timer));
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
      this.unauthenticated.delete(socket);
      this.onHandshake(socket, remote, frames[0]!, decoder.pending > 0 || frames.length > 1);
    };
    socket.on('data', onData);
  }

  /** Which cap a new connection from `ip` would exceed, if any. */
  private overCap(ip: string): string | undefined {
    const { maxConnections, maxConnectionsPerIp, maxUnauthenticated } = this.limits;
    if (this.sockets.size >= maxConnections) return `too many connections on this port (limit ${maxConnections})`;
    if ((this.perIp.get(ip) ?? 0) >= maxConnectionsPerIp) return `too many connections from ${ip} (limit ${maxConnectionsPerIp})`;
    if (this.unauthenticated.size >= maxUnauthenticated) return `too many connections waiting for their handshake (limit ${maxUnauthenticated})`;
    return undefined;
  }

  /**
   * Tells the peer why (as the answer to the handshake it sends first, so dial() reports
   * the reason) and closes. Its bytes are read and dropped meanwhile: unread data would
   * turn our close into a reset that may destroy the answer before the peer reads it.
   */
  private refuse(socket: Socket, remote: string, reason: string): void {
    this.options.onRejected?.(remote, reason);
    socket.on('data', () => undefined);
    socket.end(encodeErrorReply(Messages.handshake.id, 0, Status.EAGAIN, reason));
    setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
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
    const code = this.options.authCode?.() ?? '';
    const proof = code !== '' && hello.nonce ? serverProof(code, nonce, hello.nonce) : undefined;
    socket.write(
      encodeReply('handshake', frame.requestId, {
        role: this.options.role,
        version: PROTOCOL_VERSION,
        epoch: this.options.epoch(),
        nonce,
        ...(proof ? { proof } : {}),
        ...(this.options.monitor ? { monitor: this.options.monitor } : {}),
      }),
    );
    if (code === '') return this.open(socket, { role: hello.role, name: hello.name, nonce, authenticated: false });
    this.authenticate(socket, remote, hello, nonce, code);
  }

  private open(socket: Socket, hello: Hello): void {
    const conn = new Connection(socket, this.options);
    socket.resume();
    this.options.onConnection(conn, hello);
  }

  /**
   * With AUTH_CODE, the frame after the handshake must be the peer's proof. Nothing else
   * is decoded or served before it: a peer that sends anything else, a wrong proof, or
   * nothing in time is answered EACCES (so its own log says why) and disconnected.
   */
  private authenticate(socket: Socket, remote: string, hello: Request<'handshake'>, nonce: Buffer, code: string): void {
    const decoder = new FrameDecoder(HANDSHAKE_MAX_BODY);
    const who = `${hello.role} '${hello.name}'`;
    // Until it proves the code, the link counts among the unauthenticated (their cap, their timeout).
    this.unauthenticated.add(socket);
    const timer = setTimeout(() => this.reject(socket, remote, `${who} sent no AUTH_CODE proof in time`), this.limits.handshakeTimeoutMs);
    // A peer that finds our proof wrong (another code, or none) hangs up without a word.
    const onClose = (): void => {
      clearTimeout(timer);
      this.options.onRejected?.(remote, `${who} left before proving AUTH_CODE (it has another code, or none)`);
    };
    const done = (): void => {
      clearTimeout(timer);
      this.unauthenticated.delete(socket);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
    };
    const refuse = (frame: Frame, reason: string): void => {
      socket.end(encodeErrorReply(frame.type, frame.requestId, Status.EACCES, reason));
      this.options.onRejected?.(remote, `${who}: ${reason}`);
    };
    const onData = (chunk: Buffer): void => {
      let frames: Frame[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        done();
        this.reject(socket, remote, (err as FrameError).message);
        return;
      }
      if (frames.length === 0) return;
      done();
      const frame = frames[0]!;
      if (frame.type !== Messages.authenticate.id) return refuse(frame, 'AUTH_CODE is required on this port and none was given');
      const expected = hello.nonce ? peerProof(code, hello.role, nonce, hello.nonce) : undefined;
      if (!expected || !sameBytes(expected, proofIn(frame))) return refuse(frame, 'wrong AUTH_CODE');
      if (decoder.pending > 0 || frames.length > 1) return this.reject(socket, remote, 'frames sent before authentication was answered');
      socket.write(encodeReply('authenticate', frame.requestId, {}));
      this.open(socket, { role: hello.role, name: hello.name, nonce, authenticated: true });
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.resume();
  }

  private reject(socket: Socket, remote: string, reason: string): void {
    this.options.onRejected?.(remote, reason);
    socket.destroy();
  }
}

/** The proof an `authenticate` frame carries; undefined when it does not decode. */
function proofIn(frame: Frame): Uint8Array | undefined {
  try {
    const decoded = decodeFrame(frame);
    return decoded.kind === 'request' ? (decoded.body as Request<'authenticate'>).proof : undefined;
  } catch {
    return undefined;
  }
}
