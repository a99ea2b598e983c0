#!/usr/bin/env node
// Data path benchmarks (issue 3): sequential write and read of a file through the client
// library (no FUSE) at goal 1 and goal 2 on three chunkservers, against the raw disk
// speed of the same file system measured with dd; chunkserver CPU per GiB (utime+stime
// from /proc/PID/stat); time to re-replicate after a chunkserver is killed. Real
// processes on loopback, a temp dir. Progress on stderr, a JSON summary on stdout.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { O_RDWR } from '@tsmfs/client';
import { settings } from '@tsmfs/launcher';
import { startDataCluster } from './lib/cluster.js';
import { cpuSeconds, stop } from './lib/daemons.js';


const opts = new Command('bench-data-path')
  .description('Benchmark the data path: client write/read throughput, chunkserver CPU per GiB, re-replication time')
  .option('--size <MiB>', 'file size in MiB', '1024')
  .option('--dir <path>', 'where the disks go (the file system measured)', tmpdir())
  .option('--piece <KiB>', 'size of each write/read call', '1024')
  .option('--parallel <n>', 'calls in flight', '8')
  .option('--reads <rounds>', 'reads only: write one goal-1 file, then read it back this many times (sequential, then --random 4 KiB reads); no dd, goal 2 or re-replication')
  .option('--random <n>', 'with --reads: 4 KiB reads at random offsets per round, one at a time (fio psync-like)', '2000')
  .option('--cpu-prof <dir>', "with --reads: write the master's and chunkservers' CPU profiles (node --cpu-prof) there")
  .parse()
  .opts();
const MiB = 1024 * 1024;
const SIZE = Number(opts.size) * MiB;
const PIECE = Number(opts.piece) * 1024;
const PARALLEL = Number(opts.parallel);
const TICK = 100; // USER_HZ

const progress = (msg) => process.stderr.write(`[bench data-path] ${msg}\n`);

async function pool(count, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    while (next < count) await fn(next++);
  }));
}

async function writeFile(session, name, goal, pattern) {
  const attr = await session.create(session.root, name, 0o644);
  if (goal !== 1) await session.setgoal(attr.inode, goal);
  const f = await session.openFile(attr.inode, O_RDWR);
  const t0 = performance.now();
  await pool(SIZE / PIECE, (i) => f.write(i * PIECE, pattern.subarray((i * PIECE) % pattern.length, ((i * PIECE) % pattern.length) + PIECE)));
  await f.fsync();
  const s = (performance.now() - t0) / 1000;
  await f.close();
  return { inode: attr.inode, seconds: s };
}

async function readFile(session, inode, pattern) {
  const f = await session.openFile(inode, 0);
  const t0 = performance.now();
  let bad = 0;
  await pool(SIZE / PIECE, async (i) => {
    const got = await f.read(i * PIECE, PIECE);
    const off = (i * PIECE) % pattern.length;
    if (!got.equals(pattern.subarray(off, off + PIECE))) bad++;
  });
  const s = (performance.now() - t0) / 1000;
  await f.close();
  if (bad) throw new Error(`${bad} pieces read back wrong`);
  return s;
}


