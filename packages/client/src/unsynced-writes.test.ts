import type { Address, ChunkGrant } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import { UnsyncedWrites } from './unsynced-writes.js';

/** Lets every answered sync's continuation run. */
const settled = () => new Promise((res) => setImmediate(res));
const at = (port: number) => ({ host: '127.0.0.1', port, csid: port });
const grant = (chunkId: number, ...ports: number[]): ChunkGrant => ({ chunkId, version: 1, fileLength: 0, locations: ports.map(at) });

// The bookkeeping, with the chunkservers' dataSyncAll replaced by a recorder whose answers
// the test releases; data-server.test runs dataSyncAll itself over TCP.
describe('unsynced writes', () => {
  it('past its bound every chunkserver of a record is asked once to sync all; what ended before and synced on one copy is forgotten', async () => {
    const asked: { port: number; answer: (ok: boolean) => void }[] = [];
    const u = new UnsyncedWrites((to: Address) => new Promise<void>((res, rej) => asked.push({ port: to.port, answer: (ok) => (ok ? res() : rej(new Error('down'))) })), 3);
    u.add(1, 0, grant(11, 9001, 9002));
    u.add(2, 0, grant(12, 9002, 9003));
    u.add(2, 1, grant(13, 9003));
    u.add(3, 0, grant(14, 9001));
    expect(asked).toEqual([]);
    u.add(4, 0, grant(15, 9004)); // the fourth file: one sweep
    expect(asked.map((a) => a.port).sort()).toEqual([9001, 9002, 9003, 9004]);
    // Writes ending while the sweep runs are not covered by it, and start no second one.
    u.add(5, 0, grant(16, 9001));
    u.add(1, 1, grant(17, 9001));
    expect(asked).toHaveLength(4);
    // An fsync takes its file's records meanwhile: they are its own to sync.
    expect([...u.take(3)!.keys()]).toEqual([0]);
    for (const a of asked) a.answer(a.port !== 9003);
    await settled();
    expect(u.stats).toEqual({ sweeps: 1, forgotten: 3 });
    // Left: chunk 13 (only on the server that failed), and what ended during the sweep.
    expect(u.files).toBe(3);
    expect([u.has(2, 0), u.has(2, 1), u.has(1, 0), u.has(1, 1), u.has(5, 0), u.has(4, 0)]).toEqual([false, true, false, true, true, false]);
    // Past the bound again: a second sweep. Every server fails it, the bound stays exceeded,
    // and the next sweep waits a while instead of starting at every write.
    u.add(6, 0, grant(18, 9001));
    expect(asked.slice(4).map((a) => a.port).sort()).toEqual([9001, 9003]);
    for (const a of asked.slice(4)) a.answer(false);
    await settled();
    expect(u.stats).toEqual({ sweeps: 2, forgotten: 3 });
    u.add(7, 0, grant(19, 9001));
    expect(asked).toHaveLength(6);
  });
});
