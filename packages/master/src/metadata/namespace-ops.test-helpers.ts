import fc from 'fast-check';
import { CHUNK_SIZE, type Cred, MAX_CHUNK_INDEX, MAX_FILE_SIZE, type Timespec, TsmfsError, statusName } from '@tsmfs/protocol';
import { createEmptyMetadata, type Metadata } from './metadata.js';
import type { Mutation } from './mutation.js';
import { Namespace } from './namespace.js';

/** Test fixtures shared by the model, replay and dump tests: creds, an op language, a runner. */

export const ROOT: Cred = { uid: 0, gid: 0, groups: [] };
export const ALICE: Cred = { uid: 1000, gid: 1000, groups: [1000, 3000] };
export const BOB: Cred = { uid: 1001, gid: 1001, groups: [1001, 3000] };
export const CREDS = [ROOT, ALICE, BOB] as const;

export const PARENTS = ['', 'a', 'b', 'a/b', 'b/a', 'a/b/c', 'c'] as const;
export const NAMES = ['a', 'b', 'c', 'd'] as const;
export const XATTR_NAMES = ['user.x', 'user.y', 'trusted.t', 'security.s'] as const;

export type Op =
  | { k: 'create'; who: number; dir: string; name: string; mode: number }
  | { k: 'mkdir'; who: number; dir: string; name: string; mode: number }
  | { k: 'symlink'; who: number; dir: string; name: string; target: string }
  | { k: 'unlink'; who: number; dir: string; name: string }
  | { k: 'rmdir'; who: number; dir: string; name: string }
  | { k: 'rename'; who: number; dir: string; name: string; dir2: string; name2: string; flags: number }
  | { k: 'link'; who: number; path: string; dir2: string; name2: string }
  | { k: 'chmod'; who: number; path: string; mode: number }
  | { k: 'chown'; who: number; path: string; uid?: number; gid?: number }
  | { k: 'truncate'; who: number; path: string; size: number }
  | { k: 'setxattr'; who: number; path: string; name: string; value: string; flags: number }
  | { k: 'removexattr'; who: number; path: string; name: string };

/** Ops beyond what the reference model knows: used by replay and dump tests. */
export type ExtraOp =
  | { k: 'open'; who: number; path: string; flags: number }
  | { k: 'releaseAny'; pick: number }
  | { k: 'write'; who: number; path: string; index: number; length: number }
  /** makesnapshot, with -c (`cplike`: the umask) and -p. */
  | { k: 'snapshot'; who: number; path: string; dir2: string; name2: string; overwrite: boolean; cplike?: number; preserveHardlinks: boolean }
  /** appendchunks, with -s FROM:TO when either is given. */
  | { k: 'appendchunks'; who: number; path: string; src: string; from?: number; to?: number }
  | { k: 'setgoal'; who: number; path: string; value: number; mode: 'set' | 'increase' | 'decrease'; recursive: boolean }
  | { k: 'settrashtime'; who: number; path: string; value: number; recursive: boolean }
  | { k: 'undelete'; pick: number }
  | { k: 'purge'; pick: number }
  | { k: 'mknod'; who: number; dir: string; name: string; type: 'fifo' | 'socket' | 'chardev' | 'blockdev' }
  | { k: 'tick'; seconds: number }
  /** A directory quota set (limits given) or removed (none): quota/. */
  | { k: 'quota'; dir: string; hard: { inodes?: number; length?: number }; soft: { size?: number }; grace: number }
  | { k: 'seteattr'; who: number; path: string; set: number; clear: number; recursive: boolean; admin: boolean }
  | { k: 'rmsnapshot'; who: number; path: string; force: boolean }
  /** Storage classes (sclass/): a class made, changed or deleted by root on an admin session; a node's class set. */
  | { k: 'sclass'; action: 'create' | 'change' | 'delete'; name: string; keep: string }
  | { k: 'setsclass'; who: number; path: string; name: string; from?: string; recursive: boolean }
  | { k: 'archive'; who: number; path: string; on: boolean };

