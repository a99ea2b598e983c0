import { EventEmitter } from 'node:events';
import { hostname as osHostname } from 'node:os';
import {
  type Address,
  type Attr,
  type Cred,
  type DirEntry,
  type GoalMode,
  type MessageName,
  type Reply,
  O_ACCMODE,
  O_TRUNC,
  type Request,
  Status,
  TsmfsError,
  isExactlyOnce,
} from '@tsmfs/protocol';
import { Backoff, type Connection, Pause, dial, isNotLeader, leaderHint } from '@tsmfs/rpc';
import { processCred } from './cred.js';
import { FileHandle, type FileHandleOptions, checkFileEnd } from './file-handle.js';
import { FileIo } from './file-io.js';
import { passwordDigest } from './password.js';
import { resolveResent } from './resend.js';
import { SessionOpens, releasesFirst } from './session-opens.js';
import { WritesInFlight } from './writes-in-flight.js';

/** Reconnect rounds start quickly (a master restart takes ~1 s) and settle at 2 s. */
const RECONNECT_FIRST_DELAY_MS = 50;
const RECONNECT_MAX_DELAY_MS = 2000;
/**
 * With a list of masters (an HA group) rounds settle at 250 ms instead: a takeover takes
 * about a second and a half and a round that just missed it would add up to the whole
 * ceiling to the failover (docs/ha.md, "Failover time"). A round is a connection attempt
 * per master: a few a second per client is little for masters answering every request.
 */
const RECONNECT_MAX_DELAY_GROUP_MS = 250;

function reconnectBackoff(masters: readonly Address[]): Backoff {
  return new Backoff(RECONNECT_FIRST_DELAY_MS, masters.length > 1 ? RECONNECT_MAX_DELAY_GROUP_MS : RECONNECT_MAX_DELAY_MS);
}
/** A leader holding changes while it cannot reach etcd is asked again this often. */
const REFUSED_RETRY_MS = 200;

export interface SessionOptions {
  /** One or more master addresses, tried in turn (at open and at every reconnect). */
  masters: Address[];
  /** Directory of the master's namespace that becomes this session's root. */
  subdir?: string;
  /** Meta session (trash, sustained files) instead of the namespace. */
  meta?: boolean;
  readonly?: boolean;
  /** The exports' `password=`; only sha256(nonce ‖ password) is sent. */
  password?: string;
  hostname?: string;
  mountpoint?: string;
  role?: 'client' | 'cli';
  /** Name told at the handshake (shows in the master's logs). */
  name?: string;
  /** Default credentials of this session's requests (default: this process's). */
  cred?: Cred;
  /** umask applied by mknod/mkdir when the call gives none (default 022). */
  umask?: number;
  /** A request unanswered this long declares the link dead (default 60 s). */
  requestTimeoutMs?: number;
  /** Files with chunk writes not fsynced that file I/O remembers before it has the chunkservers sync everything (default 10,000; unsynced-writes.ts). */
  maxUnsyncedFiles?: number;
  /** How long a request waits for a lost link to come back (default 30 s). */
  reconnectTimeoutMs?: number;
  /** Handshake deadline of each dial (default 5 s). */
  connectTimeoutMs?: number;
  /** `open` keeps trying unreachable masters this long (default 0: one pass over the list). */
  openTimeoutMs?: number;
  /** How many times one request may be sent over successive links (default 5). */
  maxSends?: number;
  /** CLI tools (role 'cli'): act with the export rights of this live session, a mount's (docs/cli.md). */
  attach?: number;
  /** Ask the master for metadata leases (see leaseMs, onRecall): a mount does. */
  leases?: boolean;
}

export interface SessionInfo extends Reply<'register'> {
  /** The master this session is linked to now. */
  master: Address;
  /** That master's epoch, from its handshake. */
  epoch: number;
}

export interface CallOptions {
  cred?: Cred;
}

/** Options of a change of names (mknod, mkdir, symlink, link, unlink, rmdir, rename). */
export interface ChangeOptions extends CallOptions {
  /**
   * Given the changed directories' attributes as of right after the change (its parent,
   * a rename's two), when the master sent them (not an older master, nor a re-sent
   * request resolved by looking): what a getattr sent right behind it would answer.
   */
  onParents?: (attrs: Attr[]) => void;
}

export type ReaddirOptions = CallOptions & { withAttrs?: boolean; pageSize?: number };

