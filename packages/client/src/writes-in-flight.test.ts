import { Status, TsmfsError } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import { WritesInFlight } from './writes-in-flight.js';

const cred = { uid: 0, gid: 0, groups: [] };
const grant = (chunkId: number, version: number) => ({ chunkId, version, fileLength: 0, locations: [] });

describe('writes in flight (register\'s claims)', () => {
  it('a grant is claimed until its writeChunkEnd is answered, whatever the answer; a refused grant is not', async () => {
    const w = new WritesInFlight();
    await w.track('writeChunk', { cred, inode: 5, index: 2 }, async () => grant(77, 3));
    expect(w.claims).toEqual([{ inode: 5, index: 2, chunkId: 77, version: 3 }]);
    // The end waits for a new link: still claimed then.
    let answer!: () => void;
    const ending = w.track('writeChunkEnd', { inode: 5, index: 2, chunkId: 77, length: 10, ok: true }, () => new Promise<object>((r) => (answer = () => r({}))));
    expect(w.claims).toHaveLength(1);
    answer();
    await ending;
    expect(w.claims).toEqual([]);
    // A failed end ends the claim too; a failed grant makes none.
    await w.track('writeChunk', { cred, inode: 5, index: 2 }, async () => grant(77, 4));
    await expect(w.track('writeChunkEnd', { inode: 5, index: 2, chunkId: 77, length: 0, ok: false }, async () => Promise.reject(new TsmfsError(Status.EIO, 'x')))).rejects.toThrow();
    await expect(w.track('writeChunk', { cred, inode: 6, index: 0 }, async () => Promise.reject(new TsmfsError(Status.EAGAIN, 'x')))).rejects.toThrow();
    expect(w.claims).toEqual([]);
    // An end of an older chunk of the slot leaves the newer grant claimed; other requests pass through.
    await w.track('writeChunk', { cred, inode: 5, index: 2 }, async () => grant(78, 1));
    await w.track('writeChunkEnd', { inode: 5, index: 2, chunkId: 77, length: 0, ok: false }, async () => ({}));
    expect(w.claims).toEqual([{ inode: 5, index: 2, chunkId: 78, version: 1 }]);
    expect(await w.track('getattr', { inode: 5 }, async () => ({ attr: {} }) as never)).toEqual({ attr: {} });
  });
});