/** 100 TiB: where a sparse file's one chunk goes in the tests. */
export const TIB_100 = 100 * 2 ** 40;

const who = fc.integer({ min: 0, max: 2 });
const dir = fc.constantFrom(...PARENTS);
const name = fc.constantFrom(...NAMES);
const path = fc.tuple(dir, name).map(([d, n]) => (d ? `${d}/${n}` : n));
/** Modes biased towards the interesting bits: sticky, setgid, setuid, missing w/x. */
const mode = fc.oneof(
  fc.constantFrom(0o755, 0o777, 0o700, 0o644, 0o1777, 0o2775, 0o4755, 0o2755, 0o555, 0o311, 0o000, 0o3777),
  fc.integer({ min: 0, max: 0o7777 }),
);

export const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant('create' as const), who, dir, name, mode }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('mkdir' as const), who, dir, name, mode }) },
  fc.record({ k: fc.constant('symlink' as const), who, dir, name, target: fc.constantFrom('x', '../a', '/etc/passwd') }),
  fc.record({ k: fc.constant('unlink' as const), who, dir, name }),
  fc.record({ k: fc.constant('rmdir' as const), who, dir, name }),
  fc.record({
    k: fc.constant('rename' as const),
    who,
    dir,
    name,
    dir2: dir,
    name2: name,
    flags: fc.constantFrom(0, 0, 0, 1, 2),
  }),
  fc.record({ k: fc.constant('link' as const), who, path, dir2: dir, name2: name }),
  fc.record({ k: fc.constant('chmod' as const), who, path, mode }),
  fc.record(
    {
      k: fc.constant('chown' as const),
      who,
      path,
      uid: fc.constantFrom(0, 1000, 1001),
      gid: fc.constantFrom(0, 1000, 1001, 3000),
    },
    { requiredKeys: ['k', 'who', 'path'] },
  // chown(-1, -1) drops setuid in the kernel but reaches the master (over FUSE) as a mode change, not as a chown.
  ).filter((op) => op.uid !== undefined || op.gid !== undefined),
  fc.record({ k: fc.constant('truncate' as const), who, path, size: fc.constantFrom(0, 1, 100_000_000) }),
  fc.record({
    k: fc.constant('setxattr' as const),
    who,
    path,
    name: fc.constantFrom(...XATTR_NAMES),
    value: fc.constantFrom('', 'v', 'value2'),
    flags: fc.constantFrom(0, 0, 1, 2),
  }),
  fc.record({ k: fc.constant('removexattr' as const), who, path, name: fc.constantFrom(...XATTR_NAMES) }),
);

