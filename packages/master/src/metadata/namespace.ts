import {
  type Attr,
  CHUNK_SIZE,
  O_ACCMODE,
  O_RDWR,
  O_TRUNC,
  O_WRONLY,
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  XATTR_CREATE,
  XATTR_REPLACE,
  type Cred,
  type DirEntry,
  MAX_CHUNK_INDEX,
  MAX_FILE_SIZE,
  MAX_GOAL,
  MAX_SYMLINK_LENGTH,
  MAX_XATTR_VALUE,
  MAX_NAME_LENGTH,
  type NodeType,
  type RecursiveCounts,
  type Reply,
  type Request,
  type Timespec,
  type TrashEntry,
  fail,
  isAclXattr,
} from '@tsmfs/protocol';
import { applyMutation } from './apply.js';
import { chunkSlice, slicedLength } from './append-slice.js';
import { type KeptFile, type Metadata, TYPE_CODE } from './metadata.js';
import { MetadataBrokenError } from './metadata-broken-error.js';
import { ClientEntries } from './client-entries.js';
import { checkQuota } from '../quota/quota-checks.js';
import { QuotaEntries } from '../quota/quota-requests.js';
import { namesUncached, refuseLink, refuseNewName, refuseOpen, refuseRemoval, refuseSetattr, refuseWrite, refuseXattrChange } from './eattr.js';
import { EattrRequests } from './eattr-requests.js';
import { SClassRequests } from '../sclass/sclass-requests.js';
import { AclRequests } from '../acl/acl-requests.js';
import { createPermBits } from '../acl/acl-table.js';
import type { RequestTag } from './client-state.js';
import type { Mutation, UnlinkFate } from './mutation.js';
import { checkSnapshotOverwrite, histogram, isCutPath, mayChangeGoal } from './tree-walk.js';
import {
  R_OK,
  S_ISGID,
  S_IXGRP,
  W_OK,
  X_OK,
  checkSetattr,
  checkXattrAccess,
  inGroup,
  isRoot,
  mayHardlink,
  mayWrite,
  modeAfterSetattr,
  modeAfterWrite,
  permits,
  stickyForbids,
} from './permissions.js';

/** ext4's EXT4_LINK_MAX: a file's hard links stop there (EMLINK). Directories are not capped. */
export const MAX_LINKS = 65_000;

/**
 * The namespace: every client request that reads or changes metadata. Each method
 * checks the request the way Linux + ext4 would (same errno, same check first when
 * several apply), builds the Mutation, applies it and hands it to the sink (the
 * changelog). Nothing here is changed except through applyMutation.
 *
 * Requests arrive by inode: the client walks paths with `lookup`, which checks search
 * permission on each directory, so every (parent, name) request checks it on the parent.
 *
 * Open counts are kept here, in memory only: they decide whether an unlinked file is
 * sustained.
 */
export class Namespace {
  private readonly openCount = new Map<number, number>();
  private readonly readdirCursors = new Map<string, ReaddirCursor>();
  /** Sessions, request results and sustained files' holders (client-entries.ts). */
  readonly clients: ClientEntries;
  /** Directory quotas: getquota/setquota/delquota (quota/). */
  readonly quotas: QuotaEntries;
  /** seteattr, geteattr, rmsnapshot (eattr-requests.ts). */
  readonly eattrs: EattrRequests;
  /** Storage classes: scadmin, setsclass, getsclass (sclass/). */
  readonly sclasses: SClassRequests;
  /** The POSIX ACL xattrs (acl/acl-requests.ts). */
  private readonly aclXattrs: AclRequests;

  constructor(
    readonly md: Metadata,
    private readonly sink: (m: Mutation) => void,
    private readonly clock: () => Timespec,
    /** Told when apply fails half-way (the master stops); the error is thrown as well. */
    private readonly onBroken?: (err: MetadataBrokenError) => void,
  ) {
    this.clients = new ClientEntries(md, (m) => void this.commit(m), clock, this.openCount);
    this.quotas = new QuotaEntries(md, (m) => void this.commit(m), clock);
    this.eattrs = new EattrRequests(this, (m) => this.commit(m), clock);
    this.sclasses = new SClassRequests(md, (m) => this.commit(m), clock);
    this.aclXattrs = new AclRequests(md, (m) => this.commit(m), clock);
  }

  /** Told of every change just before it is applied (the leases it breaks: leases/). */
  observe: ((m: Mutation, md: Metadata) => void) | undefined;

  /**
   * The exactly-once request being served (client-state.ts): the first entry it makes
   * carries it, and applying that entry records the request's result.
   */
  private requestTag: RequestTag | undefined;

  /** Serves `run` as the request `tag`: its first entry is tagged. */
  tagged<T>(tag: RequestTag | undefined, run: () => T): T {
    this.requestTag = tag;
    try {
      return run();
    } finally {
      this.requestTag = undefined;
    }
  }

