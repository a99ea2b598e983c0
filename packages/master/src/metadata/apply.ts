import { type Attr, CHUNK_SIZE, EATTR, type GoalMode, type RecursiveCounts, type Timespec } from '@tsmfs/protocol';
import { type Metadata, TYPE_CODE, TYPE_NAME } from './metadata.js';
import { createPermBits } from '../acl/acl-table.js';
import { S_ISGID } from './permissions.js';
import type { Mutation, UnlinkFate } from './mutation.js';
import { applySeteattr, inheritedEattr } from './eattr.js';
import { slicedLength } from './append-slice.js';
import { forEachNode, keptPath, mayChangeGoal, walkTree } from './tree-walk.js';
import { QuotaTracker, applyQuota, recountQuotas } from '../quota/quota-usage.js';
import { applySClass } from '../sclass/sclass-table.js';
import { applyArchive, applySetsclass } from '../sclass/sclass-apply.js';

/**
 * Applies one changelog entry. Deterministic: everything it needs is in the entry or
 * the state (never the clock, never randomness, Map iteration in insertion order), so
 * replaying the changelog rebuilds exactly the live state.
 *
 * The entry was validated by `Namespace` (or was written by one that did): a violated
 * invariant here means a corrupt changelog and throws.
 *
 * Returns the counts of a setgoal/settrashtime/seteattr/setsclass (the only entries with a result the live
 * path needs), undefined otherwise.
 */
export function applyMutation(md: Metadata, m: Mutation): RecursiveCounts | undefined {
  let result: RecursiveCounts | undefined;
  const quotas = QuotaTracker.before(md, m);
  switch (m.op) {
    case 'create':
      applyCreate(md, m);
      break;
    case 'link':
      applyLink(md, m.ts, m.inode, m.parent, m.name);
      break;
    case 'unlink':
      removeName(md, m.ts, m.parent, m.name, m.fate);
      break;
    case 'rmdir':
      removeName(md, m.ts, m.parent, m.name, 'purge');
      break;
    case 'rename':
      if (m.exchange) applyExchange(md, m.ts, m.parent, m.name, m.newParent, m.newName);
      else applyRename(md, m.ts, m.parent, m.name, m.newParent, m.newName, m.replacedFate ?? 'purge');
      break;
    case 'setattr':
      applySetattr(md, m);
      break;
    case 'setxattr':
      applySetxattr(md, m.ts, m.inode, m.name, m.value);
      break;
    case 'removexattr':
      md.xattrs.get(m.inode)?.delete(m.name);
      if (md.xattrs.get(m.inode)?.size === 0) md.xattrs.delete(m.inode);
      md.setCtime(m.inode, m.ts);
      break;
    case 'setgoal':
    case 'settrashtime':
      result = applyGoalLike(md, m);
      break;
    case 'seteattr':
      result = applySeteattr(md, m);
      break;
    case 'snapshot':
      applySnapshot(md, m);
      break;
    case 'undelete':
      applyUndelete(md, m.ts, m.inode);
      break;
    case 'purge':
      freeNode(md, m.inode, m.ts);
      break;
    case 'sustain':
      md.sustained.set(m.inode, md.trash.get(m.inode)!);
      md.trash.delete(m.inode);
      break;
    case 'chunkAlloc':
      applyChunkAlloc(md, m);
      break;
    case 'chunkVersion':
      md.chunks.version[m.chunkId] = m.version;
      break;
    case 'chunksDeleted':
      md.chunks.forget(m.chunkIds);
      break;
    case 'length':
      md.size[m.inode] = m.size;
      md.eattr[m.inode] = md.eattr[m.inode]! & ~EATTR.snapshot;
      md.setMtime(m.inode, m.ts);
      md.setCtime(m.inode, m.ts);
      break;
    case 'chunkErase': {
      const id = md.chunkAt(m.inode, m.index);
      if (id !== 0) {
        md.setChunkAt(m.inode, m.index, 0);
        md.chunks.unref(id);
      }
      md.setCtime(m.inode, m.ts);
      break;
    }
    case 'appendChunks':
      applyAppendChunks(md, m);
      break;
    case 'session': {
      const { op: _op, ts: _ts, req: _req, ...rec } = m;
      md.clients.openSession(rec);
      break;
    }
    case 'sessionEnd':
      md.clients.endSession(m.id);
      break;
    case 'lock': {
      const { op: _op, ts: _ts, req: _req, held: _held, ...change } = m;
      md.clients.locks.apply(change);
      break;
    }
    case 'quota':
      applyQuota(md, m);
      break;
    case 'sclass': {
      const copies = md.sclasses.get(m.id) ? md.sclasses.copies(m.id) : 0;
      applySClass(md.sclasses, m);
      // realsize is size × the class's copies: a class keeping another number of copies changes it.
      if (md.quotas.size > 0 && m.def && md.sclasses.copies(m.id) !== copies) recountQuotas(md);
      break;
    }
    case 'setsclass':
      result = applySetsclass(md, m);
      break;
    case 'archive':
      result = applyArchive(md, m);
      break;
    case 'acl':
      md.acls.apply(m);
      if (m.kind === 'access') md.mode[m.inode] = m.mode;
      md.setCtime(m.inode, m.ts);
      break;
    default:
      throw new Error(`unknown mutation ${(m as { op: string }).op}`);
  }
  quotas?.after(m);
  md.version++;
  if (m.held && md.sustained.has(m.held.inode)) md.clients.sustainedBy.set(m.held.inode, m.held.sessions);
  if (m.req) md.clients.record(m.req, { version: md.version, ...resultAttr(md, m) });
  return result;
}

