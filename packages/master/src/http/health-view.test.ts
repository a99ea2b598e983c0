import type { Connection } from '@tsmfs/rpc';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ChunkManager } from '../chunks/chunk-manager.js';
import { createEmptyMetadata } from '../metadata/metadata.js';
import { Namespace } from '../metadata/namespace.js';
import type { SClassRights } from '../sclass/sclass-requests.js';
import { healthClass, healthView } from './health-view.js';

const ROOT = { uid: 0, gid: 0, groups: [0] };
const ADMIN: SClassRights = { admin: true, minGoal: 1, maxGoal: 9 };
const link = { closed: false, socket: { remoteAddress: '127.0.0.1' }, request: () => new Promise(() => {}) } as unknown as Connection;

/** Three chunkservers, and files of one chunk each whose copies the test places. */
function setup() {
  let t = 1_700_000_000;
  const clock = () => ({ sec: t++, nsec: 0 });
  const ns = new Namespace(createEmptyMetadata(clock()), () => undefined, clock);
  const chunks = new ChunkManager({ md: () => ns.md, epoch: () => 1, leaseTimeoutMs: 1000, limits: { writesPerServer: [10, 10, 10, 10], readsPerServer: [10, 10, 10, 10], global: 10, deletesPerServer: 10 }, log: pino({ level: 'silent' }) });
  const cs = [0, 1, 2].map((i) => chunks.register({ host: '127.0.0.1', port: i + 1, labels: [], totalSpace: 1e12, usedSpace: 0, chunkCount: 0 }, link));
  for (const c of cs) chunks.report(c, [], true);
  const file = (name: string, sclass: string, copies: number, marked = 0) => {
    const inode = ns.mknod({ cred: ROOT, parent: 1, name, type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr.inode;
    ns.sclasses.setsclass(ADMIN, { cred: ROOT, inode, name: sclass, recursive: false });
    const g = ns.writeChunk({ cred: ROOT, inode, index: 0 });
    ns.writeChunkEnd({ inode, index: 0, chunkId: g.chunkId, length: 1000, ok: true });
    // The first `marked` copies are on disks marked for removal.
    for (let i = 0; i < copies; i++) chunks.copies.set(g.chunkId, cs[i]!.csid, g.version, false, i < marked ? '/hdd1' : undefined);
    return inode;
  };
  return { ns, chunks, file, view: (now = t) => healthView({ md: () => ns.md, chunks }, now) };
}

describe('health matrix (mfscli -SIC)', () => {
  it("MooseFS's classes of a cell", () => {
    expect(healthClass(0, 0)).toBe('toBeRemoved');
    expect(healthClass(0, 2)).toBe('pendingDeletion');
    expect(healthClass(2, 0)).toBe('missing');
    expect(healthClass(3, 1)).toBe('endangered');
    expect(healthClass(1, 1)).toBe('stable');
    expect(healthClass(3, 2)).toBe('undergoal');
    expect(healthClass(2, 3)).toBe('overgoal');
  });

  it("counts a chunk against the copies its class keeps, or its archive labels' once archived; 'regular' leaves out copies on disks marked for removal", () => {
    const { ns, file, view } = setup();
    ns.sclasses.create(ADMIN, { cred: ROOT, name: 'two', adminOnly: false, mode: 'default', create: '', keep: 'A,B', archive: '', archiveDelay: 0 });
    ns.sclasses.create(ADMIN, { cred: ROOT, name: 'cold', adminOnly: false, mode: 'default', create: '', keep: 'A,B,C', archive: 'C', archiveDelay: 30 });
    file('g1', '1', 1);
    file('two', 'two', 1); // a named class keeping 2: goal 2, endangered
    file('cold', 'cold', 2); // keeps 3: goal 3, undergoal
    const arch = file('arch', 'cold', 2); // archived below: goal 1, overgoal
    file('g3', '3', 3, 1); // at goal, but one copy on a marked disk
    file('lost', '2', 0);
    ns.sclasses.archive({ cred: ROOT, inode: arch, on: true });
    const h = view();
    expect(h.matrix.length).toBe(11);
    const cells = (m: number[][]) => m.flatMap((row, goal) => row.flatMap((n, copies) => (n > 0 ? [[goal, copies, n]] : [])));
    expect(cells(h.matrix)).toEqual([[1, 1, 1], [1, 2, 1], [2, 0, 1], [2, 1, 1], [3, 2, 1], [3, 3, 1]]);
    expect(h.classes.all).toEqual({ missing: 1, endangered: 1, undergoal: 1, stable: 2, overgoal: 1, pendingDeletion: 0, toBeRemoved: 0 });
    expect(cells(h.regular)).toEqual([[1, 1, 1], [1, 2, 1], [2, 0, 1], [2, 1, 1], [3, 2, 2]]);
    expect(h.classes.regular).toEqual({ missing: 1, endangered: 1, undergoal: 2, stable: 1, overgoal: 1, pendingDeletion: 0, toBeRemoved: 0 });
    expect({ lost: h.lost, underGoal: h.underGoal, overGoal: h.overGoal, ok: h.ok }).toEqual({ lost: 1, underGoal: 2, overGoal: 1, ok: 2 });
    // The archive delay passes for the other cold file too: its goal is then 1.
    expect(cells(view(2_000_000_000).matrix)).toContainEqual([1, 2, 2]);
  });

  it('a freed chunk is goal 0: pending deletion while copies are left, to be removed once none is', () => {
    const { ns, chunks, file, view } = setup();
    const f = file('f', '2', 2);
    const id = ns.md.chunks.ids().next().value as number;
    expect(view().classes.all).toMatchObject({ stable: 1, pendingDeletion: 0 });
    ns.settrashtime({ cred: ROOT, inode: f, trashtime: 0, mode: 'set', recursive: false });
    ns.unlink({ cred: ROOT, parent: 1, name: 'f' });
    expect(ns.md.chunks.toDelete).toEqual([id]);
    expect(view().matrix[0]![2]).toBe(1);
    expect(view().classes.all).toMatchObject({ stable: 0, pendingDeletion: 1, toBeRemoved: 0 });
    for (const [csid] of [...chunks.copies.of(id)]) chunks.copies.remove(id, csid);
    expect(view().classes.all).toMatchObject({ pendingDeletion: 0, toBeRemoved: 1 });
  });
});
