/**
 * A chunk's CRC header is kept in memory while the chunk is written and written when the
 * write ends, on a sync and at close (docs/chunkserver.md, "Crashes and the header").
 * What a SIGKILL of the chunkserver then may and may not cost, with real processes: a
 * write the client saw end (dataWriteEnd answered, with or without fsync) reads back
 * whole; a write that never ended leaves its overwritten blocks failing their CRC (the
 * copy is reported damaged, EIO to readers) and its appended bytes cut.
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { type MasterSession, O_RDWR } from '@tsmfs/client';
import { BLOCK_SIZE, DataFrameType, Status, dataCrc, decodeDataWriteStatus, encodeDataBlock } from '@tsmfs/protocol';
import { dial } from '@tsmfs/rpc';
import { describe, expect, it } from 'vitest';
import { Cluster } from './fixture/cluster.js';

const MiB = 1024 * 1024;
const HEADER = 8192;

async function writeFile(s: MasterSession, name: string, data: Buffer, fsync: boolean): Promise<number> {
  const attr = await s.create(s.root, name, 0o644);
  const f = await s.openFile(attr.inode, O_RDWR);
  await f.write(0, data);
  if (fsync) await f.fsync();
  await f.close();
  return attr.inode;
}

async function readBack(s: MasterSession, inode: number, offset: number, length: number): Promise<Buffer> {
  const f = await s.openFile(inode, 0);
  try {
    return await f.read(offset, length);
  } finally {
    await f.close();
  }
}

describe('chunk header written at the end of a write', () => {
  it('SIGKILL of the chunkserver: ended writes read back whole; an unended one is damaged where it overwrote, cut where it appended', { timeout: 120_000 }, async () => {
    const c = await Cluster.create({ master: { config: { REPLICATIONS_DELAY_INIT: 0, CHUNKS_LOOP_MIN_TIME: 1, CHUNKSERVER_TIMEOUT: 5 } } });
    const [cs] = await c.addChunkservers(1);
    const s = await c.session();
    const synced = randomBytes(2 * MiB + 12_345);
    const ended = randomBytes(MiB + 7);
    const before = randomBytes(MiB);
    const syncedInode = await writeFile(s, 'synced', synced, true);
    const endedInode = await writeFile(s, 'ended', ended, false);
    const pendingInode = await writeFile(s, 'pending', before, false);

    // A write of 'pending' that never ends: block 2 overwritten, a block appended at 1 MiB,
    // both acknowledged by the chunkserver, then no dataWriteEnd.
    const grant = await s.call('writeChunk', { cred: s.cred, inode: pendingInode, index: 0 });
    const loc = grant.locations[0]!;
    const { conn } = await dial({ host: loc.host, port: loc.port, role: 'client', name: 'test', requestTimeoutMs: 10_000 });
    await conn.request('dataWriteInit', { chunkId: grant.chunkId, version: grant.version, token: loc.token, chain: [] });
    const pieces = [
      { offset: 2 * BLOCK_SIZE, data: randomBytes(BLOCK_SIZE) },
      { offset: MiB, data: randomBytes(BLOCK_SIZE) },
    ];
    for (const [seq, p] of pieces.entries()) {
      const reply = await conn.requestData(DataFrameType.write, [encodeDataBlock({ chunkId: grant.chunkId, version: grant.version, seq, offset: p.offset, crc: dataCrc(p.data), data: p.data })]);
      expect(decodeDataWriteStatus(reply).status).toBe(Status.OK);
    }
    await cs!.kill('SIGKILL');
    conn.close();
    await s.call('writeChunkEnd', { inode: pendingInode, index: 0, chunkId: grant.chunkId, length: 0, ok: false });
    await cs!.start();

    const s2 = await c.session();
    expect((await readBack(s2, syncedInode, 0, synced.length)).equals(synced)).toBe(true);
    expect((await readBack(s2, endedInode, 0, ended.length)).equals(ended)).toBe(true);
    // Blocks the unended write did not touch are intact, and its append is gone.
    expect((await s2.getattr(pendingInode)).size).toBe(MiB);
    expect((await readBack(s2, pendingInode, 0, 2 * BLOCK_SIZE)).equals(before.subarray(0, 2 * BLOCK_SIZE))).toBe(true);
    const chunkFile = cs!.chunkFiles().find((f) => f.includes(`_${grant.version.toString(16).toUpperCase().padStart(8, '0')}.tsmfs`) && f.includes(grant.chunkId.toString(16).toUpperCase().padStart(16, '0')));
    expect(statSync(chunkFile!).size).toBe(HEADER + MiB);
    // The overwritten block: EIO, and the copy reported damaged to the master.
    await expect(readBack(s2, pendingInode, 2 * BLOCK_SIZE, BLOCK_SIZE)).rejects.toMatchObject({ status: Status.EIO });
    expect(cs!.logs().some((l) => l.msg === 'damaged chunk' && l.chunkId === grant.chunkId && l.block === 2)).toBe(true);
    await c.stop();
  });

  it('goal 1, SIGKILL in the middle of a long chunk write: the client sends the acknowledged pieces again and the file reads back whole', { timeout: 400_000 }, async () => {
    const c = await Cluster.create({ master: { config: { REPLICATIONS_DELAY_INIT: 0, CHUNKS_LOOP_MIN_TIME: 1, CHUNKSERVER_TIMEOUT: 5 } } });
    const [cs] = await c.addChunkservers(1);
    const s = await c.session();
    const data = randomBytes(40 * MiB);
    const attr = await s.create(s.root, 'long', 0o644);
    const f = await s.openFile(attr.inode, O_RDWR);
    const chunkSize = (): number => {
      const file = cs!.chunkFiles()[0];
      return file ? statSync(file).size : 0;
    };
    const waitSize = async (bytes: number): Promise<void> => {
      const deadline = Date.now() + 60_000;
      while (chunkSize() < bytes && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    };
    // The chunk write takes the first 8 MiB; while its pieces are still going out the
    // other 32 MiB arrive and go out on the same grant: no write end in between.
    for (let o = 0; o < 8 * MiB; o += MiB) await f.write(o, data.subarray(o, o + MiB));
    await waitSize(HEADER + MiB);
    for (let o = 8 * MiB; o < data.length; o += MiB) await f.write(o, data.subarray(o, o + MiB));
    // Pieces past the first 12 MiB acknowledged (on disk), the write not ended yet.
    await waitSize(HEADER + 12 * MiB);
    const atKill = chunkSize();
    await cs!.kill('SIGKILL');
    expect(atKill, 'the kill came after the chunk write ended: nothing was tested').toBeLessThan(HEADER + data.length);
    expect(atKill).toBeGreaterThanOrEqual(HEADER + 12 * MiB);
    await cs!.start();
    await f.fsync();
    expect(s.io.stats.writeRetries).toBeGreaterThan(0);
    await f.close();
    const s2 = await c.session();
    expect((await readBack(s2, attr.inode, 0, data.length)).equals(data)).toBe(true);
    await c.stop();
  });
});
