import { CHUNK_SIZE, fail } from '@tsmfs/protocol';
import { chunkDataSize } from '../chunks/tool-requests.js';
import type { Metadata } from '../metadata/metadata.js';
import type { Mutation } from '../metadata/mutation.js';
import { slicedLength } from '../metadata/append-slice.js';
import { QUOTA_KINDS, type QuotaEntry, type Usage, zeroUsage } from './quota-table.js';
import { quotaDirsAbove, quotaDirsOf, statsOf, subtreeUsage } from './quota-usage.js';

/**
 * The master's refusal of a change that would take a quota past its limit (EDQUOT, as
 * MooseFS's MFS_ERROR_QUOTA reaches the mount): checked on the live path only, on the
 * entry about to be applied, once the request passed every other check (a mkdir of a
 * name that exists is EEXIST whatever the quota). A hard limit may be reached, never
 * passed; a soft limit may be passed while its grace period (started when it was first
 * passed) runs, and after that acts as a hard one until the usage is back under it.
 *
 * What grows: create/link/rename/snapshot add inodes (and a linked or moved file's
 * figures); a write adds length, size and realsize — checked exactly when it ends (the
 * length it reached), and at its grant when the grant needs a new chunk: then a quota
 * with no room left refuses before any byte is sent. A change that only shrinks usage
 * is never refused.
 */
export function checkQuota(md: Metadata, m: Mutation, defaultGrace: number): void {
  if (md.quotas.size === 0) return;
  const growth = growthOf(md, m);
  if (!growth) return;
  for (const dir of growth.dirs) {
    const q = md.quotas.get(dir);
    if (!q) continue;
    const kind = QUOTA_KINDS.find((k) => growth.delta[k] > 0 && passes(q, k, q.usage[k] + growth.delta[k], m.ts.sec, defaultGrace));
    if (kind !== undefined) throw fail('EDQUOT', `quota of ${md.isLinked(dir) ? md.dirPath(dir) : `inode ${dir}`}: ${kind} would pass its limit`);
  }
}

function passes(q: QuotaEntry, kind: (typeof QUOTA_KINDS)[number], value: number, nowSec: number, defaultGrace: number): boolean {
  const hard = q.hard[kind];
  if (hard !== undefined && value > hard) return true;
  const soft = q.soft[kind];
  return soft !== undefined && value > soft && q.softSince !== undefined && nowSec >= q.softSince + (q.grace || defaultGrace);
}

interface Growth {
  dirs: Iterable<number>;
  delta: Usage;
}

function growthOf(md: Metadata, m: Mutation): Growth | undefined {
  switch (m.op) {
    case 'create':
      return { dirs: quotaDirsAbove(md, [m.parent]), delta: { ...zeroUsage(), inodes: 1 } };
    case 'link':
      return { dirs: newDirs(md, quotaDirsAbove(md, [m.parent]), quotaDirsOf(md, m.inode)), delta: statsOf(md, m.inode) };
    case 'rename':
      return m.exchange ? undefined : renameGrowth(md, m.parent, m.name, m.newParent);
    case 'snapshot':
      return { dirs: quotaDirsAbove(md, [m.parent]), delta: snapshotGrowth(md, m) };
    case 'setattr':
      return m.size === undefined ? undefined : lengthGrowth(md, m.inode, m.size);
    case 'length':
      return lengthGrowth(md, m.inode, m.size);
    case 'chunkAlloc':
      return m.cowFrom === undefined ? newChunkGrowth(md, m.inode, m.index) : undefined;
    case 'appendChunks':
      return appendGrowth(md, m.inode, m.src, m.slice);
    default:
      return undefined;
  }
}

/** What a snapshot brings: its source's totals; with -c its copies keep as many copies as the class of the directory they land in. */
function snapshotGrowth(md: Metadata, m: Extract<Mutation, { op: 'snapshot' }>): Usage {
  const delta = subtreeUsage(md, m.inode);
  if (m.cplike) delta.realsize = delta.size * md.sclasses.copies(md.goal[m.parent]!);
  return delta;
}

/** The quotas `to` is under that `from` is not: those a move or a new name enters. */
function newDirs(md: Metadata, to: Set<number>, from: Set<number>): number[] {
  return [...to].filter((d) => !from.has(d) && md.quotas.has(d));
}

function renameGrowth(md: Metadata, dir: number, name: string, newDir: number): Growth | undefined {
  const node = md.lookup(dir, name);
  if (node === undefined || dir === newDir) return undefined;
  if (!md.isDir(node)) return { dirs: newDirs(md, quotaDirsAbove(md, [newDir]), quotaDirsOf(md, node)), delta: statsOf(md, node) };
  const dirs = newDirs(md, quotaDirsAbove(md, [newDir]), quotaDirsAbove(md, [dir]));
  // A directory carries its subtree: counted only when it enters another quota.
  return dirs.length === 0 ? undefined : { dirs, delta: subtreeUsage(md, node) };
}

function lengthGrowth(md: Metadata, inode: number, length: number): Growth | undefined {
  if (length <= md.size[inode]!) return undefined;
  return { dirs: quotaDirsOf(md, inode), delta: difference(statsOf(md, inode, length), statsOf(md, inode)) };
}

/**
 * A new chunk in an empty slot: its header at once, and inside the length its blocks; past
 * it, the blocks wait for the write's end. So a quota already full refuses the grant instead
 * of the end of a write already sent.
 */
function newChunkGrowth(md: Metadata, inode: number, index: number): Growth {
  const blocks = chunkDataSize(md.size[inode]!, index);
  const pastEnd = index * CHUNK_SIZE >= md.size[inode]! ? 1 : 0;
  return { dirs: quotaDirsOf(md, inode), delta: { inodes: 0, length: pastEnd, size: blocks, realsize: blocks * md.sclasses.copies(md.goal[inode]!) } };
}

/**
 * appendchunks: the file padded to a whole chunk plus the source's length (or its
 * slice's), with the source's chunks (those of the slice) after its own.
 */
function appendGrowth(md: Metadata, inode: number, src: number, slice: { from: number; to: number } | undefined): Growth {
  const base = Math.ceil(md.size[inode]! / CHUNK_SIZE);
  const { from, to } = slice ?? { from: 0, to: Infinity };
  const length = base * CHUNK_SIZE + (slice ? slicedLength(md.size[src]!, CHUNK_SIZE, slice) : md.size[src]!);
  const after = statsOf(md, inode, length);
  md.forEachChunk(src, (_id, index) => {
    if (index >= from && index < to) after.size += chunkDataSize(length, base + index - from);
  });
  after.realsize = after.size * md.sclasses.copies(md.goal[inode]!);
  return { dirs: quotaDirsOf(md, inode), delta: difference(after, statsOf(md, inode)) };
}

function difference(a: Usage, b: Usage): Usage {
  const d = zeroUsage();
  for (const k of QUOTA_KINDS) d[k] = a[k] - b[k];
  return d;
}
