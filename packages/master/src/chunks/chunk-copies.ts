/** One copy of a chunk on one chunkserver, as the master sees it. */
export interface Copy {
  version: number;
  /** A CRC check or a read failed on it: never handed out, replaced, then deleted. */
  damaged: boolean;
}

/**
 * Where the copies of every chunk are: chunk id → chunkserver id → copy. In memory only,
 * rebuilt from the chunkservers' reports after every master start; a server's copies
 * leave the map when its link closes and come back with its next report.
 */
export class ChunkCopies {
  private readonly byChunk = new Map<number, Map<number, Copy>>();
  private readonly byServer = new Map<number, Set<number>>();

  set(chunkId: number, csid: number, version: number, damaged = false): void {
    let copies = this.byChunk.get(chunkId);
    if (!copies) this.byChunk.set(chunkId, (copies = new Map()));
    copies.set(csid, { version, damaged });
    let ids = this.byServer.get(csid);
    if (!ids) this.byServer.set(csid, (ids = new Set()));
    ids.add(chunkId);
  }

  get(chunkId: number, csid: number): Copy | undefined {
    return this.byChunk.get(chunkId)?.get(csid);
  }

  remove(chunkId: number, csid: number): void {
    const copies = this.byChunk.get(chunkId);
    if (copies?.delete(csid) && copies.size === 0) this.byChunk.delete(chunkId);
    this.byServer.get(csid)?.delete(chunkId);
  }

  /** Forgets every copy of a server (its link closed); returns the chunks it held. */
  removeServer(csid: number): number[] {
    const ids = [...(this.byServer.get(csid) ?? [])];
    for (const id of ids) this.remove(id, csid);
    this.byServer.delete(csid);
    return ids;
  }

  of(chunkId: number): ReadonlyMap<number, Copy> {
    return this.byChunk.get(chunkId) ?? EMPTY;
  }

  /** Every chunk id with at least one copy somewhere. */
  chunkIds(): IterableIterator<number> {
    return this.byChunk.keys();
  }

  /** The chunks a server holds a copy of. */
  idsOn(csid: number): number[] {
    return [...(this.byServer.get(csid) ?? [])];
  }

  countOn(csid: number): number {
    return this.byServer.get(csid)?.size ?? 0;
  }
}

const EMPTY: ReadonlyMap<number, Copy> = new Map();
