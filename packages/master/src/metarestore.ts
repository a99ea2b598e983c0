import { closeSync, existsSync, fsyncSync, linkSync, openSync, readSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { type ChangelogEntry, DUMP_FILE, DumpError, EntryError, type NumberedFile, decodeEntry, firstVersion, listChangelogs, listDumps, listMlChangelogs, listMlDumps } from '@tsmfs/metastore';
import { applyMutation } from './metadata/apply.js';
import type { Metadata } from './metadata/metadata.js';
import type { Mutation } from './metadata/mutation.js';
import { decodeDump, encodeDump } from './metadata/metadata-dump.js';

/**
 * tsmfs-metarestore's work (MooseFS's mfsmetarestore): a dump plus every later
 * changelog entry, replayed with the master's own applyMutation, written as a new dump
 * the master starts from. It never writes anything unless the whole replay succeeded:
 * a damaged dump, a damaged line, or a hole in the versions stops it with the file and
 * the missing range named, and the output is written to a temp file renamed at the end.
 */

/** Input that cannot be restored; the message is what the operator reads. */
export class RestoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RestoreError';
  }
}

export interface RestoreInput {
  dump: string;
  changelogs: string[];
  out: string;
  /** Bytes read so far of `total` (dump + changelogs), for a progress bar. */
  onProgress?: (done: number, total: number) => void;
  warn?: (message: string) => void;
}

export interface RestoreResult {
  dumpVersion: number;
  version: number;
  applied: number;
  /** Entries at or below the version already reached: covered by the dump, or by another file (a master's and a metalogger's changelogs overlap). */
  skipped: number;
  out: string;
}

/** The newest dump and every changelog file in a master's or a metalogger's DATA_PATH. */
export function findRestoreInputs(dir: string): { dump: string; changelogs: string[]; olderDumps: string[] } {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new RestoreError(`${dir} is not a directory`);
  const dumps = [...listDumps(dir), ...listMlDumps(dir)]
    .map((f) => ({ path: f.path, version: headerVersion(f.path) }))
    .sort((a, b) => b.version - a.version);
  if (dumps.length === 0) {
    throw new RestoreError(`no metadata dump in ${dir} (looked for metadata.tsmfs, metadata_ml.tsmfs and their .back.N copies)`);
  }
  const changelogs = [...listChangelogs(dir), ...listMlChangelogs(dir)].map((f: NumberedFile) => f.path);
  return { dump: dumps[0]!.path, changelogs, olderDumps: dumps.slice(1).map((d) => d.path) };
}

/** A dump's version from its header; -1 when the header is unreadable (tried last). */
function headerVersion(path: string): number {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(20);
    const n = readSync(fd, buf, 0, 20, 0);
    if (n < 20 || buf.toString('latin1', 0, 8) !== 'TSMFSMD1') return -1;
    const v = buf.readDoubleLE(12);
    return Number.isSafeInteger(v) ? v : -1;
  } finally {
    closeSync(fd);
  }
}

export function restore(input: RestoreInput): RestoreResult {
  const files = input.changelogs.map((path) => ({ path, size: statSync(path).size, first: safeFirst(path) }));
  const total = statSync(input.dump).size + files.reduce((n, f) => n + f.size, 0);
  const md = loadDump(input.dump);
  const dumpVersion = md.version;
  let done = statSync(input.dump).size;
  input.onProgress?.(done, total);
  // Oldest first; a file whose first line cannot be read goes last, where a bad line or a
  // hole in it is reported with its name.
  files.sort((a, b) => (a.first ?? Infinity) - (b.first ?? Infinity));
  let applied = 0;
  let skipped = 0;
  for (const file of files) {
    forEachLine(file.path, live(file.path), input.warn, (line, lineNo, bytes) => {
      done += bytes;
      if (done % (1 << 22) < bytes) input.onProgress?.(done, total);
      const entry = decode(line, file.path, lineNo);
      if (entry === undefined) return;
      if (entry.version <= md.version) {
        skipped++;
        return;
      }
      if (entry.version !== md.version + 1) {
        throw new RestoreError(
          `versions ${md.version + 1}..${entry.version - 1} are missing: ${file.path}:${lineNo} continues with version ${entry.version} ` +
            `after version ${md.version} (from ${applied > 0 ? 'the changelogs' : `the dump ${input.dump}`}); ` +
            'find the changelog holding them (another metalogger, the old master) or restore only up to the gap with -m and the earlier files',
        );
      }
      applyMutation(md, entry.mutation);
      if (md.version !== entry.version) throw new RestoreError(`${file.path}:${lineNo}: entry ${entry.version} left the metadata at version ${md.version}`);
      applied++;
    });
  }
  input.onProgress?.(total, total);
  writeDumpAtomically(input.out, encodeDump(md));
  return { dumpVersion, version: md.version, applied, skipped, out: input.out };
}

