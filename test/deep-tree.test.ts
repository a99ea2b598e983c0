/**
 * A directory chain far deeper than any recursion survives, end to end (issue 10, item 2):
 * built by a user who is not root through the client library with pipelined mkdirs,
 * then every recursive tool, snapshots, a clean restart (dump), a crash (replay),
 * tsmfs-metarestore, and removal through trash and purge.
 *
 * TSMFS_DEEP_TREE_LEVELS sets the depth: 50,000 by default, beyond where old main
 * failed (getgoal -r at 6–10 thousand levels, setgoal -r stopped the master at 30,000)
 * and within CI's time on a loaded two-core box, where 100,000 pipelined mkdirs (or
 * rmdirs) took 35 s each and the whole test 173 s; the unit tests (tree-walk.test.ts)
 * go to 100,000 in-process. TSMFS_DEEP_TREE_LEVELS=1000000 is the soak run: it passed
 * in 25 min on that box (mkdir 358 s, setgoal -r 7 s, getgoal -r 10 s, snapshot 38 s,
 * dump + load 182 s, crash + replay 82 s, metarestore 146 s, rmdir 342 s).
 */
import { MAX_PATH_LENGTH, type RecursiveCounts, Status } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import type { MasterSession } from '@tsmfs/client';
import { Cluster, type Master, runMetarestore } from './fixture/cluster.js';

const LEVELS = Number(process.env.TSMFS_DEEP_TREE_LEVELS ?? 50_000);
const WINDOW = 512;
const ALICE = { uid: 1000, gid: 1000, groups: [1000] };
const BOB = { uid: 1001, gid: 1001, groups: [1001] };

/** Runs fn(0)…fn(count-1), sent in that order, at most WINDOW in flight. */
async function pipelined(count: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(WINDOW, count) }, worker));
}

const timings: Record<string, number> = {};
async function timed<T>(label: string, f: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await f();
  } finally {
    timings[label] = Math.round(performance.now() - t0);
    // As it goes: a soak run's figures are worth having even if a later step fails.
    process.stderr.write(`deep tree, ${LEVELS} levels: ${label} ${timings[label]} ms\n`);
  }
}

function dirinfo(s: MasterSession, inode: number): Promise<{ inodes: number; dirs: number; files: number }> {
  return s.call('dirinfo', { inode });
}

const all = (n: number): RecursiveCounts => ({ changed: n, notChanged: 0, denied: 0 });

/** Loading or replaying a million levels outlasts the fixture's usual 20 s to "ready". */
const READY_MS = Math.max(20_000, LEVELS / 5);

async function restart(master: Master): Promise<void> {
  await master.kill('SIGKILL');
  await (await master.start({ waitReady: false })).waitReady(READY_MS);
}