/**
 * The node a re-sent request's reply describes, as this entry left it: the new name's
 * node (create, link, snapshot) or the file appended to; nothing for the others.
 */
function resultAttr(md: Metadata, m: Mutation): { attr?: Attr } {
  let inode: number | undefined;
  if (m.op === 'create' || m.op === 'link' || m.op === 'snapshot') inode = md.lookup(m.parent, m.name);
  else if (m.op === 'appendChunks') inode = m.inode;
  return inode === undefined ? {} : { attr: md.attr(inode) };
}

/**
 * A directory's entries changed. As in MooseFS 3.0, a snapshot's directory changed so is
 * no longer the snapshot's (its `snapshot` mark goes, and rmsnapshot without -f refuses
 * its tree), as a snapshot's file is once its length changes ('length').
 */
function touchDir(md: Metadata, dir: number, ts: Timespec): void {
  md.setMtime(dir, ts);
  md.setCtime(dir, ts);
  md.eattr[dir] = md.eattr[dir]! & ~EATTR.snapshot;
}

function addName(md: Metadata, dir: number, name: string, inode: number): void {
  const entries = md.children.get(dir);
  if (!entries) throw new Error(`inode ${dir} is not a directory`);
  if (entries.has(name)) throw new Error(`${dir}/${name} exists`);
  entries.set(name, inode);
  md.addParent(inode, dir);
  if (md.type[inode] === TYPE_CODE.dir) {
    md.dirName.set(inode, name);
    md.nlink[dir]!++;
  }
}

/** Takes a name out of its directory; returns the inode it named. */
function dropName(md: Metadata, dir: number, name: string): number {
  const entries = md.children.get(dir);
  const inode = entries?.get(name);
  if (inode === undefined) throw new Error(`${dir}/${name} does not exist`);
  entries!.delete(name);
  md.removeParent(inode, dir);
  if (md.type[inode] === TYPE_CODE.dir) {
    md.dirName.delete(inode);
    md.nlink[dir]!--;
  }
  return inode;
}