export const extraOpArb: fc.Arbitrary<ExtraOp> = fc.oneof(
  fc.record({ k: fc.constant('open' as const), who, path, flags: fc.constantFrom(0, 1, 2, 0o1001) }),
  fc.record({ k: fc.constant('releaseAny' as const), pick: fc.nat() }),
  fc.record({
    k: fc.constant('write' as const),
    who,
    path,
    // Far indexes make sparse chunk lists; those past the largest file are EFBIG.
    index: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 2 }) }, fc.constantFrom(8, TIB_100 / CHUNK_SIZE, MAX_CHUNK_INDEX, MAX_CHUNK_INDEX + 1)),
    length: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 200_000_000 }) }, fc.constantFrom(TIB_100 + 1, MAX_FILE_SIZE, MAX_FILE_SIZE + 1)),
  }),
  fc.record(
    { k: fc.constant('snapshot' as const), who, path, dir2: dir, name2: name, overwrite: fc.boolean(), cplike: fc.constantFrom(0o022, 0o077, 0), preserveHardlinks: fc.boolean() },
    { requiredKeys: ['k', 'who', 'path', 'dir2', 'name2', 'overwrite', 'preserveHardlinks'] },
  ),
  fc.record(
    { k: fc.constant('appendchunks' as const), who, path, src: path, from: fc.integer({ min: -3, max: 3 }), to: fc.integer({ min: -3, max: 3 }) },
    { requiredKeys: ['k', 'who', 'path', 'src'] },
  ),
  fc.record({
    k: fc.constant('setgoal' as const),
    who,
    path: fc.oneof(path, fc.constant('')),
    value: fc.integer({ min: 0, max: 10 }),
    mode: fc.constantFrom('set' as const, 'increase' as const, 'decrease' as const),
    recursive: fc.boolean(),
  }),
  fc.record({
    k: fc.constant('settrashtime' as const),
    who,
    path: fc.oneof(path, fc.constant('')),
    value: fc.constantFrom(0, 0, 60, 86_400),
    recursive: fc.boolean(),
  }),
  fc.record({ k: fc.constant('undelete' as const), pick: fc.nat() }),
  fc.record({ k: fc.constant('purge' as const), pick: fc.nat() }),
  fc.record({
    k: fc.constant('mknod' as const),
    who,
    dir,
    name,
    type: fc.constantFrom('fifo' as const, 'socket' as const, 'chardev' as const, 'blockdev' as const),
  }),
  fc.record({ k: fc.constant('tick' as const), seconds: fc.constantFrom(1, 100, 4000, 100_000) }),
  fc.record({
    k: fc.constant('quota' as const),
    dir,
    hard: fc.record({ inodes: fc.integer({ min: 0, max: 12 }), length: fc.constantFrom(0, 100_000_000, 400_000_000) }, { requiredKeys: [] }),
    soft: fc.record({ size: fc.constantFrom(0, 1_000_000, 70_000_000) }, { requiredKeys: [] }),
    grace: fc.constantFrom(0, 60, 86_400),
  }),
  fc.record({
    k: fc.constant('seteattr' as const),
    who,
    path: fc.oneof(path, fc.constant('')),
    set: fc.integer({ min: 0, max: 255 }),
    clear: fc.integer({ min: 0, max: 255 }),
    recursive: fc.boolean(),
    admin: fc.boolean(),
  }),
  fc.record({ k: fc.constant('rmsnapshot' as const), who, path, force: fc.boolean() }),
  fc.record({ k: fc.constant('sclass' as const), action: fc.constantFrom('create' as const, 'change' as const, 'delete' as const), name: fc.constantFrom('hot', 'cold', '2'), keep: fc.constantFrom('A,B', '2*', 'A+B,C', '3[A+B]') }),
  fc.record({ k: fc.constant('archive' as const), who, path: fc.oneof(path, fc.constant('')), on: fc.boolean() }),
  fc.record({ k: fc.constant('setsclass' as const), who, path: fc.oneof(path, fc.constant('')), name: fc.constantFrom('hot', 'cold', '1', '3'), from: fc.option(fc.constantFrom('hot', '1'), { nil: undefined }), recursive: fc.boolean() }),
);

/** A clock that moves one second (and some nanoseconds) per reading; `tick` jumps it. */
export class TestClock {
  sec = 1_700_000_000;
  nsec = 0;
  readonly read = (): Timespec => {
    this.sec += 1;
    this.nsec = (this.nsec + 123_456_789) % 1_000_000_000;
    return { sec: this.sec, nsec: this.nsec };
  };
}

export interface Live {
  md: Metadata;
  ns: Namespace;
  log: Mutation[];
  clock: TestClock;
  /** Inodes opened and not yet released, one entry per open. */
  opened: number[];
}

/**
 * A starting tree that gives every cred somewhere to work: a world-writable root, a
 * plain shared dir, a sticky one, dirs owned by each user, a setgid dir, a file.
 */
export const SEED: Op[] = [
  { k: 'chmod', who: 0, path: '', mode: 0o777 },
  { k: 'mkdir', who: 0, dir: '', name: 'a', mode: 0o777 },
  { k: 'mkdir', who: 0, dir: '', name: 'b', mode: 0o1777 },
  { k: 'mkdir', who: 1, dir: 'a', name: 'b', mode: 0o755 },
  { k: 'mkdir', who: 2, dir: 'b', name: 'a', mode: 0o2777 },
  { k: 'mkdir', who: 1, dir: 'a/b', name: 'c', mode: 0o777 },
  { k: 'create', who: 1, dir: 'b', name: 'c', mode: 0o644 },
  { k: 'create', who: 2, dir: 'b', name: 'd', mode: 0o666 },
];

