/**
 * Issue 10: hostile clients on the client port (9421). Sessions admitted by a read-only,
 * a subfolder, a mapall and a meta export send well-formed requests with hostile
 * arguments (inode numbers outside the export, among them 1 and the export's parent;
 * inode 1 names a subfolder session's own root, as in MooseFS;
 * names with '/', NUL, '..', 256 bytes; huge counts and offsets). The master must never
 * exit or drop the link, never answer with a name, attribute or chunk id of a node
 * outside the session's export, change nothing outside the exports nor anything on the
 * read-only one, create as the mapall user only; and its changelog replayed over its
 * first dump must give exactly the state it holds (replay = live).
 */
import { copyFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalState, decodeDump, restore } from '@tsmfs/master';
import type { Attr, Cred, MessageName, Request } from '@tsmfs/protocol';
import { isTsmfsError } from '@tsmfs/protocol';
import type { MasterSession } from '@tsmfs/client';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Cluster, makeTempDir } from './fixture/cluster.js';
import { readFileSync } from 'node:fs';

const ADMIN = 'admin-secret';
const ROOT: Cred = { uid: 0, gid: 0, groups: [0] };
const CREDS: Cred[] = [ROOT, { uid: 1000, gid: 1000, groups: [1000] }, { uid: 5, gid: 5, groups: [5, 0] }];
/** Every name the admin gives outside the exports carries this tag; hostile names never do. */
const TAG = 'zq9';
const RUNS = Number(process.env.TSMFS_HOSTILE_RUNS ?? 60);

type Kind = 'pub' | 'ro' | 'mapped' | 'meta';
interface Tree {
  inodes: Record<string, number>;
  /** Per session kind: inode numbers, names and chunk ids it must never be told. */
  outside: Record<Kind, { inodes: Set<number>; names: Set<string>; chunks: Set<number> }>;
  /** Nodes no session may reach: their attributes (but atime) and entries must not change. */
  untouchable: number[];
}

async function build(admin: MasterSession): Promise<Tree> {
  const dir = async (parent: number, name: string, mode = 0o777) => (await admin.mkdir(parent, name, mode, { cred: ROOT })).inode;
  const file = async (parent: number, name: string) => (await admin.create(parent, name, 0o666, { cred: ROOT })).inode;
  const i: Record<string, number> = { root: 1 };
  i.pub = await dir(1, 'pub');
  i.ro = await dir(1, `ro-${TAG}`, 0o755);
  i.mapped = await dir(1, `mapped-${TAG}`);
  // Exported one level down, so that its parent is a directory of its own (not inode 1, which names a session's root).
  i.inner = await dir(i.mapped, 'inner');
  i.secret = await dir(1, `secret-${TAG}`, 0o700);
  i.shared = await dir(1, `shared-${TAG}`);
  i.loot = await dir(i.shared, `loot-${TAG}`);
  i.payroll = await file(i.secret, `payroll-${TAG}.txt`);
  i.pubA = await dir(i.pub, 'a');
  i.pubF = await file(i.pubA, 'f');
  i.roFile = await file(i.ro, `rfile-${TAG}`);
  i.mappedFile = await file(i.inner, 'm');
  // Trashed from a folder of its own: the meta session may restore it there (export '.' holds all the trash).
  i.bin = await dir(1, `bin-${TAG}`);
  i.trashed = await file(i.bin, `old-${TAG}`);
  await admin.unlink(i.bin, `old-${TAG}`, { cred: ROOT });
  // Chunk ids outside: no chunkserver runs, but the grant's chunk is allocated and logged first.
  await admin.call('writeChunk', { cred: ROOT, inode: i.payroll, index: 0 }).catch(() => undefined);
  const payrollChunk = (await admin.call('readChunk', { inode: i.payroll, index: 0 })).chunkId;
  const names = (extra: string[]) => new Set([...extra, ...[`secret-${TAG}`, `shared-${TAG}`, `loot-${TAG}`, `payroll-${TAG}.txt`, `old-${TAG}`, `bin-${TAG}`]]);
  const base = [1, i.secret, i.shared, i.loot, i.payroll, i.bin, i.trashed];
  return {
    inodes: i,
    outside: {
      pub: { inodes: new Set([...base, i.ro, i.roFile, i.mapped, i.inner, i.mappedFile]), names: names([`ro-${TAG}`, `rfile-${TAG}`, `mapped-${TAG}`]), chunks: new Set([payrollChunk]) },
      ro: { inodes: new Set([...base, i.pub, i.pubA, i.pubF, i.mapped, i.inner, i.mappedFile]), names: names([`mapped-${TAG}`]), chunks: new Set([payrollChunk]) },
      mapped: { inodes: new Set([...base, i.mapped, i.pub, i.pubA, i.pubF, i.ro, i.roFile]), names: names([`ro-${TAG}`, `rfile-${TAG}`, `mapped-${TAG}`]), chunks: new Set([payrollChunk]) },
      // The meta file system holds trash: only live nodes no session can ever unlink are outside it.
      meta: { inodes: new Set([1, i.pub, i.ro, i.mapped, i.inner, i.secret, i.shared, i.loot, i.payroll]), names: new Set([`loot-${TAG}`, `payroll-${TAG}.txt`]), chunks: new Set([payrollChunk]) },
    },
    untouchable: [1, i.secret, i.shared, i.loot, i.payroll, i.mapped],
  };
}

