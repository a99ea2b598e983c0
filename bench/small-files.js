#!/usr/bin/env node
// Small-file micro-benchmark (not a test): times each hop of "create + write 4 KiB +
// close" through the client library (no FUSE) on a real cluster (master + 3 chunkservers,
// goal 2, loopback, a temp dir). Each file is created, opened, written, closed one after
// the other, as `cp` of many small files does. Per hop: median and mean in ms, from the
// client's side (a master request's time includes the master's changelog fsync and, for
// writeChunk, the chunk creation on the chunkservers). Also: a plain getattr round trip
// (the floor of any master request) and ChunkFile.create on the same disk (the
// chunkserver's own share of a grant). Progress on stderr, a JSON summary on stdout.
//   node bench/small-files.js [--files 200] [--size 4096] [--goal 2] [--save-mode 2] [--dir /tmp] [--cpu-prof DIR]
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { ChunkFile } from '@tsmfs/chunkserver';
import { O_RDWR } from '@tsmfs/client';
import { settings } from '@tsmfs/launcher';
import { Connection } from '@tsmfs/rpc';
import { startDataCluster } from './lib/cluster.js';
import { cpuSeconds, stop } from './lib/daemons.js';

const root = resolve(import.meta.dirname, '..');
const opts = new Command('bench-small-files')
  .description('Per-hop timings of create + write + close of small files through the client library')
  .option('--files <n>', 'files written', '200')
  .option('--size <bytes>', 'bytes per file', '4096')
  .option('--goal <n>', 'copies per chunk', '2')
  .option('--dir <path>', 'where the disks go', tmpdir())
  .option('--save-mode <n>', "the master's CHANGELOG_SAVE_MODE (0, 1, 2)", '2')
  .option('--cpu-prof <dir>', 'write a CPU profile of every tsmfs process into <dir>')
  .parse()
  .opts();
if (opts.cpuProf) settings.nodeFlags = ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProf}`];
const FILES = Number(opts.files);
const SIZE = Number(opts.size);
const GOAL = Number(opts.goal);
const progress = (msg) => process.stderr.write(`[bench small-files] ${msg}\n`);

/** hop name → durations (ms) */
const hops = new Map();
const record = (name, ms) => (hops.get(name) ?? hops.set(name, []).get(name)).push(ms);
async function timed(name, p) {
  const t0 = performance.now();
  try {
    return await p;
  } finally {
    record(name, performance.now() - t0);
  }
}

/** Every master request of the session, and the data requests on chunkserver links, by name. */
function instrument(session) {
  const call = session.call.bind(session);
  session.call = (name, body) => timed(`master ${name}`, call(name, body));
  const request = Connection.prototype.request;
  Connection.prototype.request = function (name, body, t) {
    const p = request.call(this, name, body, t);
    return name.startsWith('data') ? timed(`chunkserver ${name}`, p) : p;
  };
  const requestData = Connection.prototype.requestData;
  Connection.prototype.requestData = function (type, parts, t) {
    return timed('chunkserver data piece (chain ack)', requestData.call(this, type, parts, t));
  };
}

function summary(list) {
  const s = [...list].sort((a, b) => a - b);
  const r = (x) => +x.toFixed(3);
  return { n: s.length, medianMs: r(s[Math.floor(s.length / 2)]), meanMs: r(s.reduce((a, b) => a + b, 0) / s.length), p90Ms: r(s[Math.floor(s.length * 0.9)]) };
}

async function main() {
  const dir = mkdtempSync(join(opts.dir, 'tsmfs-bench-sf-'));
  let cluster;
  try {
    // The chunkserver's part of a grant, without the network: create + header + close.
    mkdirSync(join(dir, 'raw'));
    for (let i = 0; i < FILES; i++) {
      const t0 = performance.now();
      const f = await ChunkFile.create(join(dir, 'raw', `chunk_${i}.mfs`), i + 1, 1);
      await f.close();
      record('local ChunkFile.create+close', performance.now() - t0);
    }
    cluster = await startDataCluster(dir, { masterConfig: { CHANGELOG_SAVE_MODE: Number(opts.saveMode) } });
    const { session } = cluster;
    const d = await session.mkdir(session.root, 'd', 0o755);
    if (GOAL !== 1) await session.setgoal(d.inode, GOAL);
    for (let i = 0; i < 200; i++) await timed('master getattr (floor)', session.getattr(d.inode));
    instrument(session);
    const payload = randomBytes(SIZE);
    progress(`${FILES} files of ${SIZE} bytes at goal ${GOAL} in ${dir}`);
    // CPU per file of each process (user + system, from /proc): what the wall-clock
    // medians cannot show on a loaded machine, where every hop waits for a core.
    const pids = { master: cluster.master.child.pid, ...Object.fromEntries(cluster.chunkservers.map((c, i) => [`chunkserver ${i + 1}`, c.child.pid])) };
    const cpu = () => ({ ...Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuSeconds(p)])), client: process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6 });
    const c0 = cpu();
    const t0 = performance.now();
    for (let i = 0; i < FILES; i++) {
      const t = performance.now();
      const attr = await session.create(d.inode, `f${i}`, 0o644);
      const f = await session.openFile(attr.inode, O_RDWR);
      await f.write(0, payload);
      await timed('file flush (write-back to close)', f.flush());
      await f.close();
      record('file total', performance.now() - t);
    }
    const seconds = (performance.now() - t0) / 1000;
    const c1 = cpu();
    const cpuUsPerFile = Object.fromEntries(Object.keys(c1).map((k) => [k, Math.round(((c1[k] - c0[k]) * 1e6) / FILES)]));
    const result = { files: FILES, size: SIZE, goal: GOAL, saveMode: Number(opts.saveMode), filesPerSecond: Math.round(FILES / seconds), cpuUsPerFile, hops: {} };
    for (const [name, list] of [...hops].sort()) result.hops[name] = summary(list);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    cluster?.session.close();
    if (cluster) await Promise.all([cluster.master, ...cluster.chunkservers].map((c) => stop(c.child)));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
