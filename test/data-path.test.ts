/**
 * The data path end to end: a master, chunkservers, the client library's file I/O,
 * real processes on loopback (issue 3, "What must be shown").
 */
import { randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, mkdirSync, openSync, readSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { type Socket, connect } from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { type FileHandle, type MasterSession, O_RDWR } from '@tsmfs/client';
import { CHUNK_SIZE, PROTOCOL_VERSION, type Reply, encodeRequest } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import { Cluster, makeTempDir, sharedForFile } from './fixture/cluster.js';
import { untilValue } from './fixture/poll.js';
import { masterRequests } from './fixture/prometheus-text.js';

const MiB = 1024 * 1024;
/** Fast chunk loop for tests: replication and deletion start at once and run every second. */
const FAST_LOOP = { REPLICATIONS_DELAY_INIT: 0, CHUNKS_LOOP_MIN_TIME: 1, CHUNKSERVER_TIMEOUT: 5 };

async function cluster(chunkservers: number, config: Record<string, string | number> = {}): Promise<Cluster> {
  const c = await Cluster.create({ master: { config: { ...FAST_LOOP, ...config } } });
  await c.addChunkservers(chunkservers);
  return c;
}

/** Two chunkservers for the tests that disturb nothing but their own files (the hostile peers' test comes last). */
const twoServers = sharedForFile(() => cluster(2));

async function newFile(s: MasterSession, name: string, goal = 1): Promise<FileHandle> {
  const attr = await s.create(s.root, name, 0o644);
  if (goal !== 1) await s.setgoal(attr.inode, goal);
  return s.openFile(attr.inode, O_RDWR);
}

/** Writes `data` in pieces of `piece` bytes, `parallel` in flight, like a FUSE mount would. */
async function writeAll(f: FileHandle, data: Buffer, piece = MiB, parallel = 8): Promise<void> {
  const offsets: number[] = [];
  for (let o = 0; o < data.length; o += piece) offsets.push(o);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < offsets.length) {
        const o = offsets[next++]!;
        await f.write(o, data.subarray(o, Math.min(data.length, o + piece)));
      }
    }),
  );
}

async function readAll(f: FileHandle, length: number, piece = 8 * MiB): Promise<Buffer> {
  const parts: Promise<Buffer>[] = [];
  for (let o = 0; o < length; o += piece) parts.push(f.read(o, Math.min(piece, length - o)));
  return Buffer.concat(await Promise.all(parts));
}

function validCopies(info: Reply<'fileinfo'>): number[] {
  return info.chunks.map((c) => c.copies.filter((k) => k.state === 'valid').length);
}

/** Bytes received and not yet read by the sockets connected to local TCP `port` (/proc/net/tcp, rx_queue). */
function queuedTo(port: number): number {
  let n = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is ADDR:PORT in hex; st 01 is ESTABLISHED; tx_queue:rx_queue in hex.
      if (f.length < 5 || f[3] !== '01' || parseInt(f[1]!.split(':')[1]!, 16) !== port) continue;
      n += parseInt(f[4]!.split(':')[1]!, 16);
    }
  }
  return n;
}

describe('data path', () => {
  it('writes and reads a file across chunks with goal 2, two copies on different servers', async () => {
    const c = await cluster(3);
    const s = await c.session();
    // Three chunks, the last one partial.
    const data = randomBytes(2 * 64 * MiB + 3 * MiB + 12345);
    const f = await newFile(s, 'big', 2);
    await writeAll(f, data);
    await f.fsync();
    expect((await s.getattr(f.inode)).size).toBe(data.length);
    const back = await readAll(f, data.length);
    expect(back.equals(data)).toBe(true);
    await f.close();
    const info = await s.fileinfo(f.inode);
    expect(info.chunks).toHaveLength(Math.ceil(data.length / CHUNK_SIZE));
    for (const chunk of info.chunks) {
      const valid = chunk.copies.filter((k) => k.state === 'valid');
      expect(valid).toHaveLength(2);
      expect(new Set(valid.map((k) => k.csid)).size).toBe(2);
    }
  });
});

