import { type Attr, O_ACCMODE, O_TRUNC, ROOT_INODE, type Reply, type Request, type SessionMessage, Status, TsmfsError } from '@tsmfs/protocol';
import type { ChunkRequests } from '../chunks/chunk-requests.js';
import type { ToolRequests } from '../chunks/tool-requests.js';
import type { Changelog } from '@tsmfs/metastore';
import { metaSync } from '../durability/meta-sync.js';
import { ExportScope } from '../export-scope.js';
import type { Leases } from '../leases/leases.js';
import { LockManager } from '../locks/lock-manager.js';
import type { RequestResult, RequestTag } from '../metadata/client-state.js';
import { filePaths } from '../metadata/file-paths.js';
import { type Topology, closestFirst } from '../chunks/topology.js';
import type { Namespace } from '../metadata/namespace.js';
import type { Metadata } from '../metadata/metadata.js';
import { quotaStatfs } from '../quota/quota-statfs.js';
import { admit, clamp } from '../session-rules.js';
import { type Session, type Sessions, recordOpen } from '../sessions.js';

/** The parts of the master that serve client requests. */
export interface ClientRequestsOptions {
  sessions: Sessions;
  namespace: () => Namespace;
  /** The chunk half of readChunk/writeChunk/writeChunkEnd/setattr(size)/statfs/fileinfo, once chunkservers are served. */
  chunks?: ChunkRequests;
  /** dirinfo, checkfile, filerepair, appendchunks (the CLI tools). */
  tools?: ToolRequests;
  /** For metaSync (a client's fsync); without it metaSync is ENOSYS. */
  changelog?: Changelog;
  /** Metadata leases: granted here on what a session reads, recalled by the namespace's changes. */
  leases?: Leases;
  /** Resolves once the synchronous standbys hold `version` (docs/ha.md); absent: none to wait for. */
  replicated?: (version: number) => Promise<void> | undefined;
  /**
   * Why this master may not change metadata now (HA: not a leader with a confirmed lease),
   * for the requests that change it without being declared `mutates` (locks: a read-only
   * session may lock too). Absent: it always may.
   */
  refusal?: () => Error | undefined;
  /** Network topology: the copies of a grant go to the client closest first. Absent: no topology. */
  topology?: () => Topology;
}

type Handler<N extends SessionMessage> = (m: ClientRequests, s: Session, req: Request<N>) => Reply<N> | Promise<Reply<N>>;

/**
 * One handler per session request of the catalogue (messages.ts), written out so that a
 * reader follows each request from here to the namespace: TypeScript refuses a table
 * that misses one. Every handler receives the request after `admit` has applied the
 * export's rules to it.
 */
