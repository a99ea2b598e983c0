/**
 * makesnapshot -c and -p, appendchunks -s: what the master makes of each, as MooseFS
 * 3.0.117's tools made it on a MooseFS mount (test/cli-tools.test.ts compares the two
 * side by side), and every case replayed from the changelog and a dump to the same state.
 */
import { ACL_DEFAULT_XATTR, CHUNK_SIZE, EATTR, encodeAclXattr } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import { applyMutation } from './apply.js';
import { chunkSlice } from './append-slice.js';
import { decodeDump, encodeDump } from './metadata-dump.js';
import { createEmptyMetadata } from './metadata.js';
import { ALICE, BOB, ROOT, errnoOf, freshLive } from './namespace-ops.test-helpers.js';
import { canonicalState } from './state-digest.js';

function setup() {
  const live = freshLive(false);
  const { ns, md } = live;
  ns.setattr({ cred: ROOT, inode: 1, mode: 0o777 });
  const mkfile = (parent: number, name: string, cred = ALICE, mode = 0o644) => ns.mknod({ cred, parent, name, type: 'file', mode, umask: 0, rdev: 0 }).attr.inode;
  const mkdir = (parent: number, name: string, cred = ALICE, mode = 0o755) => ns.mkdir({ cred, parent, name, mode, umask: 0 }).attr.inode;
  /** Data in chunk `index` of `inode`, the file `length` bytes long after it. */
  const write = (inode: number, index: number, length: number) => {
    const g = ns.writeChunk({ cred: ROOT, inode, index });
    ns.writeChunkEnd({ inode, index, chunkId: g.chunkId, length, ok: true });
    return g.chunkId;
  };
  const replayEqualsLive = () => {
    const fresh = createEmptyMetadata({ sec: 1_700_000_000, nsec: 0 });
    for (const m of live.log) applyMutation(fresh, structuredClone(m));
    expect(canonicalState(fresh)).toEqual(canonicalState(md));
    expect(canonicalState(decodeDump(encodeDump(md)))).toEqual(canonicalState(md));
  };
  const at = (dir: number, path: string) => path.split('/').reduce((d, n) => md.lookup(d, n)!, dir);
  return { live, ns, md, mkfile, mkdir, write, replayEqualsLive, at };
}