describe('data path under failures', () => {
  it('survives SIGKILL of a chunkserver in the middle of a 200 MiB write; copies come back to goal', async () => {
    const c = await cluster(3);
    const s = await c.session();
    const data = randomBytes(200 * MiB);
    const f = await newFile(s, 'big', 2);
    let killed: Promise<unknown> | undefined;
    let victim = -1;
    for (let o = 0; o < data.length; o += MiB) {
      await f.write(o, data.subarray(o, o + MiB));
      if (o === 100 * MiB) {
        // A server holding the chunk being written right now. Every write so far ended
        // first (fsync), so the bytes written next go out on a new grant; the server is
        // stopped before they are written, so the master still counts it and puts it in
        // that grant's chain, and killed once the chain's bytes wait in its socket. Killed
        // at once, it could fall between two writes of the chunk and the next grant would
        // leave it out; stopped while a write was in flight, that write could have sent
        // everything and be waiting for answers, with nothing ever queued to see.
        await f.fsync();
        const index = Math.floor(o / CHUNK_SIZE);
        const current = (await s.fileinfo(f.inode)).chunks.find((ch) => ch.index === index)!;
        victim = c.chunkservers.findIndex((cs) => cs.port === current.copies[0]!.port);
        expect(victim).toBeGreaterThanOrEqual(0);
        const cs = c.chunkservers[victim]!;
        process.kill(cs.child.pid!, 'SIGSTOP');
        await f.write(o + MiB, data.subarray(o + MiB, o + 9 * MiB));
        o += 8 * MiB;
        await untilValue('a chain waiting on the stopped chunkserver', async () => queuedTo(cs.port), (n) => n > 0, 20_000);
        killed = cs.kill('SIGKILL');
      }
    }
    await f.fsync();
    await killed;
    // The kill hit a chain in use: at least one chunk write went again on a new grant.
    expect(s.io.stats.writeRetries).toBeGreaterThan(0);
    expect((await s.getattr(f.inode)).size).toBe(data.length);
    expect((await readAll(f, data.length)).equals(data)).toBe(true);

    await c.chunkservers[victim]!.start();
    const info = await untilValue(
      'every chunk at two valid copies and nothing stale',
      () => s.fileinfo(f.inode),
      (i) => i.chunks.every((ch) => ch.copies.length === 2 && ch.copies.every((k) => k.state === 'valid')),
      90_000,
    );
    for (const ch of info.chunks) expect(new Set(ch.copies.map((k) => k.csid)).size).toBe(2);
    // The chunk files on disk agree: no copy beyond the two the master counts.
    await untilValue('stale chunk files removed from disk', async () => c.chunkservers.reduce((n, cs) => n + cs.chunkFiles().length, 0), (n) => n === info.chunks.length * 2, 30_000);
    expect((await readAll(f, data.length)).equals(data)).toBe(true);
    await f.close();
  });

  it('a flipped byte in a chunk file: reads stay right, the copy is reported and replaced', async () => {
    const c = await cluster(3);
    const s = await c.session();
    const data = randomBytes(3 * MiB);
    const f = await newFile(s, 'victim', 2);
    await f.write(0, data);
    await f.close();
    const before = await s.fileinfo(f.inode);
    const copy = before.chunks[0]!.copies[0]!;
    const cs = c.chunkservers.find((x) => x.port === copy.port)!;
    const file = cs.chunkFiles().find((p) => p.includes(`chunk_${before.chunks[0]!.chunkId.toString(16).toUpperCase().padStart(16, '0')}_`))!;
    const fd = openSync(file, 'r+');
    const at = 8192 + 1_000_000;
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, at);
    b[0] = b[0]! ^ 0xff;
    writeSync(fd, b, 0, 1, at);
    closeSync(fd);

    // Reads pick a copy at random: read until the damaged one was tried (and reported).
    const r = await s.openFile(f.inode, O_RDWR);
    await untilValue(
      'the damaged copy reported',
      async () => {
        expect((await r.read(0, data.length)).equals(data)).toBe(true);
        s.io.locations.forgetFile(f.inode);
        return c.master.logs().some((l) => l.msg === 'damaged copies reported');
      },
      (seen) => seen,
      30_000,
    );
    const after = await untilValue(
      'two valid copies again',
      () => s.fileinfo(f.inode),
      (i) => i.chunks[0]!.copies.length === 2 && i.chunks[0]!.copies.every((k) => k.state === 'valid'),
      30_000,
    );
    expect(after.chunks[0]!.copies.length).toBe(2);
    expect(s.io.stats.readFallbacks).toBeGreaterThan(0);
    expect((await r.read(0, data.length)).equals(data)).toBe(true);
    await r.close();
  });

  it('a full disk: new chunks are placed elsewhere, or the write fails with ENOSPC; data never corrupted', async (ctx) => {
    if (process.getuid?.() !== 0) return ctx.skip();
    const dir = makeTempDir('tsmfs-tmpfs-');
    const mnt = join(dir, 'full');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tsmfs-test', mnt]);
    try {
      const c = await Cluster.create({ master: { config: FAST_LOOP } });
      await c.addChunkservers(1);
      await c.addChunkservers(1, { disks: [mnt], config: { HDD_LEAVE_SPACE_DEFAULT: '1MiB' } });
      const s = await c.session();
      const data = randomBytes(20 * MiB);
      const f = await newFile(s, 'placed', 2);
      await f.write(0, data);
      await f.close();
      const r = await s.openFile(f.inode, O_RDWR);
      expect((await r.read(0, data.length)).equals(data)).toBe(true);
      const info = await s.fileinfo(f.inode);
      expect(info.chunks[0]!.copies.map((k) => k.port)).toEqual([c.chunkservers[0]!.port]);
      await r.close();

      // Only the full server left: ENOSPC, and the file stays as it was.
      await c.chunkservers[0]!.kill('SIGKILL');
      await untilValue('the master dropped the dead server', () => s.statfs(), (st) => st.totalSpace < 64 * MiB, 15_000);
      const g = await newFile(s, 'nospace', 1);
      await g.write(0, data.subarray(0, 4 * MiB));
      await expect(g.fsync()).rejects.toMatchObject({ status: 28 });
      expect((await s.getattr(g.inode)).size).toBe(0);
      await g.close().catch(() => undefined);
      await c.stop();
    } finally {
      execFileSync('umount', ['-l', mnt]);
    }
  });
});

