import type { RecursiveCounts } from '@tsmfs/protocol';
import type { Metadata } from '../metadata/metadata.js';
import { forEachNode, mayChangeGoal } from '../metadata/tree-walk.js';
import type { SClassMutation } from './sclass-table.js';

/**
 * Applies a 'setsclass' entry (setsclass, xchgsclass, copysclass): the class on the node
 * or its whole tree, pre-order, with setgoal's per-node rule (the owner or root; the
 * others count as denied). xchgsclass (`from`) changes only nodes in that class; the
 * others count as not changed, as mfsxchgsclass prints them.
 */
export function applySetsclass(md: Metadata, m: Extract<SClassMutation, { op: 'setsclass' }>): RecursiveCounts {
  const counts: RecursiveCounts = { changed: 0, notChanged: 0, denied: 0 };
  forEachNode(md, m.inode, m.recursive, (inode) => {
    if (!mayChangeGoal(md, inode, m.uid)) {
      counts.denied++;
      return;
    }
    if (md.goal[inode] === m.id || (m.from !== undefined && md.goal[inode] !== m.from)) {
      counts.notChanged++;
      return;
    }
    md.goal[inode] = m.id;
    md.setCtime(inode, m.ts);
    counts.changed++;
  });
  return counts;
}

/** How many nodes are in each class: a class in use is not deleted (mfsscadmin delete). */
export function nodesByClass(md: Metadata): Map<number, { files: number; dirs: number }> {
  const out = new Map<number, { files: number; dirs: number }>();
  for (const inode of md.inodes()) {
    const id = md.goal[inode]!;
    let row = out.get(id);
    if (!row) out.set(id, (row = { files: 0, dirs: 0 }));
    if (md.isDir(inode)) row.dirs++;
    else row.files++;
  }
  return out;
}

/**
 * Whether a file is archived at `nowSec`: setarchive said so, or its class has archive
 * labels and a delay and the file has not changed (ctime) for that many days. MooseFS
 * keeps the state per chunk; tsmfs per file, so a file is never "partially archived".
 */
export function isArchived(md: Metadata, inode: number, nowSec: number): boolean {
  if (md.sclasses.archived.has(inode)) return true;
  const def = md.sclasses.get(md.goal[inode]!);
  return def !== undefined && def.archive !== '' && def.archiveDelay > 0 && nowSec - md.ctimeS[inode]! >= def.archiveDelay * 86_400;
}

/**
 * Applies an 'archive' entry to the files of a node's tree: counts chunks changed and not
 * changed and files denied (setgoal's rule: the owner or root), as mfssetarchive prints.
 */
export function applyArchive(md: Metadata, m: Extract<SClassMutation, { op: 'archive' }>): RecursiveCounts {
  const counts: RecursiveCounts = { changed: 0, notChanged: 0, denied: 0 };
  forEachNode(md, m.inode, true, (inode) => {
    if (md.typeOf(inode) !== 'file') return;
    if (!mayChangeGoal(md, inode, m.uid)) {
      counts.denied++;
      return;
    }
    let chunks = 0;
    md.forEachChunk(inode, () => chunks++);
    const was = isArchived(md, inode, m.ts.sec);
    if (m.on) md.sclasses.archived.add(inode);
    else {
      md.sclasses.archived.delete(inode);
      md.setCtime(inode, m.ts);
    }
    if (was === m.on) counts.notChanged += chunks;
    else counts.changed += chunks;
  });
  return counts;
}

/**
 * mfschkarchive's figures for a node's tree. A file without chunks is in none of them:
 * MooseFS keeps the archive mark per chunk, so it counts a file by its chunks' marks and
 * an empty one neither way (its chkarchive prints the five counts, all 0).
 */
export function archiveState(md: Metadata, root: number, nowSec: number): { archivedFiles: number; notArchivedFiles: number; archivedChunks: number; notArchivedChunks: number } {
  const out = { archivedFiles: 0, notArchivedFiles: 0, archivedChunks: 0, notArchivedChunks: 0 };
  forEachNode(md, root, true, (inode) => {
    if (md.typeOf(inode) !== 'file') return;
    let chunks = 0;
    md.forEachChunk(inode, () => chunks++);
    if (chunks === 0) return;
    if (isArchived(md, inode, nowSec)) {
      out.archivedFiles++;
      out.archivedChunks += chunks;
    } else {
      out.notArchivedFiles++;
      out.notArchivedChunks += chunks;
    }
  });
  return out;
}
