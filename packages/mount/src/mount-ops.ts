import type { FileHandle, MasterSession, SetattrChanges } from '@tsmfs/client';
import type {
  AccessArgs,
  AttrResult,
  CreateArgs,
  CreateResult,
  DirEntry as KernelDirEntry,
  DirEntryPlus,
  EntryResult,
  FileLock,
  FlockArgs,
  FlushArgs,
  FsyncArgs,
  GetattrArgs,
  GetlkArgs,
  GetxattrArgs,
  IoctlArgs,
  LinkArgs,
  ListxattrArgs,
  LookupArgs,
  LowLevelOps,
  MkdirArgs,
  MknodArgs,
  OpenArgs,
  OpendirArgs,
  OpenResult,
  ReadArgs,
  ReaddirArgs,
  ReaddirplusArgs,
  ReadlinkArgs,
  ReleaseArgs,
  ReleasedirArgs,
  RemovexattrArgs,
  RenameArgs,
  RequestContext,
  RmdirArgs,
  SetattrArgs,
  SetlkArgs,
  SetxattrArgs,
  StatfsResult,
  SymlinkArgs,
  UnlinkArgs,
  WriteArgs,
} from '@tsmfs/fuse';
import { type Attr, type Cred, type Reply, Status, TsmfsError, fail } from '@tsmfs/protocol';
import { LRUCache } from 'lru-cache';
import { flagsIoctl } from './chattr-ioctl.js';
import { DirChanges } from './dir-changes.js';
import { attrTimeout, directIo, entryTimeout, namesUncachedIn, withOwner } from './eattr-caching.js';
import type { HiddenEntries } from './hidden-entries.js';
import { InodeMap, kernelAttr, kernelDirEntry, mknodType } from './kernel-attr.js';
import { LockOps } from './lock-ops.js';
import type { Ticket } from './lease-cache.js';
import { type KernelCaches, LeaseForgetting } from './lease-forgetting.js';
import { MetadataCache } from './metadata-cache.js';
import { OpenFiles } from './open-files.js';
import { type CacheMode, PageCacheVersions } from './page-cache.js';
import { WriteEnds } from './write-ends.js';
import { XattrOps } from './xattr-ops.js';

const O_ACCMODE = 3;
const O_EXCL = 0o200;
const O_TRUNC = 0o1000;
/** Where hidden files' handles start, apart from real files' (any safe integer will do). */
const HIDDEN_FH_BASE = 2 ** 40;

export interface MountTuning {
  /** Kernel and local attribute cache timeout, seconds (MooseFS's mfsattrcacheto). */
  attrTimeoutSec: number;
  /** Kernel and local entry cache timeout, seconds (mfsentrycacheto / mfsdirentrycacheto). */
  entryTimeoutSec: number;
  /** Largest read-ahead window of a sequential reader, bytes. */
  readAheadMax: number;
  /** Whether the kernel keeps a file's cached pages across opens (-o mfscachemode). */
  cacheMode: CacheMode;
}

/** An answer cached without a lease (the session has none). */
const NO_LEASE: Ticket = { at: 0, leaseMs: 0, recalls: 0 };

export type { KernelCaches } from './lease-forgetting.js';

/** Counters shown in `.stats`. */
export class MountCounters {
  readonly ops = new Map<string, number>();
  count(op: string): void {
    this.ops.set(op, (this.ops.get(op) ?? 0) + 1);
  }
}

/**
 * The FUSE handlers of a normal (namespace) mount: each turns a kernel request into the
 * master's request with the caller's credentials, or into file I/O on a FileHandle, and
 * keeps the caches honest about what it changed. Inode numbers are tsmfs's own.
 */
export class MountOps implements LowLevelOps {
  readonly counters = new MountCounters();
  readonly cache: MetadataCache;
  readonly files: OpenFiles;
  private readonly inodes: InodeMap;
  /** Open directories' listings: the entries, each one's attributes, when they were asked. */
  private readonly dirs = new Map<number, { inode: number; entries: KernelDirEntry[]; attrs: (Attr | undefined)[]; stamp: number; uncached: boolean }>();
  private readonly hiddenOpen = new Map<number, Buffer>();
  private readonly parents = new Map<number, number>();
  private readonly groups = new LRUCache<number, number[]>({ max: 4096, ttl: 1000 });
  private readonly xattrs: XattrOps;
  /** Changes of names in flight, by directory (dir-changes.ts). */
  private readonly dirChanges: DirChanges;
  /** What a chunk write's end changes of the caches (write-ends.ts). */
  private readonly writeEnds: WriteEnds;
  /** Whether an open keeps the kernel's cached pages of the file (page-cache.ts). */
  private readonly pages: PageCacheVersions;
  /** The kernel's caches, to invalidate what a recall takes back (set once mounted). */
  kernelCaches: KernelCaches | undefined;
  /** What is forgotten with the leases that stop being this mount's (lease-forgetting.ts). */
  private readonly forgetting: LeaseForgetting;
  private nextDirFh = 1;
  private nextHiddenFh = HIDDEN_FH_BASE;
  /** flock and POSIX locks, held by the master for every mount (lock-ops.ts). */
  readonly locks: LockOps;
  /**
   * Whether the kernel applied the caller's umask to create modes itself (it does unless
   * POSIX ACLs were negotiated: then the umask goes to the master, which applies it
   * where the parent has no default ACL). Set at INIT, before any request.
   */
  kernelAppliesUmask = true;
  /**
   * Whether the kernel enforces POSIX ACLs (FUSE_CAP_POSIX_ACL, set at INIT). If not, its
   * search check reads mode bits only: see namesCacheable (docs/mount.md, "Without the
   * kernel's ACL checks").
   */
  kernelChecksAcls = false;

