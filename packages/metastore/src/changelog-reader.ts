import { closeSync, openSync, readFileSync, readSync, truncateSync } from 'node:fs';
import { type ChangelogEntry, EntryError, type LoggedMutation, decodeEntry } from './changelog-entry.js';
import { type NumberedFile, listChangelogs } from './data-path.js';

/** A changelog that cannot be replayed: a damaged line before the tail, or missing versions. */
export class ChangelogError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChangelogError';
  }
}

export interface ChangelogFileScan {
  path: string;
  /** The file's entries above `keepAfter` (all of them by default). */
  entries: ChangelogEntry[];
  /** Lines before entries[0]: verified, at or below `keepAfter`. */
  skipped: number;
  /** Bytes up to the end of the last good line: where appending may resume. */
  goodLength: number;
  /** Set when the last line was torn or damaged and has been dropped. */
  tornTail?: { line: number; reason: string };
}

/**
 * Reads one changelog file and verifies every line. Only the last line may be bad, and
 * only when `tailMayBeTorn` (the newest file, the one a crash could have cut): a write
 * interrupted mid-line is never applied half, it is dropped. A bad line anywhere else
 * means the file was damaged after it was written, which replay must not paper over.
 *
 * Entries at or below `keepAfter` are verified like the others but not kept: at start-up
 * the previous changelog is usually all below the dump, and holding it decoded cost more
 * memory than the metadata it had built (issue 11).
 */
export function readChangelogFile(path: string, tailMayBeTorn: boolean, keepAfter = -Infinity): ChangelogFileScan {
  const buf = readFileSync(path);
  const entries: ChangelogEntry[] = [];
  let prev: ChangelogEntry | undefined;
  let skipped = 0;
  let start = 0;
  let lineNo = 0;
  while (start < buf.length) {
    lineNo++;
    const nl = buf.indexOf(0x0a, start);
    const complete = nl >= 0;
    const end = complete ? nl : buf.length;
    const isLast = !complete || nl + 1 >= buf.length;
    let entry: ChangelogEntry;
    try {
      if (!complete) throw new EntryError('line has no end (write interrupted)');
      entry = decodeEntry(buf.toString('utf8', start, end));
      checkFollows(prev, entry, path, lineNo);
    } catch (err) {
      if (!(err instanceof EntryError)) throw err;
      if (isLast && tailMayBeTorn) return { path, entries, skipped, goodLength: start, tornTail: { line: lineNo, reason: err.reason } };
      throw new ChangelogError(`${path}:${lineNo}: damaged changelog entry (${err.reason})`);
    }
    if (entry.version > keepAfter) entries.push(entry);
    else skipped++;
    prev = entry;
    start = end + 1;
  }
  return { path, entries, skipped, goodLength: buf.length };
}

function checkFollows(prev: ChangelogEntry | undefined, entry: ChangelogEntry, path: string, lineNo: number): void {
  if (prev === undefined || entry.version === prev.version + 1) return;
  if (entry.version <= prev.version) {
    throw new ChangelogError(`${path}:${lineNo}: version ${entry.version} does not follow ${prev.version}`);
  }
  throw new ChangelogError(`${path}:${lineNo}: versions ${prev.version + 1}..${entry.version - 1} are missing`);
}

export interface ReplayResult {
  /** Version of the last entry applied (= `after` when there was nothing newer). */
  lastVersion: number;
  applied: number;
  /** The newest file's torn tail, already cut off the file. */
  tornTail?: { path: string; line: number; reason: string };
}

/**
 * Feeds `apply` every entry newer than `after`, in version order, across the changelog
 * files in `dir` (oldest first). Files wholly at or below `after` are skipped without
 * being read. Versions must continue from `after` without a hole; a hole is an error
 * naming the missing range, since applying past it would build a different file system.
 * A torn last line of the newest file is dropped and cut off the file, so that appending
 * resumes after the last good line.
 */
export function replayChangelogs<M extends LoggedMutation = LoggedMutation>(
  dir: string,
  after: number,
  apply: (e: ChangelogEntry<M>) => void,
): ReplayResult {
  const files = filesNeeded(listChangelogs(dir), after);
  let current = after;
  let applied = 0;
  let tornTail: ReplayResult['tornTail'];
  for (const [i, file] of files.entries()) {
    const newest = i === files.length - 1;
    const scan = readChangelogFile(file.path, newest, current);
    for (const [idx, entry] of scan.entries.entries()) {
      if (entry.version <= current) continue;
      if (entry.version !== current + 1) {
        throw new ChangelogError(
          `${file.path}:${scan.skipped + idx + 1}: versions ${current + 1}..${entry.version - 1} are missing from the changelogs (found ${entry.version} next)`,
        );
      }
      apply(entry as ChangelogEntry<M>);
      current = entry.version;
      applied++;
    }
    if (scan.tornTail) {
      truncateSync(file.path, scan.goodLength);
      tornTail = { path: file.path, ...scan.tornTail };
    }
  }
  return { lastVersion: current, applied, tornTail };
}

/**
 * The files that may hold versions after `after`, oldest first: walking from the newest,
 * every file down to the first one that starts at or before `after + 1`.
 */
function filesNeeded(newestFirst: NumberedFile[], after: number): NumberedFile[] {
  const needed: NumberedFile[] = [];
  for (const file of newestFirst) {
    needed.push(file);
    const first = firstVersion(file.path);
    if (first !== undefined && first <= after + 1) break;
  }
  return needed.reverse();
}

/** Longer than any entry (an xattr value is at most 64 KiB, ~88 KiB as base64). */
const PEEK_BYTES = 1 << 20;

/** Version of a file's first line, or undefined if the file is empty or that line is bad. */
export function firstVersion(path: string): number | undefined {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(PEEK_BYTES);
    const n = readSync(fd, buf, 0, PEEK_BYTES, 0);
    const nl = buf.subarray(0, n).indexOf(0x0a);
    if (nl < 0) return undefined;
    return decodeEntry(buf.toString('utf8', 0, nl)).version;
  } catch (err) {
    if (err instanceof EntryError) return undefined;
    throw err;
  } finally {
    closeSync(fd);
  }
}
