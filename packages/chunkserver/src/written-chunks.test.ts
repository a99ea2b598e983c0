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

  it("a syncAll answers only once every copy an earlier one (another client's) or the bound took off the list is durable, or reports it", async () => {
    const pending = new Map<number, { ok: () => void; fail: () => void }>();
    const w = new WrittenChunks(
      (id) =>
        new Promise<void>((ok, no) => pending.set(id, { ok, fail: () => no(fail('EIO', 'disk error')) })),
      2,
    );
    w.written(1, 1);
    const first = w.syncAll(); // takes chunk 1, whose sync hangs
    await settled();
    w.written(2, 1);
    let secondDone = false;
    const second = w.syncAll().then((n) => ((secondDone = true), n));
    await settled();
    expect(secondDone).toBe(false); // chunk 1 is not durable yet
    pending.get(1)!.ok();
    expect(await first).toBe(1);
    await settled();
    pending.get(2)!.ok();
    expect(await second).toBe(1);

    // The bound's background sync of the oldest fails: the next syncAll waits for it and
    // tries it again, and reports it if it fails again.
    pending.clear();
    for (const id of [3, 4, 5]) w.written(id, 1); // 3 goes to the background
    expect([...pending.keys()]).toEqual([3]);
    const third = w.syncAll();
    await settled();
    expect([...pending.keys()]).toEqual([3]); // waits for the background sync first
    pending.get(3)!.fail();
    pending.delete(3);
    await settled();
    expect([...pending.keys()]).toEqual([4, 5]); // two at a time; 3, back on the list, after them
    pending.get(4)!.ok();
    await settled();
    expect([...pending.keys()]).toEqual([4, 5, 3]);
    pending.get(5)!.ok();
    pending.get(3)!.fail();
    await expect(third).rejects.toMatchObject({ status: Status.EIO });
    expect(w.size).toBe(1);
  });
});

/** Lets every settled promise's continuations run. */
const settled = () => new Promise((res) => setImmediate(res));
