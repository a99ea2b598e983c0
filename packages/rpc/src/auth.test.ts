import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { FrameDecoder, PROTOCOL_VERSION, Status, decodeFrame, encodeReply, encodeRequest, serverProof } from '@tsmfs/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import type { Connection } from './connection.js';
import { dial } from './dial.js';
import { type Hello, RpcServer } from './server.js';

const servers: RpcServer[] = [];
const conns: Connection[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.stop();
});

interface Started {
  server: RpcServer;
  rejected: string[];
  served: Hello[];
}

/** A port like 9420 with AUTH_CODE `code` ('' = none); records refusals and the links it served. */
async function port(code: string, handshakeTimeoutMs?: number): Promise<Started> {
  const rejected: string[] = [];
  const served: Hello[] = [];
  const server = new RpcServer({
    handshakeTimeoutMs,
    host: '127.0.0.1',
    port: 0,
    role: 'master',
    accept: ['chunkserver'],
    epoch: () => 1,
    authCode: () => code,
    onRejected: (_remote, reason) => rejected.push(reason),
    onConnection: (conn, hello) => {
      served.push(hello);
      conn.serve(() => ({}));
    },
  });
  await server.start();
  servers.push(server);
  return { server, rejected, served };
}

async function peer(p: number, authCode?: string) {
  const d = await dial({ host: '127.0.0.1', port: p, role: 'chunkserver', name: 'cs', authCode });
  conns.push(d.conn);
  return d;
}

describe('AUTH_CODE at the handshake', () => {
  it('admits a peer that knows the code, both sides proving it', async () => {
    const { server, served, rejected } = await port('s3cret');
    const { conn, authenticated } = await peer(server.port, 's3cret');
    expect(authenticated).toBe(true);
    await conn.request('ping', {});
    expect(served).toMatchObject([{ role: 'chunkserver', authenticated: true }]);
    expect(rejected).toEqual([]);
  });

  it('refuses a wrong code and a missing one, and logs both, once each; nothing is served', async () => {
    const { server, served, rejected } = await port('s3cret', 1000);
    // Mutual: a peer with another code finds the server's proof wrong and hangs up first.
    await expect(peer(server.port, 'guess')).rejects.toMatchObject({ status: Status.EACCES });
    await expect(peer(server.port)).rejects.toMatchObject({ status: Status.EACCES, message: expect.stringContaining('requires AUTH_CODE') });
    // A fake that answers the challenge with a made-up proof, and one that skips it and registers.
    const hello = encodeRequest('handshake', 0, { role: 'chunkserver', version: PROTOCOL_VERSION, name: 'fake', nonce: randomBytes(32) });
    const guess = encodeRequest('authenticate', 1, { proof: randomBytes(32) });
    const register = encodeRequest('chunkserverRegister', 1, { host: '10.66.66.66', port: 9422, labels: [], totalSpace: 1e15, usedSpace: 0, chunkCount: 0 });
    for (const [next, name] of [[guess, 'authenticate'], [register, 'chunkserverRegister']] as const) {
      const r = await rawAfterHandshake(server.port, hello, next);
      expect(r.replies[0]).toMatchObject({ kind: 'reply', name: 'handshake' });
      expect(r.replies.at(-1)).toMatchObject({ kind: 'reply', name, status: Status.EACCES });
      expect(r.closed).toBe(true);
    }
    expect(served).toEqual([]);
    await until(() => rejected.length >= 4);
    expect(rejected.filter((m) => m.includes('left before proving AUTH_CODE'))).toHaveLength(2);
    expect(rejected.filter((m) => m.includes('wrong AUTH_CODE'))).toHaveLength(1);
    expect(rejected.filter((m) => m.includes('none was given'))).toHaveLength(1);
    // Past the handshake timeout, the peers that left (and one that left before its
    // handshake) are not refused a second time as late.
    await new Promise<void>((resolve) => {
      const early = connect(server.port, '127.0.0.1', () => resolve(void early.destroy()));
    });
    await new Promise((r) => setTimeout(r, 1500));
    expect(rejected).toHaveLength(4);
  });

  it('a peer with the code refuses a server that answers with a wrong proof', async () => {
    // A stand-in "master" that claims AUTH_CODE with a proof made from another code.
    const fake = await import('node:net').then((net) =>
      net.createServer((s) => {
        const decoder = new FrameDecoder(1 << 20);
        s.on('data', (c) => {
          for (const f of decoder.push(c)) {
            const req = decodeFrame(f);
            const body = req.body as { nonce: Buffer };
            const nonce = randomBytes(32);
            const reply = { role: 'master' as const, version: PROTOCOL_VERSION, epoch: 1, nonce, proof: serverProof('other', nonce, body.nonce) };
            s.write(encodeReply('handshake', req.requestId, reply));
          }
        });
      }),
    );
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', () => r()));
    const p = (fake.address() as { port: number }).port;
    try {
      await expect(peer(p, 's3cret')).rejects.toMatchObject({ status: Status.EACCES, message: expect.stringContaining('not the real master') });
    } finally {
      fake.close();
    }
  });

  it('without AUTH_CODE on the server, a peer that has one still connects (switching it on, as MooseFS), unauthenticated', async () => {
    const { server, served } = await port('');
    const { authenticated } = await peer(server.port, 's3cret');
    expect(authenticated).toBe(false);
    expect(served).toMatchObject([{ authenticated: false }]);
  });
});

/** Handshake, wait for its reply, then send `next` without authenticating. */
function rawAfterHandshake(p: number, hello: Buffer, next: Buffer): Promise<{ replies: ReturnType<typeof decodeFrame>[]; closed: boolean }> {
  return new Promise((resolve) => {
    const decoder = new FrameDecoder(1 << 20);
    const replies: ReturnType<typeof decodeFrame>[] = [];
    const socket = connect(p, '127.0.0.1', () => socket.write(hello));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ replies, closed: false });
    }, 2000);
    socket.on('data', (c) => {
      for (const f of decoder.push(c)) {
        replies.push(decodeFrame(f));
        if (replies.length === 1) socket.write(next);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ replies, closed: true });
    });
  });
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); ) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
