/**
 * The chunk loop end to end (issue 13, item 8): a real master and chunkservers, the
 * client library's file I/O. What is replicated first when replication slots are scarce,
 * what happens to freed chunks, disks marked for removal.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type MasterSession, O_RDWR } from '@tsmfs/client';
import { decodeDump } from '@tsmfs/master';
import { DUMP_FILE } from '@tsmfs/metastore';
import { describe, expect, it } from 'vitest';
import { Cluster } from './fixture/cluster.js';
import { until } from './fixture/poll.js';

/** Fast chunk loop: replication and deletion start at once and run every second. */
const FAST_LOOP = { REPLICATIONS_DELAY_INIT: 0, CHUNKS_LOOP_MIN_TIME: 1, CHUNKSERVER_TIMEOUT: 5 };

/** A one-chunk file of `goal` in directory `parent`; returns its inode and chunk id. */
async function oneChunkFile(s: MasterSession, parent: number, name: string, goal: number): Promise<{ inode: number; chunkId: number }> {
  const attr = await s.create(parent, name, 0o644);
  await s.setgoal(attr.inode, goal);
  const f = await s.openFile(attr.inode, O_RDWR);
  await f.write(0, Buffer.alloc(64 * 1024, name));
  await f.close();
  const info = await s.fileinfo(attr.inode);
  return { inode: attr.inode, chunkId: info.chunks[0]!.chunkId };
}

async function validCopies(s: MasterSession, inode: number): Promise<number> {
  const info = await s.fileinfo(inode);
  return info.chunks[0]!.copies.filter((k) => k.state === 'valid').length;
}

describe('chunk loop', () => {
  it('replicates chunks down to their last copy before those merely under goal (one replication slot)', { timeout: 60_000 }, async () => {
    const c = await Cluster.create({ master: { config: { ...FAST_LOOP, CHUNKS_GLOBAL_REP_LIMIT: 1 } } });
    await c.addChunkservers(3);
    const s = await c.session();
    const dir = (await s.mkdir(s.root, 'd', 0o755)).inode;
    // Lower chunk ids for the merely-under-goal chunks: a loop going by id would take them first.
    const mild = [await oneChunkFile(s, dir, 'mild1', 2), await oneChunkFile(s, dir, 'mild2', 2)];
    const danger = [await oneChunkFile(s, dir, 'danger1', 1), await oneChunkFile(s, dir, 'danger2', 1)];
    for (const f of mild) expect(await validCopies(s, f.inode)).toBe(2);
    for (const f of danger) expect(await validCopies(s, f.inode)).toBe(1);
    // One request raises them all to 3: the danger ones have 1 copy of 3, the mild ones 2 of 3.
    await s.setgoal(dir, 3, { recursive: true });
    await until('every chunk at goal 3', async () => {
      for (const f of [...mild, ...danger]) if ((await validCopies(s, f.inode)) < 3) return undefined;
      return true;
    });
    const order = c.master.logs().filter((l) => l.msg === 'chunk replicated').map((l) => l.chunk as number);
    expect(order).toHaveLength(2 * danger.length + mild.length);
    expect(order.slice(0, danger.length).sort()).toEqual(danger.map((f) => f.chunkId).sort());
    await c.stop();
  });

  it('deletes the copies of freed chunks and drains toDelete: the dumps (and a replay) hold none of them', { timeout: 60_000 }, async () => {
    const c = await Cluster.create({ master: { config: FAST_LOOP } });
    await c.addChunkservers(2);
    const s = await c.session();
    await s.settrashtime(s.root, 0);
    const files = 24;
    for (let i = 0; i < files; i++) await oneChunkFile(s, s.root, `f${i}`, 2);
    for (const cs of c.chunkservers) expect(cs.chunkFiles()).toHaveLength(files);
    for (let i = 0; i < files; i++) await s.unlink(s.root, `f${i}`);
    await until('every chunk file deleted', () => (c.chunkservers.every((cs) => cs.chunkFiles().length === 0) ? true : undefined));
    await until('toDelete drained', () => (c.master.logs().some((l) => l.msg === 'freed chunks deleted everywhere' && l.left === 0) ? true : undefined));
    s.close();
    // A crash now: the restarted master replays the changelog (chunksDeleted included)
    // from its first dump, then writes its shutdown dump.
    await c.master.kill('SIGKILL');
    await c.master.start();
    await c.master.stop();
    const md = decodeDump(readFileSync(join(c.master.dataPath, DUMP_FILE)));
    expect(md.chunks.toDelete).toEqual([]);
    expect(md.chunks.count).toBe(0);
    await c.stop();
  });
});
