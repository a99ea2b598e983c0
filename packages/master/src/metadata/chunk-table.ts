import type { ChunkLocation } from '@tsmfs/protocol';

/**
 * Chunk id → version and file refcount. Chunk ids are handed out in sequence and never
 * reused (as in MooseFS), so the table is columnar: typed arrays indexed by chunk id,
 * grown by doubling. A refcount of 0 means "no such chunk" (never allocated, or freed and
 * waiting in `toDelete` for the chunkservers to drop it).
 *
 * Locations live here too but are in-memory only: chunkservers report them after every
 * start, so dumps and the changelog never carry them.
 */
export class ChunkTable {
  version: Uint32Array = new Uint32Array(1024);
  refcount: Uint32Array = new Uint32Array(1024);
  /** Next id to allocate. Ids start at 1; 0 marks a hole in a file's chunk list. */
  nextChunkId = 1;
  /**
   * Copy-on-write sources: a chunk allocated because its file's chunk was shared
   * (snapshot) records the chunk it must be duplicated from. The chunkserver issue
   * drains this; until then it is part of the state (dumped, replayed).
   */
  readonly cowSource = new Map<number, number>();
  /** Chunks whose refcount reached 0, in the order they did: the chunkservers delete them. */
  toDelete: number[] = [];
  /** Where each chunk's replicas are. Filled by chunkserver reports; never persisted. */
  readonly locations = new Map<number, ChunkLocation[]>();

  has(id: number): boolean {
    return id > 0 && id < this.refcount.length && this.refcount[id]! > 0;
  }

  /** Creates chunk `id` with one reference. */
  create(id: number, version: number, cowFrom?: number): void {
    this.ensure(id);
    this.version[id] = version;
    this.refcount[id] = 1;
    if (cowFrom !== undefined) this.cowSource.set(id, cowFrom);
    if (id >= this.nextChunkId) this.nextChunkId = id + 1;
  }

  ref(id: number): void {
    this.refcount[id]!++;
  }

  unref(id: number): void {
    if (!this.has(id)) throw new Error(`chunk ${id} unreferenced but not present`);
    if (--this.refcount[id]! === 0) {
      this.toDelete.push(id);
      this.cowSource.delete(id);
      this.locations.delete(id);
    }
  }

  /** Freed chunks whose copies are all gone leave `toDelete`. */
  forget(ids: readonly number[]): void {
    const gone = new Set(ids);
    this.toDelete = this.toDelete.filter((id) => !gone.has(id));
  }

  /** Live chunk ids in ascending order. */
  *ids(): IterableIterator<number> {
    for (let id = 1; id < this.nextChunkId; id++) if (this.refcount[id]! > 0) yield id;
  }

  get count(): number {
    let n = 0;
    for (const _ of this.ids()) n++;
    return n;
  }

  private ensure(id: number): void {
    if (id < this.refcount.length) return;
    let cap = this.refcount.length;
    while (cap <= id) cap *= 2;
    this.version = grow(this.version, cap);
    this.refcount = grow(this.refcount, cap);
  }
}

function grow(a: Uint32Array, cap: number): Uint32Array<ArrayBuffer> {
  const b = new Uint32Array(cap);
  b.set(a);
  return b;
}
