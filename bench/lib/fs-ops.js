// The metadata and small-file loops of the mount workloads, run in a child process of
// their own (forked by `runFsOps`): one synchronous system call after the other, as `cp`,
// `tar` or a build does, without blocking the benchmark's event loop (which reads the
// daemons' logs) and so that several of them can run at once (parallel creates).
// Each child reports when its loop started and ended (wall clock, ms).
import { fork } from 'node:child_process';
import { closeSync, constants, mkdirSync, openSync, readFileSync, renameSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Directories of a tree with `fanout[0]` at the top, `fanout[1]` under each, …, parents first. */
export function treeDirs(root, fanout) {
  let level = [root];
  const all = [];
  for (const n of fanout) {
    level = level.flatMap((parent) => Array.from({ length: n }, (_, i) => join(parent, `d${i}`)));
    all.push(...level);
  }
  return all;
}

const names = ({ dir, n, prefix = 'f' }) => Array.from({ length: n }, (_, i) => join(dir, `${prefix}${i}`));

const OPS = {
  create: (job) => names(job).forEach((f) => closeSync(openSync(f, constants.O_CREAT | constants.O_WRONLY | constants.O_EXCL, 0o644))),
  stat: (job) => names(job).forEach((f) => statSync(f)),
  rename: (job) => names(job).forEach((f, i) => renameSync(f, join(job.dir, `${job.to}${i}`))),
  unlink: (job) => names(job).forEach((f) => unlinkSync(f)),
  mkdir: ({ dir, fanout }) => treeDirs(dir, fanout).forEach((d) => mkdirSync(d)),
  rmdir: ({ dir, fanout }) => treeDirs(dir, fanout).reverse().forEach((d) => rmdirSync(d)),
  write: (job) => {
    const data = Buffer.alloc(job.size, 0x5a);
    names(job).forEach((f) => writeFileSync(f, data));
  },
  read: (job) => names(job).forEach((f) => readFileSync(f)),
};

/**
 * Runs one job per entry of `jobs` (`{ op, dir, n, prefix, … }`), each in its own process,
 * all released at the same moment once every process is up. Resolves with the wall time
 * in seconds from the first loop's start to the last one's end.
 */
export async function runFsOps(jobs, timeoutMs = 3_600_000) {
  return (await runFsOpsMeasured(jobs, timeoutMs)).seconds;
}

/** runFsOps, also with the CPU seconds (user + system) the children's loops used: `{ seconds, cpuSeconds }`. */
export async function runFsOpsMeasured(jobs, timeoutMs = 3_600_000) {
  const children = jobs.map(() => fork(import.meta.filename, ['--child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const timer = setTimeout(() => children.forEach((c) => c.kill('SIGKILL')), timeoutMs);
  try {
    const settled = children.map((c) => new Promise((res, rej) => {
      c.on('message', (m) => (m.error ? rej(new Error(m.error)) : m.end && res(m)));
      c.on('exit', (code, signal) => rej(new Error(`fs-ops child exited ${code ?? signal}`)));
    }));
    await Promise.all(children.map((c) => new Promise((res) => c.once('message', res))));
    children.forEach((c, i) => c.send(jobs[i]));
    const results = await Promise.all(settled);
    return {
      seconds: (Math.max(...results.map((r) => r.end)) - Math.min(...results.map((r) => r.start))) / 1000,
      cpuSeconds: results.reduce((n, r) => n + r.cpuMicros / 1e6, 0),
    };
  } finally {
    clearTimeout(timer);
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  }
}

if (process.argv[2] === '--child') {
  process.once('message', (job) => {
    try {
      const cpu0 = process.cpuUsage();
      const start = performance.timeOrigin + performance.now();
      OPS[job.op](job);
      const end = performance.timeOrigin + performance.now();
      const cpu = process.cpuUsage(cpu0);
      process.send({ start, end, cpuMicros: cpu.user + cpu.system }, () => process.exit(0));
    } catch (err) {
      process.send({ error: `${job.op}: ${err.message}` }, () => process.exit(1));
    }
  });
  process.send({ ready: true });
}
