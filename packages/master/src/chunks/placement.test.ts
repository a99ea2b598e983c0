import { describe, expect, it } from 'vitest';
import type { Chunkserver } from './chunkserver-registry.js';
import { MIN_FREE_FOR_PLACEMENT, placeCopies } from './placement.js';

const GiB = 1024 ** 3;

function server(csid: number, freeBytes: number, repWrites = 0): Chunkserver {
  return {
    csid,
    address: { host: '127.0.0.1', port: 9422 + csid },
    labels: [],
    totalSpace: 100 * GiB,
    usedSpace: 100 * GiB - freeBytes,
    chunkCount: 0,
    damagedDisks: 0,
    link: undefined,
    lastHeartbeatMs: 0,
    reported: true,
    load: { repWrites, repReads: 0, deletes: 0 },
    disks: [],
    bytesRead: 0,
    bytesWritten: 0,
    registeredMs: 0,
  };
}

/** A seeded source of [0, 1) (mulberry32), so that the shares below are reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How many of `rounds` placements of `count` copies each server got. */
function shares(servers: Chunkserver[], count: number, rounds: number, random: () => number): Map<number, number> {
  const got = new Map(servers.map((s) => [s.csid, 0]));
  for (let i = 0; i < rounds; i++) {
    const picked = placeCopies(servers, count, new Set(), random);
    expect(new Set(picked.map((s) => s.csid)).size).toBe(picked.length);
    for (const s of picked) got.set(s.csid, got.get(s.csid)! + 1);
  }
  return got;
}

describe('placement', () => {
  it('picks distinct servers, never excluded ones, as many as asked or as there are', () => {
    const servers = [server(1, 10 * GiB), server(2, 50 * GiB), server(3, 30 * GiB)];
    const random = seeded(1);
    for (let i = 0; i < 200; i++) {
      expect(placeCopies(servers, 2, new Set(), random)).toHaveLength(2);
      expect(placeCopies(servers, 2, new Set([2]), random).map((s) => s.csid).sort()).toEqual([1, 3]);
      expect(placeCopies(servers, 5, new Set(), random).map((s) => s.csid).sort()).toEqual([1, 2, 3]);
    }
  });

  it('puts the copies of a chunk on as many racks as have room (topology), still weighted by free space', () => {
    // Rack a: servers 1 and 2; rack b: 3 (little room) and 4.
    const servers = [server(1, 40 * GiB), server(2, 40 * GiB), server(3, 5 * GiB), server(4, 40 * GiB)];
    const rackOf = (cs: Chunkserver): string => (cs.csid <= 2 ? 'a' : 'b');
    const random = seeded(3);
    const got = new Map<number, number>();
    for (let i = 0; i < 2000; i++) {
      const picked = placeCopies(servers, 2, new Set(), random, rackOf);
      expect(new Set(picked.map(rackOf)).size).toBe(2);
      for (const s of picked) got.set(s.csid, (got.get(s.csid) ?? 0) + 1);
      // A replication of a chunk whose copy is on rack a goes to rack b.
      expect(rackOf(placeCopies(servers, 1, new Set([1]), random, rackOf)[0]!)).toBe('b');
      // Three copies: the third goes back to a rack that has one.
      expect(placeCopies(servers, 3, new Set(), random, rackOf)).toHaveLength(3);
    }
    // Within rack b, free space still decides: server 3 has 1/9 of its room.
    expect(got.get(3)! / got.get(4)!).toBeGreaterThan(0.08);
    expect(got.get(3)! / got.get(4)!).toBeLessThan(0.16);
    // With only one rack having room, both copies go there.
    expect(placeCopies([server(1, 40 * GiB), server(2, 40 * GiB), server(3, 1024)], 2, new Set(), random, rackOf)).toHaveLength(2);
  });

  it('skips a server without room for a whole chunk', () => {
    const servers = [server(1, MIN_FREE_FOR_PLACEMENT - 1), server(2, MIN_FREE_FOR_PLACEMENT)];
    expect(placeCopies(servers, 2).map((s) => s.csid)).toEqual([2]);
    expect(placeCopies([server(1, 1024)], 1)).toEqual([]);
  });

  it('gives servers with the same free space equal shares (disks on one file system)', () => {
    // Issue 13: three such servers got 777, 761 and 48 of 793 goal-2 chunks.
    const got = shares([server(1, 40 * GiB), server(2, 40 * GiB), server(3, 40 * GiB)], 2, 3000, seeded(7));
    for (const n of got.values()) expect(Math.abs(n - 2000)).toBeLessThan(150);
  });

  it('weighs by free space, and by writes in flight', () => {
    const one = shares([server(1, 10 * GiB), server(2, 30 * GiB)], 1, 4000, seeded(3));
    expect(one.get(2)! / one.get(1)!).toBeGreaterThan(2.5);
    expect(one.get(2)! / one.get(1)!).toBeLessThan(3.5);
    const busy = shares([server(1, 10 * GiB, 3), server(2, 10 * GiB)], 1, 4000, seeded(5));
    expect(busy.get(2)! / busy.get(1)!).toBeGreaterThan(3.5);
  });
});