const HANDLERS: { readonly [N in SessionMessage]: Handler<N> } = {
  // The session root is its '/': its '..' is itself, as at the real root.
  lookup: (m, s, r) => m.ns.lookup(r.parent === s.root && r.name === '..' ? { ...r, name: '.' } : r),
  getattr: (m, _s, r) => m.ns.getattr(r),
  setattr: (m, s, r) => {
    const req = believedHandle(s, r);
    return m.chunks ? m.chunks.setattr(s.id, req, () => m.ns.setattr(req)) : m.ns.setattr(req);
  },
  mknod: (m, s, r) => {
    const reply = m.ns.mknod(r);
    if (reply.opened) recordOpen(s, reply.attr.inode, r.open!);
    return reply;
  },
  mkdir: (m, _s, r) => m.ns.mkdir(r),
  symlink: (m, _s, r) => m.ns.symlink(r),
  readlink: (m, _s, r) => m.ns.readlink(r),
  link: (m, _s, r) => m.ns.link(r),
  unlink: (m, _s, r) => m.ns.unlink(r),
  rmdir: (m, _s, r) => m.ns.rmdir(r),
  rename: (m, _s, r) => m.ns.rename(r),
  readdir: (m, _s, r) => m.ns.readdir(r),
  statfs: (m, s, r) => quotaStatfs(m.ns.md, s.root, m.chunks ? m.chunks.statfs(() => m.ns.statfs(r)) : m.ns.statfs(r)),
  access: (m, _s, r) => m.ns.access(r),
  open: (m, s, r) => {
    const reply = m.ns.open(r);
    recordOpen(s, r.inode, r.flags);
    // Opened for reading only (O_RDONLY is 0): the first read follows, its chunk grant comes with the open.
    const grant = m.chunks && (r.flags & (O_ACCMODE | O_TRUNC)) === 0 ? m.chunks.openGrant(r.inode) : undefined;
    return grant ? { ...reply, grant: m.nearest(s, grant) } : reply;
  },
  release: (m, s, r) => released(m, s, r.inode),
  releases: (m, s, r) => {
    for (const inode of r.inodes) released(m, s, inode);
    return {};
  },
  // The term was renewed as the request arrived (ClientRequests.serve).
  leaseRenew: (m, s, r) => (m.leases?.release(s, r.dirs, r.inodes), {}),
  getxattr: (m, _s, r) => m.ns.getxattr(r),
  setxattr: (m, _s, r) => m.ns.setxattr(r),
  listxattr: (m, _s, r) => m.ns.listxattr(r),
  removexattr: (m, _s, r) => m.ns.removexattr(r),
  setgoal: (m, s, r) => m.ns.setgoal({ ...r, goal: clamp(r.goal, s.rule.minGoal, s.rule.maxGoal) }),
  getgoal: (m, _s, r) => m.ns.getgoal(r),
  settrashtime: (m, s, r) => m.ns.settrashtime({ ...r, trashtime: clamp(r.trashtime, s.rule.minTrashtime, s.rule.maxTrashtime) }),
  gettrashtime: (m, _s, r) => m.ns.gettrashtime(r),
  snapshot: (m, _s, r) => m.ns.snapshot(r),
  trashList: (m, _s, r) => m.ns.trashList(r),
  trashUndelete: (m, _s, r) => m.ns.trashUndelete(r),
  trashPurge: (m, _s, r) => m.ns.trashPurge(r),
  sustainedList: (m, _s, r) => m.ns.sustainedList(r),
  readChunk: async (m, s, r) => m.nearest(s, await (m.chunks ? m.chunks.read(() => m.ns.readChunk(r)) : m.ns.readChunk(r))),
  writeChunk: async (m, s, r) => {
    const grant = (keepVersion?: (chunkId: number) => boolean) => m.ns.writeChunk(r, s.writers.has(r.inode), keepVersion);
    // Closest first is also the chain's order: the client sends to the first copy.
    return m.nearest(s, await (m.chunks ? m.chunks.write(s.id, r, grant) : grant()));
  },
  writeChunkEnd: (m, s, r) => {
    const reply = m.chunks ? m.chunks.writeEnd(s.id, r, () => m.ns.writeChunkEnd(r)) : m.ns.writeChunkEnd(r);
    // An end answered later (refused by a quota: its cut first) carries no grant.
    if (reply instanceof Promise || !reply.grant) return reply;
    return { ...reply, grant: m.nearest(s, reply.grant) };
  },
  fileinfo: (m, _s, r) => served(m.chunks, 'fileinfo').fileinfo(r),
  dirinfo: (m, _s, r) => served(m.tools, 'dirinfo').dirinfo(r),
  checkfile: (m, _s, r) => served(m.tools, 'checkfile').checkfile(r),
  filerepair: (m, _s, r) => served(m.tools, 'filerepair').filerepair(r),
  appendchunks: (m, _s, r) => served(m.tools, 'appendchunks').appendchunks(r),
  seteattr: (m, s, r) => m.ns.eattrs.seteattr(r, s.rule.admin),
  geteattr: (m, _s, r) => m.ns.eattrs.geteattr(r),
  rmsnapshot: (m, _s, r) => m.ns.eattrs.rmsnapshot(r),
  // A meta session's root is the whole tree: its trash paths are absolute.
  filepaths: (m, s, r) => filePaths(m.ns.md, r.inode, s.meta ? ROOT_INODE : s.root),
  getquota: (m, _s, r) => m.ns.quotas.get(r),
  setquota: (m, s, r) => m.ns.quotas.set(s.rule.admin, r),
  delquota: (m, s, r) => m.ns.quotas.del(s.rule.admin, r),
  sclassCreate: (m, s, r) => m.ns.sclasses.create(s.rule, r),
  sclassChange: (m, s, r) => m.ns.sclasses.change(s.rule, r),
  sclassDelete: (m, s, r) => m.ns.sclasses.delete(s.rule, r),
  sclassCopy: (m, s, r) => m.ns.sclasses.copy(s.rule, r),
  sclassRename: (m, s, r) => m.ns.sclasses.rename(s.rule, r),
  sclassList: (m) => m.ns.sclasses.list(),
  setsclass: (m, s, r) => m.ns.sclasses.setsclass(s.rule, r),
  getsclass: (m, _s, r) => m.ns.sclasses.getsclass(r),
  archive: (m, _s, r) => m.ns.sclasses.archive(r),
  chkarchive: (m, _s, r) => m.ns.sclasses.chkarchive(r),
  metaSync: (m) => metaSync(served(m.changelog, 'metaSync')),
  lockTest: (m, s, r) => {
    const c = m.locks.test(s, r);
    return c ? { conflict: { type: c.type, start: c.start, end: c.end, pid: c.pid } } : {};
  },
  lockSet: (m, s, r) => {
    // Only a file this session holds open (as MooseFS): its locks then go with its last release.
    if (r.type !== 2 && !s.opens.has(r.inode)) throw new TsmfsError(Status.EBADF, `lock on inode ${r.inode}, which this session has not open`);
    const granted = m.locks.set(s, r);
    return granted instanceof Promise ? granted.then((g) => ({ granted: g })) : { granted };
  },
  lockCancel: (m, s, r) => {
    m.locks.cancel(s, r.wait);
    return {};
  },
};