/** Counters of the reconnect machinery, for tests and the mount's stats file. */
export interface SessionStats {
  /** Links re-established after a loss. */
  reconnects: number;
  /** Requests sent again because their link dropped before the reply. */
  resent: number;
  /** Errors to re-sent requests resolved as the first attempt's success (resend.ts). */
  resolved: number;
}

export type SetattrChanges = Omit<Request<'setattr'>, 'cred' | 'inode'>;

type SessionEvents = {
  /** The link dropped; requests now wait for a reconnect. */
  disconnect: [Error | undefined];
  /** A new link is registered; requests in flight are re-sent on it. */
  reconnect: [SessionInfo];
};

interface Waiter {
  resolve: (conn: Connection) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * A master of an HA group that is not the leader turned us away (docs/ha.md): nothing
 * was applied; try the leader it names, or the others.
 */
class Redirect extends Error {
  constructor(
    readonly hint: Address | undefined,
    cause: Error,
  ) {
    super(cause.message);
  }
}

/** A master refused us (handshake or register): trying again will not help. */
class Refusal extends Error {
  constructor(readonly refused: TsmfsError) {
    super(refused.message);
  }
}

/**
 * A client's session with the master: the one place the mount, the CLI tools and the
 * tests send namespace requests through. It keeps itself connected: when the link drops,
 * requests in flight and new ones wait (up to reconnectTimeoutMs) while it redials the
 * master addresses with back-off, re-registers with the same session id and re-sends
 * what was in flight; errors to re-sent requests are resolved as resend.ts describes.
 */
export class MasterSession extends EventEmitter<SessionEvents> {
  private live: Connection | undefined;
  private readonly waiters = new Set<Waiter>();
  private closed = false;
  private reconnecting = false;
  private lastError: Error | undefined;
  private readonly pauser = new Pause();
  private preferred: number;
  /** The leader a follower named: the next reconnect dials it first. */
  private hinted: Address | undefined;
  readonly cred: Cred;
  readonly umask: number;
  readonly stats: SessionStats = { reconnects: 0, resent: 0, resolved: 0 };
  /** The next request id of an exactly-once request, and those still waiting for their answer. */
  private nextRid = 1;
  private readonly waitingRids = new Set<number>();
  /** This session's open files, and the releases not sent yet. */
  private readonly opens = new SessionOpens(() => this.sendReleases());
  /** Chunk writes granted and not yet ended: a new leader gives their leases back (register's `writes`). */
  private readonly writes = new WritesInFlight();
  private recallHandler: ((recall: Request<'leaseRecall'>) => Promise<void> | void) | undefined;

  private constructor(
    private readonly options: SessionOptions,
    conn: Connection,
    private current: SessionInfo,
  ) {
    super();
    this.cred = options.cred ?? processCred();
    this.umask = options.umask ?? 0o022;
    this.preferred = options.masters.findIndex((m) => m.host === current.master.host && m.port === current.master.port);
    this.adopt(conn, current);
  }

  /** Dials the masters in turn and registers; a refusal rejects with the master's reason. */
  static async open(options: SessionOptions): Promise<MasterSession> {
    if (options.masters.length === 0) throw new TsmfsError(Status.EINVAL, 'no master address given');
    const deadline = Date.now() + (options.openTimeoutMs ?? 0);
    const backoff = reconnectBackoff(options.masters);
    for (;;) {
      const errors: string[] = [];
      const queue = [...options.masters];
      for (let i = 0; i < queue.length; i++) {
        try {
          const { conn, info } = await connect(options, queue[i]!, undefined);
          return new MasterSession(options, conn, info);
        } catch (err) {
          if (err instanceof Refusal) throw err.refused;
          // A follower names the leader: it goes next (once per pass, so no ping-pong).
          if (err instanceof Redirect && err.hint && !queue.slice(0, i + 1).some((a) => sameAddress(a, err.hint!))) queue.splice(i + 1, 0, err.hint);
          errors.push((err as Error).message);
        }
      }
      if (Date.now() >= deadline) throw new TsmfsError(Status.ECONNREFUSED, `no master reachable: ${errors.join('; ')}`);
      await new Promise((r) => setTimeout(r, backoff.delay()));
    }
  }

  get info(): SessionInfo {
    return this.current;
  }

  get sessionId(): number {
    return this.current.sessionId;
  }

