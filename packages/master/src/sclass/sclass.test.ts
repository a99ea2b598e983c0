import { describe, expect, it } from 'vitest';
import { frameDump, unframeDump } from '@tsmfs/metastore';
import { applyMutation } from '../metadata/apply.js';
import { decodeDump, encodeDump } from '../metadata/metadata-dump.js';
import { createEmptyMetadata } from '../metadata/metadata.js';
import { ALICE, ROOT, freshLive } from '../metadata/namespace-ops.test-helpers.js';
import { canonicalState } from '../metadata/state-digest.js';
import type { SClassRights } from './sclass-requests.js';

const ADMIN: SClassRights = { admin: true, minGoal: 1, maxGoal: 9 };
const PLAIN: SClassRights = { admin: false, minGoal: 1, maxGoal: 9 };
const errno = (status: number) => expect.objectContaining({ status });
const EPERM = errno(1);
const ENOENT = errno(2);
const EBUSY = errno(16);
const EEXIST = errno(17);
const EINVAL = errno(22);

function setup() {
  const live = freshLive(false);
  const { ns, md } = live;
  ns.setattr({ cred: ROOT, inode: 1, mode: 0o777 });
  const mkfile = (parent: number, name: string, cred = ROOT) => ns.mknod({ cred, parent, name, type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr.inode;
  const mkdir = (parent: number, name: string, cred = ROOT) => ns.mkdir({ cred, parent, name, mode: 0o777, umask: 0 }).attr.inode;
  const create = (name: string, keep: string, more: Partial<{ create: string; archive: string; archiveDelay: number; adminOnly: boolean; mode: 'default' | 'strict' | 'loose' }> = {}, rights = ADMIN, cred = ROOT) =>
    ns.sclasses.create(rights, { cred, name, adminOnly: false, mode: 'default', create: '', keep, archive: '', archiveDelay: 0, ...more });
  const names = () => ns.sclasses.list().classes.map((c) => c.name);
  /** Replay and a dump give the same state as the live one. */
  const consistent = () => {
    const replayed = createEmptyMetadata({ sec: 1_700_000_000, nsec: 0 });
    for (const m of live.log) applyMutation(replayed, structuredClone(m));
    expect(canonicalState(replayed)).toEqual(canonicalState(md));
    expect(canonicalState(decodeDump(encodeDump(md)))).toEqual(canonicalState(md));
  };
  return { live, ns, md, mkfile, mkdir, create, names, consistent };
}

describe('storage classes', () => {
  it('start with the goals 1-9 as classes; goal N is class N, setgoal is setsclass', () => {
    const { ns, md, mkfile, names } = setup();
    expect(names()).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(ns.sclasses.list().classes[2]).toMatchObject({ id: 3, name: '3', keep: '[*] , [*] , [*]', create: '[*] , [*] , [*]', mode: 'default', adminOnly: false });
    const f = mkfile(1, 'f');
    ns.setgoal({ cred: ROOT, inode: f, goal: 3, mode: 'set', recursive: false });
    expect(ns.sclasses.getsclass({ inode: f, recursive: false }).histogram).toEqual([{ id: 3, name: '3', files: 1, dirs: 0 }]);
    ns.sclasses.setsclass(ADMIN, { cred: ROOT, inode: f, name: '5', recursive: false });
    expect(ns.getgoal({ inode: f, recursive: false }).histogram[0]!.value).toBe(5);
    expect(md.sclasses.copies(md.goal[f]!)).toBe(5);
  });

  it('create, change, copy, rename, delete: as mfsscadmin, refusing what it refuses', () => {
    const { ns, md, mkfile, create, names, consistent } = setup();
    create('fast', 'A,B', { create: 'a , a', mode: 'strict' });
    expect(ns.sclasses.list().classes.at(-1)).toMatchObject({ id: 10, name: 'fast', keep: '[A] , [B]', create: '[A] , [A]', archive: '[A] , [B]', mode: 'strict', files: 0, dirs: 0 });
    expect(md.sclasses.get(10)).toMatchObject({ keep: 'A,B', create: 'A,A', archive: '' });
    expect(md.sclasses.copies(10)).toBe(2);
    // The admin option and root (after mapping) are both needed.
    expect(() => create('x', '2', {}, PLAIN)).toThrow(EPERM);
    expect(() => create('x', '2', {}, ADMIN, ALICE)).toThrow(EPERM);
    expect(() => create('fast', '2')).toThrow(EEXIST);
    expect(() => create('x', 'A+')).toThrow(EINVAL);
    expect(() => create('x', 'A', { archive: 'B' })).toThrow(EINVAL);
    expect(() => create('', 'A')).toThrow(EINVAL);
    // Predefined classes change only with force, and are never deleted or renamed.
    expect(() => ns.sclasses.change(ADMIN, { cred: ROOT, name: '2', force: false, keep: 'A,B' })).toThrow(EPERM);
    expect(() => ns.sclasses.delete(ADMIN, { cred: ROOT, name: '2' })).toThrow(EPERM);
    expect(() => ns.sclasses.rename(ADMIN, { cred: ROOT, src: '2', dst: 'two' })).toThrow(EPERM);
    ns.sclasses.change(ADMIN, { cred: ROOT, name: 'fast', force: false, keep: '3A', archive: 'C', archiveDelay: 7 });
    expect(md.sclasses.copies(10)).toBe(3);
    ns.sclasses.copy(ADMIN, { cred: ROOT, src: 'fast', dst: 'fast2' });
    ns.sclasses.rename(ADMIN, { cred: ROOT, src: 'fast2', dst: 'slow' });
    expect(ns.sclasses.list().classes.at(-1)).toMatchObject({ id: 11, name: 'slow', keep: '[A] , [A] , [A]', archive: '[C]', archiveDelay: 7 });
    // A class in use is not deleted (a file in the trash is still in it).
    const f = mkfile(1, 'f');
    ns.sclasses.setsclass(ADMIN, { cred: ROOT, inode: f, name: 'slow', recursive: false });
    expect(() => ns.sclasses.delete(ADMIN, { cred: ROOT, name: 'slow' })).toThrow(EBUSY);
    ns.unlink({ cred: ROOT, parent: 1, name: 'f' });
    expect(() => ns.sclasses.delete(ADMIN, { cred: ROOT, name: 'slow' })).toThrow(EBUSY);
    ns.sclasses.delete(ADMIN, { cred: ROOT, name: 'fast' });
    expect(() => ns.sclasses.delete(ADMIN, { cred: ROOT, name: 'fast' })).toThrow(ENOENT);
    expect(names()).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', 'slow']);
    // The freed id is taken again by the next class.
    create('again', 'B');
    expect(ns.sclasses.list().classes.find((c) => c.name === 'again')!.id).toBe(10);
    consistent();
  });

  it('setsclass -r, xchgsclass: owner or root per node, admin-only classes for admin sessions, within the export goals', () => {
    const { ns, md, mkfile, mkdir, create, consistent } = setup();
    create('ab', 'A,B');
    create('vip', 'A', { adminOnly: true });
    const d = mkdir(1, 'd', ALICE);
    const a = mkfile(d, 'a', ALICE);
    const r = mkfile(d, 'r', ROOT);
    expect(ns.sclasses.setsclass(ADMIN, { cred: ALICE, inode: d, name: 'ab', recursive: true })).toEqual({ changed: 2, notChanged: 0, denied: 1 });
    expect(() => ns.sclasses.setsclass(ADMIN, { cred: ALICE, inode: r, name: 'ab', recursive: false })).toThrow(EPERM);
    expect(ns.sclasses.getsclass({ inode: d, recursive: true }).histogram).toEqual([
      { id: 1, name: '1', files: 1, dirs: 0 },
      { id: 10, name: 'ab', files: 1, dirs: 1 },
    ]);
    expect(() => ns.sclasses.setsclass(PLAIN, { cred: ROOT, inode: a, name: 'vip', recursive: false })).toThrow(EPERM);
    ns.sclasses.setsclass(ADMIN, { cred: ROOT, inode: a, name: 'vip', recursive: false });
    expect(() => ns.sclasses.setsclass({ admin: true, minGoal: 2, maxGoal: 9 }, { cred: ROOT, inode: a, name: 'vip', recursive: false })).toThrow(EPERM);
    // xchgsclass: only what is in the source class changes.
    expect(ns.sclasses.setsclass(ADMIN, { cred: ROOT, inode: d, name: '3', from: 'ab', recursive: true })).toEqual({ changed: 1, notChanged: 2, denied: 0 });
    expect([md.goal[d], md.goal[a], md.goal[r]]).toEqual([3, 11, 1]);
    expect(() => ns.sclasses.setsclass(ADMIN, { cred: ROOT, inode: a, name: 'nope', recursive: false })).toThrow(ENOENT);
    // A new node takes its directory's class.
    expect(md.goal[mkfile(d, 'n')]).toBe(3);
    // setgoal N+ keeps a class with more copies, N- one with fewer.
    create('four', '4A');
    ns.sclasses.setsclass(ADMIN, { cred: ROOT, inode: a, name: 'four', recursive: false });
    ns.setgoal({ cred: ROOT, inode: a, goal: 3, mode: 'increase', recursive: false });
    expect(md.goal[a]).toBe(12);
    ns.setgoal({ cred: ROOT, inode: a, goal: 3, mode: 'decrease', recursive: false });
    expect(md.goal[a]).toBe(3);
    consistent();
  });

  it('realsize counts the copies a class keeps, also when the class changes', () => {
    const { ns, md, mkfile, mkdir, create, consistent } = setup();
    const q = mkdir(1, 'q');
    const f = mkfile(q, 'f');
    const g = ns.writeChunk({ cred: ROOT, inode: f, index: 0 });
    ns.writeChunkEnd({ inode: f, index: 0, chunkId: g.chunkId, length: 65536, ok: true });
    ns.quotas.set(true, { cred: ROOT, inode: q, hard: { inodes: 100 }, soft: {} });
    create('x', 'A,B,C');
    ns.sclasses.setsclass(ADMIN, { cred: ROOT, inode: f, name: 'x', recursive: false });
    expect(md.quotas.get(q)!.usage.realsize).toBe(3 * (65536 + 8192));
    ns.sclasses.change(ADMIN, { cred: ROOT, name: 'x', force: false, keep: 'A' });
    expect(md.quotas.get(q)!.usage.realsize).toBe(65536 + 8192);
    consistent();
  });

  it('archive: by the delay after the last change, by setarchive; clrarchive restarts the delay', () => {
    const { ns, live, mkfile, mkdir, create, consistent } = setup();
    create('cold', 'A', { archive: 'B', archiveDelay: 2 });
    const d = mkdir(1, 'd');
    ns.sclasses.setsclass(ADMIN, { cred: ROOT, inode: d, name: 'cold', recursive: false });
    const f = mkfile(d, 'f');
    const g = mkfile(d, 'g', ALICE);
    const empty = mkfile(d, 'empty');
    for (const file of [f, g]) {
      const w = ns.writeChunk({ cred: ROOT, inode: file, index: 0 });
      ns.writeChunkEnd({ inode: file, index: 0, chunkId: w.chunkId, length: 100, ok: true });
    }
    const state = () => ns.sclasses.chkarchive({ inode: d });
    // A file without chunks counts neither way (MooseFS marks chunks, not files).
    expect(state()).toEqual({ archivedFiles: 0, notArchivedFiles: 2, archivedChunks: 0, notArchivedChunks: 2 });
    expect(ns.sclasses.chkarchive({ inode: empty })).toEqual({ archivedFiles: 0, notArchivedFiles: 0, archivedChunks: 0, notArchivedChunks: 0 });
    live.clock.sec += 2 * 86_400;
    expect(state().archivedFiles).toBe(2);
    // clrarchive: ALICE's own file only; its ctime moves, so the delay counts again.
    expect(ns.sclasses.archive({ cred: ALICE, inode: d, on: false })).toEqual({ changed: 1, notChanged: 0, denied: 2 });
    expect(state()).toMatchObject({ archivedFiles: 1, notArchivedFiles: 1 });
    expect(ns.sclasses.chkarchive({ inode: g }).archivedFiles).toBe(0);
    expect(ns.sclasses.chkarchive({ inode: f }).archivedFiles).toBe(1);
    ns.sclasses.archive({ cred: ROOT, inode: g, on: true });
    expect(state().archivedFiles).toBe(2);
    consistent();
    // A freed inode takes its flag with it.
    ns.setattr({ cred: ROOT, inode: d, mode: 0o777 });
    ns.settrashtime({ cred: ROOT, inode: g, trashtime: 0, mode: 'set', recursive: false });
    ns.unlink({ cred: ALICE, parent: d, name: 'g' });
    expect(live.md.sclasses.archived.has(g)).toBe(false);
    consistent();
  });

  it('a dump of an older format loads with the predefined classes only', () => {
    const { md, create, consistent } = setup();
    create('x', 'A,B');
    consistent();
    const dump = encodeDump(md);
    const frame = unframeDump(dump, [7]);
    // Format 5's payload is format 7's without its last two sections, the classes and the
    // ACLs (format 7), each a u32 length and the JSON.
    const json = JSON.stringify(md.sclasses) + JSON.stringify(md.acls);
    const old = frameDump(5, frame.version, frame.payload.subarray(0, frame.payload.length - 8 - Buffer.byteLength(json)));
    const back = decodeDump(old);
    expect(back.sclasses.ids()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(decodeDump(dump).sclasses.get(10)!.name).toBe('x');
  });
});
