import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { DataLock, DataLockError } from './data-lock.js';
import { LOCK_FILE } from './data-path.js';

const tempDir = (): string => mkdtempSync(join(tmpdir(), 'tsmfs-lock-'));

function recordingLog(lines: string[]) {
  return pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
}

describe('DataLock', () => {
  it('refuses a DATA_PATH held by a live master, and frees it on stop', async () => {
    const dir = tempDir();
    const first = new DataLock(dir, pino({ level: 'silent' }));
    await first.start();
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toMatch(new RegExp(`^${process.pid} `));
    const second = new DataLock(dir, pino({ level: 'silent' }));
    await expect(second.start()).rejects.toThrow(DataLockError);
    await expect(second.start()).rejects.toThrow(`DATA_PATH ${dir} is in use by another tsmfs daemon (pid ${process.pid}`);
    await first.stop();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    await second.start();
    await second.stop();
  });

  it('takes over a lock left by a process that is gone, saying so', async () => {
    const dir = tempDir();
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const deadPid = Number(child.stdout.toString());
    writeFileSync(join(dir, LOCK_FILE), `${deadPid} 12345\n`);
    const lines: string[] = [];
    const lock = new DataLock(dir, recordingLog(lines));
    await lock.start();
    expect(lines.join('')).toContain('stale data lock');
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toMatch(new RegExp(`^${process.pid} `));
    await lock.stop();
  });

  it('treats a live pid with another start time as a reused pid, not a holder', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, LOCK_FILE), `${process.pid} 1\n`);
    const lock = new DataLock(dir, pino({ level: 'silent' }));
    await lock.start();
    await lock.stop();
  });

  it('takes over a lock held by a zombie (killed, never reaped by its parent)', async () => {
    const dir = tempDir();
    const zombie = await spawnZombie();
    try {
      expect(procState(zombie.pid)).toBe('Z');
      writeFileSync(join(dir, LOCK_FILE), `${zombie.pid} ${procField(zombie.pid, 19)}\n`);
      const lines: string[] = [];
      const lock = new DataLock(dir, recordingLog(lines));
      await lock.start();
      expect(lines.join('')).toContain('stale data lock');
      await lock.stop();
    } finally {
      zombie.parent.kill('SIGKILL');
    }
  });
});

/**
 * A real zombie: `sh` starts `sleep 0.2` in the background, prints its pid and
 * becomes `sleep 30` by exec (before its child ends, so sh cannot reap it); sleep never
 * calls wait(), so its finished child stays a zombie until the parent is killed (init
 * then reaps both).
 */
async function spawnZombie(): Promise<{ pid: number; parent: ReturnType<typeof spawn> }> {
  const parent = spawn('sh', ['-c', 'sleep 0.2 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const pid = await new Promise<number>((resolve, reject) => {
    parent.stdout!.once('data', (b: Buffer) => resolve(Number(b.toString().trim())));
    parent.once('error', reject);
  });
  for (let i = 0; i < 200 && procState(pid) !== 'Z'; i++) await new Promise((r) => setTimeout(r, 10));
  return { pid, parent };
}

/** Field `n` (0 = state) of /proc/PID/stat after the command name. */
function procField(pid: number, n: number): string | undefined {
  if (!existsSync(`/proc/${pid}/stat`)) return undefined;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[n];
}

function procState(pid: number): string | undefined {
  return procField(pid, 0);
}