  constructor(
    private readonly session: MasterSession,
    private readonly hidden: HiddenEntries,
    private readonly tuning: MountTuning,
  ) {
    this.inodes = new InodeMap(session.root);
    this.cache = new MetadataCache({ attrSec: tuning.attrTimeoutSec, entrySec: tuning.entryTimeoutSec }, () => session.leaseMs);
    this.dirChanges = new DirChanges(this.cache, () => this.counters.count('dir_attr_with_change'));
    this.files = new OpenFiles((inode) => session.io.busy(inode));
    this.pages = new PageCacheVersions(tuning.cacheMode);
    this.locks = new LockOps(session);
    this.writeEnds = new WriteEnds({
      io: session.io,
      cache: this.cache,
      files: this.files,
      invalidateKernelAttrs: async (inode) => void (await this.kernelCaches?.invalidateInode(this.inodes.toKernel(inode), -1)),
      writtenThrough: (a, t) => this.pages.written(a, this.cache.leases.leasedUntil(t)),
    });
    this.forgetting = new LeaseForgetting({
      session,
      cache: this.cache,
      pages: this.pages,
      inodes: this.inodes,
      dirChanges: this.dirChanges,
      kernel: () => this.kernelCaches,
      count: (op) => this.counters.count(op),
    });
    // A read-only handle's close leaves its open held while the file's attributes are
    // leased (a change elsewhere recalls them, and the open is let go: lease-forgetting.ts).
    session.holdOpen = (inode) => this.cache.leases.attr(inode) !== undefined && !session.io.busy(inode);
    this.xattrs = new XattrOps({
      session,
      cache: this.cache,
      hidden,
      inodes: this.inodes,
      dirChanges: this.dirChanges,
      count: (op) => this.counters.count(op),
      cred: (ctx) => this.cred(ctx),
      attrTimeoutSec: tuning.attrTimeoutSec,
      accessAclChanged: (inode) => this.accessAclChanged(inode),
    });
    // A new session after a master restart may have another root only if the exports changed.
    session.on('reconnect', () => this.cache.clear());
  }

  // ---- names ------------------------------------------------------------------------

  async lookup(ctx: RequestContext, { parent, name }: LookupArgs): Promise<EntryResult> {
    this.counters.count('lookup');
    if (parent === 1) {
      const h = this.hidden.inodeOf(name);
      if (h !== undefined) return { attr: this.hidden.attr(h), entryTimeout: 0, attrTimeout: 0 };
    }
    const p = this.inodes.toMaster(parent);
    const stamp = this.files.stamp();
    const cached = this.namesCacheable(p) ? this.cache.entry(p, name) : undefined;
    if (cached === null) {
      this.counters.count('lookup_leased_missing');
      throw fail('ENOENT', name);
    }
    if (cached) this.counters.count('lookup_cached');
    const t = this.cache.ticket();
    let found: Reply<'lookup'>;
    try {
      found = cached ? { attr: cached } : await this.session.lookupEntry(p, name, { cred: this.cred(ctx) });
    } catch (err) {
      if (err instanceof TsmfsError && err.status === Status.ENOENT) this.cache.putMissing(p, name, t);
      throw err;
    }
    const a = found.attr;
    // The master's answer says whether `p` has noentrycache; one from the lease, what the lease knows.
    const uncached = cached ? this.cache.namesUncached(p) : found.noEntryCache === true;
    if (!cached) this.cache.putEntry(p, name, a, t, { withAttr: this.files.current(a.inode, stamp), renews: true, uncached });
    if (a.type === 'dir') this.parents.set(a.inode, parent);
    return this.entry(a, stamp, ctx, { parent: p, name, uncached });
  }

  forget(): void {
    // Nothing per inode to let go of: the caches expire by themselves.
  }

