import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { key } from './config.js';

/** MooseFS's NICE_LEVEL, in every daemon's schema: its default and its range. */
export const NICE_LEVEL_DEFAULT = -19;
export const niceLevelKey = key('int', NICE_LEVEL_DEFAULT, 'nice level the daemon gives itself at start (MooseFS\'s key and default; lowering it below 0 needs root or CAP_SYS_NICE, otherwise a warning is logged and the daemon runs on)', { min: -20, max: 19 });

export interface NiceLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * Sets the nice level of every thread of this process, as MooseFS's daemons and mfsmount
 * renice themselves at start. On Linux a nice level belongs to a thread, and node has
 * started its own (V8's GC workers, libuv's pool) before any of our code runs, so each
 * is set through /proc/self/task; threads started later inherit the main thread's.
 * Not permitted (a negative level without privileges): a warning, never a failure.
 * Returns whether every thread got the level.
 */
export function applyNiceLevel(level: number, log: NiceLogger): boolean {
  let tids: number[];
  try {
    tids = readdirSync('/proc/self/task').map(Number);
  } catch {
    tids = [0]; // no /proc: the calling thread only
  }
  for (const tid of tids) {
    try {
      setPriority(tid, level);
    } catch (err) {
      // node reports it as ERR_SYSTEM_ERROR with the errno name in `info`.
      const code = (err as { info?: { code?: string } }).info?.code ?? (err as Error).message;
      if (code === 'ESRCH') continue; // a thread that ended meanwhile
      log.warn({ niceLevel: level, err: code }, 'cannot set the nice level (NICE_LEVEL / -o mfsnice): running at the inherited one');
      return false;
    }
  }
  log.info({ niceLevel: level, threads: tids.length }, 'nice level set');
  return true;
}