describe('makesnapshot -c: the copies as the caller\'s cp would make them', () => {
  it('owner the caller, mode less the umask with setuid/setgid kept, times now, goal and attributes of the new directory, no xattrs', () => {
    const { ns, md, mkfile, mkdir, replayEqualsLive, at } = setup();
    const src = mkdir(1, 'src', ALICE);
    ns.setattr({ cred: ALICE, inode: src, mode: 0o2775 });
    const f = mkfile(src, 'f', ALICE, 0o4755);
    // A file of another user: its setuid/setgid bits stay with -c (MooseFS 3.0.117 keeps them, as its mode & ~umask does).
    const g = mkfile(src, 'g', ROOT, 0o6755);
    ns.setattr({ cred: ROOT, inode: g, mode: 0o6755 });
    ns.setxattr({ cred: ALICE, inode: f, name: 'user.a', value: Buffer.from('1'), flags: 0 });
    ns.setattr({ cred: ALICE, inode: f, mtime: { sec: 1_577_934_245, nsec: 0 } });
    ns.setgoal({ cred: ROOT, inode: f, goal: 3, mode: 'set', recursive: false });
    ns.eattrs.seteattr({ cred: ROOT, inode: f, set: EATTR.nodatacache, clear: 0, recursive: false }, true);
    const dst = mkdir(1, 'dst', ROOT, 0o777);
    ns.setgoal({ cred: ROOT, inode: dst, goal: 2, mode: 'set', recursive: false });
    ns.settrashtime({ cred: ROOT, inode: dst, trashtime: 3600, mode: 'set', recursive: false });
    ns.eattrs.seteattr({ cred: ROOT, inode: dst, set: EATTR.noattrcache, clear: 0, recursive: false }, true);
    const before = md.attr(f);
    ns.snapshot({ cred: ALICE, inode: src, parent: dst, name: 'c', overwrite: false, cplike: true, umask: 0o027 });
    const c = md.attr(at(dst, 'c'));
    const cf = md.attr(at(dst, 'c/f'));
    const cg = md.attr(at(dst, 'c/g'));
    expect([c.mode, cf.mode, cg.mode].map((m) => m.toString(8))).toEqual(['2750', '4750', '6750']);
    expect([c, cf, cg].map((a) => [a.uid, a.gid])).toEqual([[1000, 1000], [1000, 1000], [1000, 1000]]);
    // Times: all three now (the snapshot's), none kept from the source.
    expect(cf.mtime.sec).toBeGreaterThan(before.mtime.sec);
    expect([cf.atime, cf.mtime]).toEqual([cf.ctime, cf.ctime]);
    expect([cf.goal, cf.trashtime, c.goal, c.trashtime]).toEqual([2, 3600, 2, 3600]);
    expect([c.eattr, cf.eattr]).toEqual([EATTR.noattrcache | EATTR.snapshot, EATTR.noattrcache | EATTR.snapshot]);
    expect(ns.listxattr({ cred: ALICE, inode: cf.inode }).names).toEqual([]);
    // The chunks are shared all the same.
    expect(md.chunkEntries(cf.inode)).toEqual(md.chunkEntries(f));
    replayEqualsLive();
  });

  it('under a setgid directory the group is the directory\'s; a directory with a default ACL masks the mode instead of the umask and passes the ACL on', () => {
    const { ns, md, mkfile, mkdir, replayEqualsLive, at } = setup();
    const src = mkdir(1, 'src', ALICE, 0o755);
    mkfile(src, 'f', ALICE, 0o644);
    const sg = mkdir(1, 'sg', ROOT, 0o777);
    ns.setattr({ cred: ROOT, inode: sg, gid: 2000, mode: 0o2777 });
    ns.snapshot({ cred: ALICE, inode: src, parent: sg, name: 'c', overwrite: false, cplike: true, umask: 0o022 });
    // The copy takes the group but, unlike mkdir, no setgid bit of its own (MooseFS 3.0.117).
    expect([md.attr(at(sg, 'c')).gid, md.attr(at(sg, 'c')).mode.toString(8), md.attr(at(sg, 'c/f')).gid]).toEqual([2000, '755', 1000]);
    const withAcl = mkdir(1, 'acl', ROOT, 0o777);
    const dflt = encodeAclXattr([{ tag: 0x01, perm: 7 }, { tag: 0x02, perm: 7, id: 1234 }, { tag: 0x04, perm: 5 }, { tag: 0x10, perm: 7 }, { tag: 0x20, perm: 0 }]);
    ns.setxattr({ cred: ROOT, inode: withAcl, name: ACL_DEFAULT_XATTR, value: dflt, flags: 0 });
    ns.snapshot({ cred: ALICE, inode: src, parent: withAcl, name: 'c', overwrite: false, cplike: true, umask: 0o022 });
    // mfsmakesnapshot -c gave 750 and 640 under this ACL (setfacl -d -m u::rwx,g::r-x,o::---,u:1234:rwx,m::rwx).
    expect([md.attr(at(withAcl, 'c')).mode.toString(8), md.attr(at(withAcl, 'c/f')).mode.toString(8)]).toEqual(['750', '640']);
    expect(md.acls.default(at(withAcl, 'c'))).toBeDefined();
    expect(md.acls.access(at(withAcl, 'c/f'))).toBeDefined();
    replayEqualsLive();
  });

  it('over an existing tree (-o -c) the merged nodes become the caller\'s with the source\'s mode less the umask', () => {
    const { ns, md, mkfile, mkdir, replayEqualsLive, at } = setup();
    const src = mkdir(1, 'src', ALICE, 0o755);
    mkfile(src, 'f', ALICE, 0o666);
    ns.snapshot({ cred: ROOT, inode: src, parent: 1, name: 'old', overwrite: false });
    ns.setattr({ cred: ROOT, inode: at(1, 'old/f'), uid: 1001, gid: 1001 });
    ns.snapshot({ cred: ALICE, inode: src, parent: 1, name: 'old', overwrite: true, cplike: true, umask: 0o077 });
    expect([md.attr(at(1, 'old/f')).uid, md.attr(at(1, 'old/f')).mode.toString(8)]).toEqual([1000, '600']);
    replayEqualsLive();
  });

  it('without -c a non-owner\'s copy is the caller\'s without setuid/setgid, the owner\'s keeps the group, both keep the source\'s times', () => {
    const { live, ns, md, mkfile, mkdir, replayEqualsLive, at } = setup();
    const src = mkdir(1, 'src', ROOT, 0o755);
    const f = mkfile(src, 'f', ROOT, 0o4755);
    ns.setattr({ cred: ROOT, inode: f, mtime: { sec: 1_577_934_245, nsec: 0 } });
    ns.snapshot({ cred: BOB, inode: src, parent: 1, name: 'p', overwrite: false });
    expect([md.attr(at(1, 'p/f')).uid, md.attr(at(1, 'p/f')).mode.toString(8), md.attr(at(1, 'p/f')).mtime.sec]).toEqual([1001, '755', 1_577_934_245]);
    // The owner's copy keeps the source's group, not the caller's (MooseFS 3.0).
    const mine = mkfile(1, 'mine', ALICE, 0o2755);
    ns.setattr({ cred: ROOT, inode: mine, gid: 3000, mode: 0o2755 });
    ns.snapshot({ cred: ALICE, inode: mine, parent: 1, name: 'mine2', overwrite: false });
    expect([md.attr(at(1, 'mine2')).gid, md.attr(at(1, 'mine2')).mode.toString(8)]).toEqual([3000, '2755']);
    replayEqualsLive();
    // An entry logged before the rule (no ownerRule) replays as it was applied then: bits kept, the caller's group.
    const old = createEmptyMetadata({ sec: 1_700_000_000, nsec: 0 });
    for (const m of live.log) applyMutation(old, m.op === 'snapshot' ? { ...structuredClone(m), ownerRule: undefined } : structuredClone(m));
    expect([old.mode[at(1, 'p/f')]!.toString(8), old.gid[at(1, 'mine2')]]).toEqual(['4755', 1000]);
  });
});

