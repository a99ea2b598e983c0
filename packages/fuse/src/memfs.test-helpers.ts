import { constants } from 'node:fs';
import { fail } from '@tsmfs/protocol';
import {
  LockType,
  type Attr,
  type CreateResult,
  type DirEntry,
  type DirEntryPlus,
  type EntryResult,
  type FileLock,
  type LowLevelOps,
  type RequestContext,
  type CreateArgs,
  type FlockArgs,
  type FlushArgs,
  type GetattrArgs,
  type GetlkArgs,
  type GetxattrArgs,
  type LinkArgs,
  type ListxattrArgs,
  type LookupArgs,
  type MkdirArgs,
  type MknodArgs,
  type ReadArgs,
  type ReaddirArgs,
  type ReaddirplusArgs,
  type ReadlinkArgs,
  type ReleaseArgs,
  type RemovexattrArgs,
  type RenameArgs,
  type RmdirArgs,
  type SetattrArgs,
  type SetlkArgs,
  type SetxattrArgs,
  type SymlinkArgs,
  type UnlinkArgs,
  type WriteArgs,
  type SetAttrChanges,
  type StatfsResult,
  type Timespec,
} from './index.js';

const { S_IFMT, S_IFDIR, S_IFREG, S_IFLNK } = constants;
const RENAME_NOREPLACE = 1;

interface HeldLock {
  owner: bigint;
  type: number;
  start: number;
  /** Inclusive; Infinity for "to the end of file". */
  end: number;
  pid: number;
}

const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

interface Node {
  attr: Attr;
  data: Buffer;
  entries: Map<string, number> | undefined;
  target: string | undefined;
  xattrs: Map<string, Buffer>;
}

function now(): Timespec {
  const ms = Date.now();
  return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 };
}

/**
 * A file system kept in a dictionary of inodes, served through the binding by the tests.
 * It records what arrived (write sizes, setattr changes) so tests can assert on the
 * requests themselves, not only on what the shell printed.
 */
export class MemFs implements LowLevelOps {
  readonly nodes = new Map<number, Node>();
  readonly writeSizes: number[] = [];
  readonly setattrs: SetAttrChanges[] = [];
  readonly calls = new Map<string, number>();
  readonly locks = new Map<number, HeldLock[]>();
  readonly flocks = new Map<number, Map<bigint, number>>();
  interrupts = 0;
  private waiters: (() => void)[] = [];
  private nextIno = 1000;
  private nextFh = 1;

  constructor(private readonly timeout = 1) {
    this.nodes.set(1, this.node(1, S_IFDIR | 0o755, 0, 0));
    this.nodes.get(1)!.entries = new Map();
    this.nodes.get(1)!.attr.nlink = 2;
  }

  private count(op: string): void {
    this.calls.set(op, (this.calls.get(op) ?? 0) + 1);
  }

  private node(ino: number, mode: number, uid: number, gid: number): Node {
    const t = now();
    return {
      attr: { ino, mode, nlink: 1, uid, gid, size: 0, atime: t, mtime: { ...t }, ctime: { ...t } },
      data: Buffer.alloc(0),
      entries: undefined,
      target: undefined,
      xattrs: new Map(),
    };
  }

  private get(ino: number): Node {
    const node = this.nodes.get(ino);
    if (!node) throw fail('ENOENT', `inode ${ino}`);
    return node;
  }

  private dir(ino: number): Map<string, number> {
    const entries = this.get(ino).entries;
    if (!entries) throw fail('ENOTDIR');
    return entries;
  }

  protected entry(ino: number): EntryResult {
    return { attr: { ...this.get(ino).attr }, entryTimeout: this.timeout, attrTimeout: this.timeout };
  }

  private touchDir(parent: number): void {
    const t = now();
    const attr = this.get(parent).attr;
    attr.mtime = t;
    attr.ctime = { ...t };
  }

