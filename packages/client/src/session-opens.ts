import { type MessageName, O_ACCMODE } from '@tsmfs/protocol';

/** Longest a release waits to go out (SessionOpens.defer). */
export const RELEASE_DEFER_MS = 100;
/**
 * Releases that make a batch go out at once (a long run of opens and closes). Below the
 * protocol's MAX_RELEASES, so that whatever is due always fits in one request.
 */
export const RELEASE_BATCH = 1024;
/** Opens held at most (SessionOpens.hold); past it the oldest is released. A held open costs the master an open-file entry of the session, as MooseFS counts its own open files. */
export const MAX_HELD = 65_536;

/**
 * The requests whose outcome depends on whether this session still holds a file open:
 * the releases due go out ahead of them. An unlink or a rename over a name removes a file
 * at once when nobody holds it open, and keeps it (sustained) until its last release
 * otherwise: `rm` right after `close` must not leave the master a sustained file to purge.
 */
export function releasesFirst(name: MessageName): boolean {
  return name === 'unlink' || name === 'rename';
}

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
 * sends RELEASE after close returned). The releases due go out together, in the order
 * they were made, in one `releases` request: RELEASE_DEFER_MS after the first, or at
 * RELEASE_BATCH of them, or right ahead of a request that depends on them (releasesFirst),
 * or when the session closes (docs/client.md, "Deferred releases"). A master counts a
 * file open a little longer than the client does; nothing waits for that but the space of
 * a file another session removed meanwhile. Locks are not released by it (the mount
 * unlocks first).
 */
export class SessionOpens {
  private readonly counts = new Map<number, OpenCount>();
  /** Files closed here whose open the master still counts, to be opened again without asking (hold). */
  private readonly held = new Set<number>();
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

  /** A release to send with the others due (see the class). */
  defer(inode: number): void {
    this.due.push(inode);
    if (this.due.length >= RELEASE_BATCH) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), RELEASE_DEFER_MS);
  }

  /**
   * Instead of a release: the master keeps counting one open of `inode` for this session,
   * so that the next open for reading is answered here (reopen). A client holds only
   * what another session's change would make it let go of (the mount: files whose
   * attributes it holds a lease on, docs/mount.md, "Opens held"). False, and nothing held,
   * when `inode` is held already (a second close sends its release).
   */
  hold(inode: number): boolean {
    if (this.held.has(inode)) return false;
    this.held.add(inode);
    if (this.held.size > MAX_HELD) this.letGo([this.held.values().next().value!]);
    return true;
  }

  /** Takes the held open of `inode` for an open for reading; false: none is held. */
  reopen(inode: number): boolean {
    return this.held.delete(inode);
  }

  /** Whether an open of `inode` is held. */
  holds(inode: number): boolean {
    return this.held.has(inode);
  }

  /** Releases these held opens (those not held are skipped); all of them when none is named. */
  letGo(inodes?: Iterable<number>): void {
    for (const inode of inodes ? [...inodes] : [...this.held]) if (this.held.delete(inode)) this.defer(inode);
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
