import type { Address, ChunkGrant } from '@tsmfs/protocol';

/** Files with writes not fsynced that a session remembers before it has the chunkservers sync everything. */
const MAX_UNSYNCED_FILES = 10_000;
/** After a sweep that left the bound exceeded (a chunkserver down), the next waits this long. */
const SWEEP_RETRY_MS = 1_000;

interface Unsynced {
  grant: ChunkGrant;
  /** Order of the write's end in this session: a sweep forgets only the writes that ended before it began. */
  seq: number;
}

const keyOf = (at: Address): string => `${at.host}:${at.port}`;

/**
 * Chunk writes acknowledged but not yet fsynced, per inode then chunk index: chunkservers
 * sync at close only with HDD_FSYNC_BEFORE_CLOSE, so fsync(2) of any handle of the file
 * (POSIX: all its written data) must reach every copy this session wrote.
 *
 * Bounded: past `limit` files, every chunkserver named in a record is asked to sync all
 * it wrote (`dataSyncAll`, one message each), and the records it covers are forgotten.
 * Before, the oldest file was synced copy by copy at every new file past the bound: two
 * more messages per file of a small-file loop, and for a file removed since, two failures
 * and a master request (docs/benchmarks.md, "Unsynced writes: one sync per chunkserver").
 */
export class UnsyncedWrites {
  private readonly byInode = new Map<number, Map<number, Unsynced>>();
  private seq = 0;
  private sweeping = false;
  private retryAt = 0;
  /** Sweeps run, and the records they let go. */
  readonly stats = { sweeps: 0, forgotten: 0 };

  /** `syncAll(at)`: has the chunkserver at `at` sync every copy written there (dataSyncAll). */
  constructor(
    private readonly syncAll: (at: Address) => Promise<void>,
    private readonly limit = MAX_UNSYNCED_FILES,
  ) {}

  get files(): number {
    return this.byInode.size;
  }

  /** A chunk write of `inode` ended on every copy of `grant`. */
  add(inode: number, index: number, grant: ChunkGrant): void {
    let m = this.byInode.get(inode);
    if (!m) this.byInode.set(inode, (m = new Map()));
    m.set(index, { grant, seq: ++this.seq });
    if (this.byInode.size > this.limit) this.sweep();
  }

  has(inode: number, index: number): boolean {
    return this.byInode.get(inode)?.has(index) ?? false;
  }

  /** Removes and returns `inode`'s records (an fsync syncs them itself). */
  take(inode: number): Map<number, ChunkGrant> | undefined {
    const m = this.byInode.get(inode);
    if (!m) return undefined;
    this.byInode.delete(inode);
    return new Map([...m].map(([index, r]) => [index, r.grant]));
  }

  /**
   * In the background: every chunkserver of every record syncs all it wrote, then each
   * record whose write ended before the sweep began and one of whose copies synced is
   * forgotten (fsync asks no more than one durable copy either). A record taken by an
   * fsync meanwhile is that fsync's.
   */
  private sweep(): void {
    if (this.sweeping || Date.now() < this.retryAt) return;
    this.sweeping = true;
    this.stats.sweeps++;
    const upTo = this.seq;
    const servers = new Map<string, Address>();
    for (const m of this.byInode.values()) for (const r of m.values()) for (const at of r.grant.locations) servers.set(keyOf(at), at);
    void Promise.allSettled([...servers].map(async ([key, at]) => (await this.syncAll(at), key))).then((results) => {
      const synced = new Set(results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])));
      for (const [inode, m] of this.byInode) {
        for (const [index, r] of m) {
          if (r.seq > upTo || !r.grant.locations.some((at) => synced.has(keyOf(at)))) continue;
          m.delete(index);
          this.stats.forgotten++;
        }
        if (m.size === 0) this.byInode.delete(inode);
      }
      if (this.byInode.size > this.limit) this.retryAt = Date.now() + SWEEP_RETRY_MS;
      this.sweeping = false;
    });
  }
}
