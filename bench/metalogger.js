#!/usr/bin/env node
// Metalogger and metarestore benchmarks (issue 5): metalogger lag under a heavy create
// workload (versions behind, sampled), tsmfs-metarestore time for a dump of N inodes +
// N changelog entries, and the promotion drill (SIGKILL the master → metarestore on the
// metalogger's folder → new master → first acknowledged client write). Real processes,
// real TCP, a temp dir. Progress on stderr, JSON on stdout.
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { MasterSession } from '@tsmfs/client';
import { Namespace, createEmptyMetadata, encodeDump, masterClock } from '@tsmfs/master';
import { encodeEntry } from '@tsmfs/metastore';
import { dial } from '@tsmfs/rpc';
import { freePort, spawnDaemon, stop } from './lib/daemons.js';
import { pipelined } from './lib/pipelined.js';

const root = resolve(import.meta.dirname, '..');
const opts = new Command('bench-metalogger')
  .description('Benchmark tsmfs-metalogger and tsmfs-metarestore')
  .option('--creates <n>', 'creates in the lag workload', '200000')
  .option('--window <n>', 'requests in flight in the lag workload', '256')
  .option('--inodes <n>', 'inodes in the dump for the metarestore figure', '1000000')
  .option('--entries <n>', 'changelog entries after the dump for the metarestore figure', '1000000')
  .option('--drills <n>', 'promotion drills', '3')
  .parse()
  .opts();
const CREATES = Number(opts.creates);
const WINDOW = Number(opts.window);
const INODES = Number(opts.inodes);
const ENTRIES = Number(opts.entries);
const DRILLS = Number(opts.drills);

