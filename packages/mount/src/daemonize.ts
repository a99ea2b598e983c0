import { spawn } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import type { Readable } from 'node:stream';

/** The environment variable naming the fd on which a daemonized child reports. */
export const STATUS_FD_ENV = 'TSMFS_MOUNT_STATUS_FD';

/**
 * Runs this command again, detached (its own session, no terminal), with `-f`, and
 * waits for it to report over a pipe: "mounted" (exit 0) or the reason it could not
 * mount (printed, exit 1), so a refused session reaches the user's terminal as mfsmount's
 * does. Never waits on the mount itself.
 */
export function daemonize(argv: string[]): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, ...argv, '-f'], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    env: { ...process.env, [STATUS_FD_ENV]: '3' },
  });
  const pipe = child.stdio[3] as Readable;
  return new Promise((resolve) => {
    let text = '';
    pipe.setEncoding('utf8');
    pipe.on('data', (d: string) => (text += d));
    pipe.on('end', () => {
      if (text.startsWith('mounted')) {
        child.unref();
        resolve(0);
      } else {
        process.stderr.write(`tsmfs-mount: ${text.trim() || 'the mount process ended before mounting'}\n`);
        resolve(1);
      }
    });
    child.on('error', (err) => {
      process.stderr.write(`tsmfs-mount: ${err.message}\n`);
      resolve(1);
    });
  });
}

/** In a daemonized child: tells the waiting parent how mounting went, and lets it go. */
export function reportStatus(message: string): void {
  const fd = Number(process.env[STATUS_FD_ENV]);
  if (!Number.isInteger(fd) || fd < 3) return;
  try {
    writeSync(fd, message + '\n');
    closeSync(fd);
  } catch {
    // The parent is gone (killed): nobody to tell.
  }
  delete process.env[STATUS_FD_ENV];
}
