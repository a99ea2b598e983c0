#!/usr/bin/env node
// Mount benchmarks (issue 4): a tsmfs cluster on loopback (master, 3 chunkservers, goal 2)
// mounted with tsmfs-mount, then bench/mount-workloads.sh on the mount (sequential 1 GiB
// write/read with 1 MiB blocks, fio 4 KiB random read/write with psync, 10,000-file
// create/stat/rename/unlink, 5,000 x 4 KiB files, tar -x and rm -rf of /usr/include).
// `--target DIR` runs the same workloads on another directory instead (a MooseFS mount,
// a local folder), for comparison. `--hold` keeps the cluster and mount up until Ctrl-C
// and prints the mount point, for other tools. JSON on stdout, progress on stderr.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { settings } from '@tsmfs/launcher';
import { mountCluster, startDataCluster, stopCluster } from './lib/cluster.js';
import { stopAllStarted } from './lib/daemons.js';

const root = resolve(import.meta.dirname, '..');
const opts = new Command('bench-mount')
  .option('--target <dir>', 'run the workloads on this directory instead of a new tsmfs mount')
  .option('--hold', 'start the cluster and the mount, print the mount point, wait for Ctrl-C')
  .option('--goal <n>', 'goal of the root', '2')
  .option('--save-mode <n>', 'CHANGELOG_SAVE_MODE of the master (0, 1, 2; default: the master\'s default)')
  .option('--cpu-prof <dir>', 'run every daemon and the mount with node --cpu-prof, profiles written to <dir> at the end')
  .parse()
  .opts();
const progress = (m) => process.stderr.write(`[bench mount] ${m}\n`);

/** node flags of the daemons and the mount: CPU profiles when asked for. */
const nodeFlags = () => (opts.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProf}`] : []);

function runWorkloads(dir) {
  return new Promise((res, rej) => {
    const p = spawn(join(root, 'bench/mount-workloads.sh'), [dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', (code) => (code === 0 ? res(JSON.parse(out)) : rej(new Error(`workloads exited ${code}`))));
  });
}

if (opts.target) {
  console.log(JSON.stringify({ target: opts.target, ...(await runWorkloads(opts.target)) }, null, 2));
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), 'tsmfs-bench-mount-'));
let cluster;
try {
  // Every daemon and the mount run with the profiler's flags when asked; a profile is
  // written only on a clean exit, which stopCluster's SIGTERM gives.
  settings.nodeFlags = nodeFlags();
  cluster = await startDataCluster(dir, { masterConfig: opts.saveMode === undefined ? {} : { CHANGELOG_SAVE_MODE: opts.saveMode } });
  const mnt = await mountCluster(cluster, join(dir, 'mnt'), { goal: Number(opts.goal) });
  progress(`mounted at ${mnt} (goal ${opts.goal}, 3 chunkservers)`);
  if (opts.hold) {
    console.log(mnt);
    await new Promise((r) => process.once('SIGINT', r));
  } else {
    console.log(JSON.stringify({ target: 'tsmfs', ...(await runWorkloads(mnt)) }, null, 2));
  }
} finally {
  if (cluster) await stopCluster(cluster).catch((err) => progress(`stopping: ${err.message}`));
  await stopAllStarted();
  rmSync(dir, { recursive: true, force: true });
}
