import { type Cred, type MessageName, ROOT_INODE, type Reply, type Request, Status, TsmfsError } from '@tsmfs/protocol';
import type { Logger } from 'pino';
import { type ExportRule, matchExport } from './exports.js';
import { O_ACCMODE, O_TRUNC } from '@tsmfs/protocol';

/** The catalogue messages a client session sends to the namespace (ids 20–149). */
export const NAMESPACE_MESSAGES = [
  'lookup', 'getattr', 'setattr', 'mknod', 'mkdir', 'symlink', 'readlink', 'link', 'unlink', 'rmdir', 'rename',
  'readdir', 'statfs', 'access', 'open', 'release', 'getxattr', 'setxattr', 'listxattr', 'removexattr',
  'setgoal', 'getgoal', 'settrashtime', 'gettrashtime', 'snapshot', 'trashList', 'trashUndelete', 'trashPurge',
  'sustainedList', 'readChunk', 'writeChunk', 'writeChunkEnd',
] as const satisfies readonly MessageName[];
export type NamespaceMessage = (typeof NAMESPACE_MESSAGES)[number];
const IS_NAMESPACE: ReadonlySet<MessageName> = new Set(NAMESPACE_MESSAGES);

/** One more open of `inode` by `session`: released for it if the session expires. */
function countOpen(session: Session, inode: number, flags: number): void {
  session.opens.set(inode, (session.opens.get(inode) ?? 0) + 1);
  if ((flags & O_ACCMODE) !== 0) session.writers.add(inode);
}

export function isNamespaceMessage(name: MessageName): name is NamespaceMessage {
  return IS_NAMESPACE.has(name);
}

/** What sessions need of the namespace: one method per message, plus the root walk. */
export type ServedNamespace = { [N in NamespaceMessage]: (req: Request<N>) => Reply<N> } & {
  md: { resolvePath(path: string): number | undefined; isDir(inode: number): boolean };
};

/** Messages that change metadata: refused with EROFS on a read-only session. */
const MUTATING: ReadonlySet<NamespaceMessage> = new Set<NamespaceMessage>([
  'setattr', 'mknod', 'mkdir', 'symlink', 'link', 'unlink', 'rmdir', 'rename', 'setxattr', 'removexattr',
  'setgoal', 'settrashtime', 'snapshot', 'trashUndelete', 'trashPurge', 'writeChunk', 'writeChunkEnd',
]);

/** The meta file system (mount -m): trash and sustained files, as in MooseFS. */
const META_ONLY: ReadonlySet<NamespaceMessage> = new Set<NamespaceMessage>(['trashList', 'trashUndelete', 'trashPurge', 'sustainedList']);
const META_ALLOWED: ReadonlySet<NamespaceMessage> = new Set<NamespaceMessage>([...META_ONLY, 'statfs', 'getattr']);

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
  /** The link currently serving it; undefined while disconnected. */
  link: object | undefined;
  expiry: NodeJS.Timeout | undefined;
}

export interface SessionsOptions {
  rules: () => readonly ExportRule[];
  namespace: () => ServedNamespace;
  /** SESSION_SUSTAIN_TIME in ms: how long a disconnected session waits for its client. */
  sustainMs: number;
  /** MAX_SESSIONS / MAX_SESSIONS_PER_IP: sessions kept at once (connected or sustained). */
  maxSessions?: number;
  maxSessionsPerIp?: number;
  log: Logger;
}

export interface Peer {
  address: string;
  nonce: Uint8Array;
  /** Identifies the link, so that a late close of an old link does not detach a resumed session. */
  link: object;
  /** The role told at the handshake: only 'cli' may attach to another session. */
  role?: string;
}

/**
 * Client sessions: admission by the exports, and the per-request rules an export imposes
 * (uid mapping, read-only, goal/trashtime bounds, meta vs namespace). The master serves
 * inodes, not paths: a session rooted at a subdirectory is given that directory's inode
 * as its root, and its client resolves '..' itself and never above that root. A client
 * can still name any inode number it guesses, as with MooseFS; the export's subdirectory
 * is a convenience, the uid mapping and read-only flag are what protect.
 */
export class Sessions {
  private readonly sessions = new Map<number, Session>();
  // Ids continue from the clock so that a client resuming an id from before a master
  // restart cannot land on another client's new session.
  private nextId = Date.now();