function loadDump(path: string): Metadata {
  try {
    return decodeDump(readFileSync(path));
  } catch (err) {
    if (err instanceof DumpError) throw new RestoreError(`metadata dump ${path} is damaged (${err.message}): nothing was written`);
    throw err;
  }
}

function safeFirst(path: string): number | undefined {
  try {
    return firstVersion(path);
  } catch {
    return undefined;
  }
}

/** The file being appended to (changelog.0 / changelog_ml.0): a crash may have torn its last line. */
function live(path: string): boolean {
  return /^changelog(_ml)?\.0\.tsmfs$/.test(basename(path));
}

/**
 * Calls `each(line, lineNo, bytes)` for every complete line, reading in large pieces so a
 * million-line changelog is never held whole. A last line without its newline is torn:
 * allowed (and reported) only in a live file.
 */
function forEachLine(
  path: string,
  tailMayBeTorn: boolean,
  warn: ((message: string) => void) | undefined,
  each: (line: string, lineNo: number, bytes: number) => void,
): void {
  const fd = openSync(path, 'r');
  try {
    const chunk = Buffer.alloc(8 * 1024 * 1024);
    let carry = Buffer.alloc(0);
    let lineNo = 0;
    let pos = 0;
    let lastLine: { text: string; lineNo: number; bytes: number } | undefined;
    const flush = (): void => {
      if (!lastLine) return;
      const l = lastLine;
      lastLine = undefined;
      each(l.text, l.lineNo, l.bytes);
    };
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, pos);
      if (n === 0) break;
      pos += n;
      const buf = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, n)]) : chunk.subarray(0, n);
      let start = 0;
      let nl = buf.indexOf(0x0a, start);
      while (nl >= 0) {
        flush();
        lastLine = { text: buf.toString('utf8', start, nl), lineNo: ++lineNo, bytes: nl + 1 - start };
        start = nl + 1;
        nl = buf.indexOf(0x0a, start);
      }
      carry = Buffer.from(buf.subarray(start));
    }
    if (carry.length > 0) {
      flush();
      if (!tailMayBeTorn) throw new RestoreError(`${path}:${lineNo + 1}: damaged changelog entry (line has no end)`);
      warn?.(`${path}:${lineNo + 1}: ignoring a torn last line (written when the writer stopped; never acknowledged)`);
      return;
    }
    if (lastLine && tailMayBeTorn) {
      // The last complete line may still be damaged by a crash: tolerated there only.
      const l = lastLine;
      lastLine = undefined;
      try {
        decodeEntry(l.text);
      } catch (err) {
        if (!(err instanceof EntryError)) throw err;
        warn?.(`${path}:${l.lineNo}: ignoring a damaged last line (${err.reason})`);
        return;
      }
      each(l.text, l.lineNo, l.bytes);
    }
    flush();
  } finally {
    closeSync(fd);
  }
}

function decode(line: string, path: string, lineNo: number): ChangelogEntry<Mutation> | undefined {
  try {
    return decodeEntry<Mutation>(line);
  } catch (err) {
    if (err instanceof EntryError) throw new RestoreError(`${path}:${lineNo}: damaged changelog entry (${err.reason}): nothing was written`);
    throw err;
  }
}

/**
 * Temp file, fsync, then the current file (if any) is kept as OUT.back.1 (older backups
 * shifted up) and the temp file renamed over OUT: at no point is OUT half written.
 */
function writeDumpAtomically(out: string, bytes: Buffer): void {
  const dir = dirname(out);
  const tmp = join(dir, `${basename(out)}.restore.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  if (existsSync(out)) keepPrevious(out);
  renameSync(tmp, out);
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

function keepPrevious(out: string): void {
  let top = 1;
  while (existsSync(`${out}.back.${top}`)) top++;
  for (let n = top - 1; n >= 1; n--) renameSync(`${out}.back.${n}`, `${out}.back.${n + 1}`);
  linkSync(out, `${out}.back.1`);
}

/** Where `-a` writes: the master's dump name, so tsmfs-master starts from it. */
export function autoOutput(dir: string): string {
  return join(dir, DUMP_FILE);
}