  private add(ctx: RequestContext, parent: number, name: string, mode: number): Node {
    const entries = this.dir(parent);
    if (entries.has(name)) throw fail('EEXIST', name);
    const node = this.node(this.nextIno++, mode, ctx.uid, ctx.gid);
    if ((mode & S_IFMT) === S_IFDIR) {
      node.entries = new Map();
      node.attr.nlink = 2;
      this.get(parent).attr.nlink++;
    }
    this.nodes.set(node.attr.ino, node);
    entries.set(name, node.attr.ino);
    this.touchDir(parent);
    return node;
  }

  private drop(ino: number): void {
    const node = this.get(ino);
    node.attr.nlink -= node.entries ? 2 : 1;
    node.attr.ctime = now();
    if (node.attr.nlink <= 0) this.nodes.delete(ino);
  }

  lookup(ctx: RequestContext, { parent, name }: LookupArgs): EntryResult | Promise<EntryResult> {
    this.count('lookup');
    const ino = this.dir(parent).get(name);
    if (ino === undefined) throw fail('ENOENT', name);
    return this.entry(ino);
  }

  getattr(ctx: RequestContext, { ino }: GetattrArgs) {
    this.count('getattr');
    return { attr: { ...this.get(ino).attr }, timeout: this.timeout };
  }

  setattr(ctx: RequestContext, { ino, changes }: SetattrArgs) {
    this.count('setattr');
    this.setattrs.push(changes);
    const node = this.get(ino);
    const attr = node.attr;
    const t = now();
    if (changes.mode !== undefined) attr.mode = (attr.mode & S_IFMT) | (changes.mode & 0o7777);
    if (changes.uid !== undefined) attr.uid = changes.uid;
    if (changes.gid !== undefined) attr.gid = changes.gid;
    if (changes.size !== undefined) {
      const data = Buffer.alloc(changes.size);
      node.data.copy(data, 0, 0, Math.min(changes.size, attr.size));
      node.data = data;
      attr.size = changes.size;
      attr.mtime = t;
    }
    if (changes.atime) attr.atime = changes.atime === 'now' ? t : changes.atime;
    if (changes.mtime) attr.mtime = changes.mtime === 'now' ? t : changes.mtime;
    attr.ctime = t;
    return { attr: { ...attr }, timeout: this.timeout };
  }

  readlink(ctx: RequestContext, { ino }: ReadlinkArgs): string {
    const target = this.get(ino).target;
    if (target === undefined) throw fail('EINVAL');
    return target;
  }

  mknod(ctx: RequestContext, { parent, name, mode }: MknodArgs): EntryResult {
    this.count('mknod');
    return this.entry(this.add(ctx, parent, name, mode).attr.ino);
  }

  mkdir(ctx: RequestContext, { parent, name, mode }: MkdirArgs): EntryResult {
    return this.entry(this.add(ctx, parent, name, S_IFDIR | (mode & 0o7777)).attr.ino);
  }

  unlink(ctx: RequestContext, { parent, name }: UnlinkArgs): void {
    const entries = this.dir(parent);
    const ino = entries.get(name);
    if (ino === undefined) throw fail('ENOENT', name);
    if (this.get(ino).entries) throw fail('EISDIR');
    entries.delete(name);
    this.touchDir(parent);
    this.drop(ino);
  }

  rmdir(ctx: RequestContext, { parent, name }: RmdirArgs): void {
    const entries = this.dir(parent);
    const ino = entries.get(name);
    if (ino === undefined) throw fail('ENOENT', name);
    const victim = this.dir(ino);
    if (victim.size > 0) throw fail('ENOTEMPTY', name);
    entries.delete(name);
    this.get(parent).attr.nlink--;
    this.touchDir(parent);
    this.drop(ino);
  }

  symlink(ctx: RequestContext, { parent, name, target }: SymlinkArgs): EntryResult {
    const node = this.add(ctx, parent, name, S_IFLNK | 0o777);
    node.target = target;
    node.attr.size = Buffer.byteLength(target);
    return this.entry(node.attr.ino);
  }