/** What the admin sees of the nodes no session may reach, and of the read-only export. */
async function frozenView(admin: MasterSession, tree: Tree): Promise<unknown> {
  const attrs = async (inode: number) => {
    const { atime: _atime, ...rest } = await admin.getattr(inode);
    return rest;
  };
  const i = tree.inodes;
  return {
    attrs: await Promise.all([...tree.untouchable, i.ro, i.roFile].map(attrs)),
    entries: await Promise.all([1, i.secret, i.shared, i.ro].map(async (d) => (await admin.readdir(d)).map((e) => [e.name, e.inode]))),
  };
}

/** Inodes a session may name: inode 1 (its own root), its export's nodes; others it may not. */
function insideOf(tree: Tree, kind: Kind): number[] {
  const i = tree.inodes;
  const inside: Record<Kind, number[]> = { pub: [i.pub!, i.pubA!, i.pubF!], ro: [i.ro!, i.roFile!], mapped: [i.inner!, i.mappedFile!], meta: [i.trashed!] };
  return [1, ...inside[kind]];
}

const inodeArb = (tree: Tree, kind: Kind) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...insideOf(tree, kind)) },
    { weight: 2, arbitrary: fc.constantFrom(...Object.values(tree.inodes), 0, 0xffff_ffff) },
    // Nodes the sessions create along the way.
    { weight: 2, arbitrary: fc.integer({ min: 1, max: 120 }) },
  );
const nameArb = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom('a', 'b', 'f', 'm', 'new') },
  fc.constantFrom('a', 'b', 'f', 'new', '.', '..', 'x/y', '/', 'a\0b', '', 'n'.repeat(255), 'n'.repeat(256), 'é'.repeat(128), 'm'),
  fc.string({ maxLength: 6 }).filter((s) => !s.includes(TAG)),
);
const hugeArb = fc.constantFrom(0, 1, 7, 0xffff_ffff, Number.MAX_SAFE_INTEGER);