export function freshLive(seed = true): Live {
  const clock = new TestClock();
  const md = createEmptyMetadata({ sec: clock.sec, nsec: 0 });
  const log: Mutation[] = [];
  const ns = new Namespace(md, (m) => log.push(structuredClone(m)), clock.read);
  const live: Live = { md, ns, log, clock, opened: [] };
  if (seed) for (const op of SEED) if (runOp(live, op) !== 'ok') throw new Error(`seed ${JSON.stringify(op)} failed`);
  return live;
}

/** The inode at `path` (no permission checks), or 0 when it does not resolve. */
export function resolve(md: Metadata, p: string): number {
  return md.resolvePath('/' + p) ?? 0;
}

function split(p: string): [string, string] {
  const cut = p.lastIndexOf('/');
  return cut < 0 ? ['', p] : [p.slice(0, cut), p.slice(cut + 1)];
}

/** 'ok', or the errno name of the TsmfsError `f` threw (anything else is rethrown). */
export function errnoOf(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (err) {
    if (err instanceof TsmfsError) return statusName(err.status);
    throw err;
  }
}

/** Runs an op against the Namespace; returns 'ok' or the errno name. */
export function runOp(live: Live, op: Op | ExtraOp): string {
  return errnoOf(() => runOpUnchecked(live, op));
}

