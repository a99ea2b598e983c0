import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { firstVersion, listChangelogs } from '@tsmfs/metastore';
import { ChangelogWindow } from './changelog-window.js';

/** What a follower asking for the entries after a version gets. */
export type FeedRead =
  | { kind: 'entries'; lines: string; first: number; last: number }
  /** Nothing durable after that version yet: wait. */
  | { kind: 'none' }
  /** The version is not held any more (or is ahead of the master): download a dump. */
  | { kind: 'dump'; reason: string };

export interface ChangelogFeedOptions {
  dir: string;
  /** Highest durable version (changelog.durableUpTo). */
  durable: () => number;
  /** MATOML_LOG_PRESERVE_SECONDS: how long durable lines stay in memory. */
  preserveMs: number;
  /** Memory cap of the in-memory window whatever its age (a burst must not eat the heap). */
  maxMemoryBytes?: number;
  now?: () => number;
}

/**
 * Counted in the window's real bytes (UTF-8 + 4 per line). 64 MiB holds ~450,000 create
 * entries: a follower further behind than that reads the same lines from the changelog
 * files, so the cap changes where lines come from, never what a follower gets.
 */
const DEFAULT_MAX_MEMORY = 64 * 1024 * 1024;

/**
 * The changelog as followers read it: the last MATOML_LOG_PRESERVE_SECONDS of durable
 * lines in memory (the real-time path, like MooseFS's in-memory "old changes"), and
 * before that the changelog files still in DATA_PATH (BACK_LOGS of them). A version in
 * neither is gone: the follower must start again from a dump.
 *
 * Only durable lines are ever served: the window is filled from the changelog's durable
 * batches, and file reads stop at the durable version (changelog.0 may hold a written
 * but not yet fsynced tail).
 */
export class ChangelogFeed {
  private readonly window = new ChangelogWindow();
  private readonly files = new FileIndexCache();

  constructor(private readonly options: ChangelogFeedOptions) {}

  /** A durable batch (from Changelog.onDurable). */
  add(first: number, lines: readonly string[]): void {
    const now = this.now();
    // First batch, or a jump (never expected): restart the window at this batch.
    if (this.window.size === 0 || first !== this.window.firstVersion + this.window.size) this.window.reset(first);
    this.window.push(lines, now);
    this.trim(now);
  }

  /** Up to `maxBytes` of lines after `after` (at least one line when there is one). */
  read(after: number, maxBytes: number): FeedRead {
    const durable = this.options.durable();
    if (after === durable) return { kind: 'none' };
    if (after > durable) {
      return { kind: 'dump', reason: `follower is at version ${after}, ahead of this master (${durable}): its changelog is from another history` };
    }
    const want = after + 1;
    if (this.window.size > 0 && this.window.firstVersion <= want) return this.fromMemory(want, durable, maxBytes);
    return this.fromFiles(want, durable, maxBytes);
  }

  /** Lowest version the window holds (0 = empty); for the status log. */
  get oldestInMemory(): number {
    return this.window.size > 0 ? this.window.firstVersion : 0;
  }

  private fromMemory(want: number, durable: number, maxBytes: number): FeedRead {
    if (want >= this.window.firstVersion + this.window.size) return { kind: 'none' };
    const { text, last } = this.window.read(want, durable, maxBytes);
    return { kind: 'entries', lines: text, first: want, last };
  }

  private fromFiles(want: number, durable: number, maxBytes: number): FeedRead {
    const newestFirst = listChangelogs(this.options.dir);
    let oldest: number | undefined;
    for (const file of newestFirst) {
      const first = safeFirstVersion(file.path);
      if (first === undefined) continue;
      oldest = first;
      if (first > want) continue;
      const got = this.files.read(file.path, want, durable, maxBytes);
      if (got) return { kind: 'entries', ...got };
      break;
    }
    return {
      kind: 'dump',
      reason: `version ${want} is no longer kept by the master (oldest changelog entry kept: ${oldest ?? 'none'})`,
    };
  }

