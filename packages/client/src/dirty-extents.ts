/** A run of written bytes not yet on the chunkservers, offsets within one chunk. */
export interface Extent {
  off: number;
  end: number;
  /** The bytes, in order; appends add a part instead of copying what is there. */
  parts: Buffer[];
}

/**
 * The write-back buffer of one chunk: disjoint extents in offset order, later writes
 * over earlier ones. Sequential writes append to the last extent without copying it,
 * so small writes gather into whole blocks before they are sent.
 */
export class DirtyExtents {
  private extents: Extent[] = [];
  private total = 0;
  /**
   * Batches taken to be sent and not settled yet: FileWriter settles them when the chunk
   * write that took them has ended. Until then the chunkservers may not hold them for
   * good (docs/client.md, "Reads beside writes"), so they count as this buffer's bytes
   * for `touches`.
   */
  private out: Extent[][] = [];

  get bytes(): number {
    return this.total;
  }

  get empty(): boolean {
    return this.extents.length === 0;
  }

  /** Adds `data` at `off` (the buffer is kept: the caller hands over a copy). */
  insert(off: number, data: Buffer): void {
    if (data.length === 0) return;
    const end = off + data.length;
    const last = this.extents[this.extents.length - 1];
    if (last && last.end === off) {
      last.parts.push(data);
      last.end = end;
      this.total += data.length;
      return;
    }
    // Extents touching [off, end) merge into one, the new bytes on top. They are found by
    // a binary search, not a scan: a random writer leaves thousands of extents in a chunk.
    const first = firstEndingAtOrAfter(this.extents, off);
    let past = first;
    while (past < this.extents.length && this.extents[past]!.off <= end) past++;
    if (past === first) {
      this.extents.splice(first, 0, { off, end, parts: [data] });
      this.total += data.length;
      return;
    }
    const lo = Math.min(off, this.extents[first]!.off);
    const hi = Math.max(end, this.extents[past - 1]!.end);
    const merged = Buffer.alloc(hi - lo);
    for (let i = first; i < past; i++) {
      const e = this.extents[i]!;
      flatten(e).copy(merged, e.off - lo);
      this.total -= e.end - e.off;
    }
    data.copy(merged, off - lo);
    this.extents.splice(first, past - first, { off: lo, end: hi, parts: [merged] });
    this.total += hi - lo;
  }

  /** Takes everything out (to send it); it still counts for `touches` until `settle`. */
  take(): Extent[] {
    const out = this.takeAll();
    if (out.length > 0) this.out.push(out);
    return out;
  }

  /** The chunk write that took the batches ended (or gave them up): they no longer count. */
  settle(): void {
    this.out = [];
  }

  /**
   * The bytes buffered, or taken and not settled, that lie in [from, to) (chunk offsets),
   * oldest first: laid over a read in this order, each run shows the newest write of it.
   */
  pendingIn(from: number, to: number): { off: number; data: Buffer }[] {
    const out: { off: number; data: Buffer }[] = [];
    for (const batch of [...this.out, this.extents]) {
      // Each batch is sorted and disjoint: the first extent ending past `from` starts the hits.
      for (let i = firstEndingAtOrAfter(batch, from + 1); i < batch.length && batch[i]!.off < to; i++) {
        out.push({ off: batch[i]!.off, data: flatten(batch[i]!) });
      }
    }
    return out;
  }

  /** Puts back extents whose sending failed, under anything written since. */
  restore(failed: readonly Extent[]): void {
    const newer = this.takeAll();
    for (const e of failed) this.insert(e.off, flatten(e));
    for (const e of newer) this.insert(e.off, flatten(e));
  }

  private takeAll(): Extent[] {
    const out = this.extents;
    this.extents = [];
    this.total = 0;
    return out;
  }

  /** Drops buffered bytes at or past `from` (a truncation). */
  cut(from: number): void {
    const kept: Extent[] = [];
    this.total = 0;
    for (const e of this.extents) {
      if (e.off >= from) continue;
      if (e.end > from) {
        const flat = flatten(e).subarray(0, from - e.off);
        kept.push({ off: e.off, end: from, parts: [flat] });
      } else kept.push(e);
    }
    this.extents = kept;
    for (const e of kept) this.total += e.end - e.off;
  }
}

/** Index of the first of `extents` (sorted, disjoint) whose end is at or after `at`; their length if none. */
function firstEndingAtOrAfter(extents: readonly Extent[], at: number): number {
  let lo = 0;
  let hi = extents.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (extents[mid]!.end >= at) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * The extent's bytes cut at every multiple of `blockSize` (chunk offsets), each piece as
 * views of the extent's parts in order: nothing is copied, a piece of a sequential
 * writer's extent is one or a few of the buffers its writes handed over.
 */
export function blockPieces(e: Extent, blockSize: number): { off: number; parts: Buffer[] }[] {
  const pieces: { off: number; parts: Buffer[] }[] = [];
  let part = 0;
  let at = 0; // position within e.parts[part]
  for (let pos = e.off; pos < e.end; ) {
    const pieceEnd = Math.min(e.end, (Math.floor(pos / blockSize) + 1) * blockSize);
    const parts: Buffer[] = [];
    // Bounded: every pass takes at least one byte of the parts, which hold e.end - e.off bytes.
    for (let need = pieceEnd - pos; need > 0; ) {
      const p = e.parts[part]!;
      const take = Math.min(p.length - at, need);
      parts.push(at === 0 && take === p.length ? p : p.subarray(at, at + take));
      need -= take;
      at += take;
      if (at === p.length) {
        part++;
        at = 0;
      }
    }
    pieces.push({ off: pos, parts });
    pos = pieceEnd;
  }
  return pieces;
}

export function flatten(e: Extent): Buffer {
  if (e.parts.length !== 1) e.parts = [Buffer.concat(e.parts)];
  return e.parts[0]!;
}
