import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import type { Address } from '@tsmfs/protocol';
import { DaemonProcess } from './daemon-process.js';
import { live } from './live.js';
import { BIN } from './paths.js';
import { isMounted } from './procfs.js';
import { settings } from './settings.js';

export interface MountOptions {
  /** Masters given to -H. */
  masters: Address[];
  /** Where to mount (created if missing). */
  path: string;
  subdir?: string;
  meta?: boolean;
  /** -o options, e.g. ['ro', 'password=x', 'mfstimeout=30']. */
  options?: string[];
  /** Also append its output to this file. */
  logFile?: string;
}

/**
 * A `tsmfs-mount -f` process (in the foreground, so its pid is the mount's), registered
 * in `live`: stopEverything unmounts it (fusermount -u, then -u -z, then SIGKILL by pid)
 * before any daemon is stopped.
 */
export class Mount {
  private constructor(
    readonly path: string,
    readonly process: DaemonProcess,
  ) {}

  /** Starts the mount and resolves once the kernel lists it in /proc/mounts. */
  static async start(options: MountOptions): Promise<Mount> {
    mkdirSync(options.path, { recursive: true });
    const args = [BIN.mount, options.path, '-f', '-H', options.masters.map((m) => `${m.host}:${m.port}`).join(',')];
    if (options.subdir) args.push('-S', options.subdir);
    if (options.meta) args.push('-m');
    for (const o of options.options ?? []) args.push('-o', o);
    const m = new Mount(options.path, new DaemonProcess(`tsmfs-mount ${options.path}`, args, { logFile: options.logFile }));
    live.mounts.add(m);
    await m.waitMounted();
    return m;
  }

  get pid(): number {
    return this.process.pid;
  }

  output(): string {
    return this.process.output();
  }

  private waitMounted(): Promise<void> {
    return waitForMount(this.path, this.process);
  }

  /** Resolves with the exit code once the mount process has ended (null: killed). */
  waitExit(timeoutMs = 15_000): Promise<number | null | 'timeout'> {
    return Promise.race([this.process.exited.then((e) => e.code), new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref())]);
  }

  /** fusermount -u (then -u -z); the process should exit by itself, else it is killed. */
  async unmount(): Promise<void> {
    live.mounts.delete(this);
    await fuseUnmount(this.path);
    if (this.process.running && (await this.waitExit(10_000)) === 'timeout') await this.process.kill('SIGKILL');
  }

  unmountNow(): void {
    spawnSync('fusermount', ['-u', '-z', this.path], { stdio: 'ignore' });
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Polls /proc/mounts until `path` is a mount point; fails if `by` (the mounting process,
 * tsmfs-mount or MooseFS's mfsmount) exits first or after `timeoutMs`.
 */
export async function waitForMount(path: string, by: DaemonProcess, timeoutMs = settings.readyTimeoutMs): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!isMounted(path)) {
    if (!by.running) throw new Error(`${by.label} exited before mounting ${path}:\n${by.output().slice(-4000)}`);
    if (Date.now() > deadline) throw new Error(`${path} not mounted after ${timeoutMs} ms:\n${by.output().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Unmounts a FUSE file system, lazily if it is busy; nothing if it is not mounted. */
export async function fuseUnmount(path: string): Promise<void> {
  if (!isMounted(path)) return;
  if ((await run('fusermount', ['-u', path])).code !== 0 && isMounted(path)) await run('fusermount', ['-u', '-z', path]);
}

function run(cmd: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((res) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', (e) => res({ code: -1, stderr: e.message }));
    p.on('close', (code) => res({ code: code ?? -1, stderr }));
  });
}
