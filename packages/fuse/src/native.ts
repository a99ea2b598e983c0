import { createRequire } from 'node:module';

/**
 * The compiled addon (src/native/*.c). The path is the same from src/ (tests run
 * the sources) and from dist/ (daemons run the build): both sit beside build/.
 */
export interface NativeBinding {
  /** Op codes, by low-level method name, from the C enum (generated like OP_CODES in ops.gen.ts). */
  readonly ops: Readonly<Record<string, number>>;
  /**
   * capabilities: 1 POSIX locks (getlk+setlk), 2 flock (others stay unregistered),
   * 4 HANDLE_KILLPRIV (the file system clears setuid/setgid itself), 8 READDIRPLUS.
   */
  mount(mountpoint: string, options: string[], dispatch: Dispatch, capabilities: number): NativeSession;
  /** Stops the loop and detaches the mount lazily; false once the loop has ended. */
  unmount(session: NativeSession): boolean;
  detachSync(session: NativeSession): void;
  /** Cache invalidation on the libuv pool: name set → inval_entry, else inval_inode. */
  notify(session: NativeSession, ino: number, name: string | null, offset: number, length: number): Promise<number>;
  /** The replies' scratch records, and the inbox each call's numbers arrive in. */
  setBuffers(scratch: Float64Array, inbox: Float64Array): void;
  replyErr(id: number, errno: number): number;
  replyNone(id: number): number;
  replyEntry(id: number, entryTimeout: number, attrTimeout: number, generation: number): number;
  replyCreate(
    id: number,
    entryTimeout: number,
    attrTimeout: number,
    generation: number,
    fh: number,
    openBits: number,
  ): number;
  replyAttr(id: number, timeout: number): number;
  replyReadlink(id: number, target: string): number;
  replyOpen(id: number, fh: number, openBits: number): number;
  replyWrite(id: number, count: number): number;
  replyBuf(id: number, data: Buffer | undefined): number;
  replyIoctl(id: number, result: number, data: Buffer | undefined): number;
  replyXattr(id: number, size: number): number;
  replyLock(id: number, type: number, start: number, length: number, pid: number): number;
  replyStatfs(id: number): number;
  replyDirents(id: number, size: number, names: string[], count: number): number;
  replyDirentsPlus(id: number, size: number, names: string[], count: number): number;
  getGroups(id: number): number[];
  /** `ino`'s getxattr/listxattr answered "none" in C for `ms` ms; ms <= 0 forgets it, ino 0 forgets all. Whether it is held. */
  noXattrs(session: NativeSession, ino: number, ms: number): boolean;
  /** [getxattr, listxattr] requests answered by noXattrs. */
  noXattrsAnswered(session: NativeSession): number[];
}

declare const nativeSessionBrand: unique symbol;
export type NativeSession = { readonly [nativeSessionBrand]: true };

/**
 * Called on the main thread for every request and notification, with only as many
 * arguments as the call has: its names, its bytes, its lock owner. The caller (uid, gid,
 * pid, umask), the request's serial (named by a later INTERRUPT), whether an interrupt
 * came before it was queued, and the op's numbers are in the inbox (INBOX_HEAD).
 */
export type Dispatch = (
  op: number,
  id: number,
  name?: string,
  name2?: string,
  data?: Buffer,
  owner?: bigint,
) => void;

function load(): NativeBinding {
  const require = createRequire(import.meta.url);
  try {
    return require('../build/Release/fuse_ll.node') as NativeBinding;
  } catch (err) {
    throw new Error(
      '@tsmfs/fuse: the native binding is not built; run `npm run build:native -w @tsmfs/fuse` ' +
        '(needs libfuse-dev and pkg-config)',
      { cause: err },
    );
  }
}

export const native: NativeBinding = load();
