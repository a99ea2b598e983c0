import type { PathResolver } from '../path-resolver.js';
import { type ToolIo, forEachPath, row } from '../tool-io.js';
import { quotaLines } from './quota-tools.js';

/** dirinfo's numbers are all 64-bit; length, size and realsize are bytes. */
const WIDE = { wide: true };
const BYTES = { wide: true, bytes: true };

/**
 * dirinfo: MooseFS's `du -s` with inodes, directories, files, chunks, length, size and
 * realsize; a directory with a quota gets its quota table below (as getquota prints it).
 */
export function dirinfo(resolver: PathResolver, io: ToolIo, paths: readonly string[]) {
  return forEachPath(io, paths, async (path) => {
    const t = await resolver.resolve(path);
    const r = await t.session.call('dirinfo', { inode: t.inode });
    io.out(`${path}:`);
    io.out(row(io, ' inodes:       ', r.inodes, WIDE));
    io.out(row(io, '  directories: ', r.dirs, WIDE));
    io.out(row(io, '  files:       ', r.files, WIDE));
    io.out(row(io, ' chunks:       ', r.chunks, WIDE));
    io.out(row(io, ' length:       ', r.length, BYTES));
    io.out(row(io, ' size:         ', r.size, BYTES));
    io.out(row(io, ' realsize:     ', r.realsize, BYTES));
    if (!t.isDirectory) return;
    const q = await t.session.call('getquota', { inode: t.inode });
    if (q.quota) for (const line of quotaLines(' quota', q, io.format)) io.out(line);
  });
}