  private commit(entry: Mutation): RecursiveCounts | undefined {
    checkQuota(this.md, entry, this.quotas.defaultGrace);
    let result: RecursiveCounts | undefined;
    const m = this.requestTag ? { ...entry, req: this.requestTag } : entry;
    this.requestTag = undefined;
    this.observe?.(m, this.md);
    try {
      result = applyMutation(this.md, m);
    } catch (err) {
      const broken = new MetadataBrokenError(m, err);
      this.onBroken?.(broken);
      throw broken;
    }
    this.sink(m);
    return result;
  }

  // ---- lookups ----------------------------------------------------------------------

  lookup(req: Request<'lookup'>): Reply<'lookup'> {
    const dir = this.searchableDir(req.parent, req.cred);
    if (req.name === '.') return this.found(dir, dir);
    if (req.name === '..') return this.found(dir, dir === 1 ? 1 : this.md.parent[dir]!);
    checkNameLength(req.name);
    const inode = this.md.lookup(dir, req.name);
    if (inode === undefined) throw fail('ENOENT', req.name);
    return this.found(dir, inode);
  }

  /** `inode`'s attributes as found through `dir`, whose noentrycache is the client's to honour. */
  private found(dir: number, inode: number): Reply<'lookup'> {
    const attr = this.md.attr(inode);
    return namesUncached(this.md, dir) ? { attr, noEntryCache: true } : { attr };
  }

  getattr(req: Request<'getattr'>): Reply<'getattr'> {
    return { attr: this.md.attr(this.existing(req.inode)) };
  }

  readlink(req: Request<'readlink'>): Reply<'readlink'> {
    const inode = this.existing(req.inode);
    const target = this.md.symlinkTarget.get(inode);
    if (target === undefined) throw fail('EINVAL', 'not a symlink');
    return { target };
  }

  readdir(req: Request<'readdir'>): Reply<'readdir'> {
    const dir = this.existing(req.inode);
    if (!this.md.isDir(dir)) throw fail('ENOTDIR');
    if (!permits(this.md, dir, req.cred, R_OK)) throw fail('EACCES');
    const cursor = this.cursorAt(dir, req.cookie);
    const entries: DirEntry[] = [];
    const max = Math.min(Math.max(1, req.max), READDIR_PAGE_ENTRIES);
    // A page ends at READDIR_PAGE_BYTES (an upper bound of its encoded size): one page
    // must never outgrow the frame limit, nor make a reply worth holding back.
    const perEntry = req.withAttrs ? READDIR_ENTRY_BYTES + READDIR_ATTR_BYTES : READDIR_ENTRY_BYTES;
    let bytes = 0;
    while (!cursor.next.done && entries.length < max && bytes < READDIR_PAGE_BYTES) {
      const [name, inode] = cursor.next.value;
      // A live iterator may hold an entry removed since the last page: skip it.
      if (cursor.entries.get(name) === inode) {
        const type = this.md.typeOf(inode)!;
        entries.push(req.withAttrs ? { name, inode, type, attr: this.md.attr(inode) } : { name, inode, type });
        bytes += perEntry + Buffer.byteLength(name);
      }
      cursor.next = cursor.it.next();
    }
    const cookie = req.cookie + entries.length;
    const eof = cursor.next.done === true;
    if (!eof) this.keepCursor(dir, cookie, cursor);
    return namesUncached(this.md, dir) ? { entries, cookie, eof, noEntryCache: true } : { entries, cookie, eof };
  }

  /**
   * Where a readdir page starts. The cookie is a position in the directory's insertion
   * order; a reader going page by page resumes the live Map iterator of its previous page
   * (O(page), and entries removed meanwhile shift nothing); anyone else skips `cookie`
   * entries from the start.
   */
  private cursorAt(dir: number, cookie: number): ReaddirCursor {
    const key = `${dir}:${cookie}`;
    const entries = this.md.children.get(dir)!;
    const kept = this.readdirCursors.get(key);
    this.readdirCursors.delete(key);
    if (kept && kept.entries === entries) return kept;
    const it = entries.entries();
    for (let skip = cookie; skip > 0; skip--) if (it.next().done) break;
    return { entries, it, next: it.next() };
  }

  private keepCursor(dir: number, cookie: number, cursor: ReaddirCursor): void {
    this.readdirCursors.set(`${dir}:${cookie}`, cursor);
    if (this.readdirCursors.size > MAX_READDIR_CURSORS) {
      this.readdirCursors.delete(this.readdirCursors.keys().next().value!);
    }
  }

  statfs(_req: Request<'statfs'> = {}): Reply<'statfs'> {
    return {
      // No chunkservers yet: space comes with the chunkserver issue.
      totalSpace: 0,
      availSpace: 0,
      trashSpace: this.keptSpace(this.md.trash),
      sustainedSpace: this.keptSpace(this.md.sustained),
      inodes: this.md.inodeCount,
    };
  }

  access(req: Request<'access'>): Reply<'access'> {
    const inode = this.existing(req.inode);
    if (!permits(this.md, inode, req.cred, req.mask & 7)) throw fail('EACCES');
    return {};
  }

  // ---- creating -----------------------------------------------------------------------

