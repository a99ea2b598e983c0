/**
 * Caps on connections, handshakes, sessions and reply sizes (docs/security.md, "Limits"):
 * each refuses cleanly, with the reason answered to the peer and logged. Real daemons;
 * the peers are raw sockets from 127.0.0.x speaking the frame format.
 */
import { type Socket, connect } from 'node:net';
import { FRAME_HEADER_SIZE, Status, encodeFrameHeader } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import { Cluster, type Master, Mount } from './fixture/cluster.js';
import { closedWithin, handshakeAnswer, rawRequest, rawSocket } from './fixture/hostile-peer.js';
import { shOk } from './fixture/mount-shell.js';

const ROOT = { uid: 0, gid: 0, groups: [0] };
const REGISTER = { subdir: '/', meta: false, readonly: false, hostname: 'probe', mountpoint: '/p' } as const;

/** The refusal a handshake gets over a cap: EAGAIN and the reason. */
async function refusal(port: number, from = '127.0.0.1'): Promise<string | undefined> {
  const answer = await handshakeAnswer(await rawSocket(port, from), 'client');
  if (answer.kind !== 'reply' || answer.status === 0) return undefined;
  expect(answer.status).toBe(Status.EAGAIN);
  return answer.message;
}

async function accepted(port: number, from = '127.0.0.1'): Promise<Socket> {
  const socket = await rawSocket(port, from);
  const answer = await handshakeAnswer(socket, 'client');
  expect(answer.kind === 'reply' && answer.status).toBe(0);
  return socket;
}

function refusedInLog(master: Master, reason: string): Promise<unknown> {
  return master.process!.waitForLog((l) => typeof l.reason === 'string' && l.reason.includes(reason), 10_000, `a refusal logged with "${reason}"`);
}