  /** Inode of this session's root (the subdir it was opened on). */
  /**
   * How long a lookup's or getattr's answer is leased to this session, from when the
   * request was sent (0: the master grants none). The leases are the caller's to keep
   * (the mount's metadata cache); they end with the link: drop them on 'disconnect'.
   */
  get leaseMs(): number {
    return this.closed || !this.live || this.live.closed ? 0 : (this.current.leaseMs ?? 0);
  }

  /**
   * Who forgets what the master recalls (leaseRecall): the master's change waits for the
   * returned promise (or the lease's end). Without a handler a recall is answered at once.
   */
  onRecall(handler: (recall: Request<'leaseRecall'>) => Promise<void> | void): void {
    this.recallHandler = handler;
  }

  get root(): number {
    return this.current.root;
  }

  /** True while a link to a master is up. */
  get connected(): boolean {
    return this.live !== undefined && !this.live.closed;
  }

  /** Ends the session: the link is closed, waiting requests fail, reconnecting stops. */
  close(): void {
    if (this.closed) return;
    // Releases due go out ahead of the link's end, best effort (as they did when each was
    // sent at once): a file another session removes meanwhile is not kept for this one
    // until the master gives up on the session.
    const inodes = this.opens.takeDue();
    if (this.live && !this.live.closed && inodes.length > 0) this.live.request('releases', { inodes }).catch(() => undefined);
    this.closed = true;
    this.pauser.wake();
    const err = new TsmfsError(Status.ECONNRESET, 'session closed');
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.waiters.clear();
    this.live?.close();
    this.live = undefined;
    this.fileIo?.close();
  }

  /**
   * Sends one request and returns its reply, across reconnects: a request whose link
   * dropped is re-sent on the next link (at most maxSends times in all).
   */
  async call<N extends MessageName>(name: N, body: Request<N>): Promise<Reply<N>> {
    // An unlink or rename here may remove a file this session holds open: held opens go first.
    if (releasesFirst(name)) this.opens.letGo();
    if (this.opens.pending && releasesFirst(name)) this.sendReleases();
    if (name === 'open' || name === 'mknod' || name === 'release' || name === 'releases') return this.trackOpens(name, body);
    return this.writes.track(name, body, () => this.callOnce(name, body));
  }

  /** Keeps count of this session's open files (SessionOpens). */
  private async trackOpens<N extends MessageName>(name: N, body: Request<N>): Promise<Reply<N>> {
    const inodeOf = (b: unknown) => (b as { inode: number }).inode;
    if (name === 'release' || name === 'releases') {
      try {
        return await this.callOnce(name, body);
      } finally {
        for (const inode of name === 'release' ? [inodeOf(body)] : (body as Request<'releases'>).inodes) this.opens.released(inode);
      }
    }
    const reply = await this.callOnce(name, body);
    const flags = name === 'open' ? (body as Request<'open'>).flags : (body as Request<'mknod'>).open;
    const inode = name === 'open' ? inodeOf(body) : (reply as Reply<'mknod'>).opened ? (reply as Reply<'mknod'>).attr.inode : undefined;
    if (inode !== undefined && flags !== undefined) this.opens.opened(inode, flags);
    return reply;
  }

  private async callOnce<N extends MessageName>(name: N, body: Request<N>): Promise<Reply<N>> {
    if (!isExactlyOnce(name) || (body as { rid?: number }).rid !== undefined) return this.sendAcross(name, body);
    // Exactly once (docs/client.md, "Request ids"): the same id on every send; the master
    // answers a re-send it already applied with the recorded result.
    const rid = this.nextRid++;
    this.waitingRids.add(rid);
    try {
      let ridLow = rid;
      for (const r of this.waitingRids) ridLow = Math.min(ridLow, r);
      return await this.sendAcross(name, { ...body, rid, ridLow });
    } finally {
      this.waitingRids.delete(rid);
    }
  }

