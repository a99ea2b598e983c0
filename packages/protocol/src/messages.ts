import { MAX_CONTROL_BODY, MAX_NAME_LENGTH, MAX_PATH_LENGTH, MAX_SYMLINK_LENGTH, MAX_XATTR_NAME, MAX_XATTR_VALUE } from './constants.js';
import { type Infer, t } from './schema.js';
import { ArchiveState, SClassChanges, SClassFields, SClassHistogram, SClassInfo, SClassName } from './sclass-shapes.js';

/**
 * The message catalogue: every request of the system with its id, request body and
 * reply body, declared once. Ids are grouped by link like MooseFS's CLTOMA_/MATOCS_
 * families: 1–9 link set-up, 10–99 client↔master namespace, 100–149 client↔master
 * chunks and tools, 200–299 chunkserver↔master, 300–399 client/chunkserver data,
 * 400–499 metalogger↔master.
 */

// ---- shared shapes ----------------------------------------------------------------

export const Timespec = t.obj({ sec: t.i53, nsec: t.u32 });
export type Timespec = Infer<typeof Timespec>;

export const NodeType = t.lit('file', 'dir', 'symlink', 'fifo', 'socket', 'chardev', 'blockdev');
export type NodeType = Infer<typeof NodeType>;

/** Who asks: the caller's ids as the kernel gave them, before exports mapping. */
export const Cred = t.obj({ uid: t.u32, gid: t.u32, groups: t.arr(t.u32, 65536) });
export type Cred = Infer<typeof Cred>;

export const Attr = t.obj({
  inode: t.u32,
  type: NodeType,
  /** Permission bits with setuid/setgid/sticky (07777); the type is in `type`. */
  mode: t.u16,
  uid: t.u32,
  gid: t.u32,
  atime: Timespec,
  mtime: Timespec,
  ctime: Timespec,
  nlink: t.u32,
  size: t.u53,
  rdev: t.u32,
  goal: t.u8,
  trashtime: t.u32,
  /**
   * The node has no extended attribute (MooseFS's MATTR_NOXATTR): set on the answers a
   * session gets leased, so that its client answers getxattr/listxattr while the lease
   * lasts (an xattr change recalls it). Absent: unknown.
   */
  noXattrs: t.opt(t.bool),
  /** MooseFS's extra attributes (noowner, noattrcache, …: docs/master.md, "Extra attributes"); absent: none. */
  eattr: t.opt(t.u8),
});
export type Attr = Infer<typeof Attr>;

const Name = t.str(MAX_NAME_LENGTH * 4);
/**
 * xattr names and values in requests are bounded only by the frame: the master answers
 * ERANGE for a name over MAX_XATTR_NAME bytes and E2BIG for a value over MAX_XATTR_VALUE,
 * as Linux does, where a schema bound would close the link.
 */
const XattrNameArg = t.str(MAX_CONTROL_BODY);
const XattrValueArg = t.bytes(MAX_CONTROL_BODY);
const Empty = t.obj({});
/** Releases in one `releases` request. */
export const MAX_RELEASES = 4096;
/** Directories, and nodes, in one `leaseRenew` request. */
export const MAX_LEASE_RELEASES = 65_536;
/**
 * The attributes of the directories a change of names moved (its parent; a rename's two
 * when they differ), as of right after it: the kernel asks for them next, and the client
 * takes them as a getattr answered at that moment (leased like one). Absent from an
 * older master and from a re-sent request resolved by looking (client resend.ts).
 */
const Parents = t.opt(t.arr(Attr, 2));

/**
 * The fields of a request answered exactly once (docs/client.md, "Request ids"): `rid`,
 * the request's id in its session (increasing, the same on every re-send), and `ridLow`,
 * the lowest id the client still waits for (the master forgets the results below it).
 * The master records the result of an applied request under (session, rid) with the
 * change itself, so a re-send, to it or to the next leader, gets that result instead of
 * being applied again. A request with these fields is one whose second application would
 * differ from the first.
 */
const Rid = { rid: t.opt(t.u53), ridLow: t.opt(t.u53) };

/**
 * The directory looked in (a lookup's parent, the listed directory) has noentrycache: the
 * client keeps none of its names in the kernel (entry timeout 0). MooseFS's master says
 * so in the attributes of every node it answers through such a directory
 * (MATTR_NOECACHE); here it is the reply's, as the attributes are the node's whatever
 * path led to it. Absent: not set, or an older master.
 */
const NoEntryCache = t.opt(t.bool);

export const DirEntry = t.obj({ name: Name, inode: t.u32, type: NodeType, attr: t.opt(Attr) });
export type DirEntry = Infer<typeof DirEntry>;

export const Role = t.lit('client', 'cli', 'chunkserver', 'metalogger', 'master');
export type Role = Infer<typeof Role>;

export const GoalMode = t.lit('set', 'increase', 'decrease');
export type GoalMode = Infer<typeof GoalMode>;

export const RecursiveCounts = t.obj({ changed: t.u53, notChanged: t.u53, denied: t.u53 });
export type RecursiveCounts = Infer<typeof RecursiveCounts>;

export const Histogram = t.arr(t.obj({ value: t.u53, files: t.u53, dirs: t.u53 }), 1 << 16);
export type Histogram = Infer<typeof Histogram>;

export const Address = t.obj({ host: t.str(256), port: t.u16 });
export type Address = Infer<typeof Address>;

/** A chunk grant token (grant-token.ts): what a chunkserver's data port asks before it serves a chunk. */
const GrantToken = t.bytes(64);
/** Creation receipts of one write's new copies (grant-token.ts), one per copy of the chain. */
const CreationReceipts = t.opt(t.arr(t.bytes(64), 16));

export const ChunkLocation = t.obj({
  host: t.str(256),
  port: t.u16,
  csid: t.u32,
  /** Signed by the master for this copy: the chunk, its version, read or write, an expiry. */
  token: t.opt(GrantToken),
  /**
   * Network distance from the client that asked (mfstopology.cfg; absent without one):
   * copies come closest first, and a client reads from one of the closest.
   */
  distance: t.opt(t.u8),
});
export type ChunkLocation = Infer<typeof ChunkLocation>;