describe('makesnapshot -p: hard links inside the source stay hard links', () => {
  it('names of one file in the source are names of one copy; without -p each is a file of its own', () => {
    const { ns, md, mkfile, mkdir, write, replayEqualsLive, at } = setup();
    const src = mkdir(1, 'src');
    const sub = mkdir(src, 'sub');
    const f = mkfile(src, 'f');
    write(f, 0, 100);
    ns.link({ cred: ALICE, inode: f, parent: src, name: 'hl' });
    ns.link({ cred: ALICE, inode: f, parent: sub, name: 'hl2' });
    // A file with a second name outside the source: one copy, one name.
    const out = mkfile(src, 'out');
    ns.link({ cred: ALICE, inode: out, parent: 1, name: 'outside' });
    const plain = ns.snapshot({ cred: ALICE, inode: src, parent: 1, name: 'plain', overwrite: false }).attr.inode;
    const names = ['f', 'hl', 'sub/hl2'];
    expect(new Set(names.map((n) => at(plain, n))).size).toBe(3);
    expect(names.map((n) => md.nlink[at(plain, n)])).toEqual([1, 1, 1]);
    const used = md.nextInode;
    const p = ns.snapshot({ cred: ALICE, inode: src, parent: 1, name: 'p', overwrite: false, preserveHardlinks: true }).attr.inode;
    expect(new Set(names.map((n) => at(p, n))).size).toBe(1);
    expect(md.nlink[at(p, 'f')]).toBe(3);
    expect(md.nlink[at(p, 'out')]).toBe(1);
    // Fewer nodes: p, sub, f and out.
    expect(md.nextInode - used).toBe(4);
    // The copy's directories keep their snapshot mark (a link inside the snapshot is not a change of it).
    expect([md.eattr[p]! & EATTR.snapshot, md.eattr[at(p, 'sub')]! & EATTR.snapshot]).toEqual([EATTR.snapshot, EATTR.snapshot]);
    expect(md.chunkEntries(at(p, 'f'))).toEqual(md.chunkEntries(f));
    // Removing a name of the copy leaves the others.
    ns.unlink({ cred: ALICE, parent: p, name: 'hl' });
    expect(md.nlink[at(p, 'f')]).toBe(2);
    // -c -p together: one copy, the caller's.
    ns.snapshot({ cred: BOB, inode: src, parent: 1, name: 'cp', overwrite: false, cplike: true, umask: 0o022, preserveHardlinks: true });
    expect([md.nlink[at(1, 'cp/f')], md.uid[at(1, 'cp/sub/hl2')]]).toEqual([3, 1001]);
    replayEqualsLive();
  });
});

