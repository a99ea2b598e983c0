#!/usr/bin/env node
// Master benchmarks (issue 2): memory per inode at N files, namespace ops/s over loopback
// with pipelining, start-up time (dump load + changelog replay). Real processes, real
// TCP, a temp dir. Prints progress to stderr and a JSON summary to stdout.
//
// Memory is read from the master itself (/api/v1/memory: RSS, JS heap used, external,
// arrayBuffers) at three moments: right after the creates, after an idle period and a
// full GC (the master runs with --expose-gc for this), and after a restart from the
// dump (again after a GC). Per-file figures are (value - empty master's) / files.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { MasterSession } from '@tsmfs/client';
import { freePort, spawnDaemon, stop } from './lib/daemons.js';
import { pipelined } from './lib/pipelined.js';

const opts = new Command('bench-master')
  .description('Benchmark tsmfs-master: memory per inode, ops/s, start-up time')
  .option('--files <n>', 'files to create for the memory figure', '1000000')
  .option('--replay <n>', 'changelog entries to replay at start-up', '100000')
  .option('--window <n>', 'requests in flight', '256')
  .option('--idle <s>', 'seconds the master stays idle before each steady-state figure (after the creates, after the restart)', '45')
  .option('--save-mode <n>', 'CHANGELOG_SAVE_MODE of the master (0, 1, 2; default: the master\'s default)')
  .parse()
  .opts();
const FILES = Number(opts.files);
const REPLAY = Number(opts.replay);
const WINDOW = Number(opts.window);
const IDLE_MS = Number(opts.idle) * 1000;

const progress = (msg) => process.stderr.write(`[bench master] ${msg}\n`);

/** Starts the master and times it from spawn to "ready" (the start-up figure). */
async function startMaster(cfg) {
  const t0 = process.hrtime.bigint();
  const { child, ready } = spawnDaemon('packages/master/dist/bin/tsmfs-master.js', ['-c', cfg], { nodeFlags: ['--expose-gc'] });
  await ready;
  return { child, readyMs: Number(process.hrtime.bigint() - t0) / 1e6 };
}

/** Runs `count` calls of `fn(i)` with at most WINDOW in flight, with progress; returns ops/s. */
async function pipelinedRate(label, count, fn) {
  const seconds = await pipelined(count, WINDOW, fn, (done, s) => progress(`${label}: ${done}/${count} (${Math.round(done / s)}/s)`));
  return Math.round(count / seconds);
}

const MEMORY_FIELDS = ['rss', 'heapUsed', 'heapTotal', 'external', 'arrayBuffers'];

/** The master's own memory figures (/api/v1/memory), after a full GC when `gc`. */
async function masterMemory(httpPort, gc) {
  const res = await fetch(`http://127.0.0.1:${httpPort}/api/v1/memory${gc ? '?gc=1' : ''}`);
  if (!res.ok) throw new Error(`/api/v1/memory: HTTP ${res.status}`);
  const mem = await res.json();
  if (gc && !mem.gc) throw new Error('the master ran no GC (started without --expose-gc?)');
  return mem;
}