/** A chunkserver's data port and the grant token that copy takes (write chains, replication sources). */
export const DataAddress = t.obj({ host: t.str(256), port: t.u16, token: t.opt(GrantToken) });
export type DataAddress = Infer<typeof DataAddress>;

export const ChunkGrant = t.obj({
  chunkId: t.u53,
  version: t.u32,
  /** File length at the time of the grant, so a reader knows where zeros begin. */
  fileLength: t.u53,
  locations: t.arr(ChunkLocation, 64),
  /**
   * A write grant for a chunk no chunkserver holds yet: the write's init creates it on
   * every copy of the chain (dataWriteInit `create`), its tokens are 'create' tokens.
   */
  create: t.opt(t.bool),
});
export type ChunkGrant = Infer<typeof ChunkGrant>;

/** A chunk copy as a chunkserver reports it. */
export const ChunkRef = t.obj({ chunkId: t.u53, version: t.u32 });
export type ChunkRef = Infer<typeof ChunkRef>;

/** One disk of a chunkserver, as its heartbeat reports it. */
export const DiskInfo = t.obj({
  path: t.str(4096),
  markedForRemoval: t.bool,
  /** Why it left service; absent while it serves. */
  damaged: t.opt(t.str(1024)),
  totalSpace: t.u53,
  usedSpace: t.u53,
  chunkCount: t.u53,
});
export type DiskInfo = Infer<typeof DiskInfo>;

/**
 * A lock request's subject: `kind` posix (fcntl, OFD included) or flock; `owner` the
 * kernel's lock owner id (a u64 in decimal); start..end inclusive bytes (end
 * 2^53 - 1 = to the end of the file); `pid` the caller, reported by F_GETLK.
 */
const LockArgs = {
  inode: t.u32,
  kind: t.lit('posix', 'flock'),
  owner: t.str(20),
  type: t.u8,
  start: t.u53,
  end: t.u53,
  pid: t.u32,
};

/** Directory quotas (MooseFS's mfsquota): what is limited, and a subtree's figures. */
export const QuotaKind = t.lit('inodes', 'length', 'size', 'realsize');
const QuotaValues = t.obj({ inodes: t.opt(t.u53), length: t.opt(t.u53), size: t.opt(t.u53), realsize: t.opt(t.u53) });
const QuotaUsage = t.obj({ inodes: t.u53, length: t.u53, size: t.u53, realsize: t.u53 });
/** `softSince`: when a soft limit was first passed (seconds; absent while none is). */
export const QuotaInfo = t.obj({
  quota: t.opt(t.obj({ grace: t.u32, soft: QuotaValues, hard: QuotaValues, softSince: t.opt(t.i53) })),
  usage: QuotaUsage,
});
export type QuotaInfo = Infer<typeof QuotaInfo>;

export const TrashEntry = t.obj({ inode: t.u32, path: t.str(MAX_PATH_LENGTH), size: t.u53, deletedAt: t.i53 });
export type TrashEntry = Infer<typeof TrashEntry>;

// ---- the catalogue ----------------------------------------------------------------

// Each message also says which link serves it; a client-port request says who may send
// it, which of its fields name inodes and whether it changes metadata. The master derives
// its client dispatch and the export's per-request rules from these declarations
// (packages/master/src/links/client-requests.ts), so no request can skip them.

/**
 * The server that answers a message: the master's client port (9421), chunkserver port
 * (9420) or metalogger port (9419); the chunkserver's or client's end of its master link
 * (the master's commands) or its data port (9422); or any link (set-up).
 */
export type Link = 'any' | 'client' | 'chunkserver' | 'metalogger' | 'commands' | 'data';

/** Which sessions may send a client request: none needed, a file system session, a meta session (mount -m), either. */
export type SessionKind = 'none' | 'fs' | 'meta' | 'any';

/**
 * What an inode field of a client request must name, checked before any handler runs
 * (docs/security.md, "Exports confine sessions"):
 * - `node`: a node inside the session's export; on a meta session a trashed or sustained file;
 * - `handle`: the same, or a file this session holds open (an open descriptor keeps its
 *   file after it is renamed out of the export or unlinked, as POSIX wants);
 * - `kept`: the same as `node`, or a file in the trash or sustained whose path when it was
 *   removed lies inside the export (the tools that, as MooseFS's, work on deleted files too).
 */
export type InodeRole = 'node' | 'handle' | 'kept';

type ObjSchema = ReturnType<typeof t.obj>;
/** The u32 fields of a request: the only ones that can name an inode. */
type U32Field<Req> = Req extends { k: 'obj'; fields: infer F } ? { [K in keyof F]: F[K] extends typeof t.u32 ? K : never }[keyof F] : never;

export interface ClientTraits<Req, S extends SessionKind> {
  readonly session: S;
  readonly inodes: { readonly [K in U32Field<Req>]?: InodeRole };
  /** Changes metadata, so EROFS on a read-only session; 'if-writing': when its `flags` open for writing or truncate. */
  readonly mutates: boolean | 'if-writing';
}

const msg = <const Id extends number, Req extends ObjSchema, Res extends ObjSchema, const L extends Exclude<Link, 'client'>>(
  id: Id,
  req: Req,
  res: Res,
  link: L,
) => ({ id, req, res, link });

/** A request served on the master's client port. */
const clientMsg = <const Id extends number, Req extends ObjSchema, Res extends ObjSchema, const S extends SessionKind>(
  id: Id,
  req: Req,
  res: Res,
  traits: ClientTraits<Req, S>,
) => ({ id, req, res, link: 'client' as const, ...traits });