describe(`a ${LEVELS.toLocaleString('en')}-level directory chain through the daemons`, () => {
  it('tools, snapshots, dump + restart, crash + replay, metarestore, rm -r through trash', { timeout: Math.max(600_000, LEVELS * 3) }, async () => {
    const cluster = await Cluster.create();
    const { master } = cluster;
    const session = (cred: typeof ALICE, meta = false) => cluster.session({ cred, meta, requestTimeoutMs: READY_MS * 10, reconnectTimeoutMs: READY_MS * 2 });
    const admin = await session({ uid: 0, gid: 0, groups: [] });
    await admin.setattr(admin.root, { mode: 0o777 });
    const alice = await session(ALICE);
    const bob = await session(BOB);

    // Ids are handed out in sequence on a fresh master: level i is top + i, so the
    // mkdirs need not wait for each other's replies.
    const top = (await alice.mkdir(alice.root, 'deep')).inode;
    await timed('mkdir', () =>
      pipelined(LEVELS, async (i) => {
        const made = await alice.mkdir(top + i, 'd');
        if (made.inode !== top + i + 1) throw new Error(`level ${i + 1} got inode ${made.inode}, not ${top + i + 1}`);
      }),
    );
    const bottom = top + LEVELS;
    const file = (await alice.create(bottom, 'f')).inode;
    const nodes = LEVELS + 2;

    expect(await timed('setgoal -r', () => alice.setgoal(top, 2, { recursive: true }))).toEqual(all(nodes));
    expect(await timed('getgoal -r', () => alice.getgoal(top, { recursive: true }))).toEqual([{ value: 2, files: 1, dirs: LEVELS + 1 }]);
    expect(await timed('settrashtime -r', () => alice.settrashtime(top, 7200, { recursive: true }))).toEqual(all(nodes));
    expect(await timed('gettrashtime -r', () => alice.gettrashtime(top, { recursive: true }))).toEqual([{ value: 7200, files: 1, dirs: LEVELS + 1 }]);
    expect(await bob.setgoal(top, 5, { recursive: true })).toEqual({ changed: 0, notChanged: 0, denied: nodes });
    expect(await timed('dirinfo', () => dirinfo(alice, top))).toMatchObject({ inodes: nodes, dirs: LEVELS + 1, files: 1 });
    const copy = (await timed('snapshot', () => alice.snapshot(top, alice.root, 'copy'))).inode;
    expect(await dirinfo(alice, copy)).toMatchObject({ inodes: nodes, dirs: LEVELS + 1, files: 1 });

    // A dump (SIGUSR2, what a clean stop also writes), then a start that loads it.
    await timed('dump + start (load)', async () => {
      const p = master.process!;
      process.kill(p.pid, 'SIGUSR2');
      await p.waitForLog((l) => l.msg === 'metadata dumped', READY_MS * 2, 'the dump');
      await restart(master);
    });
    expect(await alice.getgoal(copy, { recursive: true })).toEqual([{ value: 2, files: 1, dirs: LEVELS + 1 }]);
    expect(await dirinfo(alice, top)).toMatchObject({ inodes: nodes });

    // Deep mutations after the dump, then a crash: the start replays them.
    const middle = top + LEVELS / 2;
    expect(await alice.setgoal(copy, 3, { recursive: true })).toEqual(all(nodes));
    const half = (await alice.snapshot(middle, alice.root, 'half')).inode;
    const halfNodes = LEVELS / 2 + 2;
    await timed('crash + start (replay)', () => restart(master));
    expect(await alice.getgoal(copy, { recursive: true })).toEqual([{ value: 3, files: 1, dirs: LEVELS + 1 }]);
    expect(await dirinfo(alice, half)).toMatchObject({ inodes: halfNodes, dirs: halfNodes - 1, files: 1 });

    // tsmfs-metarestore rebuilds the same from the files the crash left.
    await master.kill('SIGKILL');
    const restored = await timed('metarestore', () => runMetarestore(['-a', '-d', master.dataPath]));
    expect(restored.code, restored.stderr).toBe(0);
    await (await master.start({ waitReady: false })).waitReady(READY_MS);
    expect(await alice.getgoal(copy, { recursive: true })).toEqual([{ value: 3, files: 1, dirs: LEVELS + 1 }]);
    expect(await dirinfo(alice, half)).toMatchObject({ inodes: halfNodes });
    expect(await dirinfo(alice, top)).toMatchObject({ inodes: nodes });

    // rm -r: the file goes to trash with its path cut to PATH_MAX (its full path is
    // 2 bytes a level); undelete cannot follow it back; purge and rmdir all the way up.
    const meta = await session({ uid: 0, gid: 0, groups: [] }, true);
    await alice.unlink(bottom, 'f');
    const [kept] = await meta.trashList();
    expect(kept!.inode).toBe(file);
    expect(Buffer.byteLength(kept!.path)).toBeLessThanOrEqual(MAX_PATH_LENGTH);
    expect(kept!.path).toMatch(/^d(\/d)+\/f$/);
    await expect(meta.trashUndelete(file)).rejects.toMatchObject({ status: Status.ENAMETOOLONG });
    await meta.trashPurge(file);
    await timed('rmdir', () => pipelined(LEVELS, (i) => alice.rmdir(bottom - i - 1, 'd')));
    await alice.rmdir(alice.root, 'deep');
    await expect(dirinfo(alice, top)).rejects.toMatchObject({ status: Status.ENOENT });
    const left = 1 + nodes + halfNodes;
    expect((await admin.statfs()).inodes).toBe(left);
    expect(await meta.trashList()).toEqual([]);

    // And the removal replays.
    await restart(master);
    expect((await admin.statfs()).inodes).toBe(left);
    process.stderr.write(`deep tree, ${LEVELS} levels, ms: ${JSON.stringify(timings)}\n`);
  });
});
