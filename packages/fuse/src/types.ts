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

/** Who asks. Valid while the request is unanswered. */
export interface RequestContext {
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
  /** The caller's umask; the kernel has already applied it to mknod/mkdir/create modes, unless FUSE_CAP_DONT_MASK was granted. */
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

/** FUSE_CAP_* bits of `ConnectionInfo.want` that handlers must know were granted (libfuse's fuse_common.h). */
export const FUSE_CAP_DONT_MASK = 1 << 6;
export const FUSE_CAP_POSIX_ACL = 1 << 19;
export const FUSE_CAP_HANDLE_KILLPRIV = 1 << 20;
