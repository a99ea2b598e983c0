import { Status, TsmfsError, fail } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import { WrittenChunks } from './written-chunks.js';

// The bookkeeping alone, with a sync that records what it was asked; data-server.test
// runs dataSyncAll on real chunk files over TCP.
describe('written chunks', () => {
  it('a copy that fails to sync stays for the next syncAll, which fails EIO until it syncs; gone and moved-on copies need nothing', async () => {
    const broken = new Set([2]);
    const asked: number[] = [];
    const w = new WrittenChunks(async (id) => {
      asked.push(id);
      if (id === 3) throw fail('ENOENT', 'gone');
      if (id === 4) throw fail('ESTALE', 'moved on');
      if (broken.has(id)) throw fail('EIO', 'disk error');
    });
    for (const id of [1, 2, 3, 4]) w.written(id, 1);
    await expect(w.syncAll()).rejects.toMatchObject({ status: Status.EIO });
    expect(asked.sort()).toEqual([1, 2, 3, 4]);
    expect(w.size).toBe(1);
    await expect(w.syncAll()).rejects.toBeInstanceOf(TsmfsError);
    broken.clear();
    expect(await w.syncAll()).toBe(1);
    expect(w.size).toBe(0);
  });

  it('past its bound it syncs the oldest copy itself; a dataSync of an older version leaves the newer write', async () => {
    const asked: number[] = [];
    const w = new WrittenChunks(async (id) => void asked.push(id), 3);
    for (const id of [1, 2, 3]) w.written(id, 1);
    w.written(1, 2); // written again: now the newest
    w.written(4, 1);
    expect(asked).toEqual([2]);
    w.synced(3, 7);
    expect(w.size).toBe(3);
    w.synced(1, 2);
    expect(await w.syncAll()).toBe(2);
    expect(asked.slice(1).sort()).toEqual([3, 4]);
  });
});
