import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import { EINTR, EIO, ENOSYS, ENOTCONN, ERANGE, errnoOf } from './errno.js';
import { type Dispatch, native, type NativeSession } from './native.js';
import {
  packNames,
  replyAttr,
  replyCreate,
  replyDirents,
  replyDirentsPlus,
  replyEntry,
  replyOpen,
  replySized,
  replyStatfs,
} from './replies.js';
import { SetAttr, type ForgetItem, type LowLevelOps, type RequestContext, type SetAttrChanges } from './types.js';

export interface FuseSessionOptions {
  /**
   * Raw -o options, one per element: mount options (fsname=, subtype=, allow_other,
   * default_permissions, max_read=, ro, …), connection options (max_write= up to 1 MiB,
   * max_readahead=, async_read, atomic_o_trunc, …; big_writes is accepted and ignored,
   * FUSE 3 always allows large writes). 'debug' turns on libfuse's request trace.
   */
  mountOptions: string[];
  /** How often unmount() kicks the loop thread until it has ended (ms). */
  unmountKickMs?: number;
  /**
   * Ask for FUSE_CAP_HANDLE_KILLPRIV: the kernel no longer clears setuid/setgid itself
   * before a write, truncate or chown by a caller without CAP_FSETID; the handlers must.
   */
  handleKillpriv?: boolean;
}

/** What the kernel and libfuse agreed at INIT ('init' event, `session.connection`). */
export interface ConnectionInfo {
  protoMajor: number;
  protoMinor: number;
  maxWrite: number;
  maxReadahead: number;
  /** FUSE_CAP_* bits the kernel offers, and those this session asked for. */
  capable: number;
  want: number;
  maxBackground: number;
}

export interface UnmountedEvent {
  /** fuse_session_loop's result: 0 on a normal end. */
  result: number;
  /** true if unmount() asked for it, false for an external `fusermount -u`. */
  requested: boolean;
}

const OP = native.ops;
const NAMES: string[] = [];
for (const [name, code] of Object.entries(OP)) NAMES[code] = name;

function interruption(): Error {
  return Object.assign(new Error('interrupted by the kernel (the caller got a signal)'), { errno: EINTR });
}

class Context implements RequestContext {
  private cachedGroups: number[] | undefined;
  // Created on first use: most handlers never look at the signal.
  private controller: AbortController | undefined;
  constructor(
    private readonly id: number,
    readonly uid: number,
    readonly gid: number,
    readonly pid: number,
    readonly umask: number,
    public interrupted: boolean,
  ) {}
  groups(): number[] {
    this.cachedGroups ??= native.getGroups(this.id);
    return this.cachedGroups;
  }
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.interrupted) this.controller.abort(interruption());
    }
    return this.controller.signal;
  }
  interrupt(): void {
    if (this.interrupted) return;
    this.interrupted = true;
    this.controller?.abort(interruption());
  }
}

function time(sec: number, nsec: number): { sec: number; nsec: number } {
  return { sec, nsec };
}

function setAttrChanges(
  toSet: number,
  mode: number,
  uid: number,
  gid: number,
  size: number,
  atimeSec: number,
  atimeNsec: number,
  mtimeSec: number,
  mtimeNsec: number,
): SetAttrChanges {
  const changes: SetAttrChanges = { toSet };
  if (toSet & SetAttr.MODE) changes.mode = mode;
  if (toSet & SetAttr.UID) changes.uid = uid;
  if (toSet & SetAttr.GID) changes.gid = gid;
  if (toSet & SetAttr.SIZE) changes.size = size;
  if (toSet & SetAttr.ATIME_NOW) changes.atime = 'now';
  else if (toSet & SetAttr.ATIME) changes.atime = time(atimeSec, atimeNsec);
  if (toSet & SetAttr.MTIME_NOW) changes.mtime = 'now';
  else if (toSet & SetAttr.MTIME) changes.mtime = time(mtimeSec, mtimeNsec);
  return changes;
}

function forgetItems(flat: number[]): ForgetItem[] {
  const items: ForgetItem[] = [];
  for (let i = 0; i < flat.length; i += 2) items.push({ ino: flat[i], nlookup: flat[i + 1] });
  return items;
}

