import { closeSync, existsSync, openSync } from 'node:fs';
import { posix } from 'node:path';
import { Status, TsmfsError } from '@tsmfs/protocol';
import { type ExitCode, UsageError } from '../exit-codes.js';
import type { PathResolver, ToolTarget } from '../path-resolver.js';
import { type ToolIo, forEachPath } from '../tool-io.js';

/** makesnapshot's -o, -c and -p (mfsmakesnapshot's). */
export interface SnapshotFlags {
  overwrite: boolean;
  /** -c: the copies are made as the caller's cp would make them (the tool sends its umask). */
  cplike: boolean;
  /** -p: files hard-linked to each other inside a SRC stay so in the copy. */
  preserveHardlinks: boolean;
}

/**
 * makesnapshot SRC… DST, like mfsmakesnapshot: with one SRC and a DST that does not
 * exist, DST is the snapshot's name; when DST is a directory, each SRC goes into it
 * under its own name. -o overwrites (merging directories, replacing files).
 */
export async function makesnapshot(resolver: PathResolver, io: ToolIo, sources: readonly string[], dst: string, flags: SnapshotFlags): Promise<ExitCode> {
  let into: ToolTarget | undefined;
  try {
    const d = await resolver.resolve(dst);
    if (d.isDirectory) into = d;
  } catch (err) {
    if (!(isNotFound(err))) throw err;
  }
  if (!into && sources.length > 1) throw new UsageError(`${dst}: with several sources the destination must be an existing directory`);
  return forEachPath(io, sources, async (src) => {
    const s = await resolver.resolve(src);
    const { parent, name } = into ? { parent: into, name: posix.basename(src.replace(/\/+$/, '')) } : await resolver.resolveNew(dst);
    if (parent.fs !== s.fs) throw new TsmfsError(Status.EXDEV, 'source and destination are in different tsmfs mounts');
    await s.session.snapshot(s.inode, parent.inode, name, {
      overwrite: flags.overwrite,
      ...(flags.cplike ? { cplike: true, umask: currentUmask() } : {}),
      ...(flags.preserveHardlinks ? { preserveHardlinks: true } : {}),
    });
  });
}

/** appendchunks -s FROM:TO: chunk indexes, absent for the start or the end. */
export interface ChunkSlice {
  from?: number;
  to?: number;
}

/** Indexes past ±(2^32 - 1) are refused, with mfsappendchunks's words. */
const SLICE_LIMIT = 0xffff_ffff;

/**
 * Parses -s FROM:TO as mfsappendchunks does (strtol-like numbers, optional sign and
 * leading blanks; either side may be empty). Anything else is a usage error.
 */
export function parseSlice(text: string): ChunkSlice {
  const m = /^\s*([+-]?\d*)\s*:\s*([+-]?\d*)$/.exec(text);
  const side = (t: string | undefined) => (t === undefined || t === '' ? undefined : Number(t));
  if (!m || /^[+-]$/.test(m[1]!) || /^[+-]$/.test(m[2]!)) throw new UsageError(`bad slice '${text}': FROM:TO expected (either may be empty)`);
  const slice = { from: side(m[1]), to: side(m[2]) };
  if ([slice.from, slice.to].some((i) => i !== undefined && Math.abs(i) > SLICE_LIMIT)) throw new UsageError('bad slice indexes');
  return Object.fromEntries(Object.entries(slice).filter(([, v]) => v !== undefined));
}

/**
 * appendchunks DST SRC…: DST gets the chunks of each SRC in turn (shared until written),
 * padded to whole chunks; with a slice, only those chunks of each SRC. A DST that does
 * not exist is made empty first, through the mount, as mfsappendchunks does (its open
 * with O_CREAT).
 */
export async function appendchunks(resolver: PathResolver, io: ToolIo, dst: string, sources: readonly string[], slice: ChunkSlice = {}): Promise<ExitCode> {
  if (!existsSync(dst)) closeSync(openSync(dst, 'a'));
  const d = await resolver.resolve(dst);
  if (d.isDirectory) throw new TsmfsError(Status.EISDIR, `${dst}: the destination must be a file`);
  return forEachPath(io, sources, async (src) => {
    const s = await resolver.resolve(src);
    if (s.fs !== d.fs) throw new TsmfsError(Status.EXDEV, 'source and destination are in different tsmfs mounts');
    await d.session.call('appendchunks', { cred: d.session.cred, inode: d.inode, src: s.inode, ...slice });
  });
}

function isNotFound(err: unknown): boolean {
  return (err instanceof TsmfsError && err.status === Status.ENOENT) || (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/** The process's umask, left as it was (Node reads it only by setting it). */
function currentUmask(): number {
  const mask = process.umask(0o022);
  process.umask(mask);
  return mask;
}
