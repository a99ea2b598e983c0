import { ERANGE } from './errno.js';
import { native } from './native.js';
import { INBOX_LENGTH, type ReplyKind } from './ops.gen.js';
import type {
  Attr,
  AttrResult,
  CreateResult,
  DirEntry,
  DirEntryPlus,
  EntryResult,
  FileLock,
  OpenResult,
  StatfsResult,
} from './types.js';

/**
 * Replies pass structured results through one Float64Array shared with the addon rather
 * than as objects, so a reply costs one native call and no property lookups in C.
 * Every reply is synchronous on the main thread, so one array serves all sessions.
 */
const MAX_DIRENTS = 8192;
/** Doubles per record: an attr (ATTR_FIELDS in native/replies.c), and a READDIRPLUS entry. */
const ATTR_FIELDS = 15;
const PLUS_FIELDS = ATTR_FIELDS + 3;
const scratch = new Float64Array(3 * MAX_DIRENTS);
/** Each call's numbers, written by the addon right before it calls the dispatcher. */
export const inbox = new Float64Array(INBOX_LENGTH);
native.setBuffers(scratch, inbox);

function putAttr(attr: Attr, at = 0): void {
  scratch[at] = attr.ino;
  scratch[at + 1] = attr.mode;
  scratch[at + 2] = attr.nlink;
  scratch[at + 3] = attr.uid;
  scratch[at + 4] = attr.gid;
  scratch[at + 5] = attr.rdev ?? 0;
  scratch[at + 6] = attr.size;
  scratch[at + 7] = attr.blocks ?? Math.ceil(attr.size / 512);
  scratch[at + 8] = attr.blksize ?? 65536;
  scratch[at + 9] = attr.atime.sec;
  scratch[at + 10] = attr.atime.nsec;
  scratch[at + 11] = attr.mtime.sec;
  scratch[at + 12] = attr.mtime.nsec;
  scratch[at + 13] = attr.ctime.sec;
  scratch[at + 14] = attr.ctime.nsec;
}

function openBits(open: OpenResult): number {
  return (open.directIo ? 1 : 0) | (open.keepCache ? 2 : 0) | (open.nonSeekable ? 4 : 0);
}

export function replyEntry(id: number, entry: EntryResult): number {
  putAttr(entry.attr);
  return native.replyEntry(id, entry.entryTimeout, entry.attrTimeout, entry.generation ?? 0);
}

export function replyCreate(id: number, created: CreateResult): number {
  putAttr(created.attr);
  return native.replyCreate(
    id,
    created.entryTimeout,
    created.attrTimeout,
    created.generation ?? 0,
    created.fh,
    openBits(created),
  );
}

export function replyAttr(id: number, result: AttrResult): number {
  putAttr(result.attr);
  return native.replyAttr(id, result.timeout);
}

export function replyOpen(id: number, open: OpenResult): number {
  return native.replyOpen(id, open.fh, openBits(open));
}

export function replyStatfs(id: number, st: StatfsResult): number {
  scratch[0] = st.bsize;
  scratch[1] = st.frsize ?? st.bsize;
  scratch[2] = st.blocks;
  scratch[3] = st.bfree;
  scratch[4] = st.bavail;
  scratch[5] = st.files;
  scratch[6] = st.ffree;
  scratch[7] = st.favail ?? st.ffree;
  scratch[8] = st.fsid ?? 0;
  scratch[9] = 0;
  scratch[10] = st.namemax ?? 255;
  return native.replyStatfs(id);
}

/** Smallest packed dirent (24-byte header, 8-byte aligned name); bounds how many can fit. */
const MIN_DIRENT = 32;

/** Returns how many entries fitted in `size` bytes. */
export function replyDirents(id: number, size: number, entries: DirEntry[]): number {
  const count = Math.min(entries.length, MAX_DIRENTS, Math.floor(size / MIN_DIRENT) + 1);
  const names: string[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const entry = entries[i];
    names[i] = entry.name;
    scratch[3 * i] = entry.ino;
    scratch[3 * i + 1] = entry.mode;
    scratch[3 * i + 2] = entry.nextOffset;
  }
  return native.replyDirents(id, size, names, count);
}

/** Smallest packed READDIRPLUS entry (entry_out 128 + dirent 24, name aligned to 8). */
const MIN_DIRENT_PLUS = 160;

/** Returns how many entries fitted in `size` bytes. */
export function replyDirentsPlus(id: number, size: number, entries: DirEntryPlus[]): number {
  const fit = Math.floor(scratch.length / PLUS_FIELDS);
  const count = Math.min(entries.length, fit, Math.floor(size / MIN_DIRENT_PLUS) + 1);
  const names: string[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const e = entries[i];
    const at = i * PLUS_FIELDS;
    names[i] = e.name;
    if (e.entry) {
      putAttr(e.entry.attr, at);
      scratch[at + ATTR_FIELDS] = e.entry.entryTimeout;
      scratch[at + ATTR_FIELDS + 1] = e.entry.attrTimeout;
    } else {
      scratch.fill(0, at, at + ATTR_FIELDS);
      scratch[at] = e.ino;
      scratch[at + 1] = e.mode;
      scratch[at + ATTR_FIELDS] = -1;
    }
    scratch[at + ATTR_FIELDS + 2] = e.nextOffset;
  }
  return native.replyDirentsPlus(id, size, names, count);
}

/** getxattr's size protocol: 0 asks for the length; a value larger than size is ERANGE. */
export function replySized(id: number, size: number, value: Buffer, erange: number): number {
  if (size === 0) return native.replyXattr(id, value.length);
  if (value.length > size) return native.replyErr(id, erange);
  return native.replyBuf(id, value);
}

export function packNames(names: string[]): Buffer {
  return Buffer.concat(names.map((name) => Buffer.from(`${name}\0`)));
}

/**
 * How each reply kind of codegen/ops.mjs answers a handler's result; `args` are the
 * request's named arguments (the size the kernel can take). Returns fuse_reply_*'s result.
 */
export const REPLIES: Record<ReplyKind, (id: number, result: any, args: any) => number> = {
  entry: replyEntry,
  attr: replyAttr,
  ok: (id) => native.replyErr(id, 0),
  readlink: (id, target: string) => native.replyReadlink(id, target),
  open: replyOpen,
  create: replyCreate,
  buf: (id, data: Buffer) => native.replyBuf(id, data),
  write: (id, count: number) => native.replyWrite(id, count),
  dirents: (id, entries: DirEntry[], args: { size: number }) => replyDirents(id, args.size, entries),
  direntsPlus: (id, entries: DirEntryPlus[], args: { size: number }) => replyDirentsPlus(id, args.size, entries),
  statfs: replyStatfs,
  xattr: (id, value: Buffer, args: { size: number }) => replySized(id, args.size, value, ERANGE),
  xattrNames: (id, names: string[], args: { size: number }) => replySized(id, args.size, packNames(names), ERANGE),
  lock: (id, lock: FileLock) => native.replyLock(id, lock.type, lock.start, lock.length, lock.pid),
  ioctl: (id, out: Buffer) => native.replyIoctl(id, 0, out),
};