/** Sessions still mounted when the process exits are detached so no dead mount stays. */
const live = new Set<FuseSession>();
let exitHookInstalled = false;
function detachAllOnExit(): void {
  for (const session of live) session.detachOnExit();
}

/**
 * One FUSE mount served by `ops` through tsmfs's low-level binding. Events: 'init'
 * (ConnectionInfo) once the kernel's INIT is answered, 'unmounted' (UnmountedEvent) when
 * the loop ends for any reason, 'error' (Error & {op}) when a handler fails with something
 * that is not an errno (the kernel then gets EIO).
 */
export class FuseSession extends EventEmitter {
  private handle: NativeSession | undefined;
  /** Requests in flight by serial, so that an INTERRUPT finds its context. */
  private readonly inFlight = new Map<number, Context>();
  private ended = false;
  private unmountRequested = false;
  /** Set when INIT has been answered; undefined before. */
  connection: ConnectionInfo | undefined;
  private kick: NodeJS.Timeout | undefined;
  private readonly endedPromise: Promise<void>;
  private resolveEnded!: () => void;

  /** Absolute: libfuse unmounts by path, and the process may change directory. */
  readonly mountpoint: string;

  constructor(
    mountpoint: string,
    private readonly ops: LowLevelOps,
    private readonly options: FuseSessionOptions,
  ) {
    super();
    this.mountpoint = resolve(mountpoint);
    this.endedPromise = new Promise((resolve) => (this.resolveEnded = resolve));
  }

  get mounted(): boolean {
    return this.handle !== undefined && !this.ended;
  }

  async mount(): Promise<void> {
    if (this.handle) throw new Error(`${this.mountpoint}: already mounted by this session`);
    const capabilities =
      (this.ops.getlk && this.ops.setlk ? 1 : 0) |
      (this.ops.flock ? 2 : 0) |
      (this.options.handleKillpriv ? 4 : 0) |
      (this.ops.readdirplus ? 8 : 0);
    this.handle = native.mount(this.mountpoint, this.options.mountOptions, this.dispatch, capabilities);
    live.add(this);
    if (!exitHookInstalled) {
      process.on('exit', detachAllOnExit);
      exitHookInstalled = true;
    }
  }

  /** Stops serving and detaches the mount; resolves once the loop thread has ended. */
  async unmount(): Promise<void> {
    if (!this.handle || this.ended) return;
    this.unmountRequested = true;
    if (native.unmount(this.handle) && !this.kick) {
      // A kick that lands between the loop's exit check and its read(2) is lost: repeat.
      const every = this.options.unmountKickMs ?? 50;
      this.kick = setInterval(() => this.handle && !this.ended && native.unmount(this.handle), every);
      this.kick.unref();
    }
    await this.endedPromise;
  }

  /**
   * Makes the kernel forget the cached entry `name` in `parent` (another client changed
   * it). Resolves 0, or a negative errno: -ENOENT when nothing was cached, -ENOTCONN when
   * not mounted. Never call it from a handler and await it before replying: the kernel
   * may hold the directory lock until that request is answered.
   */
  invalidateEntry(parent: number, name: string): Promise<number> {
    return this.notify(parent, name, 0, 0);
  }

  /**
   * Makes the kernel forget `ino`'s cached attributes and its cached data from `offset`
   * for `length` bytes (0: to the end; a negative offset: attributes only).
   */
  invalidateInode(ino: number, offset = 0, length = 0): Promise<number> {
    return this.notify(ino, null, offset, length);
  }

  private notify(ino: number, name: string | null, offset: number, length: number): Promise<number> {
    if (!this.handle || this.ended) return Promise.resolve(-ENOTCONN);
    return native.notify(this.handle, ino, name, offset, length);
  }

  /** @internal process 'exit' hook: lazy detach, no waiting. */
  detachOnExit(): void {
    if (this.handle && !this.ended) native.detachSync(this.handle);
  }

  private onEnded(result: number): void {
    this.ended = true;
    live.delete(this);
    if (this.kick) clearInterval(this.kick);
    this.resolveEnded();
    this.emit('unmounted', { result, requested: this.unmountRequested } satisfies UnmountedEvent);
  }

