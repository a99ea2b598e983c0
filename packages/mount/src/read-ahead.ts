/**
 * Read-ahead of one open file: once reads have been sequential for a while, the next
 * window (growing from 1 MiB to `maxWindow`) is fetched from the chunkservers while the
 * kernel still consumes the current one, so a sequential reader sees the chunkservers'
 * streaming rate rather than one round trip per 128 KiB request. Any write or truncate
 * through this mount drops the windows (`reset`).
 */
export interface ReadSource {
  read(offset: number, length: number): Promise<Buffer>;
}

interface Window {
  start: number;
  length: number;
  data: Promise<Buffer>;
}

const MIN_WINDOW = 1 << 20;
/** Sequential reads before the first window is fetched. */
const SEQUENTIAL_STREAK = 2;

export class ReadAhead {
  private expected = -1;
  private streak = 0;
  private windowSize = MIN_WINDOW;
  private windows: Window[] = [];
  hits = 0;

  constructor(
    private readonly source: ReadSource,
    private readonly maxWindow = 8 << 20,
  ) {}

  async read(offset: number, length: number): Promise<Buffer> {
    this.track(offset, length);
    const w = this.windows.find((x) => offset >= x.start && offset + length <= x.start + x.length);
    if (w) {
      try {
        const data = await w.data;
        this.hits++;
        this.advance(offset + length);
        return data.subarray(offset - w.start, Math.min(data.length, offset - w.start + length));
      } catch {
        this.reset();
      }
    }
    const result = this.source.read(offset, length);
    if (this.streak >= SEQUENTIAL_STREAK) this.advance(offset + length);
    return result;
  }

  /** Drops every window (the file changed through this mount). */
  reset(): void {
    this.windows = [];
    this.windowSize = MIN_WINDOW;
  }

  private track(offset: number, length: number): void {
    if (offset === this.expected) this.streak++;
    else {
      this.streak = 0;
      this.reset();
    }
    this.expected = offset + length;
  }

  /** Keeps a window ahead of `pos`: the one holding it and the next. */
  private advance(pos: number): void {
    this.windows = this.windows.filter((w) => w.start + w.length > pos);
    const last = this.windows[this.windows.length - 1];
    let next = last ? last.start + last.length : pos;
    while (this.windows.length < 2) {
      const data = this.source.read(next, this.windowSize);
      data.catch(() => undefined);
      this.windows.push({ start: next, length: this.windowSize, data });
      next += this.windowSize;
      this.windowSize = Math.min(this.windowSize * 2, this.maxWindow);
    }
  }
}