  /** RENAME_NOREPLACE only: any other flag is EINVAL, as the binding's contract asks. */
  rename(ctx: RequestContext, { parent, name, newParent, newName, flags }: RenameArgs): void {
    if (flags & ~RENAME_NOREPLACE) throw fail('EINVAL', `rename flags ${flags}`);
    const from = this.dir(parent);
    const to = this.dir(newParent);
    const ino = from.get(name);
    if (ino === undefined) throw fail('ENOENT', name);
    const existing = to.get(newName);
    if (existing !== undefined && flags & RENAME_NOREPLACE) throw fail('EEXIST', newName);
    if (existing !== undefined) {
      const victim = this.get(existing);
      if (victim.entries && victim.entries.size > 0) throw fail('ENOTEMPTY', newName);
      this.drop(existing);
    }
    from.delete(name);
    to.set(newName, ino);
    const moved = this.get(ino);
    if (moved.entries && parent !== newParent) {
      this.get(parent).attr.nlink--;
      this.get(newParent).attr.nlink++;
    }
    this.touchDir(parent);
    this.touchDir(newParent);
  }

  link(ctx: RequestContext, { ino, newParent, newName }: LinkArgs): EntryResult {
    const to = this.dir(newParent);
    if (to.has(newName)) throw fail('EEXIST', newName);
    const node = this.get(ino);
    to.set(newName, ino);
    node.attr.nlink++;
    node.attr.ctime = now();
    this.touchDir(newParent);
    return this.entry(ino);
  }

  open() {
    this.count('open');
    return { fh: this.nextFh++ };
  }

  create(ctx: RequestContext, { parent, name, mode }: CreateArgs): CreateResult {
    this.count('create');
    const node = this.add(ctx, parent, name, mode);
    return { ...this.entry(node.attr.ino), fh: this.nextFh++ };
  }

  read(ctx: RequestContext, { ino, size, offset }: ReadArgs): Buffer {
    const node = this.get(ino);
    return node.data.subarray(offset, Math.max(offset, Math.min(offset + size, node.attr.size)));
  }

  write(ctx: RequestContext, { ino, data: chunk, offset }: WriteArgs): number {
    this.writeSizes.push(chunk.length);
    const node = this.get(ino);
    const end = offset + chunk.length;
    if (end > node.data.length) {
      const grown = Buffer.alloc(Math.max(end, node.data.length * 2));
      node.data.copy(grown);
      node.data = grown;
    }
    chunk.copy(node.data, offset);
    if (end > node.attr.size) node.attr.size = end;
    const t = now();
    node.attr.mtime = t;
    node.attr.ctime = { ...t };
    return chunk.length;
  }

  flush(ctx: RequestContext, { ino, fh, lockOwner: owner }: FlushArgs): void {
    // POSIX locks die with any close by their owner.
    const held = this.locks.get(ino);
    if (held) this.locks.set(ino, held.filter((l) => l.owner !== owner));
    this.wake();
  }

