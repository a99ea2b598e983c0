import { MAX_CONTROL_BODY, MAX_NAME_LENGTH, MAX_PATH_LENGTH, MAX_SYMLINK_LENGTH, MAX_XATTR_NAME, MAX_XATTR_VALUE } from './constants.js';
import { type Infer, t } from './schema.js';

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

export const ChunkLocation = t.obj({
  host: t.str(256),
  port: t.u16,
  csid: t.u32,
  /** Signed by the master for this copy: the chunk, its version, read or write, an expiry. */
  token: t.opt(GrantToken),
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

export const TrashEntry = t.obj({ inode: t.u32, path: t.str(MAX_PATH_LENGTH), size: t.u53, deletedAt: t.i53 });
export type TrashEntry = Infer<typeof TrashEntry>;

// ---- the catalogue ----------------------------------------------------------------

const msg = <const Id extends number, Req extends ReturnType<typeof t.obj>, Res extends ReturnType<typeof t.obj>>(
  id: Id,
  req: Req,
  res: Res,
) => ({ id, req, res });

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
});

export const Messages = {
  // link set-up
  handshake: msg(
    1,
    // `nonce`: the peer's challenge, answered by `proof` when the server has AUTH_CODE (auth.ts).
    t.obj({ role: Role, version: t.u32, name: t.str(256), nonce: t.opt(t.bytes(64)) }),
    t.obj({ role: Role, version: t.u32, epoch: t.u53, nonce: t.bytes(64), proof: t.opt(t.bytes(64)) }),
  ),
  /** The peer's AUTH_CODE proof, right after the handshake, on a port whose server asks for it (auth.ts). */
  authenticate: msg(3, t.obj({ proof: t.bytes(64) }), Empty),
  ping: msg(2, Empty, Empty),

  // client ↔ master: session
  register: msg(
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
    }),
    t.obj({
      sessionId: t.u53,
      root: t.u32,
      readonly: t.bool,
      minGoal: t.u8,
      maxGoal: t.u8,
      minTrashtime: t.u32,
      maxTrashtime: t.u32,
    }),
  ),

  // client ↔ master: namespace
  lookup: msg(20, t.obj({ cred: Cred, parent: t.u32, name: Name }), t.obj({ attr: Attr })),
  getattr: msg(21, t.obj({ inode: t.u32 }), t.obj({ attr: Attr })),
  setattr: msg(22, SetattrReq, t.obj({ attr: Attr })),
  mknod: msg(
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
    }),
    t.obj({ attr: Attr, opened: t.opt(t.bool) }),
  ),
  mkdir: msg(24, t.obj({ cred: Cred, parent: t.u32, name: Name, mode: t.u16, umask: t.u16 }), t.obj({ attr: Attr })),
  symlink: msg(
    25,
    t.obj({ cred: Cred, parent: t.u32, name: Name, target: t.str(MAX_SYMLINK_LENGTH * 4) }),
    t.obj({ attr: Attr }),
  ),
  readlink: msg(26, t.obj({ inode: t.u32 }), t.obj({ target: t.str(MAX_SYMLINK_LENGTH * 4) })),
  link: msg(27, t.obj({ cred: Cred, inode: t.u32, parent: t.u32, name: Name }), t.obj({ attr: Attr })),
  unlink: msg(28, t.obj({ cred: Cred, parent: t.u32, name: Name }), Empty),
  rmdir: msg(29, t.obj({ cred: Cred, parent: t.u32, name: Name }), Empty),
  rename: msg(
    30,
    t.obj({ cred: Cred, parent: t.u32, name: Name, newParent: t.u32, newName: Name, flags: t.u32 }),
    Empty,
  ),
  readdir: msg(
    31,
    t.obj({ cred: Cred, inode: t.u32, cookie: t.u53, max: t.u32, withAttrs: t.bool }),
    t.obj({ entries: t.arr(DirEntry, 100_000), cookie: t.u53, eof: t.bool }),
  ),
  statfs: msg(
    32,
    Empty,
    t.obj({ totalSpace: t.u53, availSpace: t.u53, trashSpace: t.u53, sustainedSpace: t.u53, inodes: t.u53 }),
  ),
  access: msg(33, t.obj({ cred: Cred, inode: t.u32, mask: t.u8 }), Empty),
  open: msg(34, t.obj({ cred: Cred, inode: t.u32, flags: t.u32 }), t.obj({ attr: Attr })),
  release: msg(35, t.obj({ inode: t.u32 }), Empty),
  getxattr: msg(36, t.obj({ cred: Cred, inode: t.u32, name: XattrNameArg }), t.obj({ value: t.bytes(MAX_XATTR_VALUE) })),
  setxattr: msg(
    37,
    t.obj({ cred: Cred, inode: t.u32, name: XattrNameArg, value: XattrValueArg, flags: t.u8 }),
    Empty,
  ),
  listxattr: msg(38, t.obj({ cred: Cred, inode: t.u32 }), t.obj({ names: t.arr(t.str(MAX_XATTR_NAME), 65536) })),
  removexattr: msg(39, t.obj({ cred: Cred, inode: t.u32, name: XattrNameArg }), Empty),

  // client/cli ↔ master: goal, trashtime, snapshots, trash
  setgoal: msg(
    40,
    t.obj({ cred: Cred, inode: t.u32, goal: t.u8, mode: GoalMode, recursive: t.bool }),
    RecursiveCounts,
  ),
  getgoal: msg(41, t.obj({ inode: t.u32, recursive: t.bool }), t.obj({ histogram: Histogram })),
  settrashtime: msg(
    42,
    t.obj({ cred: Cred, inode: t.u32, trashtime: t.u32, mode: GoalMode, recursive: t.bool }),
    RecursiveCounts,
  ),
  gettrashtime: msg(43, t.obj({ inode: t.u32, recursive: t.bool }), t.obj({ histogram: Histogram })),
  snapshot: msg(
    44,
    t.obj({ cred: Cred, inode: t.u32, parent: t.u32, name: Name, overwrite: t.bool }),
    t.obj({ attr: Attr }),
  ),
  trashList: msg(50, Empty, t.obj({ entries: t.arr(TrashEntry, 10_000_000) })),
  trashUndelete: msg(51, t.obj({ inode: t.u32 }), Empty),
  trashPurge: msg(52, t.obj({ inode: t.u32 }), Empty),
  sustainedList: msg(53, Empty, t.obj({ entries: t.arr(TrashEntry, 10_000_000) })),

  // client ↔ master: chunks (served fully once chunkservers exist)
  readChunk: msg(100, t.obj({ inode: t.u32, index: t.u32 }), ChunkGrant),
  writeChunk: msg(101, t.obj({ cred: Cred, inode: t.u32, index: t.u32 }), ChunkGrant),
  writeChunkEnd: msg(
    102,
    t.obj({ inode: t.u32, index: t.u32, chunkId: t.u53, length: t.u53, ok: t.bool }),
    Empty,
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
    }),
  ),
  /** The chunk list after registration, in batches: one frame stays well under the control body limit. */
  chunkReport: msg(201, t.obj({ chunks: t.arr(ChunkRef, 50_000), last: t.bool }), Empty),
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
  ),
  /** Copies that failed a CRC check or could not be read: the master re-replicates them. */
  chunksDamaged: msg(203, t.obj({ chunks: t.arr(ChunkRef, 50_000) }), Empty),
  /** Copies gone with a disk taken out of service. */
  chunksLost: msg(204, t.obj({ chunks: t.arr(ChunkRef, 50_000) }), Empty),

  // master → chunkserver commands (requests on the link the chunkserver opened)
  chunkCreate: msg(210, t.obj({ epoch: t.u53, chunkId: t.u53, version: t.u32 }), Empty),
  chunkDelete: msg(211, t.obj({ epoch: t.u53, chunkId: t.u53, version: t.u32 }), Empty),
  chunkSetVersion: msg(212, t.obj({ epoch: t.u53, chunkId: t.u53, version: t.u32, newVersion: t.u32 }), Empty),
  /** Copy-on-write for snapshots: a new chunk with the same bytes. */
  chunkDuplicate: msg(
    213,
    t.obj({ epoch: t.u53, chunkId: t.u53, version: t.u32, newChunkId: t.u53, newVersion: t.u32 }),
    Empty,
  ),
  chunkTruncate: msg(
    214,
    t.obj({ epoch: t.u53, chunkId: t.u53, version: t.u32, newVersion: t.u32, length: t.u32 }),
    Empty,
  ),
  /** Pull the chunk from one of `sources` (verifying every block) and keep it at `version`. */
  chunkReplicate: msg(
    215,
    t.obj({ epoch: t.u53, chunkId: t.u53, version: t.u32, sources: t.arr(DataAddress, 16) }),
    Empty,
  ),

  // client/chunkserver → chunkserver data server (bytes travel in data frames, see data-frames.ts)
  /** Answered by `read` data frames carrying this request's id, then this reply. Past the chunk's end reads zeros. */
  dataRead: msg(300, t.obj({ chunkId: t.u53, version: t.u32, offset: t.u32, length: t.u32, token: t.opt(GrantToken) }), Empty),
  /** Opens a write on this chunkserver; `chain` lists the chunkservers after it, each forwarding to the next. */
  dataWriteInit: msg(301, t.obj({ chunkId: t.u53, version: t.u32, token: t.opt(GrantToken), chain: t.arr(DataAddress, 16) }), Empty),
  /** Waits for every piece down the chain and closes the write (fsync only with HDD_FSYNC_BEFORE_CLOSE = 1, as MooseFS). */
  dataWriteEnd: msg(302, t.obj({ chunkId: t.u53, version: t.u32 }), Empty),
  /** Length of the chunk's data, for a replicating chunkserver. */
  dataChunkInfo: msg(303, t.obj({ chunkId: t.u53, version: t.u32, token: t.opt(GrantToken) }), t.obj({ length: t.u32 })),
  /** Makes this copy's completed writes durable (fdatasync): a client's fsync(2) sends it to every copy it wrote. */
  dataSync: msg(304, t.obj({ chunkId: t.u53, version: t.u32 }), Empty),

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
  ),
  /** Opens the master's newest dump (metadata.tsmfs) for download; the handle keeps that file even if a newer dump replaces it. */
  mlDumpOpen: msg(401, Empty, t.obj({ handle: t.u32, version: t.u53, size: t.u53, sha256: t.bytes(32) })),
  /** A piece of an open dump; `data` is shorter than `length` only at the end of the file. */
  mlDumpRead: msg(402, t.obj({ handle: t.u32, offset: t.u53, length: t.u32 }), t.obj({ data: t.bytes(2 * 1024 * 1024) })),
  mlDumpClose: msg(403, t.obj({ handle: t.u32 }), Empty),

  /**
   * The master's view of a file's chunks: every copy with its version and state (tsmfs
   * fileinfo/checkfile); 'replicating' = a copy being made on that server right now.
   */
  fileinfo: msg(
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
          copies: t.arr(t.obj({ csid: t.u32, host: t.str(256), port: t.u16, version: t.u32, state: t.lit('valid', 'stale', 'damaged', 'replicating') }), 256),
        }),
        1 << 20,
      ),
    }),
  ),

  // cli ↔ master: tools (tsmfs dirinfo, checkfile, filerepair, appendchunks); docs/cli.md
  /** Totals over the tree under `inode` (MooseFS's mfsdirinfo); chunks shared inside it are counted once. */
  dirinfo: msg(
    104,
    t.obj({ inode: t.u32 }),
    t.obj({ inodes: t.u53, dirs: t.u53, files: t.u53, chunks: t.u53, length: t.u53, size: t.u53, realsize: t.u53 }),
  ),
  /** The file's chunks counted by number of valid copies: `copies[n]` = chunks with n valid copies (holes are not counted). */
  checkfile: msg(105, t.obj({ inode: t.u32 }), t.obj({ goal: t.u8, copies: t.arr(t.u53, 257) })),
  /**
   * For every chunk with no valid copy: take the newest stale copy's version when there is
   * one (`repaired`), else drop the chunk from the file so it reads as zeros (`erased`).
   */
  filerepair: msg(106, t.obj({ cred: Cred, inode: t.u32 }), t.obj({ notChanged: t.u53, erased: t.u53, repaired: t.u53 })),
  /** Appends `src`'s chunks to `inode` (shared, copy-on-write), after padding `inode` to a whole chunk. */
  appendchunks: msg(107, t.obj({ cred: Cred, inode: t.u32, src: t.u32 }), t.obj({ attr: Attr })),
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