  async getattr(ctx: RequestContext, { ino }: GetattrArgs): Promise<AttrResult> {
    this.counters.count('getattr');
    if (this.hidden.isHidden(ino)) return { attr: this.hidden.attr(ino), timeout: 0 };
    const inode = this.inodes.toMaster(ino);
    const stamp = this.files.stamp();
    const cached = this.cache.attr(inode);
    if (cached) {
      this.counters.count('getattr_cached');
      return this.attrReply(cached, stamp, 'cached', ctx);
    }
    const t = this.cache.ticket();
    return this.attrReply(await this.session.getattr(inode), stamp, t, ctx);
  }

  async setattr(ctx: RequestContext, { ino, changes, fh }: SetattrArgs): Promise<AttrResult> {
    this.counters.count('setattr');
    if (this.hidden.isHidden(ino)) throw fail('EPERM', 'hidden entries are read-only');
    const inode = this.inodes.toMaster(ino);
    this.dirChanges.touch(inode);
    // Writes buffered or in flight would land after this change and move the length or
    // mtime again (a size change is ordered after them by the session in any case).
    await this.session.io.drain(inode);
    const req: SetattrChanges = {};
    if (changes.mode !== undefined) {
      req.mode = changes.mode & 0o7777;
      // A non-owner's mode change that reaches us is the kernel's kill-priv notice, never
      // their chmod(2): default_permissions has the kernel refuse that itself (setattr_prepare).
      // Linux 6.18 sends the notice on a non-owner's write even with HANDLE_KILLPRIV granted.
      req.killPrivNotice = true;
    }
    if (changes.uid !== undefined) req.uid = changes.uid;
    if (changes.gid !== undefined) req.gid = changes.gid;
    if (changes.size !== undefined) req.size = changes.size;
    if (changes.atime === 'now') req.atimeNow = true;
    else if (changes.atime) req.atime = changes.atime;
    if (changes.mtime === 'now') req.mtimeNow = true;
    else if (changes.mtime) req.mtime = changes.mtime;
    // ftruncate(2): the kernel names the descriptor; one open for writing allows the size
    // change whatever the mode (the master checks that this session holds such an open).
    if (fh !== undefined && this.files.get(fh)?.handle.writable) req.viaWritableHandle = true;
    // Without a size the master answers at once, leased (a chunk's cut answers later,
    // unleased): a stat after chmod, tar's fchown after futimens, are answered here.
    const t = changes.size === undefined ? this.cache.ticket() : undefined;
    const before = this.files.stamp();
    const a = await this.session.setattr(inode, req, { cred: this.cred(ctx) });
    if (changes.size !== undefined) this.files.truncated(inode);
    // The reply carries the change: it counts as asked for after it.
    return this.attrReply(a, this.files.stamp(), t && this.files.current(inode, before) ? t : undefined, ctx);
  }

  async readlink(_ctx: RequestContext, { ino }: ReadlinkArgs): Promise<string> {
    this.counters.count('readlink');
    return this.session.readlink(this.inodes.toMaster(ino));
  }

  async mknod(ctx: RequestContext, { parent, name, mode, rdev }: MknodArgs): Promise<EntryResult> {
    this.counters.count('mknod');
    const p = this.writableParent(parent, name);
    const t = this.cache.ticket();
    const cred = this.cred(ctx);
    return this.dirChanges.changing(
      [p],
      t,
      (onParents) => this.session.mknod(p, name, mknodType(mode), mode & 0o7777, rdev, { cred, umask: this.umask(ctx), onParents }),
      (a, parents) => this.created(p, name, a, t, parents),
    );
  }

  async mkdir(ctx: RequestContext, { parent, name, mode }: MkdirArgs): Promise<EntryResult> {
    this.counters.count('mkdir');
    const p = this.writableParent(parent, name);
    const t = this.cache.ticket();
    const cred = this.cred(ctx);
    return this.dirChanges.changing(
      [p],
      t,
      (onParents) => this.session.mkdir(p, name, mode & 0o7777, { cred, umask: this.umask(ctx), onParents }),
      (a, parents) => {
        this.parents.set(a.inode, parent);
        const entry = this.created(p, name, a, t, parents);
        // Empty, and leased to its maker with mkdir's answer (which carries its flags).
        this.cache.leases.putComplete(a.inode, t, { uncached: namesUncachedIn(a) });
        return entry;
      },
    );
  }

  async symlink(ctx: RequestContext, { parent, name, target }: SymlinkArgs): Promise<EntryResult> {
    this.counters.count('symlink');
    const p = this.writableParent(parent, name);
    const t = this.cache.ticket();
    const cred = this.cred(ctx);
    return this.dirChanges.changing([p], t, (onParents) => this.session.symlink(p, name, target, { cred, onParents }), (a, parents) => this.created(p, name, a, t, parents));
  }