  private async sendAcross<N extends MessageName>(name: N, body: Request<N>): Promise<Reply<N>> {
    const maxSends = this.options.maxSends ?? 5;
    let resent = false;
    let refusedUntil: number | undefined;
    for (let send = 1; ; send++) {
      const conn = await this.ready();
      // Closed before we wrote a byte: not a re-send, whatever the loop count says.
      if (conn.closed) continue;
      try {
        return await this.send(conn, name, body);
      } catch (err) {
        // Not the leader (any more), or a leader that cannot confirm its lease: nothing was
        // applied, so sending again is no re-send. Go to the leader it names, or wait and
        // ask again, for as long as a lost link is waited for.
        if (isNotLeader(err)) refusedUntil ??= Date.now() + (this.options.reconnectTimeoutMs ?? 30_000);
        if (isNotLeader(err) && !this.closed && Date.now() < refusedUntil!) {
          send--;
          const hint = leaderHint(err);
          if (hint && !sameAddress(hint, this.current.master)) {
            this.hinted = hint;
            conn.close(err);
          } else {
            await new Promise((r) => setTimeout(r, REFUSED_RETRY_MS));
          }
          continue;
        }
        const linkLost = conn.closed && err instanceof TsmfsError && err.status === Status.ECONNRESET;
        if (linkLost && send < maxSends && !this.closed) {
          resent = true;
          this.stats.resent++;
          continue;
        }
        if (resent && !linkLost) {
          const reply = await resolveResent(name, body, err, this);
          this.stats.resolved++;
          return reply;
        }
        throw err;
      }
    }
  }

  // ---- namespace ----------------------------------------------------------------

  async lookup(parent: number, name: string, o?: CallOptions): Promise<Attr> {
    return (await this.lookupEntry(parent, name, o)).attr;
  }

  /** lookup's whole answer: with `noEntryCache`, whether the kernel may keep the names of `parent`. */
  lookupEntry(parent: number, name: string, o?: CallOptions): Promise<Reply<'lookup'>> {
    return this.call('lookup', { cred: this.credOf(o), parent, name });
  }

  async getattr(inode: number): Promise<Attr> {
    return (await this.call('getattr', { inode })).attr;
  }

  /** A size change waits for this session's writes of the file first (FileIo.sizeChange). */
  async setattr(inode: number, changes: SetattrChanges, o?: CallOptions): Promise<Attr> {
    if (changes.size !== undefined) checkFileEnd(changes.size);
    const send = () => this.call('setattr', { cred: this.credOf(o), inode, ...changes });
    return (await (changes.size === undefined ? send() : this.io.sizeChange(inode, send))).attr;
  }

  async mknod(
    parent: number,
    name: string,
    type: Request<'mknod'>['type'],
    mode: number,
    rdev = 0,
    o?: ChangeOptions & { umask?: number; open?: number },
  ): Promise<Attr> {
    const body: Request<'mknod'> = { cred: this.credOf(o), parent, name, type, mode, umask: o?.umask ?? this.umask, rdev };
    if (o?.open !== undefined) body.open = o.open;
    const reply = await this.call('mknod', body);
    parentsOf(reply, o);
    // An older master ignores `open` (and a re-sent mknod resolved from EEXIST says nothing
    // of it): open it the usual way. Counted twice at worst, which only keeps an unlinked
    // file sustained until this session ends; never counted zero times.
    if (o?.open !== undefined && !reply.opened) await this.open(reply.attr.inode, o.open, o);
    return reply.attr;
  }

  /**
   * A regular file (mknod of type 'file'). With `open` (open flags) it is also opened for
   * this session in the same round trip, as open(2) with O_CREAT: `openedFile` then wraps
   * it; without, opening it is the caller's next step.
   */
  create(parent: number, name: string, mode = 0o644, o?: ChangeOptions & { umask?: number; open?: number }): Promise<Attr> {
    return this.mknod(parent, name, 'file', mode, 0, o);
  }

  async mkdir(parent: number, name: string, mode = 0o755, o?: ChangeOptions & { umask?: number }): Promise<Attr> {
    return parentsOf(await this.call('mkdir', { cred: this.credOf(o), parent, name, mode, umask: o?.umask ?? this.umask }), o).attr;
  }

  async symlink(parent: number, name: string, target: string, o?: ChangeOptions): Promise<Attr> {
    return parentsOf(await this.call('symlink', { cred: this.credOf(o), parent, name, target }), o).attr;
  }

  async readlink(inode: number): Promise<string> {
    return (await this.call('readlink', { inode })).target;
  }

  async link(inode: number, parent: number, name: string, o?: ChangeOptions): Promise<Attr> {
    return parentsOf(await this.call('link', { cred: this.credOf(o), inode, parent, name }), o).attr;
  }

  async unlink(parent: number, name: string, o?: ChangeOptions): Promise<void> {
    parentsOf(await this.call('unlink', { cred: this.credOf(o), parent, name }), o);
  }

  async rmdir(parent: number, name: string, o?: ChangeOptions): Promise<void> {
    parentsOf(await this.call('rmdir', { cred: this.credOf(o), parent, name }), o);
  }

