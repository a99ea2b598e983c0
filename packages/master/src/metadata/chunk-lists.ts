/**
 * Every file's chunk ids by index (id 0 = a hole). Memory follows the chunks that exist,
 * not the highest index: a client may write one chunk at 100 TiB (index 1,638,400), and
 * that file must cost what a one-chunk file costs.
 *
 * - Index 0 is a column indexed by inode: most files have exactly one chunk.
 * - Indexes 1.. of the files that have them go into a `Tail`: a dense array for the
 *   indexes from 1 up (what every sequentially written file is, read in O(1)), holes
 *   padded only when short (at most MAX_PADDED_HOLES in a row), and a sparse map for
 *   whatever lies further out. Every sparse index is above the dense part's end; the
 *   dense part takes sparse entries over as it grows to reach them.
 *
 * Which part holds an index depends on the order of the writes, so two equal lists may
 * be stored differently; everything that leaves this class (iteration, dumps, the
 * state digest) sees only the logical list, ascending by index.
 */
export class ChunkLists {
  /** A file's chunk at index 0 (0 = hole / none). */
  first: Float64Array;
  private readonly tails = new Map<number, Tail>();

  constructor(capacity: number) {
    this.first = new Float64Array(capacity);
  }

  /** The column grows with the inode table. */
  grow(capacity: number): void {
    const next = new Float64Array(capacity);
    next.set(this.first);
    this.first = next;
  }

  get(inode: number, index: number): number {
    if (index === 0) return this.first[inode]!;
    const tail = this.tails.get(inode);
    if (!tail) return 0;
    if (index <= tail.dense.length) return tail.dense[index - 1]!;
    return tail.sparse?.get(index) ?? 0;
  }

  set(inode: number, index: number, id: number): void {
    if (index === 0) {
      this.first[inode] = id;
      return;
    }
    if (id === 0) {
      this.clearAt(inode, index);
      return;
    }
    let tail = this.tails.get(inode);
    if (!tail) this.tails.set(inode, (tail = { dense: [] }));
    const { dense } = tail;
    const holes = index - dense.length - 1;
    if (holes < 0) {
      dense[index - 1] = id;
    } else if (holes <= MAX_PADDED_HOLES) {
      while (dense.length < index - 1) dense.push(takeSparse(tail, dense.length + 1));
      takeSparse(tail, index);
      dense.push(id);
      for (let next = takeSparse(tail, dense.length + 1); next !== 0; next = takeSparse(tail, dense.length + 1)) dense.push(next);
      if (tail.sparse?.size === 0) delete tail.sparse;
    } else {
      (tail.sparse ??= new Map()).set(index, id);
    }
  }

  /** Calls `fn` for every chunk of the file (holes skipped), ascending by index. */
  forEach(inode: number, fn: (id: number, index: number) => void): void {
    const first = this.first[inode]!;
    if (first !== 0) fn(first, 0);
    const tail = this.tails.get(inode);
    if (!tail) return;
    const { dense, sparse } = tail;
    for (let i = 0; i < dense.length; i++) if (dense[i] !== 0) fn(dense[i]!, i + 1);
    if (sparse) for (const index of sortedKeys(sparse)) fn(sparse.get(index)!, index);
  }

  /** Highest index holding a chunk, plus one (0 for a file without chunks). */
  slots(inode: number): number {
    const tail = this.tails.get(inode);
    if (tail?.sparse) {
      let highest = 0;
      for (const index of tail.sparse.keys()) highest = Math.max(highest, index);
      return highest + 1;
    }
    if (tail) return tail.dense.length + 1;
    return this.first[inode] !== 0 ? 1 : 0;
  }

  /**
   * Empties every index from `keep` up; returns the ids removed, highest index first
   * (the order truncation has always released them in, which replay relies on).
   */
  cut(inode: number, keep: number): number[] {
    const removed: number[] = [];
    const tail = this.tails.get(inode);
    if (tail) {
      if (tail.sparse) {
        for (const index of sortedKeys(tail.sparse).reverse()) {
          if (index < keep) break;
          removed.push(tail.sparse.get(index)!);
          tail.sparse.delete(index);
        }
      }
      const { dense } = tail;
      while (dense.length >= Math.max(keep, 1)) {
        const id = dense.pop()!;
        if (id !== 0) removed.push(id);
      }
      trimHoles(dense);
      this.dropIfEmpty(inode, tail);
    }
    if (keep === 0 && this.first[inode] !== 0) {
      removed.push(this.first[inode]!);
      this.first[inode] = 0;
    }
    return removed;
  }

  /** Forgets the file's whole list (its inode is freed). */
  clear(inode: number): void {
    this.first[inode] = 0;
    this.tails.delete(inode);
  }

  private clearAt(inode: number, index: number): void {
    const tail = this.tails.get(inode);
    if (!tail) return;
    const { dense } = tail;
    if (index <= dense.length) {
      dense[index - 1] = 0;
      trimHoles(dense);
    } else {
      tail.sparse?.delete(index);
    }
    this.dropIfEmpty(inode, tail);
  }

  private dropIfEmpty(inode: number, tail: Tail): void {
    if (tail.sparse?.size === 0) delete tail.sparse;
    if (tail.dense.length === 0 && !tail.sparse) this.tails.delete(inode);
  }
}

/**
 * A dense array slot costs 8 bytes, a map entry several times that: padding a few holes
 * is cheaper than a map entry, padding many would make memory follow the highest index.
 */
const MAX_PADDED_HOLES = 4;

interface Tail {
  /** Indexes 1..dense.length (index i at [i - 1]); never ends with a hole. */
  dense: number[];
  /** Indexes above dense.length; absent when empty. */
  sparse?: Map<number, number>;
}

/** The sparse entry at `index`, taken out (0 when there is none). */
function takeSparse(tail: Tail, index: number): number {
  const id = tail.sparse?.get(index);
  if (id === undefined) return 0;
  tail.sparse!.delete(index);
  return id;
}

function trimHoles(dense: number[]): void {
  while (dense.length > 0 && dense[dense.length - 1] === 0) dense.pop();
}

function sortedKeys(map: Map<number, number>): number[] {
  return [...map.keys()].sort((a, b) => a - b);
}