/** One memory figure: absolute values in bytes and bytes per file above the empty master. */
function perFile(label, mem, empty) {
  const out = { ...Object.fromEntries(MEMORY_FIELDS.map((k) => [k, mem[k]])), perFile: {} };
  for (const k of MEMORY_FIELDS) out.perFile[k] = Math.round((mem[k] - empty[k]) / FILES);
  const mib = (b) => Math.round(b / 1048576);
  progress(
    `${label}: RSS ${mib(empty.rss)} → ${mib(mem.rss)} MiB = ${out.perFile.rss} B/file; ` +
      MEMORY_FIELDS.slice(1).map((k) => `${k} ${mib(mem[k])} MiB (${out.perFile[k]} B/file)`).join(', '),
  );
  return out;
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'tsmfs-bench-'));
  const port = await freePort();
  const cfg = join(dir, 'master.cfg');
  const httpPort = await freePort();
  writeFileSync(
    join(dir, 'exports.cfg'),
    '127.0.0.1 / rw,alldirs,maproot=0:0\n',
  );
  writeFileSync(
    cfg,
    [
      `DATA_PATH = ${dir}`,
      `EXPORTS_FILENAME = ${join(dir, 'exports.cfg')}`,
      `MATOCL_LISTEN_HOST = 127.0.0.1`,
      `MATOCL_LISTEN_PORT = ${port}`,
      `MATOCS_LISTEN_PORT = ${await freePort()}`,
      `MATOML_LISTEN_PORT = ${await freePort()}`,
      `HTTP_LISTEN_PORT = ${httpPort}`,
      ...(opts.saveMode === undefined ? [] : [`CHANGELOG_SAVE_MODE = ${opts.saveMode}`]),
    ].join('\n') + '\n',
  );
  const results = { files: FILES, replayEntries: REPLAY, window: WINDOW, saveMode: opts.saveMode ?? 'default' };
  let { child } = await startMaster(cfg);
  try {
    const s = await MasterSession.open({ masters: [{ host: '127.0.0.1', port }], cred: { uid: 0, gid: 0, groups: [] } });
    const empty = await masterMemory(httpPort, true);
    results.memoryEmpty = Object.fromEntries(MEMORY_FIELDS.map((k) => [k, empty[k]]));
    const PER_DIR = 1000;
    const dirs = [];
    for (let d = 0; d < Math.ceil(FILES / PER_DIR); d++) dirs.push((await s.mkdir(1, `d${d}`)).inode);
    progress(`creating ${FILES} files in ${dirs.length} directories`);
    results.createPerSec = await pipelinedRate('create', FILES, (i) => s.create(dirs[Math.floor(i / PER_DIR)], `f${i % PER_DIR}`));
    await new Promise((r) => setTimeout(r, 2000));
    // Right after the creates (no forced GC: what the process holds while it serves).
    results.memoryAfterCreates = perFile('after the creates', await masterMemory(httpPort, false), empty);
    results.rssBytesPerFile = results.memoryAfterCreates.perFile.rss;
    progress(`idle ${IDLE_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, IDLE_MS));
    results.memoryIdleAfterGc = perFile(`idle ${IDLE_MS / 1000} s, then GC`, await masterMemory(httpPort, true), empty);

    const N = Math.min(FILES, 200_000);
    results.lookupPerSec = await pipelinedRate('lookup', N, (i) => s.lookup(dirs[Math.floor(i / PER_DIR)], `f${i % PER_DIR}`));
    const inodes = [];
    for (const e of await s.readdir(dirs[0])) inodes.push(e.inode);
    results.getattrPerSec = await pipelinedRate('getattr', N, (i) => s.getattr(inodes[i % inodes.length]));

    const big = (await s.mkdir(1, 'big')).inode;
    await pipelinedRate('create 10k', 10_000, (i) => s.create(big, `entry-${i}`));
    const t0 = performance.now();
    const rounds = 20;
    for (let r = 0; r < rounds; r++) {
      const entries = await s.readdir(big, { withAttrs: true });
      if (entries.length !== 10_000) throw new Error(`readdir returned ${entries.length}`);
    }
    results.readdir10kPerSec = Math.round(rounds / ((performance.now() - t0) / 1000));
    results.readdirEntriesPerSec = results.readdir10kPerSec * 10_000;
    s.close();

    progress('SIGTERM (dump at shutdown), then start-up from the dump');
    await stop(child, 'SIGTERM');
    ({ child } = await startMaster(cfg).then((m) => ((results.startupDumpOnlyMs = Math.round(m.readyMs)), m)));
    results.memoryAfterRestart = perFile('restarted from the dump', await masterMemory(httpPort, false), empty);
    await new Promise((r) => setTimeout(r, IDLE_MS));
    results.memoryAfterRestartIdleGc = perFile(`restarted, idle ${IDLE_MS / 1000} s, then GC`, await masterMemory(httpPort, true), empty);
    const s2 = await MasterSession.open({ masters: [{ host: '127.0.0.1', port }], cred: { uid: 0, gid: 0, groups: [] } });
    const rdir = (await s2.mkdir(1, 'replay')).inode;
    progress(`${REPLAY} more creates to replay, then SIGKILL`);
    await pipelinedRate('replay creates', REPLAY - 1, (i) => s2.create(rdir, `r${i}`));
    s2.close();
    await stop(child, 'SIGKILL');
    const m = await startMaster(cfg);
    child = m.child;
    results.startupDumpPlusReplayMs = Math.round(m.readyMs);
    progress(`start-up: dump only ${results.startupDumpOnlyMs} ms, dump + ${REPLAY} entries ${results.startupDumpPlusReplayMs} ms`);
  } finally {
    await stop(child, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(results, null, 2) + '\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
