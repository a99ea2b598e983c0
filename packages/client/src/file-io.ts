import { type ChunkGrant, type Cred, type MessageName, type Reply, type Request, Status, TsmfsError } from '@tsmfs/protocol';
import { ChunkLocations } from './chunk-locations.js';
import { DataLinks } from './data-links.js';

/** Files with writes not fsynced that a session remembers before syncing the oldest itself. */
const MAX_UNSYNCED_FILES = 10_000;

/** What file I/O needs of a master session. */
export interface MasterCalls {
  call<N extends MessageName>(name: N, body: Request<N>): Promise<Reply<N>>;
}

export interface FileIoOptions {
  name: string;
  /** Time a cached chunk location is trusted. */
  locationTtlMs?: number;
  requestTimeoutMs?: number;
}

/**
 * The data path a session's open files share: links to chunkservers and the chunk
 * location cache. Concurrent requests for the same chunk's grant share one master
 * request.
 */
export class FileIo {
  readonly links: DataLinks;
  readonly locations: ChunkLocations;
  /** Chunk writes retried on a new grant; chunk reads that had to turn to another copy. */
  readonly stats = { writeRetries: 0, readFallbacks: 0 };
  private readonly asking = new Map<string, Promise<ChunkGrant>>();
  /**
   * Chunk writes acknowledged but not yet fsynced, per inode then chunk index: chunkservers
   * sync at close only with HDD_FSYNC_BEFORE_CLOSE, so fsync(2) of any handle of the file
   * (POSIX: all its written data) sends them `dataSync`.
   */
  private readonly unsynced = new Map<number, Map<number, ChunkGrant>>();
  /** Syncs under way per inode: an fsync must also wait for one started before it. */
  private readonly syncing = new Map<number, Promise<void>>();

  constructor(
    readonly master: MasterCalls,
    options: FileIoOptions,
  ) {
    this.links = new DataLinks({ name: options.name, requestTimeoutMs: options.requestTimeoutMs });
    this.locations = new ChunkLocations({ ttlMs: options.locationTtlMs });
  }

  /** Where chunk `index` of `inode` is: from the cache, or the master (`fresh` skips the cache). */
  async grant(inode: number, index: number, fresh = false): Promise<ChunkGrant> {
    if (!fresh) {
      const cached = this.locations.get(inode, index);
      if (cached) return cached;
    }
    const key = `${inode}:${index}`;
    let asked = this.asking.get(key);
    if (!asked) {
      asked = this.master.call('readChunk', { inode, index });
      this.asking.set(key, asked);
      asked.then(
        (g) => {
          this.asking.delete(key);
          this.locations.set(inode, index, g);
        },
        () => this.asking.delete(key),
      );
    }
    return asked;
  }

  /** Records a finished chunk write that fsync must make durable. */
  written(inode: number, index: number, grant: ChunkGrant): void {
    let m = this.unsynced.get(inode);
    if (!m) this.unsynced.set(inode, (m = new Map()));
    m.set(index, grant);
    // Files never fsynced must not grow this forever: the oldest are synced in the background.
    if (this.unsynced.size > MAX_UNSYNCED_FILES) {
      const oldest = this.unsynced.keys().next().value as number;
      this.sync(oldest).catch(() => undefined);
    }
  }

  /**
   * Every copy of every chunk of `inode` written through this session since its last
   * sync fdatasyncs. A copy whose version moved on was synced by the chunkserver when it
   * took the new version; a chunk none of whose copies could sync fails with EIO (and
   * stays to be synced again).
   */
  async sync(inode: number): Promise<void> {
    const before = this.syncing.get(inode);
    const m = this.unsynced.get(inode);
    this.unsynced.delete(inode);
    if (!m) return before;
    const p = Promise.all([before?.catch(() => undefined), this.syncChunks(inode, m)]).then(() => undefined);
    this.syncing.set(inode, p);
    try {
      await p;
    } finally {
      if (this.syncing.get(inode) === p) this.syncing.delete(inode);
    }
  }

  private async syncChunks(inode: number, m: Map<number, ChunkGrant>): Promise<void> {
    const failed: [number, ChunkGrant][] = [];
    await Promise.all(
      [...m].map(async ([index, g]) => {
        const results = await Promise.allSettled(g.locations.map((at) => this.syncCopy(at, g)));
        if (!results.some((r) => r.status === 'fulfilled')) failed.push([index, g]);
      }),
    );
    if (failed.length === 0) return;
    for (const [index, g] of failed) if (!this.unsynced.get(inode)?.has(index)) this.written(inode, index, g);
    throw new TsmfsError(Status.EIO, `fsync: no copy of chunk ${failed[0]![1].chunkId} could sync`);
  }

  private async syncCopy(at: ChunkGrant['locations'][number], g: ChunkGrant): Promise<void> {
    const conn = await this.links.reader(at);
    try {
      await conn.request('dataSync', { chunkId: g.chunkId, version: g.version });
    } catch (err) {
      if (err instanceof TsmfsError && err.status === Status.ESTALE) return;
      throw err;
    }
  }

  close(): void {
    this.links.close();
  }
}

export type { Cred };
