import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dataCrc } from '@tsmfs/protocol';
import { DirtyExtents, blockPieces, flatten } from './dirty-extents.js';

const SPAN = 4096;

/** Reads the extents back over a flat buffer of `undefined`-marked bytes (-1 = not buffered). */
function materialize(d: DirtyExtents): number[] {
  const out = new Array<number>(SPAN).fill(-1);
  const taken = d.take();
  for (const e of taken) {
    const b = flatten(e);
    expect(b.length).toBe(e.end - e.off);
    for (let i = 0; i < b.length; i++) out[e.off + i] = b[i]!;
  }
  for (let i = 1; i < taken.length; i++) expect(taken[i]!.off).toBeGreaterThan(taken[i - 1]!.end - 1);
  return out;
}

describe('DirtyExtents', () => {
  it('holds the newest byte at every offset, in disjoint sorted extents (model check)', () => {
    const write = fc.record({ off: fc.integer({ min: 0, max: SPAN - 1 }), len: fc.integer({ min: 1, max: 300 }), v: fc.integer({ min: 0, max: 255 }) });
    fc.assert(
      fc.property(fc.array(write, { maxLength: 40 }), fc.option(fc.integer({ min: 0, max: SPAN }), { nil: undefined }), (writes, cut) => {
        const d = new DirtyExtents();
        const model = new Array<number>(SPAN).fill(-1);
        for (const w of writes) {
          const len = Math.min(w.len, SPAN - w.off);
          d.insert(w.off, Buffer.alloc(len, w.v));
          for (let i = 0; i < len; i++) model[w.off + i] = w.v;
        }
        if (cut !== undefined) {
          d.cut(cut);
          for (let i = cut; i < SPAN; i++) model[i] = -1;
        }
        expect(d.bytes).toBe(model.filter((b) => b >= 0).length);
        expect(materialize(d)).toEqual(model);
        expect(d.empty).toBe(true);
      }),
    );
  });

  it('pendingIn finds exactly the extents a scan would, in a taken batch and in the buffer (model check)', () => {
    const write = fc.record({ off: fc.integer({ min: 0, max: SPAN - 1 }), len: fc.integer({ min: 1, max: 64 }) });
    const range = fc.tuple(fc.integer({ min: 0, max: SPAN }), fc.integer({ min: 0, max: 512 }));
    fc.assert(
      fc.property(fc.array(write, { maxLength: 60 }), fc.array(write, { maxLength: 60 }), range, (before, after, [from, span]) => {
        const d = new DirtyExtents();
        const put = (w: { off: number; len: number }) => d.insert(w.off, Buffer.alloc(Math.min(w.len, SPAN - w.off), w.off & 0xff));
        before.forEach(put);
        const taken = d.take();
        after.forEach(put);
        // Every extent's edges are some write's edges: ranges starting there hit the off-by-ones.
        const starts = [from, ...[...before, ...after].flatMap((w) => [w.off, Math.min(SPAN, w.off + w.len)])];
        const ranges = starts.flatMap((f) => [
          [f, Math.min(SPAN, f + span)],
          [f, f + 1],
        ]);
        const got = ranges.map(([f, t]) => d.pendingIn(f!, t!).map((p) => [p.off, p.data.length]));
        const all = [...taken, ...d.take()];
        const scan = ranges.map(([f, t]) => all.filter((e) => e.off < t! && e.end > f!).map((e) => [e.off, e.end - e.off]));
        expect(got).toEqual(scan);
      }),
    );
  });

  it('restore puts failed extents back under newer writes', () => {
    const d = new DirtyExtents();
    d.insert(0, Buffer.alloc(100, 1));
    const failed = d.take();
    d.insert(50, Buffer.alloc(100, 2));
    d.restore(failed);
    const out = materialize(d);
    expect(out.slice(0, 50).every((b) => b === 1)).toBe(true);
    expect(out.slice(50, 150).every((b) => b === 2)).toBe(true);
  });

  it('sequential appends keep the caller buffers as parts, without copying', () => {
    const d = new DirtyExtents();
    const a = Buffer.alloc(10, 1);
    const b = Buffer.alloc(10, 2);
    d.insert(0, a);
    d.insert(10, b);
    const [e] = d.take();
    expect(e!.parts[0]).toBe(a);
    expect(e!.parts[1]).toBe(b);
  });

  it('blockPieces cuts an extent at block boundaries into views of its parts, byte for byte (model check)', () => {
    const BLOCK = 64;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.array(fc.integer({ min: 1, max: 150 }), { minLength: 1, maxLength: 12 }), (off, lengths) => {
        let v = 0;
        // Buffer.alloc, not the shared pool: each part has memory of its own for the views check.
        const parts = lengths.map((n) => {
          const b = Buffer.alloc(n);
          for (let i = 0; i < n; i++) b[i] = v++ & 0xff;
          return b;
        });
        const total = lengths.reduce((a, b) => a + b, 0);
        const e = { off, end: off + total, parts: [...parts] };
        const whole = Buffer.concat(parts);
        const pieces = blockPieces(e, BLOCK);
        let pos = off;
        for (const p of pieces) {
          const bytes = Buffer.concat(p.parts);
          expect(p.off).toBe(pos);
          // Never across a block boundary, never empty, nothing skipped or repeated.
          expect(bytes.length).toBeGreaterThan(0);
          expect(Math.floor(p.off / BLOCK)).toBe(Math.floor((p.off + bytes.length - 1) / BLOCK));
          expect(bytes.equals(whole.subarray(pos - off, pos - off + bytes.length))).toBe(true);
          // The CRC of the views is the CRC of the bytes they send.
          expect(dataCrc(p.parts)).toBe(dataCrc(bytes));
          // Views, not copies: each shares memory with one of the parts.
          for (const b of p.parts) expect(parts.some((q) => q.buffer === b.buffer)).toBe(true);
          pos += bytes.length;
        }
        expect(pos).toBe(off + total);
        // Whole blocks in between: only the first and the last piece may be short.
        for (const p of pieces.slice(1, -1)) expect(p.off % BLOCK === 0 && Buffer.concat(p.parts).length === BLOCK).toBe(true);
      }),
    );
  });

  it('pendingIn lists buffered and taken-but-unsettled bytes oldest first, until settle', () => {
    const d = new DirtyExtents();
    d.insert(100, Buffer.alloc(50, 1));
    const taken = d.take();
    d.insert(120, Buffer.alloc(10, 2));
    d.insert(500, Buffer.alloc(10, 3));
    const laid = (from: number, to: number) => {
      const out = Buffer.alloc(to - from);
      for (const p of d.pendingIn(from, to)) {
        const lo = Math.max(p.off, from);
        const hi = Math.min(p.off + p.data.length, to);
        if (lo < hi) p.data.copy(out, lo - from, lo - p.off, hi - p.off);
      }
      return [...out];
    };
    // The newer write (2) over the taken one (1), in the order they were written.
    expect(laid(115, 135)).toEqual([...Array(5).fill(1), ...Array(10).fill(2), ...Array(5).fill(1)]);
    expect(d.pendingIn(0, 100)).toEqual([]);
    expect(d.pendingIn(509, 510).length).toBe(1);
    // A failed send puts the taken bytes back under the newer ones: still the same picture.
    d.restore(taken);
    expect(laid(115, 135)).toEqual([...Array(5).fill(1), ...Array(10).fill(2), ...Array(5).fill(1)]);
    d.take();
    d.settle();
    expect(d.pendingIn(0, 1000)).toEqual([]);
  });
});
