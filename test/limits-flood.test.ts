/**
 * A peer that floods requests and never reads a reply, on every port (docs/security.md,
 * "Limits"): the daemon's memory stays within a bound and another client's requests stay
 * fast. Real daemons; the hostile peers are raw sockets speaking the frame format.
 */
import { connect } from 'node:net';
import { type MasterSession, O_RDWR } from '@tsmfs/client';
import { CHUNK_SIZE } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import { Cluster, type DaemonProcess } from './fixture/cluster.js';
import { NonReadingPeer, drainedWithin, latencies, percentile, rssOf } from './fixture/hostile-peer.js';

const MiB = 1024 * 1024;
/** What one flooding connection may add to a daemon's RSS (the documented bound is lower; this leaves room for GC). */
const RSS_GROWTH_BOUND = 64 * MiB;
/** Another client's p99 and worst case under the flood: correctness bounds on a loaded 2-core machine, not benchmarks. */
const P99_BOUND_MS = 200;
const MAX_BOUND_MS = 5000;

/** `n` entries in a new directory, created pipelined; returns its inode. */
async function bigDirectory(s: MasterSession, n: number): Promise<number> {
  const dir = await s.mkdir(s.root, 'big');
  for (let i = 0; i < n; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, n - i) }, (_, j) => s.mknod(dir.inode, `entry-${String(i + j).padStart(6, '0')}`, 'file', 0o644)));
  }
  return dir.inode;
}

/**
 * Runs the flood, measures another client meanwhile, and reports the figures (printed for
 * docs/security.md) after asserting the bounds.
 */
async function underFlood(label: string, daemon: DaemonProcess, flood: () => Promise<void>, probe: () => Promise<unknown>): Promise<void> {
  await latencies(20, probe); // warm-up
  const before = rssOf(daemon.pid);
  const flooding = flood();
  const lat = await latencies(200, probe);
  await flooding;
  await new Promise((r) => setTimeout(r, 1000));
  const growth = rssOf(daemon.pid) - before;
  const figures = { rssBeforeMiB: +(before / MiB).toFixed(1), rssGrowthMiB: +(growth / MiB).toFixed(1), p50: +percentile(lat, 50).toFixed(2), p99: +percentile(lat, 99).toFixed(2), max: +lat.at(-1)!.toFixed(2) };
  process.stderr.write(`[limits flood] ${label}: ${JSON.stringify(figures)}\n`);
  expect(daemon.running).toBe(true);
  expect(growth).toBeLessThan(RSS_GROWTH_BOUND);
  expect(percentile(lat, 99)).toBeLessThan(P99_BOUND_MS);
  expect(lat.at(-1)!).toBeLessThan(MAX_BOUND_MS);
}

describe('a peer that never reads its replies', () => {
  it('on the client port (9421): 300 whole-directory readdirs hold at most a few pages', async () => {
    const c = await Cluster.create();
    const s = await c.session();
    const dir = await bigDirectory(s, 3000);
    const other = await c.session();
    const peer = await NonReadingPeer.open(c.master.ports.matocl, 'client');
    await underFlood(
      'client port, readdir of 3000 entries x300',
      c.master.process!,
      async () => {
        await peer.flood('register', { subdir: '/', meta: false, readonly: false, hostname: 'hostile', mountpoint: '/h' }, 1);
        await peer.flood('readdir', { cred: { uid: 0, gid: 0, groups: [0] }, inode: dir, cookie: 0, max: 100_000, withAttrs: true }, 300);
      },
      () => other.getattr(dir),
    );
  }, 180_000);

  it('on the metalogger port (9419): 300 fetches of 1 MiB of changelog are not all held', async () => {
    const c = await Cluster.create();
    const s = await c.session();
    await bigDirectory(s, 3000);
    const other = await c.session();
    const peer = await NonReadingPeer.open(c.master.ports.matoml, 'metalogger');
    await underFlood(
      'metalogger port, mlFetch of 1 MiB x300',
      c.master.process!,
      () => peer.flood('mlFetch', { after: 0, maxBytes: MiB, waitMs: 0 }, 300),
      () => other.getattr(s.root),
    );
  }, 180_000);

  it('on the chunkserver port (9420): 200,000 pings are not all answered into memory', async () => {
    const c = await Cluster.create();
    const other = await c.session();
    const peer = await NonReadingPeer.open(c.master.ports.matocs, 'chunkserver');
    await underFlood('chunkserver port, ping x200000', c.master.process!, () => peer.flood('ping', {}, 200_000), () => other.getattr(other.root));
  }, 180_000);

  it('on the chunkserver data port (9422): 300 reads of a whole chunk hold one batch, not 300', async () => {
    const c = await Cluster.create();
    const [cs] = await c.addChunkservers(1);
    const s = await c.session();
    const attr = await s.create(s.root, 'data', 0o644);
    const f = await s.openFile(attr.inode, O_RDWR);
    await f.write(0, Buffer.alloc(8 * MiB, 7));
    await f.close();
    const grant = await s.call('readChunk', { inode: attr.inode, index: 0 });
    const reader = await s.openFile(attr.inode, 0);
    const peer = await NonReadingPeer.open(cs!.address.port, 'client');
    await underFlood(
      'data port, dataRead of 8 MiB x300',
      cs!.process!,
      () => peer.flood('dataRead', { chunkId: grant.chunkId, version: grant.version, offset: 0, length: 8 * MiB }, 300),
      () => reader.read(0, 64 * 1024),
    );
    expect(grant.chunkId).toBeGreaterThan(0);
    expect(8 * MiB).toBeLessThan(CHUNK_SIZE);
  }, 180_000);

  it('on the HTTP port (9425): 20,000 pipelined GETs of /metrics', async () => {
    const c = await Cluster.create();
    const other = await c.session();
    const socket = connect({ host: '127.0.0.1', port: c.master.ports.http });
    await new Promise((r) => socket.once('connect', r));
    socket.on('error', () => undefined);
    socket.pause();
    try {
      await underFlood(
        'HTTP port, GET /metrics x20000',
        c.master.process!,
        async () => {
          const request = Buffer.from('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(1000));
          for (let i = 0; i < 20; i++) if (!socket.write(request)) await drainedWithin(socket, 2000);
        },
        () => other.getattr(other.root),
      );
    } finally {
      socket.destroy();
    }
  }, 180_000);
});
