import { type Attr, type NodeType, ROOT_INODE, type Timespec } from '@tsmfs/protocol';
import { ChunkLists } from './chunk-lists.js';
import { ChunkTable } from './chunk-table.js';
import { ClientState } from './client-state.js';
import { QuotaTable } from '../quota/quota-table.js';
import { SClassTable } from '../sclass/sclass-table.js';
import { AclTable } from '../acl/acl-table.js';

/** Node types as stored in the `type` column; 0 marks a free slot. */
export const TYPE_CODE: Readonly<Record<NodeType, number>> = {
  file: 1,
  dir: 2,
  symlink: 3,
  fifo: 4,
  socket: 5,
  chardev: 6,
  blockdev: 7,
};
export const TYPE_NAME: readonly (NodeType | undefined)[] = [
  undefined,
  'file',
  'dir',
  'symlink',
  'fifo',
  'socket',
  'chardev',
  'blockdev',
];

/** MooseFS's defaults for a new file system: one copy, one day in trash. */
export const DEFAULT_ROOT_GOAL = 1;
export const DEFAULT_ROOT_TRASHTIME = 86_400;
export const DEFAULT_ROOT_MODE = 0o755;

/**
 * A freed inode id may be handed out again once this many seconds (by the mutations'
 * own timestamps, so replay decides the same) have passed: long enough that no client
 * still caches the old file under that number, short enough that the table stays dense.
 */
export const INODE_REUSE_DELAY = 3600;

/** Where an unlinked file that is kept (trash or sustained) came from. */
export interface KeptFile {
  /** Absolute path of its last name, as it was when removed. */
  path: string;
  /** Seconds, from the unlinking mutation's ts. */
  deletedAt: number;
}

const INITIAL_CAPACITY = 1024;

/**
 * The master's metadata. Inode attributes are columns (typed arrays indexed by inode
 * id, grown by doubling) so that a million files cost ~80 bytes each for the table plus
 * their directory entry; everything rare (xattrs, symlink targets, extra hard-link
 * parents) lives in side maps keyed by inode, and chunk lists in `ChunkLists`.
 *
 * This class only stores; `applyMutation` changes it and `Namespace` decides.
 */
export class Metadata {
  /** Last applied metadata version: the number of mutations applied since the empty fs. */
  version = 0;

  capacity = INITIAL_CAPACITY;
  type = new Uint8Array(INITIAL_CAPACITY);
  mode = new Uint16Array(INITIAL_CAPACITY);
  uid = new Uint32Array(INITIAL_CAPACITY);
  gid = new Uint32Array(INITIAL_CAPACITY);
  nlink = new Uint32Array(INITIAL_CAPACITY);
  goal = new Uint8Array(INITIAL_CAPACITY);
  trashtime = new Uint32Array(INITIAL_CAPACITY);
  /** MooseFS's extra attributes (eattr.ts), one bit each. */
  eattr = new Uint8Array(INITIAL_CAPACITY);
  atimeS = new Float64Array(INITIAL_CAPACITY);
  atimeNs = new Uint32Array(INITIAL_CAPACITY);
  mtimeS = new Float64Array(INITIAL_CAPACITY);
  mtimeNs = new Uint32Array(INITIAL_CAPACITY);
  ctimeS = new Float64Array(INITIAL_CAPACITY);
  ctimeNs = new Uint32Array(INITIAL_CAPACITY);
  size = new Float64Array(INITIAL_CAPACITY);
  rdev = new Uint32Array(INITIAL_CAPACITY);
  /** First parent (0 for the root and for unlinked files); more in `extraParents`. */
  parent = new Uint32Array(INITIAL_CAPACITY);