/** One well-formed request with hostile arguments. */
function requestArb(tree: Tree, kind: Kind): fc.Arbitrary<[MessageName, object]> {
  const ino = inodeArb(tree, kind);
  const cred = fc.constantFrom(...CREDS);
  return fc
    .record({ a: ino, b: ino, name: nameArb, name2: nameArb, n: hugeArb, flags: fc.constantFrom(0, 1, 2, 3, 0o1000, 0o1002), cred, pick: fc.nat(39), bool: fc.boolean() })
    .map(({ a, b, name, name2, n, flags, cred, pick, bool }): [MessageName, object] => {
      const all: [MessageName, object][] = [
        ['lookup', { cred, parent: a, name }],
        ['getattr', { inode: a }],
        ['setattr', { cred, inode: a, mode: 0o777, size: bool ? n % 2 ** 40 : undefined }],
        ['mknod', { cred, parent: a, name, type: 'file', mode: 0o666, umask: 0, rdev: 0, open: bool ? 2 : undefined }],
        ['mkdir', { cred, parent: a, name, mode: 0o777, umask: 0 }],
        ['symlink', { cred, parent: a, name, target: name2 }],
        ['readlink', { inode: a }],
        ['link', { cred, inode: a, parent: b, name }],
        ['unlink', { cred, parent: a, name }],
        ['rmdir', { cred, parent: a, name }],
        ['rename', { cred, parent: a, name, newParent: b, newName: name2, flags: flags & 3 }],
        ['readdir', { cred, inode: a, cookie: n, max: n % 2 ** 32, withAttrs: bool }],
        ['statfs', {}],
        ['access', { cred, inode: a, mask: 7 }],
        ['open', { cred, inode: a, flags }],
        ['release', { inode: a }],
        ['releases', { inodes: [a, b, a] }],
        ['getxattr', { cred, inode: a, name: `user.${name2}` }],
        ['setxattr', { cred, inode: a, name: `user.${name2}`, value: new Uint8Array(3), flags: 0 }],
        ['listxattr', { cred, inode: a }],
        ['removexattr', { cred, inode: a, name: `user.${name2}` }],
        ['setgoal', { cred, inode: a, goal: 1 + (n % 9), mode: 'set', recursive: bool }],
        ['getgoal', { inode: a, recursive: bool }],
        ['settrashtime', { cred, inode: a, trashtime: n % 2 ** 32, mode: 'set', recursive: bool }],
        ['gettrashtime', { inode: a, recursive: bool }],
        ['snapshot', { cred, inode: a, parent: b, name, overwrite: bool }],
        ['trashList', {}],
        ['trashUndelete', { inode: a }],
        ['trashPurge', { inode: a }],
        ['sustainedList', {}],
        ['readChunk', { inode: a, index: n % 2 ** 32 }],
        // Huge write indexes are issue 10 item 1's (a chunk list filled up to the index), not this test's.
        ['writeChunk', { cred, inode: a, index: n % 2 }],
        ['writeChunkEnd', { inode: a, index: 0, chunkId: n, length: n, ok: bool }],
        ['fileinfo', { inode: a }],
        ['dirinfo', { inode: a }],
        ['checkfile', { inode: a }],
        ['filerepair', { cred, inode: a }],
        ['appendchunks', { cred, inode: a, src: b }],
        ['lookup', { cred, parent: a, name: '..' }],
        ['readdir', { cred, inode: a, cookie: 0, max: 1000, withAttrs: true }],
        ['getattr', { inode: b }],
      ];
      return all[pick]!;
    });
}

/** Every inode number, name and chunk id anywhere in a reply or an error message. */
function leaks(value: unknown, outside: Tree['outside'][Kind]): string[] {
  const found: string[] = [];
  const visit = (v: unknown, key: string): void => {
    if (Array.isArray(v)) return v.forEach((x) => visit(x, key));
    if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
      for (const [k, x] of Object.entries(v)) visit(x, k);
      return;
    }
    if ((key === 'inode' || key === 'src') && outside.inodes.has(v as number)) found.push(`inode ${String(v)}`);
    if (key === 'chunkId' && outside.chunks.has(v as number)) found.push(`chunk ${String(v)}`);
    if (typeof v === 'string') for (const n of outside.names) if (v.includes(n)) found.push(`name ${n} in ${key}`);
  };
  visit(value, '');
  return found;
}

