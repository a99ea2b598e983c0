import { describe, expect, it } from 'vitest';
import { CompleteWrites } from './complete-writes.js';
import { WriteLeases } from './write-leases.js';

describe('complete writes', () => {
  it('a record is used once, and only at its version on exactly its servers', () => {
    const w = new CompleteWrites();
    w.record(5, 3, [1, 2]);
    expect(w.take(5, 3, [2, 1])).toBe(true);
    expect(w.take(5, 3, [2, 1])).toBe(false); // used up
    for (const [version, valid] of [
      [4, [1, 2]],
      [3, [1]],
      [3, [1, 2, 3]],
      [3, [1, 3]],
    ] as const) {
      w.record(5, 3, [1, 2]);
      expect(w.take(5, version, valid)).toBe(false);
      expect(w.size).toBe(0); // taken even when refused
    }
    w.record(6, 1, [1]);
    w.forget(6);
    expect(w.take(6, 1, [1])).toBe(false);
  });

  it('keeps at most its bound, the oldest record dropped first', () => {
    const w = new CompleteWrites(2);
    w.record(1, 1, [1]);
    w.record(2, 1, [1]);
    w.record(3, 1, [1]);
    expect(w.size).toBe(2);
    expect(w.take(1, 1, [1])).toBe(false);
    expect(w.take(3, 1, [1])).toBe(true);
  });

  it("a lease's grant is known to its owner only, and forgotten when the lease is taken over or ends", async () => {
    const leases = new WriteLeases(10_000);
    await leases.acquire(1, 7, 0);
    leases.cover(7, 0, 42);
    expect(leases.grantOf(1, 7, 0)).toBeUndefined(); // not granted yet
    leases.granted(1, 7, 0, { version: 3, servers: [1, 2] });
    leases.granted(2, 7, 0, { version: 9, servers: [9] }); // not the owner: ignored
    expect(leases.grantOf(1, 7, 0)).toEqual({ chunkId: 42, version: 3, servers: [1, 2] });
    expect(leases.grantOf(2, 7, 0)).toBeUndefined();
    await leases.acquire(1, 7, 0); // the same session asks again: a new lease, no grant yet
    expect(leases.grantOf(1, 7, 0)).toBeUndefined();
    leases.cover(7, 0, 42);
    leases.granted(1, 7, 0, { version: 4, servers: [1] });
    leases.release(1, 7, 0);
    expect(leases.grantOf(1, 7, 0)).toBeUndefined();
    leases.clear();
  });
});
