import { CHUNK_SIZE } from '@tsmfs/protocol';
import { type Chunkserver, freeSpace } from './chunkserver-registry.js';

/**
 * A server takes a new chunk or copy only with room for a whole chunk beyond what it
 * has: a nearly full disk would fail the write half-way (ENOSPC) when another server
 * could have taken it.
 */
export const MIN_FREE_FOR_PLACEMENT = CHUNK_SIZE + 128 * 1024;

/**
 * Picks up to `count` distinct servers for new copies of a chunk: most free space first
 * (MooseFS CE weighs by usage; free space is what the brief asks for), never one in
 * `exclude` (servers already holding a copy of that chunk: never two copies on one
 * server), never one without room for a whole chunk. Ties go to the server with fewer
 * writes in flight, then the lower id, so the choice is deterministic.
 */
export function placeCopies(candidates: readonly Chunkserver[], count: number, exclude: ReadonlySet<number> = new Set()): Chunkserver[] {
  return candidates
    .filter((cs) => !exclude.has(cs.csid) && freeSpace(cs) >= MIN_FREE_FOR_PLACEMENT)
    .sort((a, b) => freeSpace(b) - freeSpace(a) || a.load.repWrites - b.load.repWrites || a.csid - b.csid)
    .slice(0, Math.max(0, count));
}
