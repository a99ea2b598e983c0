import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { PathResolver } from '../path-resolver.js';
import { type ToolIo, forEachPath } from '../tool-io.js';

/**
 * filepaths (MooseFS's mfsfilepaths): every path of each OBJECT, one per hard link, and
 * where it was removed from when it is in the trash or sustained. An argument of digits
 * that names no file is an inode number of the mount the current directory is in (as
 * MooseFS: "the tool has to be run in mfs mounted directory"). Paths are printed inside
 * that mount; names outside its export are not shown.
 */
export function filepaths(resolver: PathResolver, io: ToolIo, args: readonly string[]) {
  return forEachPath(io, args, async (arg) => {
    const byInode = /^[0-9]+$/.test(arg) && !existsSync(arg);
    const t = await resolver.resolve(byInode ? '.' : arg);
    const r = await t.session.call('filepaths', { inode: byInode ? Number(arg) : t.inode });
    io.out(`${arg}:`);
    for (const p of r.paths) io.out(`\t${join(t.fs, p)}`);
    if (r.removed) io.out(`\t${r.removed.trash ? 'trash' : 'sustained'}: ${join(t.fs, r.removed.path)}`);
  });
}