  mknod(req: Request<'mknod'>): Reply<'mknod'> {
    const rdev = req.type === 'chardev' || req.type === 'blockdev' ? req.rdev : 0;
    const reply = this.create(req.cred, req.parent, req.name, req.type, req.mode, rdev, req.umask);
    if (req.open === undefined) return reply;
    // open(2) with O_CREAT: the creator opens what it just made whatever its mode, and
    // O_TRUNC of an empty file changes nothing; what remains of open is the count.
    this.countOpen(reply.attr.inode);
    return { ...reply, opened: true };
  }

  mkdir(req: Request<'mkdir'>): Reply<'mkdir'> {
    // Linux's mkdir ignores setuid/setgid in the requested mode (setgid comes from the parent).
    return this.create(req.cred, req.parent, req.name, 'dir', req.mode & 0o1777, 0, req.umask);
  }

  symlink(req: Request<'symlink'>): Reply<'symlink'> {
    if (req.target === '') throw fail('ENOENT', 'empty symlink target');
    if (req.target.includes('\0')) throw fail('EINVAL', 'symlink target with NUL');
    if (Buffer.byteLength(req.target) >= MAX_SYMLINK_LENGTH) throw fail('ENAMETOOLONG', 'symlink target');
    return this.create(req.cred, req.parent, req.name, 'symlink', 0o777, 0, 0, req.target);
  }

  private create(
    cred: Cred,
    parent: number,
    name: string,
    type: NodeType,
    requestedMode: number,
    rdev: number,
    umask: number,
    target?: string,
  ): { attr: Attr } {
    const md = this.md;
    const dir = this.searchableDir(parent, cred);
    this.checkNewName(dir, name);
    refuseNewName(md, dir);
    if (!permits(md, dir, cred, W_OK | X_OK)) throw fail('EACCES');
    if ((type === 'chardev' || type === 'blockdev') && !isRoot(cred)) throw fail('EPERM', 'mknod of a device');
    // The directory's default ACL, if any, masks the mode instead of the umask (posix_acl_create).
    let mode = createPermBits(md.acls, dir, type, requestedMode & 0o7777, umask);
    let gid = cred.gid;
    if (md.mode[dir]! & S_ISGID) {
      gid = md.gid[dir]!;
      if (type === 'dir') mode |= S_ISGID;
      else if ((mode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP) && !isRoot(cred) && !inGroup(cred, gid)) {
        mode &= ~S_ISGID;
      }
    }
    const ts = this.clock();
    const inode = md.peekNewInode(ts.sec);
    const m: Mutation = { op: 'create', ts, parent: dir, name, inode, type, mode, uid: cred.uid, gid, rdev };
    if (target !== undefined) m.target = target;
    this.commit(m);
    return { attr: md.attr(inode) };
  }

  link(req: Request<'link'>): Reply<'link'> {
    const md = this.md;
    const inode = this.linked(req.inode);
    const dir = this.searchableDir(req.parent, req.cred);
    this.checkNewName(dir, req.name);
    if (!mayHardlink(md, inode, req.cred)) throw fail('EPERM', 'protected hardlinks');
    refuseNewName(md, dir);
    if (!permits(md, dir, req.cred, W_OK | X_OK)) throw fail('EACCES');
    refuseLink(md, inode);
    if (md.isDir(inode)) throw fail('EPERM', 'hard link to a directory');
    if (md.nlink[inode]! >= MAX_LINKS) throw fail('EMLINK');
    this.commit({ op: 'link', ts: this.clock(), inode, parent: dir, name: req.name });
    return { attr: md.attr(inode) };
  }

  // ---- removing -----------------------------------------------------------------------

  unlink(req: Request<'unlink'>): Reply<'unlink'> {
    const dir = this.searchableDir(req.parent, req.cred);
    if (req.name === '.' || req.name === '..') throw fail('EISDIR');
    const victim = this.existingName(dir, req.name);
    this.mayDelete(dir, victim, req.cred);
    if (this.md.isDir(victim)) throw fail('EISDIR');
    const fate = this.fateOf(victim);
    this.commit({ op: 'unlink', ts: this.clock(), parent: dir, name: req.name, fate, ...this.clients.heldBy(victim, fate) });
    return {};
  }

  rmdir(req: Request<'rmdir'>): Reply<'rmdir'> {
    const dir = this.searchableDir(req.parent, req.cred);
    if (req.name === '.') throw fail('EINVAL');
    if (req.name === '..') throw fail('ENOTEMPTY');
    const victim = this.existingName(dir, req.name);
    this.mayDelete(dir, victim, req.cred);
    if (!this.md.isDir(victim)) throw fail('ENOTDIR');
    if (this.md.children.get(victim)!.size > 0) throw fail('ENOTEMPTY');
    this.commit({ op: 'rmdir', ts: this.clock(), parent: dir, name: req.name });
    return {};
  }

