/** Records kept at most: losing one only costs the next grant of that chunk a version bump. */
const MAX_RECORDS = 100_000;

/**
 * Chunks whose last write ended complete on every copy it was granted (MooseFS's
 * `needverincrease == 0`): chunk id → that write's version and servers. The next write
 * grant of such a chunk keeps the version when exactly those servers still hold it
 * valid, so a client's successive flushes of one chunk cost no version change on the
 * chunkservers (header rewrite, fdatasync, rename on each copy) and no changelog entry.
 *
 * The version exists to make a copy that may have missed a write stale, so a record is
 * made only by a write every granted copy acknowledged to its end (the client's
 * writeChunkEnd ok, for the lease's own grant), and is used once: the grant that keeps
 * the version takes it, and only that write's complete end makes the next one. A write
 * that fails, a lease that runs out, a copy gained or lost, a master restart or a new
 * leader (records live in memory only) all leave no record, and the next grant bumps.
 */
export class CompleteWrites {
  private readonly ended = new Map<number, { version: number; servers: readonly number[] }>();

  constructor(private readonly max = MAX_RECORDS) {}

  record(chunkId: number, version: number, servers: readonly number[]): void {
    this.ended.delete(chunkId);
    this.ended.set(chunkId, { version, servers });
    if (this.ended.size > this.max) this.ended.delete(this.ended.keys().next().value as number);
  }

  /**
   * Takes the record of `chunkId` (it is gone afterwards, whatever the answer): whether its
   * last write ended complete at `version` on exactly the servers `valid` (csids).
   */
  take(chunkId: number, version: number, valid: readonly number[]): boolean {
    const rec = this.ended.get(chunkId);
    if (!rec) return false;
    this.ended.delete(chunkId);
    if (rec.version !== version || rec.servers.length !== valid.length) return false;
    const set = new Set(rec.servers);
    return valid.every((csid) => set.has(csid));
  }

  forget(chunkId: number): void {
    this.ended.delete(chunkId);
  }

  get size(): number {
    return this.ended.size;
  }
}
