// What every benchmark needs to run real tsmfs processes: free loopback ports, daemons
// spawned from the built packages and awaited until they say they serve, clean stops,
// and the /proc figures (RSS, CPU) the benchmarks report.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const USER_HZ = 100;

/** A loopback port that was free a moment ago. */
export async function freePort() {
  const srv = createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

/**
 * Spawns `node [nodeFlags] REPO_ROOT/bin args…`; `ready` resolves at the log line that
 * says it serves (daemons: "ready", the mount: "mounted") and rejects if it exits first.
 */
export function spawnDaemon(bin, args, { readyLine = '"msg":"ready"', nodeFlags = [] } = {}) {
  return spawnProgram(process.execPath, [...nodeFlags, join(REPO_ROOT, bin), ...args], { readyLine, env: { LOG_LEVEL: 'info' } });
}

/**
 * Spawns any program (a tsmfs daemon, a MooseFS one run with -f) and watches its stdout
 * and stderr: `ready` resolves when `readyLine` (a string or a RegExp) has been printed,
 * rejects if it exits first (without `readyLine` it never resolves: wait some other way). Output is always read, so a daemon that logs never blocks
 * on a full pipe; the last 20,000 characters are kept for error messages (`output()`).
 */
export function spawnProgram(command, args, { readyLine, env = {} } = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  started.add(child);
  child.once('exit', () => started.delete(child));
  let seen = '';
  const matches = () => (typeof readyLine === 'string' ? seen.includes(readyLine) : readyLine?.test(seen) === true);
  const ready = new Promise((res, rej) => {
    const onData = (b) => {
      seen = (seen + b.toString()).slice(-20000);
      if (matches()) res();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (err) => rej(new Error(`${command}: ${err.message}`)));
    child.on('exit', (code, signal) => rej(new Error(`${command} ${args.join(' ')} exited ${code ?? signal}: ${seen.slice(-2000)}`)));
  }).then(() => {
    child.removeAllListeners('exit');
  });
  ready.catch(() => {});
  return { child, ready, output: () => seen };
}

/** Every child spawned here that has not exited yet: what a failing run must still stop. */
const started = new Set();

/**
 * The last resort of a benchmark that fails or is interrupted: stops every process this
 * process started (by its pid, never by name), newest first so mounts go before servers.
 */
export async function stopAllStarted(graceMs = 15_000) {
  for (const child of [...started].reverse()) await stopWithin(child, graceMs);
}

/** Polls /proc/mounts until `dir` is a mount point; fails if `child` (the mount) exits first. */
export async function waitForMount(dir, child, timeoutMs = 60_000) {
  for (const t0 = Date.now(); !isMounted(dir); ) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the mount of ${dir} exited (${child.exitCode ?? child.signalCode})`);
    if (Date.now() - t0 > timeoutMs) throw new Error(`${dir} not mounted after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function isMounted(dir) {
  return readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === dir);
}

/** Unmounts a FUSE mount this process made, lazily if it is busy; no error if it is not mounted. */
export function unmount(dir) {
  if (!isMounted(dir)) return;
  for (const argv of [['fusermount', '-u', dir], ['fusermount', '-u', '-z', dir]]) {
    if (spawnSync(argv[0], argv.slice(1), { stdio: 'ignore' }).status === 0) return;
  }
}

/** Pids of the processes whose parent is `pid` (from /proc): helpers a daemon forked itself. */
export function childPids(pid) {
  const parentOf = (p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      return -1; // gone meanwhile
    }
  };
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p) && parentOf(p) === pid).map(Number);
}

/** Waits until the processes `pids` (not our children: no exit event) have exited; SIGKILL after `graceMs`. */
export async function waitForPids(pids, graceMs = 30_000) {
  const alive = (p) => {
    try {
      process.kill(p, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (const t0 = Date.now(); pids.some(alive); ) {
    if (Date.now() - t0 > graceMs) for (const p of pids.filter(alive)) process.kill(p, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Signals a child and waits until it has exited; SIGKILL after `graceMs` if it has not. */
export async function stopWithin(child, graceMs = 30_000) {
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await stop(child);
  clearTimeout(timer);
}

/** Signals a child (SIGTERM: a clean stop) and waits until it has exited. */
export function stop(child, signal = 'SIGTERM') {
  return new Promise((r) => {
    if (child.exitCode !== null || child.signalCode !== null) return r();
    child.once('exit', () => r());
    child.kill(signal);
  });
}

export function rssBytes(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) * 1024;
}

/** User + system CPU seconds a process has used so far. */
export function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
}