  async link(ctx: RequestContext, { ino, newParent, newName }: LinkArgs): Promise<EntryResult> {
    this.counters.count('link');
    if (this.hidden.isHidden(ino)) throw fail('EPERM', 'hidden entries cannot be linked');
    const p = this.writableParent(newParent, newName);
    const stamp = this.files.stamp();
    const t = this.cache.ticket();
    const cred = this.cred(ctx);
    const inode = this.inodes.toMaster(ino);
    return this.dirChanges.changing([p], t, (onParents) => this.session.link(inode, p, newName, { cred, onParents }), (a, parents) => this.created(p, newName, a, t, parents, stamp));
  }

  async unlink(ctx: RequestContext, { parent, name }: UnlinkArgs): Promise<void> {
    this.counters.count('unlink');
    const p = this.writableParent(parent, name);
    const t = this.cache.ticket();
    const cred = this.cred(ctx);
    try {
      await this.dirChanges.changing([p], t, (onParents) => this.session.unlink(p, name, { cred, onParents }), () => this.cache.dropEntry(p, name, true));
    } catch (err) {
      this.cache.dropEntry(p, name);
      throw err;
    }
  }

  async rmdir(ctx: RequestContext, { parent, name }: RmdirArgs): Promise<void> {
    this.counters.count('rmdir');
    const p = this.writableParent(parent, name);
    const t = this.cache.ticket();
    const cred = this.cred(ctx);
    try {
      await this.dirChanges.changing([p], t, (onParents) => this.session.rmdir(p, name, { cred, onParents }), () => this.cache.dropEntry(p, name, true));
    } catch (err) {
      this.cache.dropEntry(p, name);
      throw err;
    }
  }

  /** renameat2's RENAME_NOREPLACE and RENAME_EXCHANGE are the master's (EINVAL for others). */
  async rename(ctx: RequestContext, { parent, name, newParent, newName, flags }: RenameArgs): Promise<void> {
    this.counters.count('rename');
    const p = this.writableParent(parent, name);
    const np = this.writableParent(newParent, newName);
    const stamp = this.files.stamp();
    const t = this.cache.ticket();
    const cred = this.cred(ctx);
    const forget = (): void => {
      this.cache.dropEntry(p, name);
      this.cache.dropEntry(np, newName);
    };
    // The node the master says moved: the old name is gone and the new one names it, so a
    // leased directory stays complete (the renamed names' lookups, and the negative lookup
    // before the next rename to a new name, stay here).
    const moved = (a: Attr | undefined, parents: Attr[]): void => {
      if (!a) return forget();
      this.cache.dropEntry(p, name, true);
      this.created(np, newName, a, t, parents, stamp);
      if (a.type === 'dir') this.parents.set(a.inode, newParent);
    };
    try {
      await this.dirChanges.changing([p, np], t, (onParents) => this.session.rename(p, name, np, newName, flags, { cred, onParents }), moved);
    } catch (err) {
      forget();
      throw err;
    }
  }

  // ---- directories ----------------------------------------------------------------------

  /**
   * The whole listing is fetched here, with attributes (as MooseFS's client does), so
   * READDIRPLUS hands the kernel each name's entry and `ls -l` needs no LOOKUP per name.
   * A directory leased whole is listed from the lease (find, du, ls -R walking a tree
   * again): the kernel checked read permission (default_permissions), as it checks the
   * search permission of the lookups answered from leases.
   */
  async opendir(ctx: RequestContext, { ino }: OpendirArgs): Promise<OpenResult> {
    this.counters.count('opendir');
    const inode = this.inodes.toMaster(ino);
    const stamp = this.files.stamp();
    const leased = this.namesCacheable(inode) ? this.cache.leases.listing(inode) : undefined;
    if (leased) this.counters.count('opendir_leased');
    const t = this.cache.ticket();
    const { entries: listing, noEntryCache: uncached } = leased
      ? { entries: leased.map(({ name, attr }) => ({ name, inode: attr.inode, type: attr.type, attr })), noEntryCache: this.cache.namesUncached(inode) }
      : await this.session.listing(inode, { cred: this.cred(ctx), withAttrs: true });
    const entries: KernelDirEntry[] = [
      kernelDirEntry('.', ino, 'dir', 1),
      kernelDirEntry('..', ino === 1 ? 1 : (this.parents.get(ino) ?? 1), 'dir', 2),
    ];
    // "." and ".." go without an entry: READDIRPLUS must not count them as lookups.
    const attrs: (Attr | undefined)[] = [undefined, undefined];
    for (const e of listing) {
      if (ino === 1 && this.hidden.isHiddenName(e.name)) continue;
      // A leased listing renews nothing: only the master's answer extends a lease.
      if (e.attr && !leased) this.cache.putEntry(inode, e.name, e.attr, t, { withAttr: this.files.current(e.inode, stamp), renews: true, uncached });
      if (e.type === 'dir') this.parents.set(e.inode, ino);
      entries.push(kernelDirEntry(e.name, this.inodes.toKernel(e.inode), e.type, entries.length + 1));
      attrs.push(e.attr);
    }
    // The whole listing, read under the directory's lease: names not in it do not exist.
    if (!leased && listing.every((e) => e.attr)) this.cache.leases.putComplete(inode, t, { uncached });
    const fh = this.nextDirFh++;
    this.dirs.set(fh, { inode, entries, attrs, stamp, uncached });
    return { fh };
  }

