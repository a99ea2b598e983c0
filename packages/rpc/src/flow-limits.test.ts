import { Status, TsmfsError } from '@tsmfs/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import type { Connection, RequestHandler } from './connection.js';
import { dial } from './dial.js';
import { RpcServer } from './server.js';

const servers: RpcServer[] = [];
const conns: Connection[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.stop();
});

async function serve(handler: RequestHandler, options: { maxInFlight?: number; maxBody?: number } = {}): Promise<Connection> {
  const server = new RpcServer({ host: '127.0.0.1', port: 0, role: 'master', accept: ['client'], epoch: () => 0, onConnection: (c) => c.serve(handler), ...options });
  await server.start();
  servers.push(server);
  const { conn } = await dial({ host: '127.0.0.1', port: server.port, role: 'client', name: 'test' });
  conns.push(conn);
  return conn;
}

describe('flow limits', () => {
  it('serves at most maxInFlight requests of a connection at once, the rest in order once they finish', async () => {
    let running = 0;
    let most = 0;
    const order: number[] = [];
    const conn = await serve(
      async (_name, body) => {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 20));
        order.push((body as { inode: number }).inode);
        running--;
        return { target: 'x' };
      },
      { maxInFlight: 3 },
    );
    await Promise.all(Array.from({ length: 12 }, (_, i) => conn.request('readlink', { inode: i + 1 })));
    expect(most).toBe(3);
    expect(order.slice(0, 3).sort()).toEqual([1, 2, 3]);
    expect(order).toHaveLength(12);
  });

  it('stops serving a peer that does not read its replies, and serves it again once it reads', async () => {
    let served = 0;
    const value = Buffer.alloc(64 * 1024, 1);
    const conn = await serve(() => {
      served++;
      return { value };
    });
    conn.socket.pause();
    const replies = Array.from({ length: 400 }, () => conn.request('getxattr', { cred: { uid: 0, gid: 0, groups: [] }, inode: 1, name: 'user.x' }));
    await new Promise((r) => setTimeout(r, 500));
    // 1 MiB of unread replies (and what the kernel buffers) stops it well short of 400.
    expect(served).toBeLessThan(250);
    conn.socket.resume();
    await Promise.all(replies);
    expect(served).toBe(400);
  });

  it('answers EOVERFLOW instead of a reply over the frame limit', async () => {
    const conn = await serve(() => ({ value: Buffer.alloc(3000) }), { maxBody: 2048 });
    const err = await conn.request('getxattr', { cred: { uid: 0, gid: 0, groups: [] }, inode: 1, name: 'user.x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TsmfsError);
    expect((err as TsmfsError).status).toBe(Status.EOVERFLOW);
    expect(conn.closed).toBe(false);
  });
});
