/** Seconds (64-bit, as a safe integer) and nanoseconds. */
export interface Timespec {
  sec: number;
  nsec: number;
}

/** What the kernel is told about an inode; `ino` becomes the st_ino users see. */
export interface Attr {
  ino: number;
  /** Permission bits and S_IFMT type bits. */
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev?: number;
  size: number;
  /** 512-byte blocks; defaults to ceil(size / 512). */
  blocks?: number;
  /** Preferred I/O size; defaults to 65536 (MooseFS's block). */
  blksize?: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
}

/**
 * A directory entry for lookup, mknod, mkdir, symlink, link and create. An `attr.ino`
 * of 0 is a negative entry: the kernel caches "no such name" for entryTimeout.
 */
export interface EntryResult {
  attr: Attr;
  entryTimeout: number;
  attrTimeout: number;
  generation?: number;
}

export interface AttrResult {
  attr: Attr;
  timeout: number;
}

export interface OpenResult {
  /** Handle passed back in read/write/flush/release; must be a safe integer. */
  fh: number;
  directIo?: boolean;
  keepCache?: boolean;
  nonSeekable?: boolean;
}

export type CreateResult = EntryResult & OpenResult;

export interface DirEntry {
  name: string;
  ino: number;
  /** Only the S_IFMT type bits are used. */
  mode: number;
  /** The offset the kernel passes to readdir to continue after this entry. */
  nextOffset: number;
}

/**
 * A READDIRPLUS entry: the name with its lookup answer, so that `ls -l` needs no LOOKUP
 * per name. Without `entry` (as for "." and "..") only the name, ino and type are listed.
 */
export interface DirEntryPlus extends DirEntry {
  entry?: EntryResult;
}

export interface StatfsResult {
  bsize: number;
  frsize?: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail?: number;
  fsid?: number;
  namemax?: number;
}

/**
 * setattr's changes: a field is present only if the caller set it. A time is 'now' when
 * the caller asked for the current time (UTIME_NOW), so the server's clock decides; an
 * absent time is UTIME_OMIT and must stay as it is.
 */
export interface SetAttrChanges {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  atime?: Timespec | 'now';
  mtime?: Timespec | 'now';
  /** The raw FUSE_SET_ATTR_* bits. */
  toSet: number;
}

export interface ForgetItem {
  ino: number;
  nlookup: number;
}

export interface WriteInfo {
  flags: number;
  /** The write comes from the page cache's writeback rather than a write(2). */
  writepage: boolean;
}

export interface ReleaseInfo {
  flush: boolean;
  flockRelease: boolean;
  lockOwner: bigint;
}

/** Who asks. Valid while the request is unanswered. */
export interface RequestContext {
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
  /** The caller's umask; the kernel has already applied it to mknod/mkdir/create modes. */
  readonly umask: number;
  /** Supplementary groups of the caller (read from /proc on first use). */
  groups(): number[];
  /**
   * Aborted when the kernel interrupts the request (the caller got a signal); its reason
   * carries errno EINTR, so `throw signal.reason` answers EINTR. A handler that waits
   * (a blocking lock, a slow server) should listen to it.
   */
  readonly signal: AbortSignal;
  readonly interrupted: boolean;
}

/** l_type values (Linux). */
export const LockType = { READ: 0, WRITE: 1, UNLOCK: 2 } as const;

/** A POSIX byte-range lock as fcntl(2) describes it; length 0 means to the end of file. */
export interface FileLock {
  type: number;
  start: number;
  length: number;
  pid: number;
}

type Awaitable<T> = T | Promise<T>;

/**
 * The low-level, inode-based methods. Throw an error carrying a positive errno in
 * `.status` or `.errno` to fail with it; anything else fails with EIO. A missing method
 * answers ENOSYS, except open/opendir (fh 0), release/releasedir (success) and forget.
 */
