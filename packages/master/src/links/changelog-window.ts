/**
 * The in-memory part of the changelog feed: the last durable lines, consecutive
 * versions, oldest first, as UTF-8 in blocks of BLOCK_BYTES (a line never spans two)
 * with each line's end offset and time beside it: ~1 byte per character plus ~16 per
 * line, whatever the size of the durable batches. Keeping the lines as the strings the
 * changelog built cost ~3 times their length (V8 keeps a concatenated string as a tree
 * of its pieces) and made a burst of 1,000,000 creates hold ~450 MB of heap for
 * MATOML_LOG_PRESERVE_SECONDS (issue 11); one Buffer per batch costs a few hundred bytes
 * of objects per batch, and a batch is one line when a client works one request at a time.
 */
export class ChangelogWindow {
  /** Blocks in version order; blocks before `headBlock` are dropped (undefined). */
  private blocks: (Block | undefined)[] = [];
  private headBlock = 0;
  /** Version of the oldest line held. */
  private first = 0;
  private count = 0;
  /** Bytes held: the blocks' sizes plus 16 per line held (offset and time). */
  bytes = 0;

  /** `blockBytes`: the size of a block (tests use tiny ones to cross blocks often). */
  constructor(private readonly blockBytes = BLOCK_BYTES) {}

  /** Lines held. */
  get size(): number {
    return this.count;
  }

  /** Version of the oldest line held (meaningless when empty). */
  get firstVersion(): number {
    return this.first;
  }

  /** Starts over at `first` (a jump in versions, never expected). */
  reset(first: number): void {
    this.blocks = [];
    this.headBlock = 0;
    this.first = first;
    this.count = 0;
    this.bytes = 0;
  }

  /** Appends lines that follow the newest held (each ends with its newline), added at `time`. */
  push(lines: readonly string[], time: number): void {
    for (const line of lines) {
      const len = Buffer.byteLength(line, 'utf8');
      let b = this.blocks[this.blocks.length - 1];
      if (!b || b.used + len > b.data.length) {
        // A block of its own: Buffer.alloc would take small ones from node's shared pool.
        b = { data: Buffer.allocUnsafeSlow(Math.max(this.blockBytes, len)), used: 0, ends: [], times: [], head: 0, firstVersion: this.first + this.count };
        this.blocks.push(b);
        this.bytes += b.data.length;
      }
      b.used += b.data.write(line, b.used, 'utf8');
      b.ends.push(b.used);
      b.times.push(time);
      this.count++;
      this.bytes += PER_LINE_BYTES;
    }
  }

  /** Drops the oldest lines while `tooOld(addedAt)` says so or more than `maxBytes` are held. */
  trim(tooOld: (addedAt: number) => boolean, maxBytes: number): void {
    while (this.count > 0) {
      const b = this.blocks[this.headBlock]!;
      if (!tooOld(b.times[b.head]!) && this.bytes <= maxBytes) break;
      b.head++;
      this.first++;
      this.count--;
      this.bytes -= PER_LINE_BYTES;
      if (b.head === b.ends.length) {
        this.bytes -= b.data.length;
        this.blocks[this.headBlock++] = undefined;
      }
    }
    if (this.headBlock > 64 && this.headBlock * 2 > this.blocks.length) {
      this.blocks = this.blocks.slice(this.headBlock);
      this.headBlock = 0;
    }
  }

  /**
   * Lines from version `want` (held) up to `last`, at least one, stopping before
   * `maxBytes` of UTF-8 would be passed; the text and the last version read.
   */
  read(want: number, last: number, maxBytes: number): { text: string; last: number } {
    // The block holding `want`: the last one starting at or before it (binary search).
    let lo = this.headBlock;
    let hi = this.blocks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.blocks[mid]!.firstVersion <= want) lo = mid;
      else hi = mid - 1;
    }
    const parts: string[] = [];
    let bytes = 0;
    let version = want;
    for (let k = lo; k < this.blocks.length && version <= last; k++) {
      const { data, ends, firstVersion } = this.blocks[k]!;
      const from = version - firstVersion;
      const start = from === 0 ? 0 : ends[from - 1]!;
      let end = from;
      while (end < ends.length && version <= last && (version === want || bytes + ends[end]! - start <= maxBytes)) {
        end++;
        version++;
      }
      if (end === from) break;
      parts.push(data.toString('utf8', start, ends[end - 1]!));
      bytes += ends[end - 1]! - start;
      if (end < ends.length) break;
    }
    return { text: parts.join(''), last: version - 1 };
  }
}

/** 256 KiB: ~1,700 create entries; the window frees memory a block at a time. */
const BLOCK_BYTES = 256 * 1024;
/** A line's end offset and time: two numbers in JS arrays. */
const PER_LINE_BYTES = 16;

interface Block {
  data: Buffer;
  /** Bytes of `data` written. */
  used: number;
  /** ends[k] = offset just past line k in `data`. */
  ends: number[];
  /** times[k] = when line k became durable (ms). */
  times: number[];
  /** Lines of this block already dropped. */
  head: number;
  /** Version of line 0 of this block. */
  firstVersion: number;
}