function applyCreate(md: Metadata, m: Extract<Mutation, { op: 'create' }>): void {
  const i = m.inode;
  md.takeInode(i);
  md.type[i] = TYPE_CODE[m.type];
  md.mode[i] = m.mode;
  md.uid[i] = m.uid;
  md.gid[i] = m.gid;
  md.rdev[i] = m.rdev;
  md.goal[i] = md.goal[m.parent]!;
  md.trashtime[i] = md.trashtime[m.parent]!;
  md.eattr[i] = inheritedEattr(md, m.parent, m.type === 'dir');
  md.acls.inherit(m.parent, i, m.type);
  md.setAtime(i, m.ts);
  md.setMtime(i, m.ts);
  md.setCtime(i, m.ts);
  md.size[i] = 0;
  if (m.type === 'dir') {
    md.nlink[i] = 2;
    md.children.set(i, new Map());
  } else {
    md.nlink[i] = 1;
  }
  if (m.type === 'symlink') {
    const target = m.target ?? '';
    md.symlinkTarget.set(i, target);
    md.size[i] = Buffer.byteLength(target);
  }
  addName(md, m.parent, m.name, i);
  touchDir(md, m.parent, m.ts);
}

function applyLink(md: Metadata, ts: Timespec, inode: number, dir: number, name: string): void {
  addName(md, dir, name, inode);
  md.nlink[inode]!++;
  md.setCtime(inode, ts);
  touchDir(md, dir, ts);
}

/** unlink and rmdir: the name goes; the node goes too when it was its last name. */
function removeName(md: Metadata, ts: Timespec, dir: number, name: string, fate: UnlinkFate): void {
  // Only a kept file needs its path: rm -r of a deep chain must not walk up from every level.
  const path = fate === 'purge' ? '' : keptPath(md, dir, name);
  const inode = dropName(md, dir, name);
  touchDir(md, dir, ts);
  dropLink(md, inode, ts, fate, path);
}

/** One name of `inode` is gone: count it down and settle the node's fate at zero. */
function dropLink(md: Metadata, inode: number, ts: Timespec, fate: UnlinkFate, path: string): void {
  if (md.type[inode] === TYPE_CODE.dir) {
    freeNode(md, inode, ts);
    return;
  }
  md.nlink[inode]!--;
  md.setCtime(inode, ts);
  if (md.nlink[inode]! > 0) return;
  if (fate === 'trash') md.trash.set(inode, { path, deletedAt: ts.sec });
  else if (fate === 'sustained') md.sustained.set(inode, { path, deletedAt: ts.sec });
  else freeNode(md, inode, ts);
}

/** The node is gone for good: its chunks lose a reference, its id waits for reuse. */
function freeNode(md: Metadata, inode: number, ts: Timespec): void {
  md.clients.sustainedBy.delete(inode);
  if (md.type[inode] === TYPE_CODE.file) {
    md.forEachChunk(inode, (id) => md.chunks.unref(id));
  }
  md.releaseInode(inode, ts.sec);
}

function applyRename(
  md: Metadata,
  ts: Timespec,
  dir: number,
  name: string,
  newDir: number,
  newName: string,
  replacedFate: UnlinkFate,
): void {
  const replaced = md.lookup(newDir, newName);
  if (replaced !== undefined) {
    const path = replacedFate === 'purge' ? '' : keptPath(md, newDir, newName);
    dropName(md, newDir, newName);
    dropLink(md, replaced, ts, replacedFate, path);
  }
  const inode = dropName(md, dir, name);
  addName(md, newDir, newName, inode);
  md.setCtime(inode, ts);
  touchDir(md, dir, ts);
  touchDir(md, newDir, ts);
}

/** RENAME_EXCHANGE: the two names swap the nodes they point at. */
function applyExchange(md: Metadata, ts: Timespec, dir: number, name: string, newDir: number, newName: string): void {
  const a = dropName(md, dir, name);
  const b = dropName(md, newDir, newName);
  addName(md, dir, name, b);
  addName(md, newDir, newName, a);
  md.setCtime(a, ts);
  md.setCtime(b, ts);
  touchDir(md, dir, ts);
  touchDir(md, newDir, ts);
}

