#!/usr/bin/env node
// The read path of one 4 KiB read, hop by hop (issue 11): a cluster of 3 chunkservers
// (goal 2, loopback) mounted here, one file laid out by fio, then the same kind of read
// measured at each layer, one at a time, so that differences between layers are the cost
// of the layer in between:
//   ping      a `ping` request on the client's data link to a chunkserver (two event loops + TCP)
//   dataRead  a 4 KiB dataRead on that link (+ the chunkserver's disk read and CRC check)
//   handle    FileHandle.read of 4 KiB (+ the client library: location cache, drain, retries)
//   fio       fio psync O_DIRECT 4 KiB random reads through the mount (+ kernel FUSE, binding, mount)
// and per fio read: CPU of the mount, the chunkservers and the master, FUSE requests
// (.stats) and master requests (its /metrics). --flushes times 4 KiB writes each flushed
// through the client library (and how often they moved the chunk's version), then each followed by a
// 4 KiB read of it. --mix adds the compare benchmark's fio mix
// (4 jobs, 70/30 randrw, O_DIRECT), --small the write (create + write + close) and the
// cold read (open + read + release) of 4 KiB files, all with their request counts. Progress on stderr, JSON on stdout.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Command } from 'commander';
// Not part of @tsmfs/client's API: the one dataRead the client library makes per read.
import { readChunkRange } from '../packages/client/dist/chunk-reader.js';
import { O_RDWR } from '@tsmfs/client';
import { settings } from '@tsmfs/launcher';
import { mountCluster, startDataCluster, stopCluster } from './lib/cluster.js';
import { cpuSeconds } from './lib/daemons.js';
import { runFsOps } from './lib/fs-ops.js';

const execFileP = promisify(execFile);
const opts = new Command('bench-read-path')
  .description('One 4 KiB read hop by hop: data link, chunkserver, client library, mount; CPU and requests per read')
  .option('--mib <n>', 'size of the file read at random', '64')
  .option('--count <n>', 'reads per layer measured from this process', '3000')
  .option('--seconds <n>', 'fio run time', '5')
  .option('--flushes <n>', 'also n writes of 4 KiB through the client library, each flushed (grant, chain, writeChunkEnd)')
  .option('--mix', "also the compare benchmark's fio mix (4 jobs, 4 KiB randrw 70/30, O_DIRECT)")
  .option('--small <n>', 'also write n files of 4 KiB (create + write + close), drop the caches and read them (open + read + release)')
  .option('--save-mode <m>', "the master's CHANGELOG_SAVE_MODE (default: the master's)")
  .option('--cpu-prof <dir>', 'write CPU profiles of every daemon and the mount (node --cpu-prof) there')
  .parse()
  .opts();
const KiB4 = 4096;
const SIZE = Number(opts.mib) << 20;
const progress = (msg) => process.stderr.write(`[bench read-path] ${msg}\n`);

async function fio(args) {
  const { stdout } = await execFileP('fio', ['--output-format=json', '--ioengine=psync', ...args], { maxBuffer: 64 << 20 });
  return JSON.parse(stdout.slice(stdout.indexOf('{')));
}

function stats(list) {
  const s = [...list].sort((a, b) => a - b);
  return { meanUs: Math.round(s.reduce((n, x) => n + x, 0) / s.length), p50Us: Math.round(s[s.length >> 1]), p99Us: Math.round(s[Math.floor(s.length * 0.99)]) };
}

async function timeEach(count, fn) {
  const lat = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await fn(i);
    lat.push((performance.now() - t0) * 1000);
  }
  return stats(lat);
}

/** The master's request counts by message, from its Prometheus endpoint. */
async function masterRequests(cluster) {
  const text = await (await fetch(`http://127.0.0.1:${cluster.master.ports.http}/metrics`)).text();
  const out = {};
  for (const m of text.matchAll(/^tsmfs_master_requests_total\{op="([^"]+)",status="[^"]*"\} (\d+)/gm)) out[m[1]] = (out[m[1]] ?? 0) + Number(m[2]);
  return out;
}

