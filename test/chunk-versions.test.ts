/**
 * A chunk keeps its version across complete writes (issue 11, item 3; docs/master.md,
 * "Versions kept across writes"): the next write grant of a chunk whose last write ended
 * complete on every copy it still has changes nothing on the chunkservers; a write that
 * did not end complete, or a copy gone since, makes the next grant move the copies on as
 * before, so a copy that may have missed a write is stale. Real master and chunkservers,
 * the client library, chunk files read off the disks.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { O_RDWR } from '@tsmfs/client';
import { CHUNK_SIZE } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import { type Chunkserver, Cluster } from './fixture/cluster.js';
import { until } from './fixture/poll.js';
import { masterRequests } from './fixture/prometheus-text.js';
import { readFrom0, writeAt } from './fixture/session-files.js';

/** The chunk file of `chunkId` on this chunkserver's disks: its version and its data bytes. */
function copyOn(cs: Chunkserver, chunkId: number): { version: number; data: Buffer } | undefined {
  for (const f of cs.chunkFiles()) {
    const m = /^chunk_([0-9A-F]{16})_([0-9A-F]{8})\./.exec(basename(f));
    if (m && parseInt(m[1]!, 16) === chunkId) return { version: parseInt(m[2]!, 16), data: readFileSync(f).subarray(8192) };
  }
  return undefined;
}

