/**
 * The data path end to end: a master, chunkservers, the client library's file I/O,
 * real processes on loopback (issue 3, "What must be shown").
 */
import { randomBytes } from 'node:crypto';
import { openSync, readSync, writeSync, closeSync, statSync } from 'node:fs';
import { type FileHandle, type MasterSession, O_RDWR } from '@tsmfs/client';
import { CHUNK_SIZE, type Reply } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import { Cluster } from './fixture/cluster.js';

const MiB = 1024 * 1024;
/** Fast chunk loop for tests: replication and deletion start at once and run every second. */
const FAST_LOOP = { REPLICATIONS_DELAY_INIT: 0, CHUNKS_LOOP_MIN_TIME: 1, CHUNKSERVER_TIMEOUT: 5 };

async function cluster(chunkservers: number, config: Record<string, string | number> = {}): Promise<Cluster> {
  const c = await Cluster.create({ master: { config: { ...FAST_LOOP, ...config } } });
  await c.addChunkservers(chunkservers);
  return c;
}

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

async function waitFor<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T;
  for (;;) {
    last = await probe();
    if (ok(last)) return last;
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('data path', () => {
  it('writes and reads a file across chunks with goal 2, two copies on different servers', async () => {
    const c = await cluster(3);
    const s = await c.session();
    const data = randomBytes(200 * MiB);
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
