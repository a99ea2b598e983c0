import { describe, expect, it } from 'vitest';
import { ChangelogWindow } from './changelog-window.js';

/** The window as a plain list of lines: what it must behave like. */
class ModelWindow {
  lines: { text: string; time: number; batch: number }[] = [];
  first = 0;
  private batchSizes: number[] = [];
  push(lines: string[], time: number): void {
    const batch = this.batchSizes.push(lines.length) - 1;
    for (const text of lines) this.lines.push({ text, time, batch });
  }
  /** The window's count: the text held plus 4 bytes per line of every batch it still holds a line of. */
  bytes(): number {
    const batches = new Set(this.lines.map((l) => l.batch));
    let n = 0;
    for (const b of batches) n += 4 * this.batchSizes[b]!;
    return this.lines.reduce((t, l) => t + Buffer.byteLength(l.text), n);
  }
  read(want: number, last: number, maxBytes: number): { text: string; last: number } {
    let out = '';
    let bytes = 0;
    let v = want;
    for (let i = want - this.first; i < this.lines.length && v <= last; i++, v++) {
      const n = Buffer.byteLength(this.lines[i]!.text);
      if (v !== want && bytes + n > maxBytes) break;
      out += this.lines[i]!.text;
      bytes += n;
    }
    return { text: out, last: v - 1 };
  }
}

/** Deterministic pseudo-random numbers (the test must fail the same way every run). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

const line = (v: number, r: () => number) => `${v}|${'é€x'.repeat(Math.floor(r() * 5))}${'a'.repeat(Math.floor(r() * 40))}\n`;

describe('changelog window', () => {
  it('reads what a plain list of lines reads, across batches, caps and multi-byte text', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const r = rng(seed);
      const w = new ChangelogWindow();
      const m = new ModelWindow();
      let v = 1000;
      w.reset(v);
      m.first = v;
      for (let step = 0; step < 60; step++) {
        const n = 1 + Math.floor(r() * 12);
        const batch = Array.from({ length: n }, () => line(v++, r));
        w.push(batch, step);
        m.push(batch, step);
        // Too old: a time threshold; too big: a byte cap counted as the window counts.
        const oldest = step - Math.floor(r() * 20);
        const cap = 200 + Math.floor(r() * 2000);
        w.trim((t) => t < oldest, cap);
        while (m.lines.length > 0 && (m.lines[0]!.time < oldest || m.bytes() > cap)) {
          m.lines.shift();
          m.first++;
        }
        expect(w.firstVersion).toBe(m.first);
        expect(w.size).toBe(m.lines.length);
        expect(w.bytes).toBe(m.bytes());
        if (m.lines.length === 0) continue;
        for (let k = 0; k < 5; k++) {
          const want = m.first + Math.floor(r() * m.lines.length);
          const last = want + Math.floor(r() * (m.first + m.lines.length - want));
          const maxBytes = Math.floor(r() * 600);
          expect(w.read(want, last, maxBytes)).toEqual(m.read(want, last, maxBytes));
        }
      }
    }
  });

  it('drops whole batches by age and single lines by size', () => {
    const w = new ChangelogWindow();
    w.reset(1);
    w.push(['1|aaaa\n', '2|bbbb\n'], 0);
    w.push(['3|cc\n', '4|dd\n', '5|ee\n'], 10);
    expect([w.firstVersion, w.size, w.bytes]).toEqual([1, 5, 14 + 8 + 15 + 12]);
    w.trim((t) => t < 5, 1 << 20);
    expect([w.firstVersion, w.size, w.bytes]).toEqual([3, 3, 15 + 12]);
    // 27 bytes held; a cap of 20 drops line 3 (5 bytes) and line 4 (5 bytes): 17 left.
    w.trim(() => false, 20);
    expect([w.firstVersion, w.size, w.bytes]).toEqual([5, 1, 17]);
    expect(w.read(5, 5, 0)).toEqual({ text: '5|ee\n', last: 5 });
    w.trim(() => false, 0);
    expect([w.size, w.bytes]).toEqual([0, 0]);
  });
});
