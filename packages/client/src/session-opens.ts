import { O_ACCMODE } from '@tsmfs/protocol';

/** Longest a release waits for a request to go out with (SessionOpens.defer). */
export const RELEASE_DEFER_MS = 100;

/** One file this session has open, as register's `opens` declares it. */
export interface OpenCount {
  inode: number;
  count: number;
  writing: boolean;
}

/**
 * A session's open files as the master counts them, and the releases not sent yet.
 *
 * The counts are told to a master that does not hold the session live when the session
 * re-attaches (register's `opens`): a new leader counts them again. A count drops when
 * its release has been sent, so a file whose release is still due is declared open and
 * gets that release after the registration.
 *
 * close(2)'s last release of a file is not sent at once: nobody waits for it (the kernel
 * sends RELEASE after close returned). It goes out right ahead of the session's next
 * request, in the same turn — the master takes both in one wake-up, in the order they
 * were made — or after RELEASE_DEFER_MS if no request comes (docs/client.md, "Deferred
 * releases"). Locks are not released by it (the mount unlocks first).
 */
export class SessionOpens {
  private readonly counts = new Map<number, OpenCount>();
  private due: number[] = [];
  private timer: NodeJS.Timeout | undefined;

  /** `flush`: sends the releases `takeDue` gives (the timer's way out). */
  constructor(private readonly flush: () => void) {}

  /** What register's `opens` declares. */
  get declared(): OpenCount[] {
    return [...this.counts.values()];
  }

  /** Whether releases wait to be sent. */
  get pending(): boolean {
    return this.due.length > 0;
  }

  /** An open (or a create that opened) of `inode` with `flags`, answered by the master. */
  opened(inode: number, flags: number): void {
    const o = this.counts.get(inode) ?? { inode, count: 0, writing: false };
    o.count++;
    o.writing ||= (flags & O_ACCMODE) !== 0;
    this.counts.set(inode, o);
  }

  /** A release of `inode` was sent (answered or not: the master drops the open either way once it has it). */
  released(inode: number): void {
    const o = this.counts.get(inode);
    if (o && --o.count === 0) this.counts.delete(inode);
  }

  /** A release to send with the next request, or after RELEASE_DEFER_MS. */
  defer(inode: number): void {
    this.due.push(inode);
    this.timer ??= setTimeout(() => this.flush(), RELEASE_DEFER_MS);
  }

  /** The releases due, in the order they were made; none is due after. */
  takeDue(): number[] {
    clearTimeout(this.timer);
    this.timer = undefined;
    const due = this.due;
    this.due = [];
    return due;
  }
}
