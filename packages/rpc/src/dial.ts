import { randomBytes } from 'node:crypto';
import { type Socket, connect as netConnect } from 'node:net';
import {
  AUTH_NONCE_SIZE,
  FRAME_HEADER_SIZE,
  FrameDecoder,
  MAX_CONTROL_BODY,
  type MessageName,
  PROTOCOL_VERSION,
  type Reply,
  type Role,
  Status,
  TsmfsError,
  decodeFrame,
  encodeRequest,
  peerProof,
  replyError,
  sameBytes,
  serverProof,
} from '@tsmfs/protocol';
import { Connection, type ConnectionOptions } from './connection.js';

export interface DialOptions extends ConnectionOptions {
  host: string;
  port: number;
  role: Role;
  name: string;
  connectTimeoutMs?: number;
  /**
   * AUTH_CODE ('' or absent = none). Used when the server asks for it (its handshake
   * reply carries a proof), as in MooseFS; that proof is checked first, so a server that
   * claims AUTH_CODE without knowing it is refused before we prove anything.
   */
  authCode?: string;
}

export interface Dialed {
  conn: Connection;
  server: Reply<'handshake'>;
  /** Both sides proved AUTH_CODE. False when the server asked for none. */
  authenticated: boolean;
}

/**
 * The one buffer every dialled socket reads into. Sharing it is safe because each read's
 * bytes are used or copied before the read callback returns, and JavaScript runs one
 * callback at a time. Node would otherwise allocate 64 KiB per read, and that churn of
 * memory outside V8's heap is what made a mount's reads collect its old space every few
 * dozen MiB (docs/benchmarks.md, "Reads and the GC").
 */
const READ_BUFFER = Buffer.allocUnsafeSlow(256 * 1024);

/** Where a dialled socket's bytes go: the handshake's reader, then the Connection's. */
type Reader = { to: (bytes: Buffer) => void };

/** Opens a link and performs the handshake (and AUTH_CODE when the server asks); rejects with the reason if refused. */
export async function dial(options: DialOptions): Promise<Dialed> {
  const reader: Reader = { to: () => undefined };
  const socket = netConnect({
    host: options.host,
    port: options.port,
    onread: {
      buffer: READ_BUFFER,
      callback: (n, buf) => {
        reader.to((buf as Buffer).subarray(0, n));
        return true;
      },
    },
  });
  const where = `${options.host}:${options.port}`;
  const timeoutMs = options.connectTimeoutMs ?? 5000;
  try {
    const { exchange, rest } = replies(socket, where, timeoutMs, reader);
    const nonce = randomBytes(AUTH_NONCE_SIZE);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new TsmfsError(Status.ETIMEDOUT, `no connection to ${where} in ${timeoutMs} ms`)), timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new TsmfsError(Status.ECONNREFUSED, `cannot reach ${where}: ${err.message}`));
      });
    });
    const server = (await exchange(encodeRequest('handshake', 0, { role: options.role, version: PROTOCOL_VERSION, name: options.name, nonce }), 'handshake')) as Reply<'handshake'>;
    const authenticated = await authenticate(options, server, nonce, exchange, where);
    socket.removeAllListeners('error');
    socket.removeAllListeners('close');
    const conn = new Connection(socket, options, 'receive');
    reader.to = (bytes) => conn.receive(bytes, false);
    const early = rest();
    if (early.length > 0) conn.receive(early, true);
    socket.resume();
    return { conn, server, authenticated };
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

type Exchange = (request: Buffer, name: MessageName) => Promise<unknown>;

async function authenticate(options: DialOptions, server: Reply<'handshake'>, nonce: Buffer, exchange: Exchange, where: string): Promise<boolean> {
  const code = options.authCode ?? '';
  if (server.proof === undefined) return false;
  if (code === '') throw new TsmfsError(Status.EACCES, `${where} requires AUTH_CODE, and none is configured here`);
  if (!sameBytes(serverProof(code, server.nonce, nonce), server.proof)) {
    throw new TsmfsError(Status.EACCES, `${where} does not know our AUTH_CODE (a different code, or not the real master): refused`);
  }
  await exchange(encodeRequest('authenticate', 1, { proof: peerProof(code, options.role, server.nonce, nonce) }), 'authenticate');
  return true;
}

/**
 * Sends one request frame and waits for its reply, frame by frame, before the link
 * becomes a Connection (the set-up frames are strictly one after the other). `rest` is
 * what the peer sent behind the last reply, for the Connection.
 */
function replies(socket: Socket, where: string, timeoutMs: number, reader: Reader): { exchange: Exchange; rest: () => Buffer } {
  const decoder = new FrameDecoder(MAX_CONTROL_BODY);
  let waiting: { resolve: (body: unknown) => void; reject: (err: Error) => void; name: MessageName } | undefined;
  let failure: Error | undefined;
  const fail = (err: Error): void => {
    failure ??= err;
    waiting?.reject(err);
    waiting = undefined;
  };
  socket.on('error', (err) => fail(new TsmfsError(Status.ECONNREFUSED, `cannot reach ${where}: ${err.message}`)));
  socket.on('close', () => fail(new TsmfsError(Status.ECONNRESET, `${where} closed the link during the handshake`)));
  // Only the one reply is taken from the stream: whatever the peer sent behind it (its
  // first request or data frame, in the same packet) is kept for the Connection, instead
  // of being dropped with the handshake's decoder. The reads are lent: `held` is a copy.
  let held: Buffer = Buffer.alloc(0);
  const take = (): void => {
    try {
      if (held.length < FRAME_HEADER_SIZE) return;
      const bodyLength = held.readUInt32BE(4);
      if (bodyLength > MAX_CONTROL_BODY) throw new TsmfsError(Status.EPROTO, `frame body of ${bodyLength} bytes exceeds the limit of ${MAX_CONTROL_BODY}`);
      const end = FRAME_HEADER_SIZE + bodyLength;
      if (held.length < end) return;
      if (!waiting) throw new TsmfsError(Status.EPROTO, `${where} sent a frame nobody asked for`);
      // A whole frame and nothing more: the decoder keeps no bytes between replies.
      const frames = decoder.push(held.subarray(0, end));
      const rest = held.subarray(end);
      held = Buffer.alloc(0);
      const decoded = decodeFrame(frames[0]!);
      if (decoded.kind !== 'reply' || decoded.name !== waiting.name) throw new TsmfsError(Status.EPROTO, `peer did not answer the ${waiting.name}`);
      if (decoded.status !== Status.OK) throw replyError(decoded);
      socket.pause();
      held = rest;
      const w = waiting;
      waiting = undefined;
      w.resolve(decoded.body);
    } catch (err) {
      fail(err instanceof TsmfsError ? err : new TsmfsError(Status.EPROTO, (err as Error).message));
    }
  };
  reader.to = (chunk: Buffer) => {
    held = Buffer.concat([held, chunk]);
    take();
  };
  const exchange: Exchange = (request, name) =>
    new Promise<unknown>((resolve, reject) => {
      if (failure) return reject(failure);
      const timer = setTimeout(() => fail(new TsmfsError(Status.ETIMEDOUT, `no ${name} reply from ${where} in ${timeoutMs} ms`)), timeoutMs);
      waiting = {
        name,
        resolve: (b) => {
          clearTimeout(timer);
          resolve(b);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      if (held.length > 0) take();
      socket.resume();
      socket.write(request);
    });
  return { exchange, rest: () => held };
}
