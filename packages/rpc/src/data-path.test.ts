import { DataFrameType, REPLY_FLAG, Status } from '@tsmfs/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import type { Connection } from './connection.js';
import { dial } from './dial.js';
import { RpcServer } from './server.js';

const servers: RpcServer[] = [];
const conns: Connection[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.stop();
});

/**
 * A server that echoes write data frames reversed, and answers readlink with a stream of
 * data frames: `inode` small frames, or for inode 1000 + n, n frames of up to ~68 KiB
 * (frame i: (i * 7919) % 70000 bytes of the value i % 256), which span socket reads.
 */
async function start(): Promise<RpcServer> {
  const server = new RpcServer({
    host: '127.0.0.1',
    port: 0,
    role: 'chunkserver',
    accept: ['client'],
    epoch: () => 0,
    onConnection: (conn) => {
      conn.serve(async (name, body, c, requestId) => {
        if (name !== 'readlink') return {};
        const { inode } = body as { inode: number };
        const big = inode >= 1000;
        for (let i = 0; i < (big ? inode - 1000 : inode); i++) {
          c.sendData(DataFrameType.read | REPLY_FLAG, requestId, big ? [Buffer.alloc((i * 7919) % 70_000, i % 256)] : [Buffer.from([i]), Buffer.from('piece')]);
        }
        return { target: `sent ${inode}` };
      });
      conn.onDataFrame((frame, c) => {
        if (frame.body.toString() === 'slow') return; // never answered
        c.sendData(DataFrameType.write | REPLY_FLAG, frame.requestId, [Buffer.from(frame.body).reverse()]);
      });
    },
  });
  await server.start();
  servers.push(server);
  return server;
}

describe('rpc data frames', () => {
  it('requestData gets its raw reply; requests pipeline with control requests', async () => {
    const server = await start();
    const { conn } = await dial({ host: '127.0.0.1', port: server.port, role: 'client', name: 't' });
    conns.push(conn);
    const [a, b, ping] = await Promise.all([
      conn.requestData(DataFrameType.write, [Buffer.from('ab'), Buffer.from('cd')]),
      conn.requestData(DataFrameType.write, [Buffer.from('xyz')]),
      conn.request('ping', {}),
    ]);
    expect(a.toString()).toBe('dcba');
    expect(b.toString()).toBe('zyx');
    expect(ping).toEqual({});
  });

  it('requestStream delivers the data frames of its request, in order, before the reply', async () => {
    const server = await start();
    const { conn } = await dial({ host: '127.0.0.1', port: server.port, role: 'client', name: 't' });
    conns.push(conn);
    const seen: number[] = [];
    const other: number[] = [];
    const [reply] = await Promise.all([
      conn.requestStream('readlink', { inode: 50 }, (f) => seen.push(f.body[0]!)),
      conn.requestStream('readlink', { inode: 3 }, (f) => other.push(f.body[0]!)),
    ]);
    expect(reply).toEqual({ target: 'sent 50' });
    expect(seen).toEqual([...Array(50).keys()]);
    expect(other).toEqual([0, 1, 2]);
  });

  it('a lent stream sees each frame whole while its handler runs; kept frames of another stream stay whole', async () => {
    const server = await start();
    const { conn } = await dial({ host: '127.0.0.1', port: server.port, role: 'client', name: 't' });
    conns.push(conn);
    const whole = (body: Buffer, i: number) => body.length === (i * 7919) % 70_000 && body.every((b) => b === i % 256);
    const lentSeen: boolean[] = [];
    const kept: Buffer[] = [];
    await Promise.all([
      conn.requestStream('readlink', { inode: 1200 }, (f) => void lentSeen.push(whole(f.body, lentSeen.length)), { lent: true }),
      conn.requestStream('readlink', { inode: 1100 }, (f) => void kept.push(f.body)),
      ...Array.from({ length: 20 }, () => conn.request('ping', {})),
    ]);
    expect(lentSeen).toEqual(Array(200).fill(true));
    expect(kept.map((b, i) => whole(b, i))).toEqual(Array(100).fill(true));
  });

  it('a data request times out with ETIMEDOUT; a data frame where none is served closes the link', async () => {
    const server = await start();
    const { conn } = await dial({ host: '127.0.0.1', port: server.port, role: 'client', name: 't' });
    conns.push(conn);
    await expect(conn.requestData(DataFrameType.write, [Buffer.from('slow')], 100)).rejects.toMatchObject({ status: Status.ETIMEDOUT });
    expect((await conn.requestData(DataFrameType.write, [Buffer.from('ok')])).toString()).toBe('ko');
    // The client serves no data frames: a server sending it one as a request breaks the protocol.
    const rude = new RpcServer({
      host: '127.0.0.1',
      port: 0,
      role: 'chunkserver',
      accept: ['client'],
      epoch: () => 0,
      onConnection: (c) => setTimeout(() => c.sendData(DataFrameType.write, 9, [Buffer.from('unexpected')]), 20),
    });
    await rude.start();
    servers.push(rude);
    const victim = await dial({ host: '127.0.0.1', port: rude.port, role: 'client', name: 'u' });
    conns.push(victim.conn);
    const err = await new Promise<Error | undefined>((r) => victim.conn.once('close', r));
    expect(err?.message).toMatch(/data frame type 40000001 is not served here/);
    expect(conn.closed).toBe(false);
  });
});