describe('appendchunks -s FROM:TO', () => {
  it('resolves slices as Python does, over the source\'s length in chunks (the man page\'s SLICES, and the edge cases mfsappendchunks showed)', () => {
    const cases: [number | undefined, number | undefined, [number, number]][] = [
      [2, 4, [2, 4]],
      [3, undefined, [3, 5]],
      [undefined, 5, [0, 5]],
      [undefined, -1, [0, 4]],
      [-4, -2, [1, 3]],
      [undefined, undefined, [0, 5]],
      [0, 0, [0, 0]],
      [3, 2, [3, 2]],
      [7, undefined, [5, 5]],
      [undefined, 9, [0, 5]],
      [-9, undefined, [0, 5]],
      [-9, 2, [0, 2]],
      [1, -9, [1, 0]],
    ];
    for (const [from, to, want] of cases) expect([from, to, Object.values(chunkSlice(5, from, to))]).toEqual([from, to, want]);
  });

  it('appends the slice after the padding; to the end keeps the source\'s tail, short of it whole chunks; negative and empty slices', () => {
    const { ns, md, mkfile, write, replayEqualsLive } = setup();
    const src = mkfile(1, 'src');
    // Chunks 0..4, the last 11 bytes long (mfsappendchunks's test file).
    const ids = [0, 1, 2, 3, 4].map((i) => write(src, i, i * CHUNK_SIZE + 11));
    const append = (name: string, from?: number, to?: number, start = 0) => {
      const dst = mkfile(1, name);
      if (start > 0) write(dst, 0, start);
      const attr = ns.appendChunks({ cred: ALICE, inode: dst, src, ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) }).attr;
      return { size: attr.size, chunks: md.chunkEntries(dst).filter(([i]) => start === 0 || i > 0).map(([i, id]) => [i, ids.indexOf(id)]) };
    };
    expect(append('a', 2, 4)).toEqual({ size: 2 * CHUNK_SIZE, chunks: [[0, 2], [1, 3]] });
    expect(append('b', 3)).toEqual({ size: CHUNK_SIZE + 11, chunks: [[0, 3], [1, 4]] });
    expect(append('c', undefined, -1)).toEqual({ size: 4 * CHUNK_SIZE, chunks: [[0, 0], [1, 1], [2, 2], [3, 3]] });
    expect(append('d', -4, -2)).toEqual({ size: 2 * CHUNK_SIZE, chunks: [[0, 1], [1, 2]] });
    expect(append('e', -9, 2)).toEqual({ size: 2 * CHUNK_SIZE, chunks: [[0, 0], [1, 1]] });
    // After a destination's 10 bytes: padded to a chunk, then the slice.
    expect(append('f', 1, 2, 10)).toEqual({ size: 2 * CHUNK_SIZE, chunks: [[1, 1]] });
    // Empty slices change nothing, not even the padding.
    for (const [from, to] of [[0, 0], [3, 2], [7, undefined], [1, -9]] as const) expect(append(`empty${from}${to}`, from, to, 10)).toEqual({ size: 10, chunks: [] });
    // Each chunk: its source's and one per slice holding it.
    expect(ids.map((id) => md.chunks.refcount[id])).toEqual([3, 5, 4, 4, 2]);
    replayEqualsLive();
  });

  it('a hole counts as a chunk, the slice is of the length\'s chunks; a file appended to itself is EINVAL; an empty source changes nothing', () => {
    const { ns, md, mkfile, write, replayEqualsLive } = setup();
    const sp = mkfile(1, 'sp');
    const c0 = write(sp, 0, 11);
    const c2 = write(sp, 2, 2 * CHUNK_SIZE + 11);
    ns.setattr({ cred: ROOT, inode: sp, size: 4 * CHUNK_SIZE });
    const dst = mkfile(1, 'dst');
    expect(ns.appendChunks({ cred: ALICE, inode: dst, src: sp, from: 1 }).attr.size).toBe(3 * CHUNK_SIZE);
    expect(md.chunkEntries(dst)).toEqual([[1, c2]]);
    const last = mkfile(1, 'last');
    expect(ns.appendChunks({ cred: ALICE, inode: last, src: sp, from: -1 }).attr.size).toBe(CHUNK_SIZE);
    expect(md.chunkEntries(last)).toEqual([]);
    expect(errnoOf(() => ns.appendChunks({ cred: ALICE, inode: sp, src: sp, from: 0, to: 0 }))).toBe('EINVAL');
    const ten = mkfile(1, 'ten');
    write(ten, 0, 10);
    expect(ns.appendChunks({ cred: ALICE, inode: ten, src: mkfile(1, 'empty') }).attr.size).toBe(10);
    expect(md.chunkEntries(sp)).toEqual([[0, c0], [2, c2]]);
    replayEqualsLive();
  });
});
