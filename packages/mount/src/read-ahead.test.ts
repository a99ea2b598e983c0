import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReadAhead, WindowBuffers } from './read-ahead.js';

/** The byte at `pos` of the test file: position-dependent, so a misplaced or stale byte shows. */
const byteAt = (pos: number): number => (pos * 2654435761) >>> 24;

/**
 * A file of `size` bytes behind a delay (in event-loop turns) drawn per read, filling the buffers it is given as
 * FileHandle.read does (the result is the alloc'd buffer, or a new one past the file's end).
 */
function source(size: number, delays: number[]) {
  let n = 0;
  return {
    /** Windows read into a given buffer, and how many distinct buffers those were. */
    allocs: 0,
    distinct: new Set<ArrayBufferLike>(),
    async read(offset: number, length: number, alloc?: (length: number) => Buffer): Promise<Buffer> {
      // Bytes arrive after a few event-loop turns, as a chunkserver's do (a socket read
      // is a turn of its own; setImmediate callbacks run between turns).
      for (let turns = delays[n++ % delays.length]!; turns > 0; turns--) await new Promise((r) => setImmediate(r));
      const end = Math.min(size, offset + length);
      const out = alloc && end - offset === length ? alloc(length) : Buffer.allocUnsafe(Math.max(0, end - offset));
      if (alloc && end - offset === length) {
        this.allocs++;
        this.distinct.add(out.buffer);
      }
      for (let i = 0; i < out.length; i++) out[i] = byteAt(offset + i);
      return out;
    },
  };
}

describe('read-ahead with recycled windows', () => {
  it('every read, checked where a FUSE reply copies it (its continuation), holds the file bytes; windows are reused', async () => {
    const MIB = 1 << 20;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
        async (delays, inFlight, jumps) => {
          const size = 40 * MIB + 12_345;
          const buffers = new WindowBuffers();
          const files = [source(size, delays), source(size, [...delays].reverse())];
          const aheads = files.map((f) => new ReadAhead(f, 4 * MIB, buffers));
          const bad: string[] = [];
          // Two files read side by side, each by `inFlight` readers taking 256 KiB reads
          // in turn (as the kernel's async reads come), now and then jumping elsewhere.
          const positions = [0, 0];
          const readOne = async (k: number): Promise<void> => {
            const jump = jumps[(positions[k]! >> 18) % jumps.length]! && positions[k]! % (8 * MIB) === 0 && positions[k]! > 0;
            const offset = jump ? (positions[k]! * 7) % size : positions[k]!;
            positions[k] = offset + 256 * 1024;
            const data = await aheads[k]!.read(offset, 256 * 1024);
            const want = Math.max(0, Math.min(256 * 1024, size - offset));
            if (data.length !== want) bad.push(`file ${k} at ${offset}: ${data.length} bytes, not ${want}`);
            for (let i = 0; i < data.length; i += 4093) if (data[i] !== byteAt(offset + i)) bad.push(`file ${k} at ${offset + i}: wrong byte`);
          };
          const reader = async (k: number): Promise<void> => {
            while (positions[k]! < size) await readOne(k);
          };
          await Promise.all([0, 1].flatMap((k) => Array.from({ length: inFlight }, () => reader(k))));
          expect(bad).toEqual([]);
          // 2 × 40 MiB through windows of up to 4 MiB: buffers are used again. (How much
          // depends on the jumps; the sequential case below pins it down.)
          const allocs = files[0]!.allocs + files[1]!.allocs;
          const distinct = new Set([...files[0]!.distinct, ...files[1]!.distinct]).size;
          expect(allocs).toBeGreaterThanOrEqual(16);
          expect(distinct).toBeLessThan(allocs);
        },
      ),
      { numRuns: 25 },
    );
  }, 60_000);

  it('one file read from start to end lives on a handful of buffers', async () => {
    const MIB = 1 << 20;
    const file = source(40 * MIB, [1, 2]);
    const ahead = new ReadAhead(file, 4 * MIB, new WindowBuffers());
    for (let pos = 0; pos < 40 * MIB; pos += 256 * 1024) await ahead.read(pos, 256 * 1024);
    // Windows of 1, 2 and then 4 MiB: the two live ones and the one a turn from coming
    // back, of the 4 MiB size; one each of the first two sizes.
    expect(file.allocs).toBeGreaterThanOrEqual(11);
    expect(file.distinct.size).toBeLessThanOrEqual(5);
  });

  it('takes back only a whole buffer of a window\'s size, and hands it out again by that size', async () => {
    const buffers = new WindowBuffers();
    const big = Buffer.allocUnsafe(1 << 20);
    buffers.give(big);
    expect(buffers.held).toBe(1 << 20);
    expect(buffers.take(1 << 20)).toBe(big);
    expect(buffers.take(1 << 20)).not.toBe(big);
    buffers.give(big.subarray(1)); // a view is never taken back
    buffers.give(Buffer.allocUnsafe(4096)); // nor a small one
    expect(buffers.held).toBe(0);
  });
});