/** The mount's FUSE request counts (its .stats file: "name: n" lines). */
function fuseRequests(mnt) {
  const out = {};
  for (const m of readFileSync(join(mnt, '.stats'), 'utf8').matchAll(/^([a-z_]+): (\d+)$/gm)) out[m[1]] = Number(m[2]);
  return out;
}

const diff = (a, b, per) => Object.fromEntries(Object.keys(b).filter((k) => b[k] !== (a[k] ?? 0)).map((k) => [k, +((b[k] - (a[k] ?? 0)) / per).toFixed(3)]));

/** Counts and CPU per operation around `run` (which resolves with the number of operations). */
async function perOp(cluster, mnt, mountPid, run) {
  const pids = { mount: [mountPid], chunkservers: cluster.chunkservers.map((c) => c.child.pid), master: [cluster.master.child.pid] };
  const cpu = () => Object.fromEntries(Object.entries(pids).map(([k, ps]) => [k, ps.reduce((n, p) => n + cpuSeconds(p), 0)]));
  const [m0, f0, c0] = [await masterRequests(cluster), fuseRequests(mnt), cpu()];
  const { ops, ...rest } = await run();
  const [m1, f1, c1] = [await masterRequests(cluster), fuseRequests(mnt), cpu()];
  return {
    ops,
    ...rest,
    cpuUsPerOp: Object.fromEntries(Object.keys(c0).map((k) => [k, Math.round(((c1[k] - c0[k]) * 1e6) / ops)])),
    fuseRequestsPerOp: diff(f0, f1, ops),
    masterRequestsPerOp: diff(m0, m1, ops),
  };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'tsmfs-bench-rp-'));
  const result = { load: loadavg().map((x) => +x.toFixed(2)) };
  let cluster;
  try {
    if (opts.cpuProf) settings.nodeFlags = ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProf}`];
    const masterConfig = opts.saveMode === undefined ? {} : { CHANGELOG_SAVE_MODE: opts.saveMode };
    cluster = await startDataCluster(dir, { masterConfig, csConfig: { HDD_TEST_FREQ: 0 } });
    const mnt = await mountCluster(cluster, join(dir, 'mnt'));
    const mountPid = cluster.mounts[0].pid;
    const file = join(mnt, 'rand');
    progress(`laying out ${SIZE >> 20} MiB`);
    await fio(['--name=layout', '--filename', file, `--size=${SIZE}`, '--bs=1M', '--rw=write', '--end_fsync=1']);
    const { session } = cluster;
    const attr = await session.lookup(session.root, 'rand');
    const handle = await session.openFile(attr.inode, 0);
    const count = Number(opts.count);
    const offsets = Array.from({ length: count }, () => Math.floor(Math.random() * (SIZE / KiB4)) * KiB4);
    const grant = await session.io.grant(attr.inode, 0);
    const loc = grant.locations[0];
    const conn = await session.io.links.reader(loc);
    const hops = {};
    for (let round = 0; round < 2; round++) {
      // Two rounds, the first warms up (JIT, page cache, idle chunk files); the second counts.
      hops.ping = await timeEach(count, () => conn.request('ping', {}));
      hops.dataRead = await timeEach(count, (i) => readChunkRange(session.io.links, grant, offsets[i] % (64 << 20), KiB4));
      hops.handle = await timeEach(count, (i) => handle.read(offsets[i], KiB4));
    }
    progress(`hops in this process: ${JSON.stringify(hops)}`);
    await handle.close();
    if (opts.flushes) {
      // One 4 KiB write and its flush at a time through the client library (no FUSE): a
      // grant, the chain (init, piece, end) and writeChunkEnd per flush.
      const n = Number(opts.flushes);
      const w = await session.openFile(attr.inode, O_RDWR);
      const data = Buffer.alloc(KiB4, 7);
      const version = async () => (await session.fileinfo(attr.inode)).chunks[0].version;
      const v0 = await version();
      result.flush = await perOp(cluster, mnt, mountPid, async () => ({
        ops: n,
        ...(await timeEach(n, async (i) => {
          await w.write(offsets[i % count] % (64 << 20), data);
          await w.flush();
        })),
      }));
      result.flush.versionMoves = (await version()) - v0;
      // The same, each flush followed by a 4 KiB read of what it wrote (as a read after
      // buffered writes in the fio mix): the read's chunk grant comes from the write's end.
      const readLat = [];
      result.flushRead = await perOp(cluster, mnt, mountPid, async () => ({
        ops: n,
        ...(await timeEach(n, async (i) => {
          const at = offsets[i % count] % (64 << 20);
          await w.write(at, data);
          await w.flush();
          const t0 = performance.now();
          await w.read(at, KiB4);
          readLat.push((performance.now() - t0) * 1000);
        })),
      }));
      result.flushRead.read = stats(readLat);
      await w.close();
      progress(`4 KiB write + flush: ${JSON.stringify(result.flush)}`);
      progress(`4 KiB write + flush + read: ${JSON.stringify(result.flushRead)}`);
    }
    const run = ['--filename', file, `--size=${SIZE}`, '--bs=4k', '--direct=1', '--time_based', `--runtime=${opts.seconds}`];
    await fio(['--name=warm', ...run, '--rw=randread', '--runtime=1']);
    result.fio = await perOp(cluster, mnt, mountPid, async () => {
      const out = (await fio(['--name=randread', ...run, '--rw=randread'])).jobs[0].read;
      return { ops: out.total_ios, iops: Math.round(out.iops), clatMeanUs: Math.round(out.clat_ns.mean / 1000), clatP50Us: Math.round(out.clat_ns.percentile['50.000000'] / 1000) };
    });
    hops.fio = { meanUs: result.fio.clatMeanUs, p50Us: result.fio.clatP50Us };
    result.hops = hops;
    progress(`fio randread: ${JSON.stringify(result.fio)}`);
    if (opts.mix) {
      const mixDir = join(mnt, 'mix');
      mkdirSync(mixDir);
      const args = ['--name=mix', `--directory=${mixDir}`, '--numjobs=4', '--size=16M', '--bs=4k', '--rw=randrw', '--rwmixread=70', '--direct=1', '--group_reporting'];
      await fio([...args, '--time_based', '--runtime=1']);
      result.mix = await perOp(cluster, mnt, mountPid, async () => {
        const j = (await fio([...args, '--time_based', `--runtime=${opts.seconds}`])).jobs[0];
        return { ops: j.read.total_ios + j.write.total_ios, iops: Math.round(j.read.iops + j.write.iops), readClatMeanUs: Math.round(j.read.clat_ns.mean / 1000), writeClatMeanUs: Math.round(j.write.clat_ns.mean / 1000) };
      });
      // How often the writes moved the files' chunks to a new version (each move: a
      // chunkSetVersion on every copy: header rewrite, fdatasync, rename).
      const mixInode = (await session.lookup(session.root, 'mix')).inode;
      result.mix.chunkVersions = [];
      for (const name of readdirSync(mixDir).sort()) {
        const info = await session.fileinfo((await session.lookup(mixInode, name)).inode);
        result.mix.chunkVersions.push(...info.chunks.map((c) => c.version));
      }
      progress(`fio mix: ${JSON.stringify(result.mix)}`);
    }
    if (opts.small) {
      const n = Number(opts.small);
      const smallDir = join(mnt, 'small');
      mkdirSync(smallDir);
      result.smallWrite = await perOp(cluster, mnt, mountPid, async () => {
        const s = await runFsOps([{ op: 'write', dir: smallDir, n, size: KiB4 }]);
        return { ops: n, perSecond: Math.round(n / s) };
      });
      progress(`small-file write: ${JSON.stringify(result.smallWrite)}`);
      await execFileP('sync');
      if (process.getuid() === 0) writeFileSync('/proc/sys/vm/drop_caches', '3');
      result.smallRead = await perOp(cluster, mnt, mountPid, async () => {
        const s = await runFsOps([{ op: 'read', dir: smallDir, n }]);
        return { ops: n, perSecond: Math.round(n / s) };
      });
      progress(`small-file cold read: ${JSON.stringify(result.smallRead)}`);
    }
  } finally {
    if (cluster) await stopCluster(cluster);
    rmSync(dir, { recursive: true, force: true });
    console.log(JSON.stringify(result, null, 2));
  }
}

await main();