  /**
   * `flags`: renameat2's RENAME_NOREPLACE (1) / RENAME_EXCHANGE (2). Resolves with the
   * attributes of the node moved to `newName`, when the master says one moved (not for an
   * exchange, two names of one node, an older master or a resolved re-send).
   */
  async rename(parent: number, name: string, newParent: number, newName: string, flags = 0, o?: ChangeOptions): Promise<Attr | undefined> {
    return parentsOf(await this.call('rename', { cred: this.credOf(o), parent, name, newParent, newName, flags }), o).attr;
  }

  /** Every entry of a directory, all pages. */
  async readdir(inode: number, o?: ReaddirOptions): Promise<DirEntry[]> {
    return (await this.listing(inode, o)).entries;
  }

  /** readdir with `noEntryCache`: whether the kernel may keep the directory's names (its last page's word). */
  async listing(inode: number, o?: ReaddirOptions): Promise<{ entries: DirEntry[]; noEntryCache: boolean }> {
    const entries: DirEntry[] = [];
    let cookie = 0;
    for (;;) {
      const page = await this.call('readdir', {
        cred: this.credOf(o),
        inode,
        cookie,
        max: o?.pageSize ?? 1000,
        withAttrs: o?.withAttrs ?? false,
      });
      entries.push(...page.entries);
      if (page.eof) return { entries, noEntryCache: page.noEntryCache === true };
      cookie = page.cookie;
    }
  }

  statfs(): Promise<Reply<'statfs'>> {
    return this.call('statfs', {});
  }

  /** `mask`: R_OK 4 | W_OK 2 | X_OK 1 (0 = existence). Rejects with EACCES. */
  async access(inode: number, mask: number, o?: CallOptions): Promise<void> {
    await this.call('access', { cred: this.credOf(o), inode, mask });
  }

  /** open(2); with O_TRUNC, after this session's writes of the file (FileIo.sizeChange). */
  async open(inode: number, flags: number, o?: CallOptions): Promise<Attr> {
    const send = () => this.call('open', { cred: this.credOf(o), inode, flags });
    const epoch = this.io.epochOf(inode);
    const reply = await (flags & O_TRUNC ? this.io.sizeChange(inode, send) : send());
    // Opened for reading: the first chunk's grant came with it (the first read asks nothing).
    if (reply.grant) this.io.cacheGrant(inode, 0, epoch, reply.grant);
    return reply.attr;
  }

  /** close(2)'s last release of a file: sent with the next request (SessionOpens, "deferred"). */
  release(inode: number, flags?: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    // `flags`: the handle's open flags; only a file's read-only handle may leave its open held.
    const readOnly = flags !== undefined && (flags & (O_ACCMODE | O_TRUNC)) === 0;
    if (!(readOnly && this.holdOpen?.(inode) && this.opens.hold(inode))) this.opens.defer(inode);
    return Promise.resolve();
  }

  /**
   * Set by a client that can tell when to let go (the mount): whether to hold the open of
   * `inode` rather than release it at a close of a read-only handle (SessionOpens.hold).
   * The client must then call letGoHeld when another session changes the file or it can
   * no longer tell: an unlink elsewhere keeps the file (sustained) until its release.
   */
  holdOpen: ((inode: number) => boolean) | undefined;

  /** A FileHandle for reading `attr`'s file on a held open, or undefined when none is held. */
  reopenHeld(attr: Attr, flags: number, o?: CallOptions & FileHandleOptions): FileHandle | undefined {
    if ((flags & (O_ACCMODE | O_TRUNC)) !== 0 || !this.opens.reopen(attr.inode)) return undefined;
    return this.openedFile(attr, flags, o);
  }

  /** Whether an open of `inode` is held (reopenHeld would answer). */
  holdsOpen(inode: number): boolean {
    return this.opens.holds(inode);
  }

  /** Releases the held opens of `inodes` (all, when none are named). */
  letGoHeld(inodes?: Iterable<number>): void {
    this.opens.letGo(inodes);
  }

  /** Sends the releases due in one request; their failures are the session's end's to settle. */
  private sendReleases(): void {
    const inodes = this.opens.takeDue();
    if (inodes.length > 0) this.call('releases', { inodes }).catch(() => undefined);
  }

  // ---- locks (docs/master.md, "Locks") ----------------------------------------------

  /** F_GETLK: the first lock of another owner this one conflicts with, or undefined. */
  async lockTest(args: Request<'lockTest'>): Promise<Reply<'lockTest'>['conflict']> {
    return (await this.call('lockTest', args)).conflict;
  }

