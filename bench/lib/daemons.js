// The benchmarks' calls into the one launcher (@tsmfs/launcher, shared with the tests and
// `npm start`), in the shape the benchmark scripts use: a started program is
// `{ child, ready, output }`, where `ready` resolves at the line that says it serves.
import { DaemonProcess, REPO_ROOT, fuseUnmount, settings, stopEverything } from '@tsmfs/launcher';

export { REPO_ROOT, childPids, cpuSeconds, freePort, isMounted, rssBytes, waitForMount, waitForPids } from '@tsmfs/launcher';

/** Benchmarks wait as long as a loaded machine needs and keep only a short tail. */
settings.readyTimeoutMs = 120_000;
settings.outputKeep = 40_000;

/** `node [nodeFlags] REPO_ROOT/bin args…`; `ready` resolves at `readyLine` (daemons: "ready", the mount: "mounted"). */
export function spawnDaemon(bin, args, { readyLine = '"msg":"ready"', nodeFlags = [] } = {}) {
  return started(new DaemonProcess(bin.split('/').pop(), [...nodeFlags, `${REPO_ROOT}/${bin}`, ...args]), readyLine);
}

/** Any program (a MooseFS daemon run with -f); without `readyLine`, `ready` never resolves: wait some other way. */
export function spawnProgram(command, args, { readyLine, env = {} } = {}) {
  return started(new DaemonProcess(command, args, { command, env }), readyLine);
}

function started(p, readyLine) {
  const ready = readyLine === undefined ? new Promise(() => {}) : p.waitForText(readyLine, settings.readyTimeoutMs);
  ready.catch(() => {});
  return { child: p.child, process: p, ready, output: () => p.output() };
}

/** The last resort of a benchmark that fails or is interrupted: everything it started, mounts first, by pid. */
export function stopAllStarted() {
  return stopEverything({ signal: 'SIGTERM' });
}

export const unmount = fuseUnmount;

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