  /**
   * rename(2)/renameat2(2) in the kernel's order: flags, both parents, the source name,
   * NOREPLACE/EXCHANGE, the ancestry traps, then may_delete/may_create, then the type
   * and emptiness of what is replaced.
   */
  rename(req: Request<'rename'>): Reply<'rename'> {
    const md = this.md;
    const { cred, flags } = req;
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) || flags === (RENAME_NOREPLACE | RENAME_EXCHANGE)) {
      throw fail('EINVAL', 'rename flags');
    }
    const dir = this.searchableDir(req.parent, cred);
    const newDir = this.searchableDir(req.newParent, cred);
    for (const n of [req.name, req.newName]) if (n === '.' || n === '..') throw fail('EBUSY');
    const src = this.existingName(dir, req.name);
    checkNameChars(req.newName);
    checkNameLength(req.newName);
    const dst = md.lookup(newDir, req.newName);
    const exchange = (flags & RENAME_EXCHANGE) !== 0;
    if (flags & RENAME_NOREPLACE && dst !== undefined) throw fail('EEXIST');
    if (exchange && dst === undefined) throw fail('ENOENT');
    const srcIsDir = md.isDir(src);
    if (srcIsDir && dir !== newDir && md.isAncestorOrSelf(src, newDir)) throw fail('EINVAL', 'into its own subtree');
    if (dst !== undefined && md.isDir(dst) && dir !== newDir && md.isAncestorOrSelf(dst, dir)) {
      throw exchange ? fail('EINVAL') : fail('ENOTEMPTY');
    }
    if (src === dst) return {};
    this.mayDelete(dir, src, cred);
    const dstIsDir = dst !== undefined && md.isDir(dst);
    if (dst === undefined) {
      refuseNewName(md, newDir);
      if (!permits(md, newDir, cred, W_OK | X_OK)) throw fail('EACCES');
    } else {
      this.mayDelete(newDir, dst, cred);
      if (!exchange && srcIsDir && !dstIsDir) throw fail('ENOTDIR');
      if (!exchange && !srcIsDir && dstIsDir) throw fail('EISDIR');
    }
    if (dir !== newDir) {
      // Moving a directory rewrites its "..": that needs write permission on it.
      if (srcIsDir && !permits(md, src, cred, W_OK)) throw fail('EACCES');
      if (exchange && dstIsDir && !permits(md, dst!, cred, W_OK)) throw fail('EACCES');
    }
    if (!exchange && dstIsDir && md.children.get(dst!)!.size > 0) throw fail('ENOTEMPTY');
    const m: Mutation = { op: 'rename', ts: this.clock(), parent: dir, name: req.name, newParent: newDir, newName: req.newName };
    if (exchange) m.exchange = true;
    else if (dst !== undefined && !dstIsDir) {
      m.replacedFate = this.fateOf(dst);
      Object.assign(m, this.clients.heldBy(dst, m.replacedFate));
    }
    this.commit(m);
    // What newName names now (its ctime moved): its client keeps both names known.
    return exchange ? {} : { attr: md.attr(src) };
  }

  // ---- attributes ---------------------------------------------------------------------

  /** setattr: the checks and the setuid/setgid rules are permissions.ts's; the effects are one mutation. */
  setattr(req: Request<'setattr'>): Reply<'setattr'> {
    const md = this.md;
    const inode = this.existing(req.inode);
    refuseSetattr(md, inode, req);
    const killPriv = checkSetattr(md, inode, req);
    if (req.size !== undefined && req.size > MAX_FILE_SIZE) throw fail('EFBIG', `size beyond the largest file (${MAX_FILE_SIZE})`);
    const ts = this.clock();
    const m: Extract<Mutation, { op: 'setattr' }> = { op: 'setattr', ts, inode };
    const mode = modeAfterSetattr(md, inode, req, killPriv);
    if (mode !== md.mode[inode] || req.mode !== undefined) m.mode = mode;
    if (req.uid !== undefined) m.uid = req.uid;
    if (req.gid !== undefined) m.gid = req.gid;
    if (req.size !== undefined) {
      m.size = req.size;
      // ext4 moves mtime on truncate only when the length changes.
      if (req.size !== md.size[inode]) m.mtime = ts;
    }
    if (req.atime !== undefined) m.atime = req.atime;
    else if (req.atimeNow) m.atime = ts;
    if (req.mtime !== undefined) m.mtime = req.mtime;
    else if (req.mtimeNow) m.mtime = ts;
    this.commit(m);
    return { attr: md.attr(inode) };
  }

  open(req: Request<'open'>): Reply<'open'> {
    const md = this.md;
    const inode = this.existing(req.inode);
    if (md.type[inode] === TYPE_CODE.symlink) throw fail('ELOOP');
    const acc = req.flags & O_ACCMODE;
    let mask = acc === O_WRONLY ? W_OK : acc === O_RDWR ? R_OK | W_OK : R_OK;
    const trunc = (req.flags & O_TRUNC) !== 0;
    if (trunc) mask |= W_OK;
    if (md.isDir(inode) && mask & W_OK) throw fail('EISDIR');
    refuseOpen(md, inode, req.flags);
    if (!permits(md, inode, req.cred, mask)) throw fail('EACCES');
    if (trunc && md.type[inode] === TYPE_CODE.file) {
      const ts = this.clock();
      const m: Extract<Mutation, { op: 'setattr' }> = { op: 'setattr', ts, inode, size: 0, mtime: ts };
      const mode = modeAfterWrite(md.mode[inode]!, md.gid[inode]!, req.cred);
      if (mode !== md.mode[inode]) m.mode = mode;
      this.commit(m);
    }
    this.countOpen(inode);
    return { attr: md.attr(inode) };
  }

  private countOpen(inode: number): void {
    this.openCount.set(inode, (this.openCount.get(inode) ?? 0) + 1);
  }

  release(req: Request<'release'>): Reply<'release'> {
    const n = this.openCount.get(req.inode) ?? 0;
    if (n <= 1) this.openCount.delete(req.inode);
    else this.openCount.set(req.inode, n - 1);
    if (n === 1 && this.md.sustained.has(req.inode)) this.commit({ op: 'purge', ts: this.clock(), inode: req.inode });
    return {};
  }

  /** How many opens of `inode` are not yet released. */
  opens(inode: number): number {
    return this.openCount.get(inode) ?? 0;
  }

  // ---- extended attributes ------------------------------------------------------------

  getxattr(req: Request<'getxattr'>): Reply<'getxattr'> {
    const inode = this.existing(req.inode);
    if (isAclXattr(req.name)) return { value: this.aclXattrs.get(inode, req.name) };
    checkXattrAccess(this.md, inode, req.cred, req.name, false);
    const value = this.md.xattrs.get(inode)?.get(req.name);
    if (value === undefined) throw fail('ENODATA');
    return { value: Uint8Array.from(value) };
  }

  setxattr(req: Request<'setxattr'>): Reply<'setxattr'> {
    const inode = this.existing(req.inode);
    if (req.flags & ~(XATTR_CREATE | XATTR_REPLACE)) throw fail('EINVAL');
    if (req.value.length > MAX_XATTR_VALUE) throw fail('E2BIG');
    if (isAclXattr(req.name)) return this.aclXattrs.set(req.cred, inode, req.name, req.value);
    refuseXattrChange(this.md, inode);
    checkXattrAccess(this.md, inode, req.cred, req.name, true);
    const exists = this.md.xattrs.get(inode)?.has(req.name) === true;
    if (req.flags & XATTR_CREATE && exists) throw fail('EEXIST');
    if (req.flags & XATTR_REPLACE && !exists) throw fail('ENODATA');
    this.commit({ op: 'setxattr', ts: this.clock(), inode, name: req.name, value: Uint8Array.from(req.value) });
    return {};
  }

  listxattr(req: Request<'listxattr'>): Reply<'listxattr'> {
    const inode = this.existing(req.inode);
    const names = [...this.aclXattrs.names(inode), ...(this.md.xattrs.get(inode)?.keys() ?? [])];
    // trusted.* is invisible to non-root, as in Linux.
    return { names: isRoot(req.cred) ? names : names.filter((n) => !n.startsWith('trusted.')) };
  }

  removexattr(req: Request<'removexattr'>): Reply<'removexattr'> {
    const inode = this.existing(req.inode);
    if (isAclXattr(req.name)) return this.aclXattrs.set(req.cred, inode, req.name, null);
    refuseXattrChange(this.md, inode);
    checkXattrAccess(this.md, inode, req.cred, req.name, true);
    if (this.md.xattrs.get(inode)?.has(req.name) !== true) throw fail('ENODATA');
    this.commit({ op: 'removexattr', ts: this.clock(), inode, name: req.name });
    return {};
  }

  // ---- goal and trashtime -------------------------------------------------------------

  setgoal(req: Request<'setgoal'>): Reply<'setgoal'> {
    if (req.goal < 1 || req.goal > MAX_GOAL) throw fail('EINVAL', `goal must be 1..${MAX_GOAL}`);
    return this.setGoalLike('setgoal', req.cred, req.inode, req.goal, req.mode, req.recursive);
  }

  settrashtime(req: Request<'settrashtime'>): Reply<'settrashtime'> {
    return this.setGoalLike('settrashtime', req.cred, req.inode, req.trashtime, req.mode, req.recursive);
  }

  private setGoalLike(
    op: 'setgoal' | 'settrashtime',
    cred: Cred,
    target: number,
    value: number,
    mode: Request<'setgoal'>['mode'],
    recursive: boolean,
  ): RecursiveCounts {
    const inode = this.linked(target);
    // Alone, a refused node is an error; in a recursive call it is counted like any other.
    if (!recursive && !mayChangeGoal(this.md, inode, cred.uid)) throw fail('EPERM');
    return this.commit({ op, ts: this.clock(), inode, value, mode, recursive, uid: cred.uid })!;
  }

  getgoal(req: Request<'getgoal'>): Reply<'getgoal'> {
    return { histogram: histogram(this.md, this.existing(req.inode), req.recursive, this.md.goal) };
  }

  gettrashtime(req: Request<'gettrashtime'>): Reply<'gettrashtime'> {
    return { histogram: histogram(this.md, this.existing(req.inode), req.recursive, this.md.trashtime) };
  }

  // ---- snapshots ----------------------------------------------------------------------

  snapshot(req: Request<'snapshot'>): Reply<'snapshot'> {
    const md = this.md;
    const { cred } = req;
    const src = this.linked(req.inode);
    const dir = this.searchableDir(req.parent, cred);
    if (req.name === '.' || req.name === '..') throw fail('EEXIST');
    checkNameChars(req.name);
    checkNameLength(req.name);
    if (!permits(md, src, cred, R_OK)) throw fail('EACCES');
    refuseNewName(md, dir);
    if (!permits(md, dir, cred, W_OK | X_OK)) throw fail('EACCES');
    if (md.isDir(src) && md.isAncestorOrSelf(src, dir)) throw fail('EINVAL', 'snapshot into its own subtree');
    const existing = md.lookup(dir, req.name);
    if (existing !== undefined) {
      if (!req.overwrite) throw fail('EEXIST');
      // Merging a tree into one of its own ancestors would copy a tree into itself while
      // walking it; like a snapshot into its own subtree, it is refused.
      if (md.isDir(existing) && md.isAncestorOrSelf(existing, src)) throw fail('EINVAL', 'snapshot over an ancestor of its source');
      checkSnapshotOverwrite(md, src, existing);
    }
    this.commit({
      op: 'snapshot',
      ts: this.clock(),
      inode: src,
      parent: dir,
      name: req.name,
      firstInode: md.nextInode,
      uid: cred.uid,
      gid: cred.gid,
      overwrite: req.overwrite,
      ...(req.cplike ? { cplike: { umask: (req.umask ?? 0o022) & 0o777 } } : {}),
      ...(req.preserveHardlinks ? { preserveHardlinks: true } : {}),
      ownerRule: true,
    });
    return { attr: md.attr(md.lookup(dir, req.name)!) };
  }

  // ---- trash and sustained files ------------------------------------------------------

  trashList(_req: Request<'trashList'> = {}): Reply<'trashList'> {
    return { entries: this.keptList(this.md.trash) };
  }

  sustainedList(_req: Request<'sustainedList'> = {}): Reply<'sustainedList'> {
    return { entries: this.keptList(this.md.sustained) };
  }

  /**
   * Restores a trashed file under its original path. The parent directory must still
   * exist at that path (ENOENT otherwise; MooseFS would recreate it) and the name be
   * free (EEXIST).
   */
  trashUndelete(req: Request<'trashUndelete'>): Reply<'trashUndelete'> {
    const kept = this.md.trash.get(req.inode);
    if (!kept) throw fail('ENOENT', 'not in trash');
    if (isCutPath(kept.path)) throw fail('ENAMETOOLONG', 'its path was longer than PATH_MAX and was kept cut: it cannot be followed back');
    const cut = kept.path.lastIndexOf('/');
    const dir = this.md.resolvePath(kept.path.slice(0, cut));
    if (dir === undefined || !this.md.isDir(dir)) throw fail('ENOENT', `${kept.path.slice(0, cut) || '/'} is gone`);
    if (this.md.lookup(dir, kept.path.slice(cut + 1)) !== undefined) throw fail('EEXIST', kept.path);
    this.commit({ op: 'undelete', ts: this.clock(), inode: req.inode });
    return {};
  }

  trashPurge(req: Request<'trashPurge'>): Reply<'trashPurge'> {
    if (!this.md.trash.has(req.inode)) throw fail('ENOENT', 'not in trash');
    this.purge(req.inode);
    return {};
  }

  /**
   * Ends a kept file: a trashed file that is still open becomes sustained (removed when
   * its last open is released), anything else in trash or sustained is purged.
   */
  purge(inode: number): void {
    const ts = this.clock();
    if (this.md.trash.has(inode) && this.opens(inode) > 0) this.commit({ op: 'sustain', ts, inode, ...this.clients.heldBy(inode, 'sustained') });
    else if (this.md.trash.has(inode) || (this.md.sustained.has(inode) && this.opens(inode) === 0)) {
      this.commit({ op: 'purge', ts, inode });
    } else throw fail('ENOENT', 'not in trash');
  }

  /**
   * Purges every sustained file that nobody here has open: open counts live only in
   * memory, so after a restart (or when the sessions that held them are gone) these
   * files would otherwise stay forever. Returns how many went.
   */
  purgeUnopenedSustained(): number {
    const idle = [...this.md.sustained.keys()].filter((inode) => this.opens(inode) === 0);
    for (const inode of idle) this.commit({ op: 'purge', ts: this.clock(), inode });
    return idle.length;
  }

  /** Trashed inodes whose trashtime ran out by `nowSec`; the trash timer purges them. */
  expiredTrash(nowSec: number): number[] {
    return expiredTrash(this.md, nowSec);
  }

  // ---- chunks -------------------------------------------------------------------------

  readChunk(req: Request<'readChunk'>): Reply<'readChunk'> {
    const inode = this.regularFile(req.inode);
    return this.grant(inode, this.md.chunkAt(inode, req.index));
  }

  /**
   * A write lease on chunk `index`: a new chunk for an empty slot, a copy-on-write chunk
   * for a shared one (snapshot), else the same chunk with its version bumped so that a
   * replica missing this write shows up as stale — unless `keepVersion(chunkId)` says every
   * copy has every write (chunks/complete-writes.ts). A non-root writer drops setuid.
   */
  writeChunk(req: Request<'writeChunk'>, viaWritableHandle = false, keepVersion?: (chunkId: number) => boolean): Reply<'writeChunk'> {
    const md = this.md;
    const inode = this.regularFile(req.inode);
    // A grant lets its holder change the file's bytes: the (mapped) caller must be able to
    // write it, by its mode or by an open for writing that the session holds (as ftruncate).
    if (!mayWrite(md, inode, req.cred, viaWritableHandle)) throw fail('EACCES', 'write grant for a file the caller may not write');
    if (req.index > MAX_CHUNK_INDEX) throw fail('EFBIG', `chunk index beyond the largest file (${MAX_CHUNK_INDEX})`);
    refuseWrite(md, inode, req.index, CHUNK_SIZE);
    const ts = this.clock();
    const mode = modeAfterWrite(md.mode[inode]!, md.gid[inode]!, req.cred);
    if (mode !== md.mode[inode]) this.commit({ op: 'setattr', ts, inode, mode });
    const current = md.chunkAt(inode, req.index);
    if (current === 0 || md.chunks.refcount[current]! > 1) {
      const m: Mutation = { op: 'chunkAlloc', ts, inode, index: req.index, chunkId: md.chunks.nextChunkId, version: 1 };
      if (current !== 0) m.cowFrom = current;
      this.commit(m);
    } else if (!keepVersion?.(current)) {
      this.commit({ op: 'chunkVersion', ts, chunkId: current, version: md.chunks.version[current]! + 1 });
    }
    return this.grant(inode, md.chunkAt(inode, req.index));
  }

  /**
   * The end of a write. `length` is the file length the client reached (offset + bytes
   * written, absolute): the file grows to it if it is longer; mtime moves either way.
   */
  writeChunkEnd(req: Request<'writeChunkEnd'>): Reply<'writeChunkEnd'> {
    if (!req.ok) return {};
    const inode = this.regularFile(req.inode);
    if (this.md.chunkAt(inode, req.index) !== req.chunkId) throw fail('EINVAL', 'chunk replaced meanwhile');
    if (req.length > MAX_FILE_SIZE) throw fail('EFBIG', 'length beyond the largest file');
    this.commit({ op: 'length', ts: this.clock(), inode, size: Math.max(this.md.size[inode]!, req.length) });
    return { attr: this.md.attr(inode) };
  }

  // ---- tools: filerepair, appendchunks -------------------------------------------------

  /** filerepair needs write permission on the file (it changes what the file reads). */
  checkRepairable(cred: Cred, inode: number): number {
    const file = this.regularFile(inode);
    if (!permits(this.md, file, cred, W_OK)) throw fail('EACCES');
    return file;
  }

  /** filerepair: the chunk's version becomes that of the newest copy left (stale copies become valid). */
  repairChunkVersion(chunkId: number, version: number): void {
    this.commit({ op: 'chunkVersion', ts: this.clock(), chunkId, version });
  }

  /** The chunk loop: freed chunks none of whose copies is left leave `toDelete`. */
  chunksDeleted(chunkIds: number[]): void {
    this.commit({ op: 'chunksDeleted', ts: this.clock(), chunkIds });
  }

  /** filerepair: a chunk with no copy anywhere leaves the file; that range reads as zeros. */
  eraseChunk(inode: number, index: number): void {
    this.commit({ op: 'chunkErase', ts: this.clock(), inode, index });
  }

  /**
   * MooseFS's appendchunks: write permission on the destination, read on the source; a
   * file appended to itself is EINVAL and an empty source or slice changes nothing, not
   * even the padding (both as MooseFS 3.0).
   */
  appendChunks(req: Request<'appendchunks'>): Reply<'appendchunks'> {
    const md = this.md;
    const inode = this.regularFile(req.inode);
    const src = this.regularFile(req.src);
    if (inode === src) throw fail('EINVAL', 'a file appended to itself');
    if (!permits(md, inode, req.cred, W_OK) || !permits(md, src, req.cred, R_OK)) throw fail('EACCES');
    // Appending is all an append-only file allows; an immutable one takes nothing.
    refuseWrite(md, inode, Math.ceil(md.size[inode]! / CHUNK_SIZE), CHUNK_SIZE);
    const whole = req.from === undefined && req.to === undefined;
    const slice = chunkSlice(Math.ceil(md.size[src]! / CHUNK_SIZE), req.from, req.to);
    if (slice.to <= slice.from) return { attr: md.attr(inode) };
    const added = whole ? Math.max(md.size[src]!, md.chunkSlots(src) * CHUNK_SIZE) : slicedLength(md.size[src]!, CHUNK_SIZE, slice);
    if (Math.ceil(md.size[inode]! / CHUNK_SIZE) * CHUNK_SIZE + added > MAX_FILE_SIZE) throw fail('EFBIG', 'the result would exceed the largest file length');
    this.commit({ op: 'appendChunks', ts: this.clock(), inode, src, ...(whole ? {} : { slice }) });
    return { attr: md.attr(inode) };
  }

  private grant(inode: number, chunkId: number): Reply<'readChunk'> {
    return {
      chunkId,
      version: chunkId === 0 ? 0 : this.md.chunks.version[chunkId]!,
      fileLength: this.md.size[inode]!,
      locations: this.md.chunks.locations.get(chunkId) ?? [],
    };
  }

  // ---- shared checks ------------------------------------------------------------------

  private existing(inode: number): number {
    if (!this.md.exists(inode)) throw fail('ENOENT', `inode ${inode}`);
    return inode;
  }

  /** An inode that still has a name (not trash, not sustained). */
  private linked(inode: number): number {
    if (!this.md.isLinked(inode)) throw fail('ENOENT', `inode ${inode}`);
    return inode;
  }

  private regularFile(inode: number): number {
    this.existing(inode);
    if (this.md.isDir(inode)) throw fail('EISDIR');
    if (this.md.type[inode] !== TYPE_CODE.file) throw fail('EINVAL', 'not a regular file');
    return inode;
  }

  /** A directory the caller may search: the first check of every (parent, name) request. */
  private searchableDir(inode: number, cred: Cred): number {
    if (!this.md.isLinked(inode)) throw fail('ENOENT', `inode ${inode}`);
    if (!this.md.isDir(inode)) throw fail('ENOTDIR');
    if (!permits(this.md, inode, cred, X_OK)) throw fail('EACCES');
    return inode;
  }

  private existingName(dir: number, name: string): number {
    checkNameLength(name);
    const inode = this.md.lookup(dir, name);
    if (inode === undefined) throw fail('ENOENT', name);
    return inode;
  }

  /** A name about to be created: EEXIST comes before the write-permission check, as in Linux. */
  private checkNewName(dir: number, name: string): void {
    if (name === '.' || name === '..') throw fail('EEXIST');
    checkNameChars(name);
    checkNameLength(name);
    if (this.md.lookup(dir, name) !== undefined) throw fail('EEXIST', name);
  }

  /** Linux's may_delete (with the extra attributes' refusals), minus the type checks that differ between unlink, rmdir and rename. */
  private mayDelete(dir: number, victim: number, cred: Cred): void {
    if (!permits(this.md, dir, cred, W_OK | X_OK)) throw fail('EACCES');
    if (stickyForbids(this.md, dir, victim, cred)) throw fail('EPERM', 'sticky directory');
    refuseRemoval(this.md, dir, victim);
  }

  /** What becomes of a file when the name being removed is its last one. */
  private fateOf(inode: number): UnlinkFate {
    const md = this.md;
    if (md.type[inode] !== TYPE_CODE.file || md.nlink[inode]! > 1) return 'purge';
    if (md.trashtime[inode]! > 0) return 'trash';
    return this.opens(inode) > 0 ? 'sustained' : 'purge';
  }

  private keptList(kept: Map<number, KeptFile>): TrashEntry[] {
    return [...kept].map(([inode, k]) => ({ inode, path: k.path, size: this.md.size[inode]!, deletedAt: k.deletedAt }));
  }

  private keptSpace(kept: Map<number, KeptFile>): number {
    let sum = 0;
    for (const inode of kept.keys()) sum += this.md.size[inode]!;
    return sum;
  }
}

