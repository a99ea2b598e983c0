import { Status, TsmfsError } from '@tsmfs/protocol';

/** Copies written and not synced since that this chunkserver remembers before syncing the oldest itself. */
const MAX_WRITTEN = 100_000;
/** Copies synced at once by `syncAll`: libuv's pool (4 threads) also serves the writes going on meanwhile. */
const SYNC_CONCURRENCY = 2;

/**
 * The copies whose writes ended here since they were last synced (a write's end does not
 * fsync unless HDD_FSYNC_BEFORE_CLOSE = 1, as in MooseFS). `dataSyncAll` syncs all of them
 * at once: a client that wrote more files than it remembers for fsync(2) sends it to each
 * chunkserver it wrote to, instead of one `dataSync` per copy of each of its oldest files
 * (two messages per new file, in a small-file loop past that bound; file-io.ts).
 */
export class WrittenChunks {
  /** chunkId → version of the write; oldest first. */
  private readonly chunks = new Map<number, number>();
  /** Syncs of the oldest copy started past the bound, not settled yet. */
  private readonly background = new Set<Promise<void>>();
  /**
   * The syncAll under way: the next waits for it. A copy it took off the list may not be
   * durable yet, and a second caller (another client) must not be answered before it is.
   */
  private running: Promise<unknown> = Promise.resolve();

  /** `syncOne`: fdatasyncs one copy (as dataSync does); fails ENOENT/ESTALE when the copy is gone or moved on. */
  constructor(
    private readonly syncOne: (chunkId: number, version: number) => Promise<void>,
    private readonly limit = MAX_WRITTEN,
  ) {}

  get size(): number {
    return this.chunks.size;
  }

  /** A write of `chunkId` at `version` ended (before it is answered). */
  written(chunkId: number, version: number): void {
    // Deleted and set again: the map stays oldest write first.
    this.chunks.delete(chunkId);
    this.chunks.set(chunkId, version);
    if (this.chunks.size > this.limit) {
      const [oldest, v] = this.chunks.entries().next().value as [number, number];
      this.chunks.delete(oldest);
      // Bounded memory: synced here, at no client's request. A failure puts the copy back
      // on the list, for the next syncAll to try again and report.
      const sync = this.syncOne(oldest, v).catch((err: unknown) => {
        if (!gone(err) && !this.chunks.has(oldest)) this.chunks.set(oldest, v);
      });
      this.background.add(sync);
      void sync.finally(() => this.background.delete(sync));
    }
  }

  /** `chunkId` was synced at `version` (a client's dataSync). */
  synced(chunkId: number, version: number): void {
    if (this.chunks.get(chunkId) === version) this.chunks.delete(chunkId);
  }

  /**
   * Syncs every copy written before this call; resolves with how many it synced. A copy deleted or
   * moved to another version since needs nothing (a version change syncs the copy). Any
   * other failure rejects with EIO, after the rest were tried; the failed copies stay to
   * be synced again.
   */
  syncAll(): Promise<number> {
    const run = this.running.then(
      () => this.syncNow(),
      () => this.syncNow(),
    );
    this.running = run.catch(() => undefined);
    return run;
  }

  private async syncNow(): Promise<number> {
    // Copies the bound took off the list are durable, or back on it, before this answers.
    await Promise.all([...this.background]);
    const todo = [...this.chunks];
    this.chunks.clear();
    const failed: [number, number][] = [];
    let synced = 0;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < todo.length) {
        const [chunkId, version] = todo[next++]!;
        try {
          await this.syncOne(chunkId, version);
          synced++;
        } catch (err) {
          if (!gone(err)) failed.push([chunkId, version]);
        }
      }
    };
    await Promise.all(Array.from({ length: SYNC_CONCURRENCY }, worker));
    // A write that ended meanwhile is newer than the failure: kept as it is.
    for (const [chunkId, version] of failed) if (!this.chunks.has(chunkId)) this.chunks.set(chunkId, version);
    if (failed.length > 0) throw new TsmfsError(Status.EIO, `${failed.length} of ${todo.length} chunks could not sync (chunk ${failed[0]![0]} first)`);
    return synced;
  }
}

/** The copy was deleted (ENOENT) or moved to another version (ESTALE, a version change syncs it): nothing to sync. */
function gone(err: unknown): boolean {
  const status = err instanceof TsmfsError ? err.status : undefined;
  return status === Status.ENOENT || status === Status.ESTALE;
}
