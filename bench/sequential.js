#!/usr/bin/env node
// Sequential I/O through the mount, process by process (issue 11): what each process of
// tsmfs and of MooseFS 3.0 spends per MiB — user and system CPU of the master, every
// chunkserver and the mount, from /proc — while fio writes a fresh file in 1 MiB blocks
// and closes it, writes another and fsyncs it at the end, and reads the first back with
// O_DIRECT after dropping the caches. The compare's sequential rows say how fast; this
// says where the time goes, on the same workloads. Both clusters on loopback, 3
// chunkservers, goal 2, alternated round by round; medians of the rounds. Each timed
// write starts after a `sync`, so that neither system pays for the other's dirty pages.
// MooseFS 3.0's chunkservers never fsync on a client's fsync (ours do: docs/benchmarks.md,
// "Sequential writes"). Runs as root (drop_caches, MooseFS's packages); JSON on stdout,
// progress on stderr.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { mountCluster, startDataCluster, stopCluster } from './lib/cluster.js';
import { median } from './lib/compare-table.js';
import { stopAllStarted } from './lib/daemons.js';
import { ensureMooseFS, startMooseFS } from './lib/moosefs.js';

const execFileP = promisify(execFile);
const opts = new Command('bench-sequential')
  .description('sequential writes and reads through the mount: MiB/s and CPU per MiB of every process, tsmfs and MooseFS 3.0')
  .option('--mib <n>', 'size of each file in MiB', '1024')
  .option('--rounds <n>', 'rounds, tsmfs then MooseFS in each (medians are reported)', '2')
  .option('--save-mode <m>', "tsmfs master's CHANGELOG_SAVE_MODE (default: the master's default)")
  .option('--no-moosefs', 'tsmfs alone')
  .parse()
  .opts();
const MIB = Number(opts.mib);
const ROUNDS = Number(opts.rounds);
const started = Date.now();
const progress = (m) => {
  const s = Math.round((Date.now() - started) / 1000);
  process.stderr.write(`[bench sequential ${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}] ${m}\n`);
};

/** User and system CPU seconds of a process (all its threads). */
function cpu(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { user: Number(f[11]) / 100, system: Number(f[12]) / 100 };
}

const STEPS = [
  { name: 'write, close', file: 'a', args: ['--rw=write'] },
  { name: 'write, end fsync', file: 'b', args: ['--rw=write', '--end_fsync=1'] },
  { name: 'read O_DIRECT, caches dropped', file: 'a', args: ['--rw=read', '--direct=1'], cold: true },
];

/** Runs the steps in a fresh directory of `mnt`; per step MiB/s and CPU ms per MiB of each process in `pids`. */
async function measure(mnt, pids, round) {
  const dir = join(mnt, `r${round}`);
  mkdirSync(dir);
  // Unmeasured: a fresh daemon's JavaScript runs in V8's interpreter until its hot paths
  // are compiled ("Warm daemons"); MooseFS gets the same pass.
  await execFileP('fio', ['--name=warm', '--ioengine=psync', '--bs=1M', '--size=64M', '--filename', join(dir, 'warm'), '--rw=write']);
  await execFileP('fio', ['--name=warm', '--ioengine=psync', '--bs=1M', '--size=64M', '--filename', join(dir, 'warm'), '--rw=read', '--direct=1']);
  rmSync(join(dir, 'warm'));
  const out = {};
  for (const step of STEPS) {
    await execFileP('sync');
    if (step.cold && process.getuid() === 0) writeFileSync('/proc/sys/vm/drop_caches', '3');
    const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpu(pid)]));
    const t0 = performance.now();
    await execFileP('fio', ['--name=seq', '--ioengine=psync', '--bs=1M', `--size=${MIB}M`, '--filename', join(dir, step.file), ...step.args], { timeout: 3_600_000 });
    const seconds = (performance.now() - t0) / 1000;
    const perMiB = (s) => Math.round((s / MIB) * 1e5) / 100; // ms per MiB, 2 decimals
    out[step.name] = {
      MiBps: Math.round((MIB / seconds) * 10) / 10,
      cpuMsPerMiB: Object.fromEntries(
        Object.entries(pids).map(([k, pid]) => {
          const now = cpu(pid);
          return [k, { user: perMiB(now.user - before[k].user), system: perMiB(now.system - before[k].system) }];
        }),
      ),
    };
  }
  rmSync(dir, { recursive: true, force: true });
  return out;
}

async function tsmfsRound(round) {
  const dir = mkdtempSync(join(tmpdir(), 'tsmfs-seq-'));
  const cluster = await startDataCluster(dir, { masterConfig: opts.saveMode === undefined ? {} : { CHANGELOG_SAVE_MODE: opts.saveMode } });
  try {
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    await mountCluster(cluster, mnt);
    const pids = { master: cluster.master.process.pid, mount: cluster.mounts[0].process.pid };
    cluster.chunkservers.forEach((c, i) => (pids[`cs${i + 1}`] = c.process.pid));
    return await measure(mnt, pids, round);
  } finally {
    await stopCluster(cluster);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function mooseRound(round) {
  const dir = mkdtempSync(join(tmpdir(), 'moosefs-seq-'));
  const m = await startMooseFS(dir);
  try {
    // startMooseFS's order: the master, the chunkservers, the mount.
    const [master, ...rest] = m.processes.map((p) => p.child.pid);
    const pids = { master, mount: rest.pop() };
    rest.forEach((pid, i) => (pids[`cs${i + 1}`] = pid));
    return await measure(m.mnt, pids, round);
  } finally {
    await m.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Medians over the rounds of every figure, in the shape of one round. */
function medians(rounds) {
  const walk = (path) => {
    const values = rounds.map((r) => path.reduce((o, k) => o[k], r));
    return typeof values[0] === 'number' ? Math.round(median(values) * 100) / 100 : Object.fromEntries(Object.keys(values[0]).map((k) => [k, walk([...path, k])]));
  };
  return walk([]);
}

process.on('SIGINT', () => void stopAllStarted().finally(() => process.exit(130)));
try {
  if (opts.moosefs) await ensureMooseFS(progress);
  const results = { tsmfs: [], moosefs: [] };
  for (let r = 1; r <= ROUNDS; r++) {
    progress(`round ${r}/${ROUNDS}: tsmfs, ${MIB} MiB per step`);
    results.tsmfs.push(await tsmfsRound(r));
    if (opts.moosefs) {
      progress(`round ${r}/${ROUNDS}: MooseFS 3.0`);
      results.moosefs.push(await mooseRound(r));
    }
  }
  const summary = { mib: MIB, rounds: ROUNDS, steps: STEPS.map((s) => s.name), tsmfs: medians(results.tsmfs), ...(opts.moosefs ? { moosefs: medians(results.moosefs) } : {}) };
  for (const step of summary.steps) {
    for (const target of opts.moosefs ? ['tsmfs', 'moosefs'] : ['tsmfs']) {
      const s = summary[target][step];
      const procs = Object.entries(s.cpuMsPerMiB).map(([k, c]) => `${k} ${c.user}+${c.system}`).join(', ');
      progress(`${step.padEnd(30)} ${target.padEnd(7)} ${String(s.MiBps).padStart(6)} MiB/s; CPU ms/MiB user+system: ${procs}`);
    }
  }
  console.log(JSON.stringify(summary, null, 2));
} finally {
  await stopAllStarted();
}