describe('file semantics against a local file', () => {
  it('random writes, truncations (across chunk boundaries, past EOF, unaligned) read back as a local file does', async () => {
    const c = await twoServers();
    const s = await c.session();
    const local = makeTempDir('tsmfs-local-');
    const B = 64 * 1024;
    const points = [0, 1, B - 7, B, 3 * B + 5, CHUNK_SIZE - 3, CHUNK_SIZE, CHUNK_SIZE + B + 11, 2 * CHUNK_SIZE - 100, 2 * CHUNK_SIZE + 1];
    const at = fc.tuple(fc.constantFrom(...points), fc.integer({ min: -70_000, max: 70_000 })).map(([p, d]) => Math.max(0, p + d));
    const op = fc.oneof(
      fc.record({ kind: fc.constant('write' as const), offset: at, length: fc.integer({ min: 1, max: 150_000 }), seed: fc.integer() }),
      fc.record({ kind: fc.constant('truncate' as const), size: at }),
      fc.record({ kind: fc.constant('read' as const), offset: at, length: fc.integer({ min: 1, max: 200_000 }) }),
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 8 }), async (ops) => {
        run++;
        const f = await newFile(s, `f${run}`, 2);
        const path = join(local, `f${run}`);
        writeFileSync(path, '');
        const fd = openSync(path, 'r+');
        try {
          for (const o of ops) {
            if (o.kind === 'write') {
              const bytes = Buffer.alloc(o.length, o.seed & 0xff);
              bytes.writeInt32LE(o.seed, 0);
              await f.write(o.offset, bytes);
              writeSync(fd, bytes, 0, bytes.length, o.offset);
            } else if (o.kind === 'truncate') {
              await f.truncate(o.size);
              ftruncateSync(fd, o.size);
            } else {
              const want = Buffer.alloc(o.length);
              const n = readSync(fd, want, 0, o.length, o.offset);
              expect((await f.read(o.offset, o.length)).equals(want.subarray(0, n))).toBe(true);
            }
          }
          await f.fsync();
          const size = (await s.getattr(f.inode)).size;
          const want = readFileSync(path);
          expect(size).toBe(want.length);
          // Data exists only near the points: compare windows around each, and the end.
          for (const p of [...points, size - 300_000]) {
            const from = Math.max(0, p - 80_000);
            const got = await f.read(from, 300_000);
            expect(got.equals(want.subarray(from, from + 300_000)), `window at ${from}`).toBe(true);
          }
        } finally {
          closeSync(fd);
          await f.close();
        }
      }),
      { numRuns: 12, seed: 42, endOnFailure: true },
    );
  });

  it('a snapshot keeps the old bytes when the original is overwritten or truncated', async () => {
    const c = await twoServers();
    const s = await c.session();
    const data = randomBytes(3 * MiB);
    const f = await newFile(s, 'orig', 2);
    await f.write(0, data);
    await f.fsync();
    const snap = await s.snapshot(f.inode, s.root, 'snap');
    const patch = randomBytes(100_000);
    await f.write(1_000_000, patch);
    await f.fsync();
    const r = await s.openFile(snap.inode, O_RDWR);
    expect((await r.read(0, data.length)).equals(data)).toBe(true);
    const changed = Buffer.from(data);
    patch.copy(changed, 1_000_000);
    expect((await f.read(0, data.length)).equals(changed)).toBe(true);
    // Truncating the snapshot does not touch the original either.
    await r.truncate(500_000);
    await r.truncate(data.length);
    const cut = Buffer.concat([data.subarray(0, 500_000), Buffer.alloc(data.length - 500_000)]);
    expect((await r.read(0, data.length)).equals(cut)).toBe(true);
    expect((await f.read(0, data.length)).equals(changed)).toBe(true);
    await r.close();
    await f.close();
  });
});

