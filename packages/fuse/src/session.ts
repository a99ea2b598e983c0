import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import { EINTR, EIO, ENOSYS, ENOTCONN, errnoOf } from './errno.js';
import { type Dispatch, native, type NativeSession } from './native.js';
import { INBOX_HEAD, OP_CODES, OP_SPECS, type LowLevelOps, type OpSpec } from './ops.gen.js';
import { inbox, REPLIES, replyOpen } from './replies.js';
import type { RequestContext } from './types.js';

export interface FuseSessionOptions {
  /**
   * Raw -o options, one per element: mount options (fsname=, subtype=, allow_other,
   * default_permissions, max_read=, ro, …), connection options (max_write= up to 1 MiB,
   * max_readahead=, async_read, atomic_o_trunc, …; big_writes is accepted and ignored,
   * FUSE 3 always allows large writes). 'debug' turns on libfuse's request trace.
   */
  mountOptions: string[];
  /**
   * Ask for FUSE_CAP_HANDLE_KILLPRIV: the kernel no longer clears setuid/setgid itself
   * before a write, truncate or chown by a caller without CAP_FSETID; the handlers must.
   */
  handleKillpriv?: boolean;
  /**
   * Ask for FUSE_CAP_POSIX_ACL with FUSE_CAP_DONT_MASK: the kernel enforces the POSIX ACLs
   * it reads through getxattr, and no longer applies the umask (`ctx.umask` is the
   * handlers' to apply, where no default ACL decides). Granted only together; see
   * `connection.want`.
   */
  posixAcl?: boolean;
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

// The addon and ops.gen.ts come from the same table; a stale build must not misroute requests.
for (const [name, code] of Object.entries(OP_CODES)) {
  if (native.ops[name] !== code) {
    throw new Error(`@tsmfs/fuse: the native binding is older than ops.gen.ts (${name}); run npm run build:native -w @tsmfs/fuse`);
  }
}
const NOTIFY_BASE = OP_SPECS.length + 1;

type Handler = (ctx: RequestContext, args: object) => unknown;

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

