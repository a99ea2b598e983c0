#!/usr/bin/env node
// The master's CPU per client request (issue 11): a master alone on loopback (no
// chunkserver: these requests need none) and one client session from this process, which
// sends N creates in a fresh directory, N getattrs of them and N unlinks, first one at a
// time (window 1: every request wakes the master from its event loop, as a mount's
// sequential system calls do) and then with `--window` requests in flight (the wake-up
// shared by many). Per request: the master's CPU time (user + system, /proc) and the
// rate, each round a fresh directory; medians of the rounds. What a change of the
// master's request path does, with less noise than the mount workloads (whose figures
// also carry the mount, the kernel and the caller). For scale, the same two windows
// against a bare Node echo server (a child process that writes back each message it
// reads, 100 bytes): what any Node process pays per request on this machine, the floor
// under the master's figures. Run the same file from another checkout for before/after.
// JSON on stdout, progress on stderr.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { Cluster } from '@tsmfs/launcher';
import { cpuSeconds } from './lib/daemons.js';
import { median } from './lib/compare-table.js';
import { pipelined } from './lib/pipelined.js';

// The echo server's own process (forked with --echo-server).
if (process.argv.includes('--echo-server')) {
  const server = createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (b) => s.write(b));
  });
  server.listen(0, '127.0.0.1', () => process.send(server.address().port));
  process.on('disconnect', () => process.exit(0));
  await new Promise(() => {});
}

const opts = new Command('bench-requests')
  .description("the master's CPU per request, one at a time and pipelined")
  .option('--requests <n>', 'requests of each kind per round and window', '5000')
  .option('--window <n>', 'requests in flight for the pipelined figures', '64')
  .option('--rounds <n>', 'rounds (medians are reported)', '3')
  .option('--save-mode <m>', "CHANGELOG_SAVE_MODE of the master (default: the master's default)")
  .parse()
  .opts();
const N = Number(opts.requests);
const ROUNDS = Number(opts.rounds);
const WINDOWS = [1, Number(opts.window)];
/** CPU seconds spent on N requests, in µs per request (one decimal). */
const usPerRequest = (cpu) => Math.round((cpu / N) * 1e7) / 10;
const progress = (m) => process.stderr.write(`[bench requests] ${m}\n`);

/**
 * A bare Node echo server's CPU per request, `window` 100-byte messages in flight
 * (each answered by the same bytes: the client reads its replies in order).
 */
async function echoFloor(window) {
  const child = fork(import.meta.filename, ['--echo-server'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  try {
    const port = await new Promise((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) => reject(new Error(`echo server exited (${code}) before listening`)));
    });
    const sock = connect(port, '127.0.0.1');
    sock.setNoDelay(true);
    await new Promise((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    const msg = Buffer.alloc(100, 1);
    const waiting = [];
    let buffered = 0;
    sock.on('data', (b) => {
      buffered += b.length;
      while (buffered >= msg.length && waiting.length) {
        buffered -= msg.length;
        waiting.shift()();
      }
    });
    const once = () => new Promise((resolve) => {
      waiting.push(resolve);
      sock.write(msg);
    });
    await pipelined(Math.min(N, 2000), window, once);
    const c0 = cpuSeconds(child.pid);
    const seconds = await pipelined(N, window, once);
    const cpu = cpuSeconds(child.pid) - c0;
    sock.destroy();
    return { cpuUsPerRequest: usPerRequest(cpu), perSecond: Math.round(N / seconds) };
  } finally {
    child.kill();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'tsmfs-bench-requests-'));
const config = opts.saveMode === undefined ? {} : { CHANGELOG_SAVE_MODE: Number(opts.saveMode) };
const cluster = await Cluster.create({ dir, master: { exports: ['127.0.0.1 / rw,alldirs,maproot=0'], config } });
const results = { requests: N, window: WINDOWS[1], rounds: ROUNDS, saveMode: opts.saveMode ?? 'default', figures: {} };
try {
  const s = await cluster.session({ cred: { uid: 0, gid: 0, groups: [] } });
  const pid = cluster.master.process.pid;
  const raw = {};
  // Round 0 warms the master up (V8 compiles the request path) and is not counted.
  for (let round = 0; round <= ROUNDS; round++) {
    for (const window of WINDOWS) {
      const d = (await s.mkdir(1, `r${round}w${window}`)).inode;
      const inodes = [];
      const kinds = [
        ['create', async (i) => void (inodes[i] = (await s.create(d, `f${i}`)).inode)],
        ['getattr', (i) => s.getattr(inodes[i])],
        ['unlink', (i) => s.unlink(d, `f${i}`)],
      ];
      for (const [kind, fn] of kinds) {
        const c0 = cpuSeconds(pid);
        const seconds = await pipelined(N, window, fn);
        const cpu = cpuSeconds(pid) - c0;
        if (round === 0) continue;
        const key = `${kind} window ${window}`;
        (raw[key] ??= { cpuUsPerRequest: [], perSecond: [] });
        raw[key].cpuUsPerRequest.push(usPerRequest(cpu));
        raw[key].perSecond.push(Math.round(N / seconds));
      }
      progress(`${round === 0 ? 'warm-up' : `round ${round}/${ROUNDS}`}, window ${window}: done`);
    }
  }
  for (const [key, v] of Object.entries(raw)) {
    results.figures[key] = { cpuUsPerRequest: median(v.cpuUsPerRequest), perSecond: median(v.perSecond), rounds: v };
    progress(`${key}: master CPU ${median(v.cpuUsPerRequest)} µs per request, ${median(v.perSecond)}/s`);
  }
  s.close();
  for (const window of WINDOWS) {
    const floor = await echoFloor(window);
    results.figures[`node echo server window ${window}`] = floor;
    progress(`node echo server window ${window}: its CPU ${floor.cpuUsPerRequest} µs per request, ${floor.perSecond}/s`);
  }
} finally {
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(results, null, 2) + '\n');