  // Positional a…k rather than a rest array: no allocation per request on the hot path.
  private readonly dispatch: Dispatch = (op, id, uid, gid, pid, umask, serial, interrupted, a, b, c, d, e, f, g, h, i, j, k) => {
    if (op === OP.ended) return this.onEnded(a);
    if (op === OP.init) {
      this.connection = {
        protoMajor: a,
        protoMinor: b,
        maxWrite: c,
        maxReadahead: d,
        capable: e,
        want: f,
        maxBackground: g,
      };
      this.emit('init', this.connection);
      return;
    }
    if (op === OP.interrupt) {
      this.inFlight.get(a)?.interrupt();
      return;
    }
    const ctx = new Context(id, uid, gid, pid, umask, interrupted);
    if (op === OP.forget) {
      this.deliverForget(ctx, a);
      return;
    }
    this.inFlight.set(serial, ctx);
    void this.serve(op, id, serial, ctx, a, b, c, d, e, f, g, h, i, j, k);
  };

  private deliverForget(ctx: Context, flat: number[]): void {
    if (!this.ops.forget) return;
    Promise.resolve()
      .then(() => this.ops.forget!(ctx, forgetItems(flat)))
      .catch((err) => this.report(OP.forget, err));
  }

  /**
   * Runs the handler for one request and replies; a throw is turned into an errno by
   * fail(). One async function per request (no .catch/.finally chains): it is the hot path.
   */
  private async serve(
    op: number,
    id: number,
    serial: number,
    ctx: Context,
    ...[a, b, c, d, e, f, g, h, i, j, k]: any[]
  ): Promise<void> {
    try {
      const o = this.ops;
      switch (op) {
        case OP.lookup:
          if (!o.lookup) break;
          replyEntry(id, await o.lookup(ctx, a, b));
          return;
        case OP.getattr:
          if (!o.getattr) break;
          replyAttr(id, await o.getattr(ctx, a, b));
          return;
        case OP.setattr:
          if (!o.setattr) break;
          replyAttr(id, await o.setattr(ctx, a, setAttrChanges(b, c, d, e, f, g, h, i, j), k));
          return;
        case OP.readlink:
          if (!o.readlink) break;
          native.replyReadlink(id, await o.readlink(ctx, a));
          return;
        case OP.mknod:
          if (!o.mknod) break;
          replyEntry(id, await o.mknod(ctx, a, b, c, d));
          return;
        case OP.mkdir:
          if (!o.mkdir) break;
          replyEntry(id, await o.mkdir(ctx, a, b, c));
          return;
        case OP.unlink:
          if (!o.unlink) break;
          await o.unlink(ctx, a, b);
          native.replyErr(id, 0);
          return;
        case OP.rmdir:
          if (!o.rmdir) break;
          await o.rmdir(ctx, a, b);
          native.replyErr(id, 0);
          return;
        case OP.symlink:
          if (!o.symlink) break;
          replyEntry(id, await o.symlink(ctx, b, c, a));
          return;
        case OP.rename:
          if (!o.rename) break;
          await o.rename(ctx, a, b, c, d, e);
          native.replyErr(id, 0);
          return;
        case OP.link:
          if (!o.link) break;
          replyEntry(id, await o.link(ctx, a, b, c));
          return;
        case OP.open:
        case OP.opendir: {
          const handler = op === OP.open ? o.open : o.opendir;
          const opened = handler ? await handler.call(o, ctx, a, b) : { fh: 0 };
          // The kernel dropped the request (interrupted): nobody will release this handle.
          if (replyOpen(id, opened) !== 0 && handler) await this.releaseOrphan(op, ctx, a, opened.fh, b);
          return;
        }
        case OP.read:
          if (!o.read) break;
          native.replyBuf(id, await o.read(ctx, a, b, c, d ?? 0));
          return;
        case OP.write:
          if (!o.write) break;
          native.replyWrite(id, await o.write(ctx, a, b, c, d ?? 0, { flags: e, writepage: f }));
          return;
        case OP.flush:
          if (!o.flush) break;
          await o.flush(ctx, a, b ?? 0, c);
          native.replyErr(id, 0);
          return;
        case OP.release:
          if (o.release) await o.release(ctx, a, b ?? 0, c, { flush: d, flockRelease: e, lockOwner: f });
          native.replyErr(id, 0);
          return;
        case OP.releasedir:
          if (o.releasedir) await o.releasedir(ctx, a, b ?? 0, c);
          native.replyErr(id, 0);
          return;
        case OP.fsync:
        case OP.fsyncdir: {
          const handler = op === OP.fsync ? o.fsync : o.fsyncdir;
          if (!handler) break;
          await handler.call(o, ctx, a, b, c ?? 0);
          native.replyErr(id, 0);
          return;
        }
        case OP.readdir:
          if (!o.readdir) break;
          replyDirents(id, b, await o.readdir(ctx, a, b, c, d ?? 0));
          return;
        case OP.readdirplus:
          if (!o.readdirplus) break;
          replyDirentsPlus(id, b, await o.readdirplus(ctx, a, b, c, d ?? 0));
          return;
        case OP.statfs:
          if (!o.statfs) break;
          replyStatfs(id, await o.statfs(ctx, a));
          return;
        case OP.setxattr:
          if (!o.setxattr) break;
          await o.setxattr(ctx, a, b, c, d);
          native.replyErr(id, 0);
          return;
        case OP.getxattr:
          if (!o.getxattr) break;
          replySized(id, c, await o.getxattr(ctx, a, b), ERANGE);
          return;
        case OP.listxattr:
          if (!o.listxattr) break;
          replySized(id, b, packNames(await o.listxattr(ctx, a)), ERANGE);
          return;
        case OP.removexattr:
          if (!o.removexattr) break;
          await o.removexattr(ctx, a, b);
          native.replyErr(id, 0);
          return;
        case OP.access:
          if (!o.access) break;
          await o.access(ctx, a, b);
          native.replyErr(id, 0);
          return;
        case OP.create: {
          if (!o.create) break;
          const created = await o.create(ctx, a, b, c, d);
          if (replyCreate(id, created) !== 0) {
            await this.releaseOrphan(OP.open, ctx, created.attr.ino, created.fh, d);
          }
          return;
        }
        case OP.fallocate:
          if (!o.fallocate) break;
          await o.fallocate(ctx, a, b, c, d, e ?? 0);
          native.replyErr(id, 0);
          return;
        case OP.getlk: {
          if (!o.getlk) break;
          const lock = await o.getlk(ctx, a, b ?? 0, { type: d, start: e, length: f, pid: g }, c);
          native.replyLock(id, lock.type, lock.start, lock.length, lock.pid);
          return;
        }
        case OP.setlk:
          if (!o.setlk) break;
          await o.setlk(ctx, a, b ?? 0, { type: d, start: e, length: f, pid: g }, c, h);
          native.replyErr(id, 0);
          return;
        case OP.flock:
          if (!o.flock) break;
          await o.flock(ctx, a, b ?? 0, d, c);
          native.replyErr(id, 0);
          return;
      }
      native.replyErr(id, ENOSYS);
    } catch (err) {
      this.fail(op, id, err);
    } finally {
      this.inFlight.delete(serial);
    }
  }

  private async releaseOrphan(op: number, ctx: Context, ino: number, fh: number, flags: number): Promise<void> {
    if (op === OP.open && this.ops.release) {
      await this.ops.release(ctx, ino, fh, flags, { flush: false, flockRelease: false, lockOwner: 0n });
    } else if (op === OP.opendir && this.ops.releasedir) {
      await this.ops.releasedir(ctx, ino, fh, flags);
    }
  }

  private fail(op: number, id: number, err: unknown): void {
    const errno = errnoOf(err);
    if (errno === undefined) this.report(op, err);
    try {
      native.replyErr(id, errno ?? EIO);
    } catch {
      // Already answered (the handler failed after its reply, e.g. in releaseOrphan).
    }
  }

  private report(op: number, err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    Object.assign(error, { op: NAMES[op] });
    try {
      if (this.listenerCount('error') > 0) this.emit('error', error);
      else process.emitWarning(`@tsmfs/fuse: ${NAMES[op]} handler failed: ${error.message}`);
    } catch {
      // An 'error' listener that throws must not turn a handler's bug into a crash.
    }
  }
}