function applySetattr(md: Metadata, m: Extract<Mutation, { op: 'setattr' }>): void {
  const i = m.inode;
  if (m.mode !== undefined) md.mode[i] = m.mode;
  if (m.uid !== undefined) md.uid[i] = m.uid;
  if (m.gid !== undefined) md.gid[i] = m.gid;
  if (m.size !== undefined) truncate(md, i, m.size);
  if (m.atime !== undefined) md.setAtime(i, m.atime);
  if (m.mtime !== undefined) md.setMtime(i, m.mtime);
  md.setCtime(i, m.ts);
}

/** Sets the length; chunks wholly past the new end lose their reference. */
function truncate(md: Metadata, inode: number, size: number): void {
  md.size[inode] = size;
  for (const id of md.chunkLists.cut(inode, Math.ceil(size / CHUNK_SIZE))) md.chunks.unref(id);
}

function applySetxattr(md: Metadata, ts: Timespec, inode: number, name: string, value: Uint8Array): void {
  let attrs = md.xattrs.get(inode);
  if (!attrs) md.xattrs.set(inode, (attrs = new Map()));
  attrs.set(name, Uint8Array.from(value));
  md.setCtime(inode, ts);
}

/**
 * setgoal / settrashtime, optionally over a whole tree (pre-order, entries in readdir
 * order). A non-root caller changes only what it owns, like mfssetgoal -r.
 */
function applyGoalLike(md: Metadata, m: Extract<Mutation, { op: 'setgoal' | 'settrashtime' }>): RecursiveCounts {
  const column = m.op === 'setgoal' ? md.goal : md.trashtime;
  const counts: RecursiveCounts = { changed: 0, notChanged: 0, denied: 0 };
  forEachNode(md, m.inode, m.recursive, (inode) => {
    if (!mayChangeGoal(md, inode, m.uid)) {
      counts.denied++;
      return;
    }
    const next = m.op === 'setgoal' ? goalClass(md, column[inode]!, m.value, m.mode) : goalValue(column[inode]!, m.value, m.mode);
    if (next === column[inode]) {
      counts.notChanged++;
    } else {
      column[inode] = next;
      md.setCtime(inode, m.ts);
      counts.changed++;
    }
  });
  return counts;
}

/**
 * setgoal N sets class N (the plain goal); GOAL+ and GOAL- compare N with the copies the
 * node's class keeps, so a node in a labelled class keeps it unless N is more (less).
 */
function goalClass(md: Metadata, current: number, value: number, mode: GoalMode): number {
  if (mode === 'set') return value;
  const copies = md.sclasses.copies(current);
  return (mode === 'increase' ? value > copies : value < copies) ? value : current;
}

function goalValue(current: number, value: number, mode: GoalMode): number {
  if (mode === 'increase') return Math.max(current, value);
  if (mode === 'decrease') return Math.min(current, value);
  return value;
}

/**
 * A snapshot copies the tree at `inode` to parent/name. New nodes take consecutive ids
 * from `firstInode` (always the next fresh id) in pre-order; files share their chunks
 * (refcount + 1). With `overwrite`, an existing directory is merged into and an existing
 * file gets the source's chunks and length in place (MooseFS's makesnapshot -o). With
 * `preserveHardlinks` (-p), a file with several names met again in the walk gets a name
 * in the copy, not a second copy (MooseFS keeps no other names: those outside the source
 * make nothing).
 */
function applySnapshot(md: Metadata, m: SnapshotMutation): void {
  if (m.firstInode !== md.nextInode) throw new Error(`snapshot ids start at ${md.nextInode}, not ${m.firstInode}`);
  // The context of each source node is the directory its copy goes into.
  const merged = md.lookup(m.parent, m.name) !== undefined;
  const copies = m.preserveHardlinks ? new Map<number, number>() : undefined;
  walkTree(md, m.inode, (src, name, dir) => copyInto(md, m, src, dir, name, copies), { name: m.name, ctx: m.parent });
  const mark = md.eattr[m.parent]!;
  touchDir(md, m.parent, m.ts);
  // Merged into an existing name (-o): the parent's names are as they were, and so is its mark (MooseFS 3.0).
  if (merged) md.eattr[m.parent] = mark;
}