  /**
   * Sets or unlocks; a conflict rejects with EAGAIN unless `wait` (a wait id unique in
   * this session) is given: then false means "not yet, ask again with the same id"
   * (the master keeps the waiter's place), and EDEADLK or EINTR (lockCancel) may come.
   */
  async lockSet(args: Request<'lockSet'>): Promise<boolean> {
    return (await this.call('lockSet', args)).granted;
  }

  /** Interrupts wait `wait`: its pending lockSet fails with EINTR, unless granted first. */
  async lockCancel(wait: number): Promise<void> {
    await this.call('lockCancel', { wait });
  }

  // ---- file data ------------------------------------------------------------------

  private fileIo: FileIo | undefined;

  /** The data path of this session's files: chunkserver links and the chunk location cache. */
  get io(): FileIo {
    this.fileIo ??= new FileIo(this, { name: this.options.name ?? `${osHostname()}:${process.pid}`, requestTimeoutMs: this.options.requestTimeoutMs, maxUnsyncedFiles: this.options.maxUnsyncedFiles });
    return this.fileIo;
  }

  /**
   * Opens a regular file for I/O (the master's open: permissions, O_TRUNC). close() on
   * the handle flushes it and releases the open.
   */
  async openFile(inode: number, flags: number, o?: CallOptions & FileHandleOptions): Promise<FileHandle> {
    const attr = await this.open(inode, flags, o);
    if (attr.type !== 'file') {
      await this.release(inode);
      throw new TsmfsError(attr.type === 'dir' ? Status.EISDIR : Status.EINVAL, `inode ${inode} is not a regular file`);
    }
    return this.openedFile(attr, flags, o);
  }

  /** A FileHandle on a file this session has opened already (`create` with `open`); close() releases it. */
  openedFile(attr: Attr, flags: number, o?: CallOptions & FileHandleOptions): FileHandle {
    const inode = attr.inode;
    return new FileHandle(this.io, inode, flags, this.credOf(o), attr, { ...o, onClose: () => this.release(inode, flags) });
  }

  /** The master's view of a file's chunks and their copies (tsmfs fileinfo). */
  fileinfo(inode: number): Promise<Reply<'fileinfo'>> {
    return this.call('fileinfo', { inode });
  }

  // ---- extended attributes ---------------------------------------------------------

  async getxattr(inode: number, name: string, o?: CallOptions): Promise<Buffer> {
    return Buffer.from((await this.call('getxattr', { cred: this.credOf(o), inode, name })).value);
  }

  /** `flags`: XATTR_CREATE (1) / XATTR_REPLACE (2). */
  async setxattr(inode: number, name: string, value: Uint8Array, flags = 0, o?: CallOptions): Promise<void> {
    await this.call('setxattr', { cred: this.credOf(o), inode, name, value, flags });
  }

  async listxattr(inode: number, o?: CallOptions): Promise<string[]> {
    return (await this.call('listxattr', { cred: this.credOf(o), inode })).names;
  }

  async removexattr(inode: number, name: string, o?: CallOptions): Promise<void> {
    await this.call('removexattr', { cred: this.credOf(o), inode, name });
  }

  /**
   * Makes every metadata change this session was answered for durable on the master (its
   * changelog fsynced), whatever the master's CHANGELOG_SAVE_MODE: the metadata half of
   * fsync(2). Returns the master's durable metadata version.
   */
  async metaSync(): Promise<number> {
    return (await this.call('metaSync', {})).version;
  }

  // ---- goal, trashtime, snapshots, trash -----------------------------------------------

  setgoal(inode: number, goal: number, o?: CallOptions & { mode?: GoalMode; recursive?: boolean }): Promise<Reply<'setgoal'>> {
    return this.call('setgoal', { cred: this.credOf(o), inode, goal, mode: o?.mode ?? 'set', recursive: o?.recursive ?? false });
  }

  async getgoal(inode: number, o?: { recursive?: boolean }): Promise<Reply<'getgoal'>['histogram']> {
    return (await this.call('getgoal', { inode, recursive: o?.recursive ?? false })).histogram;
  }

  settrashtime(
    inode: number,
    trashtime: number,
    o?: CallOptions & { mode?: GoalMode; recursive?: boolean },
  ): Promise<Reply<'settrashtime'>> {
    return this.call('settrashtime', {
      cred: this.credOf(o),
      inode,
      trashtime,
      mode: o?.mode ?? 'set',
      recursive: o?.recursive ?? false,
    });
  }

