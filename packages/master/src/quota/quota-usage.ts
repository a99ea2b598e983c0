import { type Timespec } from '@tsmfs/protocol';
import { chunkDataSize } from '../chunks/tool-requests.js';
import { type Metadata, TYPE_CODE } from '../metadata/metadata.js';
import type { Mutation } from '../metadata/mutation.js';
import { forEachNode } from '../metadata/tree-walk.js';
import { QUOTA_KINDS, type QuotaEntry, type QuotaMutation, type Usage, hasLimits, zeroUsage } from './quota-table.js';

/**
 * The usage of every quota directory, kept as changes are applied (replay included, so a
 * follower or a restarted master has it too). What a node adds to a quota: 1 inode, and
 * for a file its length, the size of its chunks (whole 64 KiB blocks inside the length,
 * as mfsdirinfo counts) and that size times its goal. A file counts once in each quota
 * directory that holds at least one of its names (hard links elsewhere do not count it
 * twice); a file in the trash or sustained is in none (MooseFS does not count them either).
 *
 * Each change is bracketed: the nodes it touches are measured before and after, and each
 * quota they were in loses the old figures and each they are in gains the new ones. That
 * costs the depth of those nodes, and nothing at all while no quota exists. A directory
 * renamed from under one set of quotas to another carries its whole subtree: only then
 * (and for setgoal -r and snapshots, which walk their tree anyway) is a subtree walked.
 */
export class QuotaTracker {
  private readonly before = new Map<number, { dirs: Set<number>; stats: Usage }>();

  private constructor(private readonly md: Metadata) {}

  /** Measures what `m` is about to change; undefined when no quota exists (nothing to keep). */
  static before(md: Metadata, m: Mutation): QuotaTracker | undefined {
    if (md.quotas.size === 0 || m.op === 'quota') return undefined;
    const t = new QuotaTracker(md);
    for (const inode of touchedBefore(md, m)) t.measure(inode);
    return t;
  }

  private measure(inode: number): void {
    if (!this.before.has(inode)) this.before.set(inode, { dirs: quotaDirsOf(this.md, inode), stats: statsOf(this.md, inode) });
  }

  /** After `m` was applied: moves the difference into the quotas and restarts or stops soft timers. */
  after(m: Mutation): void {
    const md = this.md;
    const touched = new Set<number>();
    const settle = (inode: number, was: { dirs: Set<number>; stats: Usage } | undefined) => {
      if (was) for (const d of was.dirs) add(md.quotas.get(d), was.stats, -1, touched, d);
      const stats = statsOf(md, inode);
      for (const d of quotaDirsOf(md, inode)) add(md.quotas.get(d), stats, 1, touched, d);
    };
    for (const [inode, was] of this.before) settle(inode, was);
    for (const inode of touchedAfter(md, m)) if (!this.before.has(inode)) settle(inode, undefined);
    for (const d of touched) refreshSoftTimer(md.quotas.get(d), m.ts);
  }
}

function add(q: QuotaEntry | undefined, stats: Usage, sign: 1 | -1, touched: Set<number>, dir: number): void {
  if (!q) return;
  // Written out: this runs for every change under a quota, and a loop over the keys costs several times more.
  const u = q.usage;
  u.inodes += sign * stats.inodes;
  u.length += sign * stats.length;
  u.size += sign * stats.size;
  u.realsize += sign * stats.realsize;
  touched.add(dir);
}

/** The nodes whose figures or place `m` changes, found before it is applied. */
function touchedBefore(md: Metadata, m: Mutation): number[] {
  switch (m.op) {
    case 'link':
    case 'setattr':
    case 'length':
    case 'chunkAlloc':
    case 'chunkErase':
    case 'appendChunks':
    case 'undelete':
      return [m.inode];
    case 'unlink':
    case 'rmdir': {
      const v = md.lookup(m.parent, m.name);
      return v === undefined ? [] : [v];
    }
    case 'rename':
      return [...movedNodes(md, m.parent, m.name, m.newParent), ...movedNodes(md, m.newParent, m.newName, m.parent)];
    case 'setgoal':
    case 'setsclass':
      return m.recursive ? subtree(md, m.inode) : [m.inode];
    case 'snapshot': {
      // An overwrite changes what is there already; new nodes are found afterwards.
      const dst = md.lookup(m.parent, m.name);
      return dst === undefined ? [] : subtree(md, dst);
    }
    default:
      return [];
  }
}

/** Nodes that exist only after `m`: the created one, a snapshot's copies. */
function touchedAfter(md: Metadata, m: Mutation): number[] {
  if (m.op === 'create') return [m.inode];
  if (m.op === 'snapshot') {
    const out: number[] = [];
    for (let i = m.firstInode; i < md.nextInode; i++) out.push(i);
    return out;
  }
  return [];
}

