/**
 * Who may talk to whom (issue 10, items 6 and 7), with real daemons: AUTH_CODE on the
 * chunkserver and metalogger ports, and the grant tokens chunkservers ask before they
 * serve chunk data. docs/security.md.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { O_RDWR } from '@tsmfs/client';
import {
  type DecodedFrame,
  DataFrameType,
  FrameDecoder,
  PROTOCOL_VERSION,
  type Role,
  Status,
  dataCrc,
  decodeDataBlock,
  decodeDataWriteStatus,
  decodeFrame,
  encodeDataBlock,
  encodeRequest,
  signGrantToken,
} from '@tsmfs/protocol';
import { type Connection, dial } from '@tsmfs/rpc';
import { describe, expect, it } from 'vitest';
import { Cluster, Mount } from './fixture/cluster.js';
import { until } from './fixture/poll.js';

const CODE = 'correct horse battery staple';
/** Replication and deletion at once, every second. */
const FAST_LOOP = { REPLICATIONS_DELAY_INIT: 0, CHUNKS_LOOP_MIN_TIME: 1 };

/**
 * A peer that speaks the real frames over raw TCP: the handshake (with a nonce, as a
 * genuine peer would send), then `requests` without authenticating. Returns every frame
 * it was sent — replies and any request the server pushed — until the server hung up
 * or `ms` passed.
 */
function rawPeer(port: number, role: Role, requests: Buffer[], ms = 3000): Promise<{ frames: DecodedFrame[]; closed: boolean }> {
  return new Promise((resolve) => {
    const decoder = new FrameDecoder(1 << 22);
    const frames: DecodedFrame[] = [];
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(encodeRequest('handshake', 0, { role, version: PROTOCOL_VERSION, name: 'intruder', nonce: randomBytes(32) }));
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ frames, closed: false });
    }, ms);
    socket.on('data', (c) => {
      for (const f of decoder.push(c)) {
        frames.push(decodeFrame(f));
        if (frames.length === 1) socket.write(Buffer.concat(requests));
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ frames, closed: true });
    });
  });
}

const fakeRegistration = encodeRequest('chunkserverRegister', 1, {
  host: '10.66.66.66',
  port: 9422,
  labels: [],
  totalSpace: 1e15,
  usedSpace: 0,
  chunkCount: 0,
});

function readAt(conn: Connection, chunkId: number, version: number, length: number, token: Uint8Array | undefined): Promise<Buffer> {
  const parts: Buffer[] = [];
  return conn
    .requestStream('dataRead', { chunkId, version, offset: 0, length, token }, (frame) => parts.push(Buffer.from(decodeDataBlock(frame.body).data)))
    .then(() => Buffer.concat(parts));
}

