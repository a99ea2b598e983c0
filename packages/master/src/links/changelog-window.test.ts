import { describe, expect, it } from 'vitest';
import { ChangelogWindow } from './changelog-window.js';

/** The window as a plain list of lines: what it must read like. */
class ModelWindow {
  lines: { text: string; time: number }[] = [];
  first = 0;
  push(lines: string[], time: number): void {
    for (const text of lines) this.lines.push({ text, time });
  }
  dropTo(first: number): void {
    while (this.first < first) {
      this.lines.shift();
      this.first++;
    }
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
  it('reads what a plain list of lines reads, across blocks, trims and multi-byte text', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const r = rng(seed);
      const blockBytes = 40 + Math.floor(r() * 400);
      const w = new ChangelogWindow(blockBytes);
      const m = new ModelWindow();
      let v = 1000;
      w.reset(v);
      m.first = v;
      for (let step = 0; step < 60; step++) {
        const n = 1 + Math.floor(r() * 12);
        const batch = Array.from({ length: n }, () => line(v++, r));
        w.push(batch, step);
        m.push(batch, step);
        const oldest = step - Math.floor(r() * 20);
        const cap = Math.floor(r() * 6000);
        const tooOld = (t: number) => t < oldest;
        const before = w.firstVersion;
        w.trim(tooOld, cap);
        // Only the oldest lines go, and trimming stops exactly when neither rule holds.
        expect(w.firstVersion).toBeGreaterThanOrEqual(before);
        m.dropTo(w.firstVersion);
        expect(w.size).toBe(m.lines.length);
        if (w.size > 0) {
          expect(tooOld(m.lines[0]!.time)).toBe(false);
          expect(w.bytes).toBeLessThanOrEqual(cap);
        }
        // Every line too old is gone.
        expect(m.lines.every((l) => !tooOld(l.time))).toBe(true);
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

  it('counts its blocks and lines, and frees a block when its last line goes', () => {
    const w = new ChangelogWindow(16);
    w.reset(1);
    w.push(['1|aaaa\n', '2|bbbb\n'], 0); // 7 + 7 bytes: one 16-byte block
    w.push(['3|cc\n', '4|dd\n', '5|ee\n'], 10); // 5 bytes each: a second block
    expect([w.firstVersion, w.size, w.bytes]).toEqual([1, 5, 2 * 16 + 5 * 16]);
    w.trim((t) => t < 5, 1 << 20); // the first block goes with its lines
    expect([w.firstVersion, w.size, w.bytes]).toEqual([3, 3, 16 + 3 * 16]);
    // Over the cap: the oldest lines go until the count is under it.
    w.trim(() => false, 40);
    expect([w.firstVersion, w.size, w.bytes]).toEqual([5, 1, 16 + 16]);
    expect(w.read(5, 5, 0)).toEqual({ text: '5|ee\n', last: 5 });
    w.push(['6|' + 'x'.repeat(40) + '\n'], 20); // longer than a block: a block of its own
    expect(w.read(5, 6, 1000)).toEqual({ text: '5|ee\n6|' + 'x'.repeat(40) + '\n', last: 6 });
    w.trim(() => false, 0);
    expect([w.size, w.bytes]).toEqual([0, 0]);
  });
});
