/**
 * Chunks whose copies are being moved to a new version (or created, or duplicated) on
 * the chunkservers: the metadata already has the new version, so until a copy has it
 * the chunk has no valid copy. A reader asking for such a chunk waits for the change
 * (MooseFS's client waits on a "locked" chunk) instead of being told it has no copy.
 */
export class VersionChanges {
  /** chunk id → changes in flight on it and the readers waiting for one of them to move. */
  private readonly inFlight = new Map<number, { count: number; waiters: (() => void)[] }>();

  begin(chunkId: number): void {
    const c = this.inFlight.get(chunkId);
    if (c) c.count++;
    else this.inFlight.set(chunkId, { count: 1, waiters: [] });
  }

  /** A copy has reached the new version: the waiting readers can be answered. */
  progressed(chunkId: number): void {
    const c = this.inFlight.get(chunkId);
    if (!c) return;
    const waiters = c.waiters;
    c.waiters = [];
    for (const wake of waiters) wake();
  }

  end(chunkId: number): void {
    const c = this.inFlight.get(chunkId);
    if (!c) return;
    this.progressed(chunkId);
    if (--c.count === 0) this.inFlight.delete(chunkId);
  }

  has(chunkId: number): boolean {
    return this.inFlight.has(chunkId);
  }

  /** Resolves when a change of `chunkId` progresses or ends, or after `ms`. */
  settled(chunkId: number, ms: number): Promise<void> {
    const c = this.inFlight.get(chunkId);
    if (!c) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      timer.unref();
      c.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
