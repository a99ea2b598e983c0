import { O_ACCMODE, O_WRONLY, ROOT_INODE, type Reply, type Request, Status, TsmfsError } from '@tsmfs/protocol';
import type { Logger } from 'pino';
import { type ExportRule, matchExport } from './exports.js';
import type { ClientEntries } from './metadata/client-entries.js';
import type { ClientState } from './metadata/client-state.js';
import type { Leases } from './leases/leases.js';

/** One more open of `inode` by `session`: released for it if the session expires. */
export function recordOpen(session: Session, inode: number, flags: number): void {
  session.opens.set(inode, (session.opens.get(inode) ?? 0) + 1);
  if ((flags & O_ACCMODE) !== 0) session.writers.add(inode);
}

/** What sessions need of the namespace: the walk to a session's root, and releasing opens. */
export interface SessionNamespace {
  md: { resolvePath(path: string): number | undefined; isDir(inode: number): boolean; clients: ClientState; sustained: ReadonlyMap<number, unknown> };
  release(req: Request<'release'>): Reply<'release'>;
  clients: Pick<ClientEntries, 'reclaimOpen' | 'openSession' | 'endSession'>;
}

/** The session's view: what register returned, and the rule it was admitted by. */
export interface Session {
  readonly id: number;
  readonly rule: ExportRule;
  readonly root: number;
  readonly readonly: boolean;
  readonly meta: boolean;
  readonly address: string;
  hostname: string;
  mountpoint: string;
  /** A CLI tool's session acting with the rights of session `attachedTo` (the mount's); gone when its link closes. */
  readonly attachedTo: number | undefined;
  /** When it was registered (ms since the epoch). */
  readonly openedAt: number;
  /** inode → opens not yet released; released for the client if its session expires. */
  readonly opens: Map<number, number>;
  /**
   * Inodes among `opens` that were opened for writing at least once since the session last
   * had none of their opens (release does not say which open it ends, so this may outlast
   * the writable one; an honest client's kernel refuses ftruncate on a read-only descriptor
   * anyway). What a setattr's viaWritableHandle is checked against.
   */
  readonly writers: Set<number>;
  /** Its client answers lease recalls and asked for leases (register's `leases`). */
  wantsLeases: boolean;
  /** The link currently serving it; undefined while disconnected. */
  link: object | undefined;
  expiry: NodeJS.Timeout | undefined;
  /** While disconnected: when its locks go (LOCK_SUSTAIN_TIME), if its client is not back. */
  lockExpiry?: NodeJS.Timeout;
}

export interface SessionsOptions {
  rules: () => readonly ExportRule[];
  namespace: () => SessionNamespace;
  /** SESSION_SUSTAIN_TIME in ms: how long a disconnected session waits for its client. */
  sustainMs: number;
  /**
   * LOCK_SUSTAIN_TIME in ms: how long a disconnected session (or a former leader's that no
   * client re-attached to) keeps its flock/POSIX locks; then `dropLocks` releases them.
   * Default: as long as the session.
   */
  lockSustainMs?: number;
  dropLocks?: (sessionId: number) => void;
  /** MAX_SESSIONS / MAX_SESSIONS_PER_IP: sessions kept at once (connected or sustained). */
  maxSessions?: number;
  maxSessionsPerIp?: number;
  /** Metadata leases: a session registering holds none; its leaseMs is in the register reply. */
  leases?: Leases;
  /**
   * Whether this master may write the changelog now (an HA leader with a confirmed lease;
   * default: always). Session records (client-state.ts) are written only then; a
   * follower's or a deposed leader's sessions are the new leader's to end.
   */
  mayRecord?: () => boolean;
  /**
   * Whether `inode` is inside `session`'s export (ExportScope): a re-attaching client's
   * claimed opens of named files are taken only there. Default: everywhere.
   */
  inScope?: (session: Session, inode: number) => boolean;
  /** A client registered (new, resumed or re-attached; not a tool attaching), declaring `writes` in flight. */
  registered?: (session: Session, writes: Request<'register'>['writes']) => void;
  log: Logger;
}

/** How often the leader looks for recorded sessions nobody holds (a former leader's). */
const ORPHAN_SWEEP_MS = 10_000;

export interface Peer {
  address: string;
  nonce: Uint8Array;
  /** Identifies the link, so that a late close of an old link does not detach a resumed session. */
  link: object;
  /** The role told at the handshake: only 'cli' may attach to another session. */
  role?: string;
}