  readdir(_ctx: RequestContext, { size, offset, fh }: ReaddirArgs): KernelDirEntry[] {
    const { entries } = this.listing(fh);
    // An entry takes at least 32 bytes in the kernel's buffer; the binding drops what does not fit.
    return entries.slice(offset, offset + Math.floor(size / 32) + 1);
  }

  /**
   * The listing with each name's entry, as lookup would answer it from the listing's
   * attributes; the size is worked out now (writes made here since the listing count).
   */
  readdirplus(ctx: RequestContext, { size, offset, fh }: ReaddirplusArgs): DirEntryPlus[] {
    this.counters.count('readdirplus');
    const { inode, entries, attrs, stamp, uncached } = this.listing(fh);
    // A READDIRPLUS entry takes at least 160 bytes; the binding drops what does not fit.
    const end = Math.min(entries.length, offset + Math.floor(size / 160) + 1);
    const out: DirEntryPlus[] = [];
    for (let i = offset; i < end; i++) {
      const a = attrs[i];
      // What this mount changed since (a chmod, a truncate) is in the cache, fresher.
      out.push(a ? { ...entries[i], entry: this.entry(this.cache.attr(a.inode) ?? a, stamp, ctx, { parent: inode, name: entries[i]!.name, uncached }) } : entries[i]);
    }
    return out;
  }

  private listing(fh: number) {
    const listing = this.dirs.get(fh);
    if (!listing) throw fail('EBADF', 'unknown directory handle');
    return listing;
  }

  releasedir(_ctx: RequestContext, { fh }: ReleasedirArgs): void {
    this.dirs.delete(fh);
  }

  /** Whatever CHANGELOG_SAVE_MODE the master runs with, the directory's changes are durable once this returns. */
  async fsyncdir(): Promise<void> {
    this.counters.count('fsyncdir');
    await this.session.metaSync();
  }

  // ---- files ----------------------------------------------------------------------------

  async open(ctx: RequestContext, { ino, flags }: OpenArgs): Promise<OpenResult> {
    this.counters.count('open');
    if (this.hidden.isHidden(ino)) {
      if ((flags & O_ACCMODE) !== 0) throw fail('EACCES', 'hidden entries are read-only');
      const fh = this.nextHiddenFh++;
      this.hiddenOpen.set(fh, this.hidden.content(ino));
      return { fh, directIo: true };
    }
    const inode = this.inodes.toMaster(ino);
    const held = this.reopenHeld(inode, flags, ctx);
    if (held) return held;
    const stamp = this.files.stamp();
    const t = this.cache.ticket();
    const file = await this.openHandle(inode, flags, this.cred(ctx), false);
    // Close-to-open: the master's open reply replaces what this mount had cached, and says
    // whether the kernel's cached pages are still the file's.
    this.attrReply(file.handle.attr, stamp, t);
    return { fh: file.fh, ...this.caching(file.handle.attr, this.cache.leases.leasedUntil(t)) };
  }

  async create(ctx: RequestContext, { parent, name, mode, flags }: CreateArgs): Promise<CreateResult> {
    this.counters.count('create');
    const p = this.writableParent(parent, name);
    const t = this.cache.ticket();
    const cred = this.cred(ctx);
    let made: { a: Attr; entry: EntryResult };
    try {
      // Made and opened in one master request (O_CREAT: the creator may open it whatever its mode).
      made = await this.dirChanges.changing(
        [p],
        t,
        (onParents) => this.session.create(p, name, mode & 0o7777, { cred, umask: this.umask(ctx), open: flags, onParents }),
        (a, parents) => ({ a, entry: this.created(p, name, a, t, parents) }),
      );
    } catch (err) {
      // Another client made it since the kernel's lookup: open what is there, as open(O_CREAT) would.
      if (!(err instanceof TsmfsError && err.status === Status.EEXIST) || flags & O_EXCL) throw err;
      const { attr: a, noEntryCache } = await this.session.lookupEntry(p, name, { cred });
      const entry = this.created(p, name, a, t, noEntryCache === true);
      const file = await this.openHandle(a.inode, flags, cred, false);
      return { ...entry, fh: file.fh, ...this.caching(file.handle.attr, this.cache.leases.leasedUntil(t)) };
    }
    const { a, entry } = made;
    const file = this.files.add(a.inode, this.session.openedFile(a, flags, { cred }), this.tuning.readAheadMax);
    return { ...entry, fh: file.fh, ...this.caching(a, this.cache.leases.leasedUntil(t)) };
  }

