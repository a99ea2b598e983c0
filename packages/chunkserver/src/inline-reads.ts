/**
 * Largest read a disk may serve on the event loop (readSync): one block, what a 4 KiB
 * random read reads to check its CRC (two when it straddles blocks).
 */
export const INLINE_READ_MAX = 2 * 64 * 1024;
/** A read on the event loop slower than this was answered by the device, not the page cache. */
export const INLINE_SLOW_MS = 3;
/** How long a disk's small reads then go back to the thread pool before one is tried inline again. */
const INLINE_PAUSE_MS = 2_000;

/**
 * Whether a disk's small reads run on the event loop. A read through fs/promises goes to
 * libuv's thread pool and back: two thread wake-ups per read, which on a busy machine
 * cost more than the read itself (a 64 KiB pread from the page cache takes tens of µs;
 * each wake-up waits for a CPU). A chunkserver's hot blocks sit in the page cache, so a
 * small read is done synchronously — until one takes longer than the page cache would
 * (a disk seek), which would stall every other link of this process meanwhile: the
 * disk's small reads then go to the thread pool for INLINE_PAUSE_MS, and the next try
 * costs at most one such stall (one per INLINE_PAUSE_MS on a disk whose reads all seek).
 */
export class InlineReads {
  private pausedUntil = 0;
  /** Reads that were slow (how often the disk went back to the thread pool). */
  slow = 0;

  constructor(
    /** Slower than this, a read was the device's (tests under strace, where every syscall is slow, pass Infinity). */
    private readonly slowMs = INLINE_SLOW_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Whether a read of `bytes` may run on the event loop now. */
  allows(bytes: number): boolean {
    return bytes <= INLINE_READ_MAX && this.now() >= this.pausedUntil;
  }

  /** A read done on the event loop took `ms`. */
  took(ms: number): void {
    if (ms <= this.slowMs) return;
    this.slow++;
    this.pausedUntil = this.now() + INLINE_PAUSE_MS;
  }
}
