import type { ChunkGrant } from '@tsmfs/protocol';
import { LRUCache } from 'lru-cache';

/**
 * Chunk location cache: (inode, chunk index) → the master's last read grant (chunk id,
 * version, copies, file length). Short-lived: a grant goes stale when a write moves the
 * chunk to a new version or the chunk loop moves copies, and a reader that finds it so
 * (an error from a chunkserver) drops it and asks the master again.
 */
export class ChunkLocations {
  private readonly cache: LRUCache<string, ChunkGrant>;

  constructor(options: { max?: number; ttlMs?: number } = {}) {
    this.cache = new LRUCache({ max: options.max ?? 10_000, ttl: options.ttlMs ?? 3_000 });
  }

  get(inode: number, index: number): ChunkGrant | undefined {
    return this.cache.get(key(inode, index));
  }

  set(inode: number, index: number, grant: ChunkGrant): void {
    this.cache.set(key(inode, index), grant);
  }

  forget(inode: number, index: number): void {
    this.cache.delete(key(inode, index));
  }

  /** Drops every chunk of `inode` (after a truncation or a write that changed its length). */
  forgetFile(inode: number): void {
    const prefix = `${inode}:`;
    for (const k of [...this.cache.keys()]) if (k.startsWith(prefix)) this.cache.delete(k);
  }
}

function key(inode: number, index: number): string {
  return `${inode}:${index}`;
}