interface ReaddirCursor {
  entries: Map<string, number>;
  it: Iterator<[string, number]>;
  next: IteratorResult<[string, number]>;
}

/** Readers paging through directories at once whose place is remembered (oldest forgotten first). */
const MAX_READDIR_CURSORS = 4096;
/** Bytes of one readdir page at most (entries are counted by an upper bound of their encoded size). */
export const READDIR_PAGE_BYTES = 64 * 1024;
/** Entries of a page at most, whatever `max` asks (the reply schema's cap); bytes of an
 * entry without its name (35 measured) and of an Attr at its widest (about 210), with room. */
const READDIR_PAGE_ENTRIES = 100_000;
const READDIR_ENTRY_BYTES = 48;
const READDIR_ATTR_BYTES = 320;

/** A name the kernel could have sent: not empty (ENOENT, as for an empty path), no '/' or NUL. */
function checkNameChars(name: string): void {
  if (name === '') throw fail('ENOENT', 'empty name');
  if (name.includes('/') || name.includes('\0')) throw fail('EINVAL', 'name with / or NUL');
}

function checkNameLength(name: string): void {
  if (Buffer.byteLength(name) > MAX_NAME_LENGTH) throw fail('ENAMETOOLONG');
}

/** Trashed inodes whose trashtime ran out by `nowSec`, oldest deletion first. */
export function expiredTrash(md: Metadata, nowSec: number): number[] {
  const out: number[] = [];
  for (const [inode, k] of md.trash) if (k.deletedAt + md.trashtime[inode]! <= nowSec) out.push(inode);
  return out;
}