describe('AUTH_CODE (issue 10, item 6)', () => {
  it('refuses and logs a fake chunkserver, an anonymous metalogger and wrong codes; nothing reaches them; the right code works end to end', async () => {
    const c = await Cluster.create({ master: { config: { AUTH_CODE: CODE, ...FAST_LOOP } } });
    await c.addChunkservers(2, { config: { AUTH_CODE: CODE } });
    const master = c.master.process!;

    // A fake chunkserver announcing 1 PB free: refused at its first request, link closed.
    const fake = await rawPeer(c.master.ports.matocs, 'chunkserver', [fakeRegistration]);
    expect(fake.closed).toBe(true);
    expect(fake.frames.map((f) => [f.kind, f.name])).toEqual([['reply', 'handshake'], ['reply', 'chunkserverRegister']]);
    expect(fake.frames[1]).toMatchObject({ status: Status.EACCES });
    // An anonymous metalogger asking for the changelog and the dump: the same, and no line of either.
    const anon = await rawPeer(c.master.ports.matoml, 'metalogger', [
      encodeRequest('mlFetch', 1, { after: 0, maxBytes: 1 << 20, waitMs: 0 }),
      encodeRequest('mlDumpOpen', 2, {}),
    ]);
    expect(anon.closed).toBe(true);
    expect(anon.frames.map((f) => [f.kind, f.name])).toEqual([['reply', 'handshake'], ['reply', 'mlFetch']]);
    expect(anon.frames[1]).toMatchObject({ status: Status.EACCES });
    await master.waitForLog((l) => l.msg === 'chunkserver link refused' && /none was given/.test(String(l.reason)), 10_000, 'the fake chunkserver refused');
    await master.waitForLog((l) => l.msg === 'metalogger link refused' && /none was given/.test(String(l.reason)), 10_000, 'the anonymous metalogger refused');

    // Real daemons with a wrong code: refused, and they say why.
    const [wrongCs] = await c.addChunkservers(1, { config: { AUTH_CODE: 'wrong' }, start: false });
    await wrongCs!.start({ waitRegistered: false });
    await wrongCs!.process!.waitForLog((l) => l.msg === 'cannot register with the master' && /AUTH_CODE/.test(String(l.err)), 20_000, 'refusal');
    const wrongMl = await c.addMetalogger({ config: { AUTH_CODE: 'wrong' }, name: 'ml-wrong' });
    await wrongMl.process!.waitForLog((l) => l.msg === 'master link lost' && /AUTH_CODE/.test(String(l.err)), 20_000, 'refusal');
    await master.waitForLog((l) => l.msg === 'chunkserver link refused' && /left before proving AUTH_CODE/.test(String(l.reason)), 10_000, 'the wrong chunkserver refused');
    const goodMl = await c.addMetalogger({ config: { AUTH_CODE: CODE }, name: 'ml-good' });

    // The right code: a mount writes and reads through the two genuine chunkservers, the metalogger follows.
    const m = await c.mount();
    const data = randomBytes(3 * 1024 * 1024 + 17);
    writeFileSync(join(m.path, 'f'), data);
    expect(readFileSync(join(m.path, 'f')).equals(data)).toBe(true);
    await goodMl.waitForVersion(c.master.changelogVersion(), 20_000);
    expect(wrongMl.lastVersion()).toBe(0);
    const registered = c.master.logs().filter((l) => l.msg === 'chunkserver registered');
    expect(registered.map((l) => l.address).sort()).toEqual(c.chunkservers.slice(0, 2).map((cs) => `127.0.0.1:${cs.port}`).sort());
  });
});

describe('switching AUTH_CODE on', () => {
  it('goes without downtime as MooseFS documents it: the peers first, then the master re-reads its config on SIGHUP', async () => {
    const c = await Cluster.create({ master: { config: FAST_LOOP } });
    const [first] = await c.addChunkservers(1, { config: { AUTH_CODE: CODE } });
    await first!.process!.waitForLog((l) => l.msg === 'AUTH_CODE is set here but the master does not ask for it', 10_000, 'the transition warning');
    const s = await c.session();
    const attr = await s.create(s.root, 'before', 0o644);
    const f = await s.openFile(attr.inode, O_RDWR);
    const data = randomBytes(100_000);
    await f.write(0, data);
    await f.close();

    appendFileSync(c.master.configFile, `AUTH_CODE = ${CODE}\n`);
    c.master.process!.child.kill('SIGHUP');
    await c.master.process!.waitForLog((l) => String(l.msg).startsWith('AUTH_CODE changed'), 10_000, 'the reload');
    const fake = await rawPeer(c.master.ports.matocs, 'chunkserver', [fakeRegistration]);
    expect(fake.closed).toBe(true);
    expect(fake.frames[1]).toMatchObject({ name: 'chunkserverRegister', status: Status.EACCES });
    // The chunkserver connected before keeps serving; one connecting now authenticates.
    await c.addChunkservers(1, { config: { AUTH_CODE: CODE } });
    const g = await s.openFile(attr.inode, O_RDWR);
    expect((await g.read(0, data.length)).equals(data)).toBe(true);
    await s.setgoal(attr.inode, 2);
    await until('a copy on the chunkserver that authenticated', async () => {
      const grant = await s.call('readChunk', { inode: attr.inode, index: 0 });
      return grant.locations.length === 2 ? grant : undefined;
    }, 60_000);
    await g.close();
  });
});

