/**
 * Largest read a disk may serve on the event loop (readSync): one block, what a 4 KiB
 * random read reads to check its CRC (two when it straddles blocks).
 */
export const INLINE_IO_MAX = 2 * 64 * 1024;
/**
 * Largest write on the event loop (writeSync): less than a block — a small file's piece,
 * a random write, a chunk's 8 KiB header. A stream's whole 64 KiB blocks stay in the pool,
 * where the disk write of one block overlaps the network's delivery of the next (inline,
 * a 25 MiB write down a chain of three took 13 s instead of 3–8: data-server.test.ts).
 */
export const INLINE_WRITE_MAX = 64 * 1024 - 1;
/** A read or write on the event loop slower than this was the device's, not the page cache's. */
export const INLINE_SLOW_MS = 3;
/** How long a disk's small operations then go back to the thread pool before one is tried inline again. */
const INLINE_PAUSE_MS = 2_000;
/** A second slow read this soon after the first is the device's; a lone one may be the scheduler's. */
const INLINE_CONFIRM_MS = 1_000;

/**
 * Whether a disk's small reads and writes run on the event loop. A read through fs/promises goes to
 * libuv's thread pool and back: two thread wake-ups per read, which on a busy machine
 * cost more than the read itself (a 64 KiB pread from the page cache takes tens of µs;
 * each wake-up waits for a CPU). A chunkserver's hot blocks sit in the page cache, so a
 * small read is done synchronously — until reads take longer than the page cache would
 * (disk seeks), which would stall every other link of this process meanwhile: two such
 * reads within INLINE_CONFIRM_MS send the disk's small reads to the thread pool for
 * INLINE_PAUSE_MS, and the next tries cost at most two stalls per INLINE_PAUSE_MS on a
 * disk whose reads all seek. One slow read alone is not enough: on a loaded machine a
 * page-cache read preempted mid-way took > 3 ms about once in 8,000 reads (load 9).
 *
 * Writes follow the same rule: a small write lands in the page cache in tens of µs, and a
 * new chunk's first write costs three of them on each copy of the chain (the header at
 * creation, the piece, the header at the write's end), each one two wake-ups through the
 * pool. A write is slow when the kernel throttles a writer of too many dirty pages
 * (balance_dirty_pages) or the device is slow: then the disk's small writes, like its
 * reads, go back to the pool — one policy per disk, since both stall the same loop.
 */
export class InlineIo {
  private pausedUntil = 0;
  private lastSlow = -Infinity;
  /** Operations that were slow (how often the disk went back to the thread pool). */
  slow = 0;

  constructor(
    /** Slower than this, a read was the device's (tests under strace, where every syscall is slow, pass Infinity). */
    private readonly slowMs = INLINE_SLOW_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Whether a read of `bytes` may run on the event loop now. */
  allows(bytes: number): boolean {
    return bytes <= INLINE_IO_MAX && this.now() >= this.pausedUntil;
  }

  /** Whether a write of `bytes` may run on the event loop now. */
  allowsWrite(bytes: number): boolean {
    return bytes <= INLINE_WRITE_MAX && this.now() >= this.pausedUntil;
  }

  /** A read or write done on the event loop took `ms`. */
  took(ms: number): void {
    if (ms <= this.slowMs) return;
    this.slow++;
    const now = this.now();
    if (now - this.lastSlow <= INLINE_CONFIRM_MS) this.pausedUntil = now + INLINE_PAUSE_MS;
    this.lastSlow = now;
  }
}