/** `setattr` fields: absent = unchanged; `*Now` sets to the master's clock (UTIME_NOW). */
const SetattrReq = t.obj({
  cred: Cred,
  inode: t.u32,
  mode: t.opt(t.u16),
  uid: t.opt(t.u32),
  gid: t.opt(t.u32),
  size: t.opt(t.u53),
  atime: t.opt(Timespec),
  mtime: t.opt(Timespec),
  atimeNow: t.opt(t.bool),
  mtimeNow: t.opt(t.bool),
  // The change comes through a file handle open for writing (ftruncate(2)): that handle,
  // not the file's mode, allows it. Believed only if the session has the inode open for writing.
  viaWritableHandle: t.opt(t.bool),
  // The mode change may be the FUSE kernel's kill-priv notice (clearing setuid/setgid for a
  // write or truncate by a non-owner): set by a mount whose kernel did not grant
  // FUSE_CAP_HANDLE_KILLPRIV. Without it, a non-owner's mode change is a chmod(2): EPERM.
  killPrivNotice: t.opt(t.bool),
});

export const Messages = {
  // link set-up
  handshake: msg(
    1,
    // `nonce`: the peer's challenge, answered by `proof` when the server has AUTH_CODE (auth.ts).
    t.obj({ role: Role, version: t.u32, name: t.str(256), nonce: t.opt(t.bytes(64)) }),
    t.obj({
      role: Role,
      version: t.u32,
      epoch: t.u53,
      nonce: t.bytes(64),
      proof: t.opt(t.bytes(64)),
      /**
       * On a master's client port: where its HTTP monitor listens (HTTP_LISTEN_HOST/PORT), so
       * that `tsmfs-cli -P` takes the client port as mfscli does and finds the JSON API.
       */
      monitor: t.opt(Address),
    }),
    'any',
  ),
  /** The peer's AUTH_CODE proof, right after the handshake, on a port whose server asks for it (auth.ts). */
  authenticate: msg(3, t.obj({ proof: t.bytes(64) }), Empty, 'any'),
  ping: msg(2, Empty, Empty, 'any'),

  // client ↔ master: session
  register: clientMsg(
    10,
    t.obj({
      subdir: t.str(MAX_PATH_LENGTH),
      meta: t.bool,
      readonly: t.bool,
      hostname: t.str(256),
      mountpoint: t.str(MAX_PATH_LENGTH),
      /** sha256(nonce ‖ password) when the mount was given a password. */
      passwordDigest: t.opt(t.bytes(64)),
      /** A session id from before a reconnect: the master resumes it if it still knows it. */
      sessionId: t.opt(t.u53),
      /**
       * CLI tools only (role 'cli'): act with the export rights of this live session (the
       * mount's, read from its .masterinfo) instead of matching the exports; docs/cli.md.
       */
      attach: t.opt(t.u53),
      /**
       * The client answers leaseRecall and wants metadata leases (a mount); the others (and
       * clients that predate leases) get none, so no change ever waits for them.
       */
      leases: t.opt(t.bool),
      /**
       * With `sessionId`: the files this client holds open (its descriptors), so that a
       * master that does not hold the session live (a new leader after a takeover, a
       * restarted master) counts them again: an unlinked open file stays readable.
       */
      opens: t.opt(t.arr(t.obj({ inode: t.u32, count: t.u32, writing: t.bool }), 1 << 20)),
      /**
       * With `sessionId`: the chunk slots this client has a write in flight on (granted, not
       * yet ended by writeChunkEnd), so that a new leader gives it back the write lease the
       * dead one held for it, and no other session is granted the slot meanwhile (docs/ha.md,
       * "Write leases across a takeover").
       */
      writes: t.opt(t.arr(t.obj({ inode: t.u32, index: t.u32, chunkId: t.u53, version: t.u32 }), 1 << 16)),
    }),
    t.obj({
      sessionId: t.u53,
      root: t.u32,
      readonly: t.bool,
      minGoal: t.u8,
      maxGoal: t.u8,
      minTrashtime: t.u32,
      maxTrashtime: t.u32,
      /**
       * Metadata leases (docs/mount.md, "Leases"): every lookup grants this session the
       * directory's entries (negative ones too) and the found node's attributes, every
       * getattr the node's attributes, for this many ms from the master's reception of
       * the request; absent or 0: none. Recalled with leaseRecall; lost at a reconnect.
       */
      leaseMs: t.opt(t.u32),
    }),
    // Opens the session every other client request needs.
    { session: 'none', inodes: {}, mutates: false },
  ),

  /**
   * Returns once every changelog entry the master had applied when it arrived (so every
   * change acknowledged to this session) is fsynced, whatever CHANGELOG_SAVE_MODE: a
   * client's fsync(2)/fsyncdir. `version` = the metadata version now durable.
   */
  metaSync: clientMsg(19, Empty, t.obj({ version: t.u53 }), { session: 'any', inodes: {}, mutates: false }),

  // client ↔ master: namespace
  lookup: clientMsg(20, t.obj({ cred: Cred, parent: t.u32, name: Name }), t.obj({ attr: Attr, noEntryCache: NoEntryCache }), { session: 'fs', inodes: { parent: 'node' }, mutates: false }),
  // The meta mount asks for the attributes of trashed and sustained files.
  getattr: clientMsg(21, t.obj({ inode: t.u32 }), t.obj({ attr: Attr }), { session: 'any', inodes: { inode: 'handle' }, mutates: false }),
  setattr: clientMsg(22, SetattrReq, t.obj({ attr: Attr }), { session: 'fs', inodes: { inode: 'handle' }, mutates: true }),
  mknod: clientMsg(
    23,
    t.obj({
      cred: Cred,
      parent: t.u32,
      name: Name,
      type: t.lit('file', 'fifo', 'socket', 'chardev', 'blockdev'),
      mode: t.u16,
      umask: t.u16,
      rdev: t.u32,
      // Open flags: also open the new node for this session (create+open in one round
      // trip). Absent: mknod alone. An older master ignores it and answers without `opened`.
      open: t.opt(t.u32),
      ...Rid,
    }),
    t.obj({ attr: Attr, opened: t.opt(t.bool), parents: Parents }),
    { session: 'fs', inodes: { parent: 'node' }, mutates: true },
  ),
  mkdir: clientMsg(24, t.obj({ cred: Cred, parent: t.u32, name: Name, mode: t.u16, umask: t.u16, ...Rid }), t.obj({ attr: Attr, parents: Parents }), { session: 'fs', inodes: { parent: 'node' }, mutates: true }),
  symlink: clientMsg(
    25,
    t.obj({ cred: Cred, parent: t.u32, name: Name, target: t.str(MAX_SYMLINK_LENGTH * 4), ...Rid }),
    t.obj({ attr: Attr, parents: Parents }),
    { session: 'fs', inodes: { parent: 'node' }, mutates: true },
  ),
  readlink: clientMsg(26, t.obj({ inode: t.u32 }), t.obj({ target: t.str(MAX_SYMLINK_LENGTH * 4) }), { session: 'fs', inodes: { inode: 'node' }, mutates: false }),
  link: clientMsg(27, t.obj({ cred: Cred, inode: t.u32, parent: t.u32, name: Name, ...Rid }), t.obj({ attr: Attr, parents: Parents }), { session: 'fs', inodes: { inode: 'node', parent: 'node' }, mutates: true }),
  unlink: clientMsg(28, t.obj({ cred: Cred, parent: t.u32, name: Name, ...Rid }), t.obj({ parents: Parents }), { session: 'fs', inodes: { parent: 'node' }, mutates: true }),
  rmdir: clientMsg(29, t.obj({ cred: Cred, parent: t.u32, name: Name, ...Rid }), t.obj({ parents: Parents }), { session: 'fs', inodes: { parent: 'node' }, mutates: true }),
  rename: clientMsg(
    30,
    t.obj({ cred: Cred, parent: t.u32, name: Name, newParent: t.u32, newName: Name, flags: t.u32, ...Rid }),
    // attr: the node moved to newName, when one moved (not for RENAME_EXCHANGE, nor for two
    // names of one node, which POSIX leaves both in place; absent from an older master).
    t.obj({ attr: t.opt(Attr), parents: Parents }),
    { session: 'fs', inodes: { parent: 'node', newParent: 'node' }, mutates: true },
  ),
  readdir: clientMsg(
    31,
    t.obj({ cred: Cred, inode: t.u32, cookie: t.u53, max: t.u32, withAttrs: t.bool }),
    t.obj({ entries: t.arr(DirEntry, 100_000), cookie: t.u53, eof: t.bool, noEntryCache: NoEntryCache }),
    { session: 'fs', inodes: { inode: 'node' }, mutates: false },
  ),
  statfs: clientMsg(
    32,
    Empty,
    t.obj({ totalSpace: t.u53, availSpace: t.u53, trashSpace: t.u53, sustainedSpace: t.u53, inodes: t.u53 }),
    { session: 'any', inodes: {}, mutates: false },
  ),
  access: clientMsg(33, t.obj({ cred: Cred, inode: t.u32, mask: t.u8 }), Empty, { session: 'fs', inodes: { inode: 'node' }, mutates: false }),
  // grant: for a file opened for reading only, its first chunk's read grant (absent from an older master).
  open: clientMsg(34, t.obj({ cred: Cred, inode: t.u32, flags: t.u32 }), t.obj({ attr: Attr, grant: t.opt(ChunkGrant) }), { session: 'fs', inodes: { inode: 'node' }, mutates: 'if-writing' }),
  release: clientMsg(35, t.obj({ inode: t.u32 }), Empty, { session: 'fs', inodes: { inode: 'handle' }, mutates: false }),
  /**
   * The last releases of files this session closed, in the order they were made (the
   * client batches them, docs/client.md, "Deferred releases"); an inode this session does
   * not hold open is skipped, as a stray release is.
   */
  releases: clientMsg(136, t.obj({ inodes: t.arr(t.u32, MAX_RELEASES) }), Empty, { session: 'fs', inodes: {}, mutates: false }),
  /**
   * Keeps the session's leases alive, as NFSv4's RENEW does (any request of the session
   * does too; a mount sends this one when it has had nothing else to ask), and lets go of
   * those on these directories' entries and these nodes' attributes, which the mount no
   * longer answers from (docs/mount.md, "Leases").
   */
  leaseRenew: clientMsg(
    137,
    t.obj({ dirs: t.arr(t.u32, MAX_LEASE_RELEASES), inodes: t.arr(t.u32, MAX_LEASE_RELEASES) }),
    Empty,
    { session: 'fs', inodes: {}, mutates: false },
  ),
  getxattr: clientMsg(
    36,
    t.obj({ cred: Cred, inode: t.u32, name: XattrNameArg }),
    t.obj({ value: t.bytes(MAX_XATTR_VALUE) }),
    { session: 'fs', inodes: { inode: 'handle' }, mutates: false },
  ),
  setxattr: clientMsg(
    37,
    t.obj({ cred: Cred, inode: t.u32, name: XattrNameArg, value: XattrValueArg, flags: t.u8, ...Rid }),
    Empty,
    { session: 'fs', inodes: { inode: 'handle' }, mutates: true },
  ),
  listxattr: clientMsg(
    38,
    t.obj({ cred: Cred, inode: t.u32 }),
    t.obj({ names: t.arr(t.str(MAX_XATTR_NAME), 65536) }),
    { session: 'fs', inodes: { inode: 'handle' }, mutates: false },
  ),
  removexattr: clientMsg(39, t.obj({ cred: Cred, inode: t.u32, name: XattrNameArg, ...Rid }), Empty, { session: 'fs', inodes: { inode: 'handle' }, mutates: true }),

  // client/cli ↔ master: goal, trashtime, snapshots, trash
  setgoal: clientMsg(
    40,
    t.obj({ cred: Cred, inode: t.u32, goal: t.u8, mode: GoalMode, recursive: t.bool }),
    RecursiveCounts,
    { session: 'fs', inodes: { inode: 'node' }, mutates: true },
  ),
  getgoal: clientMsg(41, t.obj({ inode: t.u32, recursive: t.bool }), t.obj({ histogram: Histogram }), { session: 'fs', inodes: { inode: 'node' }, mutates: false }),
  settrashtime: clientMsg(
    42,
    t.obj({ cred: Cred, inode: t.u32, trashtime: t.u32, mode: GoalMode, recursive: t.bool }),
    RecursiveCounts,
    { session: 'fs', inodes: { inode: 'node' }, mutates: true },
  ),
  gettrashtime: clientMsg(43, t.obj({ inode: t.u32, recursive: t.bool }), t.obj({ histogram: Histogram }), { session: 'fs', inodes: { inode: 'node' }, mutates: false }),
  /**
   * makesnapshot. `cplike` (-c): the copies are made as the caller's cp would make them
   * (owner the caller, mode less `umask`, times now, goal and extra attributes of the new
   * parent); `preserveHardlinks` (-p): names of one file inside the source stay one file.
   * Both absent from an older tool: MooseFS's plain snapshot.
   */
  snapshot: clientMsg(
    44,
    t.obj({
      cred: Cred,
      inode: t.u32,
      parent: t.u32,
      name: Name,
      overwrite: t.bool,
      cplike: t.opt(t.bool),
      umask: t.opt(t.u16),
      preserveHardlinks: t.opt(t.bool),
      ...Rid,
    }),
    t.obj({ attr: Attr }),
    { session: 'fs', inodes: { inode: 'node', parent: 'node' }, mutates: true },
  ),
  trashList: clientMsg(50, Empty, t.obj({ entries: t.arr(TrashEntry, 10_000_000) }), { session: 'meta', inodes: {}, mutates: false }),
  trashUndelete: clientMsg(51, t.obj({ inode: t.u32, ...Rid }), Empty, { session: 'meta', inodes: { inode: 'node' }, mutates: true }),
  trashPurge: clientMsg(52, t.obj({ inode: t.u32, ...Rid }), Empty, { session: 'meta', inodes: { inode: 'node' }, mutates: true }),
  sustainedList: clientMsg(53, Empty, t.obj({ entries: t.arr(TrashEntry, 10_000_000) }), { session: 'meta', inodes: {}, mutates: false }),

  // client ↔ master: flock and POSIX locks held by the master (docs/master.md, "Locks")
  /** F_GETLK: the first lock of another owner that `type` on start..end conflicts with; none: free. */
  lockTest: clientMsg(54, t.obj(LockArgs), t.obj({ conflict: t.opt(t.obj({ type: t.u8, start: t.u53, end: t.u53, pid: t.u32 })) }), {
    session: 'fs',
    inodes: { inode: 'handle' },
    mutates: false,
  }),
  /**
   * Sets (type 0 read, 1 write) or unlocks (2) start..end for `owner`. A conflict is
   * EAGAIN, unless `wait` (a wait id, unique in the session) is given: then the request
   * waits for the lock, answered `granted: false` after a while with the waiter kept in
   * its place for the client's re-send of the same id; EDEADLK when the wait would close
   * a cycle of POSIX owners.
   */
  lockSet: clientMsg(55, t.obj({ ...LockArgs, wait: t.opt(t.u53) }), t.obj({ granted: t.bool }), {
    session: 'fs',
    inodes: { inode: 'handle' },
    mutates: false,
  }),
  /** The wait `wait` was interrupted (a signal): its waiter goes, its pending lockSet fails with EINTR. */
  lockCancel: clientMsg(56, t.obj({ wait: t.u53 }), Empty, { session: 'fs', inodes: {}, mutates: false }),

  // client ↔ master: chunks (served fully once chunkservers exist)
  readChunk: clientMsg(100, t.obj({ inode: t.u32, index: t.u32 }), ChunkGrant, { session: 'fs', inodes: { inode: 'handle' }, mutates: false }),
  writeChunk: clientMsg(101, t.obj({ cred: Cred, inode: t.u32, index: t.u32 }), ChunkGrant, { session: 'fs', inodes: { inode: 'handle' }, mutates: true }),
  writeChunkEnd: clientMsg(
    102,
    t.obj({
      inode: t.u32,
      index: t.u32,
      chunkId: t.u53,
      length: t.u53,
      ok: t.bool,
      /**
       * The grant's version: a complete end (ok) of the write the lease was last granted
       * for lets the next grant of the chunk keep that version; an end without it never does.
       */
      version: t.opt(t.u32),
      /** The chain's creation receipts of the copies a 'create' grant made (dataWriteEnd's answer): the master learns of them from the end. */
      created: CreationReceipts,
    }),
    // A complete end's reply: the chunk's read grant right after the write, for the
    // writer's location cache (absent from an older master, or when no copy is ready),
    // and the file's attributes right after the end, leased as a getattr's answer (the
    // stat after a close, git's or tar's, is answered by the writer's mount; absent from
    // an older master and from an end answered later, which is not leased).
    t.obj({ grant: t.opt(ChunkGrant), attr: t.opt(Attr) }),
    { session: 'fs', inodes: { inode: 'handle' }, mutates: true },
  ),

  // chunkserver → master: registration and reports (the chunkserver opens the link)
  chunkserverRegister: msg(
    200,
    t.obj({
      /** Address clients and other chunkservers reach our data server on; host '' = the link's source address. */
      host: t.str(256),
      port: t.u16,
      labels: t.arr(t.str(64), 64),
      totalSpace: t.u53,
      usedSpace: t.u53,
      chunkCount: t.u53,
      /** The id a previous registration was given, so the master recognises a reconnect. */
      csid: t.opt(t.u32),
    }),
    t.obj({
      csid: t.u32,
      /** The key grant tokens for this chunkserver are signed with; absent when both sides derive it from AUTH_CODE. */
      grantKey: t.opt(t.bytes(64)),
      /** The master's clock (ms since the epoch): token expiries are read against it. */
      clock: t.opt(t.u53),
      /**
       * HA (docs/ha.md): false from a follower, which keeps the registration (it knows every
       * copy when it takes over) but sends no command; absent from masters before HA = true.
       */
      leader: t.opt(t.bool),
      /** A follower's word for where the leader takes chunkservers ("host:port"), when it knows. */
      leaderAt: t.opt(t.str(300)),
    }),
    'chunkserver',
  ),
  /**
   * The chunk list after registration, in batches: one frame stays well under the control
   * body limit. `markedForRemoval`: every copy of this frame is on that disk, marked `*`
   * in the hdd file (the master copies them elsewhere).
   */
  chunkReport: msg(201, t.obj({ chunks: t.arr(ChunkRef, 50_000), last: t.bool, markedForRemoval: t.opt(t.str(4096)) }), Empty, 'chunkserver'),
  chunkserverHeartbeat: msg(
    202,
    t.obj({
      totalSpace: t.u53,
      usedSpace: t.u53,
      chunkCount: t.u53,
      damagedDisks: t.u32,
      /** Per disk, for tsmfs-cli -SHD and the monitor (absent from older chunkservers). */
      disks: t.opt(t.arr(DiskInfo, 1024)),
      /** Data bytes served and stored since the chunkserver started (throughput charts). */
      bytesRead: t.opt(t.u53),
      bytesWritten: t.opt(t.u53),
    }),
    Empty,
    'chunkserver',
  ),
  /** Copies that failed a CRC check or could not be read: the master re-replicates them. */
  chunksDamaged: msg(203, t.obj({ chunks: t.arr(ChunkRef, 50_000) }), Empty, 'chunkserver'),
  /** Copies gone with a disk taken out of service. */
  chunksLost: msg(204, t.obj({ chunks: t.arr(ChunkRef, 50_000) }), Empty, 'chunkserver'),
  /** Copies a write's init has just created (a 'create' grant): answered once the master holds them. */
  chunksNew: msg(205, t.obj({ chunks: t.arr(ChunkRef, 50_000) }), Empty, 'chunkserver'),
  /**
   * To the masters that did not command it (HA followers): copies a leader's command made
   * (`chunks`, now at these versions) or deleted (`gone`), so a follower's registry stays
   * what the leader's is.
   */
  chunksChanged: msg(206, t.obj({ chunks: t.arr(ChunkRef, 50_000), gone: t.arr(ChunkRef, 50_000) }), Empty, 'chunkserver'),
  /**
   * A reload of the hdd file changed a disk's `*`: these copies, on disk `disk`, are now on a
   * disk marked for removal (`marked`) or back on one in service. Only the mark changes:
   * a copy the master holds at any version keeps it (a command may have moved it on since).
   */
  chunksMarked: msg(207, t.obj({ disk: t.str(4096), marked: t.bool, chunks: t.arr(ChunkRef, 50_000) }), Empty, 'chunkserver'),

  // master → chunkserver commands (requests on the link the chunkserver opened)
  /** A new HA leader's first word to a chunkserver already registered with it: its epoch (fencing: older ones are refused from now on). */
  masterLeads: msg(209, t.obj({ epoch: t.u53 }), Empty, 'commands'),
  chunkCreate: msg(210, t.obj({ epoch: t.u53, chunkId: t.u53, version: t.u32 }), Empty, 'commands'),
  chunkDelete: msg(211, t.obj({ epoch: t.u53, chunkId: t.u53, version: t.u32 }), Empty, 'commands'),
  chunkSetVersion: msg(212, t.obj({ epoch: t.u53, chunkId: t.u53, version: t.u32, newVersion: t.u32 }), Empty, 'commands'),
  /** Copy-on-write for snapshots: a new chunk with the same bytes. */
  chunkDuplicate: msg(
    213,
    t.obj({ epoch: t.u53, chunkId: t.u53, version: t.u32, newChunkId: t.u53, newVersion: t.u32 }),
    Empty,
    'commands',
  ),
  chunkTruncate: msg(
    214,
    t.obj({ epoch: t.u53, chunkId: t.u53, version: t.u32, newVersion: t.u32, length: t.u32 }),
    Empty,
    'commands',
  ),
  /** Pull the chunk from one of `sources` (verifying every block) and keep it at `version`. */
  chunkReplicate: msg(
    215,
    t.obj({ epoch: t.u53, chunkId: t.u53, version: t.u32, sources: t.arr(DataAddress, 16) }),
    Empty,
    'commands',
  ),

  // client/chunkserver → chunkserver data server (bytes travel in data frames, see data-frames.ts)
  /**
   * The master to a client holding leases (client end of its master link): forget the
   * entries of `dirs` and the attributes of `inodes`, kernel's caches included, then
   * answer. Another session's change waits for the answer or the lease's end.
   */
  leaseRecall: msg(60, t.obj({ dirs: t.arr(t.u32, 1 << 20), inodes: t.arr(t.u32, 1 << 20) }), Empty, 'commands'),

  /** Answered by `read` data frames carrying this request's id, then this reply. Past the chunk's end reads zeros. */
  dataRead: msg(300, t.obj({ chunkId: t.u53, version: t.u32, offset: t.u32, length: t.u32, token: t.opt(GrantToken) }), Empty, 'data'),
  /**
   * Opens a write on this chunkserver; `chain` lists the chunkservers after it, each
   * forwarding to the next. `create` (a 'create' grant): every copy of the chain creates
   * the chunk first and tells the master (chunksNew) before it takes the pieces.
   */
  dataWriteInit: msg(301, t.obj({ chunkId: t.u53, version: t.u32, token: t.opt(GrantToken), chain: t.arr(DataAddress, 16), create: t.opt(t.bool) }), Empty, 'data'),
  /**
   * Waits for every piece down the chain and closes the write (fsync only with
   * HDD_FSYNC_BEFORE_CLOSE = 1, as MooseFS). A write that created the chunk is answered
   * with every link's creation receipt, for the client's writeChunkEnd.
   */
  dataWriteEnd: msg(302, t.obj({ chunkId: t.u53, version: t.u32 }), t.obj({ created: CreationReceipts }), 'data'),
  /** Length of the chunk's data, for a replicating chunkserver. */
  dataChunkInfo: msg(303, t.obj({ chunkId: t.u53, version: t.u32, token: t.opt(GrantToken) }), t.obj({ length: t.u32 }), 'data'),
  /** Makes this copy's completed writes durable (fdatasync): a client's fsync(2) sends it to every copy it wrote. */
  dataSync: msg(304, t.obj({ chunkId: t.u53, version: t.u32 }), Empty, 'data'),
  /**
   * Makes every copy whose write ended here and was not synced since durable, whoever
   * wrote it: a client that remembers too many unsynced files for fsync(2) sends it to
   * each chunkserver it wrote to and forgets what it wrote before (file-io.ts).
   */
  dataSyncAll: msg(305, Empty, t.obj({ chunks: t.u32 }), 'data'),

  // metalogger / shadow master → master (MATOML, 9419); see docs/metalogger.md
  /**
   * Long poll for changelog lines after version `after` (the follower has everything up
   * to it). Answered at once when durable entries after it exist, else when some become
   * durable or after `waitMs` (then with no lines). `mode: 'dump'` = the master no
   * longer holds version after+1 (or the follower is ahead of it): download a dump.
   * `lines` are changelog lines as in the files (`VERSION|CRC32HEX|JSON\n`), `first`..`last`.
   */
  mlFetch: msg(
    400,
    t.obj({ after: t.u53, maxBytes: t.u32, waitMs: t.u32 }),
    t.obj({ mode: t.lit('entries', 'dump'), lines: t.str(2 * 1024 * 1024), first: t.u53, last: t.u53, durable: t.u53, reason: t.opt(t.str(1024)) }),
    'metalogger',
  ),
  /** Opens the master's newest dump (metadata.tsmfs) for download; the handle keeps that file even if a newer dump replaces it. */
  mlDumpOpen: msg(401, Empty, t.obj({ handle: t.u32, version: t.u53, size: t.u53, sha256: t.bytes(32) }), 'metalogger'),
  /** A piece of an open dump; `data` is shorter than `length` only at the end of the file. */
  mlDumpRead: msg(402, t.obj({ handle: t.u32, offset: t.u53, length: t.u32 }), t.obj({ data: t.bytes(2 * 1024 * 1024) }), 'metalogger'),
  mlDumpClose: msg(403, t.obj({ handle: t.u32 }), Empty, 'metalogger'),
  /**
   * A shadow master tells the leader the highest version it holds: applied in memory and
   * written to its own changelog (write(2) issued; fsynced too in CHANGELOG_SAVE_MODE 2).
   * `member` is its advertised client address, its name in the synchronous set
   * (docs/ha.md, "Synchronous standbys"). Only a link that introduced itself as a master sends it.
   */
  mlAck: msg(404, t.obj({ member: t.str(300), version: t.u53 }), Empty, 'metalogger'),

  /**
   * The master's view of a file's chunks: every copy with its version and state (tsmfs
   * fileinfo/checkfile); 'replicating' = a copy being made on that server right now;
   * 'creating' = a server a write's 'create' grant placed the chunk on, not reported yet.
   */
  fileinfo: clientMsg(
    103,
    t.obj({ inode: t.u32 }),
    t.obj({
      length: t.u53,
      goal: t.u8,
      chunks: t.arr(
        t.obj({
          index: t.u32,
          chunkId: t.u53,
          version: t.u32,
          copies: t.arr(t.obj({ csid: t.u32, host: t.str(256), port: t.u16, version: t.u32, state: t.lit('valid', 'stale', 'damaged', 'replicating', 'creating') }), 256),
        }),
        1 << 20,
      ),
    }),
    { session: 'fs', inodes: { inode: 'node' }, mutates: false },
  ),

  // cli ↔ master: tools (tsmfs dirinfo, checkfile, filerepair, filepaths, appendchunks); docs/cli.md
  /** Totals over the tree under `inode` (MooseFS's mfsdirinfo); chunks shared inside it are counted once. */
  dirinfo: clientMsg(
    104,
    t.obj({ inode: t.u32 }),
    t.obj({ inodes: t.u53, dirs: t.u53, files: t.u53, chunks: t.u53, length: t.u53, size: t.u53, realsize: t.u53 }),
    { session: 'fs', inodes: { inode: 'node' }, mutates: false },
  ),
  /** The file's chunks counted by number of valid copies: `copies[n]` = chunks with n valid copies (holes are not counted). */
  checkfile: clientMsg(105, t.obj({ inode: t.u32 }), t.obj({ goal: t.u8, copies: t.arr(t.u53, 257), empty: t.u53 }), { session: 'fs', inodes: { inode: 'node' }, mutates: false }),
  /**
   * For every chunk with no valid copy: take the newest stale copy's version when there is
   * one (`repaired`), else drop the chunk from the file so it reads as zeros (`erased`).
   */
  filerepair: clientMsg(
    106,
    t.obj({ cred: Cred, inode: t.u32 }),
    t.obj({ notChanged: t.u53, erased: t.u53, repaired: t.u53 }),
    { session: 'fs', inodes: { inode: 'node' }, mutates: true },
  ),
  /**
   * Every path of `inode` inside the session's root, one per name (hard links), and the
   * path it had when removed if it is in the trash or sustained (MooseFS's mfsfilepaths);
   * paths are relative to the session's root, from '/'.
   */
  filepaths: clientMsg(
    108,
    t.obj({ inode: t.u32 }),
    t.obj({ paths: t.arr(t.str(MAX_PATH_LENGTH), 65536), removed: t.opt(t.obj({ path: t.str(MAX_PATH_LENGTH), trash: t.bool })) }),
    { session: 'fs', inodes: { inode: 'kept' }, mutates: false },
  ),
  // cli ↔ master: directory quotas (tsmfs setquota/getquota/delquota/copyquota); docs/master.md "Quotas"
  /** The directory's quota (absent: none) and its subtree's usage. */
  getquota: clientMsg(120, t.obj({ inode: t.u32 }), QuotaInfo, { session: 'fs', inodes: { inode: 'node' }, mutates: false }),
  /** Sets the given limits (others kept); `grace` absent: the default. Needs the export's `admin` and root. */
  setquota: clientMsg(121, t.obj({ cred: Cred, inode: t.u32, grace: t.opt(t.u32), soft: QuotaValues, hard: QuotaValues }), QuotaInfo, {
    session: 'fs',
    inodes: { inode: 'node' },
    mutates: true,
  }),
  /** Removes the named soft and hard limits; the quota goes with its last limit. */
  delquota: clientMsg(122, t.obj({ cred: Cred, inode: t.u32, soft: t.arr(QuotaKind, 4), hard: t.arr(QuotaKind, 4) }), QuotaInfo, {
    session: 'fs',
    inodes: { inode: 'node' },
    mutates: true,
  }),
  // cli ↔ master: MooseFS's extra attributes and rmsnapshot (docs/master.md, "Extra attributes")
  /** seteattr/deleattr/copyeattr: `set` bits on, then `clear` bits off; counts as setgoal's. */
  seteattr: clientMsg(123, t.obj({ cred: Cred, inode: t.u32, set: t.u8, clear: t.u8, recursive: t.bool }), RecursiveCounts, { session: 'fs', inodes: { inode: 'node' }, mutates: true }),
  /** Files and directories counted by their flags (value = the flags byte). */
  geteattr: clientMsg(124, t.obj({ inode: t.u32, recursive: t.bool }), t.obj({ histogram: Histogram }), { session: 'fs', inodes: { inode: 'node' }, mutates: false }),
  /** Removes `name` and its tree, only nodes marked `snapshot` (`force`: the marked ones, leaving the rest). */
  rmsnapshot: clientMsg(125, t.obj({ cred: Cred, parent: t.u32, name: Name, force: t.bool }), t.obj({ removed: t.u53, kept: t.u53 }), { session: 'fs', inodes: { parent: 'node' }, mutates: true }),
  // cli ↔ master: storage classes (tsmfs scadmin, setsclass…); docs/master.md "Storage classes". Changes need the export's admin and root.
  sclassCreate: clientMsg(126, t.obj({ cred: Cred, name: SClassName, ...SClassFields }), Empty, { session: 'fs', inodes: {}, mutates: true }),
  /** `force`: a predefined class (1–9) too. */
  sclassChange: clientMsg(127, t.obj({ cred: Cred, name: SClassName, force: t.bool, ...SClassChanges }), Empty, { session: 'fs', inodes: {}, mutates: true }),
  /** EBUSY while a node (trash included) is in it. */
  sclassDelete: clientMsg(128, t.obj({ cred: Cred, name: SClassName }), Empty, { session: 'fs', inodes: {}, mutates: true }),
  sclassCopy: clientMsg(129, t.obj({ cred: Cred, src: SClassName, dst: SClassName }), Empty, { session: 'fs', inodes: {}, mutates: true }),
  sclassRename: clientMsg(130, t.obj({ cred: Cred, src: SClassName, dst: SClassName }), Empty, { session: 'fs', inodes: {}, mutates: true }),
  sclassList: clientMsg(131, Empty, t.obj({ classes: t.arr(SClassInfo, 256) }), { session: 'fs', inodes: {}, mutates: false }),
  /** setsclass; with `from`, xchgsclass (only nodes now in class `from`). Counts as setgoal's. */
  setsclass: clientMsg(132, t.obj({ cred: Cred, inode: t.u32, name: SClassName, from: t.opt(SClassName), recursive: t.bool }), RecursiveCounts, {
    session: 'fs',
    inodes: { inode: 'node' },
    mutates: true,
  }),
  getsclass: clientMsg(133, t.obj({ inode: t.u32, recursive: t.bool }), t.obj({ histogram: SClassHistogram }), { session: 'fs', inodes: { inode: 'node' }, mutates: false }),
  /** setarchive (`on`) / clrarchive on the files of the tree: chunks changed / not changed, files denied. */
  archive: clientMsg(134, t.obj({ cred: Cred, inode: t.u32, on: t.bool }), RecursiveCounts, { session: 'fs', inodes: { inode: 'node' }, mutates: true }),
  chkarchive: clientMsg(135, t.obj({ inode: t.u32 }), ArchiveState, { session: 'fs', inodes: { inode: 'node' }, mutates: false }),
  /**
   * Appends `src`'s chunks to `inode` (shared, copy-on-write), after padding `inode` to a
   * whole chunk. `from`/`to` (mfsappendchunks -s): only chunks [from, to) of the source,
   * Python-like (negative counts from the end; absent: its start, its end).
   */
  appendchunks: clientMsg(107, t.obj({ cred: Cred, inode: t.u32, src: t.u32, from: t.opt(t.i53), to: t.opt(t.i53), ...Rid }), t.obj({ attr: Attr }), { session: 'fs', inodes: { inode: 'node', src: 'node' }, mutates: true }),
} as const;

export type Catalogue = typeof Messages;
export type MessageName = keyof Catalogue;
export type Request<N extends MessageName> = Infer<Catalogue[N]['req']>;
export type Reply<N extends MessageName> = Infer<Catalogue[N]['res']>;

const BY_ID = new Map<number, MessageName>(
  (Object.keys(Messages) as MessageName[]).map((name) => [Messages[name].id, name]),
);

export function messageById(id: number): MessageName | undefined {
  return BY_ID.get(id);
}

/** The requests the master's client port serves. */
export type ClientMessage = { [N in MessageName]: Catalogue[N]['link'] extends 'client' ? N : never }[MessageName];
/** Those that need a session: every client request but the one that opens it. */
export type SessionMessage = { [N in ClientMessage]: Catalogue[N]['session'] extends 'none' ? never : N }[ClientMessage];

/** Whether requests `name` carry a request id and are answered exactly once (`Rid`). */
export function isExactlyOnce(name: MessageName): boolean {
  return 'rid' in Messages[name].req.fields;
}

export function isSessionMessage(name: MessageName): name is SessionMessage {
  const spec = Messages[name];
  return spec.link === 'client' && spec.session !== 'none';
}