export interface LowLevelOps {
  lookup?(ctx: RequestContext, parent: number, name: string): Awaitable<EntryResult>;
  /** Both FUSE_FORGET and FUSE_BATCH_FORGET; already answered, the result is ignored. */
  forget?(ctx: RequestContext, items: ForgetItem[]): Awaitable<void>;
  getattr?(ctx: RequestContext, ino: number, fh: number | undefined): Awaitable<AttrResult>;
  setattr?(
    ctx: RequestContext,
    ino: number,
    changes: SetAttrChanges,
    fh: number | undefined,
  ): Awaitable<AttrResult>;
  readlink?(ctx: RequestContext, ino: number): Awaitable<string>;
  /** mode carries the S_IFMT type; already umasked by the kernel. */
  mknod?(ctx: RequestContext, parent: number, name: string, mode: number, rdev: number): Awaitable<EntryResult>;
  /** mode is the permission bits as the kernel sends them (no S_IFDIR), already umasked. */
  mkdir?(ctx: RequestContext, parent: number, name: string, mode: number): Awaitable<EntryResult>;
  unlink?(ctx: RequestContext, parent: number, name: string): Awaitable<void>;
  rmdir?(ctx: RequestContext, parent: number, name: string): Awaitable<void>;
  symlink?(ctx: RequestContext, parent: number, name: string, target: string): Awaitable<EntryResult>;
  /**
   * `flags`: renameat2's RENAME_NOREPLACE (1), RENAME_EXCHANGE (2) or RENAME_WHITEOUT (4);
   * a handler must answer EINVAL for a flag it does not implement, never ignore it.
   */
  rename?(
    ctx: RequestContext,
    parent: number,
    name: string,
    newParent: number,
    newName: string,
    flags: number,
  ): Awaitable<void>;
  link?(ctx: RequestContext, ino: number, newParent: number, newName: string): Awaitable<EntryResult>;
  open?(ctx: RequestContext, ino: number, flags: number): Awaitable<OpenResult>;
  read?(ctx: RequestContext, ino: number, size: number, offset: number, fh: number): Awaitable<Buffer>;
  write?(
    ctx: RequestContext,
    ino: number,
    data: Buffer,
    offset: number,
    fh: number,
    info: WriteInfo,
  ): Awaitable<number>;
  flush?(ctx: RequestContext, ino: number, fh: number, lockOwner: bigint): Awaitable<void>;
  release?(ctx: RequestContext, ino: number, fh: number, flags: number, info: ReleaseInfo): Awaitable<void>;
  fsync?(ctx: RequestContext, ino: number, datasync: boolean, fh: number): Awaitable<void>;
  opendir?(ctx: RequestContext, ino: number, flags: number): Awaitable<OpenResult>;
  /** Entries past what fits in `size` bytes are dropped; the kernel asks again from the last nextOffset. */
  readdir?(ctx: RequestContext, ino: number, size: number, offset: number, fh: number): Awaitable<DirEntry[]>;
  /**
   * Served instead of readdir when given (the kernel then asks READDIRPLUS): every entry
   * with an `entry` counts as a lookup of it (forget will follow), except "." and "..".
   */
  readdirplus?(ctx: RequestContext, ino: number, size: number, offset: number, fh: number): Awaitable<DirEntryPlus[]>;
  releasedir?(ctx: RequestContext, ino: number, fh: number, flags: number): Awaitable<void>;
  fsyncdir?(ctx: RequestContext, ino: number, datasync: boolean, fh: number): Awaitable<void>;
  statfs?(ctx: RequestContext, ino: number): Awaitable<StatfsResult>;
  setxattr?(ctx: RequestContext, ino: number, name: string, value: Buffer, flags: number): Awaitable<void>;
  /** Return the whole value; the size protocol (probe with 0, ERANGE) is handled here. */
  getxattr?(ctx: RequestContext, ino: number, name: string): Awaitable<Buffer>;
  /** Return the names; packing and the size protocol are handled here. */
  listxattr?(ctx: RequestContext, ino: number): Awaitable<string[]>;
  removexattr?(ctx: RequestContext, ino: number, name: string): Awaitable<void>;
  access?(ctx: RequestContext, ino: number, mask: number): Awaitable<void>;
  /** mode carries S_IFREG; already umasked by the kernel. */
  create?(ctx: RequestContext, parent: number, name: string, mode: number, flags: number): Awaitable<CreateResult>;
  fallocate?(ctx: RequestContext, ino: number, mode: number, offset: number, length: number, fh: number): Awaitable<void>;
  /**
   * POSIX locks, served only if both getlk and setlk are given (otherwise the kernel keeps
   * locks local to this machine). getlk returns the first conflicting lock, or one of type
   * UNLOCK. setlk with `sleep` waits until granted (listen to ctx.signal); without it a
   * conflict is EAGAIN. Locks belong to `owner`; flush(owner) should drop them.
   */
  getlk?(ctx: RequestContext, ino: number, fh: number, lock: FileLock, owner: bigint): Awaitable<FileLock>;
  setlk?(ctx: RequestContext, ino: number, fh: number, lock: FileLock, owner: bigint, sleep: boolean): Awaitable<void>;
  /** flock(2): op is LOCK_SH 1 / LOCK_EX 2 / LOCK_UN 8, with LOCK_NB 4. Served only if given. */
  flock?(ctx: RequestContext, ino: number, fh: number, op: number, owner: bigint): Awaitable<void>;
}

/** FUSE_SET_ATTR_* bits from fuse_lowlevel.h. */
export const SetAttr = {
  MODE: 1 << 0,
  UID: 1 << 1,
  GID: 1 << 2,
  SIZE: 1 << 3,
  ATIME: 1 << 4,
  MTIME: 1 << 5,
  ATIME_NOW: 1 << 7,
  MTIME_NOW: 1 << 8,
} as const;
