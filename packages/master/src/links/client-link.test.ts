import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TsmfsError } from '@tsmfs/protocol';
import { type Connection, dial } from '@tsmfs/rpc';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Changelog } from '@tsmfs/metastore';
import { parseExports } from '../exports.js';
import { createEmptyMetadata } from '../metadata/metadata.js';
import { Namespace } from '../metadata/namespace.js';
import { Sessions } from '../sessions.js';
import { ALONE, type HaGate } from '../ha/gate.js';
import { ClientLink } from './client-link.js';
import { ClientRequests } from './client-requests.js';

const log = pino({ level: 'silent' });
const root = { uid: 0, gid: 0, groups: [0] };
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(exportsText: string, events: string[], ha?: HaGate) {
  const dir = mkdtempSync(join(tmpdir(), 'tsmfs-link-'));
  const clock = () => ({ sec: 1_700_000_000, nsec: 0 });
  const md = createEmptyMetadata(clock());
  const changelog = new Changelog({ dir, backLogs: 5, saveMode: 2, startVersion: () => 0, log, onSynced: (v) => events.push(`synced ${v}`) });
  await changelog.start();
  const ns = new Namespace(md, (m) => void changelog.append(m), clock);
  const rules = parseExports(exportsText, 'exports.cfg').rules;
  const sessions = new Sessions({ rules: () => rules, namespace: () => ns, sustainMs: 1000, log });
  const requests = new ClientRequests({ sessions, namespace: () => ns });
  const link = new ClientLink({ host: '127.0.0.1', port: 0, requests, changelog, epoch: () => 1, log, ha });
  await link.start();
  cleanups.push(async () => {
    await link.stop();
    await changelog.stop();
  });
  return link;
}

async function connect(port: number): Promise<Connection> {
  const { conn } = await dial({ host: '127.0.0.1', port, role: 'client', name: 'test' });
  cleanups.push(async () => conn.close());
  return conn;
}

const register = { subdir: '/', meta: false, readonly: false, hostname: 'h', mountpoint: '/m' };

describe('ClientLink', () => {
  it('wants a session first, and refuses one with the reason', async () => {
    const link = await serve('10.9.9.9 / rw', []);
    const conn = await connect(link.port);
    await expect(conn.request('getattr', { inode: 1 })).rejects.toThrow('getattr before register: open a session first');
    const refusal = conn.request('register', register);
    await expect(refusal).rejects.toBeInstanceOf(TsmfsError);
    await expect(conn.request('register', register)).rejects.toMatchObject({ code: 'EACCES', message: 'no export rule for 127.0.0.1 matches path /' });
  });

  it('answers a change only after the fsync covering it', async () => {
    const events: string[] = [];
    const link = await serve('* / rw,maproot=0', events);
    const conn = await connect(link.port);
    await conn.request('register', register);
    const replies = Array.from({ length: 20 }, (_, i) =>
      conn.request('mkdir', { cred: root, parent: 1, name: `d${i}`, mode: 0o755, umask: 0 }).then((r) => void events.push(`reply ${r.attr.inode}`)),
    );
    await Promise.all(replies);
    const firstReply = events.findIndex((e) => e.startsWith('reply'));
    expect(events.slice(0, firstReply).some((e) => e.startsWith('synced'))).toBe(true);
    const lastSynced = Math.max(...events.filter((e) => e.startsWith('synced')).map((e) => Number(e.split(' ')[1])));
    // Version 1 is the session's record (client-state.ts), 2..21 the mkdirs.
    expect(lastSynced).toBe(21);
    // Reads are answered without touching the changelog.
    await expect(conn.request('getattr', { inode: 1 })).resolves.toMatchObject({ attr: { nlink: 22 } });
  });

  it('does not serve chunkserver messages on the client port', async () => {
    const link = await serve('* / rw', []);
    const conn = await connect(link.port);
    await conn.request('register', register);
    await expect(conn.request('chunksLost' as never, { chunks: [] } as never)).rejects.toMatchObject({ code: 'ENOSYS' });
  });

  // A client may send the getattr of a directory right behind a change in it (mounts
  // once did): the answer must show the change (rsync -a once skipped a directory's times on a stale one).
  it('applies the requests of a link in the order sent: a getattr right behind a mkdir sees it', async () => {
    const link = await serve('* / rw,maproot=0', []);
    const conn = await connect(link.port);
    await conn.request('register', register);
    for (let i = 0; i < 20; i++) {
      const [made, after] = await Promise.all([
        conn.request('mkdir', { cred: root, parent: 1, name: `d${i}`, mode: 0o755, umask: 0 }),
        conn.request('getattr', { inode: 1 }),
      ]);
      expect(made.attr.inode).toBeGreaterThan(1);
      expect(after.attr.nlink).toBe(3 + i);
    }
  });

  it('keeps changes in order while one waits for admission (a leader confirming its lease); reads are answered meanwhile', async () => {
    // The gate a leader whose etcd lease is unconfirmed presents: mutations wait until it is.
    let confirmed = false;
    const waiting: (() => void)[] = [];
    const gate: HaGate = {
      ...ALONE,
      role: 'leader',
      mayMutate: () => confirmed,
      admitMutation: () => (confirmed ? Promise.resolve() : new Promise<void>((resolve) => waiting.push(resolve))),
    };
    const link = await serve('* / rw,maproot=0', [], gate);
    const conn = await connect(link.port);
    await conn.request('register', register);
    const order: string[] = [];
    const first = conn.request('mkdir', { cred: root, parent: 1, name: 'a', mode: 0o755, umask: 0 }).then((r) => (order.push('a'), r));
    // A read is answered while the change waits (the mount's other processes go on).
    expect((await conn.request('getattr', { inode: 1 })).attr.nlink).toBe(2);
    // The lease is confirmed, but the first change has not been let through yet: one sent
    // now would be admitted at once, and must still not overtake it.
    confirmed = true;
    const second = conn.request('mkdir', { cred: root, parent: 1, name: 'b', mode: 0o755, umask: 0 }).then((r) => (order.push('b'), r));
    await new Promise((r) => setTimeout(r, 50));
    expect(order).toEqual([]);
    for (const w of waiting.splice(0)) w();
    const [a, b] = await Promise.all([first, second]);
    expect(order).toEqual(['a', 'b']);
    expect(b.attr.inode).toBeGreaterThan(a.attr.inode);
    expect((await conn.request('getattr', { inode: 1 })).attr.nlink).toBe(4);
  });
});
