/**
 * The in-memory part of the changelog feed: the last durable lines, consecutive
 * versions, oldest first. Each durable batch is kept as one Buffer of its UTF-8 text and
 * the end offset of each line in it: ~1 byte per character plus 4 per line. Keeping the
 * lines as the strings the changelog built cost ~3 times their length (V8 keeps a
 * concatenated string as a tree of its pieces) and made a create burst of a million
 * files hold ~450 MB of heap for MATOML_LOG_PRESERVE_SECONDS (issue 11).
 */
export class ChangelogWindow {
  private batches: Batch[] = [];
  /** Index of the oldest batch still held (batches before it are dropped lazily). */
  private headBatch = 0;
  /** Lines of the oldest batch already dropped. */
  private headLine = 0;
  /** Version of the oldest line held. */
  private first = 0;
  private count = 0;
  /** Bytes held: the lines' UTF-8 and their offsets. */
  bytes = 0;

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
    this.batches = [];
    this.headBatch = 0;
    this.headLine = 0;
    this.first = first;
    this.count = 0;
    this.bytes = 0;
  }

  /** Appends lines that follow the newest held (each ends with its newline), added at `time`. */
  push(lines: readonly string[], time: number): void {
    if (lines.length === 0) return;
    const data = Buffer.from(lines.join(''), 'utf8');
    const ends = new Uint32Array(lines.length);
    let end = 0;
    for (let k = 0; k < lines.length; k++) ends[k] = end += Buffer.byteLength(lines[k]!, 'utf8');
    this.batches.push({ data, ends, time });
    this.count += lines.length;
    this.bytes += data.length + ends.byteLength;
  }

  /** Drops the oldest lines while `drop(addedAt)` says so or more than `maxBytes` are held. */
  trim(tooOld: (addedAt: number) => boolean, maxBytes: number): void {
    while (this.count > 0) {
      const b = this.batches[this.headBatch]!;
      const all = tooOld(b.time) || this.bytes - b.data.length - b.ends.byteLength > maxBytes;
      if (!all && this.bytes <= maxBytes) break;
      // A whole batch when it is too old or dropping it still leaves more than maxBytes;
      // otherwise line by line until under the cap.
      const left = b.ends.length - this.headLine;
      const n = all ? left : 1;
      const from = this.headLine === 0 ? 0 : b.ends[this.headLine - 1]!;
      const to = b.ends[this.headLine + n - 1]!;
      this.headLine += n;
      this.first += n;
      this.count -= n;
      if (this.headLine === b.ends.length) {
        this.bytes -= b.data.length - from + b.ends.byteLength;
        this.headBatch++;
        this.headLine = 0;
      } else {
        this.bytes -= to - from;
      }
    }
    if (this.headBatch > 1024 && this.headBatch * 2 > this.batches.length) {
      this.batches = this.batches.slice(this.headBatch);
      this.headBatch = 0;
    }
  }

  /**
   * Lines from version `want` (held) up to `last`, at least one, stopping before
   * `maxBytes` of UTF-8 would be passed; the text and the last version read.
   */
  read(want: number, last: number, maxBytes: number): { text: string; last: number } {
    let skip = want - this.first;
    let b = this.headBatch;
    let line = this.headLine;
    // Batches are found by walking whole ones: one step per batch, not per line.
    while (skip >= this.batches[b]!.ends.length - line) {
      skip -= this.batches[b]!.ends.length - line;
      b++;
      line = 0;
    }
    line += skip;
    const parts: string[] = [];
    let bytes = 0;
    let version = want;
    while (b < this.batches.length && version <= last) {
      const { data, ends } = this.batches[b]!;
      const start = line === 0 ? 0 : ends[line - 1]!;
      let end = line;
      while (end < ends.length && version <= last && (version === want || bytes + ends[end]! - start <= maxBytes)) {
        end++;
        version++;
      }
      if (end > line) parts.push(data.toString('utf8', start, ends[end - 1]!));
      bytes += (end > line ? ends[end - 1]! : start) - start;
      if (end < ends.length) break;
      b++;
      line = 0;
    }
    return { text: parts.join(''), last: version - 1 };
  }
}

interface Batch {
  /** The batch's lines, UTF-8, one after the other. */
  data: Buffer;
  /** ends[k] = offset just past line k in `data`. */
  ends: Uint32Array;
  /** When the batch became durable (ms). */
  time: number;
}
