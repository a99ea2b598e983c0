import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Service } from '@tsmfs/daemon';
import type { Logger } from 'pino';
import { LOCK_FILE } from './data-path.js';

/** DATA_PATH is held by another live daemon (a master, or a metalogger on its own folder). */
export class DataLockError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataLockError';
  }
}

/**
 * One master per DATA_PATH, as MooseFS's .mfsmaster.lock: two masters appending to one
 * changelog would corrupt it beyond repair. The lock file holds `PID STARTTIME` (the
 * process start time from /proc), so a lock left by a dead master is recognised as stale
 * even when its pid has since been reused by an unrelated process.
 */
export class DataLock implements Service {
  readonly name = 'data-lock';
  private held = false;

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {}

  get path(): string {
    return join(this.dir, LOCK_FILE);
  }

  async start(): Promise<void> {
    const me = `${process.pid} ${startTime(process.pid) ?? '-'}\n`;
    if (!this.tryCreate(me)) {
      const holder = this.readHolder();
      if (holder && isAlive(holder.pid, holder.startTime)) {
        throw new DataLockError(
          `DATA_PATH ${this.dir} is in use by another ${daemonName(holder.pid)} (pid ${holder.pid}, lock file ${this.path})`,
        );
      }
      this.log.warn({ lock: this.path, stalePid: holder?.pid }, 'taking over a stale data lock left by a master that is gone');
      rmSync(this.path, { force: true });
      if (!this.tryCreate(me)) throw new DataLockError(`DATA_PATH ${this.dir}: another master took the lock ${this.path} at the same time`);
    }
    this.held = true;
  }

  async stop(): Promise<void> {
    if (!this.held) return;
    this.held = false;
    rmSync(this.path, { force: true });
  }

  private tryCreate(content: string): boolean {
    try {
      writeFileSync(this.path, content, { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  }

  private readHolder(): { pid: number; startTime: string | undefined } | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return undefined;
    }
    const [pidText, start] = text.trim().split(/\s+/);
    const pid = Number(pidText);
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    return { pid, startTime: start === '-' ? undefined : start };
  }
}

function isAlive(pid: number, recordedStart: string | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = procStat(pid);
  // A zombie (killed, not yet reaped by a parent that never waits, as under a container
  // init that does not reap) still answers kill(0) but holds nothing any more.
  if (stat?.state === 'Z') return false;
  return recordedStart === undefined || stat === undefined || stat.startTime === recordedStart;
}

/** The process start time in clock ticks since boot (field 22 of /proc/PID/stat), if readable. */
function startTime(pid: number): string | undefined {
  return procStat(pid)?.startTime;
}

/** State (field 3: R, S, D, Z, …) and start time (field 22) from /proc/PID/stat, if readable. */
function procStat(pid: number): { state: string; startTime: string | undefined } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; fields after it follow the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, startTime: fields[19] };
  } catch {
    return undefined;
  }
}

/** What holds the lock, for the message: masters and metaloggers share this lock. */
function daemonName(pid: number): string {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const named = argv.find((a) => /tsmfs-(master|metalogger)/.test(a));
    if (named) return /tsmfs-metalogger/.test(named) ? 'tsmfs-metalogger' : 'tsmfs-master';
  } catch {
    // gone meanwhile, or not ours to read
  }
  return 'tsmfs daemon';
}