describe('hostile clients on the client port', () => {
  it('sessions of ro, subfolder, mapall and meta exports: no exit, nothing from outside, replay = live', async () => {
    const c = await Cluster.create({
      master: {
        exports: [
          `127.0.0.1 / rw,alldirs,maproot=0,password=${ADMIN}`,
          '127.0.0.1 /pub rw,maproot=0',
          `127.0.0.1 /ro-${TAG} ro,maproot=0`,
          `127.0.0.1 /mapped-${TAG}/inner rw,mapall=1000:1000`,
          '127.0.0.1 . rw',
        ],
      },
    });
    const firstDump = join(makeTempDir(), 'first.tsmfs');
    copyFileSync(join(c.master.dataPath, 'metadata.tsmfs'), firstDump);
    const admin = await c.session({ password: ADMIN });
    const tree = await build(admin);
    const frozen = await frozenView(admin, tree);
    const sessions: Record<Kind, MasterSession> = {
      pub: await c.session({ subdir: '/pub' }),
      ro: await c.session({ subdir: `/ro-${TAG}` }),
      mapped: await c.session({ subdir: `/mapped-${TAG}/inner` }),
      meta: await c.session({ meta: true }),
    };
    const kinds = Object.keys(sessions) as Kind[];
    // So that a run that sends nothing, or is refused everything, cannot pass unnoticed.
    const outcomes = { requests: 0, served: 0, eperm: 0 };

    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...kinds).chain((kind) => fc.tuple(fc.constant(kind), requestArb(tree, kind))), { minLength: 5, maxLength: 40, size: 'max' }), async (steps) => {
        for (const [kind, [name, body]] of steps) {
          outcomes.requests++;
          const reply = await sessions[kind].call(name, body as Request<typeof name>).then(
            (r) => (outcomes.served++, r as unknown),
            (err: unknown) => {
              // An errno answer is fine; a dropped link or anything else is not.
              if (!isTsmfsError(err) || err.status === undefined) throw err;
              if (err.code === 'EPERM') outcomes.eperm++;
              return { error: err.message };
            },
          );
          expect({ kind, name, body, leaks: leaks(reply, tree.outside[kind]) }).toEqual({ kind, name, body, leaks: [] });
        }
        expect(c.master.process!.running).toBe(true);
        expect(await frozenView(admin, tree)).toEqual(frozen);
      }),
      { numRuns: RUNS },
    );
    expect(outcomes.requests).toBeGreaterThanOrEqual(RUNS);
    expect(outcomes.served).toBeGreaterThan(0);
    expect(outcomes.eperm).toBeGreaterThan(0);
    process.stderr.write(`hostile requests: ${JSON.stringify(outcomes)}\n`);

    // Whatever the mapall session made is the mapall user's.
    const stack = [tree.inodes.inner!];
    for (let steps = 0; stack.length > 0 && steps < 10_000; steps++) {
      for (const e of await admin.readdir(stack.pop()!, { withAttrs: true })) {
        const a = e.attr as Attr;
        if (e.inode !== tree.inodes.mappedFile) expect({ name: e.name, uid: a.uid, gid: a.gid }).toEqual({ name: e.name, uid: 1000, gid: 1000 });
        if (e.type === 'dir') stack.push(e.inode);
      }
    }

    // replay = live: the changelog over the first dump gives the state the master dumps at its stop.
    for (const s of [...Object.values(sessions), admin]) s.close();
    await c.master.stop();
    const changelogs = readdirSync(c.master.dataPath).filter((f) => /^changelog\.\d+\.tsmfs$/.test(f)).map((f) => join(c.master.dataPath, f));
    const out = join(makeTempDir(), 'replayed.tsmfs');
    restore({ dump: firstDump, changelogs, out });
    const live = decodeDump(readFileSync(join(c.master.dataPath, 'metadata.tsmfs')));
    expect(canonicalState(decodeDump(readFileSync(out)))).toEqual(canonicalState(live));
  });
});