  constructor(private readonly options: SessionsOptions) {}

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
    if (!resumed) this.checkRoom(peer.address);
    const session: Session = resumed ?? {
      id: this.nextId++,
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
      link: undefined,
      expiry: undefined,
    };
    if (session.expiry) clearTimeout(session.expiry);
    session.expiry = undefined;
    session.link = peer.link;
    this.sessions.set(session.id, session);
    this.options.log.info(
      { session: session.id, address: peer.address, hostname: req.hostname, subdir: req.meta ? '(meta)' : req.subdir, rule: rule.where, resumed: !!resumed },
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
      id: this.nextId++,
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
    };
  }

  /** The link of `session` closed: keep it SESSION_SUSTAIN_TIME for the client to come back. */
  detach(session: Session, link: object): void {
    if (session.link !== link) return;
    session.link = undefined;
    // A tool does not come back for its session: nothing to sustain.
    if (session.attachedTo !== undefined) return this.expire(session);
    session.expiry = setTimeout(() => this.expire(session), this.options.sustainMs);
    session.expiry.unref();
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
    for (const s of this.sessions.values()) if (s.expiry) clearTimeout(s.expiry);
    this.sessions.clear();
  }

  /** Serves one namespace request for `session`, applying its export's rules. Synchronous. */
  serve<N extends NamespaceMessage>(session: Session, name: N, body: Request<N>): Reply<N> {
    this.checkAllowed(session, name, body);
    const req = this.mapRequest(session, name, body);
    const ns = this.options.namespace();
    if (name === 'lookup') {
      const r = req as Request<'lookup'>;
      // The session root is its '/': its '..' is itself, as at the real root.
      if (r.parent === session.root && r.name === '..') return ns.lookup({ ...r, name: '.' }) as Reply<N>;
    }
    if (name === 'release') return this.release(session, (req as Request<'release'>).inode) as Reply<N>;
    const reply = (ns[name] as unknown as (r: Request<N>) => Reply<N>).call(ns, req);
    if (name === 'open') countOpen(session, (req as Request<'open'>).inode, (req as Request<'open'>).flags);
    if (name === 'mknod' && (reply as Reply<'mknod'>).opened) {
      countOpen(session, (reply as Reply<'mknod'>).attr.inode, (req as Request<'mknod'>).open!);
    }
    return reply;
  }

  private checkAllowed(session: Session, name: NamespaceMessage, body: unknown): void {
    if (session.meta && !META_ALLOWED.has(name)) {
      throw new TsmfsError(Status.EPERM, `${name} is not served on a meta session (it holds trash and sustained files only)`);
    }
    if (!session.meta && META_ONLY.has(name)) {
      throw new TsmfsError(Status.EPERM, `${name} needs a meta session (mount with -m; exports rule with '.')`);
    }
    if (session.readonly && (MUTATING.has(name) || (name === 'open' && opensForWriting((body as Request<'open'>).flags)))) {
      throw new TsmfsError(Status.EROFS, `session ${session.id} is read-only (export rule ${session.rule.where})`);
    }
  }

  private mapRequest<N extends NamespaceMessage>(session: Session, name: N, body: Request<N>): Request<N> {
    let req = body;
    if ('cred' in req) req = { ...req, cred: mapCred(session.rule, req.cred as Cred) };
    if (name === 'setgoal') {
      const r = req as Request<'setgoal'>;
      req = { ...r, goal: clamp(r.goal, session.rule.minGoal, session.rule.maxGoal) } as Request<N>;
    }
    if (name === 'setattr') {
      const { viaWritableHandle, ...rest } = req as Request<'setattr'>;
      // The client's word that a descriptor open for writing allows the change counts only
      // for an inode this session has open for writing (MooseFS believes its flag blindly).
      if (viaWritableHandle && !session.writers.has(rest.inode)) req = rest as Request<N>;
    }
    if (name === 'settrashtime') {
      const r = req as Request<'settrashtime'>;
      req = { ...r, trashtime: clamp(r.trashtime, session.rule.minTrashtime, session.rule.maxTrashtime) } as Request<N>;
    }
    return req;
  }

  /** Forwards a release only for opens this session made: a stray one must not close someone else's. */
  private release(session: Session, inode: number): Reply<'release'> {
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
    this.sessions.delete(session.id);
    const ns = this.options.namespace();
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

/** mapall maps everyone; maproot maps uid 0 (MooseFS semantics). */
export function mapCred(rule: ExportRule, cred: Cred): Cred {
  const to = rule.mapall ?? (cred.uid === 0 ? rule.maproot : undefined);
  if (!to) return cred;
  if (to.uid === cred.uid && to.gid === cred.gid) return cred;
  return { uid: to.uid, gid: to.gid, groups: [to.gid] };
}

function opensForWriting(flags: number): boolean {
  return (flags & O_ACCMODE) !== 0 || (flags & O_TRUNC) !== 0;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