  async read(_ctx: RequestContext, { ino, size, offset, fh }: ReadArgs): Promise<Buffer> {
    this.counters.count('read');
    const hidden = this.hiddenOpen.get(fh);
    if (hidden) return hidden.subarray(Math.min(offset, hidden.length), Math.min(offset + size, hidden.length));
    // The handle's read waits for every write of the file through this mount (any handle).
    return this.file(fh).readAhead.read(offset, size);
  }

  async write(_ctx: RequestContext, { data, offset, fh }: WriteArgs): Promise<number> {
    this.counters.count('write');
    const file = this.file(fh);
    // The binding gives each write's bytes a buffer of their own: handed over, not copied.
    const n = await file.handle.write(offset, data, true);
    // What is cached of the file stays (the master's attributes move at a write's end or
    // by a recall; OpenFiles.size covers this write): git's fstat before close is local.
    this.files.wrote(file.inode, offset + n);
    this.writeEnds.wrote(file.inode);
    return n;
  }

  /**
   * Every close(2): the data reach every copy before close returns (errors included), as
   * with mfsmount; durable on disk only after fsync(2), which POSIX requires for that.
   */
  async flush(_ctx: RequestContext, { fh, lockOwner }: FlushArgs): Promise<void> {
    if (this.hiddenOpen.has(fh)) return;
    const file = this.file(fh);
    await this.locks.flushed(file.inode, lockOwner);
    if (!file.handle.writable) return;
    // Each chunk write's end drops the attributes cached before it (write-ends.ts): what
    // is cached after the flush came later (a setattr's answer: tar's futimens, fchown,
    // fchmod) and stays; the kernel has forgotten what the ends made stale.
    await file.handle.flush();
    await this.writeEnds.settled(file.inode);
  }

  async fsync(_ctx: RequestContext, { fh }: FsyncArgs): Promise<void> {
    this.counters.count('fsync');
    if (this.hiddenOpen.has(fh)) return;
    const file = this.file(fh);
    await file.handle.fsync();
    await this.writeEnds.settled(file.inode);
    // The data first: their writeChunkEnd changed the length, which metaSync then makes durable.
    await this.session.metaSync();
  }

  async release(_ctx: RequestContext, { fh, flockRelease, lockOwner }: ReleaseArgs): Promise<void> {
    if (this.hiddenOpen.delete(fh)) return;
    const file = this.files.get(fh);
    if (!file) return;
    try {
      // An unlock that fails must not keep the file open: the master drops what this
      // session still holds on the file at its last release anyway.
      await this.locks.released(file.inode, fh, flockRelease, lockOwner).catch(() => undefined);
      await file.handle.close();
    } finally {
      // The size rule (open-files.ts) holds only while open; with no write in flight, every
      // write's end dropped what was cached before it, so what is cached (a create's or a
      // setattr's answer) is the master's and stays for the `stat` or `ls -l` that follows.
      const busy = this.session.io.busy(file.inode);
      this.files.remove(file);
      if (busy) this.cache.dropAttr(file.inode);
    }
  }

  // ---- locks (lock-ops.ts) -------------------------------------------------------------------

  getlk(_ctx: RequestContext, { fh, lock, owner }: GetlkArgs): Promise<FileLock> {
    this.counters.count('getlk');
    return this.locks.getlk(this.lockable(fh), lock, owner);
  }

  setlk(ctx: RequestContext, { fh, lock, owner, sleep }: SetlkArgs): Promise<void> {
    this.counters.count('setlk');
    return this.locks.setlk(ctx, this.lockable(fh), fh, lock, owner, sleep);
  }

  flock(ctx: RequestContext, { fh, op, owner }: FlockArgs): Promise<void> {
    this.counters.count('flock');
    return this.locks.flock(ctx, this.lockable(fh), op, owner);
  }

  /** The master inode of the file open as `fh`; the hidden files take no locks. */
  private lockable(fh: number): number {
    if (this.hiddenOpen.has(fh)) throw fail('ENOLCK');
    return this.file(fh).inode;
  }

  // ---- the rest -----------------------------------------------------------------------------

  async statfs(): Promise<StatfsResult> {
    this.counters.count('statfs');
    const s = await this.session.statfs();
    const bsize = 65536;
    const files = 0x7fffffff;
    return {
      bsize,
      frsize: bsize,
      blocks: Math.floor(s.totalSpace / bsize),
      bfree: Math.floor(s.availSpace / bsize),
      bavail: Math.floor(s.availSpace / bsize),
      files,
      ffree: files - s.inodes,
      favail: files - s.inodes,
      namemax: 255,
    };
  }

