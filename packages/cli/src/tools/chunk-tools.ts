import type { Reply } from '@tsmfs/protocol';
import type { PathResolver } from '../path-resolver.js';
import { type ToolIo, forEachPath, row } from '../tool-io.js';

/** MooseFS's chunk name: id as 16 hex digits, version as 8, upper case. */
export function chunkName(id: number, version: number): string {
  return `${id.toString(16).toUpperCase().padStart(16, '0')}_${version.toString(16).toUpperCase().padStart(8, '0')}`;
}

/** MooseFS's words for a copy's state; tsmfs's own for copies being made, which MooseFS does not list. */
const STATUS: Record<Reply<'fileinfo'>['chunks'][number]['copies'][number]['state'], string> = {
  valid: 'VALID',
  stale: 'WRONG VERSION',
  damaged: 'INVALID',
  replicating: 'BEING REPLICATED',
  creating: 'BEING CREATED',
};

/** An IPv4 address as a number, for mfsfileinfo's order of copies (by address, then port). */
const ipNumber = (host: string) => host.split('.').reduce((n, part) => n * 256 + (Number(part) || 0), 0);

/**
 * fileinfo's lines for one file, as mfsfileinfo (MooseFS 3.0.117) prints them, tabs
 * included: every chunk slot up to the last chunk (a hole: `chunk N: empty`), each
 * chunk's copies by address and port, then `no valid copies !!!` when none is valid.
 */
export function fileinfoLines(path: string, info: Reply<'fileinfo'>): string[] {
  const lines = [`${path}:`];
  const chunks = new Map(info.chunks.filter((c) => c.chunkId !== 0).map((c) => [c.index, c]));
  if (chunks.size === 0) lines.push('\tno chunks - empty file');
  const slots = Math.max(0, ...[...chunks.keys()].map((i) => i + 1));
  for (let index = 0; index < slots; index++) {
    const c = chunks.get(index);
    if (!c) {
      lines.push(`\tchunk ${index}: empty`);
      continue;
    }
    lines.push(`\tchunk ${c.index}: ${chunkName(c.chunkId, c.version)} / (id:${c.chunkId} ver:${c.version})`);
    const copies = [...c.copies].sort((a, b) => ipNumber(a.host) - ipNumber(b.host) || a.port - b.port);
    copies.forEach((x, i) => lines.push(`\t\tcopy ${i + 1}: ${x.host}:${x.port} (status:${STATUS[x.state]})`));
    if (!copies.some((x) => x.state === 'valid')) lines.push('\t\tno valid copies !!!');
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
    if (r.empty > 0) io.out(row(io, ' empty (zero) chunks:    ', r.empty));
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
