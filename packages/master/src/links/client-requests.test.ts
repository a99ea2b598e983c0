import { type Request, type SessionMessage, isTsmfsError } from '@tsmfs/protocol';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { parseExports } from '../exports.js';
import { createEmptyMetadata } from '../metadata/metadata.js';
import type { Mutation } from '../metadata/mutation.js';
import { Namespace } from '../metadata/namespace.js';
import { type Session, Sessions } from '../sessions.js';
import { ClientRequests } from './client-requests.js';

const root = { uid: 0, gid: 0, groups: [0] };
const alice = { uid: 1000, gid: 1000, groups: [1000] };
const nonce = new Uint8Array(32).fill(1);

function setup(exportsText: string) {
  const mutations: Mutation[] = [];
  let t = 1_700_000_000;
  const clock = () => ({ sec: t++, nsec: 0 });
  const ns = new Namespace(createEmptyMetadata(clock()), (m) => void mutations.push(m), clock);
  const rules = parseExports(exportsText, 'exports.cfg').rules;
  const sessions = new Sessions({ rules: () => rules, namespace: () => ns, sustainMs: 0, log: pino({ level: 'silent' }) });
  onTestFinished(() => sessions.clear());
  const requests = new ClientRequests({ sessions, namespace: () => ns });
  const link = {};
  const register = (over: Partial<Parameters<Sessions['register']>[0]> = {}, address = '127.0.0.1'): Session =>
    sessions.register({ subdir: '/', meta: false, readonly: false, hostname: 'h', mountpoint: '/mnt', ...over }, { address, nonce, link });
  const serve = async <N extends SessionMessage>(s: Session, name: N, body: Request<N>) => requests.serve(s, name, body);
  return { ns, sessions, serve, register, mutations, link };
}

const errno = async (fn: () => Promise<unknown>): Promise<string> => {
  try {
    await fn();
  } catch (err) {
    if (isTsmfsError(err)) return `${err.code}: ${err.message}`;
    throw err;
  }
  return 'no error';
};

