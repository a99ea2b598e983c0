/**
 * Network topology end to end (issue 13, item 2; MooseFS's mfstopology.cfg): chunkservers
 * on three loopback addresses in two racks, a client on a fourth in the first rack.
 */
import { O_RDWR } from '@tsmfs/client';
import { describe, expect, it } from 'vitest';
import { Cluster } from './fixture/cluster.js';
import { until } from './fixture/poll.js';

describe('topology', () => {
  it('puts the two copies of a goal-2 chunk on two racks and serves reads from the closest', { timeout: 60_000 }, async () => {
    // The client (127.0.0.1) shares rack dc|a with 127.0.0.2; 127.0.0.3 and .4 are rack dc|b.
    const c = await Cluster.create({ master: { topology: ['# two racks', '127.0.0.1-127.0.0.2  dc|a', '127.0.0.3-127.0.0.4  dc|b'] } });
    await Promise.all(['127.0.0.2', '127.0.0.3', '127.0.0.4'].map((host) => c.addChunkservers(1, { config: { CSSERV_LISTEN_HOST: host } })));
    const s = await c.session();
    const files: number[] = [];
    // Placement without a topology put both copies on rack b (.3 and .4) for a third of the chunks.
    for (let i = 0; i < 16; i++) {
      const { inode } = await s.create(s.root, `f${i}`, 0o644);
      await s.setgoal(inode, 2);
      const f = await s.openFile(inode, O_RDWR);
      await f.write(0, Buffer.alloc(64 * 1024, i));
      await f.close();
      files.push(inode);
      const hosts = (await s.fileinfo(inode)).chunks[0]!.copies.map((k) => k.host).sort();
      expect(hosts[0]).toBe('127.0.0.2');
      expect(['127.0.0.3', '127.0.0.4']).toContain(hosts[1]);
    }
    // A read grant lists the copy in the client's rack first, with the distances.
    const grant = await s.call('readChunk', { inode: files[0]!, index: 0 });
    expect(grant.locations.map((l) => [l.host, l.distance])).toEqual([['127.0.0.2', 1], [expect.stringMatching(/^127\.0\.0\.[34]$/), 2]]);
    // Every read goes there: the other rack's servers serve nothing.
    const served = async (): Promise<Map<string, number>> => {
      const res = await fetch(`http://127.0.0.1:${c.master.ports.http}/api/v1/chunkservers`);
      const view = (await res.json()) as { host: string; bytesRead: number }[];
      return new Map(view.map((v) => [v.host, v.bytesRead]));
    };
    const before = await served();
    for (let round = 0; round < 2; round++) {
      for (const [i, inode] of files.entries()) {
        const f = await s.openFile(inode, O_RDWR);
        expect((await f.read(0, 64 * 1024)).equals(Buffer.alloc(64 * 1024, i))).toBe(true);
        await f.close();
      }
    }
    const after = await until('the reads in the heartbeats', async () => {
      const now = await served();
      return now.get('127.0.0.2')! - (before.get('127.0.0.2') ?? 0) >= 2 * 16 * 64 * 1024 ? now : undefined;
    });
    for (const host of ['127.0.0.3', '127.0.0.4']) expect(after.get(host)).toBe(before.get(host));
    await c.stop();
  });
});
