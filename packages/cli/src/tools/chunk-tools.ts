import type { Reply } from '@tsmfs/protocol';
import type { PathResolver } from '../path-resolver.js';
import { type ToolIo, forEachPath, row } from '../tool-io.js';

/** MooseFS's chunk name: id as 16 hex digits, version as 8, upper case. */
export function chunkName(id: number, version: number): string {
  return `${id.toString(16).toUpperCase().padStart(16, '0')}_${version.toString(16).toUpperCase().padStart(8, '0')}`;
}

/** fileinfo's lines for one file (MooseFS's mfsfileinfo layout, tabs included). */
export function fileinfoLines(path: string, info: Reply<'fileinfo'>): string[] {
  const lines = [`${path}:`];
  const chunks = info.chunks.filter((c) => c.chunkId !== 0);
  if (chunks.length === 0) lines.push('\tno chunks - empty file');
  for (const c of chunks) {
    lines.push(`\tchunk ${c.index}: ${chunkName(c.chunkId, c.version)} / (id:${c.chunkId} ver:${c.version})`);
    // Valid copies first, as they are what readers use.
    const copies = [...c.copies].sort((a, b) => Number(b.state === 'valid') - Number(a.state === 'valid') || a.csid - b.csid);
    if (!copies.some((x) => x.state === 'valid')) lines.push('\t\tno valid copies !!!');
    copies.forEach((x, i) => {
      const status = x.state === 'replicating' ? 'BEING REPLICATED' : x.state.toUpperCase();
      const extra = x.state === 'stale' || x.state === 'damaged' ? ` ver:${x.version}` : '';
      lines.push(`\t\tcopy ${i + 1}: ${x.host}:${x.port} (status:${status}${extra})`);
    });
  }
  return lines;
}

export function fileinfo(resolver: PathResolver, io: ToolIo, paths: readonly string[]) {
  return forEachPath(io, paths, async (path) => {
    const t = await resolver.resolve(path);
    for (const l of fileinfoLines(path, await t.session.fileinfo(t.inode))) io.out(l);
  });
}

/** checkfile: the file's chunks counted by number of valid copies. */
export function checkfile(resolver: PathResolver, io: ToolIo, paths: readonly string[]) {
  return forEachPath(io, paths, async (path) => {
    const t = await resolver.resolve(path);
    const r = await t.session.call('checkfile', { inode: t.inode });
    io.out(`${path}:`);
    // mfscheckfile's rows: 0-9 copies, then every chunk with 10 or more in one.
    const byCopies = [...r.copies.slice(0, 10), r.copies.slice(10).reduce((a, b) => a + b, 0)];
    byCopies.forEach((n, copies) => {
      const label = copies === 1 ? ' chunks with 1 copy:    ' : copies === 10 ? ' chunks with 10+ copies:' : ` chunks with ${copies} copies:  `;
      if (n > 0) io.out(row(io, `${label} `, n));
    });
  });
}

/** filerepair: what it mended, in MooseFS's terms. */
export function filerepair(resolver: PathResolver, io: ToolIo, paths: readonly string[]) {
  return forEachPath(io, paths, async (path) => {
    const t = await resolver.resolve(path);
    const r = await t.session.call('filerepair', { cred: t.session.cred, inode: t.inode });
    io.out(`${path}:`);
    io.out(row(io, ' chunks not changed: ', r.notChanged));
    io.out(row(io, ' chunks erased:      ', r.erased));
    io.out(row(io, ' chunks repaired:    ', r.repaired));
  });
}
