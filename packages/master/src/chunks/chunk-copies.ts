/** One copy of a chunk on one chunkserver, as the master sees it. */
export interface Copy {
  version: number;
  /** A CRC check or a read failed on it: never handed out, replaced, then deleted. */
  damaged: boolean;
  /**
   * The disk it is on, when that disk is marked for removal (`*` in the hdd file): it is
   * read and copied from but does not count toward the goal, so the chunk loop makes
   * copies elsewhere.
   */
  markedDisk?: string;
}

/**
 * Where the copies of every chunk are: chunk id → chunkserver id → copy. In memory only,
 * rebuilt from the chunkservers' reports after every master start; a server's copies
 * leave the map when its link closes and come back with its next report.
 */
export class ChunkCopies {
  private readonly byChunk = new Map<number, Map<number, Copy>>();
  private readonly byServer = new Map<number, Set<number>>();

  /** Records a copy; one that moves to another version stays on its disk (keeps `markedDisk`). */
  set(chunkId: number, csid: number, version: number, damaged = false, markedDisk?: string): void {
    let copies = this.byChunk.get(chunkId);
    if (!copies) this.byChunk.set(chunkId, (copies = new Map()));
    const disk = markedDisk ?? copies.get(csid)?.markedDisk;
    copies.set(csid, disk === undefined ? { version, damaged } : { version, damaged, markedDisk: disk });
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
