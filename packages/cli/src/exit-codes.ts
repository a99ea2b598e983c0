import { Status, TsmfsError } from '@tsmfs/protocol';

/**
 * Exit codes of `tsmfs <tool>` and `tsmfs-cli`, for scripts:
 *   0  everything asked was done (checkfile/fileinfo report problems in their output, not in the code)
 *   1  at least one PATH failed (the reason on stderr; the other PATHs were still processed)
 *   2  usage error (bad option, bad GOAL/SECONDS, missing argument)
 *   3  a PATH is not inside a tsmfs mount (or the mount's .masterinfo is unreadable)
 *   4  the master could not be reached, or refused the tool's session
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, notTsmfs: 3, master: 4 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A PATH that is not inside a tsmfs mount. */
export class NotInMountError extends Error {
  readonly exitCode = EXIT.notTsmfs;
}

/** The master cannot serve this tool at all (unreachable, refused). */
export class MasterUnavailableError extends Error {
  readonly exitCode = EXIT.master;
}

export class UsageError extends Error {
  readonly exitCode = EXIT.usage;
}

/** One line for stderr: the errno name and the master's reason. */
export function describeError(err: unknown): string {
  if (err instanceof TsmfsError) {
    const name = Object.entries(Status).find(([, v]) => v === err.status)?.[0] ?? `errno ${err.status}`;
    return err.message && err.message !== name ? `${name} (${err.message})` : name;
  }
  return (err as Error).message ?? String(err);
}

export function exitCodeOf(err: unknown): ExitCode {
  const code = (err as { exitCode?: ExitCode }).exitCode;
  return code ?? EXIT.failed;
}