const progress = (msg) => process.stderr.write(`[bench metalogger] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function run(bin, args) {
  const t0 = performance.now();
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [join(root, bin), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (out += b));
    child.on('exit', (code) => (code === 0 ? res({ out, ms: performance.now() - t0 }) : rej(new Error(`${bin} exited ${code}: ${out}`))));
  });
}

async function cluster(dir, mlDir = join(dir, 'ml')) {
  const ports = { matocl: await freePort(), matoml: await freePort(), matocs: await freePort(), http: await freePort() };
  const data = join(dir, 'master');
  mkdirSync(data, { recursive: true });
  mkdirSync(mlDir, { recursive: true });
  writeFileSync(join(dir, 'exports.cfg'), '127.0.0.1 / rw,alldirs,maproot=0:0\n');
  writeMasterCfg(join(dir, 'master.cfg'), data, dir, ports);
  writeFileSync(
    join(dir, 'ml.cfg'),
    [`DATA_PATH = ${mlDir}`, `MASTER_HOST = 127.0.0.1`, `MASTER_PORT = ${ports.matoml}`, 'MASTER_RECONNECTION_DELAY = 1'].join('\n') + '\n',
  );
  return { ports, data, mlDir };
}

function writeMasterCfg(file, data, dir, ports) {
  writeFileSync(
    file,
    [
      `DATA_PATH = ${data}`,
      `EXPORTS_FILENAME = ${join(dir, 'exports.cfg')}`,
      'MATOCL_LISTEN_HOST = 127.0.0.1',
      `MATOCL_LISTEN_PORT = ${ports.matocl}`,
      'MATOML_LISTEN_HOST = 127.0.0.1',
      `MATOML_LISTEN_PORT = ${ports.matoml}`,
      'MATOCS_LISTEN_HOST = 127.0.0.1',
      `MATOCS_LISTEN_PORT = ${ports.matocs}`,
      'HTTP_LISTEN_HOST = 127.0.0.1',
      `HTTP_LISTEN_PORT = ${ports.http}`,
    ].join('\n') + '\n',
  );
}

/** Version of the last complete line of a changelog file (reads its tail only). */
function tailVersion(path) {
  let fd;
  try {
    fd = openSync(path, 'r');
  } catch {
    return 0;
  }
  try {
    const size = fstatSync(fd).size;
    const n = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(n);
    readSync(fd, buf, 0, n, size - n);
    const text = buf.toString('utf8');
    const end = text.lastIndexOf('\n');
    if (end < 0) return 0;
    const start = text.lastIndexOf('\n', end - 1) + 1;
    return Number(text.slice(start, text.indexOf('|', start)));
  } finally {
    closeSync(fd);
  }
}

function percentile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function lagFigure(results) {
  const dir = mkdtempSync(join(tmpdir(), 'tsmfs-bench-ml-'));
  const { ports, mlDir } = await cluster(dir);
  const master = spawnDaemon('packages/master/dist/bin/tsmfs-master.js', ['-c', join(dir, 'master.cfg')]);
  await master.ready;
  const ml = spawnDaemon('packages/metalogger/dist/bin/tsmfs-metalogger.js', ['-c', join(dir, 'ml.cfg')]);
  await ml.ready;
  try {
    const s = await MasterSession.open({ masters: [{ host: '127.0.0.1', port: ports.matocl }], cred: { uid: 0, gid: 0, groups: [] } });
    // A probe on the metalogger port: mlFetch's reply carries the master's durable version.
    const { conn: probe } = await dial({ host: '127.0.0.1', port: ports.matoml, role: 'metalogger', name: 'bench-probe' });
    const dirs = [];
    for (let d = 0; d < Math.ceil(CREATES / 1000); d++) dirs.push((await s.mkdir(1, `d${d}`)).inode);
    const behind = [];
    let sampling = true;
    let durable = 0;
    const sampler = (async () => {
      while (sampling) {
        const r = await probe.request('mlFetch', { after: durable, maxBytes: 1, waitMs: 0 });
        durable = r.durable;
        behind.push(Math.max(0, durable - tailVersion(join(mlDir, 'changelog_ml.0.tsmfs'))));
        await sleep(5);
      }
    })();
    progress(`${CREATES} creates, ${WINDOW} in flight, metalogger following`);
    results.lagCreatesPerSec = Math.round(CREATES / (await pipelined(CREATES, WINDOW, (i) => s.create(dirs[Math.floor(i / 1000)], `f${i % 1000}`))));
    sampling = false;
    await sampler;
    const sorted = [...behind].sort((a, b) => a - b);
    results.lagSamples = sorted.length;
    results.lagVersionsBehindP50 = percentile(sorted, 0.5);
    results.lagVersionsBehindP99 = percentile(sorted, 0.99);
    results.lagVersionsBehindMax = sorted[sorted.length - 1];
    results.lagMsP50AtThisRate = Math.round((results.lagVersionsBehindP50 / results.lagCreatesPerSec) * 1000 * 10) / 10;
    results.lagMsP99AtThisRate = Math.round((results.lagVersionsBehindP99 / results.lagCreatesPerSec) * 1000 * 10) / 10;
    const t0 = performance.now();
    while (tailVersion(join(mlDir, 'changelog_ml.0.tsmfs')) < durable) await sleep(2);
    results.lagCatchUpAfterLastAckMs = Math.round(performance.now() - t0);
    progress(`behind p50 ${results.lagVersionsBehindP50}, p99 ${results.lagVersionsBehindP99}, max ${results.lagVersionsBehindMax} versions at ${results.lagCreatesPerSec} creates/s`);
    probe.close();
    s.close();
  } finally {
    await stop(ml.child, 'SIGKILL');
    await stop(master.child, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A dump of INODES inodes and ENTRIES changelog entries after it, made by the master's own Namespace. */
function buildRestoreInput(dir) {
  let pending = [];
  const md = createEmptyMetadata(masterClock());
  let version = 0;
  const ns = new Namespace(md, (m) => pending.push(encodeEntry(++version, m)), masterClock);
  const cred = { uid: 0, gid: 0, groups: [] };
  const create = (parent, name) => ns.mknod({ cred, parent, name, type: 'file', mode: 0o644, umask: 0o022, rdev: 0 });
  const dirs = [];
  const fill = (count, prefix) => {
    let made = 0;
    while (made < count) {
      const d = ns.mkdir({ cred, parent: 1, name: `${prefix}${dirs.length}`, mode: 0o755, umask: 0o022 }).attr.inode;
      dirs.push(d);
      made++;
      for (let i = 0; i < 1000 && made < count; i++, made++) create(d, `f${i}`);
    }
  };
  fill(INODES - 1, 'd');
  pending = [];
  const dump = encodeDump(md);
  writeFileSync(join(dir, 'metadata_ml.tsmfs'), dump);
  const fd = openSync(join(dir, 'changelog_ml.0.tsmfs'), 'w');
  const flush = () => {
    if (pending.length) writeSync(fd, pending.join(''));
    pending = [];
  };
  let made = 0;
  while (made < ENTRIES) {
    const n = Math.min(100_000, ENTRIES - made);
    fill(n, `c${made}-`);
    made += n;
    flush();
  }
  closeSync(fd);
  return { dumpBytes: dump.length, dumpVersion: md.version - ENTRIES, finalVersion: md.version };
}

async function restoreFigure(results) {
  const dir = mkdtempSync(join(tmpdir(), 'tsmfs-bench-mr-'));
  try {
    progress(`building a dump of ${INODES} inodes and ${ENTRIES} changelog entries`);
    const input = buildRestoreInput(dir);
    results.restoreDumpBytes = input.dumpBytes;
    progress('tsmfs-metarestore -a');
    const r = await run('packages/master/dist/bin/tsmfs-metarestore.js', ['-a', '-d', dir]);
    results.restoreMs = Math.round(r.ms);
    results.restoreOutput = r.out.trim();
    progress(r.out.trim());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function drill() {
  const dir = mkdtempSync(join(tmpdir(), 'tsmfs-bench-drill-'));
  const { ports, data, mlDir } = await cluster(dir);
  const ports2 = { matocl: await freePort(), matoml: await freePort(), matocs: await freePort(), http: await freePort() };
  writeMasterCfg(join(dir, 'master2.cfg'), mlDir, dir, ports2);
  const master = spawnDaemon('packages/master/dist/bin/tsmfs-master.js', ['-c', join(dir, 'master.cfg')]);
  await master.ready;
  const ml = spawnDaemon('packages/metalogger/dist/bin/tsmfs-metalogger.js', ['-c', join(dir, 'ml.cfg')]);
  await ml.ready;
  let master2;
  try {
    const s = await MasterSession.open({
      masters: [{ host: '127.0.0.1', port: ports.matocl }, { host: '127.0.0.1', port: ports2.matocl }],
      cred: { uid: 0, gid: 0, groups: [] },
    });
    const d = (await s.mkdir(1, 'drill')).inode;
    let n = 0;
    let stopping = false;
    const acked = new Map();
    const writers = Promise.all(
      Array.from({ length: 16 }, async () => {
        while (!stopping) {
          const name = `f${n++}`;
          await s.create(d, name);
          acked.set(name, performance.now());
        }
      }),
    );
    await sleep(3000);
    const killAt = performance.now();
    const before = new Map(acked);
    await stop(master.child, 'SIGKILL');
    rmSync(data, { recursive: true, force: true });
    await stop(ml.child, 'SIGTERM');
    const r = await run('packages/master/dist/bin/tsmfs-metarestore.js', ['-a', '-d', mlDir]);
    master2 = spawnDaemon('packages/master/dist/bin/tsmfs-master.js', ['-c', join(dir, 'master2.cfg')]);
    await master2.ready;
    const count = acked.size;
    while (acked.size <= count) await sleep(1);
    const firstWriteMs = performance.now() - killAt;
    stopping = true;
    await writers;
    const present = new Set((await s.readdir(d)).map((e) => e.name));
    const lost = [...before.keys()].filter((k) => !present.has(k)).length;
    s.close();
    return { firstWriteMs: Math.round(firstWriteMs), restoreMs: Math.round(r.ms), ackedBeforeKill: before.size, lost };
  } finally {
    if (master2) await stop(master2.child, 'SIGKILL');
    await stop(ml.child, 'SIGKILL');
    await stop(master.child, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const results = { creates: CREATES, window: WINDOW, inodes: INODES, entries: ENTRIES };
  await lagFigure(results);
  await restoreFigure(results);
  results.drills = [];
  for (let i = 0; i < DRILLS; i++) {
    const r = await drill();
    progress(`drill ${i + 1}: kill → first write ${r.firstWriteMs} ms (metarestore ${r.restoreMs} ms), ${r.lost} of ${r.ackedBeforeKill} acknowledged creates lost`);
    results.drills.push(r);
  }
  process.stdout.write(JSON.stringify(results, null, 2) + '\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
