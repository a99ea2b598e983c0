import type { PathResolver } from '../path-resolver.js';
import { type ToolIo, forEachPath, row } from '../tool-io.js';
import { quotaLines } from './quota-tools.js';

/**
 * dirinfo: MooseFS's `du -s` with inodes, directories, files, chunks, length, size and
 * realsize; a directory with a quota gets its quota table below (as getquota prints it).
 */
export function dirinfo(resolver: PathResolver, io: ToolIo, paths: readonly string[]) {
  return forEachPath(io, paths, async (path) => {
    const t = await resolver.resolve(path);
    const r = await t.session.call('dirinfo', { inode: t.inode });
    io.out(`${path}:`);
    io.out(row(io, ' inodes:       ', r.inodes, 20));
    io.out(row(io, '  directories: ', r.dirs, 20));
    io.out(row(io, '  files:       ', r.files, 20));
    io.out(row(io, ' chunks:       ', r.chunks, 20));
    io.out(row(io, ' length:       ', r.length, 20));
    io.out(row(io, ' size:         ', r.size, 20));
    io.out(row(io, ' realsize:     ', r.realsize, 20));
    if (!t.isDirectory) return;
    const q = await t.session.call('getquota', { inode: t.inode });
    if (q.quota) for (const line of quotaLines(' quota', q, io.format)) io.out(line);
  });
}