/** One release of `inode` by `s` (ignored unless `s` holds it open); its last drops the session's locks on it. */
function released(m: ClientRequests, s: Session, inode: number): Reply<'release'> {
  const reply = m.sessions.release(s, inode);
  if (!s.opens.has(inode)) m.locks.closed(s, inode);
  return reply;
}

/**
 * The client port's requests of a session: the export's rules (`admit`, from the
 * catalogue's declarations), then the request's handler.
 */
export class ClientRequests {
  readonly sessions: Sessions;
  readonly chunks: ChunkRequests | undefined;
  readonly tools: ToolRequests | undefined;
  readonly changelog: Changelog | undefined;
  readonly leases: Leases | undefined;
  /** flock and POSIX locks: checked and waited for here, held in the replicated ClientState. */
  readonly locks: LockManager;
  private readonly scope: ExportScope;

  constructor(private readonly options: ClientRequestsOptions) {
    this.sessions = options.sessions;
    this.chunks = options.chunks;
    this.tools = options.tools;
    this.changelog = options.changelog;
    this.leases = options.leases;
    this.scope = new ExportScope(() => this.ns.md);
    this.locks = new LockManager({
      table: () => this.ns.md.clients.locks,
      commit: (c) => this.ns.clients.lock(c),
      live: (id) => this.ns.md.clients.sessions.has(id) || this.sessions.all.some((s) => s.id === id),
      refusal: options.refusal,
    });
  }

  get ns(): Namespace {
    return this.options.namespace();
  }

  /** A grant with its copies ordered for `session`'s client by network distance (topology.ts). */
  nearest<G extends Reply<'readChunk'>>(session: Session, grant: G): G {
    const topology = this.options.topology?.();
    return topology ? { ...grant, locations: closestFirst(topology, grant.locations, session.address) } : grant;
  }

  serve<N extends SessionMessage>(session: Session, name: N, body: Request<N>): Reply<N> | Promise<Reply<N>> {
    // Every request keeps the session's leases alive (docs/mount.md, "Leases").
    this.leases?.renew(session);
    const req = admit(session, name, body, this.scope);
    const tag = requestTag(session, req);
    if (tag) {
      const done = this.ns.md.clients.lookup(tag.s, tag.r);
      if (done) return this.recorded(session, name, req, done);
      // The entry the request makes carries its id: applying it records the result.
      return this.ns.tagged(tag, () => this.handle(session, name, req));
    }
    return this.handle(session, name, req);
  }