describe("reads beside this session's writes", () => {
  // A read used to end every chunk write of the file first (a new grant and end at the
  // master per read after a write: fio's randrw ran at a fifth of its read or write rate).
  it('see bytes still buffered or in flight without ending the chunk write; past the end they wait for them', async () => {
    const c = await twoServers();
    const s = await c.session();
    const { inode } = await s.create(s.root, 'beside', 0o644);
    await s.setgoal(inode, 2);
    // No idle flush: within this test a chunk write ends only when something waits for it.
    const f = await s.openFile(inode, O_RDWR, { idleFlushMs: 0 });
    const model = randomBytes(2 * MiB);
    await f.write(0, model);
    await f.fsync();
    const endsBefore = await masterRequests(c.master, 'writeChunkEnd');
    let seed = 7;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    for (let step = 0; step < 300; step++) {
      const offset = rand(model.length - 70_000);
      if (rand(10) < 3) {
        const bytes = randomBytes(1 + rand(9000));
        await f.write(offset, bytes);
        bytes.copy(model, offset);
      } else {
        // Reads in flight together with writes to other bytes, as fio's jobs make them.
        const length = 1 + rand(70_000);
        const other = rand(model.length - 4096);
        const bytes = randomBytes(4096);
        const [got] = await Promise.all([f.read(offset, length), other + 4096 <= offset || other >= offset + length ? f.write(other, bytes) : undefined]);
        if (other + 4096 <= offset || other >= offset + length) bytes.copy(model, other);
        expect(got!.equals(model.subarray(offset, offset + length)), `step ${step}: read ${length} at ${offset}`).toBe(true);
      }
    }
    expect((await masterRequests(c.master, 'writeChunkEnd')) - endsBefore).toBe(0);
    // Past the end as the master knows it: the read waits for the write that moved it.
    await f.write(3 * MiB, Buffer.from('tail'));
    const past = await f.read(2 * MiB - 10, MiB + 14);
    expect(past.equals(Buffer.concat([model.subarray(2 * MiB - 10), Buffer.alloc(MiB), Buffer.from('tail')]))).toBe(true);
    await f.close();
    const again = await s.openFile(inode, O_RDWR);
    expect((await again.read(0, 2 * MiB)).equals(model)).toBe(true);
    await again.close();
  });
});

describe('hostile peers on 9420 and 9422', () => {
  function raw(port: number): Promise<{ socket: Socket; received: () => Buffer; closed: Promise<void> }> {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', () => {});
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    return new Promise((resolve, reject) =>
      socket.once('connect', () => resolve({ socket, received: () => Buffer.concat(chunks), closed })).once('error', reject),
    );
  }

  it('garbage and wrong-version handshakes are refused; master and chunkservers keep serving', async () => {
    const c = await twoServers();
    const s = await c.session();
    const ports = [c.master.ports.matocs, c.chunkservers[0]!.port];
    for (const port of ports) {
      const g = await raw(port);
      g.socket.write(randomBytes(4096));
      await g.closed;
      const v = await raw(port);
      v.socket.write(encodeRequest('handshake', 1, { role: 'chunkserver', version: PROTOCOL_VERSION + 1, name: 'wrong' }));
      await v.closed;
      expect(v.received().toString('latin1')).toMatch(/version/i);
      // A frame announcing a body larger than any limit.
      const big = await raw(port);
      const h = Buffer.alloc(12);
      h.writeUInt32BE(1, 0);
      h.writeUInt32BE(0xfff_ffff, 4);
      big.socket.write(h);
      await big.closed;
    }
    const data = randomBytes(2 * MiB);
    const f = await newFile(s, 'after', 2);
    await f.write(0, data);
    await f.close();
    const r = await s.openFile(f.inode, O_RDWR);
    expect((await r.read(0, data.length)).equals(data)).toBe(true);
    expect(validCopies(await s.fileinfo(f.inode))).toEqual([2]);
    await r.close();
  });
});