  /** Directory inode → its entries, in insertion order (the readdir order). */
  readonly children = new Map<number, Map<string, number>>();
  /** Directory inode → its own name (root absent): paths in O(depth). */
  readonly dirName = new Map<number, string>();
  /** Hard-linked files: parents beyond the first, one per extra link (repeats allowed). */
  readonly extraParents = new Map<number, number[]>();
  readonly symlinkTarget = new Map<number, string>();
  readonly xattrs = new Map<number, Map<string, Uint8Array>>();
  readonly chunkLists = new ChunkLists(INITIAL_CAPACITY);
  readonly chunks = new ChunkTable();
  readonly trash = new Map<number, KeptFile>();
  readonly sustained = new Map<number, KeptFile>();
  /** Sessions and the request-id table (client-state.ts): what a takeover keeps for clients. */
  clients = new ClientState();
  /** Directory quotas (quota/): limits, and usage kept by apply. */
  quotas = new QuotaTable();
  /** Storage classes (sclass/): the `goal` column holds a class id; 1–9 are the plain goals. */
  sclasses = new SClassTable();
  /** POSIX ACLs (acl/): access ACLs' extended parts, directories' default ACLs. */
  acls = new AclTable();

  nextInode = ROOT_INODE + 1;
  /** Freed inode ids (FIFO) and when they were freed: reusable after INODE_REUSE_DELAY. */
  freeIds: number[] = [];
  freeAt: number[] = [];
  freeHead = 0;
  /** Inodes in use, including trash and sustained. */
  inodeCount = 0;
  /**
   * Times a directory left a parent (rename, rmdir): only then can a node's ancestry
   * change, so caches of it (export-scope.ts) hold until this moves. Not state: never dumped.
   */
  dirMoves = 0;

  exists(inode: number): boolean {
    return inode > 0 && inode < this.capacity && this.type[inode] !== 0;
  }

  typeOf(inode: number): NodeType | undefined {
    return inode > 0 && inode < this.capacity ? TYPE_NAME[this.type[inode]!] : undefined;
  }

  isDir(inode: number): boolean {
    return this.exists(inode) && this.type[inode] === TYPE_CODE.dir;
  }

  /** Reachable from the root through at least one name (not trash, not sustained). */
  isLinked(inode: number): boolean {
    return this.exists(inode) && !this.trash.has(inode) && !this.sustained.has(inode);
  }

  lookup(dir: number, name: string): number | undefined {
    return this.children.get(dir)?.get(name);
  }

  attr(inode: number): Attr {
    const a: Attr = {
      inode,
      type: TYPE_NAME[this.type[inode]!]!,
      mode: this.mode[inode]!,
      uid: this.uid[inode]!,
      gid: this.gid[inode]!,
      atime: { sec: this.atimeS[inode]!, nsec: this.atimeNs[inode]! },
      mtime: { sec: this.mtimeS[inode]!, nsec: this.mtimeNs[inode]! },
      ctime: { sec: this.ctimeS[inode]!, nsec: this.ctimeNs[inode]! },
      nlink: this.nlink[inode]!,
      size: this.size[inode]!,
      rdev: this.rdev[inode]!,
      goal: this.goal[inode]!,
      trashtime: this.trashtime[inode]!,
    };
    if (this.eattr[inode] !== 0) a.eattr = this.eattr[inode]!;
    return a;
  }

  setAtime(inode: number, ts: Timespec): void {
    this.atimeS[inode] = ts.sec;
    this.atimeNs[inode] = ts.nsec;
  }
  setMtime(inode: number, ts: Timespec): void {
    this.mtimeS[inode] = ts.sec;
    this.mtimeNs[inode] = ts.nsec;
  }
  setCtime(inode: number, ts: Timespec): void {
    this.ctimeS[inode] = ts.sec;
    this.ctimeNs[inode] = ts.nsec;
  }

  /** Every parent of a linked inode, one per name (a file linked twice in a dir: twice). */
  parents(inode: number): number[] {
    const first = this.parent[inode]!;
    if (first === 0) return [];
    const extra = this.extraParents.get(inode);
    return extra ? [first, ...extra] : [first];
  }

  addParent(inode: number, dir: number): void {
    if (this.parent[inode] === 0) {
      this.parent[inode] = dir;
      return;
    }
    const extra = this.extraParents.get(inode);
    if (extra) extra.push(dir);
    else this.extraParents.set(inode, [dir]);
  }