describe('chunk versions kept across complete writes', () => {
  it('a complete write keeps the version; a failed or unversioned end, or a copy lost, bumps it', { timeout: 120_000 }, async () => {
    const c = await Cluster.create();
    const servers = await c.addChunkservers(3);
    const s = await c.session();
    const { inode } = await s.create(s.root, 'f', 0o644);
    await s.setgoal(inode, 2);
    const expected = Buffer.alloc(3 * 4096);
    const write = async (offset: number, data: Buffer) => {
      await writeAt(s, inode, offset, data);
      data.copy(expected, offset);
    };
    const chunk = async () => (await s.fileinfo(inode)).chunks[0]!;
    const holders = async () => {
      const ch = await chunk();
      return servers.filter((cs) => ch.copies.some((x) => x.port === cs.port && x.state === 'valid'));
    };

    await write(0, randomBytes(4096));
    const first = await chunk();
    expect(first.copies.map((x) => x.state)).toEqual(['valid', 'valid']);

    // Two more complete writes: same version, no version change on either copy, and
    // both copies hold every byte (a kept version must not hide a copy that missed one).
    await write(4096, randomBytes(4096));
    await write(100, randomBytes(5000));
    const kept = await chunk();
    expect(kept.version).toBe(first.version);
    for (const cs of await holders()) {
      const copy = copyOn(cs, first.chunkId)!;
      expect(copy.version).toBe(first.version);
      expect(copy.data.equals(expected.subarray(0, 8192))).toBe(true);
    }
    expect((await readFrom0(s, inode, 3 * 4096)).equals(expected.subarray(0, 8192))).toBe(true);

    // The grant after a complete write keeps the version; one after a failed end does not.
    const grant = (ok: boolean, version?: number) => async () => {
      const g = await s.call('writeChunk', { cred: s.cred, inode, index: 0 });
      await s.call('writeChunkEnd', { inode, index: 0, chunkId: g.chunkId, length: 0, ok, ...(version === undefined ? {} : { version: version < 0 ? g.version : version }) });
      return g.version;
    };
    const v = first.version;
    expect(await grant(false)()).toBe(v); // the record of the last complete write is used up here
    expect(await grant(true, -1)()).toBe(v + 1); // after a failed end: bumped
    expect(await grant(true)()).toBe(v + 1); // after a complete end: kept (this end has no version)
    expect(await grant(true, -1)()).toBe(v + 2); // an end without the version made no record
    expect(await grant(true, v)()).toBe(v + 2); // kept; this end names an old version
    expect(await grant(false)()).toBe(v + 3); // so no record: bumped
    for (const cs of await holders()) expect(copyOn(cs, first.chunkId)!.version).toBe(v + 3);

    // Another session cannot vouch for a write it does not hold the lease of: its complete
    // end, naming the right version, makes no record (whether or not it is answered).
    const other = await c.session();
    const held = await s.call('writeChunk', { cred: s.cred, inode, index: 0 });
    expect(held.version).toBe(v + 4);
    const f2 = await other.openFile(inode, O_RDWR);
    await other.call('writeChunkEnd', { inode, index: 0, chunkId: held.chunkId, length: 0, ok: true, version: held.version }).catch(() => undefined);
    await f2.close();
    await s.call('writeChunkEnd', { inode, index: 0, chunkId: held.chunkId, length: 0, ok: true }); // no version: no record
    expect(await grant(false)()).toBe(v + 5);

    // A complete write, then one copy's server is killed: the next write must bump the
    // version on the copy left, so the killed copy is stale when it comes back.
    await write(8192, randomBytes(4096)); // no record (the last end failed): bumped
    expect((await chunk()).version).toBe(v + 6);
    const [victim, survivor] = await holders();
    await victim!.kill('SIGKILL');
    await until('the master sees one valid copy', async () => (await holders()).length === 1, 30_000);
    await write(0, randomBytes(4096));
    const after = await chunk();
    expect(after.version).toBe(v + 7);
    expect(copyOn(survivor!, first.chunkId)!.version).toBe(v + 7);
    await victim!.start();
    // Reported stale, or already deleted by the chunk loop.
    await until('the killed copy is reported stale or deleted', async () => {
      const back = (await chunk()).copies.find((x) => x.port === victim!.port);
      return back?.state === 'stale' || copyOn(victim!, first.chunkId) === undefined;
    }, 30_000);
    expect((await chunk()).copies.find((x) => x.port === victim!.port && x.state === 'valid')).toBeUndefined();
    const s2 = await c.session();
    expect((await readFrom0(s2, inode, 3 * 4096)).equals(expected)).toBe(true);
    await c.stop();
  });

  it("a complete write's end, and an open for reading, bring the chunk's read grant: the first read asks no readChunk, and never reads past a change", { timeout: 60_000 }, async () => {
    const c = await Cluster.create();
    await c.addChunkservers(2);
    const s = await c.session();
    const { inode } = await s.create(s.root, 'g', 0o644);
    await s.setgoal(inode, 2);
    const f = await s.openFile(inode, O_RDWR);
    const data = randomBytes(5000);
    await f.write(0, data);
    await f.flush();
    const info = (await s.fileinfo(inode)).chunks[0]!;
    expect(s.io.locations.get(inode, 0)).toMatchObject({ chunkId: info.chunkId, version: info.version, fileLength: 5000 });
    expect(s.io.locations.get(inode, 0)!.locations).toHaveLength(2);
    const asked = await masterRequests(c.master, 'readChunk');
    expect((await f.read(0, 8192)).equals(data)).toBe(true);
    expect(await masterRequests(c.master, 'readChunk')).toBe(asked);

    // Two chunks' writes ending together: the end the master took first carries the
    // shorter length, which a read of the file must not end at.
    for (let round = 1; round <= 4; round++) {
      const two = await s.openFile((await s.create(s.root, `two${round}`, 0o644)).inode, O_RDWR);
      const b = randomBytes(1000 * round);
      await two.write(0, randomBytes(4096));
      await two.write(CHUNK_SIZE + 4096 * round, b);
      await two.flush();
      const expected = Buffer.concat([Buffer.alloc(4096 * (round + 1)), b]);
      expect((await two.read(CHUNK_SIZE - 4096, 1 << 20)).equals(expected)).toBe(true);
      await two.close();
    }

    // Another session's truncation within the chunk after this one's write moves the chunk
    // to a new version: the cached grant's copies answer ESTALE, and the read ends at the
    // length of the fresh grant, not of the cached one.
    await s.setattr(inode, { size: 0 });
    await f.write(0, data);
    await f.flush();
    expect(s.io.locations.get(inode, 0)?.fileLength).toBe(5000);
    const other = await c.session();
    await other.setattr(inode, { size: 100 });
    expect((await f.read(0, 8192)).equals(data.subarray(0, 100))).toBe(true);
    await f.close();

    // An open for reading brings the first chunk's read grant: the first read asks nothing.
    // An open for writing, or of an empty file, brings none.
    const reader = await c.session();
    const r = await reader.openFile(inode, 0);
    const now = (await reader.fileinfo(inode)).chunks[0]!;
    expect(reader.io.locations.get(inode, 0)).toMatchObject({ chunkId: now.chunkId, version: now.version, fileLength: 100 });
    const before = await masterRequests(c.master, 'readChunk');
    expect((await r.read(0, 8192)).equals(data.subarray(0, 100))).toBe(true);
    expect(await masterRequests(c.master, 'readChunk')).toBe(before);
    await r.close();
    const writer = await c.session();
    await (await writer.openFile(inode, O_RDWR)).close();
    expect(writer.io.locations.get(inode, 0)).toBeUndefined();
    const empty = (await s.create(s.root, 'empty', 0o644)).inode;
    await (await writer.openFile(empty, 0)).close();
    expect(writer.io.locations.get(empty, 0)).toBeUndefined();
    await c.stop();
  });
});
