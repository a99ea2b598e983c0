import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crcOfZeros, linearPart, patchedCrc, shiftByZeros } from './crc-patch.js';

const BLOCK = 64 * 1024;

describe('CRC patches', () => {
  it('the CRC of n zero bytes is zlib’s', () => {
    for (const n of [0, 1, 2, 3, 7, 8, 100, 4095, 4096, 65535, 65536, 1 << 20]) {
      expect(crcOfZeros(n), `n = ${n}`).toBe(crc32(Buffer.alloc(n)) >>> 0);
    }
  });

  it('a message followed by zeros: the linear part shifted', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 3000 }), fc.nat(5000), (bytes, zeros) => {
        const padded = Buffer.concat([bytes, Buffer.alloc(zeros)]);
        expect(linearPart(crc32(bytes) >>> 0, bytes.length, zeros)).toBe(linearPart(crc32(padded) >>> 0, padded.length));
        expect(shiftByZeros(0, zeros)).toBe(0);
      }),
    );
  });

  // Every way a write can land in a block: at its start, its end, its middle, all of it,
  // one byte, on blocks of any content (and of any length, not only 64 KiB).
  it('a block whose range changed: the patched CRC is the CRC of the new block', () => {
    const block = fc.integer({ min: 1, max: BLOCK }).chain((length) =>
      fc.record({
        seed: fc.integer(),
        length: fc.constant(length),
        range: fc.tuple(fc.nat(length - 1), fc.nat(length - 1)).map(([a, b]) => [Math.min(a, b), Math.max(a, b) + 1] as const),
        fill: fc.integer({ min: 0, max: 255 }),
        zerosInOld: fc.boolean(),
      }),
    );
    fc.assert(
      fc.property(block, ({ seed, length, range: [from, to], fill, zerosInOld }) => {
        const old = Buffer.alloc(length);
        if (!zerosInOld) for (let i = 0; i < length; i++) old[i] = (seed + i * 131) & 0xff;
        const piece = Buffer.alloc(to - from, fill);
        piece[0] = seed & 0xff;
        const updated = Buffer.from(old);
        piece.copy(updated, from);
        const oldLinear = linearPart(crc32(old.subarray(from, to)) >>> 0, to - from);
        const newLinear = linearPart(crc32(piece) >>> 0, to - from);
        expect(patchedCrc(crc32(old) >>> 0, oldLinear, newLinear, length - to)).toBe(crc32(updated) >>> 0);
      }),
      { numRuns: 300 },
    );
  });

  it('old bytes that end inside the range count as zeros after their end', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 2000 }), fc.nat(2000), fc.uint8Array({ minLength: 1, maxLength: 4000 }), (kept, gap, piece) => {
        // A block holding `kept` then zeros; the piece starts inside the kept bytes or past them.
        const from = Math.min(kept.length - 1, gap);
        const to = from + piece.length;
        const length = Math.max(to, kept.length) + 17;
        const old = Buffer.alloc(length);
        Buffer.from(kept).copy(old);
        const existing = old.subarray(from, Math.min(to, kept.length));
        const oldLinear = linearPart(crc32(existing) >>> 0, existing.length, to - from - existing.length);
        const updated = Buffer.from(old);
        Buffer.from(piece).copy(updated, from);
        expect(patchedCrc(crc32(old) >>> 0, oldLinear, linearPart(crc32(piece) >>> 0, piece.length), length - to)).toBe(crc32(updated) >>> 0);
      }),
    );
  });
});