  async access(ctx: RequestContext, { ino, mask }: AccessArgs): Promise<void> {
    this.counters.count('access');
    if (this.hidden.isHidden(ino)) {
      if (mask & 3) throw fail('EACCES', 'hidden entries are read-only');
      return;
    }
    await this.session.access(this.inodes.toMaster(ino), mask, { cred: this.cred(ctx) });
  }

  /** The umask the master applies to a new node: none when the kernel applied it already. */
  private umask(ctx: RequestContext): number {
    return this.kernelAppliesUmask ? 0 : ctx.umask & 0o777;
  }

  // Extended attributes and POSIX ACLs: xattr-ops.ts.
  setxattr(ctx: RequestContext, args: SetxattrArgs): Promise<void> {
    return this.xattrs.set(ctx, args);
  }

  getxattr(ctx: RequestContext, args: GetxattrArgs): Promise<Buffer> {
    return this.xattrs.get(ctx, args);
  }

  listxattr(ctx: RequestContext, args: ListxattrArgs): Promise<string[]> {
    return this.xattrs.list(ctx, args);
  }

  removexattr(ctx: RequestContext, args: RemovexattrArgs): Promise<void> {
    return this.xattrs.remove(ctx, args);
  }

  /**
   * This mount changed `inode`'s access ACL and so its mode: a kernel not handling ACLs
   * keeps the old mode and the names it holds there; both go, as a master's recall does
   * for other mounts. Not waited for: the kernel holds the node locked until answered.
   */
  private accessAclChanged(inode: number): void {
    if (this.kernelChecksAcls) return;
    void this.forgetting.inKernel(this.cache.leases.recall([inode], [inode]));
  }

  /** chattr +i/+a and lsattr (chattr-ioctl.ts): the node's immutable and appendonly extra attributes. */
  async ioctl(ctx: RequestContext, { ino, cmd, input, outSize }: IoctlArgs): Promise<Buffer> {
    this.counters.count('ioctl');
    if (this.hidden.isHidden(ino)) throw fail('ENOTTY');
    const inode = this.inodes.toMaster(ino);
    const asked = flagsIoctl(cmd, input);
    if (asked.op === 'get') return asked.answer((await this.session.getattr(inode)).eattr ?? 0, outSize);
    const counts = await this.session.call('seteattr', { cred: this.cred(ctx), inode, set: asked.set, clear: asked.clear, recursive: false });
    if (counts.denied > 0) throw fail('EPERM');
    this.cache.dropAttr(inode);
    return Buffer.alloc(0);
  }

  /** Sends what every open file still buffers (before an unmount or exit). */
  async closeAll(): Promise<void> {
    await Promise.allSettled(this.files.all().map((f) => f.handle.close()));
  }

  // ---- helpers of this class -------------------------------------------------------------

  /** The caller as the master should see it; supplementary groups are read from /proc once a second per process. */
  private cred(ctx: RequestContext): Cred {
    let groups = this.groups.get(ctx.pid);
    if (!groups) {
      groups = ctx.groups();
      this.groups.set(ctx.pid, groups);
    }
    return { uid: ctx.uid, gid: ctx.gid, groups };
  }

  private writableParent(parent: number, name: string): number {
    if (parent === 1 && this.hidden.isHiddenName(name)) throw fail('EPERM', `${name} is reserved in the mount root`);
    return this.inodes.toMaster(parent);
  }

  /**
   * A new name's attributes, just made by the master; `stamp`: when they were asked for
   * (a link to, or a rename of, a file open here follows the size rule); `said`, whether
   * `parent` has noentrycache: a lookup's word, or the change's directories as its reply
   * gave them (whose attributes carry it).
   */
  private created(parent: number, name: string, a: Attr, t: Ticket, said: Attr[] | boolean, stamp = this.files.stamp()): EntryResult {
    const dir = typeof said === 'boolean' ? undefined : said.find((d) => d.inode === parent);
    const uncached = typeof said === 'boolean' ? said : dir ? namesUncachedIn(dir) : this.cache.namesUncached(parent);
    const at = { parent, name, uncached };
    // The name exists now: putEntry records it (or, for an answer it cannot lease, forgets the directory's wholeness).
    this.cache.dropEntry(parent, name, true);
    this.cache.putEntry(parent, name, a, t, { withAttr: this.files.current(a.inode, stamp), renews: false, uncached });
    return this.entry(a, stamp, undefined, at);
  }

