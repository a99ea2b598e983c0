import { type FileHandle, mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BLOCK_SIZE, CHUNK_SIZE, Status, dataCrc } from '@tsmfs/protocol';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHUNK_HEADER_SIZE, ChunkCrcError, ChunkDamagedError, ChunkFile, chunkFileName, parseChunkFileName } from './chunk-file.js';
import { INLINE_IO_MAX, InlineIo } from './inline-io.js';

/** A chunk is opened through the pool, or on the event loop when the disk's policy allows it. */
const opens = [
  ['through the pool', () => undefined],
  ['on the event loop', () => new InlineIo(Infinity)],
] as const;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsmfs-chunk-file-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
const freshPath = (): { path: string; id: number } => {
  const id = ++counter;
  return { path: join(dir, chunkFileName(id, 1)), id };
};

/** Bytes from a seed, cheap to make in any size. */
function pattern(seed: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

type Op =
  | { op: 'write'; offset: number; length: number; seed: number; inline: boolean; wireCrc: boolean }
  | { op: 'truncate'; length: number }
  | { op: 'read'; offset: number; length: number; inline: boolean }
  | { op: 'reopen'; inline: boolean };

// Offsets cluster near block boundaries and near the end of the chunk, where the
// read-modify-write and the padding of partial blocks happen.
const position = fc.oneof(
  fc.integer({ min: 0, max: 5 * BLOCK_SIZE }),
  fc.integer({ min: 0, max: 6 }).chain((b) => fc.integer({ min: -3, max: 3 }).map((d) => Math.max(0, b * BLOCK_SIZE + d))),
  fc.integer({ min: CHUNK_SIZE - 3 * BLOCK_SIZE, max: CHUNK_SIZE }),
);
// Whole blocks too: a piece that covers its block takes the CRC it came with.
const size = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 3 * BLOCK_SIZE }), fc.constant(BLOCK_SIZE));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('write' as const), offset: position, length: size, seed: fc.integer(), inline: fc.boolean(), wireCrc: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('truncate' as const), length: position }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('read' as const), offset: position, length: size, inline: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('reopen' as const), inline: fc.boolean() }) },
);

/** The reference: the chunk as a plain buffer and a length, zeros past it. */
class Model {
  bytes = Buffer.alloc(CHUNK_SIZE);
  length = 0;
  write(offset: number, data: Buffer): void {
    if (data.length === 0) return; // like pwrite: writing nothing extends nothing
    data.copy(this.bytes, offset);
    this.length = Math.max(this.length, offset + data.length);
  }
  truncate(length: number): void {
    if (length < this.length) this.bytes.fill(0, length, this.length);
    this.length = length;
  }
  read(offset: number, length: number): Buffer {
    return Buffer.from(this.bytes.subarray(offset, offset + length));
  }
}

const clip = (offset: number, length: number): [number, number] => [Math.min(offset, CHUNK_SIZE), Math.min(length, CHUNK_SIZE - Math.min(offset, CHUNK_SIZE))];

