#!/usr/bin/env node
// Metadata leases (issue 11, item 3): requests per operation and rates through one mount.
// A master and one chunkserver on loopback, one tsmfs-mount; N creates in a fresh
// directory, N stats of them right after (warm), an `ls -l` of the directory, N stats
// again after the kernel's and mount's 1 s timeouts have passed (what leases keep local).
// For each step: ops/s, the mount's FUSE requests per op (its .stats counters) and the
// master's requests per op (tsmfs_master_requests_total) with the master's own time per
// request (arrival to reply, durable changelog included: tsmfs_master_request_duration_seconds),
// and the CPU time per operation (user + system, µs) of the master, the mount and the
// process making the system calls (the kernel's FUSE work is in the latter two).
// Then N renames, N unlinks, N mkdirs and N rmdirs in that directory, counted the same way.
// `--lease-time 0` turns leases off (LEASE_TIME = 0). Run the same file from another
// checkout for before/after.
// JSON on stdout, progress on stderr.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { settings } from '@tsmfs/launcher';
import { mountCluster, startDataCluster, stopCluster } from './lib/cluster.js';
import { runFsOpsMeasured } from './lib/fs-ops.js';
import { cpuSeconds } from './lib/daemons.js';

const opts = new Command('bench-leases')
  .option('--files <n>', 'files created, then stated', '5000')
  .option('--lease-time <s>', 'LEASE_TIME of the master (default: the master\'s default; 0 = no leases)')
  .option('--save-mode <m>', 'CHANGELOG_SAVE_MODE of the master (default: the master\'s default)')
  .option('--cpu-prof <dir>', 'write a CPU profile of every tsmfs process into <dir>')
  .parse()
  .opts();
const N = Number(opts.files);
if (opts.cpuProf) settings.nodeFlags = ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProf}`];
const progress = (m) => process.stderr.write(`[bench leases] ${m}\n`);

const dir = mkdtempSync(join(tmpdir(), 'tsmfs-bench-leases-'));
const masterConfig = {};
if (opts.leaseTime !== undefined) masterConfig.LEASE_TIME = Number(opts.leaseTime);
if (opts.saveMode !== undefined) masterConfig.CHANGELOG_SAVE_MODE = Number(opts.saveMode);
let cluster;
try {
  cluster = await startDataCluster(dir, { chunkservers: 1, masterConfig });
  const mnt = await mountCluster(cluster, join(dir, 'mnt'), { goal: 1 });
  // The launcher's cluster knows its ports; an older checkout's wrote them to master.cfg.
  const httpPort = cluster.master?.ports?.http ?? /HTTP_LISTEN_PORT = (\d+)/.exec(readFileSync(join(dir, 'master.cfg'), 'utf8'))[1];
  const masterCounts = async () => {
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const out = {};
    for (const m of text.matchAll(/^tsmfs_master_requests_total\{op="(\w+)",status="\w+"\} (\d+)/gm)) out[m[1]] = (out[m[1]] ?? 0) + Number(m[2]);
    for (const m of text.matchAll(/^tsmfs_master_request_duration_seconds_sum\{op="(\w+)"\} ([\d.e+-]+)/gm)) out[`${m[1]}_ms`] = Number(m[2]) * 1000;
    return out;
  };
  const fuseCounts = () => {
    const out = {};
    for (const m of readFileSync(join(mnt, '.stats'), 'utf8').matchAll(/^op_(\w+): (\d+)/gm)) out[m[1]] = Number(m[2]);
    return out;
  };
  const pids = { master: cluster.master.child.pid, mount: cluster.mounts[0].pid };
  const cpu = () => Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuSeconds(p)]));
  const delta = (a, b) => Object.fromEntries(Object.keys(b).map((k) => [k, (b[k] - (a[k] ?? 0)) / N]).filter(([, v]) => v > 0));
  const d = join(mnt, 'd');
  mkdirSync(d);
  const results = { files: N, leaseTime: opts.leaseTime ?? 'default', saveMode: opts.saveMode ?? 'default' };
  const step = async (name, run) => {
    progress(name);
    const [m0, f0, c0] = [await masterCounts(), fuseCounts(), cpu()];
    const ran = await run();
    const c1 = cpu();
    const [m1, f1] = [await masterCounts(), fuseCounts()];
    const seconds = typeof ran === 'number' ? ran : ran.seconds;
    const cpuUsPerOp = Object.fromEntries(Object.keys(c1).map((k) => [k, Math.round(((c1[k] - c0[k]) * 1e6) / N)]));
    if (typeof ran !== 'number') cpuUsPerOp.caller = Math.round((ran.cpuSeconds * 1e6) / N);
    const master = delta(m0, m1);
    // The master's time per request of each kind, ms (not per operation).
    const masterMs = Object.fromEntries(Object.keys(master).filter((k) => k.endsWith('_ms')).map((k) => [k.slice(0, -3), Number((master[k] / master[k.slice(0, -3)]).toFixed(3))]));
    const masterPerOp = Object.fromEntries(Object.entries(master).filter(([k]) => !k.endsWith('_ms')));
    results[name] = { perSecond: Math.round(N / seconds), seconds: Number(seconds.toFixed(3)), masterPerOp, masterMsPerRequest: masterMs, cpuUsPerOp, fusePerOp: delta(f0, f1) };
  };
  await step('create', () => runFsOpsMeasured([{ op: 'create', dir: d, n: N }]));
  await step('stat', () => runFsOpsMeasured([{ op: 'stat', dir: d, n: N }]));
  await step('ls_l', async () => {
    const t0 = performance.now();
    await promisify(execFile)('sh', ['-c', `ls -l ${d} > /dev/null`]);
    return (performance.now() - t0) / 1000;
  });
  // Past the kernel's and the mount's own 1 s timeouts, inside the lease time.
  await new Promise((r) => setTimeout(r, 2500));
  await step('stat_after_2s', () => runFsOpsMeasured([{ op: 'stat', dir: d, n: N }]));
  await step('rename', () => runFsOpsMeasured([{ op: 'rename', dir: d, n: N, to: 'g' }]));
  await step('unlink', () => runFsOpsMeasured([{ op: 'unlink', dir: d, n: N, prefix: 'g' }]));
  await step('mkdir', () => runFsOpsMeasured([{ op: 'mkdir', dir: d, fanout: [N] }]));
  await step('rmdir', () => runFsOpsMeasured([{ op: 'rmdir', dir: d, fanout: [N] }]));
  console.log(JSON.stringify(results, null, 2));
} finally {
  if (cluster) await stopCluster(cluster);
  rmSync(dir, { recursive: true, force: true });
}