type SnapshotMutation = Extract<Mutation, { op: 'snapshot' }>;

/**
 * Copies one node into `dir` (or merges it into what is there); returns the copy, whose
 * entries come next. `copies` (-p): the copy made of each file with several names.
 */
function copyInto(md: Metadata, m: SnapshotMutation, src: number, dir: number, name: string, copies: Map<number, number> | undefined): number | undefined {
  // A tree copied into its own parent would otherwise meet its own copy on the way.
  if (src === dir) return undefined;
  const existing = md.lookup(dir, name);
  if (existing === undefined) {
    const linked = copies?.get(src);
    if (linked !== undefined) {
      // A link, without touching the copy's directory: it keeps its source's times and its snapshot mark (MooseFS 3.0).
      addName(md, dir, name, linked);
      md.nlink[linked]!++;
      md.setCtime(linked, m.ts);
      return undefined;
    }
    const dst = md.nextInode;
    copyNode(md, m, src, dst, dir);
    addName(md, dir, name, dst);
    if (copies && md.type[src] !== TYPE_CODE.dir && md.nlink[src]! > 1) copies.set(src, dst);
    return dst;
  }
  if (md.type[src] === TYPE_CODE.file) {
    truncate(md, existing, 0);
    copyFileContents(md, src, existing);
    md.setMtime(existing, m.ts);
    md.setCtime(existing, m.ts);
  }
  // -c over an existing node: it becomes the caller's, with the source's mode less the umask (MooseFS 3.0).
  if (m.cplike) {
    md.uid[existing] = m.uid;
    md.gid[existing] = m.gid;
    md.mode[existing] = md.mode[src]! & ~m.cplike.umask;
    md.setCtime(existing, m.ts);
  }
  return existing;
}

function copyNode(md: Metadata, m: SnapshotMutation, src: number, dst: number, dir: number): void {
  md.takeInode(dst);
  md.type[dst] = md.type[src]!;
  md.rdev[dst] = md.rdev[src]!;
  md.nlink[dst] = md.type[src] === TYPE_CODE.dir ? 2 : 1;
  if (md.type[src] === TYPE_CODE.dir) md.children.set(dst, new Map());
  const target = md.symlinkTarget.get(src);
  if (target !== undefined) md.symlinkTarget.set(dst, target);
  if (m.cplike) cplikeAttrs(md, m, src, dst, dir, m.cplike.umask);
  else keptAttrs(md, m, src, dst);
  // mfsrmsnapshot removes only what carries the mark.
  md.eattr[dst] = md.eattr[dst]! | EATTR.snapshot;
  md.size[dst] = md.size[src]!;
  if (md.type[src] === TYPE_CODE.file) copyFileContents(md, src, dst);
}

/**
 * A plain snapshot's copy keeps its source's attributes, times, xattrs and ACLs. Root's
 * copy keeps owners, and so does the owner's (`ownerRule`); anyone else's copy is theirs,
 * without setuid and setgid (MooseFS 3.0: mode & 01777).
 */
function keptAttrs(md: Metadata, m: SnapshotMutation, src: number, dst: number): void {
  const keepsOwners = m.uid === 0 || (m.ownerRule === true && m.uid === md.uid[src]);
  md.mode[dst] = keepsOwners || !m.ownerRule ? md.mode[src]! : md.mode[src]! & 0o1777;
  md.uid[dst] = keepsOwners ? md.uid[src]! : m.uid;
  md.gid[dst] = keepsOwners ? md.gid[src]! : m.gid;
  md.goal[dst] = md.goal[src]!;
  md.trashtime[dst] = md.trashtime[src]!;
  md.eattr[dst] = md.eattr[src]!;
  md.atimeS[dst] = md.atimeS[src]!;
  md.atimeNs[dst] = md.atimeNs[src]!;
  md.mtimeS[dst] = md.mtimeS[src]!;
  md.mtimeNs[dst] = md.mtimeNs[src]!;
  md.setCtime(dst, m.ts);
  const attrs = md.xattrs.get(src);
  if (attrs) md.xattrs.set(dst, new Map(attrs));
  md.acls.copy(src, dst);
}