  removeParent(inode: number, dir: number): void {
    if (this.type[inode] === TYPE_CODE.dir) this.dirMoves++;
    const extra = this.extraParents.get(inode);
    if (this.parent[inode] === dir) {
      this.parent[inode] = extra ? extra.shift()! : 0;
    } else {
      const i = extra ? extra.indexOf(dir) : -1;
      if (i < 0) throw new Error(`inode ${inode} has no parent ${dir}`);
      extra!.splice(i, 1);
    }
    if (extra && extra.length === 0) this.extraParents.delete(inode);
  }

  /** Absolute path of a directory ("/" for the root). */
  dirPath(dir: number): string {
    const names: string[] = [];
    for (let d = dir; d !== ROOT_INODE; d = this.parent[d]!) {
      const name = this.dirName.get(d);
      if (name === undefined) throw new Error(`directory ${d} is not linked`);
      names.push(name);
    }
    return '/' + names.reverse().join('/');
  }

  /** Absolute path of entry `name` in directory `dir`. */
  entryPath(dir: number, name: string): string {
    const p = this.dirPath(dir);
    return p === '/' ? `/${name}` : `${p}/${name}`;
  }

  /** Is `ancestor` the directory `dir` itself or one of its ancestors? */
  isAncestorOrSelf(ancestor: number, dir: number): boolean {
    for (let d = dir; d !== 0; d = this.parent[d]!) if (d === ancestor) return true;
    return false;
  }

  /** Resolves an absolute path to an inode, following no symlinks. */
  resolvePath(path: string): number | undefined {
    let node: number | undefined = ROOT_INODE;
    for (const part of path.split('/')) {
      if (part === '') continue;
      node = this.lookup(node, part);
      if (node === undefined) return undefined;
    }
    return node;
  }

  // ---- chunk lists ------------------------------------------------------------------

  chunkAt(inode: number, index: number): number {
    return this.chunkLists.get(inode, index);
  }

  setChunkAt(inode: number, index: number, id: number): void {
    this.chunkLists.set(inode, index, id);
  }

  /** Every chunk of the file (holes skipped), ascending by index. */
  forEachChunk(inode: number, fn: (id: number, index: number) => void): void {
    this.chunkLists.forEach(inode, fn);
  }

  /** The file's chunks as [index, id] pairs, ascending: a copy, safe to hold while the list changes. */
  chunkEntries(inode: number): [number, number][] {
    const out: [number, number][] = [];
    this.chunkLists.forEach(inode, (id, index) => out.push([index, id]));
    return out;
  }

  /** Highest index holding a chunk, plus one. */
  chunkSlots(inode: number): number {
    return this.chunkLists.slots(inode);
  }

  // ---- inode ids --------------------------------------------------------------------

  /** The id the next new inode gets at time `sec`: the oldest freed id once it is old enough. */
  peekNewInode(sec: number): number {
    if (this.freeHead < this.freeIds.length && this.freeAt[this.freeHead]! + INODE_REUSE_DELAY <= sec) {
      return this.freeIds[this.freeHead]!;
    }
    return this.nextInode;
  }

  /** Marks `inode` used; it must be the reusable free id or the next fresh one. */
  takeInode(inode: number): void {
    if (this.freeHead < this.freeIds.length && this.freeIds[this.freeHead] === inode) {
      this.freeHead++;
      this.compactFreeList();
    } else if (inode === this.nextInode) {
      this.nextInode++;
      this.ensureCapacity(inode);
    } else {
      throw new Error(`inode ${inode} is neither reusable nor the next fresh id (${this.nextInode})`);
    }
    this.inodeCount++;
  }