describe('chunk file', () => {
  it('names files chunk_<16 hex>_<8 hex>.tsmfs and parses them back', () => {
    expect(chunkFileName(0xabc, 7)).toBe('chunk_0000000000000ABC_00000007.tsmfs');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.integer({ min: 0, max: 0xffff_ffff }), (id, v) => {
        expect(parseChunkFileName(chunkFileName(id, v))).toEqual({ chunkId: id, version: v });
      }),
    );
    expect(parseChunkFileName('chunk_0000000000000ABC_00000007.mfs')).toBeUndefined();
    expect(parseChunkFileName('chunk_0000000000000abc_00000007.tsmfs')).toBeUndefined();
  });

  // 60 runs of real file I/O: 20–50 s on this 2-core machine depending on its disk and
  // load (old and new builds alike); the bound is for a hang, not speed.
  it('random writes, truncates and reads behave byte for byte like a plain buffer', { timeout: 240_000 }, async () => {
    const model = new Model();
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), async (ops) => {
        const { path, id } = freshPath();
        model.bytes.fill(0);
        model.length = 0;
        let file = await ChunkFile.create(path, id, 1);
        try {
          for (const o of ops) {
            if (o.op === 'write') {
              const [offset, length] = clip(o.offset, o.length);
              const data = pattern(o.seed, length);
              // Half the writes (and their partial blocks' reads) on the event loop, as a chunkserver does small ones;
              // half with the CRC of their bytes, as a piece's checked wire CRC comes to it.
              await file.write(offset, data, o.inline ? new InlineIo() : undefined, o.wireCrc ? dataCrc(data) : undefined);
              model.write(offset, data);
            } else if (o.op === 'truncate') {
              await file.truncate(o.length);
              model.truncate(o.length);
            } else if (o.op === 'read') {
              const [offset, length] = clip(o.offset, o.length);
              // Half the reads on the event loop (readSync), as a chunkserver does small ones.
              expect((await file.read(offset, length, undefined, o.inline ? new InlineIo() : undefined)).equals(model.read(offset, length))).toBe(true);
            } else {
              // The header is written at close: on the event loop or in the pool alike.
              await file.flush(o.inline ? new InlineIo() : undefined);
              await file.close();
              file = await ChunkFile.open(path, id, 1);
            }
            expect(file.length).toBe(model.length);
          }
          expect((await stat(path)).size).toBe(CHUNK_HEADER_SIZE + model.length);
          const all = await file.read(0, model.length);
          expect(all.equals(model.read(0, model.length))).toBe(true);
        } finally {
          await file.remove();
        }
      }),
      { numRuns: 60 },
    );
  });

  // A chain's stream: whole blocks with their wire CRCs, sent without waiting, gathered
  // into one pwritev while the disk is busy — between other operations issued the same
  // way, which must each see exactly what was issued before them.
  it('partial-block writes and reads of several chunks at once, their blocks read in the pool, keep their own CRCs and bytes', { timeout: 120_000 }, async () => {
    // The old block a partial write reads goes into a recycled buffer: two writes of
    // different chunks in flight together must never share one (their CRCs would be
    // computed over the other's bytes, and the reads below fail with EIO).
    const write = fc.record({ offset: fc.integer({ min: 0, max: 4 * BLOCK_SIZE }), length: fc.integer({ min: 1, max: 5000 }), seed: fc.nat() });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(write, { minLength: 1, maxLength: 12 }), { minLength: 2, maxLength: 4 }), async (perChunk) => {
        const files = await Promise.all(perChunk.map(async () => {
          const { path, id } = freshPath();
          return { file: await ChunkFile.create(path, id, 1), model: new Model() };
        }));
        try {
          await Promise.all(perChunk.map(async (writes, i) => {
            const { file, model } = files[i]!;
            // A first write lays down old bytes for the later ones to be partial over.
            const base = pattern(i, 4 * BLOCK_SIZE + 5000);
            await file.write(0, base);
            model.write(0, base);
            // Each write is followed by a small read (issued without waiting: a chunk's
            // operations apply in the order issued), which must see the model as it is then.
            await Promise.all(writes.flatMap((w) => {
              const data = pattern(w.seed, w.length);
              model.write(w.offset, data);
              const at = (w.seed * 7919) % model.length;
              const want = model.read(at, Math.min(3000, model.length - at));
              return [file.write(w.offset, data), file.read(at, want.length).then((got) => expect(got.equals(want)).toBe(true))];
            }));
          }));
          for (const { file, model } of files) expect((await file.read(0, model.length)).equals(model.read(0, model.length))).toBe(true);
        } finally {
          for (const { file } of files) await file.remove();
        }
      }),
      { numRuns: 40 },
    );
  });

  it('operations issued without waiting apply in the order issued, whole blocks gathered (model check)', { timeout: 120_000 }, async () => {
    const block = fc.integer({ min: 0, max: 40 });
    const concurrentOp = fc.oneof(
      // `follows`: the blocks start where the last run of blocks ended, as a stream's next ones do.
      { weight: 6, arbitrary: fc.record({ op: fc.constant('blocks' as const), first: block, follows: fc.boolean(), count: fc.integer({ min: 1, max: 20 }), seed: fc.integer() }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('write' as const), offset: position, length: size, seed: fc.integer() }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), length: position }) },
      { weight: 2, arbitrary: fc.record({ op: fc.constant('read' as const), offset: position, length: size }) },
    );
    const model = new Model();
    let gathered = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(concurrentOp, { minLength: 1, maxLength: 12 }), async (ops) => {
        const { path, id } = freshPath();
        model.bytes.fill(0);
        model.length = 0;
        const file = await ChunkFile.create(path, id, 1);
        try {
          const issued: Promise<unknown>[] = [];
          let blocksIssued = 0;
          let streamEnd = 0;
          for (const o of ops) {
            if (o.op === 'blocks') {
              const first = o.follows ? streamEnd : o.first;
              streamEnd = Math.min(first + o.count, CHUNK_SIZE / BLOCK_SIZE);
              for (let b = first; b < streamEnd; b++) {
                const data = pattern(o.seed + b, BLOCK_SIZE);
                issued.push(file.write(b * BLOCK_SIZE, data, undefined, dataCrc(data)));
                model.write(b * BLOCK_SIZE, data);
                blocksIssued++;
              }
            } else if (o.op === 'write') {
              const [offset, length] = clip(o.offset, o.length);
              const data = pattern(o.seed, length);
              issued.push(file.write(offset, data));
              model.write(offset, data);
            } else if (o.op === 'truncate') {
              issued.push(file.truncate(o.length));
              model.truncate(o.length);
            } else {
              const [offset, length] = clip(o.offset, o.length);
              const want = model.read(offset, length);
              issued.push(file.read(offset, length).then((got) => expect(got.equals(want)).toBe(true)));
            }
          }
          await Promise.all(issued);
          if (blocksIssued > 1 && file.diskWrites < blocksIssued) gathered++;
          expect(file.length).toBe(model.length);
          // Every CRC the gathered blocks left in the header holds, across a close and reopen.
          await file.flush();
          await file.close();
          const reopened = await ChunkFile.open(path, id, 1);
          expect((await reopened.read(0, model.length)).equals(model.read(0, model.length))).toBe(true);
          await reopened.remove();
        } catch (err) {
          await file.remove().catch(() => undefined);
          throw err;
        }
      }),
      { numRuns: 40 },
    );
    // The gathering happened at all (not in every run: a lone block has nothing to join).
    expect(gathered).toBeGreaterThan(5);
  });

  it.each([
    ['in the thread pool', () => undefined],
    ['on the event loop', () => new InlineIo()],
  ])('a flipped byte on disk fails reads of its block with EIO; other blocks still read (%s)', async (_, inline) => {
    const { path, id } = freshPath();
    const file = await ChunkFile.create(path, id, 1);
    const data = pattern(42, 4 * BLOCK_SIZE + 1000);
    await file.write(0, data);
    await file.close();

    const fh = await open(path, 'r+');
    const at = CHUNK_HEADER_SIZE + 2 * BLOCK_SIZE + 777;
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] = b[0]! ^ 0x10;
    await fh.write(b, 0, 1, at);
    await fh.close();

    const reopened = await ChunkFile.open(path, id, 1);
    const err = await reopened.read(2 * BLOCK_SIZE + 10, 10, undefined, inline()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChunkCrcError);
    expect(err).toMatchObject({ status: Status.EIO, block: 2, chunkId: id, version: 1 });
    // A read spanning the damaged block fails too; reads that do not touch it succeed.
    await expect(reopened.read(BLOCK_SIZE, 2 * BLOCK_SIZE, undefined, inline())).rejects.toMatchObject({ block: 2 });
    await expect(reopened.read(2 * BLOCK_SIZE + BLOCK_SIZE - 1, 2, undefined, inline())).rejects.toMatchObject({ block: 2 });
    expect((await reopened.read(0, 2 * BLOCK_SIZE, undefined, inline())).equals(data.subarray(0, 2 * BLOCK_SIZE))).toBe(true);
    expect((await reopened.read(BLOCK_SIZE + 5, 4096, undefined, inline())).equals(data.subarray(BLOCK_SIZE + 5, BLOCK_SIZE + 5 + 4096))).toBe(true);
    expect((await reopened.read(3 * BLOCK_SIZE, BLOCK_SIZE + 1000, undefined, inline())).equals(data.subarray(3 * BLOCK_SIZE))).toBe(true);
    // A partial write into the damaged block must not bless the damage with a fresh CRC:
    // its bytes land (it reads only the bytes it replaces) and the block keeps failing its
    // check, whether the write misses the rotten byte or covers it.
    await reopened.write(2 * BLOCK_SIZE + 5, Buffer.from('x'));
    await expect(reopened.read(2 * BLOCK_SIZE, 10, undefined, inline())).rejects.toMatchObject({ block: 2 });
    await reopened.write(2 * BLOCK_SIZE + 700, Buffer.alloc(100, 7));
    await expect(reopened.read(2 * BLOCK_SIZE + 5, 1, undefined, inline())).rejects.toBeInstanceOf(ChunkCrcError);
    await reopened.close();
    const again = await ChunkFile.open(path, id, 1);
    await expect(again.read(2 * BLOCK_SIZE, BLOCK_SIZE)).rejects.toMatchObject({ block: 2 });
    // Overwriting the whole block repairs it.
    await again.write(2 * BLOCK_SIZE, data.subarray(2 * BLOCK_SIZE, 3 * BLOCK_SIZE));
    expect((await again.read(0, data.length)).equals(data)).toBe(true);
    await again.remove();
  });

  it('a file cut short under an open chunk fails a read on the event loop with EIO for the missing block', async () => {
    const { path, id } = freshPath();
    const file = await ChunkFile.create(path, id, 1);
    const data = pattern(5, 3 * BLOCK_SIZE);
    await file.write(0, data);
    await file.flush();
    const fh = await open(path, 'r+');
    await fh.truncate(CHUNK_HEADER_SIZE + BLOCK_SIZE + 100);
    await fh.close();
    const inline = new InlineIo();
    await expect(file.read(2 * BLOCK_SIZE + 10, 4096, undefined, inline)).rejects.toMatchObject({ status: Status.EIO, block: 2 });
    expect((await file.read(10, 4096, undefined, inline)).equals(data.subarray(10, 4106))).toBe(true);
    await file.remove();
  });

  it('a disk whose reads or writes on the event loop are slow reads and writes in the thread pool for a while, small ones only', () => {
    let now = 0;
    const inline = new InlineIo(undefined, () => now);
    expect(inline.allows(BLOCK_SIZE)).toBe(true);
    expect(inline.allows(INLINE_IO_MAX + 1)).toBe(false);
    // Writes: a header or a partial block, not a stream's whole blocks.
    expect(inline.allowsWrite(CHUNK_HEADER_SIZE)).toBe(true);
    expect(inline.allowsWrite(BLOCK_SIZE - 1)).toBe(true);
    expect(inline.allowsWrite(BLOCK_SIZE)).toBe(false);
    inline.took(0.5);
    expect(inline.allows(BLOCK_SIZE)).toBe(true);
    // One slow read alone (a preemption on a busy machine) changes nothing…
    inline.took(8);
    expect(inline.allows(BLOCK_SIZE)).toBe(true);
    now += 1500;
    inline.took(8);
    expect(inline.allows(BLOCK_SIZE)).toBe(true);
    // …a second one soon after (a seeking disk) does.
    now += 900;
    inline.took(8);
    expect(inline.slow).toBe(3);
    expect(inline.allows(BLOCK_SIZE)).toBe(false);
    expect(inline.allowsWrite(4096)).toBe(false);
    now += 1999;
    expect(inline.allows(BLOCK_SIZE)).toBe(false);
    now += 1;
    expect(inline.allows(BLOCK_SIZE)).toBe(true);
    expect(inline.allowsWrite(4096)).toBe(true);
  });

  for (const [how, inline] of opens) {
    it(`refuses a damaged header, a foreign file and a file shorter than its header says (opened ${how})`, async () => {
      const { path, id } = freshPath();
      const file = await ChunkFile.create(path, id, 1);
      await file.write(0, pattern(1, 3 * BLOCK_SIZE));
      await file.close();
      const before = (await readdir('/proc/self/fd')).length;
      await expect(ChunkFile.open(path, id, 2, inline())).rejects.toBeInstanceOf(ChunkDamagedError);
      await expect(ChunkFile.open(path, id + 1000, 1, inline())).rejects.toThrow(/header names chunk/);

      const fh = await open(path, 'r+');
      await fh.truncate(CHUNK_HEADER_SIZE + BLOCK_SIZE);
      await fh.close();
      await expect(ChunkFile.open(path, id, 1, inline())).rejects.toMatchObject({ status: Status.EIO, block: 1 });

      const fh2 = await open(path, 'r+');
      await fh2.write(Buffer.from([0xff]), 0, 1, 1030); // inside the CRC table
      await fh2.close();
      await expect(ChunkFile.open(path, id, 1, inline())).rejects.toThrow(/header CRC mismatch/);
      // A refused open leaves no descriptor behind.
      expect((await readdir('/proc/self/fd')).length).toBe(before);
    });
  }

  it('sets the version by rewriting the header and renaming; duplicates into an independent copy', async () => {
    const { path, id } = freshPath();
    const file = await ChunkFile.create(path, id, 1);
    const data = pattern(7, BLOCK_SIZE + 123);
    await file.write(100, data);
    const v2 = join(dir, chunkFileName(id, 2));
    await file.setVersion(2, v2);
    expect(file.version).toBe(2);
    expect(file.path).toBe(v2);
    expect(await readdir(dir)).not.toContain(chunkFileName(id, 1));

    const copyPath = join(dir, chunkFileName(id + 5000, 9));
    await file.duplicate(copyPath, id + 5000, 9);
    await file.write(100, Buffer.alloc(50, 1));
    await file.close();

    const copy = await ChunkFile.open(copyPath, id + 5000, 9);
    expect((await copy.read(100, data.length)).equals(data)).toBe(true);
    expect(copy.length).toBe(100 + data.length);
    await copy.remove();
    const again = await ChunkFile.open(v2, id, 2);
    expect((await again.read(100, 50)).equals(Buffer.alloc(50, 1))).toBe(true);
    await again.remove();
  });

  for (const [how, inline] of opens) {
    it(`refuses ranges outside the chunk and creating over an existing file, which it leaves alone (created ${how})`, async () => {
      const { path, id } = freshPath();
      const file = await ChunkFile.create(path, id, 1, inline());
      const data = pattern(3, 5000);
      await file.write(10, data, inline());
      await file.flush(inline());
      await expect(file.write(CHUNK_SIZE - 1, Buffer.alloc(2))).rejects.toMatchObject({ status: Status.EINVAL });
      await expect(file.read(-1, 1)).rejects.toMatchObject({ status: Status.EINVAL });
      await expect(file.truncate(CHUNK_SIZE + 1)).rejects.toMatchObject({ status: Status.EINVAL });
      const before = (await readdir('/proc/self/fd')).length;
      await expect(ChunkFile.create(path, id, 1, inline())).rejects.toMatchObject({ code: 'EEXIST' });
      // The refused create left no descriptor and did not touch the chunk that was there.
      expect((await readdir('/proc/self/fd')).length).toBe(before);
      await file.close();
      const reopened = await ChunkFile.open(path, id, 1, inline());
      expect(reopened.length).toBe(10 + data.length);
      expect((await reopened.read(10, data.length)).equals(data)).toBe(true);
      expect((await stat(path)).size).toBe(CHUNK_HEADER_SIZE + 10 + data.length);
      await reopened.remove();
    });
  }
});

