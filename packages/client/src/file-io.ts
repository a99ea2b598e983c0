import type { ChunkGrant, Cred, MessageName, Reply, Request } from '@tsmfs/protocol';
import { ChunkLocations } from './chunk-locations.js';
import { DataLinks } from './data-links.js';

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

  close(): void {
    this.links.close();
  }
}

export type { Cred };