/**
 * makesnapshot -c, as MooseFS 3.0.117 does it (checked with its tools as a non-root
 * user): the copy is made as a create by the caller in its new directory would be:
 * the caller's uid and gid (the directory's gid under a setgid directory), the source's
 * mode less the umask (or masked by the directory's default ACL, which it inherits; the
 * setuid and setgid bits stay, and a directory gets no setgid of its own), all three
 * times now, and the goal, trash time and inherited extra attributes of its new
 * directory. No xattr or ACL of the source comes along.
 */
function cplikeAttrs(md: Metadata, m: SnapshotMutation, src: number, dst: number, dir: number, umask: number): void {
  const type = TYPE_NAME[md.type[src]!]!;
  // A symlink's mode too, unlike a create's (MooseFS masks it like any other node's).
  md.mode[dst] = createPermBits(md.acls, dir, type === 'symlink' ? 'file' : type, md.mode[src]! & 0o7777, umask);
  md.uid[dst] = m.uid;
  md.gid[dst] = md.mode[dir]! & S_ISGID ? md.gid[dir]! : m.gid;
  md.goal[dst] = md.goal[dir]!;
  md.trashtime[dst] = md.trashtime[dir]!;
  md.eattr[dst] = inheritedEattr(md, dir, type === 'dir');
  md.acls.inherit(dir, dst, type);
  md.setAtime(dst, m.ts);
  md.setMtime(dst, m.ts);
  md.setCtime(dst, m.ts);
}

function copyFileContents(md: Metadata, src: number, dst: number): void {
  md.forEachChunk(src, (id, index) => {
    md.chunks.ref(id);
    md.setChunkAt(dst, index, id);
  });
  md.size[dst] = md.size[src]!;
}

function applyUndelete(md: Metadata, ts: Timespec, inode: number): void {
  const kept = md.trash.get(inode);
  if (!kept) throw new Error(`inode ${inode} is not in trash`);
  const cut = kept.path.lastIndexOf('/');
  const dir = md.resolvePath(kept.path.slice(0, cut));
  if (dir === undefined) throw new Error(`undelete: ${kept.path} has no parent`);
  md.trash.delete(inode);
  addName(md, dir, kept.path.slice(cut + 1), inode);
  md.nlink[inode] = 1;
  md.setCtime(inode, ts);
  touchDir(md, dir, ts);
}

function applyChunkAlloc(md: Metadata, m: Extract<Mutation, { op: 'chunkAlloc' }>): void {
  const old = md.chunkAt(m.inode, m.index);
  md.chunks.create(m.chunkId, m.version, m.cowFrom);
  if (old !== 0) md.chunks.unref(old);
  md.setChunkAt(m.inode, m.index, m.chunkId);
}

/**
 * MooseFS's appendchunks: the destination is padded to a whole chunk, then shares the
 * source's chunks (with `slice`, chunks [from, to) only, the first of them landing right
 * after the padding).
 */
function applyAppendChunks(md: Metadata, m: Extract<Mutation, { op: 'appendChunks' }>): void {
  const base = Math.ceil(md.size[m.inode]! / CHUNK_SIZE);
  const { from, to } = m.slice ?? { from: 0, to: Infinity };
  // A copy of the list: the source was the destination itself in entries logged before that was refused.
  for (const [index, id] of md.chunkEntries(m.src)) {
    if (index < from || index >= to) continue;
    md.chunks.ref(id);
    md.setChunkAt(m.inode, base + index - from, id);
  }
  md.size[m.inode] = base * CHUNK_SIZE + (m.slice ? slicedLength(md.size[m.src]!, CHUNK_SIZE, m.slice) : md.size[m.src]!);
  md.setMtime(m.inode, m.ts);
  md.setCtime(m.inode, m.ts);
}