/** What moves with `dir/name` when it is renamed into `otherDir`: a directory's whole subtree only when the quotas above differ. */
function movedNodes(md: Metadata, dir: number, name: string, otherDir: number): number[] {
  const v = md.lookup(dir, name);
  if (v === undefined) return [];
  if (!md.isDir(v) || dir === otherDir || sameSet(quotaDirsAbove(md, [dir]), quotaDirsAbove(md, [otherDir]))) return [v];
  return subtree(md, v);
}

function sameSet(a: Set<number>, b: Set<number>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

function subtree(md: Metadata, root: number): number[] {
  const out = new Set<number>();
  forEachNode(md, root, true, (inode) => out.add(inode));
  return [...out];
}

/**
 * The quota directories a node counts in: those above it, on the way up from each
 * directory it has a name in. A quota directory does not count itself (MooseFS counts
 * what is inside: `mfsgetquota` of a new directory shows 0 inodes).
 */
export function quotaDirsOf(md: Metadata, inode: number): Set<number> {
  const out = new Set<number>();
  if (md.quotas.size === 0 || !md.exists(inode)) return out;
  return quotaDirsAbove(md, md.isDir(inode) ? [md.parent[inode]!] : md.parents(inode), out);
}

/** The quota directories among `starts` and their ancestors: those a new name in one of `starts` enters. */
export function quotaDirsAbove(md: Metadata, starts: number[], out = new Set<number>()): Set<number> {
  if (md.quotas.size === 0) return out;
  if (starts.length === 1) {
    // One chain up (a directory, or a file with one name): nothing to meet twice.
    for (let d = starts[0]!; d !== 0; d = md.parent[d]!) if (md.quotas.has(d)) out.add(d);
    return out;
  }
  const seen = new Set<number>();
  for (const start of starts) {
    for (let d = start; d !== 0 && !seen.has(d); d = md.parent[d]!) {
      seen.add(d);
      if (md.quotas.has(d)) out.add(d);
    }
  }
  return out;
}

/** What one node adds to a quota; a file measured at `length` (default: its own). */
export function statsOf(md: Metadata, inode: number, length?: number): Usage {
  const s = zeroUsage();
  if (!md.exists(inode)) return s;
  s.inodes = 1;
  if (md.type[inode] !== TYPE_CODE.file) return s;
  const len = length ?? md.size[inode]!;
  s.length = len;
  md.forEachChunk(inode, (_id, index) => (s.size += chunkDataSize(len, index)));
  s.realsize = s.size * md.sclasses.copies(md.goal[inode]!);
  return s;
}

/**
 * A subtree's totals, each inode once: with its root for what a move or a snapshot
 * brings, without it for a quota's own usage (a new quota, a dump's recount).
 */
export function subtreeUsage(md: Metadata, root: number, withRoot = true): Usage {
  const total = zeroUsage();
  for (const inode of subtree(md, root)) {
    if (!withRoot && inode === root) continue;
    const s = statsOf(md, inode);
    for (const k of QUOTA_KINDS) total[k] += s[k];
  }
  return total;
}

/** Applies a quota entry: a new quota counts its subtree once; later changes keep the usage. */
export function applyQuota(md: Metadata, m: QuotaMutation): void {
  if (m.limits === null || !hasLimits(m.limits)) {
    md.quotas.delete(m.inode);
    return;
  }
  const old = md.quotas.get(m.inode);
  const q: QuotaEntry = { ...m.limits, usage: old?.usage ?? subtreeUsage(md, m.inode, false) };
  if (old?.softSince !== undefined) q.softSince = old.softSince;
  md.quotas.byDir.set(m.inode, q);
  refreshSoftTimer(q, m.ts);
}

/** Every quota's usage counted afresh (after loading a dump, which does not hold it). */
export function recountQuotas(md: Metadata): void {
  for (const [dir, q] of md.quotas.byDir) q.usage = subtreeUsage(md, dir, false);
}

/** A soft limit exceeded starts the grace timer (once); none exceeded stops it. */
function refreshSoftTimer(q: QuotaEntry | undefined, ts: Timespec): void {
  if (!q) return;
  const { soft, usage } = q;
  const over =
    (soft.inodes !== undefined && usage.inodes > soft.inodes) ||
    (soft.length !== undefined && usage.length > soft.length) ||
    (soft.size !== undefined && usage.size > soft.size) ||
    (soft.realsize !== undefined && usage.realsize > soft.realsize);
  if (!over) delete q.softSince;
  else if (q.softSince === undefined) q.softSince = ts.sec;
}