  private trim(now: number): void {
    const maxBytes = this.options.maxMemoryBytes ?? DEFAULT_MAX_MEMORY;
    this.window.trim((addedAt) => addedAt < now - this.options.preserveMs, maxBytes);
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}

function safeFirstVersion(path: string): number | undefined {
  try {
    return firstVersion(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // rotated away meanwhile
    throw err;
  }
}

/** Byte offsets of a changelog file's complete lines; extended as the file grows. */
interface FileIndex {
  ino: number;
  first: number;
  /** starts[k] = offset of line k (version first + k); starts[count] = end of the last complete line. */
  starts: number[];
  scanned: number;
  /** A line whose version does not follow: the index stops before it. */
  broken: boolean;
}

const SCAN_CHUNK = 4 * 1024 * 1024;

/**
 * Serves ranges of lines from changelog files without re-reading them: each file is
 * indexed once (line offsets, keyed by inode, so a rotation's rename keeps the index)
 * and extended when it has grown (changelog.0).
 */
class FileIndexCache {
  private readonly byIno = new Map<number, FileIndex>();

  read(path: string, want: number, durable: number, maxBytes: number): { lines: string; first: number; last: number } | undefined {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const idx = this.indexOf(fd);
      if (!idx) return undefined;
      const count = idx.starts.length - 1;
      const from = want - idx.first;
      if (from < 0 || from >= count) return undefined;
      let to = from + 1;
      const lastAllowed = Math.min(count, durable - idx.first + 1);
      if (lastAllowed <= from) return undefined;
      while (to < lastAllowed && idx.starts[to + 1]! - idx.starts[from]! <= maxBytes) to++;
      const start = idx.starts[from]!;
      const buf = Buffer.alloc(idx.starts[to]! - start);
      readSync(fd, buf, 0, buf.length, start);
      return { lines: buf.toString('utf8'), first: want, last: idx.first + to - 1 };
    } finally {
      closeSync(fd);
    }
  }

  private indexOf(fd: number): FileIndex | undefined {
    const st = fstatSync(fd);
    let idx = this.byIno.get(st.ino);
    // An inode number is reused once a rotated-away file is deleted: check it is the same file.
    if (idx && (st.size < idx.scanned || (idx.first >= 0 && firstLineVersion(fd) !== idx.first))) idx = undefined;
    if (!idx) {
      idx = { ino: st.ino, first: -1, starts: [0], scanned: 0, broken: false };
      if (this.byIno.size > 64) this.byIno.clear();
      this.byIno.set(st.ino, idx);
    }
    if (!idx.broken && st.size > idx.scanned) extend(idx, fd, st.size);
    return idx.first < 0 ? undefined : idx;
  }
}

/** Indexes the complete lines between the last indexed one and `size`. */
function extend(idx: FileIndex, fd: number, size: number): void {
  let pos = idx.starts[idx.starts.length - 1]!;
  const buf = Buffer.alloc(SCAN_CHUNK);
  while (pos < size && !idx.broken) {
    const n = readSync(fd, buf, 0, Math.min(SCAN_CHUNK, size - pos), pos);
    if (n <= 0) break;
    let lineStart = 0;
    let nl = buf.indexOf(0x0a, 0);
    while (nl >= 0 && nl < n) {
      const version = leadingVersion(buf, lineStart, nl);
      const expected = idx.first < 0 ? version : idx.first + idx.starts.length - 1;
      if (version === undefined || version !== expected) {
        idx.broken = true;
        break;
      }
      if (idx.first < 0) idx.first = version;
      idx.starts.push(pos + nl + 1);
      lineStart = nl + 1;
      nl = buf.indexOf(0x0a, lineStart);
    }
    if (lineStart === 0 && !idx.broken) {
      if (n === SCAN_CHUNK) throw new Error('changelog line longer than the scan buffer');
      break; // an incomplete last line: wait for the rest
    }
    pos += lineStart;
  }
  idx.scanned = idx.starts[idx.starts.length - 1]!;
}

function leadingVersion(buf: Buffer, start: number, end: number): number | undefined {
  const bar = buf.indexOf(0x7c, start);
  if (bar < 0 || bar > end || bar === start || bar - start > 16) return undefined;
  const text = buf.toString('latin1', start, bar);
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

function firstLineVersion(fd: number): number | undefined {
  const buf = Buffer.alloc(24);
  const n = readSync(fd, buf, 0, buf.length, 0);
  return leadingVersion(buf, 0, n);
}
