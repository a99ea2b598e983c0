import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
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

function mountLine(dir: string): string[] | undefined {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .find((fields) => fields[4] === dir);
}

export function isMounted(dir: string): boolean {
  return mountLine(dir) !== undefined;
}

/**
 * The mount's FUSE connection in /sys/fs/fuse/connections, named by the superblock's
 * device number (the kernel's MKDEV: major << 20 | minor).
 */
function connectionOf(dir: string): string | undefined {
  const dev = mountLine(dir)?.[2];
  if (!dev) return undefined;
  const [major, minor] = dev.split(':').map(Number);
  return `/sys/fs/fuse/connections/${(major << 20) | minor}`;
}

/** Writes the connection's abort file, mounting the fuse control file system first if no one has. */
async function abortConnection(connection: string): Promise<void> {
  if (!readFileSync('/proc/self/mounts', 'utf8').includes(' fusectl ')) {
    await sh('mount -t fusectl fusectl /sys/fs/fuse/connections');
  }
  if (existsSync(connection)) writeFileSync(`${connection}/abort`, '1');
}

export interface TestMount {
  dir: string;
  session: FuseSession;
  errors: Error[];
  /**
   * Always safe to call: unmount(), then `fusermount -u -z` if that did not work; if a
   * handler still has not answered, the FUSE connection is aborted, so its caller gets
   * ENOTCONN instead of waiting in D state on the detached mount forever.
   */
  teardown(): Promise<void>;
}

/** Mounts not torn down yet: a test that timed out never reaches its `finally`. */
const live = new Set<TestMount>();
afterAll(async () => {
  await Promise.all([...live].map((m) => m.teardown()));
});

export async function mountForTest(ops: LowLevelOps, mountOptions: string[]): Promise<TestMount> {
  const dir = mkdtempSync(join(tmpdir(), 'tsmfs-fuse-'));
  const session = new FuseSession(dir, ops, { mountOptions });
  const errors: Error[] = [];
  session.on('error', (err: Error) => errors.push(err));
  await session.mount();
  const connection = connectionOf(dir);
  let done: Promise<void> | undefined;
  const teardown = (): Promise<void> =>
    (done ??= (async () => {
      const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 5000).unref());
      const outcome = await Promise.race([session.unmount().then(() => 'done' as const), timeout]).catch(() => 'failed');
      if (outcome !== 'done' || isMounted(dir)) await sh(`fusermount -u -z '${dir}'`);
      // A request still unanswered keeps its caller, and with it this superblock and its
      // device number, alive: the connection is still this mount's, never a newer one's.
      if (session.pending > 0 && connection) await abortConnection(connection);
      rmSync(dir, { recursive: true, force: true });
      live.delete(m);
    })());
  const m: TestMount = { dir, session, errors, teardown };
  live.add(m);
  return m;
}