  /**
   * A re-sent request that was applied already (here, or on the leader before a
   * takeover): the recorded result, once its entry is saved and held by the synchronous
   * standbys, as the first answer would have been.
   */
  private async recorded<N extends SessionMessage>(session: Session, name: N, req: Request<N>, done: RequestResult): Promise<Reply<N>> {
    await Promise.all([this.changelog?.saved(done.version), this.options.replicated?.(done.version)]);
    const reply: Record<string, unknown> = {};
    if (done.attr) reply.attr = done.attr;
    // A create+open re-sent: opened if this master counts the open (the same master); a
    // new leader does not, and the client then opens it (MasterSession.mknod).
    if (name === 'mknod' && (req as Request<'mknod'>).open !== undefined && done.attr && session.opens.has(done.attr.inode)) reply.opened = true;
    return reply as Reply<N>;
  }

  private handle<N extends SessionMessage>(session: Session, name: N, req: Request<N>): Reply<N> | Promise<Reply<N>> {
    const leases = this.leases;
    // The directory's lease comes with the answer, an ENOENT included (a negative entry).
    if (leases && (name === 'lookup' || name === 'readdir')) leases.grantDir(session, name === 'lookup' ? (req as Request<'lookup'>).parent : (req as Request<'readdir'>).inode);
    // A table indexed by a generic key: TypeScript cannot pair HANDLERS[name] with N by itself.
    let reply = (HANDLERS[name] as Handler<N>)(this, session, req);
    // The kernel asks for the changed directories' attributes next: they come with the
    // change, as of right after it (a getattr sent behind it cost a round trip, and could overtake it).
    const dirs = changedDirs(name, req);
    if (dirs && !(reply instanceof Promise)) reply = { ...(reply as object), parents: dirs.map((d) => this.ns.md.attr(d)) } as Reply<N>;
    // Attributes answered at once are the node's as of now: leased with the answer. One
    // answered later (after chunkservers) may predate a change another session made meanwhile.
    if (leases && leases.leaseMs > 0 && session.wantsLeases && !(reply instanceof Promise)) {
      grantAttrs(leases, session, reply, this.ns.md);
      // A new directory is empty: its maker may answer every lookup in it.
      if (name === 'mkdir') leases.grantDir(session, (reply as Reply<'mkdir'>).attr.inode);
    }
    return reply;
  }
}

/**
 * The client's word that a descriptor open for writing allows a setattr counts only for
 * an inode this session has open for writing (MooseFS believes its flag blindly).
 */
function believedHandle(session: Session, req: Request<'setattr'>): Request<'setattr'> {
  if (!req.viaWritableHandle || session.writers.has(req.inode)) return req;
  const { viaWritableHandle: _dropped, ...rest } = req;
  return rest;
}

/** Leases the attributes a reply carries (`attr`, or a readdir's entries'), saying which nodes have no xattr (ACLs count). */
function grantAttrs(leases: Leases, session: Session, reply: unknown, md: Pick<Metadata, 'xattrs' | 'acls'>): void {
  const grant = (a: Attr) => {
    leases.grantAttr(session, a.inode);
    if (!md.xattrs.get(a.inode)?.size && !md.acls.has(a.inode)) a.noXattrs = true;
  };
  const r = reply as { attr?: Attr; entries?: { attr?: Attr }[]; parents?: Attr[] };
  if (r.attr) grant(r.attr);
  else if (Array.isArray(r.entries)) for (const e of r.entries) if (e.attr) grant(e.attr);
  if (r.parents) for (const p of r.parents) grant(p);
}

/** The directories whose entries a change of names moves (their attributes go back with its reply), or undefined. */
function changedDirs(name: SessionMessage, req: unknown): number[] | undefined {
  switch (name) {
    case 'mknod':
    case 'mkdir':
    case 'symlink':
    case 'link':
    case 'unlink':
    case 'rmdir':
      return [(req as { parent: number }).parent];
    case 'rename': {
      const r = req as Request<'rename'>;
      return r.parent === r.newParent ? [r.parent] : [r.parent, r.newParent];
    }
    default:
      return undefined;
  }
}

/** The tag of an exactly-once request (its schema has `rid`, client-state.ts); undefined for the others. */
function requestTag(session: Session, req: object): RequestTag | undefined {
  const { rid, ridLow } = req as { rid?: number; ridLow?: number };
  if (rid === undefined) return undefined;
  return { s: session.id, r: rid, lo: Math.min(ridLow ?? rid, rid) };
}

function served<T>(part: T | undefined, name: SessionMessage): T {
  if (part === undefined) throw new TsmfsError(Status.ENOSYS, `${name} is not served on the client port`);
  return part;
}