async function sessionCount(master: Master): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${master.ports.http}/api/v1/sessions`);
  return ((await res.json()) as unknown[]).length;
}

describe('connection caps on the client port', () => {
  it('refuse over MAX_UNAUTHENTICATED_CONNECTIONS, close the silent after HANDSHAKE_TIMEOUT, cap the first frame', async () => {
    const c = await Cluster.create({ master: { config: { MAX_UNAUTHENTICATED_CONNECTIONS: 2, HANDSHAKE_TIMEOUT: 1 } } });
    const port = c.master.ports.matocl;
    const silent = [await rawSocket(port), await rawSocket(port)];
    expect(await refusal(port)).toMatch(/too many connections waiting for their handshake \(limit 2\)/);
    await refusedInLog(c.master, 'waiting for their handshake');
    for (const s of silent) expect(await closedWithin(s, 5000)).toBe(true);
    await refusedInLog(c.master, 'no handshake within 1000 ms');
    (await accepted(port)).destroy();
    // Before the handshake a frame may not claim more than 4 KiB.
    const big = await rawSocket(port);
    big.write(encodeFrameHeader(1, 4097, 0));
    expect(await closedWithin(big, 5000)).toBe(true);
    await refusedInLog(c.master, 'exceeds the limit of 4096');
    expect(FRAME_HEADER_SIZE).toBe(12);
  }, 60_000);

  it('refuse over MAX_CONNECTIONS_PER_IP and MAX_CONNECTIONS', async () => {
    const c = await Cluster.create({ master: { config: { MAX_CONNECTIONS: 4, MAX_CONNECTIONS_PER_IP: 3 } } });
    const port = c.master.ports.matocl;
    for (let i = 0; i < 3; i++) await accepted(port);
    expect(await refusal(port)).toBe('too many connections from 127.0.0.1 (limit 3)');
    await refusedInLog(c.master, 'too many connections from 127.0.0.1');
    await accepted(port, '127.0.0.2');
    expect(await refusal(port, '127.0.0.3')).toBe('too many connections on this port (limit 4)');
    await refusedInLog(c.master, 'too many connections on this port');
  }, 60_000);
});

describe('session caps', () => {
  it('a register again on the same link replaces the session instead of adding one', async () => {
    const c = await Cluster.create();
    const socket = await accepted(c.master.ports.matocl);
    for (let i = 1; i <= 50; i++) {
      const reply = await rawRequest(socket, 'register', REGISTER, i);
      expect(reply.kind === 'reply' && reply.status).toBe(0);
    }
    expect(await sessionCount(c.master)).toBe(1);
  }, 60_000);

  it('refuse over MAX_SESSIONS_PER_IP and MAX_SESSIONS with EAGAIN, sustained sessions counted', async () => {
    const c = await Cluster.create({ master: { exports: ['*  /  rw,alldirs,maproot=0:0'], config: { MAX_SESSIONS: 4, MAX_SESSIONS_PER_IP: 2 } } });
    const port = c.master.ports.matocl;
    const register = async (from: string): Promise<{ status: number; message?: string }> => {
      const socket = await accepted(port, from);
      const reply = await rawRequest(socket, 'register', REGISTER);
      socket.destroy(); // the session stays, sustained for its client
      if (reply.kind !== 'reply') throw new Error('no reply');
      return reply.status === 0 ? { status: 0 } : { status: reply.status, message: reply.message };
    };
    expect((await register('127.0.0.1')).status).toBe(0);
    expect((await register('127.0.0.1')).status).toBe(0);
    expect(await register('127.0.0.1')).toEqual({ status: Status.EAGAIN, message: 'too many sessions from 127.0.0.1 (MAX_SESSIONS_PER_IP 2)' });
    expect((await register('127.0.0.2')).status).toBe(0);
    expect((await register('127.0.0.2')).status).toBe(0);
    expect(await register('127.0.0.3')).toEqual({ status: Status.EAGAIN, message: 'too many sessions (MAX_SESSIONS 4)' });
    await c.master.process!.waitForLog((l) => l.msg === 'session refused', 10_000);
    expect(await sessionCount(c.master)).toBe(4);
  }, 60_000);
});

describe('HTTP port caps', () => {
  it('closes connections over HTTP_MAX_CONNECTIONS at once and silent ones after HTTP_REQUEST_TIMEOUT', async () => {
    const c = await Cluster.create({ master: { config: { HTTP_MAX_CONNECTIONS: 3, HTTP_REQUEST_TIMEOUT: 1 } } });
    const open = async (): Promise<Socket> => {
      const s = connect({ host: '127.0.0.1', port: c.master.ports.http });
      s.on('error', () => undefined);
      await new Promise((r) => s.once('connect', r));
      return s;
    };
    const idle = [await open(), await open(), await open()];
    const extra = await open();
    expect(await closedWithin(extra, 2000)).toBe(true);
    await c.master.process!.waitForLog((l) => l.msg === 'HTTP connection refused', 10_000);
    for (const s of idle) expect(await closedWithin(s, 5000)).toBe(true);
    for (const s of [...idle, extra]) s.destroy();
    const res = await fetch(`http://127.0.0.1:${c.master.ports.http}/api/v1/info`);
    expect(res.status).toBe(200);
  }, 60_000);
});

describe('a 20,000-entry directory', () => {
  it('lists completely through the client library and the mount; no reply exceeds the frame limit', async () => {
    const c = await Cluster.create();
    const s = await c.session();
    const dir = await s.mkdir(s.root, 'big');
    const names: string[] = [];
    for (let i = 0; i < 20_000; i += 500) {
      const batch = Array.from({ length: 500 }, (_, j) => `${String(i + j).padStart(5, '0')}-${'n'.repeat(200)}`);
      names.push(...batch);
      await Promise.all(batch.map((n) => s.mknod(dir.inode, n, 'file', 0o644)));
    }
    // One request asking for everything gets one page within the frame limit, not a dropped link.
    const socket = await accepted(c.master.ports.matocl);
    await rawRequest(socket, 'register', REGISTER, 1);
    const page = await rawRequest(socket, 'readdir', { cred: ROOT, inode: dir.inode, cookie: 0, max: 100_000, withAttrs: true }, 2);
    expect(page.kind === 'reply' && page.status).toBe(0);
    const body = page.body as { entries: unknown[]; eof: boolean };
    expect(body.eof).toBe(false);
    expect(body.entries.length).toBeGreaterThan(0);
    for (const withAttrs of [true, false]) {
      const listed = await s.readdir(dir.inode, { withAttrs, pageSize: 100_000 });
      expect(listed.map((e) => e.name).sort()).toEqual(names.sort());
    }
    const m = await c.mount();
    expect(Number((await shOk(`ls '${m.path}/big' | wc -l`)).trim())).toBe(20_000);
  }, 240_000);
});