  /** Clears every column of `inode` and queues its id for delayed reuse. */
  releaseInode(inode: number, sec: number): void {
    this.type[inode] = 0;
    this.mode[inode] = 0;
    this.uid[inode] = 0;
    this.gid[inode] = 0;
    this.nlink[inode] = 0;
    this.goal[inode] = 0;
    this.trashtime[inode] = 0;
    this.eattr[inode] = 0;
    this.sclasses.archived.delete(inode);
    this.setAtime(inode, ZERO_TS);
    this.setMtime(inode, ZERO_TS);
    this.setCtime(inode, ZERO_TS);
    this.size[inode] = 0;
    this.rdev[inode] = 0;
    this.parent[inode] = 0;
    this.extraParents.delete(inode);
    this.symlinkTarget.delete(inode);
    this.xattrs.delete(inode);
    this.chunkLists.clear(inode);
    this.children.delete(inode);
    this.dirName.delete(inode);
    this.trash.delete(inode);
    this.sustained.delete(inode);
    this.quotas.delete(inode);
    this.acls.delete(inode);
    this.freeIds.push(inode);
    this.freeAt.push(sec);
    this.inodeCount--;
  }

  /** Freed ids still waiting, oldest first: [id, freedAt] pairs. */
  pendingFreeIds(): [number, number][] {
    const out: [number, number][] = [];
    for (let i = this.freeHead; i < this.freeIds.length; i++) out.push([this.freeIds[i]!, this.freeAt[i]!]);
    return out;
  }

  private compactFreeList(): void {
    if (this.freeHead < 1024 || this.freeHead * 2 < this.freeIds.length) return;
    this.freeIds = this.freeIds.slice(this.freeHead);
    this.freeAt = this.freeAt.slice(this.freeHead);
    this.freeHead = 0;
  }

  ensureCapacity(inode: number): void {
    if (inode < this.capacity) return;
    let cap = this.capacity;
    while (cap <= inode) cap *= 2;
    this.type = grow(this.type, cap);
    this.mode = grow(this.mode, cap);
    this.uid = grow(this.uid, cap);
    this.gid = grow(this.gid, cap);
    this.nlink = grow(this.nlink, cap);
    this.goal = grow(this.goal, cap);
    this.trashtime = grow(this.trashtime, cap);
    this.eattr = grow(this.eattr, cap);
    this.atimeS = grow(this.atimeS, cap);
    this.atimeNs = grow(this.atimeNs, cap);
    this.mtimeS = grow(this.mtimeS, cap);
    this.mtimeNs = grow(this.mtimeNs, cap);
    this.ctimeS = grow(this.ctimeS, cap);
    this.ctimeNs = grow(this.ctimeNs, cap);
    this.size = grow(this.size, cap);
    this.rdev = grow(this.rdev, cap);
    this.parent = grow(this.parent, cap);
    this.chunkLists.grow(cap);
    this.capacity = cap;
  }

  /** Inode ids in use, ascending. */
  *inodes(): IterableIterator<number> {
    for (let i = 1; i < this.nextInode; i++) if (this.type[i] !== 0) yield i;
  }
}

const ZERO_TS: Timespec = { sec: 0, nsec: 0 };

type TypedArray = Uint8Array | Uint16Array | Uint32Array | Float64Array;

function grow<A extends TypedArray>(a: A, cap: number): A {
  const b = new (a.constructor as new (n: number) => A)(cap);
  b.set(a as never);
  return b;
}

/**
 * An empty file system: the root directory (inode 1), mode 0755, owned by root, with
 * MooseFS's defaults of goal 1 and trashtime 86400 s that every new node inherits.
 */
export function createEmptyMetadata(ts: Timespec): Metadata {
  const md = new Metadata();
  const root = ROOT_INODE;
  md.type[root] = TYPE_CODE.dir;
  md.mode[root] = DEFAULT_ROOT_MODE;
  md.nlink[root] = 2;
  md.goal[root] = DEFAULT_ROOT_GOAL;
  md.trashtime[root] = DEFAULT_ROOT_TRASHTIME;
  md.setAtime(root, ts);
  md.setMtime(root, ts);
  md.setCtime(root, ts);
  md.children.set(root, new Map());
  md.inodeCount = 1;
  return md;
}