  /** Requests handed to handlers and not answered yet (each one's caller waits in the kernel). */
  get pending(): number {
    return this.inFlight.size;
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
      (this.ops.readdirplus ? 8 : 0) |
      (this.options.posixAcl ? 16 : 0);
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
    // The loop stops reading at once; 'ended' comes on a later turn of the event loop.
    native.unmount(this.handle);
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

  /**
   * Has the binding answer `ino`'s getxattr (ENODATA) and listxattr (no names) itself,
   * without calling the handlers, for the next `ms` milliseconds: `ino` has no extended
   * attribute and the file system will say at once when that may change (forgetNoXattrs).
   * Returns false when the binding does not hold it (not mounted, its table full): the
   * handlers answer then, as before. The kernel asks for security.capability before
   * every write and `ls -l` for two xattrs of every name; each answered in JS cost more
   * than the rest of the request (docs/fuse-binding.md, "Answered in C").
   */
  answerNoXattrs(ino: number, ms: number): boolean {
    if (!this.handle || this.ended || !(ms > 0)) return false;
    return native.noXattrs(this.handle, ino, ms);
  }

  /** The handlers answer `ino`'s xattr requests again (all inodes' when `ino` is undefined). */
  forgetNoXattrs(ino?: number): void {
    if (this.handle && !this.ended) native.noXattrs(this.handle, ino ?? 0, 0);
  }

  /** getxattr and listxattr requests the binding answered by answerNoXattrs. */
  noXattrsAnswered(): { getxattr: number; listxattr: number } {
    if (!this.handle) return { getxattr: 0, listxattr: 0 };
    const [getxattr = 0, listxattr = 0] = native.noXattrsAnswered(this.handle);
    return { getxattr, listxattr };
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
    this.resolveEnded();
    this.emit('unmounted', { result, requested: this.unmountRequested } satisfies UnmountedEvent);
  }

  /**
   * One call per request or notification (see Dispatch): the op's numbers are read from
   * the inbox now, before anything else can overwrite it, into the handler's named
   * arguments by the op's generated decoder.
   */
  private readonly dispatch: Dispatch = (op, id, name, name2, data, owner) => {
    const spec = OP_SPECS[op - 1];
    if (spec === undefined) return this.notification(op);
    const args = spec.decode(inbox, name, name2, data, owner);
    const ctx = new Context(id, inbox[0], inbox[1], inbox[2], inbox[3], inbox[5] !== 0);
    if (spec.notification) {
      void this.deliver(spec, ctx, args);
      return;
    }
    const serial = inbox[4];
    this.inFlight.set(serial, ctx);
    void this.serve(spec, id, serial, ctx, args);
  };

  private notification(op: number): void {
    const n = inbox;
    const at = INBOX_HEAD;
    if (op === OP_CODES.interrupt) {
      this.inFlight.get(n[at])?.interrupt();
    } else if (op === OP_CODES.init) {
      this.connection = {
        protoMajor: n[at],
        protoMinor: n[at + 1],
        maxWrite: n[at + 2],
        maxReadahead: n[at + 3],
        capable: n[at + 4],
        want: n[at + 5],
        maxBackground: n[at + 6],
      };
      this.emit('init', this.connection);
    } else if (op === OP_CODES.ended) {
      this.onEnded(n[at]);
    } else if (op >= NOTIFY_BASE) {
      this.report(op, new Error(`unknown call ${op}`));
    }
  }

  /** forget: answered by the addon already; the handler's result and errors only reported. */
  private async deliver(spec: OpSpec, ctx: Context, args: object): Promise<void> {
    const handler = this.ops[spec.name] as Handler | undefined;
    try {
      if (handler) await handler.call(this.ops, ctx, args);
    } catch (err) {
      this.report(spec.name, err);
    }
  }

  /**
   * Runs the handler for one request and replies as its spec says; a throw is turned into
   * an errno by fail(). One async function per request (no .catch/.finally chains, no
   * closures): it is the hot path.
   */
  private async serve(spec: OpSpec, id: number, serial: number, ctx: Context, args: object): Promise<void> {
    try {
      const handler = this.ops[spec.name] as Handler | undefined;
      if (handler === undefined) {
        if (spec.missing === 'open') replyOpen(id, { fh: 0 });
        else native.replyErr(id, spec.missing === 'ok' ? 0 : ENOSYS);
        return;
      }
      const result = await handler.call(this.ops, ctx, args);
      // Not 0 for an open or create: the kernel dropped the request (interrupted), and
      // nobody will release this handle.
      if (REPLIES[spec.reply!](id, result, args) !== 0 && spec.orphan) await this.releaseOrphan(spec, ctx, args, result);
    } catch (err) {
      this.fail(spec.name, id, err);
    } finally {
      this.inFlight.delete(serial);
    }
  }

  private async releaseOrphan(spec: OpSpec, ctx: Context, args: any, opened: any): Promise<void> {
    const ino: number = spec.name === 'create' ? opened.attr.ino : args.ino;
    if (spec.orphan === 'release' && this.ops.release) {
      await this.ops.release(ctx, { ino, fh: opened.fh, flags: args.flags, flush: false, flockRelease: false, lockOwner: 0n });
    } else if (spec.orphan === 'releasedir' && this.ops.releasedir) {
      await this.ops.releasedir(ctx, { ino, fh: opened.fh, flags: args.flags });
    }
  }

  private fail(op: string, id: number, err: unknown): void {
    const errno = errnoOf(err);
    if (errno === undefined) this.report(op, err);
    try {
      native.replyErr(id, errno ?? EIO);
    } catch {
      // Already answered (the handler failed after its reply, e.g. in releaseOrphan).
    }
  }

  private report(op: string | number, err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    Object.assign(error, { op });
    try {
      if (this.listenerCount('error') > 0) this.emit('error', error);
      else process.emitWarning(`@tsmfs/fuse: ${op} handler failed: ${error.message}`);
    } catch {
      // An 'error' listener that throws must not turn a handler's bug into a crash.
    }
  }
}