/**
 * Client sessions: admission by the exports, resumption, tool sessions attached to a
 * mount's, and the opens each session holds. A session rooted at a subdirectory is given
 * that directory's inode as its root. The rules an export imposes on each request are
 * session-rules.ts's, applied by links/client-requests.ts.
 */
export class Sessions {
  private readonly sessions = new Map<number, Session>();
  // Ids continue from the clock so that a client resuming an id from before a master
  // restart cannot land on another client's new session.
  private nextId = Date.now();
  /** Recorded sessions (a former leader's) no client has re-attached to here: since when. */
  private readonly orphans = new Map<number, number>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly options: SessionsOptions) {
    this.sweeper = setInterval(() => this.sweepOrphans(), Math.min(ORPHAN_SWEEP_MS, Math.max(100, Math.min(options.sustainMs, options.lockSustainMs ?? Infinity))));
    this.sweeper.unref();
  }

  private mayRecord(): boolean {
    return this.options.mayRecord?.() ?? true;
  }

  get all(): readonly Session[] {
    return [...this.sessions.values()];
  }

  /** Admits a client (or resumes its session); throws EACCES/ENOENT/ENOTDIR with the reason. */
  register(req: Request<'register'>, peer: Peer): Session {
    if (req.attach !== undefined) return this.attach(req, peer, req.attach);
    const rule = matchExport(this.options.rules(), {
      address: peer.address,
      path: req.subdir,
      meta: req.meta,
      nonce: peer.nonce,
      passwordDigest: req.passwordDigest,
    });
    const root = req.meta ? ROOT_INODE : this.resolveRoot(req.subdir);
    const resumed = req.sessionId === undefined ? undefined : this.resumable(req.sessionId, peer.address, root, req.meta);
    const reattached = req.sessionId === undefined || resumed ? undefined : this.reattachable(req.sessionId, peer.address, root, req.meta);
    if (!resumed) this.checkRoom(peer.address);
    const session: Session = resumed ?? {
      id: reattached ?? this.newId(),
      rule,
      root,
      readonly: rule.readonly || req.readonly,
      meta: req.meta,
      address: peer.address,
      hostname: req.hostname,
      mountpoint: req.mountpoint,
      attachedTo: undefined,
      openedAt: Date.now(),
      opens: new Map(),
      writers: new Set(),
      wantsLeases: false,
      link: undefined,
      expiry: undefined,
    };
    if (session.expiry) clearTimeout(session.expiry);
    clearTimeout(session.lockExpiry);
    session.expiry = undefined;
    session.lockExpiry = undefined;
    session.link = peer.link;
    session.wantsLeases = req.leases === true && !session.meta;
    this.sessions.set(session.id, session);
    this.orphans.delete(session.id);
    if (reattached !== undefined && req.opens) this.reclaim(session, req.opens);
    // A client that comes back says which writes it has in flight (write-grace.ts): taken
    // only for files it holds open for writing here, so a claim cannot hold others' slots.
    const writes = req.sessionId === undefined || session.readonly ? undefined : req.writes?.filter((w) => session.writers.has(w.inode));
    this.options.registered?.(session, writes);
    // Recorded so that the next leader lets this client re-attach to the same id (and
    // finds its request results); not recorded when this master may not write now.
    const ns = this.options.namespace();
    if (!ns.md.clients.sessions.has(session.id) && this.mayRecord()) {
      ns.clients.openSession({ id: session.id, address: session.address, root: session.root, meta: session.meta, openedAt: session.openedAt });
    }
    // A client drops its leases with its link (the master cannot recall over a dead one).
    this.options.leases?.dropHolder(session);
    this.options.log.info(
      { session: session.id, address: peer.address, hostname: req.hostname, subdir: req.meta ? '(meta)' : req.subdir, rule: rule.where, resumed: !!resumed, reattached: reattached !== undefined },
      'client session registered',
    );
    return session;
  }

  /**
   * A CLI tool acting on a mount's files: it names the mount's session (from the mount's
   * .masterinfo) and gets a session of its own with that session's export rule, root and
   * read-only flag, without matching the exports or knowing the export's password. Only
   * from the address the mount's session came from, only while that session is live.
   * Reasoning: docs/cli.md, "How the tools reach the master".
   */
  private attach(req: Request<'register'>, peer: Peer, target: number): Session {
    if (peer.role !== 'cli') throw new TsmfsError(Status.EPERM, 'only CLI tools (role cli) may attach to a session');
    const mount = this.sessions.get(target);
    if (!mount || mount.link === undefined || mount.attachedTo !== undefined || mount.address !== peer.address) {
      throw new TsmfsError(Status.EACCES, `no live mount session ${target} from ${peer.address} to attach to`);
    }
    this.checkRoom(peer.address);
    const session: Session = {
      id: this.newId(),
      rule: mount.rule,
      root: mount.root,
      readonly: mount.readonly || req.readonly,
      meta: mount.meta,
      address: peer.address,
      hostname: req.hostname,
      mountpoint: mount.mountpoint,
      attachedTo: mount.id,
      openedAt: Date.now(),
      opens: new Map(),
      writers: new Set(),
      // A tool asks the master, never a cache: no leases.
      wantsLeases: false,
      link: peer.link,
      expiry: undefined,
    };
    this.sessions.set(session.id, session);
    this.options.log.info({ session: session.id, attachedTo: mount.id, address: peer.address }, 'tool session attached');
    return session;
  }

  registerReply(s: Session): Reply<'register'> {
    return {
      sessionId: s.id,
      root: s.root,
      readonly: s.readonly,
      minGoal: s.rule.minGoal,
      maxGoal: s.rule.maxGoal,
      minTrashtime: s.rule.minTrashtime,
      maxTrashtime: s.rule.maxTrashtime,
      leaseMs: s.wantsLeases && this.options.leases ? this.options.leases.leaseMs : 0,
    };
  }

  /** The link of `session` closed: keep it SESSION_SUSTAIN_TIME for the client to come back. */
  detach(session: Session, link: object): void {
    if (session.link !== link) return;
    session.link = undefined;
    // Forgotten already (clear() at stop, or expired): nothing left to sustain, and a late
    // timer would end the session a second time.
    if (this.sessions.get(session.id) !== session) return;
    // A tool does not come back for its session: nothing to sustain.
    if (session.attachedTo !== undefined) return this.expire(session);
    session.expiry = setTimeout(() => this.expire(session), this.options.sustainMs);
    session.expiry.unref();
    // A dead mount's locks must not block the other mounts for the whole sustain time; a
    // live one reconnects (even across a takeover) within seconds (docs/master.md, "Locks").
    const { lockSustainMs, dropLocks } = this.options;
    if (lockSustainMs !== undefined && lockSustainMs < this.options.sustainMs && dropLocks) {
      session.lockExpiry = setTimeout(() => {
        if (session.link === undefined && this.sessions.get(session.id) === session && this.mayRecord()) dropLocks(session.id);
      }, lockSustainMs);
      session.lockExpiry.unref();
    }
  }

  /**
   * Refuses a new session beyond MAX_SESSIONS or MAX_SESSIONS_PER_IP, with EAGAIN: a
   * sustained session frees its place when it expires, so the client may try again.
   */
  private checkRoom(address: string): void {
    const { maxSessions = Infinity, maxSessionsPerIp = Infinity, log } = this.options;
    let reason: string | undefined;
    if (this.sessions.size >= maxSessions) reason = `too many sessions (MAX_SESSIONS ${maxSessions})`;
    else if (this.all.filter((s) => s.address === address).length >= maxSessionsPerIp) reason = `too many sessions from ${address} (MAX_SESSIONS_PER_IP ${maxSessionsPerIp})`;
    if (reason === undefined) return;
    log.warn({ address, reason }, 'session refused');
    throw new TsmfsError(Status.EAGAIN, reason);
  }

  /**
   * Ends `session` now, releasing its files: its client registered again on the same
   * link, so nobody will come back for it (keeping it would let one link pile up sessions).
   */
  replace(session: Session, link: object): void {
    if (session.link !== link) return;
    session.link = undefined;
    this.expire(session);
  }

  /** Forgets every session without releasing its files (the master is stopping). */
  clear(): void {
    for (const s of this.sessions.values()) {
      clearTimeout(s.expiry);
      clearTimeout(s.lockExpiry);
    }
    this.sessions.clear();
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /** Recorded sessions (a former leader's included) with no live link here: those a new leader's grace period waits for. */
  absent(): number[] {
    return [...this.options.namespace().md.clients.sessions.keys()].filter((id) => !this.linked(id));
  }

  /** Whether session `id` has a live link here. */
  linked(id: number): boolean {
    return this.sessions.get(id)?.link !== undefined;
  }

  /** The sessions holding `inode` open. */
  holdersOf(inode: number): number[] {
    return this.all.filter((s) => s.opens.has(inode)).map((s) => s.id);
  }

  /**
   * The opens a client re-attaching to its session on a new master says it holds (its
   * open descriptors): counted again here as they were on the former leader, for the
   * files that still have a name and the sustained ones this session was recorded
   * holding; the others are refused silently (the client's descriptor then fails as on
   * a removed file).
   */
  private reclaim(session: Session, opens: NonNullable<Request<'register'>['opens']>): void {
    const ns = this.options.namespace();
    let taken = 0;
    const inScope = this.options.inScope ?? (() => true);
    for (const o of opens) {
      // A named file only inside the export (a sustained one: only if recorded as this session's).
      if (!ns.md.sustained.has(o.inode) && !inScope(session, o.inode)) continue;
      if (!ns.clients.reclaimOpen(session.id, o.inode, o.count)) continue;
      for (let i = 0; i < o.count; i++) recordOpen(session, o.inode, o.writing ? O_WRONLY : 0);
      taken++;
    }
    if (opens.length) this.options.log.info({ session: session.id, claimed: opens.length, taken }, 'open files reclaimed');
  }

  /** A session id above every id this master or a former leader handed out. */
  private newId(): number {
    const clients = this.options.namespace().md.clients;
    this.nextId = Math.max(this.nextId, clients.maxSessionId() + 1);
    while (this.sessions.has(this.nextId) || clients.sessions.has(this.nextId)) this.nextId++;
    return this.nextId++;
  }

  /**
   * A session a former leader recorded and this master has no live copy of (a takeover,
   * or a restart): its client gets the same id back, from the address it was opened from,
   * with the same root. The export's rules were matched again by the caller.
   */
  private reattachable(id: number, address: string, root: number, meta: boolean): number | undefined {
    const rec = this.options.namespace().md.clients.sessions.get(id);
    if (!rec || this.sessions.has(id) || rec.address !== address || rec.root !== root || rec.meta !== meta) return undefined;
    return id;
  }

  /**
   * Recorded sessions that nobody has come back for within SESSION_SUSTAIN_TIME of this
   * master noticing them (as leader) are ended, as a disconnected session would be.
   */
  private sweepOrphans(): void {
    if (!this.mayRecord()) return;
    let ns: SessionNamespace;
    try {
      ns = this.options.namespace();
    } catch {
      return;
    }
    const now = Date.now();
    const { lockSustainMs } = this.options;
    for (const id of ns.md.clients.sessions.keys()) {
      if (this.sessions.has(id)) continue;
      const since = this.orphans.get(id);
      if (since === undefined) this.orphans.set(id, now);
      else if (now - since >= this.options.sustainMs) {
        this.orphans.delete(id);
        ns.clients.endSession(id);
        this.options.log.info({ session: id }, 'recorded session expired (nobody re-attached)');
      } else if (lockSustainMs !== undefined && now - since >= lockSustainMs && ns.md.clients.locks.hasSession(id)) {
        this.options.dropLocks?.(id);
      }
    }
  }

  /** Forwards a release only for opens this session made: a stray one must not close someone else's. */
  release(session: Session, inode: number): Reply<'release'> {
    const n = session.opens.get(inode) ?? 0;
    if (n === 0) return {};
    if (n === 1) {
      session.opens.delete(inode);
      session.writers.delete(inode);
    } else session.opens.set(inode, n - 1);
    return this.options.namespace().release({ inode });
  }

  private expire(session: Session): void {
    if (session.link !== undefined) return;
    clearTimeout(session.lockExpiry);
    this.sessions.delete(session.id);
    this.options.leases?.forget(session);
    const ns = this.options.namespace();
    if (this.mayRecord()) ns.clients.endSession(session.id);
    let released = 0;
    for (const [inode, n] of session.opens) {
      for (let i = 0; i < n; i++, released++) ns.release({ inode });
    }
    this.options.log.info({ session: session.id, released }, 'client session expired');
  }

  private resumable(id: number, address: string, root: number, meta: boolean): Session | undefined {
    const s = this.sessions.get(id);
    // Like MooseFS without dynamicip: a session is resumed only from the address it was opened from.
    if (!s || s.attachedTo !== undefined || s.address !== address || s.root !== root || s.meta !== meta) return undefined;
    return s;
  }

  private resolveRoot(subdir: string): number {
    const ns = this.options.namespace();
    const path = `/${subdir.split('/').filter((p) => p !== '').join('/')}`;
    if (path.split('/').some((p) => p === '.' || p === '..')) {
      throw new TsmfsError(Status.EINVAL, `subdirectory ${subdir} may not contain '.' or '..'`);
    }
    const inode = ns.md.resolvePath(path);
    if (inode === undefined) throw new TsmfsError(Status.ENOENT, `subdirectory ${path} does not exist`);
    if (!ns.md.isDir(inode)) throw new TsmfsError(Status.ENOTDIR, `subdirectory ${path} is not a directory`);
    return inode;
  }
}