describe('the header kept in memory while a chunk is written', () => {
  // A second ChunkFile opened on the path sees what the disk holds, as a chunkserver
  // restarted after a SIGKILL would: the first is never closed.
  it('a flush or a sync writes it: everything written before reads back from the disk', async () => {
    const { path, id } = freshPath();
    const f = await ChunkFile.create(path, id, 1);
    await f.write(0, pattern(1, 3 * BLOCK_SIZE));
    await f.flush();
    const afterFlush = await ChunkFile.open(path, id, 1);
    expect((await afterFlush.read(0, 3 * BLOCK_SIZE)).equals(pattern(1, 3 * BLOCK_SIZE))).toBe(true);
    await afterFlush.close();
    await f.write(BLOCK_SIZE + 5, pattern(2, 100));
    await f.sync();
    const afterSync = await ChunkFile.open(path, id, 1);
    expect((await afterSync.read(BLOCK_SIZE + 5, 100)).equals(pattern(2, 100))).toBe(true);
    await afterSync.close();
    await f.write(2 * BLOCK_SIZE, pattern(6, 10));
    await f.close();
    const afterClose = await ChunkFile.open(path, id, 1);
    expect((await afterClose.read(2 * BLOCK_SIZE, 10)).equals(pattern(6, 10))).toBe(true);
    await afterClose.close();
  });

  for (const [how, inline] of opens) {
    it(`without one, an overwritten block fails its CRC and appended bytes are cut at the next open (opened ${how})`, async () => {
      const { path, id } = freshPath();
      const f = await ChunkFile.create(path, id, 1);
      await f.write(0, pattern(3, 2 * BLOCK_SIZE));
      await f.flush();
      await f.write(BLOCK_SIZE, pattern(4, BLOCK_SIZE)); // overwrites block 1
      await f.write(2 * BLOCK_SIZE, pattern(5, 1000)); // appends
      expect(f.length).toBe(2 * BLOCK_SIZE + 1000);
      const seen = await ChunkFile.open(path, id, 1, inline());
      expect(seen.length).toBe(2 * BLOCK_SIZE);
      expect((await stat(path)).size).toBe(CHUNK_HEADER_SIZE + 2 * BLOCK_SIZE);
      expect((await seen.read(0, BLOCK_SIZE)).equals(pattern(3, BLOCK_SIZE))).toBe(true);
      await expect(seen.read(BLOCK_SIZE, 10)).rejects.toBeInstanceOf(ChunkCrcError);
      // Written, synced and closed through the descriptor the open made.
      await seen.write(0, pattern(6, 100));
      await seen.sync();
      await seen.close();
      const again = await ChunkFile.open(path, id, 1);
      expect((await again.read(0, 100)).equals(pattern(6, 100))).toBe(true);
      await again.close();
      // What a SIGKILL does to the first: its descriptor goes, the header in memory with it.
      await (f as unknown as { fh: FileHandle }).fh.close();
    });
  }
});
