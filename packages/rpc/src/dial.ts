import { connect as netConnect } from 'node:net';
import {
  FrameDecoder,
  MAX_CONTROL_BODY,
  PROTOCOL_VERSION,
  type Reply,
  type Role,
  Status,
  TsmfsError,
  decodeFrame,
  encodeRequest,
  replyError,
} from '@tsmfs/protocol';
import { Connection, type ConnectionOptions } from './connection.js';

export interface DialOptions extends ConnectionOptions {
  host: string;
  port: number;
  role: Role;
  name: string;
  connectTimeoutMs?: number;
}

export interface Dialed {
  conn: Connection;
  server: Reply<'handshake'>;
}

/** Opens a link and performs the handshake; rejects with the server's reason if refused. */
export async function dial(options: DialOptions): Promise<Dialed> {
  const socket = netConnect({ host: options.host, port: options.port });
  const timeoutMs = options.connectTimeoutMs ?? 5000;
  try {
    const server = await new Promise<Reply<'handshake'>>((resolve, reject) => {
      const decoder = new FrameDecoder(MAX_CONTROL_BODY);
      const timer = setTimeout(() => reject(new TsmfsError(Status.ETIMEDOUT, `no handshake from ${options.host}:${options.port} in ${timeoutMs} ms`)), timeoutMs);
      const done = (err: Error | undefined, reply?: Reply<'handshake'>): void => {
        clearTimeout(timer);
        socket.removeAllListeners('data');
        socket.removeAllListeners('error');
        socket.removeAllListeners('close');
        if (err) reject(err);
        else resolve(reply!);
      };
      socket.once('connect', () => {
        socket.write(encodeRequest('handshake', 0, { role: options.role, version: PROTOCOL_VERSION, name: options.name }));
      });
      socket.on('error', (err) => done(new TsmfsError(Status.ECONNREFUSED, `cannot reach ${options.host}:${options.port}: ${err.message}`)));
      socket.on('close', () => done(new TsmfsError(Status.ECONNRESET, `${options.host}:${options.port} closed the link during the handshake`)));
      socket.on('data', (chunk) => {
        try {
          const frames = decoder.push(chunk);
          if (frames.length === 0) return;
          const decoded = decodeFrame(frames[0]!);
          if (decoded.kind !== 'reply' || decoded.name !== 'handshake') throw new TsmfsError(Status.EPROTO, 'peer did not answer the handshake');
          if (decoded.status !== Status.OK) throw replyError(decoded);
          socket.pause();
          done(undefined, decoded.body as Reply<'handshake'>);
        } catch (err) {
          done(err instanceof TsmfsError ? err : new TsmfsError(Status.EPROTO, (err as Error).message));
        }
      });
    });
    const conn = new Connection(socket, options);
    socket.resume();
    return { conn, server };
  } catch (err) {
    socket.destroy();
    throw err;
  }
}
