import { MAX_PATH_LENGTH } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import { applyMutation } from './apply.js';
import { type Metadata, createEmptyMetadata } from './metadata.js';
import { decodeDump, encodeDump } from './metadata-dump.js';
import { ALICE, BOB, ROOT, type Live, errnoOf, freshLive } from './namespace-ops.test-helpers.js';

/**
 * Far beyond what a JavaScript recursion survives (getgoal -r failed at 6–10 thousand
 * levels, setgoal -r stopped the master at 30,000), small enough for a unit test. The
 * end-to-end test (test/deep-tree.test.ts) takes the chain through the daemons.
 */
const DEPTH = 100_000;

/** /deep/d/d/…/d (DEPTH levels below /deep) owned by ALICE, with a file f at the bottom. */
function deepChain(): { live: Live; dirs: number[]; file: number } {
  const live = freshLive(false);
  live.ns.setattr({ cred: ROOT, inode: 1, mode: 0o777 });
  const dirs = [live.ns.mkdir({ cred: ALICE, parent: 1, name: 'deep', mode: 0o755, umask: 0 }).attr.inode];
  for (let i = 0; i < DEPTH; i++) dirs.push(live.ns.mkdir({ cred: ALICE, parent: dirs[i]!, name: 'd', mode: 0o755, umask: 0 }).attr.inode);
  const file = live.ns.mknod({ cred: ALICE, parent: dirs[DEPTH]!, name: 'f', type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr.inode;
  return { live, dirs, file };
}

/**
 * Runs `fn` counting its reads of `md.parent`, the only way up the tree; past `limit` it
 * throws, so that a walk to the root from every level fails at once instead of running for minutes.
 */
function countParentReads(md: Metadata, limit: number, fn: () => void): number {
  const column = md.parent;
  let reads = 0;
  md.parent = new Proxy(column, {
    get(target, key) {
      if (++reads > limit) throw new Error(`more than ${limit} reads of the parent column`);
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
    set: (target, key, value) => Reflect.set(target, key, value, target),
  });
  try {
    fn();
  } finally {
    md.parent = column;
  }
  return reads;
}

/** The live state rebuilt by replaying every logged mutation, as a dump (byte equality is state equality). */
function replayed(live: Live): Buffer {
  const md = createEmptyMetadata({ sec: 1_700_000_000, nsec: 0 });
  for (const m of live.log) applyMutation(md, structuredClone(m));
  return encodeDump(md);
}

describe(`a ${DEPTH.toLocaleString('en')}-level directory chain`, { timeout: 180_000 }, () => {
  it('every recursive tool answers; a snapshot copies it and an overwriting one merges into the copy; replay and a dump rebuild the same', () => {
    const { live, dirs } = deepChain();
    const { ns, md } = live;
    const top = dirs[0]!;
    const all = DEPTH + 2;
    expect(ns.setgoal({ cred: ALICE, inode: top, goal: 3, mode: 'set', recursive: true })).toEqual({ changed: all, notChanged: 0, denied: 0 });
    expect(ns.getgoal({ inode: top, recursive: true }).histogram).toEqual([{ value: 3, files: 1, dirs: DEPTH + 1 }]);
    expect(ns.settrashtime({ cred: ALICE, inode: top, trashtime: 60, mode: 'increase', recursive: true })).toEqual({ changed: 0, notChanged: all, denied: 0 });
    expect(ns.settrashtime({ cred: ALICE, inode: top, trashtime: 60, mode: 'set', recursive: true })).toEqual({ changed: all, notChanged: 0, denied: 0 });
    expect(ns.gettrashtime({ inode: top, recursive: true }).histogram).toEqual([{ value: 60, files: 1, dirs: DEPTH + 1 }]);
    expect(ns.setgoal({ cred: BOB, inode: top, goal: 1, mode: 'set', recursive: true })).toEqual({ changed: 0, notChanged: 0, denied: all });
    expect(ns.getgoal({ inode: dirs[DEPTH / 2]!, recursive: true }).histogram).toEqual([{ value: 3, files: 1, dirs: DEPTH / 2 + 1 }]);

    const copy = ns.snapshot({ cred: ALICE, inode: top, parent: 1, name: 'copy', overwrite: false }).attr.inode;
    expect(ns.getgoal({ inode: copy, recursive: true }).histogram).toEqual([{ value: 3, files: 1, dirs: DEPTH + 1 }]);
    expect(md.inodeCount).toBe(1 + 2 * all);
    ns.snapshot({ cred: ALICE, inode: top, parent: 1, name: 'copy', overwrite: true });
    expect(md.inodeCount).toBe(1 + 2 * all);
    // Onto a tree that differs only at the bottom: the type clash is found DEPTH levels down.
    ns.unlink({ cred: ALICE, parent: dirs[DEPTH]!, name: 'f' });
    ns.mkdir({ cred: ALICE, parent: dirs[DEPTH]!, name: 'f', mode: 0o755, umask: 0 });
    expect(errnoOf(() => ns.snapshot({ cred: ALICE, inode: top, parent: 1, name: 'copy', overwrite: true }))).toBe('EPERM');
    const dump = encodeDump(md);
    expect(encodeDump(decodeDump(dump)).equals(dump)).toBe(true);
    expect(replayed(live).equals(dump)).toBe(true);
  });

  it('rm -r through trash: the trashed file keeps a path cut to PATH_MAX; undelete refuses it; rmdir all the way up is linear', () => {
    const { live, dirs, file } = deepChain();
    const { ns, md } = live;
    ns.unlink({ cred: ALICE, parent: dirs[DEPTH]!, name: 'f' });
    const [kept] = ns.trashList({}).entries;
    expect(kept!.inode).toBe(file);
    expect(Buffer.byteLength(kept!.path)).toBeLessThanOrEqual(MAX_PATH_LENGTH);
    expect(Buffer.byteLength(kept!.path)).toBeGreaterThan(MAX_PATH_LENGTH - 2);
    expect(kept!.path.startsWith('/')).toBe(false);
    expect(kept!.path.endsWith('/d/d/f')).toBe(true);
    expect(errnoOf(() => ns.trashUndelete({ inode: file }))).toBe('ENAMETOOLONG');
    // Linear: a bounded number of steps up per rmdir. Walking up to the root from every
    // level (DEPTH²/2 steps) took minutes; counted, not timed, so that load cannot fail it.
    const reads = countParentReads(md, 4 * DEPTH, () => {
      for (let i = DEPTH; i > 0; i--) ns.rmdir({ cred: ALICE, parent: dirs[i - 1]!, name: 'd' });
      ns.rmdir({ cred: ALICE, parent: 1, name: 'deep' });
    });
    expect(reads).toBeLessThanOrEqual(4 * DEPTH);
    ns.trashPurge({ inode: file });
    expect(md.inodeCount).toBe(1);
    expect(replayed(live).equals(encodeDump(md))).toBe(true);
  });
});

describe('kept paths', () => {
  it('are cut by UTF-8 bytes, keeping whole last components, and absolute only when whole', () => {
    const { ns } = freshLive(false);
    const wide = 'é'.repeat(100); // 200 bytes, 100 UTF-16 units
    let dir = 1;
    for (let i = 0; i < 30; i++) dir = ns.mkdir({ cred: ROOT, parent: dir, name: `${wide}${i}`, mode: 0o755, umask: 0 }).attr.inode;
    const deep = ns.mknod({ cred: ROOT, parent: dir, name: 'f', type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr.inode;
    const shallow = ns.mknod({ cred: ROOT, parent: 1, name: 'g', type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr.inode;
    ns.unlink({ cred: ROOT, parent: dir, name: 'f' });
    ns.unlink({ cred: ROOT, parent: 1, name: 'g' });
    const paths = new Map(ns.trashList({}).entries.map((e) => [e.inode, e.path]));
    const cut = paths.get(deep)!;
    // 30 components of 202 bytes do not fit in 4096; the last 20 do (20 × 203 + 2).
    expect(Buffer.byteLength(cut)).toBe(20 * 203 + 1);
    expect(cut.startsWith(`${wide}10/`)).toBe(true);
    expect(cut.endsWith(`${wide}29/f`)).toBe(true);
    expect(paths.get(shallow)).toBe('/g');
    expect(errnoOf(() => ns.trashUndelete({ inode: deep }))).toBe('ENAMETOOLONG');
    expect(errnoOf(() => ns.trashUndelete({ inode: shallow }))).toBe('ok');
  });
});

describe('recursive setgoal / settrashtime by a non-owner (issue 10, item 3)', () => {
  it('the top is judged like every node under it: counted as denied and left unchanged', () => {
    const { ns, md } = freshLive(false);
    ns.setattr({ cred: ROOT, inode: 1, mode: 0o777 });
    const top = ns.mkdir({ cred: ALICE, parent: 1, name: 'top', mode: 0o777, umask: 0 }).attr.inode;
    const mine = ns.mknod({ cred: BOB, parent: top, name: 'mine', type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr.inode;
    const sub = ns.mkdir({ cred: ALICE, parent: top, name: 'sub', mode: 0o777, umask: 0 }).attr.inode;
    expect(ns.setgoal({ cred: BOB, inode: top, goal: 4, mode: 'set', recursive: true })).toEqual({ changed: 1, notChanged: 0, denied: 2 });
    expect([md.goal[top], md.goal[mine], md.goal[sub]]).toEqual([1, 4, 1]);
    expect(ns.settrashtime({ cred: BOB, inode: top, trashtime: 5, mode: 'set', recursive: true })).toEqual({ changed: 1, notChanged: 0, denied: 2 });
    expect([md.trashtime[top], md.trashtime[mine], md.trashtime[sub]]).toEqual([86_400, 5, 86_400]);
    // Alone (no -r) the refused top is an error, and nothing changes either.
    expect(errnoOf(() => ns.setgoal({ cred: BOB, inode: top, goal: 4, mode: 'set', recursive: false }))).toBe('EPERM');
    expect(errnoOf(() => ns.settrashtime({ cred: BOB, inode: top, trashtime: 5, mode: 'set', recursive: false }))).toBe('EPERM');
    expect([md.goal[top], md.trashtime[top]]).toEqual([1, 86_400]);
    // The owner of the top, and root, pass there.
    expect(ns.setgoal({ cred: ALICE, inode: top, goal: 2, mode: 'set', recursive: true })).toEqual({ changed: 2, notChanged: 0, denied: 1 });
    expect(ns.setgoal({ cred: ROOT, inode: top, goal: 2, mode: 'set', recursive: true })).toEqual({ changed: 1, notChanged: 2, denied: 0 });
  });
});