  async gettrashtime(inode: number, o?: { recursive?: boolean }): Promise<Reply<'gettrashtime'>['histogram']> {
    return (await this.call('gettrashtime', { inode, recursive: o?.recursive ?? false })).histogram;
  }

  /** makesnapshot; `cplike`, `umask` and `preserveHardlinks` (-c, -p) go only when given. */
  async snapshot(
    inode: number,
    parent: number,
    name: string,
    o?: CallOptions & { overwrite?: boolean; cplike?: boolean; umask?: number; preserveHardlinks?: boolean },
  ): Promise<Attr> {
    const flags = { cplike: o?.cplike, umask: o?.umask, preserveHardlinks: o?.preserveHardlinks };
    const given = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
    return (await this.call('snapshot', { cred: this.credOf(o), inode, parent, name, overwrite: o?.overwrite ?? false, ...given })).attr;
  }

  async trashList(): Promise<Reply<'trashList'>['entries']> {
    return (await this.call('trashList', {})).entries;
  }

  async trashUndelete(inode: number): Promise<void> {
    await this.call('trashUndelete', { inode });
  }

  async trashPurge(inode: number): Promise<void> {
    await this.call('trashPurge', { inode });
  }

  async sustainedList(): Promise<Reply<'sustainedList'>['entries']> {
    return (await this.call('sustainedList', {})).entries;
  }

  // ---- paths ------------------------------------------------------------------------

  /**
   * The attr of `path`, walked by lookups from the session root ('/' and '' are the
   * root; '.' and '..' are taken lexically, never above the root). Symlinks are not
   * followed: like lstat, the last component may be one, and one in the middle fails
   * with ENOTDIR from the master.
   */
  async resolve(path: string, o?: CallOptions): Promise<Attr> {
    const stack: Attr[] = [await this.getattr(this.root)];
    for (const part of path.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (stack.length > 1) stack.pop();
        continue;
      }
      stack.push(await this.lookup(stack[stack.length - 1]!.inode, part, o));
    }
    return stack[stack.length - 1]!;
  }

  /** The parent directory's inode and the last name of `path` (which need not exist). */
  async resolveParent(path: string, o?: CallOptions): Promise<{ parent: number; name: string }> {
    const parts = path.split('/').filter((p) => p !== '' && p !== '.');
    const name = parts.pop();
    if (name === undefined || name === '..') throw new TsmfsError(Status.EINVAL, `${path}: no last component`);
    const dir = await this.resolve(parts.join('/'), o);
    if (dir.type !== 'dir') throw new TsmfsError(Status.ENOTDIR, `${parts.join('/')}: not a directory`);
    return { parent: dir.inode, name };
  }

  // ---- the link -----------------------------------------------------------------------

  private credOf(o: CallOptions | undefined): Cred {
    return o?.cred ?? this.cred;
  }

  /** One send on one link; an unanswered request declares that link dead. */
  private send<N extends MessageName>(conn: Connection, name: N, body: Request<N>): Promise<Reply<N>> {
    const timeoutMs = this.options.requestTimeoutMs ?? 60_000;
    const timer = setTimeout(() => conn.close(new Error(`${name} unanswered for ${timeoutMs} ms`)), timeoutMs);
    return conn.request(name, body).finally(() => clearTimeout(timer));
  }