  /**
   * Attributes asked for at `stamp` (OpenFiles.stamp) with ticket `t` ('cached': taken
   * from the cache; none: an answer the master does not lease, a setattr's): cached only
   * when no size change here came after the asking. While the session leases, the kernel
   * keeps them as long as the lease, or not at all.
   */
  private attrReply(a: Attr, stamp: number, t?: Ticket | 'cached', ctx?: RequestContext): AttrResult {
    if (t !== 'cached') {
      if (this.files.current(a.inode, stamp) && (t || !this.cache.leasing)) this.cache.putAttr(a, t ?? NO_LEASE);
      else this.cache.dropAttr(a.inode);
    }
    const timeout = this.cache.leasing ? this.cache.leases.attrSec(a.inode) : this.tuning.attrTimeoutSec;
    return { attr: this.kernel(a, stamp, ctx), timeout: attrTimeout(a, timeout) };
  }

  /**
   * An entry for the kernel: `name` in `parent` (master inodes) is kept there as long as
   * it is leased, not at all when `parent` has noentrycache (`uncached`); `ctx`, the
   * caller, is the owner a noowner node shows (eattr-caching.ts).
   */
  private entry(a: Attr, stamp: number, ctx: RequestContext | undefined, { parent, name, uncached }: { parent: number; name: string; uncached: boolean }): EntryResult {
    const attr = this.kernel(a, stamp, ctx);
    const unkept = !this.namesCacheable(parent);
    if (!this.cache.leasing) return { attr, entryTimeout: entryTimeout(uncached, unkept ? 0 : this.tuning.entryTimeoutSec), attrTimeout: attrTimeout(a, this.tuning.attrTimeoutSec) };
    const entrySec = unkept ? 0 : this.cache.leases.entrySec(parent, name);
    return { attr, entryTimeout: entryTimeout(uncached, entrySec), attrTimeout: attrTimeout(a, this.cache.leases.attrSec(a.inode)) };
  }

  /**
   * Whether names in `dir` may be answered without the master and kept by the kernel: a
   * kernel checking mode bits only would let a name it keeps through for a caller whom
   * the directory's ACL keeps out, so then only while `dir` is leased as having no xattr.
   */
  private namesCacheable(dir: number): boolean {
    return this.kernelChecksAcls || (this.cache.leasing && this.cache.leases.hasNoXattrs(dir));
  }

  private kernel(a: Attr, stamp: number, ctx?: RequestContext) {
    const k = kernelAttr(a, this.inodes);
    if (a.type === 'file') {
      k.size = this.files.size(a.inode, a.size, stamp);
      this.writeEnds.handedToKernel(a.inode);
    }
    return withOwner(k, a, ctx);
  }

  /**
   * How the kernel caches an opened file's data: not at all (direct_io: -o
   * mfscachemode=DIRECT, or the file's nodatacache), or in its page cache, keeping the
   * pages it holds when they are still the file's (page-cache.ts).
   */
  private caching(a: Attr, leasedUntil: number): { directIo: boolean; keepCache: boolean } {
    if (this.pages.mode === 'DIRECT' || directIo(a)) return { directIo: true, keepCache: false };
    return { directIo: false, keepCache: this.pages.opened(a, leasedUntil) };
  }

  private file(fh: number) {
    const f = this.files.get(fh);
    if (!f) throw fail('EBADF', `unknown file handle ${fh}`);
    return f;
  }

  /**
   * The master's open (permissions, O_TRUNC, the open count that keeps an unlinked file
   * alive). The creator of a file may write it whatever mode it asked for (open(2) with
   * O_CREAT and mode 0444): a fresh file refused to its creator is opened as root.
   */
  /**
   * An open for reading answered here (docs/mount.md, "Opens held"): the master still
   * counts the open a close of this file left held, and the file's attributes are
   * leased, so nothing has changed it since. The kernel checked the permissions (where
   * an ACL may apply that it does not check, only when the file has none).
   */
  private reopenHeld(inode: number, flags: number, ctx: RequestContext): OpenResult | undefined {
    if (!this.session.holdsOpen(inode)) return undefined;
    const a = this.cache.leases.attr(inode);
    if (!a || a.type !== 'file' || !(this.kernelChecksAcls || this.cache.leases.hasNoXattrs(inode))) return undefined;
    const handle = this.session.reopenHeld(a, flags, { cred: this.cred(ctx) });
    if (!handle) return undefined;
    this.counters.count('open_held');
    const file = this.files.add(inode, handle, this.tuning.readAheadMax);
    return { fh: file.fh, ...this.caching(a, this.cache.leases.termEnd()) };
  }

  private async openHandle(inode: number, flags: number, cred: Cred, fresh: boolean) {
    let handle: FileHandle;
    try {
      handle = await this.session.openFile(inode, flags, { cred });
    } catch (err) {
      if (!(fresh && err instanceof TsmfsError && err.status === Status.EACCES)) throw err;
      handle = await this.session.openFile(inode, flags, { cred: { uid: 0, gid: 0, groups: [0] } });
    }
    const file = this.files.add(inode, handle, this.tuning.readAheadMax);
    if (flags & O_TRUNC) this.files.truncated(inode);
    return file;
  }
}