  release(ctx: RequestContext, { ino, fh, flags, ...info }: ReleaseArgs): void {
    if (info.flockRelease) this.flocks.get(ino)?.delete(info.lockOwner);
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Waits for any unlock; an interrupt (the caller got a signal) ends the wait with EINTR. */
  private waitForUnlock(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.interrupts++;
        reject(signal.reason);
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  private conflict(ino: number, owner: bigint, type: number, start: number, end: number): HeldLock | undefined {
    return (this.locks.get(ino) ?? []).find(
      (l) =>
        l.owner !== owner &&
        l.start <= end &&
        start <= l.end &&
        (type === LockType.WRITE || l.type === LockType.WRITE),
    );
  }

  getlk(ctx: RequestContext, { ino, fh, lock, owner }: GetlkArgs): FileLock {
    this.count('getlk');
    const end = lock.length === 0 ? Infinity : lock.start + lock.length - 1;
    const held = this.conflict(ino, owner, lock.type, lock.start, end);
    if (!held) return { ...lock, type: LockType.UNLOCK };
    const length = held.end === Infinity ? 0 : held.end - held.start + 1;
    return { type: held.type, start: held.start, length, pid: held.pid };
  }

  async setlk(ctx: RequestContext, { ino, fh, lock, owner, sleep }: SetlkArgs) {
    this.count('setlk');
    const end = lock.length === 0 ? Infinity : lock.start + lock.length - 1;
    // Simplified: a new lock or an unlock replaces the owner's overlapping locks whole.
    const others = () =>
      (this.locks.get(ino) ?? []).filter((l) => l.owner !== owner || l.end < lock.start || end < l.start);
    if (lock.type !== LockType.UNLOCK) {
      while (this.conflict(ino, owner, lock.type, lock.start, end)) {
        if (!sleep) throw fail('EAGAIN');
        await this.waitForUnlock(ctx.signal);
      }
    }
    const kept = others();
    if (lock.type !== LockType.UNLOCK) kept.push({ owner, type: lock.type, start: lock.start, end, pid: lock.pid });
    this.locks.set(ino, kept);
    this.wake();
  }

  async flock(ctx: RequestContext, { ino, fh, op, owner }: FlockArgs) {
    this.count('flock');
    const holders = this.flocks.get(ino) ?? new Map<bigint, number>();
    this.flocks.set(ino, holders);
    if (op & LOCK_UN) {
      holders.delete(owner);
      this.wake();
      return;
    }
    const wanted = op & (LOCK_SH | LOCK_EX);
    const busy = () => [...holders].some(([who, held]) => who !== owner && (held === LOCK_EX || wanted === LOCK_EX));
    while (busy()) {
      if (op & LOCK_NB) throw fail('EAGAIN');
      await this.waitForUnlock(ctx.signal);
    }
    holders.set(owner, wanted);
  }

  readdir(ctx: RequestContext, { ino, size, offset }: ReaddirArgs): DirEntry[] {
    const all: DirEntry[] = [
      { name: '.', ino, mode: S_IFDIR, nextOffset: 1 },
      { name: '..', ino: 1, mode: S_IFDIR, nextOffset: 2 },
    ];
    let next = 3;
    for (const [name, child] of this.dir(ino)) {
      all.push({ name, ino: child, mode: this.nodes.get(child)?.attr.mode ?? S_IFREG, nextOffset: next++ });
    }
    return all.slice(offset);
  }

  statfs(): StatfsResult {
    return { bsize: 65536, blocks: 1_000_000, bfree: 750_000, bavail: 700_000, files: 10_000, ffree: 10_000 - this.nodes.size, namemax: 255 };
  }

  setxattr(ctx: RequestContext, { ino, name, value }: SetxattrArgs): void {
    // Storing system.posix_acl_access without applying it would make cp -a believe the
    // mode was copied (it tries the ACL first and falls back to chmod on EOPNOTSUPP).
    if (name.startsWith('system.')) throw fail('ENOTSUP', name);
    this.get(ino).xattrs.set(name, Buffer.from(value));
  }

  getxattr(ctx: RequestContext, { ino, name }: GetxattrArgs): Buffer {
    const value = this.get(ino).xattrs.get(name);
    if (!value) throw fail('ENODATA', name);
    return value;
  }

  listxattr(ctx: RequestContext, { ino }: ListxattrArgs): string[] {
    return [...this.get(ino).xattrs.keys()];
  }

  removexattr(ctx: RequestContext, { ino, name }: RemovexattrArgs): void {
    if (!this.get(ino).xattrs.delete(name)) throw fail('ENODATA', name);
  }
}

/** The in-memory file system listing with READDIRPLUS: names with their lookup answers. */
export class MemFsPlus extends MemFs {
  readdirplus(ctx: RequestContext, { ino, size, offset }: ReaddirplusArgs): DirEntryPlus[] {
    return this.readdir(ctx, { ino, size, offset, fh: 0 }).map((e) =>
      e.name === '.' || e.name === '..' ? e : { ...e, entry: this.entry(e.ino) },
    );
  }
}
