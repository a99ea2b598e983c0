// What /proc tells about processes and mounts: the figures benchmarks report and the
// checks every launcher user needs (is it mounted, which helpers did a daemon fork).
import { readFileSync, readdirSync } from 'node:fs';

const USER_HZ = 100;

export function isMounted(dir: string): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === dir);
}

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

/** User + system CPU seconds a process has used so far. */
export function cpuSeconds(pid: number): number {
  const fields = statFields(pid);
  return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
}

/** Pids of the processes whose parent is `pid`: helpers a daemon forked itself. */
export function childPids(pid: number): number[] {
  const parentOf = (p: string): number => {
    try {
      return Number(statFields(Number(p))[1]);
    } catch {
      return -1; // gone meanwhile
    }
  };
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p) && parentOf(p) === pid)
    .map(Number);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits until `pids` (not our children: no exit event) have exited; SIGKILL after `graceMs`. */
export async function waitForPids(pids: number[], graceMs = 30_000): Promise<void> {
  for (const t0 = Date.now(); pids.some(alive); ) {
    if (Date.now() - t0 > graceMs) for (const p of pids.filter(alive)) process.kill(p, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The fields of /proc/PID/stat after the command name (state first). */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}
