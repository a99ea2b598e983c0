import { closeSync, existsSync, openSync } from 'node:fs';
import { posix } from 'node:path';
import { Status, TsmfsError } from '@tsmfs/protocol';
import { type ExitCode, UsageError } from '../exit-codes.js';
import type { PathResolver, ToolTarget } from '../path-resolver.js';
import { type ToolIo, forEachPath } from '../tool-io.js';

/**
 * makesnapshot SRC… DST, like mfsmakesnapshot: with one SRC and a DST that does not
 * exist, DST is the snapshot's name; when DST is a directory, each SRC goes into it
 * under its own name. -o overwrites (merging directories, replacing files).
 */
export async function makesnapshot(resolver: PathResolver, io: ToolIo, sources: readonly string[], dst: string, overwrite: boolean): Promise<ExitCode> {
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
    await s.session.snapshot(s.inode, parent.inode, name, { overwrite });
  });
}

/**
 * appendchunks DST SRC…: DST gets the chunks of each SRC in turn (shared until written),
 * padded to whole chunks. A DST that does not exist is made empty first, through the
 * mount, as mfsappendchunks does (its open with O_CREAT).
 */
export async function appendchunks(resolver: PathResolver, io: ToolIo, dst: string, sources: readonly string[]): Promise<ExitCode> {
  if (!existsSync(dst)) closeSync(openSync(dst, 'a'));
  const d = await resolver.resolve(dst);
  if (d.isDirectory) throw new TsmfsError(Status.EISDIR, `${dst}: the destination must be a file`);
  return forEachPath(io, sources, async (src) => {
    const s = await resolver.resolve(src);
    if (s.fs !== d.fs) throw new TsmfsError(Status.EXDEV, 'source and destination are in different tsmfs mounts');
    await d.session.call('appendchunks', { cred: d.session.cred, inode: d.inode, src: s.inode });
  });
}

function isNotFound(err: unknown): boolean {
  return (err instanceof TsmfsError && err.status === Status.ENOENT) || (err as NodeJS.ErrnoException).code === 'ENOENT';
}