function runOpUnchecked(live: Live, op: Op | ExtraOp): void {
  const { ns, md } = live;
  const cred = 'who' in op ? CREDS[op.who] : ROOT;
  switch (op.k) {
    case 'create':
      ns.mknod({ cred, parent: resolve(md, op.dir), name: op.name, type: 'file', mode: op.mode, umask: 0, rdev: 0 });
      return;
    case 'mkdir':
      ns.mkdir({ cred, parent: resolve(md, op.dir), name: op.name, mode: op.mode, umask: 0 });
      return;
    case 'symlink':
      ns.symlink({ cred, parent: resolve(md, op.dir), name: op.name, target: op.target });
      return;
    case 'unlink':
      ns.unlink({ cred, parent: resolve(md, op.dir), name: op.name });
      return;
    case 'rmdir':
      ns.rmdir({ cred, parent: resolve(md, op.dir), name: op.name });
      return;
    case 'rename':
      ns.rename({
        cred,
        parent: resolve(md, op.dir),
        name: op.name,
        newParent: resolve(md, op.dir2),
        newName: op.name2,
        flags: op.flags,
      });
      return;
    case 'link':
      ns.link({ cred, inode: resolve(md, op.path), parent: resolve(md, op.dir2), name: op.name2 });
      return;
    case 'chmod':
      ns.setattr({ cred, inode: resolve(md, op.path), mode: op.mode });
      return;
    case 'chown': {
      const req: Parameters<Namespace['setattr']>[0] = { cred, inode: resolve(md, op.path) };
      if (op.uid !== undefined) req.uid = op.uid;
      if (op.gid !== undefined) req.gid = op.gid;
      ns.setattr(req);
      return;
    }
    case 'truncate':
      ns.setattr({ cred, inode: resolve(md, op.path), size: op.size });
      return;
    case 'setxattr':
      ns.setxattr({ cred, inode: resolve(md, op.path), name: op.name, value: Buffer.from(op.value), flags: op.flags });
      return;
    case 'removexattr':
      ns.removexattr({ cred, inode: resolve(md, op.path), name: op.name });
      return;
    case 'open': {
      const inode = resolve(md, op.path);
      ns.open({ cred, inode, flags: op.flags });
      live.opened.push(inode);
      return;
    }
    case 'releaseAny': {
      if (live.opened.length === 0) return;
      const [inode] = live.opened.splice(op.pick % live.opened.length, 1);
      ns.release({ inode: inode! });
      return;
    }
    case 'write': {
      const inode = resolve(md, op.path);
      const grant = ns.writeChunk({ cred, inode, index: op.index });
      ns.writeChunkEnd({ inode, index: op.index, chunkId: grant.chunkId, length: op.length, ok: true });
      return;
    }
    case 'snapshot':
      ns.snapshot({
        cred,
        inode: resolve(md, op.path),
        parent: resolve(md, op.dir2),
        name: op.name2,
        overwrite: op.overwrite,
        ...(op.cplike === undefined ? {} : { cplike: true, umask: op.cplike }),
        ...(op.preserveHardlinks ? { preserveHardlinks: true } : {}),
      });
      return;
    case 'appendchunks': {
      const slice = { ...(op.from === undefined ? {} : { from: op.from }), ...(op.to === undefined ? {} : { to: op.to }) };
      ns.appendChunks({ cred, inode: resolve(md, op.path), src: resolve(md, op.src), ...slice });
      return;
    }
    case 'setgoal':
      ns.setgoal({ cred, inode: resolve(md, op.path), goal: op.value, mode: op.mode, recursive: op.recursive });
      return;
    case 'settrashtime':
      ns.settrashtime({ cred, inode: resolve(md, op.path), trashtime: op.value, mode: 'set', recursive: op.recursive });
      return;
    case 'undelete': {
      const list = ns.trashList().entries;
      if (list.length > 0) ns.trashUndelete({ inode: list[op.pick % list.length]!.inode });
      return;
    }
    case 'purge': {
      const list = [...ns.trashList().entries, ...ns.expiredTrash(live.clock.sec).map((inode) => ({ inode }))];
      if (list.length > 0) ns.purge(list[op.pick % list.length]!.inode);
      return;
    }
    case 'mknod': {
      const [d, n] = split(op.dir ? `${op.dir}/${op.name}` : op.name);
      ns.mknod({ cred, parent: resolve(md, d), name: n, type: op.type, mode: 0o644, umask: 0o022, rdev: 0x0801 });
      return;
    }
    case 'tick':
      live.clock.sec += op.seconds;
      return;
    case 'quota': {
      const inode = resolve(md, op.dir);
      if (Object.keys(op.hard).length + Object.keys(op.soft).length === 0) ns.quotas.del(true, { cred: ROOT, inode, soft: ['size'], hard: ['inodes', 'length'] });
      else ns.quotas.set(true, { cred: ROOT, inode, hard: op.hard, soft: op.soft, grace: op.grace });
      return;
    }
    case 'seteattr':
      ns.eattrs.seteattr({ cred, inode: resolve(md, op.path), set: op.set, clear: op.clear, recursive: op.recursive }, op.admin);
      return;
    case 'rmsnapshot': {
      const [d, n] = split(op.path);
      ns.eattrs.rmsnapshot({ cred, parent: resolve(md, d), name: n, force: op.force });
      return;
    }
    case 'sclass': {
      const rights = { admin: true, minGoal: 1, maxGoal: 9 };
      if (op.action === 'create') ns.sclasses.create(rights, { cred: ROOT, name: op.name, adminOnly: false, mode: 'default', create: '', keep: op.keep, archive: '', archiveDelay: 0 });
      else if (op.action === 'change') ns.sclasses.change(rights, { cred: ROOT, name: op.name, force: true, keep: op.keep });
      else ns.sclasses.delete(rights, { cred: ROOT, name: op.name });
      return;
    }
    case 'setsclass': {
      const req = { cred, inode: resolve(md, op.path), name: op.name, recursive: op.recursive };
      ns.sclasses.setsclass({ admin: true, minGoal: 1, maxGoal: 9 }, op.from === undefined ? req : { ...req, from: op.from });
      return;
    }
    case 'archive':
      ns.sclasses.archive({ cred, inode: resolve(md, op.path), on: op.on });
      return;
  }
}