describe('chunk grant tokens (issue 10, item 7)', () => {
  it('a chunkserver serves chunk data only against the master\'s token for it: none, forged, another server\'s, expired and read-for-write are refused; reads and replication go on', async () => {
    // No AUTH_CODE: the tokens work with the key the master hands each chunkserver.
    const c = await Cluster.create({ master: { config: { ...FAST_LOOP, GRANT_TOKEN_TIMEOUT: 2 } } });
    await c.addChunkservers(2);
    const s = await c.session();
    const attr = await s.create(s.root, 'f', 0o644);
    await s.setgoal(attr.inode, 2);
    const f = await s.openFile(attr.inode, O_RDWR);
    const data = randomBytes(200_000);
    await f.write(0, data);
    await f.fsync();

    const grant = await s.call('readChunk', { inode: attr.inode, index: 0 });
    expect(grant.locations).toHaveLength(2);
    const [a, b] = grant.locations as [(typeof grant.locations)[0], (typeof grant.locations)[0]];
    const { conn } = await dial({ host: a.host, port: a.port, role: 'client', name: 'intruder' });
    try {
      expect((await readAt(conn, grant.chunkId, grant.version, data.length, a.token)).equals(data)).toBe(true);
      const forged = signGrantToken(randomBytes(32), { chunkId: grant.chunkId, version: grant.version, mode: 'read', expiresMs: Date.now() + 60_000 });
      for (const token of [undefined, forged, b.token]) {
        await expect(readAt(conn, grant.chunkId, grant.version, data.length, token)).rejects.toMatchObject({ status: Status.EKEYREJECTED });
      }
      await expect(conn.request('dataChunkInfo', { chunkId: grant.chunkId, version: grant.version })).rejects.toMatchObject({ status: Status.EKEYREJECTED });

      // A read grant's token does not open a write, and the bytes sent behind the refused init land nowhere.
      await expect(conn.request('dataWriteInit', { chunkId: grant.chunkId, version: grant.version, token: a.token, chain: [] })).rejects.toMatchObject({
        status: Status.EKEYREJECTED,
      });
      const piece = Buffer.alloc(1000, 0x66);
      const body = encodeDataBlock({ chunkId: grant.chunkId, version: grant.version, seq: 0, offset: 0, crc: dataCrc(piece), data: piece });
      expect(decodeDataWriteStatus(await conn.requestData(DataFrameType.write, [body])).status).toBe(Status.EBADF);

      // GRANT_TOKEN_TIMEOUT = 2 s: the token runs out; the client's cached grant then fails and it asks again.
      expect((await f.read(0, data.length)).equals(data)).toBe(true);
      await new Promise((r) => setTimeout(r, 2300));
      await expect(readAt(conn, grant.chunkId, grant.version, data.length, a.token)).rejects.toMatchObject({ status: Status.EKEYEXPIRED });
      expect((await f.read(0, data.length)).equals(data)).toBe(true);
    } finally {
      conn.close();
    }

    // Replication ordered by the master carries a token: a third copy appears and serves the same bytes.
    const [third] = await c.addChunkservers(1);
    await s.setgoal(attr.inode, 3);
    const fresh = await until('a third valid copy', async () => {
      const g = await s.call('readChunk', { inode: attr.inode, index: 0 });
      return g.locations.length === 3 ? g : undefined;
    }, 60_000);
    const onThird = fresh.locations.find((l) => l.port === third!.port)!;
    const link = await dial({ host: onThird.host, port: onThird.port, role: 'client', name: 'reader' });
    try {
      expect((await readAt(link.conn, fresh.chunkId, fresh.version, data.length, onThird.token)).equals(data)).toBe(true);
    } finally {
      link.conn.close();
    }
    await f.close();
  });
});
