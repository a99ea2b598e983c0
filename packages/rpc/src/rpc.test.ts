import { type Socket, connect, createServer } from 'node:net';
import { encodeRequest, PROTOCOL_VERSION, Status, TsmfsError, fail } from '@tsmfs/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { Connection } from './connection.js';
import { dial } from './dial.js';
import { RpcServer } from './server.js';

const servers: RpcServer[] = [];
const conns: Connection[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.stop();
});

/**
 * A Connection over TCP to a plain socket server (no rpc on the other side): `onPeer`
 * sets up the accepted socket, `fn` runs with both ends; everything is closed after.
 */
async function withRawPeer(onPeer: (s: Socket) => void, fn: (conn: Connection, socket: Socket, peer: Socket) => Promise<void>): Promise<void> {
  let peer: Socket | undefined;
  const raw = createServer((s) => {
    peer = s;
    onPeer(s);
  });
  const accepted = new Promise<Socket>((resolve) => raw.once('connection', resolve));
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
  try {
    const socket = connect((raw.address() as { port: number }).port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const conn = new Connection(socket);
    conns.push(conn);
    await fn(conn, socket, await accepted);
  } finally {
    peer?.destroy();
    await new Promise((r) => raw.close(r));
  }
}

async function startServer(rejected: string[] = []): Promise<RpcServer> {
  const server = new RpcServer({
    host: '127.0.0.1',
    port: 0,
    role: 'master',
    accept: ['client'],
    epoch: () => 3,
    onRejected: (_remote, reason) => rejected.push(reason),
    onConnection: (conn) =>
      conn.serve(async (name, body) => {
        if (name === 'ping') return {};
        if (name === 'readlink') {
          const { inode } = body as { inode: number };
          // Later requests answer first: replies must still find their callers.
          await new Promise((r) => setTimeout(r, 50 - inode));
          if (inode === 13) throw fail('ENOENT', 'no inode 13');
          return { target: `t${inode}` };
        }
        throw new Error('handler bug');
      }),
  });
  await server.start();
  servers.push(server);
  return server;
}

async function client(port: number) {
  const d = await dial({ host: '127.0.0.1', port, role: 'client', name: 'test' });
  conns.push(d.conn);
  return d;
}

describe('rpc link', () => {
  it('handshakes, then pipelines requests whose replies arrive out of order', async () => {
    const server = await startServer();
    const { conn, server: hello } = await client(server.port);
    expect(hello).toMatchObject({ role: 'master', version: PROTOCOL_VERSION, epoch: 3 });
    const replies = await Promise.all([1, 2, 3, 40].map((inode) => conn.request('readlink', { inode })));
    expect(replies.map((r) => r.target)).toEqual(['t1', 't2', 't3', 't40']);
  });

  it('an error reply rejects with the errno and message; a handler bug becomes EIO', async () => {
    const server = await startServer();
    const { conn } = await client(server.port);
    await expect(conn.request('readlink', { inode: 13 })).rejects.toMatchObject({ status: Status.ENOENT, message: 'no inode 13' });
    await expect(conn.request('statfs', {})).rejects.toMatchObject({ status: Status.EIO });
  });

  it('refuses a wrong role with a reason the dialer sees', async () => {
    const server = await startServer();
    const err = await dial({ host: '127.0.0.1', port: server.port, role: 'chunkserver', name: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TsmfsError);
    expect((err as TsmfsError).message).toMatch(/role 'chunkserver' is not served/);
  });

  it('a malformed frame closes that link only; other clients keep being served', async () => {
    const rejected: string[] = [];
    const server = await startServer(rejected);
    const good = await client(server.port);
    const bad = await client(server.port);
    const closed = new Promise<Error | undefined>((r) => bad.conn.once('close', r));
    bad.conn.write(Buffer.from('this is not a frame at all, just some bytes'));
    await closed;
    expect((await good.conn.request('ping', {}))).toEqual({});
  });

  it('closes a peer that sends garbage before the handshake, or claims a 4 GiB frame', async () => {
    const rejected: string[] = [];
    const server = await startServer(rejected);
    for (const bytes of [Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.from([0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])]) {
      const sock = connect(server.port, '127.0.0.1');
      sock.on('error', () => {});
      await new Promise<void>((resolve) => {
        sock.on('close', () => resolve());
        sock.write(bytes);
      });
    }
    expect(rejected.length).toBe(2);
    expect(rejected[1]).toMatch(/exceeds the limit/);
  });

  it('pending requests fail with ECONNRESET when the link drops', async () => {
    const server = await startServer();
    const { conn } = await client(server.port);
    const p = conn.request('readlink', { inode: 1 });
    await server.stop();
    await expect(p).rejects.toMatchObject({ status: Status.ECONNRESET });
  });

  it('callers waiting for a full socket share one wait, released when the peer reads again', async () => {
    // A peer that reads nothing until told: our writes pile up in the socket's buffer.
    await withRawPeer(
      (s) => s.pause(),
      async (conn, socket, peer) => {
        for (let i = 0; i < 64 && !socket.writableNeedDrain; i++) conn.write(Buffer.alloc(1 << 20));
        expect(socket.writableNeedDrain).toBe(true);
        const before = socket.listenerCount('drain');
        let released = 0;
        const waits = Array.from({ length: 20 }, () => conn.drained().then(() => released++));
        expect(socket.listenerCount('drain')).toBe(before + 1);
        await new Promise((r) => setTimeout(r, 50));
        expect(released).toBe(0);
        peer.resume();
        await Promise.all(waits);
        expect(released).toBe(20);
        expect(socket.listenerCount('drain')).toBe(before);
      },
    );
  });

  it('small frames of one run leave in one write, a large one at once; all arrive in order', async () => {
    // A raw peer that records each read: a run's small frames reach it as one segment.
    const reads: Buffer[] = [];
    await withRawPeer(
      (s) => s.on('data', (b: Buffer) => reads.push(b)),
      async (conn, socket) => {
        const frames = Array.from({ length: 12 }, (_, i) => Buffer.alloc(100, i));
        for (const f of frames) conn.write(f);
        // Nothing has left yet: the run is not over.
        expect(socket.writableLength).toBe(1200);
        await new Promise((r) => setTimeout(r, 100));
        expect(reads).toHaveLength(1);
        expect(Buffer.concat(reads).equals(Buffer.concat(frames))).toBe(true);
        // A frame of the high-water mark goes at once, behind the small one before it.
        const big = Buffer.alloc(socket.writableHighWaterMark, 7);
        conn.write(frames[0]!);
        conn.write(big);
        expect(socket.writableLength).toBe(0);
        await new Promise((r) => setTimeout(r, 100));
        expect(Buffer.concat(reads).equals(Buffer.concat([...frames, frames[0]!, big]))).toBe(true);
      },
    );
  });

  it('a request frame sent together with the handshake is refused, not silently dropped', async () => {
    const rejected: string[] = [];
    const server = await startServer(rejected);
    const sock = connect(server.port, '127.0.0.1');
    await new Promise<void>((resolve) => {
      sock.on('close', () => resolve());
      sock.write(
        Buffer.concat([
          encodeRequest('handshake', 0, { role: 'client', version: PROTOCOL_VERSION, name: 'eager' }),
          encodeRequest('ping', 1, {}),
        ]),
      );
    });
    expect(rejected[0]).toMatch(/before the handshake was answered/);
  });
});
