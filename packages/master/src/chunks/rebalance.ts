import { CHUNK_SIZE } from '@tsmfs/protocol';
import type { ChunkManager } from './chunk-manager.js';
import { type Chunkserver, isOnline } from './chunkserver-registry.js';
import { MIN_FREE_FOR_PLACEMENT, rackCount } from './placement.js';

/** One chunk to copy from a fuller server to an emptier one; its copy on `from` goes once the new one exists. */
export interface Move {
  id: number;
  version: number;
  from: Chunkserver;
  to: Chunkserver;
}

/** A server's disk usage in percent (what ACCEPTABLE_PERCENTAGE_DIFFERENCE compares). */
export function usagePercent(cs: Chunkserver): number {
  return cs.totalSpace > 0 ? (100 * cs.usedSpace) / cs.totalSpace : 0;
}

/**
 * Rebalancing (MooseFS's ACCEPTABLE_PERCENTAGE_DIFFERENCE): while the fullest and the
 * emptiest online servers' usage differ by more than `acceptable` percentage points, pick
 * a chunk at goal with a copy on the fullest (not on a disk marked for removal) that the
 * emptiest does not hold, to copy there; the next pass trims the extra copy on the
 * fullest (the over-goal rule deletes from the most used servers). At most `max` moves,
 * at most one per chunk; `busy` chunks (leased, replicating, …) are skipped. The usage
 * figures are the heartbeats': the rate limits, not this function, keep a pass from
 * overshooting. A move that would leave the chunk on fewer racks is not made (the trim
 * that follows keeps racks too: placement.ts, pickRemovals).
 */
export function pickMoves(
  chunks: ChunkManager,
  goals: ReadonlyMap<number, number>,
  acceptable: number,
  max: number,
  busy: (id: number) => boolean,
  /** Whether the copy may go from `from` to `to` (its storage class's labels); default: always. */
  fits: (id: number, kept: Chunkserver[], from: Chunkserver, to: Chunkserver) => boolean = () => true,
): Move[] {
  const servers = chunks.registry.online().filter((cs) => cs.totalSpace > 0);
  if (servers.length < 2 || max <= 0) return [];
  servers.sort((a, b) => usagePercent(b) - usagePercent(a) || a.csid - b.csid);
  const from = servers[0]!;
  const to = servers.at(-1)!;
  let gap = usagePercent(from) - usagePercent(to);
  if (gap <= acceptable || to.totalSpace - to.usedSpace < MIN_FREE_FOR_PLACEMENT) return [];
  // What one move shifts, in points, with the source's average copy as its size: a move
  // is made only while it narrows the gap (small disks would otherwise trade one chunk
  // back and forth when the gap is under one chunk's worth).
  const size = Math.min(CHUNK_SIZE, from.usedSpace / Math.max(1, chunks.copies.countOn(from.csid)));
  const step = (100 * size) / from.totalSpace + (100 * size) / to.totalSpace;
  const md = chunks.md;
  const moves: Move[] = [];
  for (const id of chunks.copies.idsOn(from.csid)) {
    if (moves.length >= max || gap <= acceptable || step >= 2 * gap) break;
    if (!md.chunks.has(id) || busy(id)) continue;
    const version = md.chunks.version[id]!;
    const mine = chunks.copies.get(id, from.csid)!;
    if (mine.version !== version || mine.damaged || mine.markedDisk !== undefined || chunks.copies.get(id, to.csid)) continue;
    // Only chunks exactly at goal: under-goal ones are the replication's, over-goal ones the trim's.
    const kept: Chunkserver[] = [];
    for (const [csid, copy] of chunks.copies.of(id)) {
      const cs = chunks.registry.get(csid);
      if (cs && isOnline(cs) && copy.version === version && !copy.damaged && copy.markedDisk === undefined) kept.push(cs);
    }
    if (kept.length !== (goals.get(id) ?? 1) || !fits(id, kept, from, to)) continue;
    // Never onto fewer racks (topology.ts): a goal-2 chunk on two racks stays on two.
    const after = kept.filter((cs) => cs !== from).concat(to);
    if (rackCount(after, chunks.rackOf) < rackCount(kept, chunks.rackOf)) continue;
    moves.push({ id, version, from, to });
    gap -= step;
  }
  return moves;
}
