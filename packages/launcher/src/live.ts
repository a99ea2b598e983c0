import { rmSync } from 'node:fs';
import type { MasterSession } from '@tsmfs/client';

/** What can be unmounted and stopped: a Mount (kept abstract: this module imports none of them). */
export interface Unmountable {
  readonly pid: number;
  readonly path: string;
  output(): string;
  unmount(): Promise<void>;
  /** Last resort when the event loop is gone (process exit): lazy unmount + SIGKILL, synchronously. */
  unmountNow(): void;
}

/** A started process (DaemonProcess; kept abstract here so that this module imports none). */
export interface Killable {
  readonly pid: number;
  readonly label: string;
  /** The tail of what it wrote (printed when a test fails). */
  output(): string;
  kill(signal: NodeJS.Signals): Promise<unknown>;
}

/**
 * Everything the launcher started and has not seen end: whoever started it (a test's
 * teardown, a benchmark's failure path, `npm start`'s Ctrl-C) stops it all with
 * `stopEverything`, mounts first, and only these processes, by pid.
 */
export const live = {
  processes: new Set<Killable>(),
  mounts: new Set<Unmountable>(),
  sessions: new Set<MasterSession>(),
  tempDirs: new Set<string>(),
};

export interface StopOptions {
  /** SIGKILL (a test's teardown: fast, crash-like) or SIGTERM (a clean stop, newest first). */
  signal?: NodeJS.Signals;
  /** Remove the temp dirs made with makeTempDir. */
  removeTempDirs?: boolean;
}

export async function stopEverything({ signal = 'SIGKILL', removeTempDirs = false }: StopOptions = {}): Promise<void> {
  for (const s of live.sessions) s.close();
  live.sessions.clear();
  await Promise.all([...live.mounts].map((m) => m.unmount()));
  const processes = [...live.processes].reverse();
  if (signal === 'SIGKILL') await Promise.all(processes.map((p) => p.kill('SIGKILL')));
  else for (const p of processes) await p.kill(signal);
  if (removeTempDirs) {
    for (const d of live.tempDirs) rmSync(d, { recursive: true, force: true });
    live.tempDirs.clear();
  }
}

/** The synchronous last resort on process exit: lazy unmounts, SIGKILL by pid. */
export function killEverythingNow(removeTempDirs: boolean): void {
  for (const m of live.mounts) m.unmountNow();
  for (const p of live.processes) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (removeTempDirs) for (const d of live.tempDirs) rmSync(d, { recursive: true, force: true });
}
