// What every benchmark needs to run real tsmfs processes: free loopback ports, daemons
// spawned from the built packages and awaited until they say they serve, clean stops,
// and the /proc figures (RSS, CPU) the benchmarks report.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
  const child = spawn(process.execPath, [...nodeFlags, join(REPO_ROOT, bin), ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'info' },
  });
  let seen = '';
  const ready = new Promise((res, rej) => {
    child.stderr.on('data', (b) => {
      seen = (seen + b.toString()).slice(-20000);
      if (seen.includes(readyLine)) res();
    });
    child.on('exit', (code) => rej(new Error(`${bin} exited ${code}: ${seen.slice(-2000)}`)));
  }).then(() => {
    child.removeAllListeners('exit');
  });
  ready.catch(() => {});
  return { child, ready };
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