function rawDisk(dir) {
  const file = join(dir, 'raw.bin');
  const count = String(SIZE / MiB);
  const t0 = performance.now();
  execFileSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${count}`, 'conv=fdatasync'], { stdio: 'ignore' });
  const write = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  execFileSync('dd', [`if=${file}`, 'of=/dev/null', 'bs=1M'], { stdio: 'ignore' });
  const readCached = (performance.now() - t1) / 1000;
  const t2 = performance.now();
  execFileSync('dd', [`if=${file}`, 'of=/dev/null', 'bs=1M', 'iflag=direct'], { stdio: 'ignore' });
  const readDirect = (performance.now() - t2) / 1000;
  rmSync(file);
  return { write, readCached, readDirect };
}

const mibps = (s) => Math.round(SIZE / MiB / s);
const clientCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** 4 KiB reads at random 4 KiB-aligned offsets, one at a time; latencies in microseconds. */
async function randomReads(session, inode, pattern, count) {
  const f = await session.openFile(inode, 0);
  const lat = [];
  for (let i = 0; i < count; i++) {
    const off = Math.floor(Math.random() * (SIZE / 4096)) * 4096;
    const t0 = performance.now();
    const got = await f.read(off, 4096);
    lat.push((performance.now() - t0) * 1000);
    const p = ((Math.floor(off / PIECE) * PIECE) % pattern.length) + (off % PIECE); // as writeFile laid it out
    if (!got.equals(pattern.subarray(p, p + 4096))) throw new Error(`random read at ${off} came back wrong`);
  }
  await f.close();
  lat.sort((a, b) => a - b);
  return { meanUs: Math.round(lat.reduce((n, x) => n + x, 0) / lat.length), p50Us: Math.round(lat[lat.length >> 1]), p99Us: Math.round(lat[Math.floor(lat.length * 0.99)]) };
}

/** --reads: one goal-1 file, read back `rounds` times sequentially and at random; CPU of the chunkservers and of this client. */
async function readsOnly(cluster, result) {
  const { session, chunkservers } = cluster;
  const pattern = randomBytes(64 * MiB + PIECE);
  const cpu = () => chunkservers.reduce((n, c) => n + cpuSeconds(c.child.pid), 0);
  const w = await writeFile(session, 'reads', 1, pattern);
  result.writeMiBps = mibps(w.seconds);
  result.rounds = [];
  const count = Number(opts.random);
  for (let r = 0; r < Number(opts.reads); r++) {
    const [c0, k0] = [cpu(), clientCpu()];
    const s = await readFile(session, w.inode, pattern);
    const [c1, k1] = [cpu(), clientCpu()];
    const rnd = count > 0 ? await randomReads(session, w.inode, pattern, count) : undefined;
    const [c2, k2] = [cpu(), clientCpu()];
    const gib = SIZE / 1024 / MiB;
    const round = {
      readMiBps: mibps(s),
      chunkserverCpuSecondsPerGiBRead: +((c1 - c0) / gib).toFixed(2),
      clientCpuSecondsPerGiBRead: +((k1 - k0) / gib).toFixed(2),
      ...(rnd && { random4k: { ...rnd, chunkserverCpuUsPerRead: Math.round(((c2 - c1) * 1e6) / count), clientCpuUsPerRead: Math.round(((k2 - k1) * 1e6) / count) } }),
    };
    result.rounds.push(round);
    progress(`round ${r + 1}: ${JSON.stringify(round)}`);
  }
}

async function main() {
  const dir = mkdtempSync(join(opts.dir, 'tsmfs-bench-dp-'));
  const result = { sizeMiB: SIZE / MiB, pieceKiB: PIECE / 1024, parallel: PARALLEL };
  let cluster;
  try {
    if (opts.reads) {
      if (opts.cpuProf) settings.nodeFlags = ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProf}`];
      // No background CRC check of a whole chunk every 10 s: its CPU would count as the reads'.
      cluster = await startDataCluster(dir, { csConfig: { HDD_TEST_FREQ: 0 } });
      await readsOnly(cluster, result);
      return;
    }
    progress(`raw disk (dd, ${SIZE / MiB} MiB) in ${dir}`);
    const raw = rawDisk(dir);
    result.rawDisk = { writeMiBps: mibps(raw.write), readCachedMiBps: mibps(raw.readCached), readDirectMiBps: mibps(raw.readDirect) };
    progress(JSON.stringify(result.rawDisk));
    cluster = await startDataCluster(dir, { masterConfig: { CHUNKS_LOOP_MIN_TIME: 1 } });
    const { session, chunkservers } = cluster;
    const pattern = randomBytes(64 * MiB + PIECE);
    const cpu = () => chunkservers.reduce((n, c) => n + cpuSeconds(c.child.pid), 0);
    for (const goal of [1, 2]) {
      const c0 = cpu();
      const w = await writeFile(session, `goal${goal}`, goal, pattern);
      const c1 = cpu();
      const r = await readFile(session, w.inode, pattern);
      const c2 = cpu();
      result[`goal${goal}`] = {
        writeMiBps: mibps(w.seconds),
        readMiBps: mibps(r),
        chunkserverCpuSecondsPerGiBWritten: +((c1 - c0) / (SIZE / 1024 / MiB)).toFixed(2),
        chunkserverCpuSecondsPerGiBRead: +((c2 - c1) / (SIZE / 1024 / MiB)).toFixed(2),
        inode: w.inode,
      };
      progress(`goal ${goal}: ${JSON.stringify(result[`goal${goal}`])}`);
    }
    // Re-replication: kill a server holding copies of the goal-2 file, time until every chunk has two valid copies again.
    const inode = result.goal2.inode;
    const info = await session.fileinfo(inode);
    const victimPort = info.chunks[0].copies[0].port;
    const victim = chunkservers.find((c) => c.port === victimPort);
    const lostCopies = info.chunks.filter((ch) => ch.copies.some((k) => k.port === victimPort)).length;
    const t0 = performance.now();
    victim.child.kill('SIGKILL');
    for (;;) {
      const now = await session.fileinfo(inode);
      if (now.chunks.every((ch) => ch.copies.filter((k) => k.state === 'valid' && k.port !== victimPort).length >= 2)) break;
      if (performance.now() - t0 > 600_000) throw new Error('re-replication did not finish in 10 minutes');
      await new Promise((r) => setTimeout(r, 100));
    }
    const s = (performance.now() - t0) / 1000;
    result.reReplication = { chunksReplicated: lostCopies, MiB: lostCopies * 64, seconds: +s.toFixed(1), MiBps: Math.round((lostCopies * 64) / s) };
    progress(`re-replication: ${JSON.stringify(result.reReplication)}`);
    await readFile(session, inode, pattern);
    progress('goal-2 file reads back right after the re-replication');
  } finally {
    if (cluster) {
      cluster.session.close();
      for (const c of cluster.chunkservers) await stop(c.child);
      await stop(cluster.master.child);
    }
    rmSync(dir, { recursive: true, force: true });
    console.log(JSON.stringify(result, null, 2));
  }
}

await main();