  /** The live link, or a wait (bounded by reconnectTimeoutMs) for the next one. */
  private ready(): Promise<Connection> {
    if (this.closed) return Promise.reject(new TsmfsError(Status.ECONNRESET, 'session closed'));
    if (this.live && !this.live.closed) return Promise.resolve(this.live);
    const timeoutMs = this.options.reconnectTimeoutMs ?? 30_000;
    return new Promise<Connection>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          const why = this.lastError ? `: ${this.lastError.message}` : '';
          reject(new TsmfsError(Status.ETIMEDOUT, `no master reachable for ${timeoutMs} ms${why}`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  private adopt(conn: Connection, info: SessionInfo): void {
    this.live = conn;
    this.current = info;
    this.lastError = undefined;
    conn.on('close', (err) => this.onLinkLost(conn, err));
    // The master's only request to a client: give back leases.
    conn.serve(async (name, body) => {
      if (name !== 'leaseRecall') throw new TsmfsError(Status.ENOSYS, `${name} is not served by a client`);
      await this.recallHandler?.(body as Request<'leaseRecall'>);
      return {};
    });
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.resolve(conn);
    }
    this.waiters.clear();
  }

  private onLinkLost(conn: Connection, err: Error | undefined): void {
    if (conn !== this.live || this.closed) return;
    this.live = undefined;
    this.lastError = err;
    this.emit('disconnect', err);
    void this.reconnect();
  }

  /**
   * Redials until a master takes us back or the session is closed, starting with the
   * master that served us last. Refusals are remembered (waiters report the last one)
   * but do not stop it: an operator may be fixing the exports right now.
   */
  private async reconnect(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    const backoff = reconnectBackoff(this.options.masters);
    let hintFollowed = false;
    try {
      while (!this.closed) {
        for (const address of this.rotation()) {
          if (this.closed) return;
          try {
            const { conn, info } = await connect(this.options, address, this.current.sessionId, this.opens.declared, this.writes.claims);
            if (this.closed) {
              conn.close();
              return;
            }
            this.preferred = this.options.masters.findIndex((m) => sameAddress(m, address));
            this.adopt(conn, info);
            this.stats.reconnects++;
            this.emit('reconnect', info);
            return;
          } catch (err) {
            this.lastError = err instanceof Refusal ? err.refused : (err as Error);
            // A follower named the leader: start the next round there, at once.
            if (err instanceof Redirect && err.hint && !sameAddress(err.hint, address) && !this.hinted) {
              this.hinted = err.hint;
              break;
            }
          }
        }
        // Straight to the named leader, once between two back-off sleeps: two masters that
        // name each other (views in flux) cannot spin us.
        if (this.hinted && !hintFollowed) {
          hintFollowed = true;
          continue;
        }
        hintFollowed = false;
        await this.pauser.sleep(backoff.delay());
      }
    } finally {
      this.reconnecting = false;
    }
  }

  private rotation(): Address[] {
    const m = this.options.masters;
    const start = Math.max(0, this.preferred);
    const hinted = this.hinted;
    this.hinted = undefined;
    const order = [...m.slice(start), ...m.slice(0, start)];
    return hinted ? [hinted, ...order.filter((a) => !sameAddress(a, hinted))] : order;
  }
}

/** Handshake, then register; a refusal of either is a Refusal, anything else transient. */
async function connect(
  options: SessionOptions,
  address: Address,
  sessionId: number | undefined,
  opens?: Request<'register'>['opens'],
  writes?: Request<'register'>['writes'],
): Promise<{ conn: Connection; info: SessionInfo }> {
  let dialed;
  try {
    dialed = await dial({
      host: address.host,
      port: address.port,
      role: options.role ?? 'client',
      name: options.name ?? `${options.role ?? 'client'}@${options.hostname ?? osHostname()}`,
      connectTimeoutMs: options.connectTimeoutMs ?? 5000,
    });
  } catch (err) {
    if (err instanceof TsmfsError && err.status === Status.EPROTO) throw new Refusal(err);
    throw err;
  }
  const { conn, server } = dialed;
  try {
    const reply = await conn.request(
      'register',
      {
        subdir: options.subdir ?? '/',
        meta: options.meta ?? false,
        readonly: options.readonly ?? false,
        hostname: options.hostname ?? osHostname(),
        mountpoint: options.mountpoint ?? '',
        passwordDigest: options.password === undefined ? undefined : passwordDigest(server.nonce, options.password),
        sessionId,
        attach: options.attach,
        leases: options.leases,
        opens: opens?.length ? opens : undefined,
        writes: writes?.length ? writes : undefined,
      },
      options.connectTimeoutMs ?? 5000,
    );
    return { conn, info: { ...reply, master: address, epoch: server.epoch } };
  } catch (err) {
    conn.close();
    if (isNotLeader(err)) throw new Redirect(leaderHint(err), err);
    const transient = !(err instanceof TsmfsError) || [Status.ECONNRESET, Status.ETIMEDOUT, Status.EAGAIN].includes(err.status as never);
    if (transient) throw err;
    throw new Refusal(err as TsmfsError);
  }
}

function sameAddress(a: Address, b: Address): boolean {
  return a.host === b.host && a.port === b.port;
}

/** Hands a change's reply's directory attributes to the caller that asked for them; returns the reply. */
function parentsOf<R extends { parents?: Attr[] }>(reply: R, o: ChangeOptions | undefined): R {
  if (reply.parents && o?.onParents) o.onParents(reply.parents);
  return reply;
}
