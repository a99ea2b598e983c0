/**
 * Read-ahead of one open file: once reads have been sequential for a while, the next
 * window (growing from 1 MiB to `maxWindow`) is fetched from the chunkservers while the
 * kernel still consumes the current one, so a sequential reader sees the chunkservers'
 * streaming rate rather than one round trip per 128 KiB request. Any write or truncate
 * through this mount drops the windows (`reset`).
 */
export interface ReadSource {
  /** `alloc` gives the buffers to read into (recycled windows); the result may be one. */
  read(offset: number, length: number, alloc?: (length: number) => Buffer): Promise<Buffer>;
}

interface Window {
  start: number;
  length: number;
  data: Promise<Buffer>;
}

const MIN_WINDOW = 1 << 20;
/** Sequential reads before the first window is fetched. */
const SEQUENTIAL_STREAK = 2;
/** Buffers retired windows leave for later ones, this many bytes at most. */
const RECYCLED_BYTES = 32 << 20;
/** Recycled buffers are let go after this long without a read-ahead. */
const RECYCLED_IDLE_MS = 5_000;

/**
 * The buffers of retired windows, for the next windows of any file of the mount: a
 * sequential read of a 1 GiB file otherwise allocated 1 GiB of windows outside V8's heap,
 * and that churn drove most of its major GCs (docs/benchmarks.md, "Reads and the GC").
 * Only a window's own, whole buffer comes here, by its exact size.
 */
export class WindowBuffers {
  private readonly free = new Map<number, Buffer[]>();
  private bytes = 0;
  private idle: NodeJS.Timeout | undefined;

  take = (length: number): Buffer => {
    this.touch();
    const buf = this.free.get(length)?.pop();
    if (!buf) return Buffer.allocUnsafe(length);
    this.bytes -= length;
    return buf;
  };

  give(buf: Buffer): void {
    if (buf.byteOffset !== 0 || buf.length !== buf.buffer.byteLength || buf.length < MIN_WINDOW) return;
    if (this.bytes + buf.length > RECYCLED_BYTES) return;
    this.touch();
    let list = this.free.get(buf.length);
    if (!list) this.free.set(buf.length, (list = []));
    list.push(buf);
    this.bytes += buf.length;
  }

  /** Bytes held for reuse (for the tests). */
  get held(): number {
    return this.bytes;
  }

  private touch(): void {
    this.idle?.refresh();
    this.idle ??= setTimeout(() => {
      this.free.clear();
      this.bytes = 0;
      this.idle = undefined;
    }, RECYCLED_IDLE_MS).unref();
  }
}


export class ReadAhead {
  private expected = -1;
  private streak = 0;
  private windowSize = MIN_WINDOW;
  private windows: Window[] = [];
  hits = 0;

  constructor(
    private readonly source: ReadSource,
    private readonly maxWindow = 8 << 20,
    private readonly buffers = new WindowBuffers(),
  ) {}

  /**
   * A read answered from a window is a view of the window's buffer, which is recycled
   * after the window is retired (see retire): the caller must be done with the bytes by
   * the end of the event-loop turn it gets them in (a FUSE reply copies them to the
   * kernel at once, in the promise's continuation).
   */
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
    for (const w of this.windows) this.retire(w);
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
    while (this.windows.length > 0 && this.windows[0]!.start + this.windows[0]!.length <= pos) this.retire(this.windows.shift()!);
    const last = this.windows[this.windows.length - 1];
    let next = last ? last.start + last.length : pos;
    while (this.windows.length < 2) {
      const data = this.source.read(next, this.windowSize, this.buffers.take);
      data.catch(() => undefined);
      this.windows.push({ start: next, length: this.windowSize, data });
      next += this.windowSize;
      this.windowSize = Math.min(this.windowSize * 2, this.maxWindow);
    }
  }

  /**
   * Gives a window that left the list its buffer back, one event-loop turn after its bytes
   * arrived. No read can find the window any more, and every read that found it before
   * awaits `w.data` ahead of this callback (registered earlier) and replies in microtasks
   * that follow; setImmediate runs after all of them. (A buffer taken again is written
   * only when a chunkserver's bytes arrive, later still.)
   */
  private retire(w: Window): void {
    w.data.then(
      (buf) => setImmediate(() => this.buffers.give(buf)),
      () => undefined,
    );
  }
}
