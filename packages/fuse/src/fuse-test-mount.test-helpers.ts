import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FuseSession, type LowLevelOps } from './index.js';

export interface ShellResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a shell command in a CHILD process, asynchronously: the test process serves the
 * mount, so a synchronous child (or sync fs call) against the mount would deadlock.
 */
export function sh(command: string, env: Record<string, string> = {}): Promise<ShellResult> {
  return new Promise((resolve) => {
    execFile(
      'sh',
      ['-c', command],
      { env: { ...process.env, LC_ALL: 'C', TZ: 'UTC', ...env }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export function isMounted(dir: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === dir);
}

export interface TestMount {
  dir: string;
  session: FuseSession;
  errors: Error[];
  /** Always safe to call: unmount(), then `fusermount -u -z` if that did not work. */
  teardown(): Promise<void>;
}

export async function mountForTest(ops: LowLevelOps, mountOptions: string[]): Promise<TestMount> {
  const dir = mkdtempSync(join(tmpdir(), 'tsmfs-fuse-'));
  const session = new FuseSession(dir, ops, { mountOptions });
  const errors: Error[] = [];
  session.on('error', (err: Error) => errors.push(err));
  await session.mount();
  const teardown = async (): Promise<void> => {
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 5000).unref());
    const outcome = await Promise.race([session.unmount().then(() => 'done' as const), timeout]).catch(() => 'failed');
    if (outcome !== 'done' || isMounted(dir)) await sh(`fusermount -u -z '${dir}'`);
    rmSync(dir, { recursive: true, force: true });
  };
  return { dir, session, errors, teardown };
}
