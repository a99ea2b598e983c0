import fc from 'fast-check';
import { CHUNK_SIZE } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import { applyMutation } from '../metadata/apply.js';
import { decodeDump, encodeDump } from '../metadata/metadata-dump.js';
import { createEmptyMetadata } from '../metadata/metadata.js';
import { ALICE, ROOT, errnoOf, extraOpArb, freshLive, opArb, runOp } from '../metadata/namespace-ops.test-helpers.js';
import { canonicalState } from '../metadata/state-digest.js';
import { quotaStatfs } from './quota-statfs.js';
import { subtreeUsage } from './quota-usage.js';

const KiB64 = 64 * 1024;
/** Each chunk's header counts in size, as in MooseFS (CHUNK_HEADER_SIZE). */
const HDR = 8 * 1024;

function setup() {
  const live = freshLive(false);
  const { ns, md } = live;
  ns.setattr({ cred: ROOT, inode: 1, mode: 0o777 });
  const mkfile = (parent: number, name: string) => ns.mknod({ cred: ROOT, parent, name, type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr.inode;
  const mkdir = (parent: number, name: string) => ns.mkdir({ cred: ROOT, parent, name, mode: 0o777, umask: 0 }).attr.inode;
  const write = (inode: number, index: number, length: number) => {
    const g = ns.writeChunk({ cred: ROOT, inode, index });
    ns.writeChunkEnd({ inode, index, chunkId: g.chunkId, length, ok: true });
  };
  const setq = (inode: number, hard: Record<string, number>, soft: Record<string, number> = {}, grace?: number) =>
    ns.quotas.set(true, { cred: ROOT, inode, hard, soft, ...(grace === undefined ? {} : { grace }) });
  const usage = (dir: number) => md.quotas.get(dir)!.usage;
  /** The kept usage must be what a walk counts, and replay and a dump must give the same. */
  const consistent = () => {
    for (const [dir, q] of md.quotas.byDir) expect(q.usage, `quota of ${dir}`).toEqual(subtreeUsage(md, dir, false));
    const replayed = createEmptyMetadata({ sec: 1_700_000_000, nsec: 0 });
    for (const m of live.log) applyMutation(replayed, structuredClone(m));
    expect(canonicalState(replayed)).toEqual(canonicalState(md));
    expect(canonicalState(decodeDump(encodeDump(md)))).toEqual(canonicalState(md));
  };
  return { live, ns, md, mkfile, mkdir, write, setq, usage, consistent };
}

describe('quota usage', () => {
  it('counts what is inside the directory: nodes, lengths, chunk sizes and goal', () => {
    const { ns, mkdir, mkfile, write, setq, usage, consistent } = setup();
    const q = mkdir(1, 'q');
    const f = mkfile(q, 'f');
    write(f, 0, 100_000);
    setq(q, { inodes: 100 });
    // The quota directory itself is not counted (as MooseFS): f alone.
    expect(usage(q)).toEqual({ inodes: 1, length: 100_000, size: 2 * KiB64 + HDR, realsize: 2 * KiB64 + HDR });
    ns.setgoal({ cred: ROOT, inode: q, goal: 3, mode: 'set', recursive: true });
    expect(usage(q).realsize).toBe(3 * (2 * KiB64 + HDR));
    write(f, 1, CHUNK_SIZE + 1);
    expect(usage(q)).toEqual({ inodes: 1, length: CHUNK_SIZE + 1, size: CHUNK_SIZE + KiB64 + 2 * HDR, realsize: 3 * (CHUNK_SIZE + KiB64 + 2 * HDR) });
    ns.setattr({ cred: ROOT, inode: f, size: 10 });
    expect(usage(q)).toEqual({ inodes: 1, length: 10, size: KiB64 + HDR, realsize: 3 * (KiB64 + HDR) });
    consistent();
  });

  it('moves usage with a renamed file or tree between quota directories', () => {
    const { ns, mkdir, mkfile, write, setq, usage, consistent } = setup();
    const q1 = mkdir(1, 'q1');
    const q2 = mkdir(1, 'q2');
    const d = mkdir(q1, 'd');
    write(mkfile(d, 'f'), 0, 1000);
    mkfile(d, 'g');
    setq(q1, { inodes: 100 });
    setq(q2, { inodes: 100 });
    expect(usage(q1)).toMatchObject({ inodes: 3, length: 1000 });
    ns.rename({ cred: ROOT, parent: q1, name: 'd', newParent: q2, newName: 'd', flags: 0 });
    expect(usage(q1)).toMatchObject({ inodes: 0, length: 0, size: 0 });
    expect(usage(q2)).toMatchObject({ inodes: 3, length: 1000, size: KiB64 + HDR });
    // Out of every quota (to the root) and a file alone.
    ns.rename({ cred: ROOT, parent: d, name: 'f', newParent: 1, newName: 'f', flags: 0 });
    expect(usage(q2)).toMatchObject({ inodes: 2, length: 0 });
    consistent();
  });

  it('counts a hard-linked file once per quota holding one of its names', () => {
    const { ns, mkdir, mkfile, write, setq, usage, consistent } = setup();
    const q1 = mkdir(1, 'q1');
    const q2 = mkdir(1, 'q2');
    const f = mkfile(q1, 'f');
    write(f, 0, 500);
    setq(q1, { inodes: 100 });
    setq(q2, { inodes: 100 });
    setq(1, { inodes: 100 });
    ns.link({ cred: ROOT, inode: f, parent: q1, name: 'f2' });
    ns.link({ cred: ROOT, inode: f, parent: q2, name: 'f' });
    expect(usage(q1)).toMatchObject({ inodes: 1, length: 500 });
    expect(usage(q2)).toMatchObject({ inodes: 1, length: 500 });
    expect(usage(1)).toMatchObject({ inodes: 3, length: 500 });
    ns.unlink({ cred: ROOT, parent: q1, name: 'f' });
    expect(usage(q1)).toMatchObject({ inodes: 1, length: 500 });
    ns.unlink({ cred: ROOT, parent: q1, name: 'f2' });
    expect(usage(q1)).toMatchObject({ inodes: 0, length: 0 });
    expect(usage(q2)).toMatchObject({ inodes: 1, length: 500 });
    consistent();
  });

  it('leaves files in the trash out, and counts them again when undeleted', () => {
    const { ns, md, mkdir, mkfile, write, setq, usage, consistent } = setup();
    const q = mkdir(1, 'q');
    const f = mkfile(q, 'f');
    write(f, 0, 700);
    setq(q, { length: 10_000 });
    ns.unlink({ cred: ROOT, parent: q, name: 'f' });
    expect(md.trash.has(f)).toBe(true);
    expect(usage(q)).toEqual({ inodes: 0, length: 0, size: 0, realsize: 0 });
    ns.trashUndelete({ inode: f });
    expect(usage(q)).toMatchObject({ inodes: 1, length: 700 });
    consistent();
  });

  it('is kept through snapshots, nested quotas and a quota directory removed', () => {
    const { ns, md, mkdir, mkfile, write, setq, usage, consistent } = setup();
    const a = mkdir(1, 'a');
    const q = mkdir(a, 'q');
    const src = mkdir(a, 'src');
    write(mkfile(src, 'f'), 0, 3000);
    setq(a, { inodes: 100 });
    setq(q, { inodes: 100 });
    ns.snapshot({ cred: ROOT, inode: src, parent: q, name: 's', overwrite: false });
    expect(usage(q)).toMatchObject({ inodes: 2, length: 3000 });
    expect(usage(a)).toMatchObject({ inodes: 5, length: 6000 });
    ns.unlink({ cred: ROOT, parent: md.lookup(q, 's')!, name: 'f' });
    ns.rmdir({ cred: ROOT, parent: q, name: 's' });
    ns.rmdir({ cred: ROOT, parent: a, name: 'q' });
    expect(md.quotas.has(q)).toBe(false);
    expect(usage(a)).toMatchObject({ inodes: 2, length: 3000 });
    consistent();
  });

  it('matches a recount after any sequence of changes, live, replayed and dumped', () => {
    const anyOp = fc.oneof({ weight: 3, arbitrary: opArb }, { weight: 2, arbitrary: extraOpArb });
    fc.assert(
      fc.property(fc.array(anyOp, { maxLength: 80 }), (ops) => {
        const live = freshLive();
        runOp(live, { k: 'quota', dir: 'a', hard: { inodes: 40 }, soft: {}, grace: 60 });
        for (const op of ops) runOp(live, op);
        for (const [dir, q] of live.md.quotas.byDir) expect(q.usage).toEqual(subtreeUsage(live.md, dir, false));
        const replayed = createEmptyMetadata({ sec: 1_700_000_000, nsec: 0 });
        for (const m of live.log) applyMutation(replayed, structuredClone(m));
        expect(canonicalState(replayed)).toEqual(canonicalState(live.md));
        expect(canonicalState(decodeDump(encodeDump(live.md)))).toEqual(canonicalState(live.md));
      }),
      { numRuns: 150 },
    );
  });
});

describe('quota enforcement', () => {
  it('refuses a new inode past the hard limit, exactly at it', () => {
    const { ns, mkdir, mkfile, setq } = setup();
    const q = mkdir(1, 'q');
    const outside = mkfile(1, 'o');
    setq(q, { inodes: 2 });
    mkfile(q, 'a');
    mkdir(q, 'b');
    expect(errnoOf(() => mkfile(q, 'c'))).toBe('EDQUOT');
    expect(errnoOf(() => mkdir(q, 'c'))).toBe('EDQUOT');
    expect(errnoOf(() => ns.symlink({ cred: ROOT, parent: q, name: 'c', target: 'x' }))).toBe('EDQUOT');
    expect(errnoOf(() => ns.link({ cred: ROOT, inode: outside, parent: q, name: 'c' }))).toBe('EDQUOT');
    expect(errnoOf(() => ns.rename({ cred: ROOT, parent: 1, name: 'o', newParent: q, newName: 'c', flags: 0 }))).toBe('EDQUOT');
    // Other checks come first: an existing name is EEXIST whatever the quota.
    expect(errnoOf(() => mkfile(q, 'a'))).toBe('EEXIST');
    // A name of a file already counted adds nothing; a rename inside the quota neither.
    const a = ns.lookup({ cred: ROOT, parent: q, name: 'a' }).attr.inode;
    expect(errnoOf(() => ns.link({ cred: ROOT, inode: a, parent: q, name: 'a2' }))).toBe('ok');
    expect(errnoOf(() => ns.rename({ cred: ROOT, parent: q, name: 'a2', newParent: q, newName: 'a3', flags: 0 }))).toBe('ok');
    ns.unlink({ cred: ROOT, parent: q, name: 'a' });
    ns.unlink({ cred: ROOT, parent: q, name: 'a3' });
    expect(errnoOf(() => mkfile(q, 'c'))).toBe('ok');
  });

  it('refuses growth in length, size and realsize past a hard limit: writes, truncation, a tree moved in', () => {
    const { ns, mkdir, mkfile, write, setq } = setup();
    const q = mkdir(1, 'q');
    const f = mkfile(q, 'f');
    setq(q, { length: 1_000_000 });
    write(f, 0, 1_000_000);
    const g = ns.writeChunk({ cred: ROOT, inode: f, index: 0 });
    expect(errnoOf(() => ns.writeChunkEnd({ inode: f, index: 0, chunkId: g.chunkId, length: 1_000_001, ok: true }))).toBe('EDQUOT');
    expect(errnoOf(() => ns.setattr({ cred: ROOT, inode: f, size: 1_000_001 }))).toBe('EDQUOT');
    // A quota with no room left refuses the grant of a new chunk before any byte is sent.
    expect(errnoOf(() => ns.writeChunk({ cred: ROOT, inode: f, index: 1 }))).toBe('EDQUOT');
    expect(errnoOf(() => ns.setattr({ cred: ROOT, inode: f, size: 10 }))).toBe('ok');
    const other = mkdir(1, 'other');
    write(mkfile(other, 'big'), 0, 2_000_000);
    expect(errnoOf(() => ns.rename({ cred: ROOT, parent: 1, name: 'other', newParent: q, newName: 'other', flags: 0 }))).toBe('EDQUOT');
    expect(errnoOf(() => ns.snapshot({ cred: ROOT, inode: other, parent: q, name: 's', overwrite: false }))).toBe('EDQUOT');

    const r = mkdir(1, 'r');
    const h = mkfile(r, 'h');
    ns.setgoal({ cred: ROOT, inode: h, goal: 2, mode: 'set', recursive: false });
    setq(r, { realsize: 2 * (2 * KiB64 + HDR) });
    write(h, 0, 2 * KiB64);
    expect(errnoOf(() => write(h, 0, 2 * KiB64 + 1))).toBe('EDQUOT');
  });

  it('makesnapshot -c counts realsize at the goal of where the copies land; appendchunks -s counts only the slice', () => {
    const { ns, md, mkdir, mkfile, write, setq, usage, consistent } = setup();
    const src = mkdir(1, 'src');
    const f = mkfile(src, 'f');
    write(f, 0, KiB64);
    ns.setgoal({ cred: ROOT, inode: f, goal: 3, mode: 'set', recursive: false });
    const q = mkdir(1, 'q');
    setq(q, { realsize: 2 * (KiB64 + HDR) });
    // A plain copy keeps goal 3: 3 blocks and headers, past the limit; with -c it takes q's goal 1.
    expect(errnoOf(() => ns.snapshot({ cred: ROOT, inode: src, parent: q, name: 'plain', overwrite: false }))).toBe('EDQUOT');
    expect(errnoOf(() => ns.snapshot({ cred: ROOT, inode: src, parent: q, name: 'c', overwrite: false, cplike: true, umask: 0o022 }))).toBe('ok');
    expect(usage(q).realsize).toBe(KiB64 + HDR);
    const big = mkfile(1, 'big');
    for (const i of [0, 1, 2]) write(big, i, i * CHUNK_SIZE + KiB64);
    const r = mkdir(1, 'r');
    setq(r, { size: 2 * CHUNK_SIZE });
    const dst = mkfile(r, 'dst');
    expect(errnoOf(() => ns.appendChunks({ cred: ROOT, inode: dst, src: big }))).toBe('EDQUOT');
    expect(errnoOf(() => ns.appendChunks({ cred: ROOT, inode: dst, src: big, from: -1 }))).toBe('ok');
    expect(usage(r)).toMatchObject({ inodes: 1, length: KiB64, size: KiB64 + HDR });
    expect(md.size[dst]).toBe(KiB64);
    consistent();
  });

  it('lets a soft limit be passed for its grace period, then refuses until usage is back under it', () => {
    const { live, ns, md, mkdir, mkfile, setq } = setup();
    const q = mkdir(1, 'q');
    setq(q, {}, { inodes: 1 }, 60);
    mkfile(q, 'a');
    mkfile(q, 'b');
    const since = md.quotas.get(q)!.softSince!;
    expect(since).toBeGreaterThan(0);
    live.clock.sec += 30;
    mkfile(q, 'c');
    live.clock.sec += 40;
    expect(errnoOf(() => mkfile(q, 'd'))).toBe('EDQUOT');
    ns.unlink({ cred: ROOT, parent: q, name: 'a' });
    ns.unlink({ cred: ROOT, parent: q, name: 'b' });
    expect(md.quotas.get(q)!.softSince).toBeUndefined();
    mkfile(q, 'd');
    expect(md.quotas.get(q)!.softSince).toBeGreaterThan(since);
    // Without -p a quota keeps its grace period; a new one has the default (0), which is checked as QUOTA_DEFAULT_GRACE_PERIOD.
    setq(q, {}, { inodes: 2 });
    expect(md.quotas.get(q)!.grace).toBe(60);
    const r = mkdir(1, 'r');
    setq(r, {}, { inodes: 0 });
    expect(md.quotas.get(r)!.grace).toBe(0);
    mkfile(r, 'a');
    live.clock.sec += 7 * 86_400 - 10;
    mkfile(r, 'b');
    live.clock.sec += 10;
    expect(errnoOf(() => mkfile(r, 'c'))).toBe('EDQUOT');
  });

  it('is changed by root on an admin export only, on directories only', () => {
    const { ns, mkdir, mkfile } = setup();
    const q = mkdir(1, 'q');
    const f = mkfile(1, 'f');
    expect(errnoOf(() => ns.quotas.set(false, { cred: ROOT, inode: q, hard: { inodes: 1 }, soft: {} }))).toBe('EPERM');
    expect(errnoOf(() => ns.quotas.set(true, { cred: ALICE, inode: q, hard: { inodes: 1 }, soft: {} }))).toBe('EPERM');
    expect(errnoOf(() => ns.quotas.set(true, { cred: ROOT, inode: f, hard: { inodes: 1 }, soft: {} }))).toBe('EPERM');
    expect(ns.quotas.get({ inode: q })).toEqual({ usage: { inodes: 0, length: 0, size: 0, realsize: 0 } });
    ns.quotas.set(true, { cred: ROOT, inode: q, hard: { inodes: 5, size: 10 }, soft: { length: 3 }, grace: 9 });
    expect(ns.quotas.del(true, { cred: ROOT, inode: q, soft: [], hard: ['size'] }).quota).toEqual({ grace: 9, soft: { length: 3 }, hard: { inodes: 5 } });
    expect(ns.quotas.del(true, { cred: ROOT, inode: q, soft: ['length'], hard: ['inodes'] }).quota).toBeUndefined();
    expect(errnoOf(() => ns.quotas.del(true, { cred: ROOT, inode: q, soft: ['length'], hard: [] }))).toBe('ENOENT');
  });

  it('gives statfs of a session rooted at a quota directory the quota as its size', () => {
    const { md, mkdir, mkfile, write, setq } = setup();
    const q = mkdir(1, 'q');
    write(mkfile(q, 'f'), 0, 3 * KiB64);
    setq(q, { realsize: 10 * KiB64 });
    const physical = { totalSpace: 1e12, availSpace: 5e11, trashSpace: 0, sustainedSpace: 0, inodes: 3 };
    expect(quotaStatfs(md, q, physical)).toMatchObject({ totalSpace: 10 * KiB64, availSpace: 7 * KiB64 - HDR });
    expect(quotaStatfs(md, 1, physical)).toEqual(physical);
  });
});
