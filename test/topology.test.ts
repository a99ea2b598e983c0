/**
 * Network topology end to end (issue 13, item 2; MooseFS's mfstopology.cfg): chunkservers
 * on three loopback addresses in two racks, a client on a fourth in the first rack. The
 * same chunkservers carry LABELS (.2: A, .3 and .4: B) for the storage classes (item 1).
 */
import { runTsmfsCli } from '@tsmfs/cli';
import { O_RDWR } from '@tsmfs/client';
import { describe, expect, it } from 'vitest';
import { Cluster } from './fixture/cluster.js';
import { until } from './fixture/poll.js';

describe('topology', () => {
  it('puts the two copies of a goal-2 chunk on two racks and serves reads from the closest; storage classes place copies by labels and move them', { timeout: 60_000 }, async () => {
    // The client (127.0.0.1) shares rack dc|a with 127.0.0.2; 127.0.0.3 and .4 are rack dc|b.
    const c = await Cluster.create({
      master: { topology: ['# two racks', '127.0.0.1-127.0.0.2  dc|a', '127.0.0.3-127.0.0.4  dc|b'], config: { REPLICATIONS_DELAY_INIT: 0, CHUNKS_LOOP_MIN_TIME: 1 } },
    });
    const LABELS: Record<string, string> = { '127.0.0.2': 'A', '127.0.0.3': 'B', '127.0.0.4': 'B' };
    await Promise.all(Object.entries(LABELS).map(([host, labels]) => c.addChunkservers(1, { config: { CSSERV_LISTEN_HOST: host, LABELS: labels } })));
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
    // Each server's rack, in the API and in tsmfs-cli -SCS (MooseFS 3.0's lists show none).
    const listed = (await (await fetch(`http://127.0.0.1:${c.master.ports.http}/api/v1/chunkservers`)).json()) as { host: string; rack: string }[];
    expect(Object.fromEntries(listed.map((v) => [v.host, v.rack]))).toEqual({ '127.0.0.2': 'dc|a', '127.0.0.3': 'dc|b', '127.0.0.4': 'dc|b' });
    let text = '';
    expect(await runTsmfsCli(['-P', String(c.master.ports.http), '-SCS'], { out: (t) => (text += t), err: () => {} })).toBe(0);
    expect(text).toMatch(/\n *\d+ +127\.0\.0\.2:\d+ .* A +dc\|a\n/);
    expect(text).toMatch(/\n *\d+ +127\.0\.0\.3:\d+ .* B +dc\|b\n/);

    // Storage classes (docs/master.md, "Storage classes"): 'bb' keeps two copies on B
    // servers, against the racks' preference; 'ab' one on A and one on B.
    const def = { cred: s.cred, adminOnly: false, mode: 'default' as const, create: '', archive: '', archiveDelay: 0 };
    await s.call('sclassCreate', { ...def, name: 'bb', keep: '2B' });
    await s.call('sclassCreate', { ...def, name: 'ab', keep: 'A,B' });
    const hostsOf = async (inode: number) => (await s.fileinfo(inode)).chunks.map((k) => k.copies.filter((x) => x.state === 'valid').map((x) => x.host).sort().join());
    const classed: number[] = [];
    for (let i = 0; i < 4; i++) {
      const { inode } = await s.create(s.root, `b${i}`, 0o644);
      await s.call('setsclass', { cred: s.cred, inode, name: 'bb', recursive: false });
      const f = await s.openFile(inode, O_RDWR);
      await f.write(0, Buffer.alloc(1000, i));
      await f.close();
      classed.push(inode);
      for (const hosts of await hostsOf(inode)) expect(hosts).toBe('127.0.0.3,127.0.0.4');
    }
    // A new class: each chunk gets a copy on .2 (A), then loses one of its copies on B.
    for (const inode of classed) expect(await s.call('setsclass', { cred: s.cred, inode, name: 'ab', recursive: false })).toEqual({ changed: 1, notChanged: 0, denied: 0 });
    await until('the copies moved to the new class\'s labels', async () => {
      for (const inode of classed) for (const hosts of await hostsOf(inode)) if (!/^127\.0\.0\.2,127\.0\.0\.[34]$/.test(hosts)) return undefined;
      return true;
    }, 30_000);
    for (const [i, inode] of classed.entries()) {
      const f = await s.openFile(inode, O_RDWR);
      expect((await f.read(0, 1000)).equals(Buffer.alloc(1000, i))).toBe(true);
      await f.close();
    }
    // The monitor's view (and tsmfs-cli -SSC's): every chunk of 'ab' where it belongs; 'bb' empty.
    const views = (await (await fetch(`http://127.0.0.1:${c.master.ports.http}/api/v1/sclasses`)).json()) as { name: string; files: number; chunks: Record<string, number>; canKeep: boolean }[];
    expect(views.find((v) => v.name === 'ab')).toMatchObject({ files: 4, canKeep: true, chunks: { total: 4, ok: 4, misplaced: 0, underGoal: 0, overGoal: 0, lost: 0, archived: 0 } });
    expect(views.find((v) => v.name === 'bb')).toMatchObject({ files: 0, chunks: { total: 0 } });
    await c.stop();
  });
});
