import { describe, expect, it } from 'vitest';
import { type Counters, History, Ring } from './history.js';

describe('Ring', () => {
  it('keeps the last `capacity` items, oldest first', () => {
    const r = new Ring<number>(3);
    for (let i = 1; i <= 5; i++) r.push(i);
    expect(r.toArray()).toEqual([3, 4, 5]);
    expect(r.size).toBe(3);
    const s = new Ring<number>(3);
    s.push(1);
    expect(s.toArray()).toEqual([1]);
  });
});

describe('History', () => {
  it('turns counters into rates per second, never negative', async () => {
    let now = 1_000_000;
    let c: Counters = { ops: 0, bytesRead: 0, bytesWritten: 0, usedSpace: 10, totalSpace: 100 };
    const h = new History({ read: () => c, everyMs: 5000, keep: 10, now: () => now });
    await h.start();
    await h.stop();
    now += 5000;
    c = { ops: 50, bytesRead: 5000, bytesWritten: 10_000, usedSpace: 20, totalSpace: 100 };
    expect(h.sample()).toEqual({ t: now, opsPerSec: 10, readBytesPerSec: 1000, writeBytesPerSec: 2000, usedSpace: 20, totalSpace: 100 });
    // A chunkserver restarted: its byte counters start again from zero.
    now += 5000;
    c = { ...c, ops: 60, bytesRead: 0, bytesWritten: 0 };
    expect(h.sample()).toMatchObject({ opsPerSec: 2, readBytesPerSec: 0, writeBytesPerSec: 0 });
    expect(h.samples.size).toBe(2);
  });
});
