import { CHUNK_SIZE } from '@tsmfs/protocol';
import { type Chunkserver, freeSpace } from './chunkserver-registry.js';

/**
 * A server takes a new chunk or copy only with room for a whole chunk beyond what it
 * has: a nearly full disk would fail the write half-way (ENOSPC) when another server
 * could have taken it.
 */
export const MIN_FREE_FOR_PLACEMENT = CHUNK_SIZE + 128 * 1024;

/** A number in [0, 1): Math.random, or a seeded source in tests. */
export type Random = () => number;

/**
 * Picks up to `count` distinct servers for new copies of a chunk, at random weighted by
 * free space (MooseFS picks at random weighted by usage): servers with the same free
 * space — disks on one file system, identical machines — get equal shares, and an emptier
 * server gets proportionally more until it has caught up. A deterministic order (most
 * free first, ties by id) gave nearly every chunk to the first two of three identical
 * servers (777, 761 and 48 copies of 793 chunks). A server's weight is divided by one
 * plus its replication writes in flight, so a busy one gets fewer. Never one in
 * `exclude` (servers already holding a copy of that chunk: never two copies on one
 * server), never one without room for a whole chunk.
 */
export function placeCopies(
  candidates: readonly Chunkserver[],
  count: number,
  exclude: ReadonlySet<number> = new Set(),
  random: Random = Math.random,
  rackOf: (cs: Chunkserver) => string = () => '',
): Chunkserver[] {
  const pool = candidates.filter((cs) => !exclude.has(cs.csid) && freeSpace(cs) >= MIN_FREE_FOR_PLACEMENT);
  const weights = pool.map((cs) => freeSpace(cs) / (1 + cs.load.repWrites));
  // Racks that hold a copy already (the excluded holders') or get one now: each pick is
  // made among the servers of other racks while there are any (topology.ts), so a goal-2
  // chunk is on two racks whenever two racks have room. Without a topology all are one rack.
  const used = new Set(candidates.filter((cs) => exclude.has(cs.csid)).map(rackOf));
  const picked: Chunkserver[] = [];
  // Weighted sampling without replacement: at most `count` rounds over the pool.
  while (picked.length < count && pool.length > 0) {
    const all = pool.map((_, i) => i);
    const fresh = all.filter((i) => !used.has(rackOf(pool[i]!)));
    const eligible = fresh.length > 0 ? fresh : all;
    const total = eligible.reduce((a, i) => a + weights[i]!, 0);
    let at = random() * total;
    let k = 0;
    while (k < eligible.length - 1 && at >= weights[eligible[k]!]!) at -= weights[eligible[k++]!]!;
    const i = eligible[k]!;
    used.add(rackOf(pool[i]!));
    picked.push(pool[i]!);
    pool.splice(i, 1);
    weights.splice(i, 1);
  }
  return picked;
}

/**
 * Which `count` of a chunk's copies on `servers` (in order of preference: the first is
 * the first to go) to delete, keeping the copies on as many racks as before whenever
 * that is possible: each deletion takes the first server whose copy is not its rack's
 * last, and only when every rack is down to one copy the first server. Without a
 * topology (one rack) this is simply the first `count`.
 */
export function pickRemovals(servers: readonly Chunkserver[], count: number, rackOf: (cs: Chunkserver) => string = () => ''): Chunkserver[] {
  const left = [...servers];
  const removed: Chunkserver[] = [];
  while (removed.length < count && left.length > 0) {
    const perRack = new Map<string, number>();
    for (const cs of left) perRack.set(rackOf(cs), (perRack.get(rackOf(cs)) ?? 0) + 1);
    const i = Math.max(0, left.findIndex((cs) => perRack.get(rackOf(cs))! > 1));
    removed.push(left[i]!);
    left.splice(i, 1);
  }
  return removed;
}

/** How many racks `servers` are on. */
export function rackCount(servers: Iterable<Chunkserver>, rackOf: (cs: Chunkserver) => string): number {
  const racks = new Set<string>();
  for (const cs of servers) racks.add(rackOf(cs));
  return racks.size;
}