describe('ClientRequests: the export rules of every request', () => {
  it("answers '..' of the session root with the root itself", async () => {
    const { ns, serve, register } = setup('* / rw,alldirs,maproot=0');
    const home = ns.mkdir({ cred: root, parent: 1, name: 'home', mode: 0o755, umask: 0 }).attr.inode;
    const s = register({ subdir: '/home' });
    expect((await serve(s, 'lookup', { cred: root, parent: home, name: '..' })).attr.inode).toBe(home);
  });

  it('read-only sessions: EROFS for every change, reads served', async () => {
    const { ns, serve, register, mutations } = setup('* / ro');
    const s = register();
    // The session itself is recorded (client-state.ts); nothing else may be.
    expect(mutations.map((m) => m.op)).toEqual(['session']);
    mutations.length = 0;
    const version = ns.md.version;
    expect(await errno(() => serve(s, 'mkdir', { cred: root, parent: 1, name: 'x', mode: 0o755, umask: 0 }))).toMatch(/^EROFS: session \d+ is read-only \(export rule exports.cfg:1\)/);
    expect(await errno(() => serve(s, 'open', { cred: root, inode: 1, flags: 0o1000 }))).toMatch(/^EROFS/);
    expect((await serve(s, 'getattr', { inode: 1 })).attr.inode).toBe(1);
    expect(mutations).toEqual([]);
    // A client may also ask for read-only itself on a rw export.
    const rw = setup('* / rw');
    expect(await errno(() => rw.serve(rw.register({ readonly: true }), 'unlink', { cred: root, parent: 1, name: 'x' }))).toMatch(/^EROFS/);
    expect(ns.md.version).toBe(version);
  });

  it('maps root through maproot and everyone through mapall', async () => {
    const mapped = setup('* / rw,maproot=1000:1000');
    const pub = mapped.ns.mkdir({ cred: root, parent: 1, name: 'pub', mode: 0o777, umask: 0 }).attr.inode;
    const s = mapped.register();
    const mk = async (cred: typeof root, name: string) => (await mapped.serve(s, 'mknod', { cred, parent: pub, name, type: 'file', mode: 0o644, umask: 0, rdev: 0 })).attr;
    expect(await errno(() => mapped.serve(s, 'mknod', { cred: root, parent: 1, name: 'f', type: 'file', mode: 0o644, umask: 0, rdev: 0 }))).toMatch(/^EACCES/);
    expect(await mk(root, 'by-root')).toMatchObject({ uid: 1000, gid: 1000 });
    expect(await mk(alice, 'by-alice')).toMatchObject({ uid: 1000, gid: 1000 });
    const all = setup('* / rw,mapall=2000:3000');
    const pub2 = all.ns.mkdir({ cred: root, parent: 1, name: 'pub', mode: 0o777, umask: 0 }).attr.inode;
    const { attr } = await all.serve(all.register(), 'mkdir', { cred: alice, parent: pub2, name: 'd', mode: 0o755, umask: 0 });
    expect(attr).toMatchObject({ uid: 2000, gid: 3000 });
  });

  it('clamps goal and trashtime to the export bounds', async () => {
    const { serve, register } = setup('* / rw,maproot=0,mingoal=2,maxgoal=3,mintrashtime=1h,maxtrashtime=1d');
    const s = register();
    await serve(s, 'setgoal', { cred: root, inode: 1, goal: 9, mode: 'set', recursive: false });
    await serve(s, 'settrashtime', { cred: root, inode: 1, trashtime: 0, mode: 'set', recursive: false });
    expect((await serve(s, 'getattr', { inode: 1 })).attr).toMatchObject({ goal: 3, trashtime: 3600 });
  });

  it('keeps trash on meta sessions and the namespace off them', async () => {
    const { serve, register } = setup('* / rw\n* . rw');
    const fsSession = register();
    expect(await errno(() => serve(fsSession, 'trashList', {}))).toMatch(/^EPERM: trashList needs a meta session/);
    const meta = register({ meta: true });
    expect(await serve(meta, 'trashList', {})).toEqual({ entries: [] });
    expect(await errno(() => serve(meta, 'mkdir', { cred: root, parent: 1, name: 'x', mode: 0o755, umask: 0 }))).toMatch(/^EPERM: mkdir is not served on a meta session/);
  });

  it('releases only opens the session made, and all of them when it expires', async () => {
    const { ns, sessions, serve, register, link } = setup('* / rw,maproot=0');
    const f = ns.mknod({ cred: root, parent: 1, name: 'f', type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr.inode;
    const a = register();
    await serve(a, 'open', { cred: root, inode: f, flags: 0 });
    await serve(a, 'open', { cred: root, inode: f, flags: 0 });
    await serve(a, 'release', { inode: f });
    expect(ns.opens(f)).toBe(1);
    sessions.detach(a, link);
    await new Promise((r) => setTimeout(r, 10));
    expect(ns.opens(f)).toBe(0);
  });

  it('a batch of releases releases each open the session made, in order, and skips the others', async () => {
    const { ns, serve, register } = setup('* / rw,maproot=0');
    const f = ns.mknod({ cred: root, parent: 1, name: 'f', type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr.inode;
    const g = ns.mknod({ cred: root, parent: 1, name: 'g', type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr.inode;
    const a = register();
    const b = register();
    for (let i = 0; i < 2; i++) await serve(a, 'open', { cred: root, inode: f, flags: 0 });
    await serve(b, 'open', { cred: root, inode: g, flags: 0 });
    // g is b's open, not a's; the third release of f is one a never made.
    await serve(a, 'releases', { inodes: [f, g, f, f] });
    expect([ns.opens(f), ns.opens(g)]).toEqual([0, 1]);
    // The last release of an unlinked file purges it, as a single release does.
    await serve(b, 'settrashtime', { cred: root, inode: g, trashtime: 0, mode: 'set', recursive: false });
    await serve(b, 'unlink', { cred: root, parent: 1, name: 'g' });
    expect(ns.md.sustained.has(g)).toBe(true);
    await serve(b, 'releases', { inodes: [g] });
    expect(ns.md.sustained.has(g)).toBe(false);
  });

  it('counts the open of a mknod with open as the session\'s, released when it expires', async () => {
    const { ns, sessions, serve, register, link } = setup('* / rw,maproot=0');
    const a = register();
    const r = await serve(a, 'mknod', { cred: root, parent: 1, name: 'f', type: 'file', mode: 0o644, umask: 0, rdev: 0, open: 1 });
    const f = r.attr.inode;
    expect(ns.opens(f)).toBe(1);
    await serve(a, 'release', { inode: f });
    expect(ns.opens(f)).toBe(0);
    await serve(a, 'mknod', { cred: root, parent: 1, name: 'g', type: 'file', mode: 0o644, umask: 0, rdev: 0, open: 1 });
    const g = ns.lookup({ cred: root, parent: 1, name: 'g' }).attr.inode;
    sessions.detach(a, link);
    await new Promise((r) => setTimeout(r, 10));
    expect(ns.opens(g)).toBe(0);
  });

  it("believes a setattr's viaWritableHandle only while the session has the inode open for writing", async () => {
    const { ns, serve, register } = setup('* / rw,maproot=0');
    ns.setattr({ cred: root, inode: 1, mode: 0o777 });
    const f = ns.mknod({ cred: alice, parent: 1, name: 'f', type: 'file', mode: 0o444, umask: 0, rdev: 0 }).attr.inode;
    const [a, b] = [register(), register()];
    const ftruncate = (s: Session, size: number) => errno(() => serve(s, 'setattr', { cred: alice, inode: f, size, viaWritableHandle: true }));
    expect(await ftruncate(a, 1)).toMatch(/^EACCES/);
    await serve(a, 'open', { cred: root, inode: f, flags: 0 });
    expect(await ftruncate(a, 2)).toMatch(/^EACCES/);
    await serve(a, 'open', { cred: root, inode: f, flags: 2 });
    expect(await ftruncate(a, 3)).toBe('no error');
    expect(await ftruncate(b, 4)).toMatch(/^EACCES/);
    // Created and opened for writing in one request (open(2) with O_CREAT|O_WRONLY, mode 0).
    const g = (await serve(b, 'mknod', { cred: alice, parent: 1, name: 'g', type: 'file', mode: 0, umask: 0, rdev: 0, open: 0o101 })).attr.inode;
    expect(await errno(() => serve(b, 'setattr', { cred: alice, inode: g, size: 9, viaWritableHandle: true }))).toBe('no error');
    // Once every open of the inode is released, the claim is no longer believed.
    await serve(a, 'release', { inode: f });
    await serve(a, 'release', { inode: f });
    expect(await ftruncate(a, 5)).toMatch(/^EACCES/);
    expect(ns.md.attr(f).size).toBe(3);
  });

  it('grants a chunk write only to a caller who may write the file, or whose session holds it open for writing', async () => {
    const { ns, serve, register } = setup('* / rw,mapall=1000:1000');
    ns.setattr({ cred: root, inode: 1, mode: 0o777 });
    const theirs = ns.mknod({ cred: root, parent: 1, name: 'theirs', type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr.inode;
    const mine = ns.mknod({ cred: alice, parent: 1, name: 'mine', type: 'file', mode: 0o444, umask: 0, rdev: 0 }).attr.inode;
    const s = register();
    // mapall makes even a claimed root an ordinary user: no grant for someone else's file.
    expect(await errno(() => serve(s, 'writeChunk', { cred: root, inode: theirs, index: 0 }))).toMatch(/^EACCES/);
    expect(ns.md.chunkAt(theirs, 0)).toBe(0);
    // A read-only mode refuses too, until the session opens the file for writing (as ftruncate).
    expect(await errno(() => serve(s, 'writeChunk', { cred: alice, inode: mine, index: 0 }))).toMatch(/^EACCES/);
    await serve(s, 'open', { cred: root, inode: mine, flags: 0 });
    expect(await errno(() => serve(s, 'writeChunk', { cred: alice, inode: mine, index: 0 }))).toMatch(/^EACCES/);
    ns.setattr({ cred: root, inode: mine, mode: 0o644 });
    await serve(s, 'open', { cred: root, inode: mine, flags: 2 });
    ns.setattr({ cred: root, inode: mine, mode: 0o444 });
    expect(await errno(() => serve(s, 'writeChunk', { cred: alice, inode: mine, index: 0 }))).toBe('no error');
  });
});

describe('ClientRequests: a subfolder export confines its sessions', () => {
  /** The tree: /pub (exported), /secret/payroll.txt, /shared, and a session admitted only to /pub. */
  function tree() {
    const t = setup('127.0.0.1 /pub rw\n127.0.0.1 . rw');
    const { ns } = t;
    const mk = (parent: number, name: string) => ns.mkdir({ cred: root, parent, name, mode: 0o777, umask: 0 }).attr.inode;
    const pub = mk(1, 'pub');
    const secret = mk(1, 'secret');
    const shared = mk(1, 'shared');
    const payroll = ns.mknod({ cred: root, parent: secret, name: 'payroll.txt', type: 'file', mode: 0o666, umask: 0, rdev: 0 }).attr.inode;
    const inPub = ns.mknod({ cred: root, parent: pub, name: 'f', type: 'file', mode: 0o666, umask: 0, rdev: 0 }).attr.inode;
    return { ...t, pub, secret, shared, payroll, inPub, s: t.register({ subdir: '/pub' }) };
  }

  it('refuses with EPERM every request that names a node outside, before anything changes', async () => {
    const { ns, serve, s, pub, secret, shared, payroll, mutations } = tree();
    const before = mutations.length;
    const refused = [
      () => serve(s, 'lookup', { cred: root, parent: secret, name: 'payroll.txt' }),
      () => serve(s, 'getattr', { inode: payroll }),
      () => serve(s, 'mkdir', { cred: root, parent: shared, name: 'x', mode: 0o777, umask: 0 }),
      () => serve(s, 'rename', { cred: root, parent: shared, name: 'x', newParent: pub, newName: 'x', flags: 0 }),
      () => serve(s, 'rename', { cred: root, parent: pub, name: 'f', newParent: shared, newName: 'f', flags: 0 }),
      () => serve(s, 'link', { cred: root, inode: payroll, parent: pub, name: 'p', }),
      () => serve(s, 'snapshot', { cred: root, inode: secret, parent: pub, name: 'copy', overwrite: false }),
      () => serve(s, 'setgoal', { cred: root, inode: secret, goal: 2, mode: 'set', recursive: true }),
      () => serve(s, 'readChunk', { inode: payroll, index: 0 }),
      () => serve(s, 'writeChunk', { cred: root, inode: payroll, index: 0 }),
      () => serve(s, 'getxattr', { cred: root, inode: payroll, name: 'user.x' }),
      () => serve(s, 'open', { cred: root, inode: payroll, flags: 0 }),
    ];
    for (const r of refused) expect(await errno(r)).toMatch(/^EPERM: inode \d+ is outside the session's export/);
    expect(mutations.length).toBe(before);
    expect(ns.md.lookup(pub, 'copy')).toBeUndefined();
    // Inside, everything is served; '..' of the root is the root.
    expect((await serve(s, 'lookup', { cred: root, parent: pub, name: '..' })).attr.inode).toBe(pub);
    expect((await serve(s, 'readdir', { cred: root, inode: pub, cookie: 0, max: 100, withAttrs: false })).entries.map((e) => e.name)).toEqual(['f']);
  });

  it('reads inode 1 as the session root, as MooseFS does (the mount and the tools show the root as 1)', async () => {
    const { serve, s, pub } = tree();
    expect((await serve(s, 'readdir', { cred: root, inode: 1, cookie: 0, max: 100, withAttrs: false })).entries.map((e) => e.name)).toEqual(['f']);
    expect((await serve(s, 'getattr', { inode: 1 })).attr.inode).toBe(pub);
    // The recursion covers /pub and its file, not the six nodes of the tree (maproot=999 owns none of them).
    expect(await serve(s, 'setgoal', { cred: root, inode: 1, goal: 2, mode: 'set', recursive: true })).toEqual({ changed: 0, notChanged: 0, denied: 2 });
  });

  it('answers ENOENT for inodes that do not exist or have no name left, and serves files it holds open', async () => {
    const { ns, serve, s, pub, inPub, register } = tree();
    expect(await errno(() => serve(s, 'getattr', { inode: 0xffff_ffff }))).toMatch(/^ENOENT/);
    await serve(s, 'open', { cred: root, inode: inPub, flags: 2 });
    // Unlinked while open (POSIX keeps the descriptor working), then moved out of reach.
    ns.setattr({ cred: root, inode: inPub, mode: 0o666 });
    await serve(s, 'unlink', { cred: root, parent: pub, name: 'f' });
    expect((await serve(s, 'getattr', { inode: inPub })).attr.nlink).toBe(0);
    expect(await errno(() => serve(register({ subdir: '/pub' }), 'getattr', { inode: inPub }))).toMatch(/^ENOENT/);
    // A meta session names only trashed and sustained files.
    const meta = register({ meta: true });
    expect((await serve(meta, 'getattr', { inode: inPub })).attr.inode).toBe(inPub);
    expect(await errno(() => serve(meta, 'getattr', { inode: pub }))).toMatch(/^EPERM: inode \d+ is neither in trash nor sustained/);
  });

  it('follows renames: a directory moved out is outside, one moved in is inside', async () => {
    const { ns, serve, s, pub, secret } = tree();
    const d = ns.mkdir({ cred: root, parent: pub, name: 'd', mode: 0o777, umask: 0 }).attr.inode;
    const deep = ns.mkdir({ cred: root, parent: d, name: 'e', mode: 0o777, umask: 0 }).attr.inode;
    expect((await serve(s, 'getattr', { inode: deep })).attr.inode).toBe(deep);
    ns.rename({ cred: root, parent: pub, name: 'd', newParent: secret, newName: 'd', flags: 0 });
    expect(await errno(() => serve(s, 'getattr', { inode: deep }))).toMatch(/^EPERM/);
    ns.rename({ cred: root, parent: secret, name: 'd', newParent: pub, newName: 'd2', flags: 0 });
    expect((await serve(s, 'getattr', { inode: deep })).attr.inode).toBe(deep);
  });

  it('costs a lookup, not a walk, deep in a tree: 100,000 nested mkdirs through the export', async () => {
    const { serve, s, pub } = tree();
    let dir = pub;
    for (let i = 0; i < 100_000; i++) dir = (await serve(s, 'mkdir', { cred: root, parent: dir, name: 'd', mode: 0o755, umask: 0 })).attr.inode;
    expect((await serve(s, 'getattr', { inode: dir })).attr.type).toBe('dir');
  });
});
